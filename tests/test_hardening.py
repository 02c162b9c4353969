"""Attacks from issue 10 (and more of the same kinds): each must end in one clear error
line, or a correct answer; never a traceback, a memory blow-up, NaN, or a lost file."""

import io
import json
import re
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from test_cli import assert_one_line_error, run
from test_model_file import small_model

from digitnet import ModelFileError, load_model, modelfile, preset
from digitnet.checkpoint import load_checkpoint, save_checkpoint
from digitnet.modelfile import model_metadata
from digitnet.optim import init_state
from digitnet.train import Best, TrainState


def write_checkpoint(path, rng, optimizer="nesterov", best=False, hidden=8):
    model = small_model(rng, hidden=hidden)
    config = preset("fast", hidden=hidden, optimizer=optimizer)
    params = model.params
    state = TrainState(params, init_state(params, optimizer), np.random.default_rng(1), epoch=1,
                       history=[{"epoch": 1, "loss": 1.0}],
                       best=Best(0.5, 1, {k: v.copy() for k, v in params.items()}) if best
                       else None)
    save_checkpoint(path, state, config, {})
    return config


def rewrite_npz(path, change):
    """Rewrite the archive at path with change(arrays, meta) applied; deflated members."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays.pop("metadata").tobytes())
    change(arrays, meta)
    blob = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez_compressed(path, metadata=blob, **arrays)


# --- memory bombs in model files -----------------------------------------------------------

def test_extra_optimizer_arrays_are_refused_before_reading(tmp_path, rng):
    path = tmp_path / "bomb.npz"
    write_checkpoint(path, rng)
    rewrite_npz(path, lambda arrays, meta: arrays.update(
        {f"opt.x{i}.W1": np.zeros((784, 8), np.float32) for i in range(50)}))
    with pytest.raises(ModelFileError, match=r"unexpected array opt\.x\d+\.W1 for this "
                                             r"architecture and optimizer"):
        load_model(path)


@pytest.mark.parametrize("optimizer, extra, missing", [
    ("sgd", "opt.v.W1", None),                  # sgd keeps no buffers
    ("nesterov", "opt.m.W1", None),             # adam's buffer in a nesterov checkpoint
    ("momentum", "opt.step", None),
    ("adam", None, "opt.step"),
    ("adam", None, "opt.s.b2"),
    ("nesterov", "best.W1", None),              # best weights without a recorded best
])
def test_a_checkpoint_holds_exactly_its_optimizers_buffers(tmp_path, rng, optimizer, extra,
                                                          missing):
    path = tmp_path / "c.npz"
    write_checkpoint(path, rng, optimizer)
    load_checkpoint(path)  # as written: fine

    def change(arrays, meta):
        if extra == "opt.step":
            arrays[extra] = np.zeros((), np.int64)
        elif extra:
            arrays[extra] = arrays["W1"].copy()
        if missing:
            del arrays[missing]

    rewrite_npz(path, change)
    fragment = f"unexpected array {extra}" if extra else f"array {missing} is missing"
    with pytest.raises(ModelFileError, match=fragment.replace(".", r"\.")):
        load_checkpoint(path)


def test_adam_checkpoint_with_best_weights_round_trips(tmp_path, rng):
    path = tmp_path / "c.npz"
    write_checkpoint(path, rng, "adam", best=True)
    _, state = load_checkpoint(path)
    assert set(state.opt_state) == {f"{s}.{p}" for s in "ms" for p in ("W1", "b1", "W2", "b2")
                                    } | {"step"}
    assert set(state.best.params) == {"W1", "b1", "W2", "b2"}


def test_load_model_never_reads_checkpoint_arrays(tmp_path, rng, monkeypatch):
    path = tmp_path / "c.npz"
    write_checkpoint(path, rng, "adam", best=True)
    read = []
    real = modelfile._read_member
    monkeypatch.setattr(modelfile, "_read_member",
                        lambda p, archive, name: read.append(name) or real(p, archive, name))
    model = load_model(path)
    assert set(model.params) == {"W1", "b1", "W2", "b2"}
    assert sorted(read) == ["W1", "W2", "b1", "b2", "metadata"]


def memory_bomb(path, rng, copies=300, hidden=1000):
    """A checkpoint whose metadata is valid and which holds `copies` extra W1-sized arrays
    of zeros, deflated: a few MB on disk, copies * 3.1 MB in memory if read."""
    model = small_model(rng, hidden=hidden)
    meta = model_metadata(model.params, model.config, {})
    meta["checkpoint"] = {}
    blob = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    zeros = io.BytesIO()
    np.lib.format.write_array(zeros, np.zeros((784, hidden), np.float32))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in {"metadata": blob, **model.params}.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, value)
            archive.writestr(name + ".npy", member.getvalue())
        for i in range(copies):
            archive.writestr(f"opt.v{i}.W1.npy", zeros.getvalue())


def test_the_memory_bomb_under_a_memory_cap_is_one_error_line(tmp_path, rng):
    path = tmp_path / "bomb.npz"
    memory_bomb(path, rng)
    assert path.stat().st_size < 10_000_000
    cap = 700_000_000  # bytes of address space; reading the bomb would need 0.94 GB more
    code = ("import resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap})); "
            "from digitnet.cli import main; sys.exit(main(sys.argv[1:]))")
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code, "evaluate", str(path)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert_one_line_error(result, "digitnet: error:", "bomb.npz", "unexpected array opt.v")


# --- zip members zipfile cannot read ---------------------------------------------------------

def _patch_member(path, name, *, flags=None, method=None):
    """Set the general-purpose flags or the compression method of one member, in both its
    local header and the central directory, as an encrypting or deflate64 zip tool would."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as archive:
        info = archive.getinfo(name)
    local = info.header_offset
    central = raw.rfind(b"PK\x01\x02" + raw[local + 4 : local + 6])
    while raw[central + 46 : central + 46 + len(name)] != name.encode():
        central = raw.rfind(b"PK\x01\x02", 0, central)
    if flags is not None:
        struct.pack_into("<H", raw, local + 6, flags)
        struct.pack_into("<H", raw, central + 8, flags)
    if method is not None:
        struct.pack_into("<H", raw, local + 8, method)
        struct.pack_into("<H", raw, central + 10, method)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("member", ["W1.npy", "metadata.npy"])
