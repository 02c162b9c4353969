"""Data augmentation: random affine transforms and elastic distortions of digit images.

Both are one resampling of each image: output pixel (i, j) takes the value of the input
at a source point (sy, sx), read by bilinear interpolation (zero outside the image).

    affine:  (sy, sx) = A (i - c, j - c) + c + t   with c = 13.5, the image centre;
             A combines a rotation, a scale and a shear; t is a translation.
    elastic: (sy, sx) += alpha * (G * U)(i, j)     (Simard, Steinkraus & Platt, 2003)
             U is uniform noise in [-1, 1] per pixel and direction, G * U its convolution
             with a normalised Gaussian of width sigma (zero outside the image), so
             neighbouring pixels move together, like a rubber sheet.

Before them, optionally, strokes some writers add that MNIST's rarely have:

    styles:    with probability p, a 1 gets the flag and/or the foot of the continental
               1, a 7 the bar across its stem, a 9 a curled tail (`writer_styles`); this
               needs the labels

Then changes in how the digit was written and scanned, each optional and per image:

    aspect:    the affine map also stretches x against y by a factor exp(U(-a, a))
    pen:       thicker or thinner strokes, by U(-pen / 3, pen) pixels: a blend towards a
               grey dilation (3x3 maximum) or erosion (3x3 minimum), repeated for
               changes beyond one pixel
    binarize:  with probability p, strokes thresholded to pure ink / no ink
    blur:      a Gaussian blur of random width in [0, blur] pixels
    refit:     the digit re-normalized the way `images.preprocess` does it: the box around
               its ink (above a quarter of the peak) scaled back to the size it had before
               these steps (20 pixels on its longer side for nearly every MNIST digit), its
               centre of mass put at (14, 14), the peak stretched to 255. Without this, a
               thickened, stretched or rotated digit would have a size and placement that
               `preprocess` never produces.

Everything is vectorized over the batch: the Gaussian convolution is two small matrix
products, and the interpolation gathers four neighbours for all pixels at once. All
randomness comes from the `np.random.Generator` passed in. Images are (n, 28, 28) on the
0..255 scale; outputs are float32 on the same scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import BOX, CENTER, INK_THRESHOLD, SIDE

CENTRE = (SIDE - 1) / 2  # the middle of the image, for rotations


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random transforms; zeros everywhere means no augmentation."""

    rotation: float = 0.0  # degrees: angle uniform in [-rotation, rotation]
    scale: float = 0.0  # relative: factor uniform in [1 - scale, 1 + scale]
    shear: float = 0.0  # degrees: shear angle uniform in [-shear, shear]
    translate: float = 0.0  # pixels: shift uniform in [-translate, translate] on each axis
    elastic_alpha: float = 0.0  # pixels: strength of the elastic field (0 = none)
    elastic_sigma: float = 5.0  # pixels: smoothness of the elastic field
    aspect: float = 0.0  # log of the largest width/height stretch: factor exp(U(-a, a))
    pen: float = 0.0  # pixels: stroke width change uniform in [-pen / 3, pen] (0 = none)
    binarize: float = 0.0  # probability of thresholding an image's strokes to 0 / 255
    blur: float = 0.0  # pixels: Gaussian blur width uniform in [0, blur] (0 = none)
    refit: bool = False  # re-normalize to a 20x20 box, centred by mass, as preprocess does
    styles: float = 0.0  # probability that a 1, 7 or 9 is redrawn as other writers draw it

    def __post_init__(self) -> None:
        for name in ("rotation", "scale", "shear", "translate", "elastic_alpha", "aspect",
                     "pen", "blur"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.scale >= 1:
            raise ValueError(f"scale must be < 1, got {self.scale!r}")
        if self.elastic_sigma <= 0:
            raise ValueError(f"elastic_sigma must be > 0, got {self.elastic_sigma!r}")
        for name in ("binarize", "styles"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")

    @property
    def geometric(self) -> bool:
        """True when the affine + elastic resampling has anything to do."""
        return any((self.rotation, self.scale, self.shear, self.translate, self.elastic_alpha,
                    self.aspect))

    @property
    def active(self) -> bool:
        return self.geometric or any((self.pen, self.binarize, self.blur, self.refit,
                                      self.styles))


def gaussian_matrix(sigma: float, size: int = SIDE) -> np.ndarray:
    """(size, size) matrix K such that K @ f convolves the columns of f with a Gaussian.

    The kernel is normalised over all integer offsets, and values outside the image
    count as zero, as in scipy.ndimage.gaussian_filter(mode="constant").
    """
    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
    radius = np.arange(-4 * int(np.ceil(sigma)) - size, 4 * int(np.ceil(sigma)) + size + 1)
    norm = np.exp(-(radius**2) / (2 * sigma**2)).sum()
    return np.exp(-(offsets**2) / (2 * sigma**2)) / norm


def elastic_field(rng: np.random.Generator, n: int, alpha: float, sigma: float) -> np.ndarray:
    """Random smooth displacements (n, 2, 28, 28) in pixels: (dy, dx) for every pixel."""
    noise = rng.random((n * 2 * SIDE, SIDE), dtype=np.float32)
    noise *= 2
    noise -= 1  # uniform in [-1, 1)
    k = gaussian_matrix(sigma).astype(np.float32)
    smooth = noise @ k.T  # along rows: one matrix product for the whole batch
    smooth = smooth.reshape(n * 2, SIDE, SIDE).transpose(1, 0, 2).reshape(SIDE, -1)
    smooth = (k * np.float32(alpha)) @ smooth  # along columns
    return smooth.reshape(SIDE, n * 2, SIDE).transpose(1, 0, 2).reshape(n, 2, SIDE, SIDE)


def affine_matrices(rng: np.random.Generator, n: int, aug: Augmentation) -> np.ndarray:
    """Random (n, 2, 3) maps from output (y, x) about the centre to source (y, x)."""
    angle = np.deg2rad(rng.uniform(-aug.rotation, aug.rotation, n))
    shear = np.deg2rad(rng.uniform(-aug.shear, aug.shear, n))
    zoom = rng.uniform(1 - aug.scale, 1 + aug.scale, n)
    shift = rng.uniform(-aug.translate, aug.translate, (n, 2))
    cos, sin, tan = np.cos(angle), np.sin(angle), np.tan(shear)
    # source = (rotation @ shear) / zoom applied to the output coordinates, then shifted
    m = np.empty((n, 2, 3))
    m[:, 0, 0], m[:, 0, 1] = cos / zoom, (cos * tan - sin) / zoom
    m[:, 1, 0], m[:, 1, 1] = sin / zoom, (sin * tan + cos) / zoom
    m[:, :, 2] = shift
    if aug.aspect:  # the output is the source stretched by `stretch` along x
        stretch = np.exp(rng.uniform(-aug.aspect, aug.aspect, n))
        m[:, :, 1] /= stretch[:, None]
    return m


def bilinear(images: np.ndarray, sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """Sample images (n, 28, 28) at source points sy, sx (n, 28, 28); zero outside.

    Returns float32 (n, 28, 28).
    """
    n, wide = len(images), SIDE + 2
    padded = np.zeros((n, wide, wide + 1), np.float32)  # zeros all round the image
    padded[:, 1:-1, 1:-2] = images
    # pairs[..., x] holds (value at x, value at x + 1), so one gather reads both
    pairs = np.stack([padded[:, :, :-1], padded[:, :, 1:]], axis=-1).view(np.complex64)
    flat = pairs.reshape(-1)
    # coordinates in the padded image, clipped into it: anything outside reads the zero ring
    y = np.clip(sy + 1, 0, wide - 1.001, dtype=np.float32)
    x = np.clip(sx + 1, 0, wide - 1.001, dtype=np.float32)
    y0, x0 = np.floor(y), np.floor(x)
    y -= y0  # now the weights of the lower and right neighbours
    x -= x0
    index = np.int32 if n * wide * wide < 2**31 else np.int64
    base = y0.astype(index)
    base *= wide
    base += x0.astype(index)
    base += (np.arange(n, dtype=index) * (wide * wide))[:, None, None]
    top, bottom = np.take(flat, base), np.take(flat, base + wide)
    top = top.real + (top.imag - top.real) * x
    bottom = bottom.real + (bottom.imag - bottom.real) * x
    bottom -= top
    bottom *= y
    top += bottom
    return top


def _neighbourhood(images: np.ndarray, reduce: np.ufunc) -> np.ndarray:
    """The 3x3 maximum (reduce=np.maximum) or minimum of each pixel of (n, 28, 28);
    pixels outside the image count as 0."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    rows = reduce(reduce(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])  # (n, 28, 30)
    return reduce(reduce(rows[:, :, :-2], rows[:, :, 1:-1]), rows[:, :, 2:])


def pen_width(images: np.ndarray, change: np.ndarray) -> np.ndarray:
    """Thicken (change > 0) or thin (change < 0) strokes of (n, 28, 28) by |change| pixels.

    change (n,): whole pixels are whole 3x3 dilations (erosions); the fraction left over
    blends towards one more. change 0 returns the image unchanged. Returns float32.
    """
    out = np.asarray(images, np.float32).copy()
    steps = np.abs(change)
    for step in range(int(np.ceil(steps.max(initial=0)))):
        for thicken, reduce in ((True, np.maximum), (False, np.minimum)):
            chosen = (steps > step) & ((change > 0) == thicken)  # images still changing
            if chosen.any():
                part = out[chosen]
                weight = np.minimum(steps[chosen] - step, 1).astype(np.float32)[:, None, None]
                part += weight * (_neighbourhood(part, reduce) - part)
                out[chosen] = part
    return out


def binarize(images: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Ink at or above thresholds (n,) times each image's peak becomes 255, the rest 0
    (a blank image stays blank)."""
    images = np.asarray(images, np.float32)
    peak = images.max(axis=(1, 2), keepdims=True)
    ink = (images >= thresholds[:, None, None] * peak) & (peak > 0)
    return np.where(ink, 255, 0).astype(np.float32)


def blur(images: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """Gaussian blur of each image (n, 28, 28) with its own width sigmas (n,), in pixels
    (0 = unchanged); zero outside the image. Returns float32."""
    images = np.asarray(images, np.float32)
    offsets = np.arange(SIDE, dtype=np.float32)
    d2 = (offsets[:, None] - offsets[None, :]) ** 2  # (28, 28)
    s2 = 2 * np.maximum(sigmas, 1e-3).astype(np.float32) ** 2
    k = np.exp(-d2[None] / s2[:, None, None])  # (n, 28, 28), one kernel matrix per image
    reach = np.arange(-SIDE, SIDE + 1, dtype=np.float32) ** 2
    k /= np.exp(-reach[None] / s2[:, None]).sum(axis=1)[:, None, None]  # weights sum to 1
    return k @ images @ k.transpose(0, 2, 1)


def draw_strokes(images: np.ndarray, start: np.ndarray, end: np.ndarray,
                 width: np.ndarray) -> np.ndarray:
    """Add one straight stroke to each image (k, 28, 28): from start (k, 2) to end (k, 2),
    both (y, x) in pixels, `width` (k,) pixels wide, as bright as the image's peak, its
    edge ramping down over one pixel. Returns float32 (k, 28, 28)."""
    images = np.asarray(images, np.float32)
    pos = np.arange(SIDE, dtype=np.float32)
    p = np.stack(np.meshgrid(pos, pos, indexing="ij"), axis=-1)[None]  # (1, 28, 28, 2)
    a = start.astype(np.float32)[:, None, None]  # (k, 1, 1, 2)
    ab = end.astype(np.float32)[:, None, None] - a
    # the nearest point of the segment to each pixel: a + t (b - a), t clipped to [0, 1]
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-6), 0, 1)
    distance = np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)  # (k, 28, 28)
    ink = np.clip(width.astype(np.float32)[:, None, None] / 2 + 0.5 - distance, 0, 1)
    return np.maximum(images, ink * images.max(axis=(1, 2), keepdims=True))


def _ink_rows(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For images (k, 28, 28): the first and last inked rows (k,) and each row's centre
    of ink (k, 28) (NaN in rows without ink), ink being above INK_THRESHOLD of the peak."""
    r0, r1, _, _ = ink_extent(images)
    ink = np.where(images > INK_THRESHOLD * images.max(axis=(1, 2), keepdims=True), images, 0)
    mass = ink.sum(axis=2)  # (k, 28)
    with np.errstate(invalid="ignore", divide="ignore"):
        centres = ink @ np.arange(SIDE, dtype=np.float32) / mass
    return r0, r1, np.where(mass > 0, centres, np.nan)


def _stroke_width(images: np.ndarray) -> np.ndarray:
    """A typical stroke width (k,) of images (k, 28, 28): the median, over inked rows, of
    the pixels above half the peak, within 1.5..4 pixels."""
    runs = (images > 0.5 * images.max(axis=(1, 2), keepdims=True)).sum(axis=2).astype(float)
    runs[runs == 0] = np.nan
    return np.clip(np.nan_to_num(np.nanmedian(runs, axis=1), nan=2.0), 1.5, 4.0)


def _row_centre(centres: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The ink's centre column (k,) in rows (k,) of centres (k, 28), or the nearest inked
    row's when that row has none."""
    k = np.arange(len(rows))
    inked = ~np.isnan(centres)
    nearest = np.abs(np.arange(SIDE)[None] - rows[:, None]) + np.where(inked, 0, SIDE)
    return centres[k, nearest.argmin(axis=1)]


def writer_styles(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                  rate: float) -> np.ndarray:
    """Redraw a share `rate` of the 1s, 7s and 9s among images (n, 28, 28) the way many
    writers outside MNIST (most of Europe among them) write them. Returns float32 (n, 28, 28).

    A chosen 1 gets a flag (a stroke from its top down to the left, 25 to 65 degrees
    below the horizontal, 0.25 to 0.5 of its height long) and, or instead, a foot (a
    bar across its bottom, 0.3 to 0.7 of its height wide); a chosen 7 gets a bar across
    its stem a little below the middle; a chosen 9 a tail that curls back to the left
    from the foot of its stem, as in a handwritten g. New strokes are as wide as the digit's own
    (`_stroke_width`) and as bright as its peak; the later steps distort them with the
    rest of the digit.
    """
    out = np.asarray(images, np.float32).copy()
    labels = np.asarray(labels)  # the non-digits' label (-1) is never chosen
    for digit, draw in ((1, _continental_one), (7, _crossed_seven), (9, _hooked_nine)):
        chosen = np.flatnonzero((labels == digit) & (rng.random(len(labels)) < rate))
        if len(chosen):
            out[chosen] = draw(out[chosen], rng)
    return out


def _continental_one(ones: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A flag, a foot or both on each 1 of ones (k, 28, 28) (see `writer_styles`)."""
    k = len(ones)
    r0, r1, centres = _ink_rows(ones)
    height = np.maximum(r1 - r0, 1).astype(np.float32)
    width = _stroke_width(ones)
    top = np.stack([r0, _row_centre(centres, r0)], axis=1).astype(np.float32)  # (k, 2)
    bottom = np.stack([r1, _row_centre(centres, r1)], axis=1).astype(np.float32)
    flag = rng.random(k) < 0.85
    foot = ~flag | (rng.random(k) < 0.4)
    angle = np.deg2rad(rng.uniform(25, 65, k))
    length = rng.uniform(0.25, 0.5, k) * height
    tip = top + length[:, None] * np.stack([np.sin(angle), -np.cos(angle)], axis=1)
    out = ones.copy()
    out[flag] = draw_strokes(out[flag], top[flag], tip[flag], width[flag])
    start, end = _bar(bottom, height, rng, reach=(0.15, 0.35), tilt=4)
    out[foot] = draw_strokes(out[foot], start[foot], end[foot], width[foot])
    return out


def _bar(centre: np.ndarray, height: np.ndarray, rng: np.random.Generator,
         reach: tuple[float, float], tilt: float) -> tuple[np.ndarray, np.ndarray]:
    """The ends (k, 2) and (k, 2) of a nearly level bar through centre (k, 2) (y, x): each
    side reaches U(reach) times height (k,) from it, tilted up to `tilt` degrees."""
    left, right = rng.uniform(*reach, (2, len(centre))) * height
    rise = np.tan(np.deg2rad(rng.uniform(-tilt, tilt, len(centre)))) * (left + right) / 2
    return (centre + np.stack([rise, -left], axis=1),
            centre + np.stack([-rise, right], axis=1))


def _crossed_seven(sevens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bar across the stem of each 7 of sevens (k, 28, 28) (see `writer_styles`)."""
    k = len(sevens)
    r0, r1, centres = _ink_rows(sevens)
    height = np.maximum(r1 - r0, 1).astype(np.float32)
    row = np.rint(r0 + rng.uniform(0.45, 0.6, k) * height).astype(np.int64)
    middle = np.stack([row, _row_centre(centres, row)], axis=1).astype(np.float32)
    start, end = _bar(middle, height, rng, reach=(0.12, 0.3), tilt=6)
    return draw_strokes(sevens, start, end, _stroke_width(sevens))


def _hooked_nine(nines: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A tail curling left from the foot of each 9's stem (see `writer_styles`): two
    strokes, one down and to the left, then one up and to the left."""
    k = len(nines)
    r0, r1, centres = _ink_rows(nines)
    height = np.maximum(r1 - r0, 1).astype(np.float32)
    width = _stroke_width(nines)
    foot = np.stack([r1, _row_centre(centres, r1)], axis=1).astype(np.float32)
    down, up = np.deg2rad(rng.uniform(-20, 10, k)), np.deg2rad(rng.uniform(30, 70, k))
    first, second = rng.uniform(0.08, 0.18, (2, k)) * height
    bend = foot + first[:, None] * np.stack([-np.sin(down), -np.cos(down)], axis=1)
    tip = bend + second[:, None] * np.stack([-np.sin(up), -np.cos(up)], axis=1)
    out = draw_strokes(nines, foot, bend, width)
    return draw_strokes(out, bend, tip, width)


def ink_extent(images: np.ndarray, threshold: float = INK_THRESHOLD) -> tuple[np.ndarray, ...]:
    """First row, last row, first column, last column (each (n,)) of the box around the
    pixels of images (n, 28, 28) above `threshold` of each image's peak. A blank image
    gives an empty box (first > last)."""
    peak = images.max(axis=(1, 2))
    inked = images > threshold * np.maximum(peak, 1e-6)[:, None, None]
    rows, cols = inked.any(axis=2), inked.any(axis=1)  # (n, 28) each
    index = np.arange(SIDE)
    return (np.where(rows, index, SIDE).min(axis=1), np.where(rows, index, -1).max(axis=1),
            np.where(cols, index, SIDE).min(axis=1), np.where(cols, index, -1).max(axis=1))


def box_size(images: np.ndarray) -> np.ndarray:
    """The longer side (n,), in pixels, of the box around each image's ink (0 if blank)."""
    r0, r1, c0, c1 = ink_extent(np.asarray(images, np.float32).reshape(-1, SIDE, SIDE))
    return np.maximum(np.maximum(r1 - r0, c1 - c0) + 1, 0)


def refit(images: np.ndarray, box: float | np.ndarray = BOX) -> np.ndarray:
    """Re-normalize digits (n, 28, 28) as `images.preprocess` would: float32 (n, 28, 28).

    The box around pixels above INK_THRESHOLD (0.25) of each image's peak is scaled so
    its longer side is `box` pixels (a number, or one per image (n,)), keeping the
    aspect ratio; fainter pixels outside it are dropped, the centre of mass is moved to
    (14, 14) (to within half a pixel when no scaling is needed, about a pixel
    otherwise), and the peak stretched to 255. Blank images stay
    blank. An image already that size is only shifted by whole pixels, so it is not
    blurred; otherwise sampling is bilinear (preprocess anti-aliases when shrinking).
    """
    x = np.asarray(images, np.float32).reshape(-1, SIDE, SIDE)
    r0, r1, c0, c1 = ink_extent(x)
    index = np.arange(SIDE)
    in_box = ((index[None, :, None] >= r0[:, None, None])
              & (index[None, :, None] <= r1[:, None, None])
              & (index[None, None, :] >= c0[:, None, None])
              & (index[None, None, :] <= c1[:, None, None]))
    x = np.where(in_box, x, 0)
    extent = np.maximum(r1 - r0, c1 - c0) + 1  # (n,) pixels
    zoom = np.where(extent > 0, np.asarray(box) / np.maximum(extent, 1), 1).astype(np.float32)
    mass = np.maximum(x.sum(axis=(1, 2)), 1e-6)
    pos = index.astype(np.float32)
    cy = x.sum(axis=2) @ pos / mass  # (n,) centres of mass
    cx = x.sum(axis=1) @ pos / mass
    # read the output's centre from the source's centre of mass, rounded to whole pixels
    # as preprocess shifts (so at zoom 1 every sample falls on a pixel)
    cy, cx = CENTER + np.rint(cy - CENTER), CENTER + np.rint(cx - CENTER)
    grid = pos - CENTER
    sy = cy[:, None, None] + grid[None, :, None] / zoom[:, None, None]  # (n, 28, 1)
    sx = cx[:, None, None] + grid[None, None, :] / zoom[:, None, None]  # (n, 1, 28)
    out = bilinear(x, np.broadcast_to(sy, x.shape), np.broadcast_to(sx, x.shape))
    top = out.max(axis=(1, 2), keepdims=True)
    return np.where(top > 0, out * (255 / np.maximum(top, 1e-6)), 0).astype(np.float32)


def augment(images: np.ndarray, rng: np.random.Generator, aug: Augmentation,
            labels: np.ndarray | None = None, chunk: int = 4096) -> np.ndarray:
    """One random distortion of each image (n, 28, 28) -> float32 (n, 28, 28): writer
    styles (which need the images' labels (n,); without them, none are drawn), affine +
    elastic, then pen width, binarization, blur and refit, as `aug` says (in that order).

    With nothing active the images come back unchanged (as float32).
    """
    images = np.asarray(images).reshape(-1, SIDE, SIDE)
    if not aug.active:
        return images.astype(np.float32)
    out = np.empty(images.shape, np.float32)
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk]
        if aug.styles and labels is not None:
            part = writer_styles(part, labels[start : start + chunk], rng, aug.styles)
        size = box_size(part) if aug.refit else None  # the size preprocess gave each digit
        part = _resample(part, rng, aug) if aug.geometric else part.astype(np.float32)
        if aug.pen:  # thinning goes a third as far: a thin stroke would break up
            part = pen_width(part, rng.uniform(-aug.pen / 3, aug.pen, len(part)))
        if aug.binarize:
            chosen = rng.random(len(part)) < aug.binarize
            part[chosen] = binarize(part[chosen], rng.uniform(0.25, 0.6, int(chosen.sum())))
        if aug.blur:
            part = blur(part, rng.uniform(0, aug.blur, len(part)))
        if aug.refit:
            part = refit(part, size)
        out[start : start + chunk] = part
    return out


def _resample(images: np.ndarray, rng: np.random.Generator, aug: Augmentation) -> np.ndarray:
    """One random affine + elastic distortion of each image (k, 28, 28) -> float32."""
    gy, gx = np.meshgrid(np.arange(SIDE, dtype=np.float32) - CENTRE,
                         np.arange(SIDE, dtype=np.float32) - CENTRE, indexing="ij")
    m = affine_matrices(rng, len(images), aug).astype(np.float32)[:, :, :, None, None]
    sy = m[:, 0, 0] * gy + m[:, 0, 1] * gx + (CENTRE + m[:, 0, 2])  # (k, 28, 28)
    sx = m[:, 1, 0] * gy + m[:, 1, 1] * gx + (CENTRE + m[:, 1, 2])
    if aug.elastic_alpha:
        field = elastic_field(rng, len(images), aug.elastic_alpha, aug.elastic_sigma)
        sy += field[:, 0]
        sx += field[:, 1]
    return bilinear(images, sy, sx)


def sample_grid(images: np.ndarray, rng: np.random.Generator, aug: Augmentation,
                copies: int = 9, gap: int = 2, labels: np.ndarray | None = None) -> np.ndarray:
    """A picture for judging augmentation settings: (rows, cols) uint8, ink high.

    Row r shows images[r] (k, 28, 28) as it is, then `copies` random distortions of it,
    separated by `gap` blank pixels. labels (k,), if given, let writer styles be drawn.
    """
    k = len(images)
    repeated = None if labels is None else np.repeat(labels, copies)
    tiles = augment(np.repeat(images, copies, axis=0), rng, aug,
                    labels=repeated).reshape(k, copies, SIDE, SIDE)
    tiles = np.concatenate([np.asarray(images, np.float32)[:, None], tiles], axis=1)
    step = SIDE + gap
    grid = np.zeros((k * step + gap, (copies + 1) * step + gap), np.float32)
    for r in range(k):
        for c in range(copies + 1):
            grid[gap + r * step : gap + r * step + SIDE, gap + c * step : gap + c * step + SIDE] = (
                tiles[r, c])
    return np.clip(np.rint(grid), 0, 255).astype(np.uint8)
