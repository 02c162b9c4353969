"""Model files: a faithful round trip, and every kind of bad file refused with a clear reason."""

import io
import json
import zipfile

import numpy as np
import pytest
from test_cli import assert_one_line_error, run
from test_data import write_dataset

from digitnet import Model, ModelFileError, fit, load_mnist, load_model, preset
from digitnet.modelfile import FORMAT_VERSION, load_arrays, model_metadata, save_arrays
from digitnet.network import init_params


def small_model(rng, hidden=8, biases=True, dtype="float32"):
    config = preset("fast", hidden=hidden, biases=biases, dtype=dtype)
    params = init_params(rng, hidden, biases=biases, dtype=np.dtype(dtype))
    if biases:
        params["b1"] += rng.normal(size=hidden).astype(dtype)
    return Model(params, config, {"test_accuracy": 0.5})


def test_round_trip_keeps_weights_config_and_predictions(tmp_path, rng):
    model = small_model(rng)
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = load_model(path)
    assert loaded.config == model.config
    assert set(loaded.params) == {"W1", "b1", "W2", "b2"}
    for name, value in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)
        assert loaded.params[name].dtype == value.dtype
    x = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    meta = loaded.metadata
    assert meta["format_version"] == FORMAT_VERSION and meta["test_accuracy"] == 0.5
    assert meta["architecture"] == {"inputs": 784, "hidden": 8, "outputs": 10,
                                    "activation": "relu", "biases": True, "dtype": "float32"}
    assert meta["preprocessing"]["input_scale"] == model.config.input_scale
    assert meta["preprocessing"]["input_shift"] == 0.0
    assert meta["digitnet_version"] and meta["created"].endswith("+00:00")
    assert not list(tmp_path.glob(".*digitnet-tmp*")), "the temporary file was left behind"


def test_seed_style_model_without_biases_in_float64(tmp_path, rng):
    model = small_model(rng, biases=False, dtype="float64")
    model.save(tmp_path / "seed.npz")
    loaded = load_model(tmp_path / "seed.npz")
    assert set(loaded.params) == {"W1", "W2"} and loaded.params["W1"].dtype == np.float64


def test_train_out_records_everything_the_issue_lists(tmp_path):
    write_dataset(tmp_path, n_train=200, n_test=50)
    path = tmp_path / "m.npz"
    result = run("train", "--data-dir", str(tmp_path), "--epochs", "2", "--hidden", "16",
                 "--val-split", "50", "-q", "--out", str(path))
    assert result.returncode == 0, result.stderr
    meta = load_model(path).metadata
    assert {"format_version", "architecture", "config", "preprocessing", "history",
            "test_accuracy", "data_sha256", "digitnet_version", "created"} <= set(meta)
    assert meta["config"]["hidden"] == 16 and meta["config"]["epochs"] == 2
    assert len(meta["history"]) == 2 and 0 <= meta["test_accuracy"] <= 1
    assert set(meta["data_sha256"]) == {"train-images-idx3-ubyte.gz",
                                        "train-labels-idx1-ubyte.gz",
                                        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}


def test_from_training_matches_what_fit_returned(tmp_path):
    data = load_mnist()
    small = type(data)(data.x_train[:600], data.y_train[:600], data.x_test[:200],
                       data.y_test[:200], data.source, data.sha256)
    config = preset("fast", epochs=1, hidden=16, val_split=100)
    result = fit(config, small.x_train, small.y_train, test=(small.x_test, small.y_test))
    Model.from_training(result, config, small).save(tmp_path / "m.npz")
    model = load_model(tmp_path / "m.npz")
    assert model.metadata["test_accuracy"] == result.test_accuracy
    assert model.metadata["data_sha256"] == data.sha256
    accuracy = (model.predict(small.x_test) == small.y_test).mean()
    assert accuracy == pytest.approx(result.test_accuracy)


def test_save_refuses_bad_weights_and_leaves_the_old_file(tmp_path, rng):
    model = small_model(rng)
    path = tmp_path / "m.npz"
    model.save(path)
    before = path.read_bytes()
    model.params["W2"][0, 0] = np.nan
    with pytest.raises(ValueError, match="W2 contains NaN"):
        model.save(path)
    assert path.read_bytes() == before


def test_save_to_a_missing_directory_is_a_clear_error(tmp_path, rng):
    with pytest.raises(ModelFileError, match="cannot write"):
        small_model(rng).save(tmp_path / "no" / "such" / "m.npz")


# --- bad files ---------------------------------------------------------------------------

def _arrays_and_meta(rng):
    model = small_model(rng)
    return dict(model.params), model_metadata(model.params, model.config, model.metadata)


def _npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _json_blob(meta):
    return np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


