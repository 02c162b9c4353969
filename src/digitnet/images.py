"""Pictures of digits -> MNIST-style (28, 28) uint8 inputs, and a safe image loader.

MNIST (LeCun, Cortes, Burges) was made from black-and-white NIST digits: each was scaled
to fit a 20x20 box keeping its aspect ratio, anti-aliased (which made it grayscale), then
placed in a 28x28 field so that its center of mass sits at the field's center. A network
trained on MNIST only does well on inputs made the same way, so `preprocess` repeats those
steps for any picture, as small pure functions on arrays:

    to_grayscale      image or array -> (H, W) float32 on 0..255, alpha flattened onto white
    ink_image         ink made bright, background 0: dark-on-light pictures are inverted,
                      the background level and its noise (read robustly from the
                      picture's frame) subtracted, the contrast stretched to 0..255
    ink_bounding_box  the box around pixels brighter than INK_THRESHOLD of the peak, so faint
                      noise (paper texture, JPEG ringing) does not widen it
    fit_in_box        crop, scale so the longer side is 20 keeping the aspect ratio; when
                      shrinking each pixel averages the area it covers (anti-aliasing);
                      then the contrast is stretched again, as MNIST digits peak at 255
    center_by_mass    paste into 28x28, shifted by whole pixels so the center of mass falls
                      on row 14, column 14 (where MNIST's centers of mass lie, to +-0.5)

`load_image` opens a file with Pillow safely: the size in the header is checked against
MAX_PIXELS before any pixel is decoded (and Pillow's own decompression-bomb limit is set
to the same), EXIF rotation is applied, the first frame of an animation is used, and
every failure becomes an ImageError naming the file.

Pixel convention, as everywhere in digitnet: 0..255, 0 = background, 255 = ink.
`deskew` straightens slanted digits (n, 28, 28) by image moments; models trained with
`Config.deskew` apply it to every input themselves, so `preprocess` does not.
Not here: segmenting several digits in one picture (segment.py), or evening out the
uneven lighting of a photograph; `digitnet predict --show-input` shows what the network saw.
Pillow is imported only inside the functions that need it, to keep `import digitnet` fast.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .augment import bilinear
from .constants import BOX, CENTER, INK_THRESHOLD, SIDE
from .errors import ImageError
from .files import atomic_write
from .ink import read_paper
from .strokes import even_strokes
from .writing import digit_mask

MAX_PIXELS = 40_000_000  # larger images are refused before decoding (about 7700 x 5200)
WORK_SIDE = 1024  # larger pictures are first shrunk by a whole factor (box filter) to this
ANALYSIS_SIDE = 400  # the writing is looked for on a copy shrunk to at most this size
# The only decoders load_image lets Pillow use: Pillow would also open EPS by running
# Ghostscript on the file, and dozens of rarely exercised formats. (JPEG also opens the
# MPO files many phones write; DIB is a BMP variant.)
FORMATS = ("PNG", "JPEG", "BMP", "DIB", "GIF", "TIFF", "WEBP")
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as Pillow's convert("L")


def _pil() -> Any:
    """Pillow's Image module, with its decompression-bomb limit set to MAX_PIXELS."""
    from PIL import (  # noqa: F401 (importing registers the decoders FORMATS names)
        BmpImagePlugin,
        GifImagePlugin,
        Image,
        JpegImagePlugin,
        PngImagePlugin,
        TiffImagePlugin,
        WebPImagePlugin,
    )

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    return Image


