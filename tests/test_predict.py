"""`digitnet predict` and the Python API on people's own pictures, files of every kind."""

import json

import numpy as np
import pytest
from PIL import Image
from test_cli import assert_one_line_error, run

from digitnet import ImageError, load_model
from digitnet.images import preprocess_file


@pytest.fixture(scope="module")
def pictures(mnist, tmp_path_factory):
    """Ten MNIST test digits as the files people have: formats, modes, sizes, polarities.
    Returns (directory, {file name: label})."""
    directory = tmp_path_factory.mktemp("pictures")
    labels = {}
    kinds = [("png", "L", 28), ("jpg", "RGB", 300), ("bmp", "RGB", 64), ("gif", "P", 100),
             ("tif", "L", 56), ("png", "RGBA", 140), ("png", "P", 90), ("jpeg", "L", 200),
             ("tiff", "RGB", 33), ("png", "LA", 280)]
    for i, (ext, mode, size) in enumerate(kinds):
        digit = mnist.x_test[i]
        paper = Image.fromarray(255 - digit).resize((size, size), Image.Resampling.BICUBIC)
        if mode == "RGBA":  # black ink on a fully transparent (black) background
            alpha = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
            picture = Image.merge("RGBA", [Image.new("L", (size, size), 0)] * 3 + [alpha])
        elif i % 2:
            picture = paper.convert(mode)
        else:
            picture = Image.fromarray(digit).resize((size, size)).convert(mode)  # white on black
        name = f"{i}-{mode}.{ext}"
        picture.save(directory / name)
        labels[name] = int(mnist.y_test[i])
    return directory, labels


def predict_json(*args):
    result = run("predict", *map(str, args), "--json")
    return result, json.loads(result.stdout) if result.stdout else None


def test_predict_a_directory_of_every_format(model_file, trained_model, pictures):
    directory, labels = pictures
    result, records = predict_json(model_file, directory)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert [r["file"] for r in records] == [str(directory / n) for n in sorted(labels)]
    correct = 0
    for record in records:
        path = record["file"]
        expected = trained_model.predict_proba(preprocess_file(path)[None])[0]
        np.testing.assert_allclose(record["probabilities"], expected, rtol=1e-4, atol=1e-7)
        assert record["digit"] == int(expected.argmax())
        assert record["probability"] == pytest.approx(float(expected.max()))
        assert sum(record["probabilities"]) == pytest.approx(1.0, abs=1e-5)
        correct += record["digit"] == labels[path.rsplit("/", 1)[1]]
    assert correct >= 9, records


def test_text_output_and_top_k(model_file, pictures):
    directory, labels = pictures
    path = directory / sorted(labels)[0]
    result = run("predict", str(model_file), str(path), "--top-k", "3")
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith(f"{path}: {labels[path.name]} (")
    percents = [float(part.split("(")[1].strip("<>%)")) for part in line.split(": ")[1].split(", ")]
    assert len(percents) == 3 and percents == sorted(percents, reverse=True)
    _, records = predict_json(model_file, path, "--top-k", "10")
    top = records[0]["top_k"]
    assert sorted(t["digit"] for t in top) == list(range(10))
    assert [t["probability"] for t in top] == sorted(records[0]["probabilities"], reverse=True)


@pytest.mark.parametrize("k", ["0", "11", "two"])
def test_bad_top_k_is_a_usage_error(model_file, pictures, k):
    result = run("predict", str(model_file), str(pictures[0]), "--top-k", k)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "top-k" in result.stderr


def test_bad_files_get_their_own_error_and_the_rest_are_predicted(model_file, pictures, tmp_path):
    directory, labels = pictures
    good = directory / sorted(labels)[1]
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    Image.new("L", (80, 60), 255).save(tmp_path / "blank.png")
    (tmp_path / "empty").mkdir()
    args = [tmp_path / "broken.png", good, tmp_path / "blank.png", tmp_path / "missing.jpg",
            tmp_path / "empty"]
    result = run("predict", str(model_file), *map(str, args))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith(f"{good}: {labels[good.name]} (")
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 4 and all(e.startswith("digitnet: error: ") for e in errors)
    assert "broken.png: " in errors[0]
    assert "blank.png: blank image" in errors[1]
    assert "missing.jpg: file not found" in errors[2]
    assert "empty: directory holds no image files" in errors[3]

    result, records = predict_json(model_file, *args)
    assert result.returncode == 1
    assert [("error" in r) for r in records] == [True, False, True, True, True]
    assert records[1]["digit"] == labels[good.name]


def test_show_input_writes_what_the_network_saw(model_file, pictures, tmp_path):
    directory, labels = pictures
    names = sorted(labels)[:3]
    twin = tmp_path / "twin"  # a second file with the same name, from another directory
    twin.mkdir()
    (twin / names[0]).write_bytes((directory / names[0]).read_bytes())
    shown = tmp_path / "seen"
    result, records = predict_json(model_file, *[directory / n for n in names],
                                   twin / names[0], "--show-input", shown)
    assert result.returncode == 0, result.stderr
    written = [r["input_image"] for r in records]
    assert len(set(written)) == 4 and all(w.startswith(str(shown)) for w in written)
    for record in records:
        seen = np.asarray(Image.open(record["input_image"]))
        assert seen.shape == (28, 28) and seen.dtype == np.uint8
        np.testing.assert_array_equal(seen, preprocess_file(record["file"]))


