"""MNIST data: a strict idx reader and the bundled copy of the official files.

The idx format (LeCun's) is a 4-byte magic number, one big-endian uint32 per dimension,
then the data. MNIST uses two kinds: images (magic 2051, dims n x 28 x 28, uint8 pixels,
0 = background, 255 = ink) and labels (magic 2049, dims n, uint8 digits 0..9). Files may
be gzip-compressed. Every check failure raises `DataError` naming the file and the fault.

The four official files ship inside the package (CC BY-SA 3.0, Yann LeCun and Corinna
Cortes), so `load_mnist()` works offline with no set-up. `load_mnist(data_dir)` reads
any directory with the four standard names, such as Fashion-MNIST.

Downloading is deliberately not here: the data is bundled.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .constants import CLASSES, SIDE
from .errors import DataError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension


FILE_NAMES = {  # role -> standard file name (without .gz)
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

BUNDLED_SHA256 = {  # the official sums of the bundled .gz files
    "train-images-idx3-ubyte.gz":
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz":
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz":
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz":
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Mnist:
    """The four MNIST arrays, plus where they came from.

    x_train: (60000, 28, 28) uint8, y_train: (60000,) uint8,
    x_test: (10000, 28, 28) uint8, y_test: (10000,) uint8 (sizes for real MNIST).
    Unpacks like a tuple: `x_train, y_train, x_test, y_test = load_mnist()`.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str = "bundled MNIST"  # a directory path, or "bundled MNIST"
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> sha256 of its bytes

    def __iter__(self):
        return iter((self.x_train, self.y_train, self.x_test, self.y_test))


def read_idx(path: str | Path, expected_magic: int | None = None) -> tuple[np.ndarray, str]:
    """Read one idx file (raw or gzip) into a uint8 array of the shape its header gives.

    Returns (array, sha256 of the file's bytes as stored). Checks the magic number, that
    every dimension is positive, and that the data is exactly as long as the header says.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e})") from None
    digest = hashlib.sha256(raw).hexdigest()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt gzip data ({e})") from None
    elif path.suffix == ".gz":
        raise DataError(f"{path}: not a gzip file (it does not start with the gzip magic bytes)")

    if len(raw) < 4:
        raise DataError(f"{path}: file is truncated ({len(raw)} bytes, too short for a header)")
    magic = int.from_bytes(raw[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"{path}: wrong magic number {magic}, expected {expected_magic}")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: magic number {magic} is not an unsigned-byte idx file")
    ndim = raw[3]
    header_len = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header_len:
        raise DataError(f"{path}: file is truncated inside its header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if any(d == 0 for d in dims):
        raise DataError(f"{path}: header has a zero dimension {dims}")
    expected = int(np.prod(dims, dtype=np.int64))
    found = len(raw) - header_len
    if found < expected:
        raise DataError(
            f"{path}: file is truncated: header {dims} needs {expected} data bytes, found {found}"
        )
    if found > expected:
        raise DataError(
            f"{path}: {found - expected} unexpected bytes after the {expected} "
            f"the header {dims} needs"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims), digest


def read_images(path: str | Path) -> tuple[np.ndarray, str]:
    """Read an idx image file: returns ((n, 28, 28) uint8 array, sha256)."""
    images, digest = read_idx(path, IMAGES_MAGIC)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        shape = " x ".join(map(str, images.shape))
        raise DataError(f"{path}: images must be n x 28 x 28, got {shape}")
    return images, digest


def read_labels(path: str | Path) -> tuple[np.ndarray, str]:
    """Read an idx label file: returns ((n,) uint8 array of digits 0..9, sha256)."""
    labels, digest = read_idx(path, LABELS_MAGIC)
    if labels.ndim != 1:
        raise DataError(f"{path}: labels must have 1 dimension, got {labels.ndim}")
    if labels.max() >= CLASSES:
        bad = int(np.flatnonzero(labels >= CLASSES)[0])
        raise DataError(f"{path}: label {labels[bad]} at index {bad} is outside 0..9")
    return labels, digest


def _bundled_dir() -> Path:
    return Path(str(resources.files("digitnet") / "_mnist"))


def _find(directory: Path, stem: str) -> Path:
    """The file for `stem` in `directory`: `stem.gz` if present, else `stem` raw."""
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    raise DataError(f"{directory / (stem + '.gz')}: file not found (nor {stem} uncompressed)")


def load_mnist(data_dir: str | Path | None = None) -> Mnist:
    """Load the four MNIST arrays: (60000, 28, 28), (60000,), (10000, 28, 28), (10000,) uint8.

    With `data_dir=None` the bundled official files are read and checked against their
    official sha256 sums. Otherwise `data_dir` must hold the four standard file names
    (gzip or raw), as for Fashion-MNIST.
    """
    bundled = data_dir is None
    directory = _bundled_dir() if bundled else Path(data_dir)
    if not directory.is_dir():
        raise DataError(f"{directory}: data directory not found")
    arrays, sums = {}, {}
    for role, stem in FILE_NAMES.items():
        path = _find(directory, stem)
        reader = read_images if role.endswith("images") else read_labels
        arrays[role], sums[path.name] = reader(path)
        if bundled and sums[path.name] != BUNDLED_SHA256.get(path.name):
            raise DataError(
                f"{path}: sha256 {sums[path.name]} does not match the official "
                f"{BUNDLED_SHA256.get(path.name)}; the bundled file is damaged, reinstall digitnet"
            )
    for split in ("train", "test"):
        n_images, n_labels = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_images != n_labels:
            raise DataError(
                f"{directory}: {split} set has {n_images} images but {n_labels} labels"
            )
    return Mnist(
        arrays["train_images"], arrays["train_labels"],
        arrays["test_images"], arrays["test_labels"],
        source="bundled MNIST" if bundled else str(directory), sha256=sums,
    )