@pytest.mark.parametrize("patch, fragment", [({"flags": 1}, "is encrypted"),
                                             ({"method": 9}, "uses compression method 9;"),
                                             ({"method": 99}, "uses compression method 99;")])
def test_encrypted_or_deflate64_members_are_refused(tmp_path, rng, member, patch, fragment):
    path = tmp_path / "m.npz"
    small_model(rng).save(path)
    _patch_member(path, member, **patch)
    with pytest.raises(ModelFileError, match=f"member '{member}' {fragment}"):
        load_model(path)


def test_an_encrypted_member_is_one_cli_line_in_every_command(tmp_path, rng):
    path = tmp_path / "m.npz"
    small_model(rng).save(path)
    _patch_member(path, "W2.npy", flags=1)
    for command in (["evaluate", str(path)], ["export", str(path), "--onnx",
                                              str(tmp_path / "m.onnx")],
                    ["predict", str(path), str(tmp_path)], ["report", str(path), "--out",
                                                            str(tmp_path / "r")]):
        assert_one_line_error(run(*command), "m.npz: member 'W2.npy' is encrypted")


# --- finite but absurd numbers ---------------------------------------------------------------

@pytest.mark.parametrize("scale", [1e37, 1e13, 1e300])
def test_an_absurd_input_scale_is_refused_at_load(tmp_path, rng, scale):
    path = tmp_path / "m.npz"
    small_model(rng).save(path)

    def change(arrays, meta):
        meta["config"]["input_scale"] = meta["preprocessing"]["input_scale"] = scale

    rewrite_npz(path, change)
    with pytest.raises(ModelFileError, match=rf"input_scale {re.escape(repr(scale))} .* beyond"):
        load_model(path)


@pytest.mark.parametrize("name, factor", [("W1", 1e36), ("W2", 1e15), ("b2", 1e16),
                                          ("b1", 1e36)])
