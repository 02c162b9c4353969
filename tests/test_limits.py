"""Issue 34's unbounded settings and inputs that take gigabytes: each is refused in one
line before any work, or runs in the memory a valid input of its size needs."""

import gzip
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from test_cli import assert_one_line_error, run
from test_data import idx_bytes, write_dataset
from test_model_file import small_model

from digitnet import Model, data, modelfile, preset
from digitnet.committee import check_members, load_members
from digitnet.config import MAX_TABLE_BYTES, check_value, read_config_file
from digitnet.errors import ConfigError, ModelFileError
from digitnet.evaluation import evaluate_model
from digitnet.modelfile import model_metadata, save_arrays


def cli(*args, capsys):
    """digitnet.cli.main(args) in this process, as a CompletedProcess (no interpreter
    start-up to pay for: these all end before any real work)."""
    from digitnet.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse usage errors
        code = e.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


# --- settings: bounded, checked before any work ---------------------------------------------

@pytest.mark.parametrize("flags, message", [
    (["--hidden", "1000000000000"], "hidden must be at most 100000"),  # 5.57 PiB
    (["--hidden", "100001"], "hidden must be at most 100000"),  # refused after the run
    (["--hidden", "60000", "--dtype", "float64"], "W1 take 376 MB"),
    (["--aug-rotation", "1e308"], "aug_rotation must be at most 180"),
    (["--elastic-alpha", "1e308"], "elastic_alpha must be at most 1000"),
    (["--seed", "-1"], "seed must be >= 0"),
    (["--seed", str(2**70)], "seed must be at most"),
    (["--step-gamma", "nan"], "step_gamma must be a finite number"),
    (["--warmup-epochs", "nan"], "warmup_epochs must be a finite number"),
    (["--max-norm", "nan"], "max_norm must be a finite number"),
    (["--aug-pen", "1e6"], "aug_pen must be at most 10"),  # a million dilation passes
    (["--outliers", "0.99"], "outliers must be at most 0.5"),  # millions of non-digits
    (["--epochs", "100000"], "epochs must be at most 2000"),  # history past the metadata limit
    (["--batch-size", "65536", "--hidden", "100000"], "numbers a training step may hold"),
])
def test_absurd_training_settings_are_refused_before_any_work(flags, message, capsys):
    result = cli("train", *flags, "--out", os.devnull + ".npz", capsys=capsys)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr.splitlines()[-1]
    assert result.stdout == ""  # not even the data was loaded


def test_an_input_scale_a_model_file_cannot_hold_is_refused_before_training(tmp_path):
    """--input-scale 1e10 --lr 1e-30 trained, saved, and then the file would not load."""
    write_dataset(tmp_path, n_train=300, n_test=20)
    out = tmp_path / "m.npz"
    result = run("train", "--data-dir", str(tmp_path), "--val-split", "50", "--hidden", "32",
                 "--input-scale", "1e10", "--lr", "1e-30", "--out", str(out))
    assert_one_line_error(result, "digitnet: error: input_scale 10000000000.0 lets the "
                                  "network's values reach", "before any training")
    assert "epoch" not in result.stdout and not out.exists()


def test_a_model_that_would_not_load_is_not_written(tmp_path, rng):
    model = small_model(rng)
    model.params["W2"] = model.params["W2"] * 1e30
    with pytest.raises(ModelFileError, match="not written, as digitnet would not load it"):
        model.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_augment_settings_are_bounded(capsys):
    for flags, message in [(["--elastic-sigma", "1e-300"], "elastic_sigma must be at least"),
                           (["--seed", "-1"], "invalid seed -1")]:
        result = cli("augment", "--out", os.devnull + ".png", *flags, capsys=capsys)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert message in result.stderr


