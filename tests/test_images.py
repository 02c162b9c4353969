"""Preprocessing pictures as MNIST was made, and reading image files safely."""

import io
import os
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import digitnet
from digitnet import ImageError, images
from digitnet.images import ink_bounding_box, load_image, preprocess, preprocess_file
from digitnet.strokes import even_strokes


def center_of_mass(a):
    a = a.astype(np.float64)
    return (a.sum(axis=1) @ np.arange(a.shape[0]) / a.sum(),
            a.sum(axis=0) @ np.arange(a.shape[1]) / a.sum())


def ink_box(a, level=0):
    rows, cols = np.flatnonzero((a > level).any(axis=1)), np.flatnonzero((a > level).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def sample(mnist, n=1000, seed=0):
    idx = np.random.default_rng(seed).choice(len(mnist.x_test), n, replace=False)
    return mnist.x_test[idx], mnist.y_test[idx]


@pytest.fixture
def seven(mnist):
    return mnist.x_test[0]  # a 7, white on black, (28, 28) uint8


def test_package_exposes_preprocess():
    assert digitnet.preprocess is images.preprocess


# --- the round trip: MNIST digits through PNG files and back ---------------------

def test_mnist_through_png_files_is_classified_as_the_raw_array(mnist, trained_model, tmp_path):
    x, _ = sample(mnist)
    for i, image in enumerate(x):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
        big = Image.fromarray(255 - image).resize((280, 280), Image.Resampling.NEAREST)
        big.save(tmp_path / f"{i}-big.png")  # 280x280, black ink on white paper
    small = np.stack([preprocess_file(tmp_path / f"{i}.png") for i in range(len(x))])
    large = np.stack([preprocess_file(tmp_path / f"{i}-big.png") for i in range(len(x))])
    raw = trained_model.predict(x)
    same_small = (trained_model.predict(small) == raw).mean()
    same_large = (trained_model.predict(large) == raw).mean()
    assert same_small >= 0.99, same_small
    assert same_large >= 0.99, same_large
    # nearly the identity on MNIST itself, but for the digits whose strokes are thinner or
    # thicker than 90% of MNIST's (strokes.KEEP), which are redrawn at its median width
    redrawn = np.array([even_strokes(d.astype(np.float32)[ink_bounding_box(d)]) is not None
                        for d in x])
    assert 0.02 <= redrawn.mean() <= 0.15, redrawn.mean()
    assert np.abs(small[~redrawn].astype(int) - x[~redrawn]).mean() < 1.0


def test_smoothly_enlarged_mnist_keeps_its_accuracy(mnist, trained_model):
    """Bicubic enlargement blurs and moves the edges by fractions of a pixel, so the
    whole-pixel centering sometimes lands one pixel off; accuracy must not suffer."""
    x, y = sample(mnist)
    enlarged = np.stack([
        preprocess(Image.fromarray(255 - image).resize((280, 280), Image.Resampling.BICUBIC))
        for image in x])
    raw = trained_model.predict(x)
    assert (trained_model.predict(enlarged) == raw).mean() >= 0.975
    assert (trained_model.predict(enlarged) == y).mean() >= (raw == y).mean() - 0.01


# --- what preprocess does ----------------------------------------------------------------

def test_output_is_28x28_uint8_with_mnist_geometry():
    canvas = np.zeros((300, 200), np.uint8)
    canvas[40:240, 50:80] = 180  # a tall bar of gray ink, as wide as MNIST's strokes
    out = preprocess(canvas)
    assert out.shape == (28, 28) and out.dtype == np.uint8 and out.max() == 255
    assert ink_box(out) == (20, 3)  # longer side 20, aspect ratio 200:30 kept
    row, col = center_of_mass(out)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5


def test_position_and_polarity_do_not_matter(seven):
    expected = preprocess(seven)
    for top, left in [(0, 0), (100, 37), (172, 172)]:
        canvas = np.zeros((200, 200), np.uint8)
        canvas[top : top + 28, left : left + 28] = seven
        np.testing.assert_array_equal(preprocess(canvas), expected)
        np.testing.assert_array_equal(preprocess(255 - canvas), expected)


def test_tightly_cropped_digits_touching_the_edges(mnist):
    """People crop their digit tightly: the frame then holds ink, yet the background
    and the polarity must still be read right."""
    failures, differences = 0, []
    for image in mnist.x_test[:100]:
        rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
        tight = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        for picture in (tight, 255 - tight):
            try:
                differences.append(np.abs(preprocess(picture).astype(int) - preprocess(image)))
            except ImageError:
                failures += 1  # a stroke so thin that every pixel is on the frame
    assert failures <= 2
    assert np.mean(differences) < 0.5


@pytest.mark.parametrize("pen", [3, 12, 40])
def test_drawn_seven_with_thin_or_thick_pen(pen, trained_model):
    from PIL import ImageDraw

    canvas = Image.new("RGB", (400, 400), "white")
    ImageDraw.Draw(canvas).line([(120, 80), (280, 80), (170, 330)], fill="navy", width=pen)
    out = preprocess(canvas)
    assert out.max() == 255  # even a thin pen's faded strokes peak at full ink, as in MNIST
    assert ink_box(out, 64)[0] == 20
    assert trained_model.predict(out[None])[0] == 7


def test_gray_paper_and_gray_ink_are_normalized(seven):
    paper = (200 - seven.astype(np.float64) * (140 / 255)).round().astype(np.uint8)  # 200 -> 60
    out = preprocess(paper)
    assert out.max() == 255
    assert np.abs(out.astype(int) - preprocess(seven)).max() <= 4


def test_faint_noise_does_not_move_the_box(seven, rng):
    big = np.asarray(Image.fromarray(seven).resize((280, 280), Image.Resampling.NEAREST))
    noisy = np.clip(big + rng.uniform(0, 40, big.shape), 0, 255).astype(np.uint8)
    clean_out, noisy_out = preprocess(big), preprocess(noisy)
    # (the noise thins the strokes a little, so a stroke width near the edge of MNIST's
    # range may be redrawn in one and not the other: a pixel, not the whole picture)
    assert np.abs(np.subtract(ink_box(noisy_out, 64), ink_box(clean_out, 64))).max() <= 1
    from scipy import ndimage  # no speck of noise outside the digit's strokes

    near_strokes = ndimage.binary_dilation(clean_out > 0, iterations=2)
    assert not ((noisy_out > 64) & ~near_strokes).any()


@pytest.mark.parametrize("picture", [
    np.full((50, 40), 255, np.uint8), np.zeros((50, 40), np.uint8),
    np.full((50, 40), 128, np.uint8),
    np.random.default_rng(1).integers(230, 256, (60, 60)).astype(np.uint8),  # paper grain only
])
def test_blank_pictures_are_refused(picture):
    with pytest.raises(ImageError, match="blank image"):
        preprocess(picture)


def test_image_modes_give_the_same_result(seven):
    expected = preprocess(seven)
    ink = Image.fromarray(255 - seven)  # black on white
    rgba = np.zeros((28, 28, 4), np.uint8)  # black ink on a transparent, black background
    rgba[..., 3] = seven
    variants = {
        "L": ink, "RGB": ink.convert("RGB"), "P": ink.convert("P"),
        "RGBA transparent": Image.fromarray(rgba), "LA": ink.convert("LA"),
        "I;16": Image.fromarray(seven.astype(np.uint16) * 257),
        "F 0..1": Image.fromarray(seven.astype(np.float32) / 255),
    }
    for name, picture in variants.items():
        out = preprocess(picture)
        assert np.abs(out.astype(int) - expected).max() <= 2, name


def test_palette_with_transparent_black_background(seven):
    palette = Image.fromarray((seven > 127).astype(np.uint8)).convert("P")
    palette.putpalette([0, 0, 0, 0, 0, 128])  # 0: black, transparent; 1: dark blue ink
    palette.info["transparency"] = 0
    binary = preprocess(Image.fromarray(seven > 127))
    assert np.abs(preprocess(palette).astype(int) - binary).max() <= 2


def test_arrays_of_every_kind(seven):
    expected = preprocess(seven)
    rgb = np.repeat(seven[:, :, None], 3, axis=2)
    for name, a in {"float": seven.astype(np.float64), "rgb": rgb, "(H, W, 1)": seven[:, :, None],
                    "bool": seven > 127, "uint16": seven.astype(np.uint16) * 257}.items():
        out = preprocess(a)
        assert out.shape == (28, 28), name
        if name != "bool":
            assert np.abs(out.astype(int) - expected).max() <= 1, name


@pytest.mark.parametrize("bad, message", [
    (np.zeros((5, 28, 28)), "one image"),
    (np.zeros((0, 10)), "empty"),
    (np.full((10, 10), 300.0), "0..255 scale"),
    (np.full((10, 10), np.nan), "0..255 scale"),
    (np.array([["a"]]), "numbers"),
    (b"not an image object", "PIL image or a numpy array"),
])
def test_bad_arrays_are_refused_by_name(bad, message):
    with pytest.raises(ImageError, match=message):
        preprocess(bad)


# --- reading files -----------------------------------------------------------------------

@pytest.mark.parametrize("fmt, mode", [("PNG", "L"), ("JPEG", "RGB"), ("BMP", "RGB"),
                                       ("GIF", "P"), ("TIFF", "L"), ("PNG", "RGBA")])
def test_every_format_is_read(fmt, mode, seven, tmp_path):
    picture = Image.fromarray(255 - seven).resize((112, 112), Image.Resampling.NEAREST)
    if mode == "RGBA":
        picture = Image.merge("RGBA", [Image.new("L", picture.size, 0)] * 3
                              + [Image.eval(picture, lambda v: 255 - v)])
    path = tmp_path / f"digit.{fmt.lower()}"
    picture.convert(mode).save(path, fmt)
    out = preprocess_file(path)
    assert np.abs(out.astype(int) - preprocess(seven)).mean() < (4 if fmt == "JPEG" else 1)


def test_animated_gif_uses_its_first_frame(seven, tmp_path):
    frames = [Image.fromarray(255 - seven), Image.new("L", (28, 28), 255)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    np.testing.assert_array_equal(preprocess_file(tmp_path / "a.gif"), preprocess(seven))


def test_exif_rotation_is_applied(seven, tmp_path):
    sideways = Image.fromarray(255 - np.rot90(seven, 1))  # rotated 90 degrees counterclockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    sideways.save(tmp_path / "phone.jpg", quality=95, exif=exif)
    out = preprocess_file(tmp_path / "phone.jpg")
    assert np.abs(out.astype(int) - preprocess(seven)).mean() < 4


def png_header_only(width, height):
    """A PNG whose header claims width x height, with one tiny row of real data."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height", [(7000, 7000), (100_000, 100_000), (50_000, 900),
                                           (9000, 5000)])
@pytest.mark.parametrize("limit", [images.MAX_PIXELS, 16_777_216])  # predict's, the server's
def test_huge_images_are_refused_naming_the_limit_that_applies(width, height, limit, tmp_path):
    """Over Pillow's own limit (and over twice it) the message still names ours."""
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(width, height))
    with pytest.raises(ImageError, match=rf"bomb\.png: image is .*{width * height:,} pixels, "
                                         rf"more than the {limit:,} pixels allowed; refused "
                                         rf"before decoding$"):
        load_image(path, max_pixels=limit)


def test_the_docs_state_the_pixel_limit():
    page = (Path(__file__).parents[1] / "docs" / "using.md").read_text()
    assert images.MAX_PIXELS == 40_000_000 and "more than\n40 million pixels" in page


def corrupt_exif_jpeg(picture: Image.Image) -> bytes:
    """A JPEG whose EXIF orientation entry points past the end of the EXIF block."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    raw = bytearray(buf.getvalue())
    entry = raw.find(b"Exif\0\0") + 6 + 8 + 2  # TIFF header, entry count, then the entry
    assert raw[entry : entry + 2] == b"\x01\x12"  # the orientation tag, big-endian
    raw[entry + 2 : entry + 4] = b"\x00\x09"  # type 9, count 0xffff: data "larger than file"
    raw[entry + 4 : entry + 8] = b"\x00\x00\xff\xff"
    return bytes(raw)


def test_corrupt_exif_is_ignored_silently(seven, tmp_path):
    path = tmp_path / "corrupt-exif.jpg"
    path.write_bytes(corrupt_exif_jpeg(Image.fromarray(255 - seven)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning Pillow prints fails the test
        out = preprocess_file(path)
    assert np.abs(out.astype(int) - preprocess(seven)).mean() < 4  # not rotated


def test_corrupt_exif_prints_nothing_from_the_cli(seven, tmp_path, model_file):
    path = tmp_path / "corrupt-exif.jpg"
    path.write_bytes(corrupt_exif_jpeg(Image.fromarray(255 - seven)))
    done = subprocess.run([sys.executable, "-m", "digitnet", "predict", str(model_file),
                           str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith(f"{path}: 7 (")


def test_special_files_are_refused_without_reading(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")  # opening it to read would block forever
    with pytest.raises(ImageError, match=r"pipe\.png: not a regular file"):
        load_image(tmp_path / "pipe.png")
    with pytest.raises(ImageError, match="/dev/zero: not a regular file"):
        load_image("/dev/zero")


def test_decoding_errors_name_the_file(tmp_path, seven):
    (tmp_path / "text.png").write_text("hello, not a picture")
    buf = io.BytesIO()
    Image.fromarray(seven).resize((200, 200)).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[:400])
    cases = {"text.png": "not an image file", "cut.png": "damaged",
             "missing.png": "file not found", ".": "is a directory"}
    for name, message in cases.items():
        with pytest.raises(ImageError, match=message) as error:
            load_image(tmp_path / name)
        assert str(tmp_path / name) in str(error.value)


def test_blank_file_message_names_the_file(tmp_path):
    Image.new("RGB", (64, 64), "white").save(tmp_path / "white.png")
    with pytest.raises(ImageError, match=r"white\.png: blank image"):
        preprocess_file(tmp_path / "white.png")


def test_list_images_expands_directories(tmp_path):
    for name in ["b.png", "a.JPG", "c.txt", "d.tiff"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "empty").mkdir()
    found = images.list_images([tmp_path, tmp_path / "c.txt"])
    assert [p.name for p in found] == ["a.JPG", "b.png", "d.tiff", "c.txt"]
    with pytest.raises(ImageError, match="no image files"):
        images.list_images([tmp_path / "empty"])


def test_unreadable_places_become_errors_per_file(tmp_path, seven, monkeypatch):
    """A directory we may not list is one ImageError for it; a file in a directory we may
    not enter is returned, and load_image names it. (Faked: the tests run as root.)"""
    Image.fromarray(seven).save(tmp_path / "ok.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_stat, real_iterdir = Path.stat, Path.iterdir

    def stat(self, *args, **kwargs):
        if self.parent == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    def iterdir(self):
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_iterdir(self)

    monkeypatch.setattr(Path, "stat", stat)
    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(ImageError, match=r"locked: cannot list the directory \(Permission"):
        images.list_images([locked])
    found = images.list_images([locked / "a.png", tmp_path / "ok.png"])
    assert found == [locked / "a.png", tmp_path / "ok.png"]
    with pytest.raises(ImageError, match=r"locked/a\.png: permission denied"):
        load_image(found[0])
    assert load_image(found[1]).size == (28, 28)


def test_only_the_documented_formats_are_decoded(tmp_path, monkeypatch):
    """Pillow would open EPS by running Ghostscript on it; digitnet never lets it."""
    import subprocess as sp

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"an image loader started a program: {args}")

    monkeypatch.setattr(sp, "Popen", no_subprocess)
    monkeypatch.setattr(sp, "check_call", no_subprocess)
    (tmp_path / "digit.eps").write_text(
        "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\n"
        "newpath 14 2 moveto 14 26 lineto 3 setlinewidth stroke\nshowpage\n")
    with pytest.raises(ImageError, match=r"digit\.eps: not an image file Pillow can read"):
        load_image(tmp_path / "digit.eps")
    for fmt in ("PPM", "TGA", "PCX", "ICO"):
        Image.new("L", (28, 28), 255).save(tmp_path / f"x.{fmt.lower()}", fmt)
        with pytest.raises(ImageError, match="not an image file"):
            load_image(tmp_path / f"x.{fmt.lower()}")
    for fmt in ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"):
        Image.new("L", (28, 28), 255).save(tmp_path / f"ok.{fmt.lower()}", fmt)
        assert load_image(tmp_path / f"ok.{fmt.lower()}").format == fmt


def test_a_large_16_bit_picture_is_shrunk_before_any_work(tmp_path):
    """A 6000x6000 16-bit PNG (84 KB: a comb of thin teeth) took 5 GB and 45 s in `read`,
    segmented at full size, because only 8-bit pictures were shrunk first. Now every mode
    is shrunk to 1024 pixels before any work: decoding (72 MB) and one 32-bit copy (144
    MB) are what a valid picture of that size needs, so the process stays under 500 MB."""
    import subprocess
    import sys

    comb = np.zeros((6000, 6000), np.uint16)
    comb[100:, ::12] = 65535
    Image.fromarray(comb).save(tmp_path / "comb16.png")
    script = ("import resource, subprocess, sys\n"
              "p = subprocess.run([sys.executable, '-m', 'digitnet', 'read', sys.argv[1]],"
              " capture_output=True, text=True, timeout=120)\n"
              "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
              "sys.stderr.write(p.stderr)\n")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "comb16.png")],
                            capture_output=True, text=True, timeout=180)
    code, peak_kb = map(int, result.stdout.split())
    assert peak_kb < 500_000, f"{peak_kb / 1000:.0f} MB"
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 1
    assert code in (0, 1)
