"""Development "writers" for `digitnet adapt`: each draws every digit in one consistent style.

A person who writes 7 with a bar writes every 7 with a bar; a slanted hand slants every
digit the same way. `Writer.draw` renders digits from stroke templates with a style fixed
per writer and a little jitter per sample, so a few examples of a writer say something
about the rest of that writer's digits, which is what adaptation needs to be measured on.

    style       what a writer fixes                        choices
    slant       shear of every digit                       -0.4 .. 0.4
    pen         pen width, share of the digit's height     0.04 .. 0.16
    aspect      width / height                             0.45 .. 0.9
    one         "plain", "flag" (European), "flag_foot"
    two         "plain", "loop" (a loop at the bottom left)
    three       "round", "flat_top" (a flat top like a Z)
    four        "closed", "open" (the two strokes apart at the top)
    seven       "plain", "bar" (crossed stem), "hook" (curved stem)
    nine        "straight", "curled" (the tail curls to the left)
    zero        "oval", "round" (a circle, whatever the aspect), "open" (a gap at the top)

These are DEVELOPMENT pictures: they may be used to choose an adaptation method and its
settings. Everything here is drawn from an explicit `np.random.Generator`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

Stroke = list[tuple[float, float]]  # points (x, y) in a unit box, x right, y down

CHOICES = {
    "one": ("plain", "flag", "flag_foot"),
    "two": ("plain", "loop"),
    "three": ("round", "flat_top"),
    "four": ("closed", "open"),
    "seven": ("plain", "bar", "hook"),
    "nine": ("straight", "curled"),
    "zero": ("oval", "round", "open"),
}
CANVAS = 200  # pixels on a side of each picture


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


@dataclass(frozen=True)
class Writer:
    """One writer's style (see the module docstring); `draw` makes their digits."""

    slant: float
    pen: float
    aspect: float
    one: str
    two: str
    three: str
    four: str
    seven: str
    nine: str
    zero: str
    wobble: float  # how much each sample's strokes bend, share of the box

    @classmethod
    def random(cls, rng: np.random.Generator) -> Writer:
        """A writer with every style drawn at random."""
        styles = {name: str(rng.choice(options)) for name, options in CHOICES.items()}
        return cls(slant=float(rng.uniform(-0.4, 0.4)), pen=float(rng.uniform(0.04, 0.16)),
                   aspect=float(rng.uniform(0.45, 0.9)), wobble=float(rng.uniform(0.01, 0.04)),
                   **styles)

    def strokes(self, digit: int) -> list[Stroke]:
        """This writer's template for `digit`, in a unit box."""
        if digit == 0:
            if self.zero == "open":
                return [_arc(0.5, 0.5, 0.4, 0.47, -60, 250, 40)]
            return [_arc(0.5, 0.5, 0.45, 0.47, -95, 268, 40)]
        if digit == 1:
            stem = _line([(0.55, 0.03), (0.55, 0.97)])
            if self.one == "plain":
                return [stem]
            flag = _line([(0.2, 0.3), (0.55, 0.03)]) + stem[1:]
            if self.one == "flag_foot":
                return [flag, _line([(0.25, 0.97), (0.85, 0.97)])]
            return [flag]
        if digit == 2:
            top = _arc(0.5, 0.28, 0.36, 0.25, 190, 385, 16)
            if self.two == "loop":
                return [top + _line([(0.82, 0.38), (0.2, 0.85)])
                        + _arc(0.27, 0.85, 0.1, 0.1, 180, 420, 12)[1:]
                        + _line([(0.27, 0.95), (0.9, 0.95)])[1:]]
            return [top + _line([(0.82, 0.38), (0.12, 0.95), (0.9, 0.95)])]
        if digit == 3:
            bottom = _arc(0.48, 0.72, 0.36, 0.24, 270, 520, 20)
            if self.three == "flat_top":
                return [_line([(0.12, 0.05), (0.85, 0.05), (0.45, 0.48)]) + bottom]
            return [_arc(0.48, 0.27, 0.3, 0.22, 200, 450, 20) + bottom]
        if digit == 4:
            if self.four == "open":
                return [_line([(0.3, 0.03), (0.15, 0.6), (0.9, 0.6)]),
                        _line([(0.68, 0.1), (0.68, 0.97)])]
            return [_line([(0.62, 0.03), (0.1, 0.65), (0.92, 0.65)]),
                    _line([(0.62, 0.03), (0.62, 0.97)])]
        if digit == 5:
            return [_line([(0.82, 0.05), (0.3, 0.05), (0.24, 0.45)])
                    + _arc(0.5, 0.68, 0.36, 0.27, 225, 500, 24)]
        if digit == 6:
            return [_arc(0.75, 0.6, 0.55, 0.57, 250, 180, 12)
                    + _arc(0.5, 0.72, 0.3, 0.23, 180, 540, 28)]
        if digit == 7:
            top = [(0.1, 0.05), (0.9, 0.05)]
            if self.seven == "hook":
                return [_line(top) + _arc(0.05, 0.05, 0.85, 0.92, 0, 80, 16)]
            strokes = [_line([*top, (0.4, 0.97)])]
            if self.seven == "bar":
                strokes.append(_line([(0.35, 0.5), (0.85, 0.5)]))
            return strokes
        if digit == 8:
            return [_arc(0.5, 0.26, 0.28, 0.22, 90, 450, 24)
                    + _arc(0.5, 0.72, 0.34, 0.24, -90, 270, 28)]
        if digit == 9:
            loop = _arc(0.47, 0.28, 0.33, 0.26, 0, 360, 28)
            if self.nine == "curled":
                return [loop + _line([(0.8, 0.3), (0.78, 0.75)])[1:]
                        + _arc(0.55, 0.75, 0.23, 0.22, 0, 150, 12)[1:]]
            return [loop + _line([(0.8, 0.3), (0.72, 0.97)])[1:]]
        raise ValueError(f"digit must be 0..9, got {digit!r}")

    def draw(self, digit: int, rng: np.random.Generator) -> np.ndarray:
        """One picture of `digit` in this writer's hand: (CANVAS, CANVAS) uint8, dark ink on
        white. Size, place, slant and proportions vary a little from sample to sample."""
        height = rng.uniform(0.5, 0.75)
        aspect = 1.0 if digit == 0 and self.zero == "round" else self.aspect
        if digit == 1 and self.one == "plain":
            aspect = 0.25
        width = height * aspect * rng.uniform(0.93, 1.07)
        slant = self.slant + rng.normal(0, 0.04)
        x0 = 0.5 - width / 2 - slant * height / 2 + rng.uniform(-0.08, 0.08)
        y0 = 0.5 - height / 2 + rng.uniform(-0.08, 0.08)
        phase = rng.uniform(0, 2 * np.pi, 2)
        canvas = Image.new("L", (CANVAS, CANVAS), 255)
        pen = max(1, round(self.pen * height * CANVAS * rng.uniform(0.9, 1.1)))
        draw = ImageDraw.Draw(canvas)
        for stroke in self.strokes(digit):
            points = []
            for x, y in stroke:
                x += self.wobble * math.sin(3 * y + phase[0]) + rng.normal(0, 0.005)
                y += self.wobble * math.sin(3 * x + phase[1]) + rng.normal(0, 0.005)
                points.append((CANVAS * (x0 + width * x + slant * height * (1 - y)),
                               CANVAS * (y0 + height * y)))
            draw.line(points, fill=0, width=pen, joint="curve")
            for x, y in (points[0], points[-1]):  # round ends
                draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=0)
        return np.asarray(canvas)


def writer_digits(writer: Writer, per_digit: int,
                  rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
    """`per_digit` pictures of each digit 0..9 by `writer`, digit by digit:
    (pictures, labels (10 * per_digit,))."""
    pictures = [writer.draw(d, rng) for d in range(10) for _ in range(per_digit)]
    return pictures, np.repeat(np.arange(10), per_digit)