@pytest.mark.parametrize("command", ["predict", "export"])
def test_bad_model_gives_one_error_line(command, tmp_path, pictures):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model at all")
    extra = [str(pictures[0])] if command == "predict" else ["--onnx", str(tmp_path / "x.onnx")]
    assert_one_line_error(run(command, str(bad), *extra), "digitnet: error:", "bad.npz",
                          "not a readable .npz")


def test_train_then_predict_json_end_to_end(tmp_path, mnist):
    model = tmp_path / "m.npz"
    result = run("train", "--epochs", "1", "--hidden", "64", "-q", "--out", str(model))
    assert result.returncode == 0, result.stderr
    Image.fromarray(255 - mnist.x_test[0]).resize((150, 150)).save(tmp_path / "seven.png")
    result, records = predict_json(model, tmp_path / "seven.png")
    assert result.returncode == 0, result.stderr
    assert records[0]["digit"] == 7 and len(records[0]["probabilities"]) == 10


# --- the Python API ----------------------------------------------------------------------

def test_python_api_predicts_arrays_in_every_layout(model_file, mnist):
    model = load_model(model_file)
    x = mnist.x_test[:50]
    expected = model.predict_proba(x)
    np.testing.assert_allclose(model.predict_proba(x.reshape(50, 784).astype(np.float64)),
                               expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(model.predict_proba(x.astype(np.float32)), expected,
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(model.predict(x), expected.argmax(axis=1))
    np.testing.assert_allclose(model.predict_proba(x[0]), expected[:1], rtol=1e-4, atol=1e-7)
    assert model.predict(x[:0]).shape == (0,)
    assert (model.predict(mnist.x_test) == mnist.y_test).mean() >= 0.96
    for bad in (np.zeros((3, 27, 29)), np.zeros((3, 10)), np.full((1, 784), np.nan)):
        with pytest.raises(ValueError):
            model.predict(bad)


def test_python_api_predict_images_and_save(model_file, pictures, tmp_path):
    directory, labels = pictures
    model = load_model(model_file)
    paths = [directory / n for n in sorted(labels)]
    digits = model.predict_images(paths)
    assert digits.shape == (10,)
    assert (digits == [labels[p.name] for p in paths]).sum() >= 9
    np.testing.assert_array_equal(model.predict_images(paths[0]), digits[:1])
    np.testing.assert_array_equal(model.predict_images_proba(paths).argmax(axis=1), digits)
    with pytest.raises(ImageError, match=r"missing\.png: file not found"):
        model.predict_images([paths[0], tmp_path / "missing.png"])
    model.save(tmp_path / "copy.npz")
    np.testing.assert_array_equal(load_model(tmp_path / "copy.npz").predict_images(paths), digits)


def test_show_input_into_an_impossible_directory_is_one_error(model_file, pictures, tmp_path):
    (tmp_path / "a-file").write_text("")
    result = run("predict", str(model_file), str(pictures[0]), "--show-input",
                 str(tmp_path / "a-file" / "seen"))
    assert_one_line_error(result, "digitnet: error: --show-input", "cannot create")


# ---- which argument is the model: [MODEL] IMAGE... ----------------------------------------

def test_predict_and_read_use_builtin_when_no_model_is_named(pictures, model_file, capsys):
    """The first argument is the model only when it is 'builtin', ends in .npz or is a zip
    archive; otherwise every argument is a picture, read by the bundled model."""
    from digitnet.cli import main

    directory, labels = pictures
    first = directory / sorted(labels)[0]
    assert main(["predict", str(first), "--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert main(["predict", "builtin", str(first), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == default  # the same model: builtin
    assert main(["predict", str(first), str(directory / sorted(labels)[1])]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # both arguments were pictures
    assert main(["predict", str(model_file), str(first), "--json"]) == 0  # the old form
    mine = json.loads(capsys.readouterr().out)
    assert mine[0]["probabilities"] != default[0]["probabilities"]
    renamed = directory.parent / "my-model.weights"  # a model file is known by its contents
    renamed.write_bytes(model_file.read_bytes())
    assert main(["predict", str(renamed), str(first), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == mine
    assert main(["read", str(first), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["number"].isdigit()


def test_a_model_with_no_pictures_after_it_is_a_usage_error(model_file):
    result = run("predict", str(model_file))
    assert result.returncode == 2 and "no pictures given after the model" in result.stderr
    result = run("predict", str(model_file.parent / "missing.npz"), "a.png")
    assert_one_line_error(result, "missing.npz", "model file not found")


def test_evaluate_uses_builtin_when_no_model_is_named(capsys):
    from digitnet.cli import main

    assert main(["evaluate", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "builtin"