def test_weights_that_could_overflow_float32_are_refused(tmp_path, rng, name, factor):
    path = tmp_path / "m.npz"
    model = small_model(rng)
    model.params[name] = (model.params[name] * factor + factor).astype(np.float32)
    assert np.isfinite(model.params[name]).all()
    # written as another program might: Model.save refuses such weights (issue 34)
    modelfile.save_arrays(path, model.params, model_metadata(model.params, model.config, {}))
    with pytest.raises(ModelFileError, match="beyond the 1e\\+15 digitnet accepts"):
        load_model(path)


def test_the_bound_holds_for_a_trained_model(trained_model):
    """The bound is a bound: no test image comes near it, and a trained model is far
    below the limit."""
    bound = modelfile.forward_bound(trained_model.params, trained_model.config.input_scale)
    assert bound < 1e6
    from digitnet import network
    from digitnet.inputs import network_inputs

    x = network_inputs(np.full((1, 784), 255, np.uint8), trained_model.config)
    assert np.abs(network.outputs(trained_model.params, x)).max() <= bound


def test_absurd_scale_in_the_cli_is_one_line_and_no_nan(tmp_path, rng):
    path = tmp_path / "m.npz"
    small_model(rng).save(path)

    def change(arrays, meta):
        meta["config"]["input_scale"] = meta["preprocessing"]["input_scale"] = 1e37

    rewrite_npz(path, change)
    from PIL import Image

    Image.new("L", (28, 28), 0).save(tmp_path / "a.png")
    result = run("predict", str(path), str(tmp_path / "a.png"), "--json")
    assert_one_line_error(result, "m.npz: input_scale 1e+37")
    assert "nan" not in result.stdout.lower()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_in_metadata_are_refused(tmp_path, rng, constant):
    path = tmp_path / "m.npz"
    small_model(rng).save(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    text = arrays.pop("metadata").tobytes().decode()
    text = text.replace('"weight_decay": 0.0', f'"weight_decay": {constant}')
    assert constant in text
    np.savez(path, metadata=np.frombuffer(text.encode(), np.uint8), **arrays)
    with pytest.raises(ModelFileError, match=f"metadata is not valid JSON .*{constant}"):
        load_model(path)


# --- outputs that would overwrite inputs or each other ---------------------------------------

@pytest.fixture
def seven_png(mnist, tmp_path):
    from PIL import Image

    scans = tmp_path / "scans"
    scans.mkdir()
    for i in range(3):
        Image.fromarray(255 - mnist.x_test[i]).resize((84, 84)).save(scans / f"d{i}.png")
    return scans


def test_show_input_never_replaces_the_pictures_it_reads(model_file, seven_png):
    before = {p.name: p.read_bytes() for p in seven_png.iterdir()}
    result = run("predict", str(model_file), str(seven_png), "--show-input", str(seven_png),
                 "--json")
    assert result.returncode == 0, result.stderr
    for name, data in before.items():
        assert (seven_png / name).read_bytes() == data, name
    records = json.loads(result.stdout)
    assert [r["input_image"] for r in records] == [str(seven_png / f"d{i}-2.png")
                                                   for i in range(3)]


def test_show_input_never_writes_through_a_symlink(model_file, seven_png, tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    shown = tmp_path / "shown"
    shown.mkdir()
    (shown / "d0.png").symlink_to(victim)
    result = run("predict", str(model_file), str(seven_png / "d0.png"), str(seven_png / "d1.png"),
                 "--show-input", str(shown))
    assert victim.read_text() == "keep me" and (shown / "d0.png").is_symlink()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"digitnet: error: {shown / 'd0.png'}: is a symbolic link; digitnet does not write "
        "through links"]
    assert result.stdout.count("(") == 2  # both pictures were still predicted
    assert (shown / "d1.png").is_file()


def test_show_input_through_a_symlinked_directory_still_spares_inputs(model_file, seven_png,
                                                                     tmp_path):
    (tmp_path / "alias").symlink_to(seven_png)
    before = (seven_png / "d0.png").read_bytes()
    result = run("predict", str(model_file), str(seven_png / "d0.png"), "--show-input",
                 str(tmp_path / "alias"))
    assert result.returncode == 0, result.stderr
    assert (seven_png / "d0.png").read_bytes() == before and (seven_png / "d0-2.png").is_file()


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink", "dotted"])
def test_export_onto_its_model_is_refused(model_file, tmp_path, link):
    import os
    import shutil

    model = tmp_path / "v.npz"
    shutil.copy(model_file, model)
    before = model.read_bytes()
    target = {"same": model, "symlink": tmp_path / "l.onnx", "hardlink": tmp_path / "h.onnx",
              "dotted": tmp_path / "." / "v.npz"}[link]
    if link == "symlink":
        target.symlink_to(model)
    if link == "hardlink":
        os.link(model, target)
    result = run("export", str(model), "--onnx", str(target))
    assert_one_line_error(result, "digitnet: error: --onnx", "is the model file")
    assert model.read_bytes() == before


def test_evaluate_json_onto_its_model_is_refused_before_evaluating(model_file, tmp_path):
    import shutil

    model = tmp_path / "v.npz"
    shutil.copy(model_file, model)
    before = model.read_bytes()
    result = run("evaluate", str(model), "--json", str(model))
    assert_one_line_error(result, "--json", "is the model file")
    assert model.read_bytes() == before and result.stdout == ""


@pytest.mark.parametrize("flags, fragment", [
    (["--out", "{d}/x.npz", "--metrics-json", "{d}/x.npz"],
     "--metrics-json {d}/x.npz and --out {d}/x.npz are the same file"),
    (["--out", "{d}/x.npz", "--plot", "{d}/./x.npz"], "are the same file"),
    (["--out", "{d}/x.npz", "--checkpoint", "{d}/x.npz"], "are the same file"),
    (["--out", "{d}"], "--out {d}: is a directory"),
    (["--metrics-json", "{d}"], "is a directory"),
    (["--out", "/proc/x.npz"], "--out /proc/x.npz: cannot write in /proc"),
    (["--out", "{d}/missing/x.npz"], "directory {d}/missing not found"),
])
def test_train_refuses_bad_outputs_before_the_first_epoch(tmp_path, flags, fragment):
    flags = [f.format(d=tmp_path) for f in flags]
    result = run("train", "--epochs", "1", *flags)
    assert_one_line_error(result, "digitnet: error:", fragment.format(d=tmp_path))
    assert "epoch" not in result.stdout and not (tmp_path / "x.npz").exists()


def test_train_out_onto_the_resumed_checkpoint_is_refused(tmp_path, rng):
    ckpt = tmp_path / "c.npz"
    write_checkpoint(ckpt, rng)
    before = ckpt.read_bytes()
    result = run("train", "--resume", str(ckpt), "--out", str(ckpt))
    assert_one_line_error(result, f"--out {ckpt} is the --resume checkpoint")
    assert ckpt.read_bytes() == before


def test_report_out_holding_the_model_is_refused(model_file, tmp_path):
    import shutil

    shutil.copy(model_file, tmp_path / "metrics.json")
    result = run("report", str(tmp_path / "metrics.json"), "--out", str(tmp_path))
    assert_one_line_error(result, f"report file {tmp_path / 'metrics.json'} is the model file")


# --- --resume with flags the checkpoint fixes ------------------------------------------------

@pytest.mark.parametrize("optimizer, flags, named", [
    ("nesterov", ["--hidden", "16"], "--hidden 16 conflicts"),
    ("nesterov", ["--no-biases"], "--no-biases conflicts"),
    ("sgd", ["--optimizer", "adam"], "--optimizer adam conflicts"),
    ("adam", ["--optimizer", "sgd"], "--optimizer sgd conflicts"),
    ("nesterov", ["--dtype", "float64"], "--dtype float64 conflicts"),
    ("nesterov", ["--input-scale", "1.0"], "--input-scale 1.0 conflicts"),
    ("nesterov", ["--val-split", "100"], "--val-split 100 conflicts"),
])
def test_resume_refuses_flags_that_change_the_checkpoint(tmp_path, rng, optimizer, flags,
                                                         named):
    ckpt = tmp_path / "c.npz"
    write_checkpoint(ckpt, rng, optimizer)
    result = run("train", "--resume", str(ckpt), *flags, "--out", str(tmp_path / "m.npz"))
    assert_one_line_error(result, "digitnet: error:", named, str(ckpt))
    assert "epoch" not in result.stdout


def test_resume_accepts_the_checkpoints_own_values(tmp_path, rng):
    import argparse

    from digitnet import cli

    ckpt = tmp_path / "c.npz"
    config = write_checkpoint(ckpt, rng, "sgd")
    args = argparse.Namespace(resume=ckpt, hidden=8, biases=True, optimizer="sgd", epochs=50)
    cli._check_resume_flags(args, config)  # same values, and a free flag: no error


# --- stored history that cannot be drawn ---------------------------------------------------

@pytest.mark.parametrize("history, fragment", [
    ("oops", "expected a list of epochs, got str"),
    ([1, 2], "record 0 is int, not an object"),
    ([{"epoch": 1, "loss": "x"}], "record 0 has loss 'x', not a finite number"),
    ([{"epoch": "1", "loss": 0.5}], "record 0 has epoch '1'"),
    ([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.4, "val_accuracy": [1]}],
     "record 1 has val_accuracy [1]"),
    ([{"epoch": 1, "loss": 0.5, "test_accuracy": 97.5}],
     "test_accuracy 97.5, not a number in 0..1"),
])
def test_report_on_a_malformed_history_is_one_line(tmp_path, rng, history, fragment):
    path = tmp_path / "m.npz"
    small_model(rng).save(path)
    rewrite_npz(path, lambda arrays, meta: meta.update(history=history))
    result = run("report", str(path), "--out", str(tmp_path / "r"))
    assert_one_line_error(result, "m.npz: stored history is malformed", fragment)


