"""The pictures `benchmarks/robustness.py` reports on: digits made other ways, and non-digits.

These are REPORTED sets. Nothing here may be used to train a model or to choose anything
about one (a threshold, a preset, an epoch): the figures they give are only honest while
they stay unseen. The model's own development sets live elsewhere (the first half of
scikit-learn's digits, other fonts, other generators).

Every generator takes an explicit `np.random.Generator` and returns pictures as a user
would make them (PIL images or (H, W) uint8 arrays, dark ink on light paper unless said),
to go through `digitnet.preprocess` like any user's picture:

    sklearn_digits      scikit-learn's load_digits (43 writers, not MNIST's), second half by
                        index, each 8x8 (0..16) upsampled smoothly to dark ink on white
    mnist_pictures      MNIST test digits saved as users save them: "offcentre" (small on a
                        large canvas), "scanned" (grey paper, noise, blur, JPEG), "rgba"
                        (a canvas export: transparent background, dark strokes)
    digit_strokes       pen strokes for a digit, for drawing on the web page: polyline
                        templates with per-sample jitter, slant and scale
    letters             letters rendered from the Liberation and Noto fonts, leaving out
                        those commonly read as digits (O, I, l, S, Z, y, B, g, ...)
    scribbles           random pen scribbles: Lissajous figures and smoothed random walks
    shapes              stars, triangles, hatched boxes, grids and arrows
    fashion             Fashion-MNIST test images (Debian's dataset-fashion-mnist)
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype/liberation"), Path("/usr/share/fonts/truetype/noto"))
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# Letters that people (and any digit reader) take for digits: 0 O o D Q, 1 I l i j J T t,
# 2 Z z, 4 or 9 y Y, 5 S s, 6 G b, 8 B, 9 g q. Declining them is not a fair demand, so
# they are left out.
CONFUSABLE = set("OoDQIilJjTtZzyYSsGbBgq")
LETTERS = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  if c not in CONFUSABLE)
MNIST_STYLES = ("offcentre", "scanned", "rgba")
SHAPES = ("star", "triangle", "hatched_box", "grid", "arrow")
Stroke = list[tuple[float, float]]  # points (x, y) as fractions of the pad, 0..1


# ---- digits --------------------------------------------------------------------------


def sklearn_digits(limit: int | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """The second half (by index) of scikit-learn's load_digits as pictures.

    Returns (pictures, labels): each picture a (48, 48) uint8 array, dark ink on white,
    the 8x8 sample (0..16) upsampled bicubically to 32x32 inside an 8-pixel white margin.
    The first half is the recognizer's development set; this half is only reported.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    start = len(bunch.target) // 2
    images, labels = bunch.images[start:], bunch.target[start:].astype(np.int64)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    pictures = []
    for image in images:
        ink = Image.fromarray((image * (255 / 16)).astype(np.float32))
        smooth = np.clip(np.asarray(ink.resize((32, 32), Image.Resampling.BICUBIC)), 0, 255)
        picture = np.full((48, 48), 255, np.uint8)
        picture[8:40, 8:40] = 255 - smooth.astype(np.uint8)
        pictures.append(picture)
    return pictures, labels