def load_image(source: str | os.PathLike | BinaryIO, *, max_pixels: int = MAX_PIXELS,
               name: str | None = None) -> Any:
    """Open and decode one image safely; returns a loaded PIL image (first frame).

    source: a path, or a binary file object such as io.BytesIO (read in memory, so a web
    upload never touches the disk). name: what error messages call the image (default:
    the path, or "image"). Raises ImageError naming it if it is missing, not an image
    Pillow can read, damaged, or larger than max_pixels (never more than MAX_PIXELS;
    refused from its header, before decoding).
    """
    Image = _pil()
    max_pixels = min(max_pixels, MAX_PIXELS)
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "image")
    try:
        if isinstance(source, (str, os.PathLike)):
            source = Path(source)
            mode = source.stat().st_mode
            if stat.S_ISDIR(mode):
                raise ImageError(f"{label}: is a directory, not an image")
            if not stat.S_ISREG(mode):  # a FIFO or device could block or never end
                raise ImageError(f"{label}: not a regular file")
        with warnings.catch_warnings():
            # Pillow warns about damaged metadata (corrupt EXIF, ...): the pixels are what
            # matter. Its size warning (also raised while decoding some formats) refuses.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=FORMATS) as image:  # reads the header only
                pixels = image.width * image.height
                if pixels > max_pixels:
                    raise ImageError(
                        f"{label}: image is {image.width} x {image.height} = {pixels:,} "
                        f"pixels, more than the {max_pixels:,} pixels allowed; refused before "
                        f"decoding")
                if pixels == 0:
                    raise ImageError(f"{label}: image is empty ({image.width} x {image.height})")
                image.load()
                return _upright(image)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{label}: file not found") from None
    except PermissionError:
        raise ImageError(f"{label}: permission denied") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        found = re.search(r"\((\d+) pixels\)", str(e))  # Pillow's message holds the size
        size = f"{int(found.group(1)):,} pixels, more" if found else "more"
        raise ImageError(f"{label}: image is {size} than the {max_pixels:,} pixels allowed; "
                         f"refused before decoding") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{label}: not an image file Pillow can read "
                         f"(expected PNG, JPEG, BMP, GIF, TIFF or WebP)") from None
    except Exception as e:  # a decoder's complaint about a malformed file (OSError, SyntaxError,
        # struct.error, ...): caused by the file's bytes, so reported as the file's fault
        raise ImageError(f"{label}: damaged or unsupported image ({type(e).__name__}: {e})") \
            from None


def _upright(image: Any) -> Any:
    """Apply the EXIF orientation tag (phone photos), if any; unreadable EXIF means none."""
    try:
        orientation = image.getexif().get(0x0112, 1)
        if orientation in (2, 3, 4, 5, 6, 7, 8):
            from PIL import ImageOps

            return ImageOps.exif_transpose(image)
    except Exception:  # unreadable EXIF is ignored: the pixels are what matter
        pass
    return image


def to_grayscale(image: Any) -> np.ndarray:
    """A PIL image or array -> (H, W) float32 gray levels on 0..255 (0 = black).

    Arrays: (H, W), (H, W, 1), gray+alpha (H, W, 2), RGB (H, W, 3) or RGBA (H, W, 4);
    uint8, bool (True = 255), uint16 (divided by 257), or other ints and floats already
    on 0..255. Transparent pixels become white, as if drawn on paper. PIL pictures
    larger than WORK_SIDE are first shrunk by a whole factor with a box filter.
    """
    if isinstance(image, np.ndarray):
        return _array_to_gray(image)
    if not hasattr(image, "mode") or not hasattr(image, "convert"):
        raise ImageError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    return _pil_to_gray(image)