# --- temporary files, symlinks and NaN in what we write --------------------------------------

def test_killed_saves_leave_findable_temporaries_that_the_next_save_removes(tmp_path, rng):
    import os
    import time

    path = tmp_path / "m.npz"
    stale = tmp_path / ".m.npz.digitnet-tmp-dead1234"
    fresh = tmp_path / ".m.npz.digitnet-tmp-live5678"  # perhaps another save, right now
    other = tmp_path / ".n.npz.digitnet-tmp-dead0000"
    for leftover in (stale, fresh, other):
        leftover.write_bytes(b"half a model")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    os.utime(other, (hour_ago, hour_ago))
    small_model(rng).save(path)
    assert not stale.exists() and fresh.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [fresh.name, other.name, "m.npz"])


def test_atomic_write_never_writes_through_a_symlink(tmp_path):
    from digitnet.errors import OutputError
    from digitnet.files import atomic_write

    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "link").symlink_to(victim)
    with pytest.raises(OutputError, match="is a symbolic link"):
        atomic_write(tmp_path / "link", lambda f: f.write(b"evil"))
    assert victim.read_text() == "keep" and (tmp_path / "link").is_symlink()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_json_we_write_refuses_nan_and_infinity(value):
    from digitnet.errors import OutputError
    from digitnet.files import json_text

    with pytest.raises(OutputError, match="NaN or infinite"):
        json_text({"test_accuracy": [0.5, value]})
    assert json_text({"a": 0.5}) == '{"a": 0.5}'


