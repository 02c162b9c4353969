"""Data augmentation: random affine transforms and elastic distortions of digit images.

Both are one resampling of each image: output pixel (i, j) takes the value of the input
at a source point (sy, sx), read by bilinear interpolation (zero outside the image).

    affine:  (sy, sx) = A (i - c, j - c) + c + t   with c = 13.5, the image centre;
             A combines a rotation, a scale and a shear; t is a translation.
    elastic: (sy, sx) += alpha * (G * U)(i, j)     (Simard, Steinkraus & Platt, 2003)
             U is uniform noise in [-1, 1] per pixel and direction, G * U its convolution
             with a normalised Gaussian of width sigma (zero outside the image), so
             neighbouring pixels move together, like a rubber sheet.

Everything is vectorized over the batch: the Gaussian convolution is two small matrix
products, and the interpolation gathers four neighbours for all pixels at once. All
randomness comes from the `np.random.Generator` passed in. Images are (n, 28, 28) on the
0..255 scale; outputs are float32 on the same scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import SIDE

CENTRE = (SIDE - 1) / 2


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random transforms; zeros everywhere means no augmentation."""

    rotation: float = 0.0  # degrees: angle uniform in [-rotation, rotation]
    scale: float = 0.0  # relative: factor uniform in [1 - scale, 1 + scale]
    shear: float = 0.0  # degrees: shear angle uniform in [-shear, shear]
    translate: float = 0.0  # pixels: shift uniform in [-translate, translate] on each axis
    elastic_alpha: float = 0.0  # pixels: strength of the elastic field (0 = none)
    elastic_sigma: float = 5.0  # pixels: smoothness of the elastic field

    def __post_init__(self) -> None:
        for name in ("rotation", "scale", "shear", "translate", "elastic_alpha"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.scale >= 1:
            raise ValueError(f"scale must be < 1, got {self.scale!r}")
        if self.elastic_sigma <= 0:
            raise ValueError(f"elastic_sigma must be > 0, got {self.elastic_sigma!r}")

    @property
    def active(self) -> bool:
        return any((self.rotation, self.scale, self.shear, self.translate, self.elastic_alpha))


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


def augment(images: np.ndarray, rng: np.random.Generator, aug: Augmentation,
            chunk: int = 4096) -> np.ndarray:
    """One random affine + elastic distortion of each image (n, 28, 28) -> float32 (n, 28, 28).

    With nothing active the images come back unchanged (as float32).
    """
    images = np.asarray(images).reshape(-1, SIDE, SIDE)
    if not aug.active:
        return images.astype(np.float32)
    out = np.empty(images.shape, np.float32)
    gy, gx = np.meshgrid(np.arange(SIDE, dtype=np.float32) - CENTRE,
                         np.arange(SIDE, dtype=np.float32) - CENTRE, indexing="ij")
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk]
        m = affine_matrices(rng, len(part), aug).astype(np.float32)[:, :, :, None, None]
        sy = m[:, 0, 0] * gy + m[:, 0, 1] * gx + (CENTRE + m[:, 0, 2])  # (k, 28, 28)
        sx = m[:, 1, 0] * gy + m[:, 1, 1] * gx + (CENTRE + m[:, 1, 2])
        if aug.elastic_alpha:
            field = elastic_field(rng, len(part), aug.elastic_alpha, aug.elastic_sigma)
            sy += field[:, 0]
            sx += field[:, 1]
        out[start : start + chunk] = bilinear(part, sy, sx)
    return out


def sample_grid(images: np.ndarray, rng: np.random.Generator, aug: Augmentation,
                copies: int = 9, gap: int = 2) -> np.ndarray:
    """A picture for judging augmentation settings: (rows, cols) uint8, ink high.

    Row r shows images[r] (k, 28, 28) as it is, then `copies` random distortions of it,
    separated by `gap` blank pixels.
    """
    k = len(images)
    tiles = augment(np.repeat(images, copies, axis=0), rng, aug).reshape(k, copies, SIDE, SIDE)
    tiles = np.concatenate([np.asarray(images, np.float32)[:, None], tiles], axis=1)
    step = SIDE + gap
    grid = np.zeros((k * step + gap, (copies + 1) * step + gap), np.float32)
    for r in range(k):
        for c in range(copies + 1):
            grid[gap + r * step : gap + r * step + SIDE, gap + c * step : gap + c * step + SIDE] = (
                tiles[r, c])
    return np.clip(np.rint(grid), 0, 255).astype(np.uint8)
