"""Model files: weights + config + metadata in one `.npz`, loaded without unpickling.

A model file is an uncompressed NumPy `.npz` archive holding the arrays "W1", "W2" (and
"b1", "b2" when the network has biases) and one more array, "metadata": the UTF-8 bytes
of a JSON object with these keys:

    format, format_version   "digitnet-model", 1
    architecture             inputs 784, hidden H, outputs 10, activation "relu",
                             biases true/false, dtype "float32" or "float64"
    config                   the full training Config (config.Config.to_dict())
    preprocessing            input_scale, input_shift: the network's input is
                             pixels * input_scale + input_shift, pixels on 0..255;
                             image: how a picture becomes those pixels (images.py)
    history                  one record per epoch (loss, seconds, lr, accuracies)
    test_accuracy, test_loss on the MNIST test set, after training
    data_source, data_sha256 where the training data came from; sha256 of each file
    digitnet_version, created  the version that trained it; UTC date and time

A checkpoint is a model file that also holds optimizer buffers ("opt.*"), the best weights
so far ("best.*") and the random generator's state, so training can resume exactly.

Files are written to a temporary name and renamed, so a crash never leaves half a file.
Loading uses `allow_pickle=False` and checks every array's header against the metadata
before reading any data: a truncated, foreign, newer or inconsistent file is refused with
a ModelFileError saying why. What is not here: image preprocessing (images.py) and other
formats (export.py writes ONNX).
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import network
from .config import Config
from .errors import ModelFileError
from .network import Params

FORMAT = "digitnet-model"
FORMAT_VERSION = 1
MAX_HIDDEN = 100_000  # refuse files claiming more hidden units (W1 alone would be > 300 MB)
MAX_METADATA_BYTES = 16 * 2**20
PREDICT_BATCH = 4096  # rows per forward pass in predict: bounds memory, keeps BLAS busy
_PARAM_NAMES = ("W1", "b1", "W2", "b2")


def _version() -> str:
    from . import __version__

    return __version__


class Model:
    """A trained network plus what is known about it.

    params:   {"W1": (784, H), "W2": (H, 10), optionally "b1": (H,), "b2": (10,)}
    config:   the training Config
    metadata: JSON-ready dict (history, test_accuracy, data_sha256, version, created, ...)

    Every predict method takes pixels on MNIST's 0..255 scale, 0 = background and
    255 = ink, as uint8 or float: the network's own input scaling (config.input_scale)
    is applied inside. For pictures of digits use `predict_images`, or run
    `digitnet.preprocess` on each first.
    """

    def __init__(self, params: Params, config: Config, metadata: dict[str, Any] | None = None):
        self.params = params
        self.config = config
        self.metadata = dict(metadata or {})

    @classmethod
    def from_training(cls, result: Any, config: Config, data: Any = None) -> Model:
        """The model a `train.fit` run produced, with its history and test figures recorded.

        result: the TrainResult; data: the Mnist it was trained on (for its source and sha256).
        """
        meta: dict[str, Any] = {
            "history": result.history, "test_accuracy": result.test_accuracy,
            "test_loss": result.test_loss, "train_seconds": result.train_seconds,
            "best_epoch": result.best_epoch,
        }
        if data is not None:
            meta.update(data_source=data.source, data_sha256=data.sha256)
        return cls(result.params, config, meta)

    @property
    def hidden(self) -> int:
        return int(self.params["W1"].shape[1])

    def __repr__(self) -> str:
        accuracy = self.metadata.get("test_accuracy")
        tail = f", test accuracy {100 * accuracy:.2f}%" if isinstance(accuracy, float) else ""
        return f"<digitnet.Model 784-{self.hidden}-10 {self.params['W1'].dtype}{tail}>"

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        """Pixels (n, 28, 28) or (n, 784), or one image (28, 28) or (784,), on the 0..255
        scale -> network inputs (n, 784) in the weights' dtype, times input_scale."""
        x = np.asarray(x)
        if x.shape in ((28, 28), (network.N_INPUTS,)):
            x = x[None]
        if x.ndim not in (2, 3) or np.prod(x.shape[1:]) != network.N_INPUTS or (
                x.ndim == 3 and x.shape[1:] != (28, 28)):
            raise ValueError(f"expected images shaped (n, 28, 28) or (n, 784), got {x.shape}")
        if x.dtype.kind not in "biuf":
            raise ValueError(f"expected pixel values as numbers, got dtype {x.dtype}")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise ValueError("pixel values must be finite; got NaN or infinity")
        dtype = self.params["W1"].dtype
        x = x.reshape(len(x), network.N_INPUTS).astype(dtype)
        if self.config.input_scale != 1.0:
            x *= dtype.type(self.config.input_scale)
        return x

    def _outputs(self, x: np.ndarray) -> np.ndarray:
        """Network outputs z (n, 10) for pixels x, computed PREDICT_BATCH rows at a time."""
        x = self._inputs(x)
        z = np.empty((len(x), network.N_OUTPUTS), x.dtype)
        for i in range(0, len(x), PREDICT_BATCH):
            z[i : i + PREDICT_BATCH] = network.forward(self.params, x[i : i + PREDICT_BATCH])[1]
        return z

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (n, 10): softmax of the outputs for images x (n, 28, 28) or (n, 784).

        Pixels are on the 0..255 scale (0 = background, 255 = ink), uint8 or float.
        For a model trained on squared error (the seed preset) the outputs are scores,
        not logits; their softmax still ranks the digits as the scores do.
        """
        return network.softmax(self._outputs(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted digits (n,) for images x (n, 28, 28) or (n, 784) on the 0..255 scale."""
        return self._outputs(x).argmax(axis=1)

    def predict_images(self, paths: str | Path | Iterable[str | Path]) -> np.ndarray:
        """Predicted digits (n,) for image files (PNG, JPEG, BMP, GIF, TIFF, ...).

        Each file is read safely and preprocessed as MNIST was (`digitnet.preprocess`).
        Raises ImageError naming the first file that cannot be read or is blank.
        """
        return self.predict(self._load_images(paths))

    def predict_images_proba(self, paths: str | Path | Iterable[str | Path]) -> np.ndarray:
        """Class probabilities (n, 10) for image files; see `predict_images`."""
        return self.predict_proba(self._load_images(paths))

    @staticmethod
    def _load_images(paths: str | Path | Iterable[str | Path]) -> np.ndarray:
        from .images import preprocess_file

        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        images = [preprocess_file(p) for p in paths]
        if not images:
            return np.zeros((0, 28, 28), np.uint8)
        return np.stack(images)  # (n, 28, 28) uint8

    def save(self, path: str | Path) -> None:
        """Write this model to `path` atomically; checks the weights first."""
        meta = self._full_metadata()
        specs = parameter_specs("weights", meta["architecture"])
        for name, (shape, dtype) in specs.items():
            a = self.params.get(name)
            if a is None or a.shape != shape or a.dtype != dtype:
                got = None if a is None else (a.shape, str(a.dtype))
                raise ValueError(f"parameter {name} must be {shape} {dtype}, got {got}")
            if not np.isfinite(a).all():
                raise ValueError(f"parameter {name} contains NaN or infinite values")
        extra = sorted(set(self.params) - set(specs))
        if extra:
            raise ValueError(f"unexpected parameters {extra} for a 784-H-10 network")
        save_arrays(path, self.params, meta)

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
            "preprocessing": {"input_scale": self.config.input_scale, "input_shift": 0.0,
                              "pixels": "0..255, 0 = background, 255 = ink",
                              "image": IMAGE_PREPROCESSING},
            "config": self.config.to_dict(),
        }
        return meta

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read and validate a model file written by `save`."""
        arrays, meta = load_arrays(path)
        config = _config(meta, path)
        return cls({k: v for k, v in arrays.items() if k in _PARAM_NAMES}, config, meta)


# How `images.preprocess` turns a picture into MNIST-style pixels, recorded in each file.
IMAGE_PREPROCESSING = ("grayscale (alpha onto white), ink made bright, fit in 20x20 keeping "
                       "aspect ratio, centered in 28x28 by center of mass")


def load_model(path: str | Path) -> Model:
    """Load a model file; raises ModelFileError with the reason if it is not a valid one."""
    return Model.load(path)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None],
                 error: type[Exception] = ModelFileError) -> None:
    """Call write(f) on a temporary file beside `path`, then rename it to `path`.

    A crash or error midway leaves `path` as it was. OSErrors become `error` (by default
    ModelFileError), with the path and the reason.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise error(f"{path}: cannot write here ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise error(f"{path}: cannot write ({e.strerror or e})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> None:
    """Atomically write arrays plus JSON metadata as an .npz file at `path`."""
    blob = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, metadata=blob, **arrays))


