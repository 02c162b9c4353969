"""The model file format: weights + config + metadata in one `.npz`, read without unpickling.

A model file is an uncompressed NumPy `.npz` archive holding the arrays "W1", "W2" (and
"b1", "b2" when the network has biases) and one more array, "metadata": the UTF-8 bytes
of a JSON object with these keys:

    format, format_version   "digitnet-model", 1
    architecture             inputs 784, hidden H, outputs 10, activation "relu",
                             biases true/false, dtype "float32" or "float64";
                             optional stored_as "float16": float32 weights kept
                             as float16 in the file (half the size)
    config                   the full training Config (config.Config.to_dict())
    preprocessing            input_scale, input_shift: the network's input is
                             pixels * input_scale + input_shift, pixels on 0..255;
                             image: how a picture becomes those pixels (images.py)
    history                  one record per epoch (loss, seconds, lr, accuracies)
    test_accuracy, test_loss on the MNIST test set, after training
    data_source, data_sha256 where the training data came from; sha256 of each file
    reject_threshold         optional: digit scores below it are "not a digit" (0..1)
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
import stat
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .config import MAX_HIDDEN, MAX_WEIGHT_BYTES, Config
from .constants import CLASSES, PIXELS
from .errors import ConfigError, ModelFileError
from .files import atomic_write, json_text
from .network import Params
from .optim import RULES

FORMAT = "digitnet-model"
FORMAT_VERSION = 1
MAX_METADATA_BYTES = 2**20  # 150 epochs of history take 30 kB; parsed JSON is ~30x its text
MAX_ACTIVATION = 1e15  # refuse models whose forward pass could exceed this (see forward_bound):
# its square, as the squared-error loss takes it, still fits float32 (3.4e38) many times over
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


def as_stored(params: Params, stored_as: str) -> Params:
    """params as a file storing them as `stored_as` gives them back: each weight rounded
    to that type, in the params' own dtype again. Only float32 weights can be stored as
    float16; raises ModelFileError otherwise, or if a weight does not fit in float16."""
    dtypes = {str(a.dtype) for a in params.values()}
    if stored_as != "float16" or dtypes != {"float32"}:
        raise ModelFileError(f"only float32 weights can be stored as float16, not "
                             f"{', '.join(sorted(dtypes))} as {stored_as}")
    largest = float(np.finfo(stored_as).max)
    if any(float(np.abs(a).max(initial=0)) > largest for a in params.values()):
        raise ModelFileError(f"weights too large to store as {stored_as} (over {largest:g})")
    return {name: a.astype(stored_as).astype(a.dtype) for name, a in params.items()}


def save_model(path: str | Path, params: Params, config: Config,
               metadata: dict[str, Any], *, stored_as: str | None = None) -> None:
    """Check the weights, then write them with their full metadata to `path`, atomically.

    stored_as="float16" halves the file of a float32 network: each weight is rounded to
    float16 (11 significant bits) for storage, and loading turns it back into float32.
    """
    meta = model_metadata(params, config, metadata)
    check_params(params, meta["architecture"])
    try:
        check_magnitudes(params, config, path)  # loading would refuse such a file
    except ModelFileError as e:
        raise ModelFileError(f"{e}; not written, as digitnet would not load it") from None
    if stored_as is not None:
        meta["architecture"]["stored_as"] = stored_as
        specs = parameter_specs("weights", meta["architecture"])
        try:
            as_stored(params, stored_as)  # checks the dtypes, and that every weight fits
        except ModelFileError as e:
            raise ModelFileError(f"{path}: {e}") from None
        params = {name: a.astype(specs[name][1]) for name, a in params.items()}
    save_arrays(path, params, meta)


def load_model_file(path: str | Path) -> tuple[Params, Config, dict[str, Any]]:
    """Read and validate a model file: returns (params, config, metadata).

    A checkpoint is also a model file: its optimizer and best-weights arrays are checked
    from their headers like every other array, but never read.
    """
    arrays, meta = load_arrays(path, read_checkpoint=False)
    config = config_from_metadata(meta, path)
    check_reject_threshold(meta, path)
    dtype = np.dtype(meta["architecture"]["dtype"])  # float16 storage is widened again
    params = {k: v.astype(dtype, copy=False) for k, v in arrays.items() if k in PARAM_NAMES}
    check_magnitudes(params, config, path)
    return params, config, meta


def forward_bound(params: Params, input_scale: float, input_shift: float = 0.0) -> float:
    """An upper bound on |x|, |h| and |z| anywhere in the forward pass, for any pixels on
    0..255, computed in Python floats (so it is inf, or NaN, rather than wrong when huge).

    x = pixels * scale + shift:  |x| <= 255 |scale| + |shift|                       = X
    h = relu(x @ W1 + b1):        |h| <= 784 X max|W1| + max|b1|                    = Hb
    z = h @ W2 + b2:              |z| <= H Hb max|W2| + max|b2|                     = Z
    Every partial sum of a product is bounded by the same sums, so no step exceeds
    max(X, Hb, Z) either.
    """
    def top(name: str) -> float:
        a = params.get(name)
        return 0.0 if a is None or a.size == 0 else float(np.abs(a).max())

    x = 255 * abs(float(input_scale)) + abs(float(input_shift))
    h = PIXELS * x * top("W1") + top("b1")
    z = params["W2"].shape[0] * h * top("W2") + top("b2")
    return max(x, h, z)



def check_reachable(params: Params, input_scale: float) -> None:
    """Before training: refuse (ConfigError) an input_scale with which the starting
    weights already let the network's values pass what a model file may hold
    (MAX_ACTIVATION), so no run ends in a file digitnet would not load."""
    bound = forward_bound(params, input_scale)
    if not bound <= MAX_ACTIVATION:
        raise ConfigError(f"input_scale {input_scale!r} lets the network's values reach "
                          f"{bound:.3g} before any training, beyond the {MAX_ACTIVATION:.0e} a "
                          f"model file may hold; use a smaller input_scale (1/255 or 1.0)")

def check_magnitudes(params: Params, config: Config, path: str | Path) -> None:
    """Refuse finite but absurd numbers: weights and input scale whose forward pass could
    overflow float32 (and so answer NaN) on some input. The bound is `forward_bound`;
    trained networks stay below 1e6, the limit is MAX_ACTIVATION (1e15)."""
    bound = forward_bound(params, config.input_scale)
    if not bound <= MAX_ACTIVATION:  # also catches NaN
        raise ModelFileError(
            f"{path}: input_scale {config.input_scale!r} and weights as large as these let "
            f"the network's values reach {bound:.3g}, beyond the {MAX_ACTIVATION:.0e} digitnet "
            f"accepts (float32 overflows at 3.4e38)")


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> None:
    """Atomically write arrays plus JSON metadata as an .npz file at `path`; refuses
    (ModelFileError) metadata larger than loading accepts."""
    blob = np.frombuffer(json_text(metadata).encode(), dtype=np.uint8)
    check_metadata_size(len(blob), path)
    atomic_write(path, lambda f: np.savez(f, metadata=blob, **arrays),
                 error=ModelFileError)


def check_metadata_size(size: int, path: str | Path) -> None:
    """Refuse to write metadata of `size` bytes that loading would refuse (over
    MAX_METADATA_BYTES)."""
    if size > MAX_METADATA_BYTES:
        raise ModelFileError(f"{path}: the metadata would take {size:,} bytes, more than the "
                             f"{MAX_METADATA_BYTES:,} a model file may hold; not written")


# (shape, dtype) of an array as its .npy header states it, read before its data.
_Header = tuple[tuple[int, ...], np.dtype]


def read_model_header(path: str | Path) -> tuple[Config, dict[str, Any]]:
    """A model file's (config, metadata), every check of `load_model_file` made but
    none of the weights read: what a committee checks of all its members first."""
    _, meta = load_arrays(path, read_checkpoint=False, read_weights=False)
    config = config_from_metadata(meta, path)
    check_reject_threshold(meta, path)
    return config, meta


def load_arrays(path: str | Path, read_checkpoint: bool = True, read_weights: bool = True,
                ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a digitnet .npz: returns (arrays, metadata), every array checked.

    In order, and before any weight is read: the file is a zip archive of plain (stored
    or deflated, unencrypted) .npy members; the "metadata" member is a JSON object of
    format `FORMAT` and a version this digitnet reads; the architecture and config it
    records are valid; the members are exactly the arrays the architecture calls for,
    plus, in a checkpoint, exactly the buffers its optimizer keeps and the best weights
    if it recorded any (`expected_arrays`); every array header has the expected shape
    and dtype. So nothing larger than that architecture's arrays is ever allocated. Only
    then are the arrays read (the checkpoint's only if `read_checkpoint`), with
    `allow_pickle=False`, and checked to be finite. Any failure raises ModelFileError
    naming the file and the fault.
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_dir() and not stat.S_ISREG(path.stat().st_mode):
            raise ModelFileError(f"{path}: not a regular file")  # a FIFO would block forever
        file = open(path, "rb")  # noqa: SIM115 (closed below; errors differ from the zip's)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file not found") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a directory, not a model file") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read model file ({e.strerror or e})") from None
    try:
        with file, zipfile.ZipFile(file) as archive:
            members = _member_names(path, archive)
            meta = _read_metadata(path, archive, members)
            expected = expected_arrays(path, meta)
            for name in members:
                if name != "metadata" and name not in expected:
                    raise ModelFileError(f"{path}: unexpected array {name} for this "
                                         f"architecture" + (" and optimizer" if
                                                            _is_checkpoint(meta) else ""))
            for name, (shape, dtype) in expected.items():
                if name not in members:
                    raise ModelFileError(f"{path}: array {name} is missing")
                _check_header(path, name, _read_header(path, archive, name), shape, dtype)
            wanted = [name for name in expected if read_weights and (
                read_checkpoint or not name.startswith(("opt.", "best.")))]
            arrays = {name: _read_member(path, archive, name) for name in wanted}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(
            f"{path}: not a readable .npz model file (truncated or damaged: {e})") from None
    for name, a in arrays.items():
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ModelFileError(f"{path}: {name} contains NaN or infinite values")
    return arrays, meta


def _is_checkpoint(meta: dict[str, Any]) -> bool:
    return isinstance(meta.get("checkpoint"), dict)


def expected_arrays(path: str | Path, meta: dict[str, Any]) -> dict[str, _Header]:
    """name -> (shape, dtype) of every array a file with this metadata holds, no more.

    A model: the parameters (`parameter_specs`). A checkpoint also holds, per parameter,
    the buffers its optimizer keeps (sgd none, momentum and nesterov "opt.v.*", adam
    "opt.m.*" and "opt.s.*" plus the step counter "opt.step"), and "best.*" when it
    recorded best weights.
    """
    specs = parameter_specs(path, meta.get("architecture"))
    if not _is_checkpoint(meta):
        return dict(specs)
    if "stored_as" in meta["architecture"]:
        raise ModelFileError(f"{path}: a checkpoint keeps its weights at full precision")
    config = meta.get("config")
    optimizer = config.get("optimizer") if isinstance(config, dict) else None
    if optimizer not in RULES:
        raise ModelFileError(f"{path}: checkpoint's config has an unknown optimizer "
                             f"{optimizer!r}")
    expected = dict(specs)
    for slot in RULES[optimizer][1]:
        expected.update({f"opt.{slot}.{name}": spec for name, spec in specs.items()})
    if optimizer == "adam":
        expected["opt.step"] = ((), np.dtype(np.int64))
    if meta["checkpoint"].get("best") is not None:
        expected.update({f"best.{name}": spec for name, spec in specs.items()})
    return expected


def _member_names(path: Path, archive: zipfile.ZipFile) -> dict[str, None]:
    """The array names of the archive's "name.npy" members, each one plain: not
    encrypted, stored or deflated (what np.savez and np.savez_compressed write)."""
    names: dict[str, None] = {}  # in archive order, so messages name the first offender
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        if name == info.filename or name in names:
            raise ModelFileError(f"{path}: unexpected member {info.filename!r} in the archive")
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{path}: member {info.filename!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(f"{path}: member {info.filename!r} uses compression method "
                                 f"{info.compress_type}; only stored and deflated are read")
        names[name] = None
    return names


def _read_header(path: Path, archive: zipfile.ZipFile, name: str) -> _Header:
    """(shape, dtype) of member "name.npy", from its header alone; only number dtypes."""
    with archive.open(name + ".npy") as f:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _fortran_order, dtype = read_header(f)
    if dtype.hasobject or dtype.names is not None or dtype.kind not in "biuf":
        raise ModelFileError(f"{path}: array {name} has dtype {dtype}, not a number type "
                             "(objects are never unpickled)")
    return tuple(shape), dtype


def _read_member(path: Path, archive: zipfile.ZipFile, name: str) -> np.ndarray:
    with archive.open(name + ".npy") as f:
        a = np.lib.format.read_array(f, allow_pickle=False)
    return a.astype(a.dtype.newbyteorder("="), order="C", copy=False)  # keeps 0-d arrays 0-d


def _read_metadata(path: Path, archive: zipfile.ZipFile,
                   members: dict[str, None]) -> dict[str, Any]:
    """The JSON metadata, with its format name and version checked."""
    if "metadata" not in members:
        raise ModelFileError(f"{path}: no metadata entry; not a digitnet model file")
    shape, dtype = _read_header(path, archive, "metadata")
    if dtype != np.uint8 or len(shape) != 1 or shape[0] > MAX_METADATA_BYTES:
        raise ModelFileError(f"{path}: metadata entry must be at most {MAX_METADATA_BYTES} "
                             f"bytes of uint8, got shape {shape} of {dtype}")
    blob = _read_member(path, archive, "metadata")
    try:
        meta = json.loads(blob.tobytes().decode(), parse_constant=_no_constant)
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


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON number", name, 0)


def _check_header(path: Path, name: str, header: _Header, shape: tuple[int, ...],
                  dtype: np.dtype) -> None:
    got_shape, got_dtype = header
    if got_shape != shape:
        raise ModelFileError(f"{path}: {name} has shape {got_shape}, expected {shape}")
    if got_dtype.newbyteorder("=") != dtype:
        raise ModelFileError(f"{path}: {name} has dtype {got_dtype}, expected {dtype}")


def parameter_specs(path: str | Path, arch: Any) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """name -> (shape, dtype) of every parameter an "architecture" metadata entry calls for.

    W1 (784, H), W2 (H, 10), and with biases b1 (H,), b2 (10,), all of the recorded dtype,
    or of its "stored_as" dtype (float16, for float32 weights) when it has one.
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
    stored = arch.get("stored_as", dtype)
    if stored != dtype and (stored, dtype) != ("float16", "float32"):
        raise ModelFileError(f"{path}: architecture stored_as must be float16 (for float32 "
                             f"weights), got {stored!r}")
    size = PIXELS * hidden * np.dtype(dtype).itemsize  # W1 as digitnet computes with it
    if size > MAX_WEIGHT_BYTES:
        raise ModelFileError(f"{path}: {hidden} hidden units in {dtype} make W1 take "
                             f"{size / 1e6:.0f} MB, more than the {MAX_WEIGHT_BYTES / 1e6:.0f} "
                             f"MB digitnet loads; refused before reading the weights")
    shapes = {"W1": (PIXELS, hidden), "W2": (hidden, CLASSES)}
    if biases:
        shapes.update(b1=(hidden,), b2=(CLASSES,))
    return {name: (shape, np.dtype(stored)) for name, shape in shapes.items()}


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


def check_reject_threshold(meta: dict[str, Any], path: str | Path) -> None:
    """The optional "reject_threshold" must be a number from 0 to 1 (a digit score)."""
    value = meta.get("reject_threshold", 0.0)
    if (not isinstance(value, (int, float)) or isinstance(value, bool)
            or not 0 <= value <= 1):  # NaN fails this too
        raise ModelFileError(f"{path}: reject_threshold must be a number from 0 to 1, "
                             f"got {value!r}")
