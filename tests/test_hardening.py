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


def memory_bomb(path, rng, copies=700, hidden=1000):
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
    cap = 1_500_000_000  # bytes of address space; reading the bomb would need 2.2 GB
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

@pytest.mark.parametrize("scale", [1e37, 1e30, 1e300])
def test_an_absurd_input_scale_is_refused_at_load(tmp_path, rng, scale):
    path = tmp_path / "m.npz"
    small_model(rng).save(path)

    def change(arrays, meta):
        meta["config"]["input_scale"] = meta["preprocessing"]["input_scale"] = scale

    rewrite_npz(path, change)
    with pytest.raises(ModelFileError, match=rf"input_scale {re.escape(repr(scale))} .* beyond"):
        load_model(path)


@pytest.mark.parametrize("name, factor", [("W1", 1e36), ("W2", 1e33), ("b2", 1e36),
                                          ("b1", 1e36)])
def test_weights_that_could_overflow_float32_are_refused(tmp_path, rng, name, factor):
    path = tmp_path / "m.npz"
    model = small_model(rng)
    model.params[name] = (model.params[name] * factor + factor).astype(np.float32)
    assert np.isfinite(model.params[name]).all()
    model.save(path)
    with pytest.raises(ModelFileError, match="beyond the 1e\\+30 digitnet accepts"):
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