def make_bad_file(kind, path, rng):
    """Write one kind of broken model file at path; returns a fragment of the expected error."""
    arrays, meta = _arrays_and_meta(rng)
    if kind == "truncated":
        save_arrays(path, arrays, meta)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return "truncated or damaged"
    if kind == "random bytes":
        path.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
        return "not a readable .npz"
    if kind == "empty":
        path.write_bytes(b"")
        return "not a readable .npz"
    if kind == "newer version":
        meta["format_version"] = FORMAT_VERSION + 1
        save_arrays(path, arrays, meta)
        return f"format version {FORMAT_VERSION + 1} is newer"
    if kind == "wrong shape":
        arrays["W1"] = np.zeros((784, 9), np.float32)
        save_arrays(path, arrays, meta)
        return "W1 has shape (784, 9), expected (784, 8)"
    if kind == "wrong dtype":
        arrays["W2"] = arrays["W2"].astype(np.float16)
        save_arrays(path, arrays, meta)
        return "W2 has dtype float16, expected float32"
    if kind == "integer weights":
        arrays["b1"] = np.zeros(8, np.int64)
        save_arrays(path, arrays, meta)
        return "b1 has dtype int64, expected float32"
    if kind == "missing array":
        del arrays["b2"]
        save_arrays(path, arrays, meta)
        return "array b2 is missing"
    if kind == "unexpected array":
        arrays["W3"] = np.zeros((10, 10), np.float32)
        save_arrays(path, arrays, meta)
        return "unexpected array W3"
    if kind == "nan weights":
        arrays["W1"][3, 3] = np.nan
        save_arrays(path, arrays, meta)
        return "W1 contains NaN"
    if kind == "no metadata":
        path.write_bytes(_npz_bytes(**arrays))
        return "no metadata entry"
    if kind == "metadata not json":
        path.write_bytes(_npz_bytes(metadata=np.frombuffer(b"{oops", np.uint8), **arrays))
        return "metadata is not valid JSON"
    if kind == "other format":
        meta["format"] = "something-else"
        save_arrays(path, arrays, meta)
        return "not a digitnet model file"
    if kind == "pickled object":
        obj = np.empty(1, dtype=object)
        obj[0] = {"payload": 1}
        arrays["W1"] = obj
        path.write_bytes(_npz_bytes(metadata=_json_blob(meta), **arrays))
        return "W1 has dtype object, not a number type"
    if kind == "config disagrees":
        meta["config"]["hidden"] = 9
        save_arrays(path, arrays, meta)
        return "does not match the architecture"
    if kind == "absurd hidden size":
        meta["architecture"]["hidden"] = 10**9
        save_arrays(path, arrays, meta)
        return "hidden must be 1..100000"
    if kind == "unknown scaling":
        meta["preprocessing"]["input_shift"] = -0.5
        save_arrays(path, arrays, meta)
        return "shift -0.5 is not supported"
    if kind == "unknown storage":
        meta["architecture"]["stored_as"] = "int8"
        save_arrays(path, arrays, meta)
        return "stored_as must be float16"
    if kind == "float16 claimed, float32 stored":
        meta["architecture"]["stored_as"] = "float16"
        save_arrays(path, arrays, meta)
        return "W1 has dtype float32, expected float16"
    raise AssertionError(kind)


BAD_KINDS = ["truncated", "random bytes", "empty", "newer version", "wrong shape",
             "wrong dtype", "integer weights", "missing array", "unexpected array",
             "nan weights", "no metadata", "metadata not json", "other format",
             "pickled object", "config disagrees", "absurd hidden size", "unknown scaling",
             "unknown storage", "float16 claimed, float32 stored"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_model_file_is_refused_with_its_reason(kind, tmp_path, rng):
    path = tmp_path / "bad.npz"
    fragment = make_bad_file(kind, path, rng)
    with pytest.raises(ModelFileError) as error:
        load_model(path)
    message = str(error.value)
    assert message.startswith(str(path)) and fragment in message, message
    assert "\n" not in message


def test_truncated_at_every_length_is_refused(tmp_path, rng):
    arrays, meta = _arrays_and_meta(rng)
    path = tmp_path / "m.npz"
    save_arrays(path, arrays, meta)
    whole = path.read_bytes()
    for length in range(0, len(whole), max(1, len(whole) // 97)):
        path.write_bytes(whole[:length])
        with pytest.raises(ModelFileError):
            load_arrays(path)


def test_corrupted_weight_bytes_fail_the_zip_checksum(tmp_path, rng):
    arrays, meta = _arrays_and_meta(rng)
    path = tmp_path / "m.npz"
    save_arrays(path, arrays, meta)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as archive:
        info = archive.getinfo("W1.npy")
    raw[info.header_offset + 30 + len("W1.npy") + 200] ^= 0xFF  # a byte inside W1's data
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="truncated or damaged"):
        load_model(path)


@pytest.mark.parametrize("kind", ["truncated", "random bytes", "newer version", "wrong shape",
                                  "wrong dtype", "missing array"])
def test_cli_gives_one_error_line_for_a_bad_model(kind, tmp_path, rng):
    path = tmp_path / "bad.npz"
    fragment = make_bad_file(kind, path, rng)
    assert_one_line_error(run("evaluate", str(path)), "digitnet: error:", "bad.npz", fragment)
