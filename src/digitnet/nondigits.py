"""Pictures that are not digits, to teach the network to doubt ("outlier exposure").

A network trained only on digits gives every picture a confident digit. Trained also on
non-digits whose target is the uniform distribution over the ten classes (Hendrycks,
Mazeika & Dietterich, 2019), its largest softmax probability drops on things unlike any
digit, so a threshold on it can decline them. This module draws such pictures, seeded,
with NumPy and Pillow only, and passes each through `images.preprocess` exactly like a
user's picture, so the network sees them the way it will see a real upload.

Each kind is one function `draw(rng, canvas)` in the table KINDS:

    scribble      a long, tangled random pen path: smoothly turning steps
    box           a square or oblong outline, sometimes with a cross or a bar inside
    hatched       a box filled with parallel or crossed hatching lines
    circle_cross  a circle or ellipse with a + or x through it
    grid          a # of two to four lines each way
    polygon       a closed outline of three to six random corners, maybe with diagonals
    dots          three to twelve filled dots
    curls         a row of three to six loops, like a cursive "eeee"
    spiral        an Archimedean spiral of one and a half to three turns
    star          a five- or seven-pointed star drawn as one closed zigzag
    zigzag        a horizontal zigzag or wave of three to six turns
    arrow         a shaft with a head (sometimes two), at any angle
    heart         the heart curve
    face          a round face: two eyes and a smile or a frown
    blob          a filled, lumpy polygon: ink over an area rather than a stroke
    target        two to four circles around one centre
    letters       one letter, sometimes two or three, from a TrueType font (LETTERS below)

Letters that are written like digits are left out, as are shapes that are digits: a
plain circle or oval (0), a single line (1). LETTERS excludes O o D Q (0), I l i j J (1),
Z z (2), S s (5), b G (6), T (7), B (8), g q (9) and y Y (4 or 9 in many hands).

Training uses TRAIN_KINDS and the DejaVu fonts; VALIDATION_KINDS (spirals, stars,
zigzags, letters in the other font families) are kept out of training to measure how
rejection carries over to kinds of non-digit the network has never seen, and also hold
scribbles, a training kind, drawn from a fresh seed. Fonts are
looked up under FONT_DIR; where none is installed, Pillow's built-in font is used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ImageError
from .images import ink_bounding_box, preprocess, preprocess_ink
from .network import NOT_A_DIGIT

CANVAS = 96  # pictures are drawn on a white CANVAS x CANVAS square, in black
FONT_DIR = Path("/usr/share/fonts/truetype")
TRAIN_FONT_FAMILIES = ("dejavu",)
VALIDATION_FONT_FAMILIES = ("liberation", "noto", "droid")
LETTERS = "ACEFHKLMNPRUVWXacdefhkmnprtuvwx"

Draw = Callable[[np.random.Generator, Any], None]


def _pen(rng: np.random.Generator) -> int:
    """A pen width in canvas pixels: fine to heavy."""
    return int(rng.integers(2, 9))


def _scribble(rng: np.random.Generator, draw: Any) -> None:
    steps = int(rng.integers(25, 60))  # long and tangled: short paths can look like a 1 or 7
    heading, turn = rng.uniform(0, 2 * math.pi), rng.uniform(0.6, 1.5)
    point = rng.uniform(25, 71, 2)
    points = [tuple(point)]
    for _ in range(steps):
        heading += rng.normal(0, turn)
        point = np.clip(point + rng.uniform(4, 10) * np.array([math.cos(heading),
                                                              math.sin(heading)]), 4, 91)
        points.append(tuple(point))
    draw.line(points, fill=0, width=_pen(rng), joint="curve")


def _box_corners(rng: np.random.Generator) -> tuple[float, float, float, float]:
    width, height = rng.uniform(30, 80), rng.uniform(30, 80)
    left, top = rng.uniform(4, 92 - width), rng.uniform(4, 92 - height)
    return left, top, left + width, top + height


def _box(rng: np.random.Generator, draw: Any) -> None:
    x0, y0, x1, y1 = _box_corners(rng)
    pen = _pen(rng)
    draw.rectangle((x0, y0, x1, y1), outline=0, width=pen)
    inside = rng.integers(3)  # nothing, a cross, or a bar
    if inside == 1:
        draw.line((x0, y0, x1, y1), fill=0, width=pen)
        draw.line((x0, y1, x1, y0), fill=0, width=pen)
    elif inside == 2:
        draw.line((x0, (y0 + y1) / 2, x1, (y0 + y1) / 2), fill=0, width=pen)


def _clip(point: np.ndarray, direction: np.ndarray,
          box: tuple[float, float, float, float]) -> tuple[float, ...] | None:
    """The part inside box (x0, y0, x1, y1) of the line point + t * direction, as
    (xa, ya, xb, yb), or None if it misses the box (Liang-Barsky clipping)."""
    low, high = -1e9, 1e9
    for axis, (lo, hi) in enumerate(((box[0], box[2]), (box[1], box[3]))):
        if abs(direction[axis]) < 1e-9:
            if not lo <= point[axis] <= hi:
                return None
            continue
        t0, t1 = sorted(((lo - point[axis]) / direction[axis],
                         (hi - point[axis]) / direction[axis]))
        low, high = max(low, t0), min(high, t1)
    if low >= high:
        return None
    return (*(point + low * direction), *(point + high * direction))


def _hatched(rng: np.random.Generator, draw: Any) -> None:
    box = _box_corners(rng)
    pen = max(2, _pen(rng) // 2)
    if rng.random() < 0.7:
        draw.rectangle(box, outline=0, width=pen)
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    gap = rng.uniform(6, 14)
    angle = rng.uniform(0, math.pi)
    angles = [angle] if rng.random() < 0.5 else [angle, angle + math.pi / 2]
    for a in angles:
        direction = np.array([math.cos(a), math.sin(a)])
        normal = np.array([-direction[1], direction[0]])
        for offset in np.arange(-60, 60, gap):
            segment = _clip(centre + offset * normal, direction, box)
            if segment is not None:
                draw.line(segment, fill=0, width=pen)


def _circle_cross(rng: np.random.Generator, draw: Any) -> None:
    x0, y0, x1, y1 = _box_corners(rng)
    pen = _pen(rng)
    draw.ellipse((x0, y0, x1, y1), outline=0, width=pen)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if rng.random() < 0.5:  # a plus
        draw.line((x0, cy, x1, cy), fill=0, width=pen)
        draw.line((cx, y0, cx, y1), fill=0, width=pen)
    else:  # an x, corner to corner of the circle's square
        dx, dy = (x1 - x0) * 0.35, (y1 - y0) * 0.35
        draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=0, width=pen)
        draw.line((cx - dx, cy + dy, cx + dx, cy - dy), fill=0, width=pen)


def _grid(rng: np.random.Generator, draw: Any) -> None:
    x0, y0, x1, y1 = _box_corners(rng)
    pen = _pen(rng)
    for t in np.linspace(0.15, 0.85, int(rng.integers(2, 5))):
        draw.line((x0, y0 + t * (y1 - y0), x1, y0 + t * (y1 - y0)), fill=0, width=pen)
    for t in np.linspace(0.15, 0.85, int(rng.integers(2, 5))):
        draw.line((x0 + t * (x1 - x0), y0, x0 + t * (x1 - x0), y1), fill=0, width=pen)


def _spiral(rng: np.random.Generator, draw: Any) -> None:
    turns = rng.uniform(1.5, 3)
    angle = np.linspace(0, 2 * math.pi * turns, 200) * rng.choice([-1, 1])
    radius = np.linspace(2, rng.uniform(25, 44), 200)
    xs, ys = 48 + radius * np.cos(angle), 48 + radius * np.sin(angle) * rng.uniform(0.7, 1)
    draw.line(list(zip(xs, ys, strict=True)), fill=0, width=_pen(rng), joint="curve")


def _star(rng: np.random.Generator, draw: Any) -> None:
    points = int(rng.choice([5, 7]))
    outer, inner = rng.uniform(28, 44), rng.uniform(0.3, 0.5)
    angle = np.linspace(0, 2 * math.pi, 2 * points + 1) + rng.uniform(0, 2 * math.pi)
    radius = np.where(np.arange(2 * points + 1) % 2 == 0, outer, outer * inner)
    xs, ys = 48 + radius * np.cos(angle), 48 + radius * np.sin(angle)
    draw.line(list(zip(xs, ys, strict=True)), fill=0, width=_pen(rng), joint="curve")


def _zigzag(rng: np.random.Generator, draw: Any) -> None:
    turns = int(rng.integers(3, 7))
    xs = np.linspace(8, 88, 2 * turns + 1 if rng.random() < 0.5 else 120)
    height = rng.uniform(8, 25)
    if len(xs) > 2 * turns + 1:  # a smooth wave
        ys = 48 + height * np.sin(np.linspace(0, turns * math.pi, len(xs)))
    else:  # sharp corners
        ys = 48 + height * np.where(np.arange(len(xs)) % 2 == 0, -1, 1)
    draw.line(list(zip(xs, ys, strict=True)), fill=0, width=_pen(rng), joint="curve")


def _polygon(rng: np.random.Generator, draw: Any) -> None:
    corners = int(rng.integers(3, 7))
    # corners spread around the centre, so it is never a sliver that reads as a 1
    angle = (np.arange(corners) + rng.uniform(-0.3, 0.3, corners)) * 2 * math.pi / corners
    radius = rng.uniform(28, 44, corners)
    xs, ys = 48 + radius * np.cos(angle), 48 + radius * np.sin(angle)
    points = list(zip(xs, ys, strict=True))
    pen = _pen(rng)
    draw.line([*points, points[0]], fill=0, width=pen, joint="curve")
    if rng.random() < 0.5:  # a diagonal or two inside
        for i in range(int(rng.integers(1, 3))):
            draw.line((points[i], points[(i + 2) % corners]), fill=0, width=pen)


def _dots(rng: np.random.Generator, draw: Any) -> None:
    for _ in range(int(rng.integers(3, 13))):
        x, y, r = rng.uniform(10, 86), rng.uniform(10, 86), rng.uniform(3, 8)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=0)


def _curls(rng: np.random.Generator, draw: Any) -> None:
    loops = int(rng.integers(3, 7))
    t = np.linspace(0, 2 * math.pi * loops, 60 * loops)
    size, tilt = rng.uniform(8, 16), rng.uniform(-0.4, 0.4)
    xs = 10 + t / t[-1] * 76 + size * 0.8 * np.cos(t + math.pi / 2)
    ys = 48 - size * np.sin(t + math.pi / 2) + tilt * (t / t[-1] - 0.5) * 40
    draw.line(list(zip(xs, ys, strict=True)), fill=0, width=_pen(rng), joint="curve")


def _arrow(rng: np.random.Generator, draw: Any) -> None:
    """A shaft with a two-stroke head, at any angle, sometimes headed at both ends."""
    angle, length = rng.uniform(0, 2 * math.pi), rng.uniform(50, 84)
    direction = np.array([math.cos(angle), math.sin(angle)])
    tail = np.array([48.0, 48.0]) - direction * length / 2
    tip = tail + direction * length
    pen, barb, spread = _pen(rng), rng.uniform(0.25, 0.45) * length, rng.uniform(0.4, 0.8)
    draw.line((*tail, *tip), fill=0, width=pen)
    ends = [(tip, direction), (tail, -direction)] if rng.random() < 0.25 else [(tip, direction)]
    for point, d in ends:
        for side in (-1, 1):
            a = math.atan2(-d[1], -d[0]) + side * spread
            draw.line((*point, point[0] + barb * math.cos(a), point[1] + barb * math.sin(a)),
                      fill=0, width=pen)


def _heart(rng: np.random.Generator, draw: Any) -> None:
    t = np.linspace(0, 2 * math.pi, 120)
    size = rng.uniform(2.2, 2.9)  # the classic heart curve, 16 sin^3 t and 13 cos t - ...
    xs = 48 + size * 16 * np.sin(t) ** 3 * rng.uniform(0.8, 1.1)
    ys = 46 - size * (13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    draw.line(list(zip(xs, ys, strict=True)), fill=0, width=_pen(rng), joint="curve")


def _face(rng: np.random.Generator, draw: Any) -> None:
    """A round face with two eyes and a smile or frown (more than a 0: marks inside)."""
    r, pen = rng.uniform(30, 44), _pen(rng)
    draw.ellipse((48 - r, 48 - r, 48 + r, 48 + r), outline=0, width=pen)
    eye = max(2.0, r * 0.12)
    for x in (48 - r * 0.38, 48 + r * 0.38):
        draw.ellipse((x - eye, 48 - r * 0.35 - eye, x + eye, 48 - r * 0.35 + eye), fill=0)
    mouth = (48 - r * 0.5, 48 + r * 0.05, 48 + r * 0.5, 48 + r * 0.6)
    if rng.random() < 0.7:
        draw.arc(mouth, 20, 160, fill=0, width=pen)
    else:
        draw.arc((mouth[0], mouth[1] + r * 0.3, mouth[2], mouth[3] + r * 0.3), 200, 340,
                 fill=0, width=pen)


def _blob(rng: np.random.Generator, draw: Any) -> None:
    """A filled, lumpy shape: an inked-over area, not a stroke."""
    corners = int(rng.integers(5, 10))
    angle = np.sort(rng.uniform(0, 2 * math.pi, corners))
    radius = rng.uniform(15, 42, corners)
    points = list(zip(48 + radius * np.cos(angle), 48 + radius * np.sin(angle), strict=True))
    draw.polygon(points, fill=0)


def _target(rng: np.random.Generator, draw: Any) -> None:
    """Two to four circles around one centre, sometimes with a filled middle."""
    pen, rings = _pen(rng), int(rng.integers(2, 5))
    for r in np.linspace(rng.uniform(40, 44), rng.uniform(8, 14), rings):
        draw.ellipse((48 - r, 48 - r, 48 + r, 48 + r), outline=0, width=pen)
    if rng.random() < 0.4:
        draw.ellipse((44, 44, 52, 52), fill=0)


@cache
def fonts(families: tuple[str, ...]) -> tuple[Path, ...]:
    """The TrueType files of these font families under FONT_DIR, sorted (may be empty)."""
    found = []
    for family in families:
        found.extend(sorted((FONT_DIR / family).glob("*.ttf")))
    return tuple(p for p in found if "Math" not in p.name)  # DejaVuMath has odd metrics


def _letter(families: tuple[str, ...]) -> Draw:
    def draw_letter(rng: np.random.Generator, draw: Any) -> None:
        from PIL import ImageFont

        files = fonts(families)
        size = int(rng.integers(50, 80))
        if files:
            font = ImageFont.truetype(str(files[rng.integers(len(files))]), size)
        else:
            font = ImageFont.load_default(size)
        count = 1 if size > 65 or rng.random() < 0.6 else int(rng.integers(2, 4))
        if count > 1:
            font = font.font_variant(size=size // count + 10)
        text = "".join(LETTERS[i] for i in rng.integers(len(LETTERS), size=count))
        draw.text((48, 48), text, fill=0, font=font, anchor="mm")
    return draw_letter


KINDS: dict[str, Draw] = {
    "scribble": _scribble, "box": _box, "hatched": _hatched, "circle_cross": _circle_cross,
    "grid": _grid, "polygon": _polygon, "dots": _dots, "curls": _curls,
    "arrow": _arrow, "heart": _heart, "face": _face, "blob": _blob, "target": _target,
    "spiral": _spiral, "star": _star, "zigzag": _zigzag,
    "letters": _letter(TRAIN_FONT_FAMILIES),
    "letters_other_fonts": _letter(VALIDATION_FONT_FAMILIES),
}
# kind -> share of the training set
TRAIN_KINDS = {"letters": 0.24, "scribble": 0.24, "box": 0.05, "hatched": 0.05,
               "circle_cross": 0.05, "grid": 0.05, "polygon": 0.05, "dots": 0.04, "curls": 0.04,
               "arrow": 0.05, "heart": 0.04, "face": 0.04, "blob": 0.02, "target": 0.04}
VALIDATION_KINDS = ("spiral", "star", "zigzag", "letters_other_fonts", "scribble")


def picture(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One picture of `kind`: (CANVAS, CANVAS) uint8, black ink on white, like a scan."""
    from PIL import Image, ImageDraw

    if kind not in KINDS:
        raise ValueError(f"unknown kind of non-digit {kind!r}; choose from {', '.join(KINDS)}")
    canvas = Image.new("L", (CANVAS, CANVAS), 255)
    KINDS[kind](rng, ImageDraw.Draw(canvas))
    return np.asarray(canvas)