def load_arrays(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a digitnet .npz: returns (arrays, metadata), every array checked.

    In order, and before any weight is read: the file is a zip archive of .npy members;
    the "metadata" member is a JSON object of format `FORMAT` and a version this digitnet
    reads; the architecture it records is valid; every array is one the architecture
    calls for (plus optimizer and best-weights arrays in a checkpoint), with the expected
    shape and float dtype, none missing. Only then are the arrays read, with
    `allow_pickle=False`, and checked to be finite. Any failure raises ModelFileError
    naming the file and the fault.
    """
    path = Path(path)
    try:
        file = open(path, "rb")  # noqa: SIM115 (closed below; errors differ from the zip's)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file not found") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a directory, not a model file") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read model file ({e.strerror or e})") from None
    try:
        with file, zipfile.ZipFile(file) as archive:
            headers = _member_headers(path, archive)
            meta = _read_metadata(path, archive, headers)
            expected = _expected_arrays(path, meta, headers)
            arrays = {name: _read_member(path, archive, name) for name in expected}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(
            f"{path}: not a readable .npz model file (truncated or damaged: {e})") from None
    for name, a in arrays.items():
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ModelFileError(f"{path}: {name} contains NaN or infinite values")
    return arrays, meta


# (shape, dtype) of an array as its .npy header states it, read before its data.
_Header = tuple[tuple[int, ...], np.dtype]


def _member_headers(path: Path, archive: zipfile.ZipFile) -> dict[str, _Header]:
    """name -> (shape, dtype) for every "name.npy" member, from the headers alone."""
    headers: dict[str, _Header] = {}
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        if name == info.filename or name in headers:
            raise ModelFileError(f"{path}: unexpected member {info.filename!r} in the archive")
        with archive.open(info) as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _fortran_order, dtype = read_header(f)
        if dtype.hasobject or dtype.names is not None or dtype.kind not in "biuf":
            raise ModelFileError(f"{path}: array {name} has dtype {dtype}, not a number type "
                                 "(objects are never unpickled)")
        headers[name] = (tuple(shape), dtype)
    return headers


def _read_member(path: Path, archive: zipfile.ZipFile, name: str) -> np.ndarray:
    with archive.open(name + ".npy") as f:
        a = np.lib.format.read_array(f, allow_pickle=False)
    return a.astype(a.dtype.newbyteorder("="), order="C", copy=False)  # keeps 0-d arrays 0-d


def _read_metadata(path: Path, archive: zipfile.ZipFile,
                   headers: dict[str, _Header]) -> dict[str, Any]:
    """The JSON metadata, with its format name and version checked."""
    if "metadata" not in headers:
        raise ModelFileError(f"{path}: no metadata entry; not a digitnet model file")
    shape, dtype = headers["metadata"]
    if dtype != np.uint8 or len(shape) != 1 or shape[0] > MAX_METADATA_BYTES:
        raise ModelFileError(f"{path}: metadata entry must be at most {MAX_METADATA_BYTES} "
                             f"bytes of uint8, got shape {shape} of {dtype}")
    blob = _read_member(path, archive, "metadata")
    try:
        meta = json.loads(blob.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ModelFileError(f"{path}: metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: metadata is not a JSON object")
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a digitnet model file (format {meta.get('format')!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{path}: invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format version {version} is newer than this digitnet reads "
            f"(up to {FORMAT_VERSION}); upgrade digitnet to read it"
        )
    return meta


def _expected_arrays(path: Path, meta: dict[str, Any],
                     headers: dict[str, _Header]) -> list[str]:
    """Check every array's header against the architecture; returns the names to read."""
    specs = parameter_specs(path, meta.get("architecture"))
    for name, (shape, dtype) in specs.items():
        if name not in headers:
            raise ModelFileError(f"{path}: array {name} is missing")
        _check_header(path, name, headers[name], shape, dtype)
    checkpoint = isinstance(meta.get("checkpoint"), dict)
    largest = max(int(np.prod(shape)) for shape, _ in specs.values())
    for name, header in headers.items():
        if name in specs or name == "metadata":
            continue
        parameter = name.rsplit(".", 1)[-1]  # "best.W1", "opt.v.W1" -> "W1"
        if checkpoint and name.startswith(("best.", "opt.")) and parameter in specs:
            _check_header(path, name, header, *specs[parameter])
        elif checkpoint and name.startswith("opt.") and int(np.prod(header[0])) <= largest:
            continue  # other optimizer state, such as adam's step counter
        else:
            raise ModelFileError(f"{path}: unexpected array {name} {header[0]} "
                                 f"for this architecture")
    return [name for name in headers if name != "metadata"]


def _check_header(path: Path, name: str, header: _Header, shape: tuple[int, ...],
                  dtype: np.dtype) -> None:
    got_shape, got_dtype = header
    if got_shape != shape:
        raise ModelFileError(f"{path}: {name} has shape {got_shape}, expected {shape}")
    if got_dtype.newbyteorder("=") != dtype:
        raise ModelFileError(f"{path}: {name} has dtype {got_dtype}, expected {dtype}")


def parameter_specs(path: str | Path, arch: Any) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """name -> (shape, dtype) of every parameter an "architecture" metadata entry calls for.

    W1 (784, H), W2 (H, 10), and with biases b1 (H,), b2 (10,), all of the recorded dtype.
    """
    if not isinstance(arch, dict):
        raise ModelFileError(f"{path}: metadata has no architecture")
    hidden, biases, dtype = arch.get("hidden"), arch.get("biases"), arch.get("dtype")
    fixed = {"inputs": network.N_INPUTS, "outputs": network.N_OUTPUTS, "activation": "relu"}
    for key, value in fixed.items():
        if arch.get(key) != value:
            raise ModelFileError(f"{path}: architecture {key} is {arch.get(key)!r}; "
                                 f"this digitnet reads only {value!r}")
    if (not isinstance(hidden, int) or isinstance(hidden, bool)
            or not 1 <= hidden <= MAX_HIDDEN):
        raise ModelFileError(f"{path}: architecture hidden must be 1..{MAX_HIDDEN}, "
                             f"got {hidden!r}")
    if not isinstance(biases, bool):
        raise ModelFileError(f"{path}: architecture biases must be true or false, got {biases!r}")
    if dtype not in ("float32", "float64"):
        raise ModelFileError(f"{path}: architecture dtype must be float32 or float64, "
                             f"got {dtype!r}")
    shapes = {"W1": (network.N_INPUTS, hidden), "W2": (hidden, network.N_OUTPUTS)}
    if biases:
        shapes.update(b1=(hidden,), b2=(network.N_OUTPUTS,))
    return {name: (shape, np.dtype(dtype)) for name, shape in shapes.items()}


def _config(meta: dict[str, Any], path: str | Path) -> Config:
    """The training Config in the metadata, checked against the architecture and the
    recorded input preprocessing (both already validated by load_arrays)."""
    try:
        config = Config.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: invalid training config in metadata ({e})") from None
    arch = meta["architecture"]
    if (config.hidden, config.biases) != (arch["hidden"], arch["biases"]):
        raise ModelFileError(
            f"{path}: config (hidden {config.hidden}, biases {config.biases}) does not match "
            f"the architecture (hidden {arch['hidden']}, biases {arch['biases']})")
    prep = meta.get("preprocessing")
    if not isinstance(prep, dict):
        raise ModelFileError(f"{path}: metadata has no input preprocessing")
    if prep.get("input_scale") != config.input_scale or prep.get("input_shift") != 0:
        raise ModelFileError(
            f"{path}: preprocessing scale {prep.get('input_scale')!r}, shift "
            f"{prep.get('input_shift')!r} is not supported (expected the config's input_scale "
            f"{config.input_scale!r} and shift 0)")
    return config


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
