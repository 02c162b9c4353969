"""Pictures made the way people make them, for `benchmarks/people.py` (issue 33).

Every generator draws from digits it is given and an explicit `np.random.Generator`, so
the same code makes two kinds of set that never share a digit:

    development  MNIST's 5,000 validation digits (held out by the `robust` preset's
                 split) and the FIRST half of scikit-learn's `load_digits`; settings are
                 chosen on these (`people.py --dev`)
    reported     MNIST's test digits and the SECOND half of `load_digits`; only reported,
                 never trained or chosen on

A picture is returned as a user would send it: a PIL image, usually dark ink on light
paper (dark mode: light ink on a dark ground). What each kind is:

    pen          an MNIST digit's centre line (its skeleton at 4x) redrawn with a round pen
                 whose width is a fraction of the digit's height, in one of PEN_BANDS
                 (hairline 1-2% ... marker 14-20%), the digit 20-700 px tall, anywhere on a
                 canvas up to 1000 px, light or dark mode, any ink colour
    screenshot   a phone screenshot of a paint app: a status bar (time, signal, wifi,
                 battery) above, an app bar, a colour palette toolbar and a gesture bar
                 below, the digit drawn with the app's pen in between; light or dark
    photo        a photo of a digit written on paper: uneven light, a soft shadow across
                 the page, vignetting, sometimes ruled lines, a margin line or the table
                 at an edge, camera noise, blur and JPEG
    scanned      scikit-learn's 8x8 digits (43 writers outside MNIST) scanned: enlarged
                 to 24-160 px and thresholded to pure ink, some with scanner noise
    styles       digits written in styles MNIST rarely has (round 0, 1 with a flag and
                 foot, 7 with a bar, open 4, curled 9, ...), each "writer" keeping one
                 style, slant and pen; drawn from stroke templates
    numbers      3 to 6 digits in a row, as `read` reads them (visible gaps)
    non_numbers  words and rows of letters, smileys, stars, scribbles and shapes in a row

Non-digits for the single-digit reader (letters, scribbles, shapes) come from
`robustness_sets` (reported) and `digitnet.nondigits` validation kinds (development),
each drawn here with pens of every width (`pen_nondigit`).
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

PEN_BANDS = {"hairline": (0.01, 0.02), "thin": (0.02, 0.04), "medium": (0.04, 0.08),
             "thick": (0.08, 0.14), "marker": (0.14, 0.20)}
FONT_DIR = Path("/usr/share/fonts/truetype")
Segments = np.ndarray  # (k, 4) float: y0, x0, y1, x1 of straight pieces of a centre line


# ---- digit sources -----------------------------------------------------------------


def mnist_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """("dev": MNIST's validation digits held out by the robust preset; "report": MNIST
    test) -> (images (n, 28, 28) uint8 ink high, labels (n,))."""
    from digitnet import load_mnist
    from digitnet.config import PRESETS
    from digitnet.train import held_out

    mnist = load_mnist()
    if split == "dev":
        _, held = held_out(len(mnist.x_train), PRESETS["robust"])
        return mnist.x_train[held], mnist.y_train[held]
    if split == "report":
        return mnist.x_test, mnist.y_test
    raise ValueError(f"split must be 'dev' or 'report', got {split!r}")


def sklearn_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """load_digits' first ("dev") or second ("report") half -> (images (n, 8, 8) on 0..16
    ink high, labels (n,))."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    cut = len(bunch.target) // 2
    part = {"dev": slice(0, cut), "report": slice(cut, None)}[split]
    return bunch.images[part], bunch.target[part].astype(np.int64)


# ---- centre lines and pens ---------------------------------------------------------


def centre_line(digit: np.ndarray) -> Segments:
    """A digit (h, w) on 0..255, ink high -> its skeleton at 4x as segments between
    neighbouring skeleton pixels, in units of the digit's height (y 0..1 down)."""
    from scipy import ndimage
    from skimage.morphology import skeletonize

    big = ndimage.zoom(digit.astype(np.float32), 4, order=1)
    skeleton = skeletonize(big > 0.4 * big.max())
    ys, xs = np.nonzero(skeleton)
    on = set(zip(ys.tolist(), xs.tolist(), strict=True))
    segments = []
    for y, x in on:
        for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):  # each neighbour pair once
            if (y + dy, x + dx) in on:
                segments.append((y, x, y + dy, x + dx))
    if not segments:  # a dot
        segments = [(y, x, y, x) for y, x in on]
    seg = np.array(segments, np.float64)
    top, left = seg[:, [0, 2]].min(), seg[:, [1, 3]].min()
    height = max(seg[:, [0, 2]].max() - top, 1.0)
    seg[:, [0, 2]] = (seg[:, [0, 2]] - top) / height
    seg[:, [1, 3]] = (seg[:, [1, 3]] - left) / height
    return seg


