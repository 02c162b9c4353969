"""Draw the sample pictures in examples/: digits as people photograph, screenshot and scan them.

    python examples/make_samples.py [DIR]      (default: the folder this script is in)

Each picture is drawn from pen strokes with Pillow, from a fixed seed, so running this
again gives the same pixels (tests/test_readme.py checks the committed files against it):

    seven-thin-pen.png     a 7 written with a thin pen on off-white paper
    phone-screenshot.png   a 3 drawn with a finger in a phone app, status bar included
    photo-shadow.jpg       a 4 in marker, photographed: uneven light, a shadow, noise, JPEG
    number.png             the number 2025 written on one line
    scribble.png           a scribble that is no digit at all
    mine/1/, mine/7/       one writer's 1s (a flag and a foot) and 7s (a bar), three of
                           each: a folder `digitnet adapt` learns a handwriting from

They are for trying digitnet out (the README's first commands use them), not a
benchmark: the hard ones (the status bar, the shadow) show what preprocessing must cope
with, and the bundled model's answers on them may change as it improves.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

Points = list[tuple[float, float]]


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float,
        n: int = 40) -> Points:
    """Points on an ellipse from angle `start` to `end` (degrees, counter-clockwise as on
    paper: 90 is the top), in the unit square where y grows downwards."""
    angles = np.radians(np.linspace(start, end, n))
    return [(cx + rx * math.cos(a), cy - ry * math.sin(a)) for a in angles]


# Each digit: a list of strokes, each a polyline in the unit square (x right, y down).
DIGITS: dict[str, list[Points]] = {
    "0": [arc(0.5, 0.5, 0.3, 0.46, 90, 450, 80)],
    "2": [[*arc(0.5, 0.3, 0.3, 0.25, 160, -40), (0.14, 0.95), (0.88, 0.94)]],
    "3": [arc(0.48, 0.28, 0.27, 0.22, 150, -90) + arc(0.48, 0.72, 0.31, 0.23, 90, -150)],
    "4": [[(0.62, 0.04), (0.1, 0.66), (0.9, 0.66)], [(0.64, 0.3), (0.66, 0.98)]],
    "5": [[(0.82, 0.06), (0.3, 0.06), (0.26, 0.45), *arc(0.5, 0.69, 0.31, 0.27, 130, -160)]],
    "7": [[(0.14, 0.1), (0.86, 0.07), (0.42, 0.96)]],
    # one writer's style, for `digitnet adapt`: a 1 with a flag and a foot, a crossed 7
    "1-flag": [[(0.22, 0.3), (0.58, 0.04), (0.58, 0.96)], [(0.3, 0.96), (0.86, 0.96)]],
    "7-bar": [[(0.14, 0.1), (0.86, 0.07), (0.42, 0.96)], [(0.36, 0.5), (0.8, 0.5)]],
}


def draw_digit(draw: ImageDraw.ImageDraw, digit: str, box: tuple[float, float, float, float],
               width: int, fill: int | tuple[int, ...], rng: np.random.Generator,
               slant: float = 0.0, wobble: float = 0.0) -> None:
    """Draw `digit` into box (x, y, w, h) with a pen `width` pixels wide; `slant` leans it
    right (a shear, as a fraction of its height), `wobble` shakes the hand (pixels)."""
    x0, y0, w, h = box
    for stroke in DIGITS[digit]:
        points = []
        for u, v in _dense(stroke):
            x = x0 + (u + slant * (0.5 - v)) * w + rng.normal(0, wobble)
            y = y0 + v * h + rng.normal(0, wobble)
            points.append((x, y))
        draw.line(points, fill=fill, width=width, joint="curve")
        for x, y in (points[0], points[-1]):  # round pen ends
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=fill)


def _dense(stroke: Points, step: float = 0.02) -> Points:
    """The polyline with points at most `step` apart, so a wobble bends lines smoothly."""
    out = [stroke[0]]
    for (ax, ay), (bx, by) in itertools.pairwise(stroke):
        n = max(1, math.ceil(math.hypot(bx - ax, by - ay) / step))
        out += [(ax + (bx - ax) * k / n, ay + (by - ay) * k / n) for k in range(1, n + 1)]
    return out


def seven_thin_pen(rng: np.random.Generator) -> Image.Image:
    paper = Image.new("RGB", (600, 600), (246, 244, 236))
    draw_digit(ImageDraw.Draw(paper), "7", (190, 120, 230, 380), 4, (25, 30, 70), rng,
               slant=0.12, wobble=1.0)
    return paper


def phone_screenshot(rng: np.random.Generator) -> Image.Image:
    screen = Image.new("RGB", (540, 1170), (255, 255, 255))
    draw = ImageDraw.Draw(screen)
    font = ImageFont.load_default(size=30)
    draw.text((48, 22), "9:41", fill=(0, 0, 0), font=font)  # the status bar
    for k in range(4):  # signal bars
        draw.rectangle((380 + 9 * k, 44 - 6 * k, 385 + 9 * k, 50), fill=(0, 0, 0))
    draw.rounded_rectangle((430, 26, 478, 50), radius=6, outline=(0, 0, 0), width=3)  # battery
    draw.rectangle((435, 31, 465, 45), fill=(0, 0, 0))
    draw.rectangle((480, 33, 484, 43), fill=(0, 0, 0))
    draw_digit(draw, "3", (150, 380, 240, 380), 30, (20, 20, 20), rng, wobble=2.0)
    return screen


def photo_with_shadow(rng: np.random.Generator) -> Image.Image:
    h, w = 600, 800
    yy, xx = np.mgrid[0:h, 0:w]
    paper = 215 - 45 * (xx / w) - 25 * (yy / h)  # lit from the top left
    ink = Image.new("L", (w, h), 0)
    draw_digit(ImageDraw.Draw(ink), "4", (300, 150, 210, 320), 16, 255, rng, wobble=1.5)
    ink = np.asarray(ink.filter(ImageFilter.GaussianBlur(1.2)), np.float64) / 255
    shadow = Image.new("L", (w, h), 0)  # a phone's shadow over the lower right
    ImageDraw.Draw(shadow).polygon([(380, 600), (450, 330), (800, 230), (800, 600)], fill=255)
    shade = np.asarray(shadow.filter(ImageFilter.GaussianBlur(25)), np.float64) / 255
    picture = (paper * (1 - 0.8 * ink) + 45 * ink) * (1 - 0.5 * shade)
    picture += rng.normal(0, 4, (h, w))  # sensor noise
    gray = np.clip(picture, 0, 255).astype(np.uint8)
    warm = np.stack([gray, (gray * 0.97).astype(np.uint8), (gray * 0.9).astype(np.uint8)], -1)
    return Image.fromarray(warm)


def my_digit(style: str) -> Callable[[np.random.Generator], Image.Image]:
    """One of "my" digits in the writer's style (a folder for `digitnet adapt`), drawn
    each time with another slant, size and shake."""
    def draw(rng: np.random.Generator) -> Image.Image:
        paper = Image.new("L", (300, 300), 245)
        size = rng.uniform(150, 220)
        draw_digit(ImageDraw.Draw(paper), style, (150 - size * 0.35, 150 - size / 2,
                                                  size * 0.7, size), int(rng.integers(6, 14)),
                   25, rng, slant=rng.uniform(0, 0.2), wobble=1.0)
        return paper
    return draw


def number(rng: np.random.Generator) -> Image.Image:
    paper = Image.new("L", (1000, 300), 250)
    draw = ImageDraw.Draw(paper)
    for k, digit in enumerate("2025"):
        draw_digit(draw, digit, (150 + 190 * k, 70 + 8 * k, 120, 170), 11, 30, rng,
                   slant=0.08, wobble=1.2)
    return paper


def scribble(rng: np.random.Generator) -> Image.Image:
    paper = Image.new("L", (400, 400), 255)
    t = np.linspace(0, 1, 400)
    x = 200 + 120 * np.sin(2 * math.pi * (2.3 * t + 0.1)) + 40 * np.sin(2 * math.pi * 9 * t)
    y = 200 + 110 * np.cos(2 * math.pi * (1.7 * t)) + 35 * np.cos(2 * math.pi * 7.3 * t)
    points = list(zip(x + rng.normal(0, 1, len(t)), y + rng.normal(0, 1, len(t)), strict=True))
    ImageDraw.Draw(paper).line(points, fill=20, width=7, joint="curve")
    return paper


SAMPLES = {  # file name -> how it is drawn; each gets its own seed
    "seven-thin-pen.png": seven_thin_pen,
    "phone-screenshot.png": phone_screenshot,
    "photo-shadow.jpg": photo_with_shadow,
    "number.png": number,
    "scribble.png": scribble,
    **{f"mine/{style[0]}/{k}.png": my_digit(style)
       for style in ("1-flag", "7-bar") for k in range(1, 4)},
}


def make(directory: Path) -> list[Path]:
    """Write every sample picture into directory; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for seed, (name, drawing) in enumerate(SAMPLES.items()):
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        picture = drawing(np.random.default_rng(seed))
        options = {"quality": 88} if path.suffix == ".jpg" else {"optimize": True}
        picture.save(path, **options)
        written.append(path)
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    for path in make(out):
        print(path)