@pytest.mark.parametrize("text", ["²", "12345678901234567890", "0", "x"])
def test_junk_in_digitnet_threads_is_one_line(tmp_path, text, capsys, monkeypatch):
    write_dataset(tmp_path, n_train=300, n_test=20)
    monkeypatch.setenv("DIGITNET_THREADS", text)
    result = cli("train", "--data-dir", tmp_path, "--val-split", "50", "--hidden", "8",
                 "--epochs", "1", capsys=capsys)
    assert_one_line_error(result, "DIGITNET_THREADS must be a whole number from 1 to 1024")


def test_numbers_in_config_files_must_be_finite(tmp_path):
    with pytest.raises(ConfigError, match="lr must be a finite number, got nan"):
        check_value("lr", float("nan"))
    with pytest.raises(ConfigError, match="lr must be a finite number"):
        check_value("lr", 10**400)
    path = tmp_path / "c.toml"
    path.write_text("step_gamma = nan\n")
    with pytest.raises(ConfigError, match="step_gamma must be a finite number"):
        read_config_file(path)


# --- config and search-space files: special files, huge files, deep nesting -----------------

@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "settings.toml"
    os.mkfifo(path)
    return path


def test_a_fifo_as_config_or_space_is_refused_not_waited_on(fifo):
    for args in (["train", "--config", str(fifo)],
                 ["sweep", "--study", "s", "--space", str(fifo)]):
        result = run(*args, timeout=30)  # today: waits forever for a writer (a subprocess,
        #                                  so that a hang ends in a timeout)
        assert_one_line_error(result, str(fifo), "must be a regular file")


def test_dev_zero_as_config_or_space_is_refused_without_reading_it(tmp_path):
    zero = tmp_path / "zero.toml"
    zero.symlink_to("/dev/zero")  # today: read 1.8 GB, then a MemoryError
    for args in (["train", "--config", str(zero)],
                 ["sweep", "--study", "s", "--space", str(zero)]):
        result = run(*args, timeout=30)
        assert_one_line_error(result, "must be a regular file")


def test_a_fifo_as_a_data_file_is_refused_not_waited_on(tmp_path, model_file):
    write_dataset(tmp_path)
    target = tmp_path / (data.FILE_NAMES["test_images"] + ".gz")
    target.unlink()
    os.mkfifo(target)
    result = run("evaluate", str(model_file), "--data-dir", str(tmp_path), timeout=30)
    assert_one_line_error(result, f"{target}: not a regular file")
    with pytest.raises(data.DataError, match="not a regular file"):
        data.read_idx(target)  # the API too: it opened it and waited for a writer


