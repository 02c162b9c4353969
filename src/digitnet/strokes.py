"""Make a digit's strokes as wide as MNIST's: for hairline pens and markers alike.

MNIST's writers used one kind of pen, and the network learned digits whose strokes are
about a seventh as wide as the digit is tall. A digit drawn with a hairline pen (1% of
its height) or a marker (a quarter) looks like nothing it has seen. So the width of the
strokes is measured, and when it lies outside what MNIST's digits have, the strokes are
redrawn along their centre line with a pen of MNIST's width:

    work size     the digit's ink (cropped to its box) is scaled so its longer side is
                  WORK pixels, four times MNIST's 20-pixel box, the scale at which MNIST's
                  widths were measured
    width         the strokes' mask (ink above half its peak) has an area and a centre
                  line (its skeleton, `skimage.morphology.skeletonize`); area / length
                  of the centre line is the mean stroke width (`stroke_width`)
    keep          a width within KEEP of the digit's longer side is left as it is: from
                  MNIST's 5th percentile (0.09, measured by `mnist_widths`) to well past
                  its thickest 1% (0.26), as thick as scans of other writers' digits come
                  (scikit-learn's 8x8 digits enlarged measure 0.16 to 0.40, 5th to 99th
                  percentile); redrawn, such blocky digits read worse
    redraw        otherwise the strokes are drawn again along the centre line, as wide as
                  they were but brought within TARGET (a hairline becomes 0.12 of the
                  digit's size, a marker 0.16): every pixel within half that width of the
                  centre line is ink, with an anti-aliased edge one pixel wide, from the
                  Euclidean distance to the centre line (SciPy's distance_transform_edt),
                  unless the strokes lie so close that so wide a pen would merge them: then
                  the pen is thinner (CROWD, `redraw`). A digit's strokes stay apart (99%
                  of MNIST's keep 0.97 of their ink at 0.12); a scribble's tangles would
                  become a blob that reads as an 8, so they stay lines

Low-resolution scans (an 8x8 digit enlarged) keep their blocky strokes, as they are
already in MNIST's range. The result is still at WORK size; `images.fit_in_box` then
shrinks it to 20x20 the way MNIST's digits were, averaging each pixel's area.
"""

from __future__ import annotations

import numpy as np

from .constants import BOX, INK_THRESHOLD

WORK = 4 * BOX  # pixels on the digit's longer side while its strokes are measured
KEEP = (0.09, 0.40)  # stroke widths (fraction of the longer side) left as they are
TARGET = (0.12, 0.16)  # ... others are redrawn as wide as they were, but within these
MASK = 0.5  # a stroke is the ink above this fraction of its peak
CROWD = 0.95  # a redrawn stroke keeps this share of its ink apart from the others (`redraw`)


def to_work_size(digit: np.ndarray) -> np.ndarray:
    """Ink (h, w) cropped to its box -> float32 ink with its longer side WORK pixels,
    shrunk by area averaging or enlarged bilinearly."""
    from PIL import Image

    h, w = digit.shape
    scale = WORK / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    image = Image.fromarray(np.ascontiguousarray(digit, dtype=np.float32))
    return np.asarray(image.resize(size, method), np.float32)


def stroke_width(mask: np.ndarray) -> float:
    """Mean width in pixels of the strokes in mask (h, w) bool: area / centre line length.
    0 for an empty mask."""
    from skimage.morphology import skeletonize

    length = int(skeletonize(mask).sum())
    return float(mask.sum()) / length if length else 0.0


def redraw(mask: np.ndarray, width: float, crowd: float = 0.0) -> np.ndarray:
    """The strokes of mask (h, w) bool drawn again along their centre line with a round
    pen `width` pixels wide -> (h, w) float32 ink 0..255, edges anti-aliased over a pixel.
    The canvas grows by the pen's radius on every side, so no stroke is cut off.

    crowd: the least share of its own ink a stroke may keep, `coverage`; where strokes
    lie so close together that a pen this wide would merge them (a tangle, a scribble),
    the pen is made thinner, a fifth at a time, until they keep it."""
    from scipy import ndimage
    from skimage.morphology import skeletonize

    pad = int(np.ceil(width / 2)) + 1
    skeleton = skeletonize(np.pad(mask, pad))
    distance = ndimage.distance_transform_edt(~skeleton)
    while width > 1.0 and coverage(skeleton, distance, width) < crowd:
        width *= 0.8
    return (np.clip(width / 2 + 0.5 - distance, 0, 1) * 255).astype(np.float32)


def coverage(skeleton: np.ndarray, distance: np.ndarray, width: float) -> float:
    """The ink (h, w) a round pen `width` wide lays along a centre line (`skeleton`, bool,
    with `distance` to it), as a share of what its strokes would cover apart: length x
    width, plus the two round ends. About 1 for a digit; under it where strokes crowd."""
    length = int(skeleton.sum())
    if not length:
        return 1.0
    return float((distance <= width / 2).sum()) / (length * width + np.pi * width**2 / 4)


def even_strokes(digit: np.ndarray) -> np.ndarray | None:
    """Ink (h, w) cropped to its box -> its strokes redrawn at MNIST's width (float32 ink at
    WORK size, see `redraw`), or None when their width is already within KEEP."""
    work = to_work_size(digit)
    peak = float(work.max())
    if peak <= 0:
        return None
    mask = work > MASK * peak
    width = stroke_width(mask) / WORK
    if KEEP[0] <= width <= KEEP[1] or width == 0:
        return None
    return redraw(mask, float(np.clip(width, *TARGET)) * WORK, CROWD)


def mnist_widths(images: np.ndarray) -> np.ndarray:
    """Stroke widths (n,) of MNIST-style digits (n, 28, 28), as fractions of each digit's
    longer side, measured exactly as `even_strokes` measures a picture's."""
    out = np.empty(len(images))
    for k, image in enumerate(images):
        ink = image.astype(np.float32)
        rows = np.flatnonzero(ink.max(axis=1) > INK_THRESHOLD * ink.max())
        cols = np.flatnonzero(ink.max(axis=0) > INK_THRESHOLD * ink.max())
        work = to_work_size(ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
        out[k] = stroke_width(work > MASK * work.max()) / WORK
    return out
