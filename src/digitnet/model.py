"""Model files: weights + config + metadata in one `.npz`, loaded without unpickling.

A model file is an uncompressed NumPy `.npz` archive holding the arrays "W1", "W2" (and
"b1", "b2" when the network has biases) and one more array, "metadata": the UTF-8 bytes
of a JSON object (format version, architecture, training config, input preprocessing,
per-epoch history, test accuracy, training-data sha256, digitnet version, date).
A checkpoint is a model file that also holds optimizer buffers ("opt.*") and the random
generator's state, so training can resume exactly.

Files are written to a temporary name and renamed, so a crash never leaves half a file.
Loading uses `allow_pickle=False` and checks every array against the metadata.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import network
from .config import Config
from .errors import ModelFileError
from .network import Params

FORMAT = "digitnet-model"
FORMAT_VERSION = 1
_PARAM_NAMES = ("W1", "b1", "W2", "b2")


def _version() -> str:
    from . import __version__

    return __version__


class Model:
    """A trained network plus what is known about it.

    params:   {"W1": (784, H), "W2": (H, 10), optionally "b1": (H,), "b2": (10,)}
    config:   the training Config
    metadata: JSON-ready dict (history, test_accuracy, data_sha256, version, created, ...)
    """

    def __init__(self, params: Params, config: Config, metadata: dict[str, Any] | None = None):
        self.params = params
        self.config = config
        self.metadata = dict(metadata or {})

    @property
    def hidden(self) -> int:
        return int(self.params["W1"].shape[1])

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        """(n, 28, 28) or (n, 784) pixels on the 0..255 scale -> network inputs (n, 784)."""
        x = np.asarray(x)
        if x.ndim == 2 and x.shape == (28, 28):
            x = x[None]
        if x.ndim not in (2, 3) or x[0].size != network.N_INPUTS:
            raise ValueError(f"expected images shaped (n, 28, 28) or (n, 784), got {x.shape}")
        dtype = self.params["W1"].dtype
        x = x.reshape(len(x), network.N_INPUTS).astype(dtype)
        return x * dtype.type(self.config.input_scale)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (n, 10): softmax of the outputs for images x (n, 28, 28) or (n, 784).

        Pixels are on the 0..255 scale (0 = background, 255 = ink), uint8 or float.
        """
        return network.softmax(network.forward(self.params, self._inputs(x))[1])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted digits (n,) for images x (n, 28, 28) or (n, 784) on the 0..255 scale."""
        return network.predict(self.params, self._inputs(x))

    def save(self, path: str | Path) -> None:
        """Write this model to `path` atomically."""
        save_arrays(path, self.params, self._full_metadata())

    def _full_metadata(self) -> dict[str, Any]:
        meta = {
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "digitnet_version": _version(),
            **self.metadata,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "architecture": {
                "inputs": network.N_INPUTS, "hidden": self.hidden, "outputs": network.N_OUTPUTS,
                "activation": "relu", "biases": "b1" in self.params,
                "dtype": str(self.params["W1"].dtype),
            },
            "preprocessing": {"input_scale": self.config.input_scale, "input_shift": 0.0},
            "config": self.config.to_dict(),
        }
        return meta

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read and validate a model file written by `save`."""
        arrays, meta = load_arrays(path)
        return cls({k: v for k, v in arrays.items() if k in _PARAM_NAMES},
                   _config(meta, path), meta)


def load_model(path: str | Path) -> Model:
    """Load a model file; raises ModelFileError with the reason if it is not a valid one."""
    return Model.load(path)


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> None:
    """Atomically write arrays plus JSON metadata as an .npz file at `path`."""
    path = Path(path)
    blob = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, metadata=blob, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_arrays(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a digitnet .npz: returns (arrays, metadata), every array checked.

    Checks the format name and version, that W1, W2 (and b1, b2 if present) have the
    shapes the architecture implies, that all are of the recorded float dtype and finite.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file not found") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read model file ({e.strerror or e})") from None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ModelFileError(f"{path}: not a readable .npz model file ({e})") from None
    if "metadata" not in arrays:
        raise ModelFileError(f"{path}: no metadata entry; not a digitnet model file")
    try:
        meta = json.loads(arrays.pop("metadata").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path}: metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a digitnet model file (format {meta.get('format')!r})"
                             if isinstance(meta, dict) else f"{path}: metadata is not an object")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{path}: format version {version!r} is not supported (this digitnet reads "
            f"up to {FORMAT_VERSION}); upgrade digitnet to read it"
        )
    _check_params(path, arrays, meta)
    return arrays, meta