def test_a_config_file_larger_than_a_megabyte_is_refused(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text("# padding\n" * (MAX_TABLE_BYTES // 10 + 1))
    with pytest.raises(ConfigError, match="larger than 1,048,576 bytes"):
        read_config_file(path)


@pytest.mark.parametrize("name, text", [("deep.json", "[" * 100_000 + "]" * 100_000),
                                        ("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000)],
                         ids=["json", "toml"])
def test_deeply_nested_config_is_one_error_line(tmp_path, name, text, capsys):
    path = tmp_path / name
    path.write_text(text)
    result = cli("train", "--config", path, capsys=capsys)
    assert_one_line_error(result, name, "nested too deeply")


# --- sweeps: spaces too large to run, NaN, storage ------------------------------------------

def write_space(tmp_path, text):
    path = tmp_path / "space.toml"
    path.write_text(text)
    return path


def test_a_grid_too_large_to_list_is_refused_without_listing_it(tmp_path):
    from digitnet import sweep

    path = write_space(tmp_path, "[params.hidden]\nlow = 1\nhigh = 100000\n"
                                 "[params.lr]\nchoices = [0.1, 0.2]\n")
    with pytest.raises(ConfigError, match="would try 200,000 combinations"):
        sweep.load_space(path, "grid")
    assert sweep.load_space(path, "tpe").params["hidden"].high == 100000  # fine to sample


def test_a_million_choices_are_refused(tmp_path):
    from digitnet import sweep

    path = write_space(tmp_path, "[params.seed]\nchoices = [" +
                       ", ".join(map(str, range(2000))) + "]\n")
    with pytest.raises(ConfigError, match="holds 2,000 values, more than 1000"):
        sweep.load_space(path)


def test_nan_in_fixed_is_refused_before_anything_is_stored(tmp_path):
    from digitnet import sweep

    path = write_space(tmp_path, "[fixed]\nmax_norm = nan\n[params.lr]\nlow = 0.1\nhigh = 0.2\n")
    with pytest.raises(ConfigError, match="max_norm must be a finite number"):
        sweep.load_space(path)


@pytest.mark.parametrize("flags, message", [
    (["--storage", "sqlite:///:memory:"], "in-memory database"),
    (["--heartbeat-interval", "99999999999"], "invalid seconds 99999999999"),
    (["--seed", str(2**70)], "invalid seed"),
    (["--timeout", "nan"], "invalid seconds 'nan'"),
])
def test_sweep_flags_that_failed_after_a_whole_sweep_are_refused_first(tmp_path, flags, message,
                                                                     capsys, monkeypatch):
    pytest.importorskip("optuna")
    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path, "[fixed]\nepochs = 1\nval_split = 100\n"
                                  "[params.hidden]\nlow = 8\nhigh = 16\n")
    result = cli("sweep", "--study", "s", "--space", space, "--train-subset", "500",
                 "--trials", "1", *flags, capsys=capsys)
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr
    assert message in result.stderr and "COMPLETE" not in result.stdout


# --- memory: datasets a batch at a time, models checked from their headers ------------------

def peak_bytes(work):
    """Peak bytes allocated (tracemalloc sees NumPy's buffers) while work() runs."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_evaluate_never_copies_a_whole_test_set_as_floats(rng):
    """100,000 test images are 78 MB of uint8; a valid evaluation of them needs those plus
    about a dozen numbers per image (outputs, probabilities, loss terms: ~25 MB). Before,
    evaluate made a float32 copy of every pixel first: 314 MB more."""
    images = np.zeros((100_000, 28, 28), np.uint8)
    images[:, 10:18, 12:16] = 200
    labels = np.arange(100_000) % 10
    model = small_model(rng, hidden=16)
    peak = peak_bytes(lambda: evaluate_model(model, images, labels))
    assert peak < 60e6, f"{peak / 1e6:.0f} MB"


def test_training_measures_a_large_test_set_a_batch_at_a_time(rng):
    """train's test set (here 100,000 images, 78 MB) was copied whole as float32 (314 MB)."""
    from digitnet import Classifier

    images = np.zeros((100_000, 28, 28), np.uint8)
    images[:, 10:18, 12:16] = 200
    labels = np.arange(100_000) % 10
    x, y = images[:600], labels[:600]
    classifier = Classifier(hidden=8, epochs=1, val_split=100)
    peak = peak_bytes(lambda: classifier.fit(x, y, test=(images, labels)))
    assert peak < 60e6, f"{peak / 1e6:.0f} MB"


def test_a_wide_network_runs_few_rows_at_a_time(rng):
    """With 20,000 hidden units a forward pass of 4,096 rows held 328 MB of hidden layer;
    the rows per pass now shrink so it holds at most 2**23 numbers (34 MB)."""
    model = small_model(rng, hidden=20_000)
    images = np.zeros((2000, 28, 28), np.uint8)
    peak = peak_bytes(lambda: model.predict_proba(images))
    assert peak < 60e6, f"{peak / 1e6:.0f} MB"


def wide_model_file(path, hidden=100_000, dtype="float64"):
    """A small file claiming `hidden` float64 units: its arrays are tiny, as only their
    header would be read before the size is refused (the issue's was 0.6 MB of zeros)."""
    model = small_model(np.random.default_rng(0))
    meta = model_metadata(model.params, model.config, {})
    meta["architecture"].update(hidden=hidden, dtype=dtype)
    meta["config"].update(hidden=hidden, dtype=dtype)
    save_arrays(path, model.params, meta)


@pytest.mark.parametrize("command", ["evaluate", "report", "export"])
def test_a_huge_model_is_refused_from_its_header(tmp_path, command):
    """A 0.6 MB float64 file with 100,000 hidden units took 7 GB in evaluate, 3 GiB in
    report (a traceback) and 2.5 GB in export."""
    path = tmp_path / "wide.npz"
    wide_model_file(path)
    extra = {"evaluate": [], "report": ["--out", str(tmp_path / "r")],
             "export": ["--onnx", str(tmp_path / "w.onnx")]}[command]
    result = run(command, str(path), *extra)
    assert_one_line_error(result, "wide.npz: 100000 hidden units in float64 make W1 take "
                                  "627 MB", "refused before reading the weights")


def test_a_committee_checks_every_header_before_reading_any_weights(tmp_path, rng, mnist,
                                                                    monkeypatch):
    paths = []
    for i, split in enumerate((1, 1, 2)):  # the third held out other validation images
        model = small_model(rng)
        model.config = preset("fast", hidden=8, split_seed=split)
        paths.append(str(tmp_path / f"m{i}.npz"))
        model.save(paths[-1])
    read = []
    real = modelfile._read_member
    monkeypatch.setattr(modelfile, "_read_member",
                        lambda p, archive, name: read.append(name) or real(p, archive, name))
    with pytest.raises(ConfigError, match="model 3 held out other validation images"):
        load_members(paths, mnist)
    assert read == ["metadata"] * 3  # today: every member's weights first


def test_a_committee_whose_metadata_would_not_load_is_refused_before_measuring(rng, mnist):
    """Each member's history is kept; enough of them passed the 1 MiB metadata limit, so
    the committee was measured and written, then refused when loaded."""
    history = [{"epoch": e, "loss": 0.123456789, "lr": 0.1, "seconds": 1.2345,
                "train_accuracy": 0.98765, "val_accuracy": 0.97654, "threads": 2}
               for e in range(1, 2001)]
    members = [small_model(rng) for _ in range(4)]
    for member in members:
        member.metadata["history"] = history
    with pytest.raises(ConfigError, match="more than the 1,048,576 a model file may hold"):
        check_members(members, mnist)


def test_a_committee_wider_than_a_model_may_be_is_refused(rng, mnist):
    members = [Model(small_model(rng).params, preset("fast", hidden=60_000), {})
               for _ in range(2)]
    with pytest.raises(ConfigError, match="the committee would have 120,000 hidden units"):
        check_members(members, mnist)


def test_cli_evaluate_of_a_large_test_set_stays_near_its_size(tmp_path):
    """The issue's 1 MB gzip test set held 1.37 million images and took 4 GiB as float32.
    Here 150,000 images (118 MB as uint8): a valid evaluation needs those, Python and
    NumPy (~100 MB) and the outputs (~35 MB); the float32 copy alone was 470 MB more."""
    write_dataset(tmp_path, n_train=20, n_test=10)
    n = 150_000
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 12:16, 12:16] = 255
    (tmp_path / (data.FILE_NAMES["test_images"] + ".gz")).write_bytes(
        gzip.compress(idx_bytes(images, data.IMAGES_MAGIC), compresslevel=1))
    (tmp_path / (data.FILE_NAMES["test_labels"] + ".gz")).write_bytes(
        gzip.compress(idx_bytes(np.arange(n) % 10, data.LABELS_MAGIC), compresslevel=1))
    del images
    model = tmp_path / "m.npz"
    small_model(np.random.default_rng(0), hidden=16).save(model)
    # VmHWM: this process's peak resident memory (ru_maxrss would include the parent's,
    # as Linux keeps it across exec)
    code = ("import re, sys; from digitnet.cli import main; code = main(sys.argv[1:]); "
            "status = open('/proc/self/status').read(); "
            "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1), file=sys.stderr); "
            "sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, "evaluate", str(model), "--data-dir",
                             str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    peak = int(result.stderr.split()[-1]) * 1024
    assert "150000 images" in result.stdout
    assert peak < 118e6 + 250e6, f"peak RSS {peak / 1e6:.0f} MB"