def mnist_picture(digit: np.ndarray, style: str, rng: np.random.Generator) -> Image.Image:
    """One MNIST digit (28, 28) uint8 (ink bright) saved as a user would; see MNIST_STYLES."""
    if style == "offcentre":
        size = int(rng.integers(28 * 2, 28 * 5))
        ink = _enlarge(digit, size)
        canvas = int(rng.integers(size * 2, size * 4))
        top, left = rng.integers(0, canvas - size, 2)
        paper = np.zeros((canvas, canvas), np.uint8)
        paper[top:top + size, left:left + size] = ink
        return Image.fromarray(255 - paper)
    if style == "scanned":
        size = int(rng.integers(28 * 3, 28 * 6))
        margin = int(rng.integers(size // 4, size))
        ink = np.zeros((size + 2 * margin,) * 2, np.float32)
        ink[margin:margin + size, margin:margin + size] = _enlarge(digit, size) / 255
        paper, pen = rng.uniform(170, 235), rng.uniform(10, 80)
        gray = paper - (paper - pen) * ink + rng.normal(0, rng.uniform(2, 9), ink.shape)
        picture = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))
        picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.5)))
        jpeg = io.BytesIO()
        picture.convert("RGB").save(jpeg, "JPEG", quality=int(rng.integers(50, 90)))
        return Image.open(io.BytesIO(jpeg.getvalue()))
    if style == "rgba":
        size = int(rng.integers(150, 260))
        alpha = np.zeros((280, 280), np.uint8)
        top, left = rng.integers(0, 280 - size + 1, 2)
        alpha[top:top + size, left:left + size] = _enlarge(digit, size)
        color = rng.integers(0, 60, 3)  # a dark pen: black, dark blue, dark grey ...
        rgba = np.zeros((280, 280, 4), np.uint8)
        rgba[:, :, :3] = color
        rgba[:, :, 3] = alpha
        return Image.fromarray(rgba, "RGBA")
    raise ValueError(f"unknown style {style!r}; expected one of {MNIST_STYLES}")


def _enlarge(digit: np.ndarray, size: int) -> np.ndarray:
    """(28, 28) -> (size, size) uint8, bicubic (smooth, as a drawing at higher resolution)."""
    big = Image.fromarray(digit.astype(np.float32)).resize((size, size),
                                                           Image.Resampling.BICUBIC)
    return np.clip(np.asarray(big), 0, 255).astype(np.uint8)


