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
import math
import os
import stat
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import BinaryIO

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

MAX_DATA_BYTES = 1 << 30  # an idx file announcing more data is refused (1.37 million images)

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # bytes read at a time


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


def read_idx(path: str | Path, expected_magic: int | None = None,
             item_shape: tuple[int, ...] | None = None) -> tuple[np.ndarray, str]:
    """Read one idx file (raw or gzip) into a uint8 array of the shape its header gives.

    Returns (array, sha256 of the file's bytes as stored). Checks the magic number, that
    every dimension is positive, that the data would not exceed MAX_DATA_BYTES, that the
    dimensions after the first are `item_shape` (if given), and that the data is exactly
    as long as the header says. The header is checked before any data is read, and the
    data is streamed into an array of exactly the announced size: a gzip bomb is never
    decompressed past one byte more than its header announced.
    """
    path = Path(path)
    try:
        with open(path, "rb", opener=_no_blocking) as stored:
            if not stat.S_ISREG(os.fstat(stored.fileno()).st_mode):  # a FIFO, a device
                raise DataError(f"{path}: not a regular file")
            compressed = stored.read(2) == _GZIP_MAGIC
            if not compressed and path.suffix == ".gz":
                raise DataError(
                    f"{path}: not a gzip file (it does not start with the gzip magic bytes)")
            stored.seek(0)
            if compressed:
                with gzip.GzipFile(fileobj=stored, mode="rb") as stream:
                    array = _read_idx_stream(stream, path, expected_magic, item_shape)
            else:
                array = _read_idx_stream(stored, path, expected_magic, item_shape)
            digest = _sha256(stored)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not an idx file") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: corrupt gzip data ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e})") from None
    return array, digest


def _no_blocking(path: str, flags: int) -> int:
    """os.open that never waits: opening a FIFO with no writer would block forever."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _read_idx_stream(stream: BinaryIO, path: Path, expected_magic: int | None,
                     item_shape: tuple[int, ...] | None) -> np.ndarray:
    """The idx array in `stream` (already decompressed), read header first; see read_idx."""
    head = _read_exactly(stream, 4)
    if len(head) < 4:
        raise DataError(f"{path}: file is truncated ({len(head)} bytes, too short for a header)")
    magic = int.from_bytes(head, "big")
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"{path}: wrong magic number {magic}, expected {expected_magic}")
    if head[0] != 0 or head[1] != 0 or head[2] != 0x08:
        raise DataError(f"{path}: magic number {magic} is not an unsigned-byte idx file")
    ndim = head[3]
    dim_bytes = _read_exactly(stream, 4 * ndim)
    if ndim == 0 or len(dim_bytes) < 4 * ndim:
        raise DataError(f"{path}: file is truncated inside its header")
    dims = tuple(int.from_bytes(dim_bytes[4 * i : 4 * i + 4], "big") for i in range(ndim))
    if any(d == 0 for d in dims):
        raise DataError(f"{path}: header has a zero dimension {dims}")
    if item_shape is not None and dims[1:] != item_shape:
        expected_dims = " x ".join(("n", *map(str, item_shape)))
        raise DataError(f"{path}: header gives {' x '.join(map(str, dims))}, expected "
                        f"{expected_dims}")
    expected = math.prod(dims)  # Python ints: no overflow, however large the header's numbers
    if expected > MAX_DATA_BYTES:
        raise DataError(f"{path}: header {dims} announces {expected:,} data bytes, more than "
                        f"the {MAX_DATA_BYTES:,} digitnet reads")
    array = np.empty(expected, np.uint8)
    view, found = memoryview(array), 0
    while found < expected:
        n = stream.readinto(view[found : found + _CHUNK])
        if not n:
            break
        found += n
    if found < expected:
        raise DataError(
            f"{path}: file is truncated: header {dims} needs {expected} data bytes, found {found}"
        )
    if stream.read(1):  # at most one byte past the announced data is ever read
        raise DataError(f"{path}: unexpected bytes after the {expected} data bytes the header "
                        f"{dims} announces")
    array.flags.writeable = False  # shared data: nobody edits it in place by accident
    return array.reshape(dims)


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    """Up to n bytes from stream; fewer only at the end of the data."""
    parts, remaining = [], n
    while remaining:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _sha256(stored: BinaryIO) -> str:
    """sha256 of a whole file as stored, read in chunks from its start."""
    stored.seek(0)
    digest = hashlib.sha256()
    while chunk := stored.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def read_images(path: str | Path) -> tuple[np.ndarray, str]:
    """Read an idx image file: returns ((n, 28, 28) uint8 array, sha256)."""
    return read_idx(path, IMAGES_MAGIC, (SIDE, SIDE))


def read_labels(path: str | Path) -> tuple[np.ndarray, str]:
    """Read an idx label file: returns ((n,) uint8 array of digits 0..9, sha256)."""
    labels, digest = read_idx(path, LABELS_MAGIC, ())
    if labels.max() >= CLASSES:
        bad = int(np.flatnonzero(labels >= CLASSES)[0])
        raise DataError(f"{path}: label {labels[bad]} at index {bad} is outside 0..9")
    return labels, digest


def _bundled_dir() -> Path:
    return Path(str(resources.files("digitnet") / "_mnist"))


def _find(directory: Path, stem: str) -> Path:
    """The file for `stem` in `directory`: `stem.gz` if present, else `stem` raw."""
    for name in (stem + ".gz", stem):
        try:
            candidate = directory / name
            if candidate.exists() and not candidate.is_dir():  # read_idx refuses what is
                return candidate  # not a regular file (a FIFO would block, a device never end)
        except OSError as e:  # a directory we may not enter
            raise DataError(f"{directory}: cannot read the data directory "
                            f"({e.strerror or e})") from None
    raise DataError(f"{directory / (stem + '.gz')}: file not found (nor {stem} uncompressed)")


def data_files(data_dir: str | Path | None = None) -> list[Path]:
    """Every path `load_mnist(data_dir)` may read (each standard name, gzip and raw), so
    that outputs can be checked not to overwrite them."""
    directory = _bundled_dir() if data_dir is None else Path(data_dir)
    return [directory / (stem + suffix) for stem in FILE_NAMES.values()
            for suffix in (".gz", "")]


def load_mnist(data_dir: str | Path | None = None) -> Mnist:
    """Load the four MNIST arrays: (60000, 28, 28), (60000,), (10000, 28, 28), (10000,) uint8.

    With `data_dir=None` the bundled official files are read and checked against their
    official sha256 sums. Otherwise `data_dir` must hold the four standard file names
    (gzip or raw), as for Fashion-MNIST.
    """
    bundled = data_dir is None
    directory = _bundled_dir() if bundled else Path(data_dir)
    try:
        if not directory.is_dir():
            problem = "not a directory" if directory.exists() else "data directory not found"
            raise DataError(f"{directory}: {problem}")
    except OSError as e:  # inside a directory we may not enter
        raise DataError(f"{directory}: cannot read the data directory "
                        f"({e.strerror or e})") from None
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
