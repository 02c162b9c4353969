"""The idx reader and load_mnist, on the bundled files and on bad files made in a temp dir."""

import gzip
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest

from digitnet import data
from digitnet.errors import DataError

FASHION = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_dataset(directory: Path, n_train=20, n_test=10, compress=True, seed=0):
    """Write a small valid MNIST-like dataset; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28)),
        "train_labels": rng.integers(0, 10, n_train),
        "test_images": rng.integers(0, 256, (n_test, 28, 28)),
        "test_labels": rng.integers(0, 10, n_test),
    }
    for role, array in arrays.items():
        magic = data.IMAGES_MAGIC if role.endswith("images") else data.LABELS_MAGIC
        raw = idx_bytes(array, magic)
        name = data.FILE_NAMES[role]
        if compress:
            (directory / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (directory / name).write_bytes(raw)
    return arrays


def test_bundled_mnist_has_the_official_shapes_and_sums(mnist):
    x_train, y_train, x_test, y_test = mnist
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert mnist.sha256 == data.BUNDLED_SHA256
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]


@pytest.mark.parametrize("compress", [True, False])
def test_reads_a_valid_directory(tmp_path, compress):
    written = write_dataset(tmp_path, compress=compress)
    loaded = data.load_mnist(tmp_path)
    np.testing.assert_array_equal(loaded.x_train, written["train_images"])
    np.testing.assert_array_equal(loaded.y_train, written["train_labels"])
    np.testing.assert_array_equal(loaded.x_test, written["test_images"])
    np.testing.assert_array_equal(loaded.y_test, written["test_labels"])
    assert loaded.source == str(tmp_path)


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian package dataset-fashion-mnist missing")
def test_reads_fashion_mnist_from_debian():
    fashion = data.load_mnist(FASHION)
    assert fashion.x_train.shape == (60000, 28, 28) and fashion.x_test.shape == (10000, 28, 28)
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10


def _train_images(directory: Path) -> Path:
    return directory / "train-images-idx3-ubyte.gz"


def test_missing_file_is_named(tmp_path):
    write_dataset(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: file not found"):
        data.load_mnist(tmp_path)


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="data directory not found"):
        data.load_mnist(tmp_path / "nope")


def test_bad_gzip(tmp_path):
    write_dataset(tmp_path)
    _train_images(tmp_path).write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: not a gzip file"):
        data.load_mnist(tmp_path)


def test_corrupt_gzip_stream(tmp_path):
    write_dataset(tmp_path)
    path = _train_images(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 :] = bytes(len(raw) - len(raw) // 2)  # zero out the second half
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: corrupt gzip data"):
        data.load_mnist(tmp_path)


def test_truncated_data(tmp_path):
    write_dataset(tmp_path)
    path = _train_images(tmp_path)
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match=r"file is truncated: header .* needs 15680 data bytes, "
                                        r"found 15580"):
        data.load_mnist(tmp_path)


def test_truncated_header(tmp_path):
    write_dataset(tmp_path, compress=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:6])
    with pytest.raises(DataError, match="truncated inside its header"):
        data.load_mnist(tmp_path)


def test_trailing_bytes(tmp_path):
    write_dataset(tmp_path, compress=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes() + b"\0\0\0")
    with pytest.raises(DataError, match="unexpected bytes after the 7840 data bytes"):
        data.load_mnist(tmp_path)


def test_wrong_magic_number(tmp_path):
    write_dataset(tmp_path, compress=False)
    path = tmp_path / "train-labels-idx1-ubyte"  # give the label file an image magic
    path.write_bytes(data.IMAGES_MAGIC.to_bytes(4, "big") + path.read_bytes()[4:])
    with pytest.raises(DataError, match="wrong magic number 2051, expected 2049"):
        data.load_mnist(tmp_path)


def test_mismatched_counts(tmp_path):
    write_dataset(tmp_path)
    labels = np.zeros(19, np.uint8)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(labels, data.LABELS_MAGIC)))
    with pytest.raises(DataError, match="train set has 20 images but 19 labels"):
        data.load_mnist(tmp_path)


def test_label_out_of_range(tmp_path):
    write_dataset(tmp_path)
    labels = np.array([1, 2, 12, 3, 4, 5, 6, 7, 8, 9], np.uint8)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(labels, data.LABELS_MAGIC)))
    with pytest.raises(DataError, match=r"label 12 at index 2 is outside 0\.\.9"):
        data.load_mnist(tmp_path)


def test_wrong_image_size(tmp_path):
    write_dataset(tmp_path)
    images = np.zeros((20, 32, 32), np.uint8)
    _train_images(tmp_path).write_bytes(gzip.compress(idx_bytes(images, data.IMAGES_MAGIC)))
    with pytest.raises(DataError, match="header gives 20 x 32 x 32, expected n x 28 x 28"):
        data.load_mnist(tmp_path)


def test_checksum_mismatch_on_a_bundled_file(tmp_path, monkeypatch):
    bundled = tmp_path / "_mnist"
    shutil.copytree(data._bundled_dir(), bundled)
    path = bundled / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-1] + bytes([(raw[-1] + 1) % 10])))  # one label changed
    monkeypatch.setattr(data, "_bundled_dir", lambda: bundled)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: sha256 .* does not match "
                                        r"the official"):
        data.load_mnist()


def test_a_gzip_bomb_is_not_decompressed_past_its_header(tmp_path):
    """200 MB of zeros after a valid 10-image file, gzipped to 0.2 MB: refused from the
    first byte past the announced data, with memory for the 10 images only."""
    import tracemalloc

    images = idx_bytes(np.zeros((10, 28, 28), np.uint8), data.IMAGES_MAGIC)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    bomb = compressor.compress(images)
    zeros = bytes(1 << 20)
    for _ in range(200):
        bomb += compressor.compress(zeros)
    path = tmp_path / "bomb.gz"
    path.write_bytes(bomb + compressor.flush())
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"bomb\.gz: unexpected bytes after the 7840 data"):
            data.read_images(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000


@pytest.mark.parametrize("dims", [(2**32 - 1,) * 4, (2**16, 2**16, 2**16, 2**16), (2**31, 2)])
def test_dimensions_whose_product_overflows_are_refused_before_reading(tmp_path, dims):
    header = (0x0804 if len(dims) == 4 else 0x0802).to_bytes(4, "big")
    path = tmp_path / "huge-idx"
    path.write_bytes(header + b"".join(d.to_bytes(4, "big") for d in dims) + bytes(100))
    product = 1
    for d in dims:
        product *= d
    with pytest.raises(DataError, match=rf"announces {product:,} data bytes, more than the "
                                        rf"{data.MAX_DATA_BYTES:,}"):
        data.read_idx(path)


def test_truncated_file_reports_the_exact_byte_counts(tmp_path):
    path = tmp_path / "short-idx"  # announces 3 x 5 = 15 bytes, holds 4
    path.write_bytes((0x0802).to_bytes(4, "big") + (3).to_bytes(4, "big") + (5).to_bytes(4, "big")
                     + b"abcd")
    with pytest.raises(DataError, match=r"header \(3, 5\) needs 15 data bytes, found 4"):
        data.read_idx(path)


def _deny(monkeypatch, denied: Path) -> None:
    """Make every stat of a path inside `denied` fail as a directory without x permission
    does (the tests run as root, which permissions would not stop)."""
    real_stat = Path.stat

    def stat(self, *args, **kwargs):
        if self.parent == denied:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)


def test_an_unreadable_data_directory_is_named(tmp_path, monkeypatch):
    write_dataset(tmp_path)
    _deny(monkeypatch, tmp_path)
    with pytest.raises(DataError, match=rf"{tmp_path}: cannot read the data directory "
                                        r"\(Permission denied\)"):
        data.load_mnist(tmp_path)
    with pytest.raises(DataError, match=rf"{tmp_path / 'inner'}: cannot read the data dir"):
        data.load_mnist(tmp_path / "inner")


def test_an_unreadable_data_file_is_named(tmp_path, monkeypatch):
    write_dataset(tmp_path)
    real_open = open

    def deny_open(file, *args, **kwargs):
        if Path(file).name.startswith("t10k-images"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny_open)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: cannot read file "
                                        r"\(Permission denied\)"):
        data.load_mnist(tmp_path)


def test_a_directory_named_like_a_data_file(tmp_path):
    write_dataset(tmp_path, compress=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte").mkdir()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: file not found"):
        data.load_mnist(tmp_path)
