"""`digitnet evaluate` and `digitnet report` on a small model trained on real MNIST.

The figures are checked against a separate NumPy computation from Model.predict_proba,
and the plots are opened with Pillow to check they are real images of a sensible size.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_data import FASHION, write_dataset

from digitnet import Model, fit, load_model, preset
from digitnet.cli import main
from digitnet.report import FILES, plot_learning_curves

PNGS = sorted(FILES)


@pytest.fixture(scope="session")
def trained(mnist, tmp_path_factory):
    """A 784-64-10 network after 2 epochs (~2 s), saved as a model file; (path, result)."""
    config = preset("fast", epochs=2, hidden=64)
    result = fit(config, mnist.x_train, mnist.y_train, test=(mnist.x_test, mnist.y_test))
    path = tmp_path_factory.mktemp("model") / "small.npz"
    Model(result.params, config, {"history": result.history, "test_accuracy":
                                  result.test_accuracy, "train_seconds":
                                  result.train_seconds}).save(path)
    return path, result


@pytest.fixture(scope="session")
def report_dir(trained, tmp_path_factory):
    """The report written by the command a user types, in a subprocess."""
    out = tmp_path_factory.mktemp("report") / "r"
    result = subprocess.run([sys.executable, "-m", "digitnet", "report", str(trained[0]),
                             "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "report written to" in result.stdout
    return out


@pytest.fixture(scope="session")
def reference(trained, mnist):
    """The figures computed directly with NumPy from the model's public predict_proba."""
    model = load_model(trained[0])
    probabilities = model.predict_proba(mnist.x_test).astype(np.float64)  # (10000, 10)
    labels = mnist.y_test.astype(int)
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (labels, predicted), 1)
    correct = np.diag(confusion)
    precision, recall = correct / confusion.sum(axis=0), correct / confusion.sum(axis=1)
    return {"confusion": confusion, "accuracy": np.mean(predicted == labels),
            "loss": -np.mean(np.log(probabilities[np.arange(len(labels)), labels])),
            "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall)}


def evaluate_json(model_path, tmp_path, *extra):
    out = tmp_path / "figures.json"
    assert main(["evaluate", str(model_path), "--json", str(out), *extra]) == 0
    return json.loads(out.read_text())


def test_history_records_train_accuracy(trained):
    history = trained[1].history
    assert all(0 < r["train_accuracy"] <= 1 for r in history)
    assert history[1]["train_accuracy"] > history[0]["train_accuracy"] - 0.01


def test_json_figures_match_numpy(trained, reference, tmp_path, capsys):
    figures = evaluate_json(trained[0], tmp_path)
    confusion = np.array(figures["confusion_matrix"])
    assert confusion.sum() == 10000 == figures["images"]
    np.testing.assert_array_equal(confusion, reference["confusion"])
    assert np.trace(confusion) / 10000 == figures["test_accuracy"]
    assert figures["test_accuracy"] == pytest.approx(reference["accuracy"], abs=1e-12)
    assert figures["test_accuracy"] == pytest.approx(trained[1].test_accuracy, abs=1e-12)
    assert figures["errors"] == 10000 - np.trace(confusion)
    # cross-entropy model: its loss and the log loss of its probabilities are the same figure
    assert figures["loss_function"] == "cross_entropy"
    assert figures["test_loss"] == pytest.approx(reference["loss"], rel=1e-4)
    assert figures["test_log_loss"] == pytest.approx(reference["loss"], rel=1e-4)
    assert figures["test_loss"] == pytest.approx(trained[1].test_loss, rel=1e-4)
    for key in ("precision", "recall", "f1"):
        got = [row[key] for row in figures["per_class"]]
        np.testing.assert_allclose(got, reference[key], rtol=1e-12)
        assert figures["macro_average"][key] == pytest.approx(np.mean(reference[key]))
    assert [row["support"] for row in figures["per_class"]] == \
        np.bincount(np.arange(10).repeat(reference["confusion"].sum(axis=1))).tolist()
    off = reference["confusion"] * (1 - np.eye(10, dtype=int))
    largest = sorted(off.ravel(), reverse=True)[: len(figures["most_confused_pairs"])]
    assert [p["count"] for p in figures["most_confused_pairs"]] == largest
    for p in figures["most_confused_pairs"]:
        assert off[p["true"], p["predicted"]] == p["count"]


def test_text_report_fits_80_columns_and_shows_the_matrix(trained, reference, capsys):
    assert main(["evaluate", str(trained[0])]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert f"test accuracy {100 * reference['accuracy']:.2f}%" in out
    rows = [line for line in out.splitlines() if re.match(r"^\s+\d \|", line)]
    printed = np.array([[int(v) for v in row.split("|")[1].split()] for row in rows])
    np.testing.assert_array_equal(printed, reference["confusion"])
    assert "precision" in out and "most confused pairs" in out


def test_json_to_stdout_is_pure_json(trained, capsys):
    assert main(["evaluate", str(trained[0]), "--json", "-"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert sum(map(sum, figures["confusion_matrix"])) == 10000


def test_report_writes_every_file(report_dir):
    names = {p.name for p in report_dir.iterdir()}
    assert names == {*PNGS, "index.html", "metrics.json"}


@pytest.mark.parametrize("name", PNGS)
def test_plots_are_valid_images_of_a_sensible_size(report_dir, name):
    with Image.open(report_dir / name) as image:
        image.verify()
    with Image.open(report_dir / name) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert 600 <= width <= 2000 and 400 <= height <= 1600, image.size
        pixels = np.asarray(image.convert("RGB")).astype(np.int32)  # (height, width, 3)
    packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    assert len(np.unique(packed)) > 50  # something was drawn, not a blank canvas
    assert (packed == 0xFFFFFF).mean() > 0.2  # on a white background


def test_index_html_shows_every_plot_and_the_headline(report_dir, trained):
    page = (report_dir / "index.html").read_text()
    figures = json.loads((report_dir / "metrics.json").read_text())
    for name in PNGS:
        assert f'src="{name}"' in page
    assert f"{100 * figures['test_accuracy']:.2f}% test accuracy" in page
    assert f"{100 * trained[1].test_accuracy:.2f}%" in page
    assert sum(map(sum, figures["confusion_matrix"])) == 10000


def test_report_json_equals_evaluate_json(report_dir, trained, tmp_path):
    from_report = json.loads((report_dir / "metrics.json").read_text())
    from_evaluate = evaluate_json(trained[0], tmp_path)
    assert from_report["model"] == "small.npz"
    from_report.pop("model"), from_evaluate.pop("model")
    assert from_report == from_evaluate


def test_learning_curves_without_history_still_draw(tmp_path):
    path = plot_learning_curves([], tmp_path / "empty.png")
    with Image.open(path) as image:
        assert image.size[0] >= 600


def test_a_model_without_history_gets_no_learning_curve_panel(trained, mnist, tmp_path):
    """A committee (as the bundled model is) stores no per-epoch history: its report
    leaves the learning curves out rather than drawing an empty panel."""
    from digitnet.evaluation import evaluate_model
    from digitnet.report import write_report

    model = load_model(trained[0])
    model.metadata.pop("history")
    images, labels = mnist.x_test[:500], mnist.y_test[:500]
    written = write_report(model, evaluate_model(model, images, labels, "MNIST"), images,
                           tmp_path / "r")
    assert "learning_curves.png" not in written
    assert not (tmp_path / "r" / "learning_curves.png").exists()
    page = (tmp_path / "r" / "index.html").read_text()
    assert "learning_curves.png" not in page and "Learning curves" not in page
    assert set(FILES) - {"learning_curves.png"} <= set(written)  # the other plots are there
    assert all(path.is_file() for path in written.values())


def test_train_plot_writes_learning_curves(tmp_path, capsys):
    write_dataset(tmp_path, n_train=300, n_test=100)
    plot = tmp_path / "curves.png"
    assert main(["train", "--data-dir", str(tmp_path), "--epochs", "2", "--hidden", "16",
                 "--val-split", "50", "-q", "--plot", str(plot)]) == 0
    assert f"learning curves written to {plot}" in capsys.readouterr().out
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size == (1200, 500)


def test_missing_matplotlib_is_one_clear_line(trained, tmp_path, monkeypatch, capsys):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    assert main(["report", str(trained[0]), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()]
    assert "install digitnet[plot]" in err
    # train --plot fails before training, not after
    assert main(["train", "--epochs", "1", "--plot", str(tmp_path / "c.png")]) == 1
    captured = capsys.readouterr()
    assert "install digitnet[plot]" in captured.err and "epoch" not in captured.out
    assert not (tmp_path / "r").exists()


def test_report_into_a_file_is_one_error_line(trained, tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("not a directory")
    assert main(["report", str(trained[0]), "--out", str(blocker)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("digitnet: error:") and "taken" in err and len(err.splitlines()) == 1
    assert blocker.read_text() == "not a directory"


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian package dataset-fashion-mnist missing")
def test_evaluate_on_fashion_mnist(trained, tmp_path):
    figures = evaluate_json(trained[0], tmp_path, "--data-dir", str(FASHION))
    assert figures["data_source"] == str(FASHION)
    assert [row["support"] for row in figures["per_class"]] == [1000] * 10
    confusion = np.array(figures["confusion_matrix"])
    assert confusion.sum() == 10000
    assert figures["test_accuracy"] == np.trace(confusion) / 10000
    assert figures["test_accuracy"] < 0.5  # a digit model does not know clothes


def test_report_needs_out(trained):
    result = subprocess.run([sys.executable, "-m", "digitnet", "report", str(trained[0])],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--out" in result.stderr
    assert "Traceback" not in result.stderr
    assert Path(trained[0]).is_file()
