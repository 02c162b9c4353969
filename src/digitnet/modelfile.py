"""The model file format: weights + config + metadata in one `.npz`, read without unpickling.

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

A checkpoint (checkpoint.py) is a model file that also holds optimizer buffers ("opt.*"),
the best weights so far ("best.*") and the random generator's state.

Files are written to a temporary name and renamed (files.atomic_write), so a crash never
leaves half a file. Loading uses `allow_pickle=False` and checks every array's header
against the metadata before reading any data: a truncated, foreign, newer or inconsistent
file is refused with a ModelFileError saying why. What is not here: the Model class and
its predictions (model.py), checkpoints (checkpoint.py), other formats (export.py).
"""

from __future__ import annotations

import datetime
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config
from .constants import CLASSES, PIXELS
from .errors import ModelFileError
from .files import atomic_write
from .network import Params

FORMAT = "digitnet-model"
FORMAT_VERSION = 1
MAX_HIDDEN = 100_000  # refuse files claiming more hidden units (W1 alone would be > 300 MB)
MAX_METADATA_BYTES = 16 * 2**20
PARAM_NAMES = ("W1", "b1", "W2", "b2")

# How `images.preprocess` turns a picture into MNIST-style pixels, recorded in each file.
IMAGE_PREPROCESSING = ("grayscale (alpha onto white), ink made bright, fit in 20x20 keeping "
                       "aspect ratio, centered in 28x28 by center of mass")


def _version() -> str:
    from .version import __version__

    return __version__


def model_metadata(params: Params, config: Config, metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata a file of these weights records: the caller's entries (history, test
    figures, data checksums...) plus format, architecture, preprocessing and config."""
    hidden = int(params["W1"].shape[1])
    return {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "digitnet_version": _version(),
        **metadata,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": {
            "inputs": PIXELS, "hidden": hidden, "outputs": CLASSES,
            "activation": "relu", "biases": "b1" in params,
            "dtype": str(params["W1"].dtype),
        },
        "preprocessing": {"input_scale": config.input_scale, "input_shift": 0.0,
                          "pixels": "0..255, 0 = background, 255 = ink",
                          "image": IMAGE_PREPROCESSING},
        "config": config.to_dict(),
    }


def check_params(params: Params, architecture: dict[str, Any]) -> None:
    """Raise ValueError unless params are exactly the finite arrays `architecture` calls for."""
    specs = parameter_specs("weights", architecture)
    for name, (shape, dtype) in specs.items():
        a = params.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            got = None if a is None else (a.shape, str(a.dtype))
            raise ValueError(f"parameter {name} must be {shape} {dtype}, got {got}")
        if not np.isfinite(a).all():
            raise ValueError(f"parameter {name} contains NaN or infinite values")
    extra = sorted(set(params) - set(specs))
    if extra:
        raise ValueError(f"unexpected parameters {extra} for a 784-H-10 network")


def save_model(path: str | Path, params: Params, config: Config,
               metadata: dict[str, Any]) -> None:
    """Check the weights, then write them with their full metadata to `path`, atomically."""
    meta = model_metadata(params, config, metadata)
    check_params(params, meta["architecture"])
    save_arrays(path, params, meta)


def load_model_file(path: str | Path) -> tuple[Params, Config, dict[str, Any]]:
    """Read and validate a model file: returns (params, config, metadata)."""
    arrays, meta = load_arrays(path)
    config = config_from_metadata(meta, path)
    return {k: v for k, v in arrays.items() if k in PARAM_NAMES}, config, meta


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> None:
    """Atomically write arrays plus JSON metadata as an .npz file at `path`."""
    blob = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, metadata=blob, **arrays),
                 error=ModelFileError)


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
    fixed = {"inputs": PIXELS, "outputs": CLASSES, "activation": "relu"}
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
    shapes = {"W1": (PIXELS, hidden), "W2": (hidden, CLASSES)}
    if biases:
        shapes.update(b1=(hidden,), b2=(CLASSES,))
    return {name: (shape, np.dtype(dtype)) for name, shape in shapes.items()}


def config_from_metadata(meta: dict[str, Any], path: str | Path) -> Config:
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