def mnist_pictures(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                   per_style: int) -> list[tuple[str, Image.Image, int]]:
    """`per_style` random MNIST test digits in each style -> [(style, picture, label)]."""
    out = []
    for style in MNIST_STYLES:
        for i in rng.choice(len(images), per_style, replace=False):
            out.append((style, mnist_picture(images[i], style, rng), int(labels[i])))
    return out


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float,
         n: int = 24) -> Stroke:
    """Points on an elliptical arc; angles in degrees, 0 = right, 90 = down (screen y)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


def _line(points: Stroke, n: int = 8) -> Stroke:
    """A polyline through `points`, with n points on each segment."""
    out: Stroke = []
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        out += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, n)[:-1]]
    return [*out, points[-1]]


def _templates(digit: int, variant: int) -> list[Stroke]:
    """The strokes of one way of writing `digit`, in a unit box (x right, y down)."""
    if digit == 0:
        return [_arc(0.5, 0.5, 0.32, 0.45, -100, 265, 40)]
    if digit == 1:
        if variant % 2:
            return [_line([(0.32, 0.22), (0.55, 0.05), (0.55, 0.95)])]
        return [_line([(0.5, 0.05), (0.5, 0.95)])]
    if digit == 2:
        return [_arc(0.5, 0.3, 0.3, 0.25, 190, 380, 16)
                + _line([(0.78, 0.42), (0.18, 0.95), (0.85, 0.95)])]
    if digit == 3:
        return [_arc(0.48, 0.28, 0.3, 0.23, 200, 450, 20)
                + _arc(0.48, 0.72, 0.34, 0.23, 270, 520, 20)]
    if digit == 4:
        if variant % 2:
            return [_line([(0.55, 0.05), (0.15, 0.65), (0.88, 0.65)]),
                    _line([(0.65, 0.3), (0.65, 0.95)])]
        return [_line([(0.25, 0.05), (0.18, 0.55), (0.85, 0.55)]),
                _line([(0.68, 0.08), (0.68, 0.95)])]
    if digit == 5:
        return [_line([(0.78, 0.05), (0.3, 0.05), (0.25, 0.45)])
                + _arc(0.48, 0.68, 0.33, 0.27, 225, 500, 24)]
    if digit == 6:
        return [_arc(0.7, 0.55, 0.5, 0.5, 250, 180, 12)
                + _arc(0.5, 0.72, 0.3, 0.23, 180, 540, 28)]
    if digit == 7:
        if variant % 2:
            return [_line([(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)]),
                    _line([(0.35, 0.5), (0.78, 0.5)])]
        return [_line([(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)])]
    if digit == 8:
        return [_arc(0.5, 0.27, 0.25, 0.22, 90, 450, 24)
                + _arc(0.5, 0.72, 0.3, 0.23, -90, 270, 28)]
    if digit == 9:
        return [_arc(0.45, 0.3, 0.28, 0.25, 0, 360, 28)
                + _line([(0.73, 0.3), (0.7, 0.95)])]
    raise ValueError(f"digit must be 0..9, got {digit!r}")


def digit_strokes(digit: int, rng: np.random.Generator) -> list[Stroke]:
    """Strokes of one handwritten-looking `digit` on the pad, as fractions 0..1.

    A template (one of two variants for 1, 4 and 7) is bent by a smooth random
    displacement, slanted (shear up to 0.35), scaled to a random width and height
    (different proportions) and placed at a random spot on the pad.
    """
    strokes = _templates(digit, int(rng.integers(2)))
    phase, amplitude = rng.uniform(0, 2 * np.pi, 4), rng.uniform(0, 0.05, 2)
    shear = rng.uniform(-0.35, 0.35)
    height = rng.uniform(0.45, 0.8)
    width = height * rng.uniform(0.45, 0.8)
    x0 = rng.uniform(0.08, 0.92 - width - abs(shear) * height)
    x0 += max(-shear, 0) * height
    y0 = rng.uniform(0.08, 0.92 - height)
    out = []
    for stroke in strokes:
        points = []
        for x, y in stroke:
            x += amplitude[0] * math.sin(3 * y + phase[0]) + rng.normal(0, 0.006)
            y += amplitude[1] * math.sin(3 * x + phase[1]) + rng.normal(0, 0.006)
            points.append((x0 + width * x + shear * height * (1 - y), y0 + height * y))
        out.append(points)
    return out


# ---- non-digits ----------------------------------------------------------------------


def fonts() -> list[Path]:
    """The Liberation and Noto TrueType fonts on this machine, by name."""
    return sorted(p for d in FONT_DIRS if d.is_dir() for p in d.glob("*.ttf"))


def letters(rng: np.random.Generator, count: int) -> list[Image.Image]:
    """`count` single letters (not CONFUSABLE ones), each in a random Liberation or Noto
    font and size, slightly rotated, black on white."""
    faces = fonts()
    if not faces:
        raise FileNotFoundError(f"no fonts in {', '.join(map(str, FONT_DIRS))}")
    pictures = []
    for _ in range(count):
        letter = LETTERS[int(rng.integers(len(LETTERS)))]
        font = ImageFont.truetype(str(faces[int(rng.integers(len(faces)))]),
                                  int(rng.integers(40, 120)))
        canvas = Image.new("L", (200, 200), 255)
        ImageDraw.Draw(canvas).text((100, 100), letter, fill=0, font=font, anchor="mm")
        pictures.append(canvas.rotate(float(rng.uniform(-12, 12)), fillcolor=255,
                                      resample=Image.Resampling.BILINEAR))
    return pictures


def _draw(strokes: list[Stroke], width: int, size: int = 200) -> Image.Image:
    """Strokes (points as fractions) drawn with a round pen, black on white."""
    canvas = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(canvas)
    for stroke in strokes:
        points = [(x * size, y * size) for x, y in stroke]
        draw.line(points, fill=0, width=width, joint="curve")
        for x, y in (points[0], points[-1]):  # round ends
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=0)
    return canvas


def scribbles(rng: np.random.Generator, count: int) -> list[Image.Image]:
    """`count` random pen scribbles: half Lissajous figures x = sin(a t + p), y = sin(b t)
    with coprime a != b >= 2 (never an ellipse, a 0, or a figure eight, an 8), half
    random walks smoothed into wandering curves. Pen widths 3..16 pixels on 200x200."""
    pictures = []
    ratios = [(2, 3), (3, 4), (2, 5), (3, 5), (4, 5), (3, 2), (5, 3)]
    for i in range(count):
        if i % 2 == 0:
            a, b = ratios[int(rng.integers(len(ratios)))]
            t = np.linspace(0, 2 * np.pi, 400)
            x = np.sin(a * t + rng.uniform(0, np.pi))
            y = np.sin(b * t)
        else:
            steps = rng.normal(0, 1, (600, 2))
            kernel = np.hanning(60)
            walk = np.cumsum(np.stack([np.convolve(steps[:, k], kernel, "same")
                                       for k in range(2)], axis=1), axis=0)
            x, y = walk[:, 0], walk[:, 1]
        x = (x - x.min()) / max(np.ptp(x), 1e-9)
        y = (y - y.min()) / max(np.ptp(y), 1e-9)
        w, h = rng.uniform(0.4, 0.8, 2)
        stroke = list(zip(0.1 + w * x, 0.1 + h * y, strict=True))
        pictures.append(_draw([stroke], int(rng.integers(3, 17))))
    return pictures


def _star(rng: np.random.Generator) -> list[Stroke]:
    points = int(rng.integers(5, 8))
    turn = rng.uniform(0, 2 * np.pi)
    inner = rng.uniform(0.35, 0.5)
    corners = [(0.5 + (0.4 if k % 2 == 0 else 0.4 * inner) * math.cos(turn + k * np.pi / points),
                0.5 + (0.4 if k % 2 == 0 else 0.4 * inner) * math.sin(turn + k * np.pi / points))
               for k in range(2 * points + 1)]
    return [_line(corners, 4)]


def _triangle(rng: np.random.Generator) -> list[Stroke]:
    corners = [(rng.uniform(0.1, 0.4), rng.uniform(0.6, 0.9)),
               (rng.uniform(0.6, 0.9), rng.uniform(0.6, 0.9)),
               (rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.3))]
    return [_line([*corners, corners[0]], 6)]


def _hatched_box(rng: np.random.Generator) -> list[Stroke]:
    x0, y0 = rng.uniform(0.1, 0.25, 2)
    x1, y1 = rng.uniform(0.75, 0.9, 2)
    strokes = [_line([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)], 6)]
    gaps = int(rng.integers(3, 7))
    for k in range(1, 2 * gaps):  # diagonals at 45 degrees, clipped to the box
        c = x0 + (x1 - x0 + y1 - y0) * k / (2 * gaps)  # x + y = c + y0
        start = (min(c, x1), y0 + (c - min(c, x1)))
        end_x = max(x0, c - (y1 - y0))
        strokes.append(_line([start, (end_x, y0 + (c - end_x))], 4))
    return strokes


def _grid(rng: np.random.Generator) -> list[Stroke]:
    lines = int(rng.integers(3, 6))
    at = np.linspace(0.15, 0.85, lines)
    return ([_line([(x, 0.12), (x, 0.88)], 4) for x in at]
            + [_line([(0.12, y), (0.88, y)], 4) for y in at])


def _arrow(rng: np.random.Generator) -> list[Stroke]:
    angle = rng.uniform(0, 2 * np.pi)
    dx, dy = 0.38 * math.cos(angle), 0.38 * math.sin(angle)
    tail, tip = (0.5 - dx, 0.5 - dy), (0.5 + dx, 0.5 + dy)
    barbs = [(tip[0] - 0.4 * (dx * math.cos(s) - dy * math.sin(s)),
              tip[1] - 0.4 * (dx * math.sin(s) + dy * math.cos(s))) for s in (0.5, -0.5)]
    return [_line([tail, tip], 8), _line([barbs[0], tip, barbs[1]], 6)]


_SHAPE_MAKERS: dict[str, Callable[[np.random.Generator], list[Stroke]]] = {
    "star": _star, "triangle": _triangle, "hatched_box": _hatched_box, "grid": _grid,
    "arrow": _arrow,
}


def shapes(rng: np.random.Generator, count: int) -> list[tuple[str, Image.Image]]:
    """`count` shapes, cycling through SHAPES, drawn with pens 3..14 pixels wide on
    200x200 -> [(shape name, picture)]."""
    out = []
    for i in range(count):
        name = SHAPES[i % len(SHAPES)]
        out.append((name, _draw(_SHAPE_MAKERS[name](rng), int(rng.integers(3, 15)))))
    return out


def fashion(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """`count` random Fashion-MNIST test images, (28, 28) uint8, light on dark as stored."""
    from digitnet import load_mnist

    data = load_mnist(FASHION_DIR)
    return list(data.x_test[rng.choice(len(data.x_test), count, replace=False)])