# --- more of the same kinds, found while fixing the above ------------------------------------

def test_a_fifo_as_model_file_is_refused_without_blocking(tmp_path):
    import os

    os.mkfifo(tmp_path / "m.npz")  # opening it to read would wait for a writer forever
    result = run("evaluate", str(tmp_path / "m.npz"), timeout=60)
    assert_one_line_error(result, "m.npz: not a regular file")


def test_metadata_is_bounded_to_what_a_model_needs(tmp_path, rng):
    """1 MiB of JSON text parses to ~30 MiB of Python objects; 16 MiB took 526 MB."""
    path = tmp_path / "m.npz"
    small_model(rng).save(path)
    rewrite_npz(path, lambda arrays, meta: meta.update(history=[{}] * 400_000))
    with pytest.raises(ModelFileError, match=f"at most {modelfile.MAX_METADATA_BYTES} bytes"):
        load_model(path)


def test_a_long_real_history_fits_the_metadata_bound(tmp_path, rng):
    record = {"epoch": 150, "loss": 0.123456789, "lr": 0.000123456, "seconds": 8.123456,
              "train_accuracy": 0.99876, "val_accuracy": 0.9934, "test_accuracy": 0.9936}
    path = tmp_path / "m.npz"
    model = small_model(rng)
    model.metadata["history"] = [record] * 1000  # far past the 150 epochs of the best preset
    model.save(path)
    assert len(load_model(path).metadata["history"]) == 1000


