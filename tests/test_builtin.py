"""The model name `builtin`: the recognizer packaged as digitnet/_builtin/builtin.npz.

How the name resolves (in load_model and every command that takes a model, with `serve`
defaulting to it), the one-line error when the packaged file is missing, `./builtin` for
a file of that name, and, when the packaged file is there, that it loads and matches what
its metadata records (config, training-data checksums, test accuracy)."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import digitnet
from digitnet import model as model_module
from digitnet.cli import build_parser, main
from digitnet.config import PRESETS, Config
from digitnet.errors import ModelFileError

PACKAGED = model_module.builtin_path()
MAX_BYTES = 8 * 2**20  # "a few MB": small enough for the wheel


@pytest.fixture
def packaged(monkeypatch, model_file):
    """`builtin` resolves to the session's model file."""
    monkeypatch.setattr(model_module, "builtin_path", lambda: Path(model_file))
    return model_file


@pytest.fixture
def not_packaged(monkeypatch, tmp_path):
    """`builtin` resolves to a file that is not there, as in a checkout without it."""
    missing = tmp_path / "_builtin" / "builtin.npz"
    monkeypatch.setattr(model_module, "builtin_path", lambda: missing)
    return missing


@pytest.fixture
def seven(tmp_path, mnist):
    path = tmp_path / "seven.png"
    Image.fromarray(255 - mnist.x_test[0]).resize((112, 112)).save(path)  # a 7
    return path


def test_builtin_loads_the_packaged_file(packaged, trained_model):
    model = digitnet.load_model("builtin")
    assert np.array_equal(model.params["W1"], trained_model.params["W1"])
    assert digitnet.Model.load("builtin").hidden == trained_model.hidden


def test_missing_packaged_file_is_one_clear_error(not_packaged):
    with pytest.raises(ModelFileError, match=r"^builtin: the bundled model is not installed"):
        digitnet.load_model("builtin")


@pytest.mark.parametrize("command", [["predict", "builtin", "IMG"], ["evaluate", "builtin"],
                                     ["export", "builtin", "--onnx", "x.onnx"]])
def test_missing_packaged_file_on_the_command_line(not_packaged, seven, capsys, command):
    argv = [str(seven) if a == "IMG" else a for a in command]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("digitnet: error: builtin: the bundled model is not installed")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_every_command_takes_builtin(packaged, seven, tmp_path, capsys):
    assert main(["predict", "builtin", str(seven), "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["digit"] == 7 and 0 < record["digit_score"] <= 1
    assert main(["evaluate", "builtin", "--json", "-"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["model"] == "builtin" and figures["test_accuracy"] > 0.95
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    assert main(["export", "builtin", "--onnx", str(tmp_path / "b.onnx")]) == 0
    assert (tmp_path / "b.onnx").stat().st_size > 1000


def test_report_takes_builtin(packaged, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the plot extra is not installed")
    assert main(["report", "builtin", "--out", str(tmp_path / "report")]) == 0
    assert "builtin" in (tmp_path / "report" / "index.html").read_text()
    assert (tmp_path / "report" / "mistakes.png").stat().st_size > 1000


def test_serve_defaults_to_builtin():
    assert build_parser().parse_args(["serve"]).model == "builtin"
    assert build_parser().parse_args(["serve", "m.npz"]).model == "m.npz"


def test_dot_slash_builtin_is_a_file_in_the_current_directory(not_packaged, model_file,
                                                              tmp_path, monkeypatch, seven,
                                                              capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(model_file, tmp_path / "builtin")
    assert digitnet.load_model("./builtin").hidden > 0
    assert digitnet.load_model(Path("builtin")).hidden > 0  # a Path is always a file
    with pytest.raises(ModelFileError, match="bundled model is not installed"):
        digitnet.load_model("builtin")  # the name still means the packaged model
    assert main(["predict", "./builtin", str(seven)]) == 0
    assert capsys.readouterr().out.startswith(f"{seven}: 7 (")


# ---- the packaged file itself -------------------------------------------------------------

needs_packaged = pytest.mark.skipif(
    not PACKAGED.is_file(), reason=f"the bundled recognizer {PACKAGED} is not in this checkout")


@needs_packaged
def test_packaged_model_matches_its_recorded_metadata(mnist, capsys):
    assert PACKAGED.stat().st_size <= MAX_BYTES
    model = digitnet.load_model("builtin")
    meta = model.metadata
    # each network made by `digitnet train --preset robust` with no flags but these (the
    # README's commands give them), then, if several, joined by `digitnet committee`
    flags = ("epochs", "threads", "seed", "split_seed", "aug_styles", "outliers")
    members = meta.get("committee") or [{"config": model.config.to_dict(), **meta}]
    for member in members:
        config = Config.from_dict(member["config"])
        made_by = dataclasses.replace(PRESETS["robust"],
                                      **{flag: getattr(config, flag) for flag in flags})
        assert config == made_by
        assert len(member["history"]) == config.epochs
        assert config.validation_seed == model.config.validation_seed  # one held-out set
    assert sum(Config.from_dict(m["config"]).hidden for m in members) == model.hidden
    assert meta["architecture"]["hidden"] == model.hidden
    assert meta["data_sha256"] == mnist.sha256  # trained on the bundled MNIST
    assert 0 < model.reject_threshold < 1
    # the threshold declines the share config.reject_rate of the validation digits the
    # members held out (`digitnet threshold builtin --rate 0.008`, calibrated on people's
    # pictures: docs/experiments.md)
    from digitnet.reject import image_digit_scores
    from digitnet.train import held_out

    _, held = held_out(len(mnist.x_train), model.config)
    scores = image_digit_scores(model.params, mnist.x_train[held], model.config)
    assert model.config.reject_rate == 0.008
    assert model.reject_threshold == pytest.approx(np.quantile(scores, 0.008), abs=1e-5)
    assert main(["evaluate", "builtin", "--json", "-"]) == 0  # recomputed, not copied
    figures = json.loads(capsys.readouterr().out)
    assert figures["test_accuracy"] == pytest.approx(meta["test_accuracy"], abs=1e-4)
    # issue 14 asks 99.3%; the bundled committee has 99.27% (README), and this floor guards it
    assert figures["test_accuracy"] >= 0.992