def _pil_to_gray(image: Any) -> np.ndarray:
    Image = _pil()
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        factor = -(-max(image.size) // WORK_SIDE)
        if factor > 1:  # shrunk before anything else, as 8-bit pictures are
            image = (image.convert("I") if image.mode.startswith("I;16") else image).reduce(factor)
        return _wide_to_gray(np.asarray(image))
    transparent = image.mode in _ALPHA_MODES or "transparency" in image.info
    if transparent:
        image = image.convert("RGBA")
    elif image.mode in ("1", "P"):
        image = image.convert("L")
    elif image.mode not in ("L", "RGB"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    factor = -(-max(image.size) // WORK_SIDE)
    if factor > 1:
        image = image.reduce(factor)  # box filter: every source pixel counts equally
    if transparent:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    return np.asarray(image.convert("L"), dtype=np.float32)


def _wide_to_gray(a: np.ndarray) -> np.ndarray:
    """16-bit or 32-bit integer, or float, gray images from Pillow -> 0..255 float32."""
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise ImageError("image has NaN or infinite pixel values")
    top = float(a.max())
    if top > 255:  # 16-bit samples
        a = a / 257
    elif 0 < top <= 1:  # floats on 0..1
        a = a * 255
    return np.clip(a, 0, 255)


def _array_to_gray(a: np.ndarray) -> np.ndarray:
    if a.dtype == bool:
        a = a.astype(np.float32) * 255
    elif a.dtype.kind not in "uif":
        raise ImageError(f"expected pixel values as numbers, got dtype {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise ImageError(f"expected one image shaped (H, W), (H, W, 3) or (H, W, 4), "
                         f"got {a.shape}")
    if a.size == 0:
        raise ImageError(f"image is empty: shape {a.shape}")
    x = a.astype(np.float32) / (257 if a.dtype == np.uint16 else 1)
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 255:
        raise ImageError(f"pixel values must be on the 0..255 scale, got {x.min()}..{x.max()}")
    if x.ndim == 2:
        return x
    channels = x.shape[2]
    gray = x[:, :, :3] @ _LUMA if channels >= 3 else x[:, :, 0]
    if channels in (2, 4):  # flatten alpha onto white paper
        alpha = x[:, :, -1] / 255
        gray = gray * alpha + 255 * (1 - alpha)
    return gray.astype(np.float32)


def ink_bounding_box(ink: np.ndarray, threshold: float = INK_THRESHOLD) -> tuple[slice, slice]:
    """(rows, cols) slices of the smallest box holding every pixel of ink (H, W) above
    threshold * its peak. Fainter pixels outside the box are dropped as noise."""
    mask = ink > threshold * ink.max()
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        raise ImageError("blank image: no ink found")
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def fit_in_box(digit: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale (h, w) so its longer side is `box`, keeping the aspect ratio -> (h', w') float32.

    Shrinking averages the area each output pixel covers (a box filter): exactly how an
    ink drawing becomes gray levels at low resolution, MNIST's anti-aliasing. Growing a
    small picture interpolates linearly. Sizes round to whole pixels, at least 1.
    """
    Image = _pil()
    h, w = digit.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # Pillow wants (width, height)
    if size == (w, h):
        return digit.astype(np.float32)
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = Image.fromarray(np.ascontiguousarray(digit, dtype=np.float32)).resize(size, method)
    return np.clip(np.asarray(resized, dtype=np.float32), 0, 255)


def center_by_mass(digit: np.ndarray, side: int = SIDE, center: float = CENTER) -> np.ndarray:
    """Paste digit (h, w) into a (side, side) uint8 field, shifted by whole pixels so its
    center of mass lands at (center, center). Parts pushed past the edge are cut off."""
    h, w = digit.shape
    mass = float(digit.sum())
    row_center = float(digit.sum(axis=1) @ np.arange(h)) / mass
    col_center = float(digit.sum(axis=0) @ np.arange(w)) / mass
    top = int(np.floor(center - row_center + 0.5))
    left = int(np.floor(center - col_center + 0.5))
    field = np.zeros((side, side), np.float32)
    r0, r1 = max(top, 0), min(top + h, side)
    c0, c1 = max(left, 0), min(left + w, side)
    field[r0:r1, c0:c1] = digit[r0 - top : r1 - top, c0 - left : c1 - left]
    return np.clip(np.rint(field), 0, 255).astype(np.uint8)


MAX_SLANT = 1.0  # deskew corrects slants up to 45 degrees (|dx/dy| <= 1), no further
DESKEW_CHUNK = 4096  # images deskewed at once


def deskew(images: np.ndarray) -> np.ndarray:
    """Straighten slanted digits by image moments: (n, 28, 28) or (28, 28) -> the same shape.

    The classic MNIST deskew: each image is treated as a mass distribution with centre of
    mass (cy, cx), variance var_y of its rows and covariance cov_xy. A digit written with
    a slant has cov_xy != 0; the horizontal shear about the centre of mass

        output(i, j) = input(i, j + slant * (i - cy)),   slant = cov_xy / var_y

    makes the covariance of the output zero, so the digit stands upright; its centre of
    mass stays where it was. Sampling is bilinear (zero outside the image). The slant is
    clipped to +-MAX_SLANT so a near-horizontal stroke (var_y ~ 0) is not smeared out,
    and blank images come back unchanged. Vectorized over n; n = 0 is allowed.

    uint8 input gives uint8 output (rounded); anything else gives float32.
    """
    images = np.asarray(images)
    if images.shape[-2:] != (SIDE, SIDE) or images.ndim not in (2, 3):
        raise ValueError(f"expected images shaped (n, 28, 28) or (28, 28), got {images.shape}")
    flat = images.reshape(-1, SIDE, SIDE)
    out = np.empty(flat.shape, np.uint8 if images.dtype == np.uint8 else np.float32)
    for start in range(0, len(flat), DESKEW_CHUNK):  # bounded memory for any n
        out[start : start + DESKEW_CHUNK] = _deskew(flat[start : start + DESKEW_CHUNK])
    return out.reshape(images.shape)


def _deskew(images: np.ndarray) -> np.ndarray:
    """`deskew` of (k, 28, 28) images, all at once."""
    x = images.astype(np.float32)
    rows = np.arange(SIDE, dtype=np.float32)
    mass = x.sum(axis=(1, 2))  # (n,)
    safe = np.where(mass > 0, mass, 1)
    row_mass, col_mass = x.sum(axis=2), x.sum(axis=1)  # (n, 28) each
    cy, cx = row_mass @ rows / safe, col_mass @ rows / safe  # (n,) centres of mass
    dy = rows[None, :] - cy[:, None]  # (n, 28): row offsets from the centre
    dx = rows[None, :] - cx[:, None]
    var_y = np.einsum("nr,nr->n", row_mass, dy**2) / safe
    cov_xy = np.einsum("nr,nr->n", dy, (x @ dx[:, :, None])[:, :, 0]) / safe
    slant = np.where(var_y > 1e-3, cov_xy / np.maximum(var_y, 1e-3), 0)
    slant = np.clip(np.where(mass > 0, slant, 0), -MAX_SLANT, MAX_SLANT).astype(np.float32)
    sy = np.broadcast_to(rows[None, :, None], x.shape)
    sx = rows[None, None, :] + slant[:, None, None] * dy[:, :, None]  # (n, 28, 28)
    out = bilinear(x, np.ascontiguousarray(sy), sx.astype(np.float32))
    if images.dtype == np.uint8:
        out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out


def preprocess(image: Any) -> np.ndarray:
    """Turn a picture of one digit into what the network expects: (28, 28) uint8.

    image: a PIL image (any mode: RGB, RGBA, L, palette, 16-bit ...), a numpy array
    (see `to_grayscale`), or a path to an image file. Dark-on-light and light-on-dark
    both work. Returns pixels on 0..255 with ink high and background 0, the digit fit
    in 20x20 and centered by mass, as in MNIST. Raises ImageError for a blank picture.
    """
    if isinstance(image, (str, os.PathLike)):
        return preprocess_file(image)
    return preprocess_ink(find_writing(to_grayscale(image), digit_mask)[0])


def find_writing(gray: np.ndarray, choose: Callable[[np.ndarray], Any]
                 ) -> tuple[np.ndarray, tuple[int, int]]:
    """The ink of the writing in a picture, cropped to it: (ink (h, w) float32, background
    0 and ink high, other marks cleared; (top, left) of the crop in gray's pixels).

    gray: (H, W) 0..255. choose: which marks of an ink image are the writing
    (`writing.digit_mask` or `writing.line_mask`, giving a `writing.Choice` or None,
    which keeps all the ink). The picture is read (`ink.read_paper`) and the writing
    chosen on a copy shrunk by a whole factor to at most ANALYSIS_SIDE pixels. Then the
    chosen part's ink is made again from the picture's own pixels, at full resolution:
    every stroke there that touches a chosen one is kept whole, with its rim, so a thin
    stroke that was faint on the small copy is not cut off. Raises ImageError for a
    blank picture."""
    factor = -(-max(gray.shape) // ANALYSIS_SIDE)
    small = gray if factor == 1 else _pil().fromarray(
        np.ascontiguousarray(gray, np.float32)).reduce(factor)
    small = np.asarray(small, np.float32)
    paper = read_paper(small)
    ink = paper.ink(small)
    choice = choose(ink)
    keep = choice.keep if choice is not None else ink > 0
    rows, cols = np.flatnonzero(keep.any(axis=1)), np.flatnonzero(keep.any(axis=0))
    if not len(rows):
        raise ImageError("blank image: no ink found")
    if factor == 1 or choice is None:
        box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
        if factor == 1:
            return np.where(keep[box], ink[box], 0).astype(np.float32), (box[0].start,
                                                                         box[1].start)
    margin = 2 * factor  # the box at full resolution, a little wider: thin tails
    top, left = max(int(rows[0]) * factor - margin, 0), max(int(cols[0]) * factor - margin, 0)
    bottom = min((int(rows[-1]) + 1) * factor + margin, gray.shape[0])
    right = min((int(cols[-1]) + 1) * factor + margin, gray.shape[1])
    full = (slice(top, bottom), slice(left, right))
    region = paper.ink(gray[full], box=full, scale=factor)
    if choice is None:
        return region, (top, left)
    return _same_choice(region, choice, full, factor), (top, left)


def _same_choice(region: np.ndarray, choice: Any, full: tuple[slice, slice],
                 factor: int) -> np.ndarray:
    """The region's ink (h, w) with what `choice` (made on the copy shrunk `factor`
    times) left out cleared, judged again at full resolution."""
    from scipy import ndimage

    h, w = choice.keep.shape
    rows = np.clip(np.arange(full[0].start, full[0].stop) // factor, 0, h - 1)
    cols = np.clip(np.arange(full[1].start, full[1].stop) // factor, 0, w - 1)
    grid = np.ix_(rows, cols)  # each full-resolution pixel's pixel on the small copy
    cleared = choice.cleared[grid]
    mask = (region > INK_THRESHOLD * float(region.max())) & ~cleared
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    chosen = np.unique(labels[mask & choice.strokes[grid]])
    kept = np.isin(labels, chosen[chosen > 0])
    rim = ndimage.binary_dilation(kept, structure=np.ones((5, 5), bool)) & (labels == 0)
    return np.where(kept | (rim & ~cleared), region, 0).astype(np.float32)


def preprocess_ink(ink: np.ndarray) -> np.ndarray:
    """The steps of `preprocess` after `ink_image`: ink (H, W), background 0, ink high ->
    (28, 28) uint8, cropped to the ink, fit in 20x20 and centered by mass. Reading a
    number (segment.py) runs each digit's ink through here, so every digit is made exactly
    as a single-digit picture is. Raises ImageError if there is no ink."""
    if not ink.size or float(ink.max()) <= 0:
        raise ImageError("blank image: no ink found")
    digit = ink[ink_bounding_box(ink)]
    redrawn = even_strokes(digit)  # None: the strokes are as wide as MNIST's already
    if redrawn is not None:
        digit = redrawn[ink_bounding_box(redrawn)]
    digit = fit_in_box(digit)
    return center_by_mass(digit * (255 / digit.max()))  # thin strokes fade when shrunk


def preprocess_file(path: str | os.PathLike) -> np.ndarray:
    """`load_image` then `preprocess`: (28, 28) uint8; ImageError messages name the file."""
    image = load_image(path)
    try:
        return preprocess(image)
    except ImageError as e:
        raise ImageError(f"{path}: {e}") from None


def list_images(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files to classify: each path as given, and each directory's image files (by
    EXTENSIONS, not recursive, sorted by name). Raises ImageError for a directory that
    holds none or cannot be listed; other paths, including files we may not read or
    whose directory we may not enter, are returned as given, for load_image to judge
    one by one (the CLI calls this once per argument, so one bad path stops no other)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if not _is_dir(path):
            found.append(path)
            continue
        try:
            files = sorted(p for p in path.iterdir()
                           if p.suffix.lower() in EXTENSIONS and not _is_dir(p))
        except OSError as e:
            raise ImageError(f"{path}: cannot list the directory ({e.strerror or e})") from None
        if not files:
            raise ImageError(f"{path}: directory holds no image files "
                             f"({', '.join(EXTENSIONS)})")
        found.extend(files)
    return found


def _is_dir(path: Path) -> bool:
    """Whether path is a directory; False when we may not even look (load_image says why)."""
    try:
        return path.is_dir()
    except OSError:
        return False


# A text chunk every PNG digitnet writes carries, so that a later run knows the file for
# its own output (and replaces only such files: see show_input.py).
DIGITNET_MARK = b"tEXtSoftware\x00digitnet"


def save_png(pixels: np.ndarray, path: str | Path, scale: int = 1) -> None:
    """Write a (h, w) uint8 grayscale or (h, w, 3) RGB picture as a PNG, enlarged `scale`
    times, atomically (a symbolic link at `path` is refused, never followed). The file
    carries DIGITNET_MARK.

    Raises OutputError if the file cannot be written.
    """
    from PIL import Image, PngImagePlugin

    picture = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    if scale != 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "digitnet")
    atomic_write(path, lambda f: picture.save(f, format="PNG", pnginfo=info))