def _check_params(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    arch = meta.get("architecture")
    if not isinstance(arch, dict):
        raise ModelFileError(f"{path}: metadata has no architecture")
    hidden, biases, dtype = arch.get("hidden"), arch.get("biases"), arch.get("dtype")
    if not isinstance(hidden, int) or hidden < 1 or dtype not in ("float32", "float64"):
        raise ModelFileError(f"{path}: invalid architecture in metadata: {arch}")
    expected = {"W1": (network.N_INPUTS, hidden), "W2": (hidden, network.N_OUTPUTS)}
    if biases:
        expected.update(b1=(hidden,), b2=(network.N_OUTPUTS,))
    for name, shape in expected.items():
        if name not in arrays:
            raise ModelFileError(f"{path}: array {name} is missing")
        a = arrays[name]
        if a.shape != shape:
            raise ModelFileError(f"{path}: {name} has shape {a.shape}, expected {shape}")
        if a.dtype != np.dtype(dtype):
            raise ModelFileError(f"{path}: {name} has dtype {a.dtype}, expected {dtype}")
        if not np.isfinite(a).all():
            raise ModelFileError(f"{path}: {name} contains NaN or infinite values")
    extra = [n for n in arrays if n in _PARAM_NAMES and n not in expected]
    if extra:
        raise ModelFileError(f"{path}: unexpected arrays {extra} for this architecture")


def _config(meta: dict[str, Any], path: str | Path) -> Config:
    try:
        return Config.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: invalid training config in metadata ({e})") from None


def save_checkpoint(path: str | Path, state: Any, config: Config, metadata: dict[str, Any]) -> None:
    """Write a resumable checkpoint of a `train.TrainState` (weights, optimizer, RNG, history)."""
    arrays = dict(state.params)
    arrays.update({f"opt.{k}": v for k, v in state.opt_state.items()})
    meta = Model(state.params, config, metadata)._full_metadata()
    meta["checkpoint"] = {
        "epoch": state.epoch,
        "history": state.history,
        "rng_state": state.rng.bit_generator.state,
        "best": None if state.best is None else {"val_accuracy": state.best[0],
                                                 "epoch": state.best[1]},
    }
    if state.best is not None:
        arrays.update({f"best.{k}": v for k, v in state.best[2].items()})
    save_arrays(path, arrays, meta)


def load_checkpoint(path: str | Path) -> tuple[Config, Any]:
    """Read a checkpoint written by `save_checkpoint`: returns (config, train.TrainState)."""
    from .train import TrainState

    arrays, meta = load_arrays(path)
    info = meta.get("checkpoint")
    if not isinstance(info, dict):
        raise ModelFileError(f"{path}: a model file, not a checkpoint (no optimizer state)")
    config = _config(meta, path)
    try:
        rng = np.random.default_rng()
        rng.bit_generator.state = info["rng_state"]
        best = None
        if info["best"] is not None:
            best_params = {k[5:]: v for k, v in arrays.items() if k.startswith("best.")}
            best = (float(info["best"]["val_accuracy"]), int(info["best"]["epoch"]), best_params)
        state = TrainState(
            params={k: v.copy() for k, v in arrays.items() if k in _PARAM_NAMES},
            opt_state={k[4:]: v.copy() for k, v in arrays.items() if k.startswith("opt.")},
            rng=rng, epoch=int(info["epoch"]), history=list(info["history"]), best=best,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: damaged checkpoint state ({e})") from None
    return config, state
