"""The command line, run as a user would: one clear line and an exit code on bad input."""

import gzip
import json
import subprocess
import sys

import pytest
from test_data import write_dataset


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "digitnet", *args], capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_truncated_data_file_gives_one_error_line(tmp_path):
    write_dataset(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:5000]))
    result = run("train", "--data-dir", str(tmp_path), "--epochs", "1")
    assert_one_line_error(result, "digitnet: error:", "train-images-idx3-ubyte.gz", "truncated")


def test_corrupt_gzip_gives_one_error_line(tmp_path):
    write_dataset(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    result = run("train", "--data-dir", str(tmp_path))
    assert_one_line_error(result, "t10k-images-idx3-ubyte.gz", "corrupt gzip")


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "0"], "epochs must be > 0, got 0"),
    (["--lr", "-1"], "lr must be > 0, got -1.0"),
    (["--epochs", "two"], "invalid int value"),
    (["--optimizer", "rmsprop"], "invalid choice"),
    (["--preset", "nope"], "invalid choice"),
])
def test_bad_flags_are_rejected_by_name(flags, message):
    result = run("train", *flags)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr


def test_train_small_then_evaluate(tmp_path):
    write_dataset(tmp_path, n_train=300, n_test=100)
    model, metrics = tmp_path / "m.npz", tmp_path / "m.json"
    result = run("train", "--data-dir", str(tmp_path), "--epochs", "2", "--hidden", "16",
                 "--val-split", "50", "--test-every-epoch", "--out", str(model),
                 "--metrics-json", str(metrics))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and "val " in lines[0] and "test " in lines[0]
    report = json.loads(metrics.read_text())
    assert report["epochs"] == 2 and len(report["history"]) == 2
    assert 0 <= report["test_accuracy"] <= 1 and report["train_seconds"] > 0
    assert {"loss", "test_accuracy", "seconds"} <= set(report["history"][0])
    result = run("evaluate", str(model), "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"test accuracy {100 * report['test_accuracy']:.2f}%" in result.stdout


def test_evaluate_rejects_a_file_that_is_not_a_model(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert_one_line_error(run("evaluate", str(bad)), "bad.npz", "not a readable .npz")
    assert_one_line_error(run("evaluate", str(tmp_path / "missing.npz")), "model file not found")


def test_python_dash_m_and_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("digitnet ")


@pytest.mark.parametrize("flag", ["--out", "--metrics-json", "--checkpoint", "--plot"])
def test_unwritable_output_is_refused_before_training(tmp_path, flag):
    write_dataset(tmp_path)
    target = tmp_path / "no-such-dir" / "file"
    result = run("train", "--data-dir", str(tmp_path), flag, str(target))
    assert_one_line_error(result, flag, "no-such-dir", "not found")
    assert "epoch" not in result.stdout  # refused before any training happened


def test_validation_split_larger_than_the_data_is_a_flag_error(tmp_path):
    write_dataset(tmp_path)  # 20 training images; the fast preset holds out 5,000
    result = run("train", "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--val-split 5000 must be smaller than the 20 training images" in result.stderr


@pytest.mark.parametrize("p, decimals, text", [
    (0.5, 1, "50.0%"), (0.99949, 1, "99.9%"), (0.99996, 1, ">99.9%"), (1.0, 1, "100.0%"),
    (0.996, 0, ">99%"), (0.994, 0, "99%"), (0.00004, 1, "<0.1%"), (0.0, 1, "0.0%"),
])
def test_percent_never_rounds_a_guess_to_certainty(p, decimals, text):
    from digitnet.cli import percent

    assert percent(p, decimals) == text