def polyline_segments(strokes: list[list[tuple[float, float]]]) -> Segments:
    """Strokes as lists of points (x, y) -> segments (y0, x0, y1, x1), scaled so that the
    strokes are 1 high and start at 0."""
    seg = np.array([(y0, x0, y1, x1) for points in strokes
                    for (x0, y0), (x1, y1) in itertools.pairwise(points)],
                   np.float64)
    top, left = seg[:, [0, 2]].min(), seg[:, [1, 3]].min()
    height = max(seg[:, [0, 2]].max() - top, 1e-6)
    seg[:, [0, 2]] = (seg[:, [0, 2]] - top) / height
    seg[:, [1, 3]] = (seg[:, [1, 3]] - left) / height
    return seg


def extent(segments: Segments) -> tuple[float, float]:
    """(height, width) of segments in their own units."""
    return (float(segments[:, [0, 2]].max() - segments[:, [0, 2]].min()),
            float(segments[:, [1, 3]].max() - segments[:, [1, 3]].min()))


def stroke_alpha(segments: Segments, height: float, pen: float, size: tuple[int, int],
                 at: tuple[float, float]) -> np.ndarray:
    """Coverage (H, W) float32 0..1 of segments drawn `height` px tall (the centre line)
    with a round pen `pen` px wide, top-left of the centre line at `at` = (y, x), on a
    canvas `size` = (H, W); drawn 4x larger and box-filtered down (anti-aliased)."""
    s = 4 if max(size) <= 600 else 2
    canvas = Image.new("L", (size[1] * s, size[0] * s), 0)
    draw = ImageDraw.Draw(canvas)
    width = max(1.0, pen * s)
    r = width / 2
    pts = segments * height * s
    pts[:, [0, 2]] += at[0] * s
    pts[:, [1, 3]] += at[1] * s
    for y0, x0, y1, x1 in pts:
        draw.line((x0, y0, x1, y1), fill=255, width=max(1, round(width)))
    ends = np.unique(np.round(np.concatenate([pts[:, :2], pts[:, 2:]]), 1), axis=0)
    if width > 2:
        for y, x in ends:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    small = canvas.resize((size[1], size[0]), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / 255


def _colour(rng: np.random.Generator, dark_mode: bool) -> tuple[np.ndarray, np.ndarray]:
    """(paper RGB, ink RGB) as float arrays 0..255."""
    if dark_mode:
        paper = rng.uniform(0, 45) + rng.uniform(-5, 5, 3)
        ink = rng.choice([np.array([255.0, 255, 255]), np.array([255.0, 220, 90]),
                          np.array([120.0, 200, 255]), np.array([140.0, 255, 140])])
        ink = ink * rng.uniform(0.8, 1.0)
    else:
        paper = rng.uniform(225, 255) + rng.uniform(-6, 6, 3)
        ink = rng.choice([np.array([0.0, 0, 0]), np.array([20.0, 30, 140]),
                          np.array([170.0, 20, 20]), np.array([40.0, 40, 40]),
                          np.array([20.0, 110, 40])])
        ink = ink + rng.uniform(0, 30)
    return np.clip(paper, 0, 255), np.clip(ink, 0, 255)


def _compose(alpha: np.ndarray, paper: np.ndarray, ink: np.ndarray) -> Image.Image:
    """Ink of coverage alpha (H, W) laid on paper -> an RGB PIL image."""
    rgb = paper[None, None, :] * (1 - alpha[:, :, None]) + ink[None, None, :] * alpha[:, :, None]
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")


def _place(rng: np.random.Generator, segments: Segments, height: float, pen: float,
           canvas: tuple[int, int]) -> tuple[float, float]:
    """A random top-left (y, x) for the centre line, keeping the whole stroke inside."""
    h, w = extent(segments)
    room_y = canvas[0] - height * h - pen - 2
    room_x = canvas[1] - height * w - pen - 2
    return (pen / 2 + 1 + rng.uniform(0, max(room_y, 0)),
            pen / 2 + 1 + rng.uniform(0, max(room_x, 0)))


def pen_band(rng: np.random.Generator, band: str) -> tuple[float, float]:
    """(pen as a fraction of the digit's height, digit height in px) for a band: the height
    is log-uniform on 20..700 px, but at least enough for a pen of one pixel."""
    low, high = PEN_BANDS[band]
    fraction = rng.uniform(low, high)
    smallest = max(20.0, 1.0 / fraction)
    return fraction, float(np.exp(rng.uniform(np.log(smallest), np.log(700))))


def pen_picture(segments: Segments, rng: np.random.Generator, band: str,
                dark_mode: bool | None = None) -> Image.Image:
    """A centre line redrawn with a pen in `band`, anywhere on a canvas up to 1000 px."""
    fraction, height = pen_band(rng, band)
    pen = fraction * height
    h, w = extent(segments)
    need_h, need_w = height * h + pen + 4, height * w + pen + 4
    canvas = (int(rng.uniform(need_h, max(need_h, 1000)) if rng.random() < 0.7
                  else need_h * rng.uniform(1.1, 2)),
              int(rng.uniform(need_w, max(need_w, 1000)) if rng.random() < 0.7
                  else need_w * rng.uniform(1.1, 2)))
    canvas = (min(max(canvas[0], int(need_h) + 1), 1000), min(max(canvas[1], int(need_w) + 1),
                                                             1000))
    dark = bool(rng.random() < 0.3) if dark_mode is None else dark_mode
    paper, ink = _colour(rng, dark)
    alpha = stroke_alpha(segments, height, pen, canvas, _place(rng, segments, height, pen, canvas))
    return _compose(alpha, paper, ink)


# ---- phone screenshots -------------------------------------------------------------


def _font(rng: np.random.Generator, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    names = [p for p in sorted(FONT_DIR.glob("*/*.ttf"))
             if ("Bold" in p.name) == bold and "Math" not in p.name and "Oblique" not in p.name
             and "Italic" not in p.name]
    if not names:
        return ImageFont.load_default(size)
    return ImageFont.truetype(str(names[int(rng.integers(len(names)))]), max(6, size))


def _status_bar(draw: ImageDraw.ImageDraw, rng: np.random.Generator, width: int, top: int,
                height: int, fg: tuple) -> None:
    """Time on the left; signal bars, wifi arcs, battery (and maybe its percentage) on the right."""
    size = int(height * rng.uniform(0.45, 0.65))
    clock = f"{int(rng.integers(1, 13))}:{int(rng.integers(0, 60)):02d}"
    draw.text((width * rng.uniform(0.04, 0.08), top + height / 2), clock, fill=fg,
              font=_font(rng, size, bold=True), anchor="lm")
    x = width * rng.uniform(0.9, 0.95)
    mid = top + height / 2
    bh, bw = size * 0.55, size * 1.1  # battery
    draw.rectangle((x - bw, mid - bh / 2, x, mid + bh / 2), outline=fg, width=max(1, size // 10))
    draw.rectangle((x, mid - bh / 5, x + size * 0.12, mid + bh / 5), fill=fg)
    level = rng.uniform(0.1, 1)
    draw.rectangle((x - bw + 2, mid - bh / 2 + 2, x - bw + 2 + (bw - 4) * level, mid + bh / 2 - 2),
                   fill=fg)
    x -= bw + size * 0.5
    if rng.random() < 0.4:
        draw.text((x, mid), f"{int(rng.integers(5, 100))}%", fill=fg,
                  font=_font(rng, int(size * 0.8)), anchor="rm")
        x -= size * 2.2
    for k in range(3):  # wifi: arcs around a point
        r = size * (0.25 + 0.25 * k)
        draw.arc((x - r, mid + size * 0.35 - r, x + r, mid + size * 0.35 + r), 225, 315,
                 fill=fg, width=max(1, size // 8))
    x -= size * 1.2
    for k in range(4):  # signal bars
        bar = size * (0.25 + 0.2 * k)
        draw.rectangle((x + k * size * 0.22, mid + size * 0.4 - bar, x + k * size * 0.22 +
                        size * 0.14, mid + size * 0.4), fill=fg)


def _toolbar(draw: ImageDraw.ImageDraw, rng: np.random.Generator, width: int, top: int,
             height: int, background: tuple, dark: bool) -> None:
    """A band of colour swatches (one ringed as chosen), maybe with a size slider."""
    draw.rectangle((0, top, width, top + height), fill=background)
    palette = [(0, 0, 0), (255, 255, 255), (230, 40, 40), (250, 150, 30), (250, 220, 40),
               (50, 180, 70), (40, 120, 230), (140, 60, 200), (120, 80, 40), (128, 128, 128)]
    count = int(rng.integers(5, 9))
    chosen = rng.choice(len(palette), count, replace=False)
    r = min(height * rng.uniform(0.18, 0.3), width / (3 * count))
    cy = top + height * (0.5 if rng.random() < 0.6 else 0.35)
    for k, c in enumerate(chosen):
        cx = width * (k + 0.5) / count
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=palette[c],
                     outline=(90, 90, 90) if not dark else (200, 200, 200))
        if k == 0:
            draw.ellipse((cx - r - 4, cy - r - 4, cx + r + 4, cy + r + 4),
                         outline=(255, 255, 255) if dark else (0, 0, 0), width=2)
    if cy < top + height * 0.4:  # a pen-size slider under the swatches
        y = top + height * 0.75
        fg = (200, 200, 200) if dark else (100, 100, 100)
        draw.line((width * 0.1, y, width * 0.9, y), fill=fg, width=3)
        knob = width * rng.uniform(0.1, 0.9)
        draw.ellipse((knob - 8, y - 8, knob + 8, y + 8), fill=fg)


def screenshot(segments: Segments, rng: np.random.Generator) -> Image.Image:
    """A paint app's screenshot with the digit drawn in its canvas (see the module doc)."""
    width = int(rng.integers(320, 480))
    height = min(1000, int(width * rng.uniform(1.9, 2.2)))
    dark = bool(rng.random() < 0.35)
    canvas_bg = (int(rng.integers(15, 40)),) * 3 if dark else (255, 255, 255)
    chrome = (int(rng.integers(30, 60)),) * 3 if dark else (int(rng.integers(235, 250)),) * 3
    fg = (240, 240, 240) if dark else (20, 20, 20)
    picture = Image.new("RGB", (width, height), canvas_bg)
    draw = ImageDraw.Draw(picture)
    status = int(height * rng.uniform(0.03, 0.045))
    if rng.random() < 0.5:
        draw.rectangle((0, 0, width, status), fill=chrome)
    _status_bar(draw, rng, width, 0, status, fg)
    top = status
    if rng.random() < 0.7:  # an app bar: back arrow, title, icons
        bar = int(height * rng.uniform(0.05, 0.07))
        draw.rectangle((0, top, width, top + bar), fill=chrome)
        mid = top + bar / 2
        draw.line((width * 0.05, mid, width * 0.1, mid - bar * 0.2), fill=fg, width=3)
        draw.line((width * 0.05, mid, width * 0.1, mid + bar * 0.2), fill=fg, width=3)
        title = ["Sketch", "Draw", "Notes", "Paint", "Canvas"][int(rng.integers(5))]
        draw.text((width * 0.15, mid), title, fill=fg, font=_font(rng, int(bar * 0.4), True),
                  anchor="lm")
        for k in range(int(rng.integers(1, 4))):
            cx = width * (0.9 - 0.1 * k)
            draw.ellipse((cx - bar * 0.15, mid - bar * 0.15, cx + bar * 0.15, mid + bar * 0.15),
                         outline=fg, width=2)
        top += bar
    bottom = height
    if rng.random() < 0.7:  # gesture bar
        pill = int(height * 0.03)
        draw.rounded_rectangle((width * 0.35, height - pill * 0.6, width * 0.65,
                                height - pill * 0.4), radius=3, fill=fg)
        bottom -= pill
    tools = int(height * rng.uniform(0.07, 0.12))
    _toolbar(draw, rng, width, bottom - tools, tools, chrome, dark)
    bottom -= tools
    area = (bottom - top, width)  # the drawing canvas
    _, w = extent(segments)
    digit_height = min(area[0] * 0.9, width * 0.9 / max(w, 0.3)) * rng.uniform(0.3, 0.95)
    pen = digit_height * rng.uniform(0.03, 0.14)
    at = _place(rng, segments, digit_height, pen, area)
    alpha = stroke_alpha(segments, digit_height, pen, area, at)
    ink = np.array([255.0, 255, 255]) if dark else np.array([0.0, 0, 0])
    if rng.random() < 0.3:  # a colour from the palette
        ink = np.array([(230, 40, 40), (40, 120, 230), (50, 180, 70), (140, 60, 200)][
            int(rng.integers(4))], np.float64)
    region = np.asarray(picture, np.float64)[top:bottom]
    region = region * (1 - alpha[:, :, None]) + ink * alpha[:, :, None]
    out = np.asarray(picture).copy()
    out[top:bottom] = np.clip(np.rint(region), 0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGB")


# ---- photos of paper ---------------------------------------------------------------


def _soft_shadow(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A multiplier (H, W) in (0, 1]: a soft-edged shadow over part of the picture (a hand,
    a phone) darkening it to 0.35..0.75."""
    h, w = size
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    corners = int(rng.integers(3, 6))
    cx, cy = rng.uniform(-0.3, 1.3) * w, rng.uniform(-0.3, 1.3) * h
    radius = rng.uniform(0.5, 1.0) * max(h, w)
    start = rng.uniform(0, 2 * np.pi)
    angles = start + np.sort(rng.uniform(0, 2 * np.pi, corners))
    draw.polygon([(cx + radius * math.cos(a), cy + radius * math.sin(a)) for a in angles],
                 fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(rng.uniform(0.02, 0.08) * max(h, w)))
    depth = rng.uniform(0.25, 0.65)
    return 1 - depth * np.asarray(mask, np.float32) / 255


def photo(segments: Segments, rng: np.random.Generator,
          size: tuple[int, int] | None = None) -> Image.Image:
    """A digit written on paper and photographed (see the module doc); size (H, W), by
    default 400..1000 each."""
    if size is None:
        size = (int(rng.integers(400, 1001)), int(rng.integers(400, 1001)))
    h, w = size
    paper = rng.uniform(200, 250) + rng.uniform(-8, 8, 3)
    light = np.ones(size, np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)  # a gradient across the page
    ramp = (math.cos(angle) * xx / w + math.sin(angle) * yy / h)
    light *= 1 - rng.uniform(0.05, 0.3) * (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    r2 = ((yy / h - 0.5) ** 2 + (xx / w - 0.5) ** 2) / 0.5  # vignetting
    light *= 1 - rng.uniform(0, 0.35) * r2
    light *= _soft_shadow(rng, size)
    rgb = np.broadcast_to(paper, (h, w, 3)).astype(np.float32).copy()
    if rng.random() < 0.4:  # ruled paper: light blue lines, perhaps a red margin
        spacing = rng.uniform(0.05, 0.12) * h
        start = rng.uniform(0, spacing)
        for y in np.arange(start, h, spacing):
            y0 = int(y)
            rgb[y0:y0 + max(1, h // 400) + 1] = (150, 180, 230)
        if rng.random() < 0.5:
            x0 = int(rng.uniform(0.05, 0.2) * w)
            rgb[:, x0:x0 + max(1, w // 300) + 1] = (230, 120, 120)
    digit_height = rng.uniform(0.15, 0.6) * min(h, w)
    pen = digit_height * rng.uniform(0.03, 0.12)
    at = _place(rng, segments, digit_height, pen, size)
    # keep the digit off the edges where the table shows
    alpha = stroke_alpha(segments, digit_height, pen, size, at) * rng.uniform(0.75, 1.0)
    ink = np.array([(20, 20, 25), (25, 35, 120), (40, 40, 60)][int(rng.integers(3))], np.float32)
    rgb = rgb * (1 - alpha[:, :, None]) + ink * alpha[:, :, None]
    rgb *= light[:, :, None]
    if rng.random() < 0.35:  # the table beyond the paper's edge
        side = int(rng.integers(4))
        band = int(rng.uniform(0.03, 0.12) * (h if side < 2 else w))
        table = np.array([rng.uniform(40, 120), rng.uniform(30, 90), rng.uniform(20, 60)])
        region = (slice(0, band), slice(None)) if side == 0 else \
            (slice(h - band, h), slice(None)) if side == 1 else \
            (slice(None), slice(0, band)) if side == 2 else (slice(None), slice(w - band, w))
        rgb[region] = table * light[region][..., None]
    rgb += rng.normal(0, rng.uniform(1, 6), rgb.shape)
    picture = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    jpeg = io.BytesIO()
    picture.save(jpeg, "JPEG", quality=int(rng.integers(55, 92)))
    return Image.open(io.BytesIO(jpeg.getvalue()))


# ---- other writers -----------------------------------------------------------------


def scanned(image8: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An 8x8 load_digits image (0..16) scanned: enlarged smoothly to 24-160 px, thresholded
    at a random level to pure black ink on white, sometimes with specks, on a margin."""
    size = int(rng.integers(24, 161))
    big = Image.fromarray((image8 * (255 / 16)).astype(np.float32)).resize(
        (size, size), Image.Resampling.BICUBIC)
    ink = np.asarray(big) > rng.uniform(0.3, 0.6) * 255
    margin = int(size * rng.uniform(0.2, 1.0))
    paper = np.full((size + 2 * margin,) * 2, 255, np.uint8)
    paper[margin:margin + size, margin:margin + size][ink] = 0
    if rng.random() < 0.3:
        specks = rng.integers(0, paper.shape[0], (int(rng.integers(1, 8)), 2))
        paper[specks[:, 0], specks[:, 1]] = 0
    return Image.fromarray(paper)


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float,
         n: int = 24) -> list[tuple[float, float]]:
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


def _poly(*points: tuple[float, float], n: int = 6) -> list[tuple[float, float]]:
    out = []
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        out += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, n)[:-1]]
    return [*out, points[-1]]


STYLES = {  # digit -> the ways of writing it, strokes in a unit box (x right, y down)
    0: {"round": lambda: [_arc(0.5, 0.5, 0.45, 0.47, -90, 275, 48)],
        "oval": lambda: [_arc(0.5, 0.5, 0.3, 0.47, -100, 265, 40)],
        "slashed": lambda: [_arc(0.5, 0.5, 0.32, 0.47, -100, 265, 40),
                            _poly((0.25, 0.85), (0.75, 0.15))]},
    1: {"stick": lambda: [_poly((0.5, 0.0), (0.5, 1.0))],
        "flag": lambda: [_poly((0.2, 0.3), (0.55, 0.0), (0.55, 1.0))],
        "flag_foot": lambda: [_poly((0.2, 0.28), (0.55, 0.0), (0.55, 1.0)),
                              _poly((0.25, 1.0), (0.85, 1.0))]},
    2: {"plain": lambda: [_arc(0.5, 0.28, 0.38, 0.28, 190, 380, 16)
                          + _poly((0.86, 0.4), (0.1, 1.0), (0.9, 1.0))],
        "loop": lambda: [_arc(0.5, 0.28, 0.38, 0.28, 190, 380, 16)
                         + _poly((0.86, 0.4), (0.15, 0.95))
                         + _arc(0.22, 0.88, 0.1, 0.1, 90, 380, 10)
                         + _poly((0.3, 0.95), (0.9, 1.0))]},
    3: {"round": lambda: [_arc(0.48, 0.26, 0.38, 0.26, 200, 450, 20)
                          + _arc(0.48, 0.74, 0.42, 0.26, 270, 520, 20)],
        "flat_top": lambda: [_poly((0.1, 0.0), (0.85, 0.0), (0.4, 0.42))
                             + _arc(0.48, 0.72, 0.42, 0.28, 270, 520, 20)]},
    4: {"open": lambda: [_poly((0.3, 0.0), (0.15, 0.6), (0.95, 0.6)),
                         _poly((0.72, 0.2), (0.72, 1.0))],
        "closed": lambda: [_poly((0.7, 1.0), (0.7, 0.0), (0.05, 0.65), (0.95, 0.65))]},
    5: {"plain": lambda: [_poly((0.9, 0.0), (0.25, 0.0), (0.2, 0.45))
                          + _arc(0.48, 0.7, 0.42, 0.3, 225, 500, 24)],
        "two_strokes": lambda: [_poly((0.25, 0.0), (0.2, 0.45))
                                + _arc(0.48, 0.7, 0.42, 0.3, 225, 500, 24),
                                _poly((0.25, 0.0), (0.9, 0.02))]},
    6: {"plain": lambda: [_arc(0.75, 0.55, 0.62, 0.55, 250, 180, 12)
                          + _arc(0.5, 0.72, 0.38, 0.28, 180, 540, 28)]},
    7: {"plain": lambda: [_poly((0.05, 0.0), (0.95, 0.0), (0.4, 1.0))],
        "bar": lambda: [_poly((0.05, 0.0), (0.95, 0.0), (0.4, 1.0)),
                        _poly((0.35, 0.5), (0.85, 0.5))],
        "hook": lambda: [_poly((0.05, 0.15), (0.1, 0.0), (0.95, 0.0), (0.4, 1.0))]},
    8: {"loops": lambda: [_arc(0.5, 0.25, 0.3, 0.25, 90, 450, 24)
                          + _arc(0.5, 0.74, 0.38, 0.26, -90, 270, 28)]},
    9: {"straight": lambda: [_arc(0.45, 0.28, 0.4, 0.28, 0, 360, 28) + _poly((0.85, 0.28),
                                                                              (0.8, 1.0))],
        "curled": lambda: [_arc(0.45, 0.28, 0.4, 0.28, 0, 360, 28)
                           + _poly((0.85, 0.28), (0.8, 0.85))
                           + _arc(0.55, 0.85, 0.25, 0.15, 0, 150, 10)]},
}


class Writer:
    """One person's way of writing: a style per digit, a slant, proportions and a pen."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.style = {d: list(styles)[int(rng.integers(len(styles)))]
                      for d, styles in STYLES.items()}
        self.slant = rng.uniform(-0.3, 0.35)
        self.aspect = rng.uniform(0.5, 0.85)
        self.band = list(PEN_BANDS)[int(rng.integers(len(PEN_BANDS)))]
        self.wobble = rng.uniform(0, 0.04)

    def segments(self, digit: int) -> Segments:
        """The centre line of one `digit` as this writer writes it, freshly jittered."""
        rng = self.rng
        strokes = STYLES[digit][self.style[digit]]()
        phase = rng.uniform(0, 2 * np.pi, 2)
        aspect = self.aspect * rng.uniform(0.9, 1.1) * (0.4 if self.style[digit] == "stick"
                                                         else 1)
        out = []
        for points in strokes:
            moved = []
            for x, y in points:
                x += self.wobble * math.sin(3 * y + phase[0]) + rng.normal(0, 0.005)
                y += self.wobble * math.sin(3 * x + phase[1]) + rng.normal(0, 0.005)
                moved.append((aspect * x + self.slant * (1 - y), y))
            out.append(moved)
        return polyline_segments(out)


def styled(writers: int, per_writer: int, rng: np.random.Generator
           ) -> list[tuple[Image.Image, int, str]]:
    """`writers` writers, each writing `per_writer` random digits with their own style and
    pen band -> [(picture, label, "writer k")]."""
    out = []
    for k in range(writers):
        writer = Writer(rng)
        for _ in range(per_writer):
            label = int(rng.integers(10))
            out.append((pen_picture(writer.segments(label), rng, writer.band), label,
                        f"writer {k}"))
    return out


# ---- non-digits drawn with any pen -------------------------------------------------


def pen_nondigit(picture: np.ndarray | Image.Image, rng: np.random.Generator) -> Image.Image:
    """A non-digit drawing (dark on light, or a (h, w) array) redrawn along its centre
    line with a pen of a random band, like `pen_picture`."""
    gray = np.asarray(Image.fromarray(np.asarray(picture)).convert("L"), np.float32)
    ink = 255 - gray if np.median(gray) > 127 else gray
    segments = centre_line_any(ink)
    band = list(PEN_BANDS)[int(rng.integers(len(PEN_BANDS)))]
    return pen_picture(segments, rng, band)


def centre_line_any(ink: np.ndarray) -> Segments:
    """`centre_line` for a picture of any size: shrunk to at most 64 px first."""
    rows, cols = np.flatnonzero(ink.max(axis=1) > 64), np.flatnonzero(ink.max(axis=0) > 64)
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = 64 / max(ink.shape)
    if scale < 1:
        ink = np.asarray(Image.fromarray(ink).resize(
            (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale))),
            Image.Resampling.BOX), np.float32)
    return centre_line(ink)


# ---- numbers and non-numbers -------------------------------------------------------


def row(parts: list[Segments], rng: np.random.Generator, gap: tuple[float, float] = (0.2, 0.5),
        dark_mode: bool | None = None) -> Image.Image:
    """Several centre lines side by side (same height, gaps of `gap` x height), one pen,
    on a canvas up to 1000 px wide."""
    band = list(PEN_BANDS)[int(rng.integers(1, len(PEN_BANDS)))]
    fraction = rng.uniform(*PEN_BANDS[band])
    widths = [extent(p)[1] for p in parts]
    gaps = rng.uniform(*gap, len(parts))
    total = sum(widths) + gaps[:-1].sum()
    height = float(min(rng.uniform(40, 160), 900 / max(total, 1e-6)))
    pen = max(1.0, fraction * height)
    canvas = (int(height * rng.uniform(1.5, 3)), int(min(1000, height * total + 2 * height)))
    dark = bool(rng.random() < 0.2) if dark_mode is None else dark_mode
    paper, ink = _colour(rng, dark)
    alpha = np.zeros(canvas, np.float32)
    x = (canvas[1] - height * total) / 2
    y = (canvas[0] - height) / 2
    for part, w, g in zip(parts, widths, gaps, strict=True):
        shift = rng.uniform(-0.08, 0.08) * height
        alpha = np.maximum(alpha, stroke_alpha(part, height, pen, canvas, (y + shift, x)))
        x += (w + g) * height
    return _compose(alpha, paper, ink)


def number(digits: list[np.ndarray], rng: np.random.Generator) -> Image.Image:
    """MNIST digits (each (28, 28)) written as one number with visible gaps."""
    return row([centre_line(d) for d in digits], rng)


WORDS = ("hello", "world", "cat", "house", "table", "phone", "paper", "music", "green",
         "apple", "river", "dance", "Kafka", "hat", "mew", "yes", "no", "ok", "wow", "fan")


def word_segments(text: str, font: Path, rng: np.random.Generator) -> list[Segments]:
    """Each letter of text drawn in `font` -> its centre line (one Segments per letter)."""
    face = ImageFont.truetype(str(font), 64)
    out = []
    for letter in text:
        canvas = Image.new("L", (96, 96), 0)
        ImageDraw.Draw(canvas).text((48, 48), letter, fill=255, font=face, anchor="mm")
        ink = np.asarray(canvas, np.float32)
        if ink.max() > 64:
            out.append(centre_line_any(ink))
    return out


def smiley(rng: np.random.Generator) -> list[Segments]:
    """A face: a circle with two eyes and a smile, as one drawing."""
    eyes = [_arc(0.35, 0.38, 0.04, 0.05, 0, 360, 8), _arc(0.65, 0.38, 0.04, 0.05, 0, 360, 8)]
    mouth = _arc(0.5, 0.55, 0.25, 0.2, 20, 160, 12)
    face = _arc(0.5, 0.5, 0.48, 0.48, 0, 360, 40)
    return [polyline_segments([face, *eyes, mouth])]


def star_row(rng: np.random.Generator) -> list[Segments]:
    """Two to five five-pointed stars in a row."""
    out = []
    for _ in range(int(rng.integers(2, 6))):
        turn = rng.uniform(0, 2 * np.pi)
        pts = [(0.5 + 0.5 * math.cos(turn + k * 4 * np.pi / 5),
                0.5 + 0.5 * math.sin(turn + k * 4 * np.pi / 5)) for k in range(6)]
        out.append(polyline_segments([_poly(*pts, n=4)]))
    return out


def non_number(kind: str, rng: np.random.Generator, fonts: list[Path]) -> Image.Image:
    """One picture that is not a number: "word", "letters" (a row of random letters),
    "smiley", "stars" or "scribble"."""
    if kind in ("word", "letters"):
        font = fonts[int(rng.integers(len(fonts)))]
        text = (WORDS[int(rng.integers(len(WORDS)))] if kind == "word" else
                "".join(rng.choice(list("ACEFHKLMNPRUVWXacdefhkmnprtuvwx"),
                                   int(rng.integers(3, 7)))))
        return row(word_segments(text, font, rng), rng, gap=(0.05, 0.2))
    if kind == "smiley":
        return row(smiley(rng), rng)
    if kind == "stars":
        return row(star_row(rng), rng)
    if kind == "scribble":
        t = np.linspace(0, 1, 400)
        steps = rng.normal(0, 1, (400, 2))
        kernel = np.hanning(40)
        walk = np.cumsum(np.stack([np.convolve(steps[:, k], kernel, "same") for k in range(2)],
                                  axis=1), axis=0)
        walk[:, 0] += t * rng.uniform(20, 60)  # wander to the right, as writing does
        return row([polyline_segments([list(zip(walk[:, 0], walk[:, 1], strict=True))])], rng)
    raise ValueError(f"unknown non-number kind {kind!r}")


NON_NUMBERS = ("word", "letters", "smiley", "stars", "scribble")
KINDS: dict[str, Callable] = {"screenshot": screenshot, "photo": photo}