def generate(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n pictures of `kind`, each run through `preprocess`: (n, 28, 28) uint8, ink high.

    A picture that preprocess finds blank (a stroke drawn off the canvas) is drawn again.
    """
    out = np.empty((n, 28, 28), np.uint8)
    i = 0
    while i < n:
        try:
            out[i] = preprocess(picture(kind, rng))
        except ImageError:
            continue
        i += 1
    return out


def training_set(n: int, rng: np.random.Generator) -> np.ndarray:
    """n preprocessed non-digits (n, 28, 28) uint8, mixed as TRAIN_KINDS says, shuffled."""
    kinds = list(TRAIN_KINDS)
    counts = np.floor(np.array([TRAIN_KINDS[k] for k in kinds]) * n).astype(int)
    counts[0] += n - counts.sum()
    images = np.concatenate([generate(k, c, rng) for k, c in zip(kinds, counts, strict=True)])
    return images[rng.permutation(n)]


# ---------------------------------------------------------------------------------------
# Pieces of digits: what a wrong cut between touching digits leaves

FRAGMENT_CUT = (0.3, 0.7)  # a cut falls between these fractions of a digit's ink width
FRAGMENT_WIDE = 0.6  # only digits at least this wide for their height are cut
FRAGMENT_THIN = 0.25  # a piece narrower than this for its height is dropped: it is a 1


def _ink(digit: np.ndarray) -> np.ndarray:
    """A digit (28, 28), ink high, cropped to its ink's bounding box (float32)."""
    rows, cols = ink_bounding_box(digit)
    return digit[rows, cols].astype(np.float32)


def fragment(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One piece of ink as a wrong cut through a number leaves it, (h, w) float32, ink high.

    digits: (m, 28, 28) ink high, wide enough to be cut. Half the time one side of a digit
    cut by a vertical line; else the right side of one digit beside the left side of
    another (a cut in each of two touching digits), their bottoms level within a tenth of
    the height and a gap of 0-2 pixels between them."""
    first = _ink(digits[rng.integers(len(digits))])
    cut = round(rng.uniform(*FRAGMENT_CUT) * first.shape[1])
    if rng.random() < 0.5:
        return first[:, :cut] if rng.random() < 0.5 else first[:, cut:]
    second = _ink(digits[rng.integers(len(digits))])
    left, right = first[:, cut:], second[:, :round(rng.uniform(*FRAGMENT_CUT) * second.shape[1])]
    height = max(left.shape[0], right.shape[0])
    drop = round(rng.uniform(-0.1, 0.1) * height)
    gap = int(rng.integers(0, 3))
    piece = np.zeros((height + abs(drop), left.shape[1] + gap + right.shape[1]), np.float32)
    top_left, top_right = max(-drop, 0), max(drop, 0)
    piece[top_left + height - left.shape[0]:top_left + height, :left.shape[1]] = left
    piece[top_right + height - right.shape[0]:top_right + height,
          left.shape[1] + gap:] = right
    return piece


def fragments(digits: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n pieces of digits (n, 28, 28) uint8, each run through `images.preprocess_ink` as a
    part of a number is when it is read (segment.py): non-digits a reader meets when it
    cuts in the wrong place. A network that calls them digits favours wrong cuts.

    digits: (m, 28, 28) ink high, the training digits (never a set that is reported on);
    only those at least FRAGMENT_WIDE as wide as tall are cut (narrower ones, a 1 or a
    thin 7, are never cut when reading). A piece that is blank or narrower than
    FRAGMENT_THIN of its height (a stroke like a 1) is drawn again."""
    mask = digits > 0.25 * digits.max(axis=(1, 2), keepdims=True)
    rows, cols = mask.any(axis=2), mask.any(axis=1)  # (m, 28) each
    span = lambda m: 28 - m[:, ::-1].argmax(axis=1) - m.argmax(axis=1)  # noqa: E731
    wide = digits[(rows.any(axis=1)) & (span(cols) >= FRAGMENT_WIDE * span(rows))]
    out = np.empty((n, 28, 28), np.uint8)
    i = 0
    while i < n:
        piece = fragment(wide, rng)
        try:
            inked = piece[ink_bounding_box(piece)]
        except ImageError:
            continue
        if inked.shape[1] < FRAGMENT_THIN * inked.shape[0]:
            continue
        out[i] = preprocess_ink(inked)
        i += 1
    return out


def with_outliers(images: np.ndarray, labels: np.ndarray, outlier_share: float,
                  fragment_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """images (n, 28, 28) and labels (n,) with generated non-digits and pieces of the
    digits appended (label NOT_A_DIGIT), making up those shares of the result, drawn
    from seeds derived from `seed` (as `train.fit` adds them: Config.outliers,
    Config.fragments)."""
    total = len(images) / (1 - outlier_share - fragment_share)
    others = [training_set(round(total * outlier_share), np.random.default_rng([seed, 2]))]
    if fragment_share:
        others.append(fragments(images, round(total * fragment_share),
                                np.random.default_rng([seed, 3])))
    others = np.concatenate(others)
    return (np.concatenate([images, others.astype(images.dtype)]),
            np.concatenate([labels.astype(np.int64), np.full(len(others), NOT_A_DIGIT)]))