def test_a_file_given_as_data_dir_is_named_as_such(tmp_path):
    from digitnet import load_mnist
    from digitnet.errors import DataError

    (tmp_path / "f").write_text("x")
    with pytest.raises(DataError, match="f: not a directory"):
        load_mnist(tmp_path / "f")


@pytest.mark.parametrize("loss", ["cross_entropy", "squared_error"])
def test_a_model_just_inside_the_bound_evaluates_to_finite_json(mnist, rng, loss):
    """The limit is low enough that every figure evaluate reports stays finite, even the
    squared error of outputs near 1e15."""
    import dataclasses

    from digitnet import Model
    from digitnet.evaluation import evaluate_model
    from digitnet.files import json_text

    model = small_model(rng)
    model = Model(dict(model.params), dataclasses.replace(model.config, loss=loss))
    bound = modelfile.forward_bound(model.params, model.config.input_scale)
    model.params["W2"] = (model.params["W2"] * (0.9 * modelfile.MAX_ACTIVATION / bound)
                          ).astype(np.float32)
    model.params["b2"] = np.zeros(10, np.float32)
    assert 1e14 < modelfile.forward_bound(model.params, model.config.input_scale) < 1e15
    evaluation = evaluate_model(model, mnist.x_test[:2000], mnist.y_test[:2000], "MNIST")
    figures = json.loads(json_text(evaluation.to_dict()))
    assert np.isfinite(figures["test_loss"]) and np.isfinite(figures["test_log_loss"])
    assert np.abs(evaluation.outputs).max() > 1e10  # the test did reach large outputs


@pytest.mark.parametrize("command", [
    ["train", "--epochs", "1", "--out", "{out}"],
    ["augment", "--out", "{out}"],
    ["evaluate", "{model}", "--json", "{out}"],
    ["export", "{model}", "--onnx", "{out}"],
])
def test_a_special_file_is_never_replaced_by_an_output(command, model_file, tmp_path):
    """Renaming onto a device node (as root: /dev/null) or a FIFO would replace it; the
    test uses a FIFO, so that a regression cannot harm the machine."""
    import os
    import stat

    out = tmp_path / "out"
    os.mkfifo(out)
    result = run(*[c.format(model=model_file, out=out) for c in command], timeout=120)
    assert_one_line_error(result, f"{out}: exists and is not a regular file")
    assert stat.S_ISFIFO(os.stat(out).st_mode)


def test_outputs_never_overwrite_the_data_being_read(tmp_path):
    from test_data import write_dataset

    write_dataset(tmp_path)
    target = tmp_path / "t10k-labels-idx1-ubyte.gz"
    before = target.read_bytes()
    result = run("train", "--data-dir", str(tmp_path), "--epochs", "1", "--val-split", "5",
                 "--metrics-json", str(target))
    assert_one_line_error(result, f"--metrics-json {target} is the data file")
    assert target.read_bytes() == before


def test_the_default_checkpoint_path_may_not_be_another_output(tmp_path):
    result = run("train", "--out", str(tmp_path / "m.npz"), "--metrics-json",
                 str(tmp_path / "m.checkpoint.npz"))
    assert_one_line_error(result, f"the Ctrl-C checkpoint {tmp_path / 'm.checkpoint.npz'} and "
                                  f"--metrics-json {tmp_path / 'm.checkpoint.npz'} are the same")
