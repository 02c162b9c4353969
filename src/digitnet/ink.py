"""From a grayscale picture to its ink: which way round it is, the light, the noise.

People photograph paper under a lamp, with a hand's shadow across it; they draw in dark
mode; they scan on grey paper. `ink_image` turns all of these into one thing, an ink
image: background 0, the strongest ink 255. In order:

    polarity     the picture's frame (its outer ring, PAPER_RING of its size thick)
                 shows the paper: a light frame means dark ink on light paper; when ink,
                 a shadow or the table crosses the frame, or the light is dim, the
                 strokes' own contrast decides (`dark_on_light`). Light-on-dark pictures
                 are inverted
    light        the paper's brightness, estimated where the ink is not (`paper_light`):
                 the picture shrunk to about LIGHT_SIDE pixels, then a grey closing (a
                 maximum filter, then a minimum filter) LIGHT_WINDOW of the picture wide.
                 Strokes are narrower than the window, so the closing fills them in with
                 the paper around them; a shadow or a gradient is wider, so it stays part
                 of the light. A narrower closing (NARROW_WINDOW) follows the corners of
                 shadows, and is taken where it finds paper no darker than SHADOW of the
                 wide one's light: darker than that is a marker's stroke, not a shadow.
                 When the light is even (varying by less than UNEVEN of its level), the
                 paper is one level, read from the frame, exactly as for a scan.
    darkness     how much darker than its paper each pixel is, as a fraction of the
                 paper's brightness, (light - gray) / light: a shadow darkens ink and
                 paper alike, so the fraction does not change under it
    noise        paper grain and camera noise: the darkness of the background, its median
                 plus NOISE_MADS median absolute deviations, is taken off
    contrast     stretched so the strongest ink is 255; a picture whose ink stands out
                 by less than MIN_CONTRAST levels of 255 is "blank"

Pure functions on arrays (SciPy's ndimage for the closing); no knowledge of digits.
Choosing which marks are the writing is `writing.py`'s job; making the strokes look like
MNIST's is `strokes.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ImageError

NOISE_MADS = 3  # background + this many median absolute deviations is "no ink"
MIN_CONTRAST = 32  # ink that stands out from the background by less is "blank" (0..255)
PAPER_RING = 0.02  # the frame read for the paper: this fraction of the shorter side, >= 1 px
EVEN_FRAME = 16  # a frame whose levels spread less (10th to 90th percentile) is plain paper
LIGHT_SIDE = 192  # the light is estimated on the picture shrunk to about this many pixels
LIGHT_WINDOW = 0.2  # ... with a closing this fraction of the longer side wide
NARROW_WINDOW = 0.05  # ... and one this wide, which follows narrower shadows
SHADOW = 0.4  # paper in shadow keeps at least this fraction of its light; ink does not
LIGHT_MIN_SIDE = 128  # smaller pictures are taken to be evenly lit
UNEVEN = 0.1  # light varying by more than this fraction of its level is evened out


def frame(gray: np.ndarray) -> np.ndarray:
    """The pixels of the outer ring of gray (H, W), PAPER_RING of the shorter side thick
    (at least one pixel) -> (k,) float32."""
    h, w = gray.shape
    t = max(1, int(PAPER_RING * min(h, w)))
    if 2 * t >= min(h, w):
        return gray.reshape(-1).astype(np.float32)
    return np.concatenate([gray[:t].reshape(-1), gray[-t:].reshape(-1),
                           gray[t:-t, :t].reshape(-1), gray[t:-t, -t:].reshape(-1)])


def dark_on_light(gray: np.ndarray) -> bool:
    """Whether gray (H, W) 0..255 is dark ink on light paper.

    A frame mostly near white or black (its median beyond 200 or under 55), or an even
    frame (80% of it within EVEN_FRAME levels) clearly light or dark, is paper, and says
    it. Otherwise (ink on the frame, a shadow or the table across it, a dim photo):
      - a small picture, a crop of the digit: paper is most of it and ink a little, so
        dark ink lies further below the median (its 1st percentile) than anything lies
        above it (its 99th), and light ink the other way round;
      - a larger one: the strokes tell, a black top-hat (a grey closing NARROW_WINDOW
        wide, minus the picture) finding dark strokes on lighter ground and a white
        top-hat light ones on darker ground; the stronger (the mean of its top percent)
        wins. A shadow's edge, wider than the window, is neither."""
    ring = frame(gray)
    low, middle, high = np.percentile(ring, [10, 50, 90])
    if abs(middle - 127.5) > 72 or (high - low < EVEN_FRAME and abs(middle - 127.5) > 30):
        return bool(middle > 127.5)
    if max(gray.shape) < LIGHT_MIN_SIDE:
        low, median, high = np.percentile(gray, [1, 50, 99])
        return bool(median - low >= high - median)
    from scipy import ndimage

    small = _shrunk(gray)
    size = max(3, round(NARROW_WINDOW * max(small.shape)))
    dark = ndimage.grey_closing(small, size=(size, size)) - small
    light = small - ndimage.grey_opening(small, size=(size, size))
    top = max(1, small.size // 100)
    return bool(np.sort(dark, axis=None)[-top:].mean() >= np.sort(light, axis=None)[-top:].mean())


def _shrunk(gray: np.ndarray) -> np.ndarray:
    """gray (H, W) shrunk by a whole factor (a box filter) to about LIGHT_SIDE pixels."""
    from PIL import Image

    factor = max(1, round(max(gray.shape) / LIGHT_SIDE))
    return np.asarray(Image.fromarray(gray.astype(np.float32)).reduce(factor), np.float32)


def paper_light(gray: np.ndarray) -> np.ndarray | None:
    """The paper's brightness under uneven light for a picture gray (H, W) of dark ink on
    light paper, at the scale of `_shrunk(gray)` (float32), or None when the light is even
    (see the module doc)."""
    from scipy import ndimage

    if max(gray.shape) < LIGHT_MIN_SIDE:
        return None
    small = _shrunk(gray)
    wide = _closing(small, LIGHT_WINDOW)
    low, level, high = np.percentile(wide, [2, 50, 98])
    if high - low <= UNEVEN * max(level, 1.0):
        return None
    # A narrow shadow is wider than a stroke but narrower than LIGHT_WINDOW: the wide
    # closing takes it for ink. Where a narrow closing sees a level no darker than
    # SHADOW of the wide one's, it is paper in shadow; darker than that, a thick stroke.
    narrow = _closing(small, NARROW_WINDOW)
    light = np.where(narrow >= SHADOW * wide, narrow, wide)
    return np.maximum(ndimage.uniform_filter(light, size=3, mode="nearest"), 1.0)


def _closing(gray: np.ndarray, window: float) -> np.ndarray:
    """A grey closing of gray (h, w) with a square `window` of its longer side (>= 3 px),
    smoothed by a box half as wide -> (h, w) float32."""
    from scipy import ndimage

    size = max(3, round(window * max(gray.shape)))
    closed = ndimage.grey_closing(gray, size=(size, size), mode="nearest")
    return ndimage.uniform_filter(closed, size=max(3, size // 2), mode="nearest")


@dataclass(frozen=True)
class Paper:
    """What `read_paper` learned of a picture: enough to turn any part of it into ink."""

    inverted: bool  # light ink on dark paper: the picture is inverted first
    shape: tuple[int, int]  # (H, W) of the picture it was read from
    light: np.ndarray | None  # uneven light: the paper's brightness, shrunk; None if even
    floor: float  # ink below this level (0..255, after the light) is background and noise
    peak: float  # the strongest ink above the floor

    def ink(self, gray: np.ndarray, box: tuple[slice, slice] | None = None,
            scale: int = 1) -> np.ndarray:
        """Ink (h, w) float32, background 0, the picture's strongest ink 255, of gray, the
        part `box` of the picture (or all of it) enlarged `scale` times: (h, w) 0..255."""
        paper = np.asarray(gray, np.float32)
        if self.inverted:
            paper = 255 - paper  # dark ink on light paper
        if self.light is None:
            darkness = 255 - paper
        else:  # the fraction of its paper's light each pixel lacks, times 255
            light = self._light(paper.shape, box, scale)
            darkness = np.clip((light - paper) / light, 0, 1) * 255
        return np.clip((darkness - self.floor) * (255 / self.peak), 0, 255).astype(np.float32)

    def _light(self, shape: tuple[int, int], box: tuple[slice, slice] | None,
               scale: int) -> np.ndarray:
        """The light map resampled (bilinearly) onto the pixels of a region (h, w)."""
        from PIL import Image

        assert self.light is not None
        ly, lx = self.light.shape[0] / self.shape[0], self.light.shape[1] / self.shape[1]
        top = box[0].start / scale if box else 0.0
        left = box[1].start / scale if box else 0.0
        source = (left * lx, top * ly, (left + shape[1] / scale) * lx,
                  (top + shape[0] / scale) * ly)  # the region, in the light map's pixels
        light = Image.fromarray(self.light).resize((shape[1], shape[0]),
                                                   Image.Resampling.BILINEAR, box=source)
        return np.maximum(np.asarray(light, np.float32), 1.0)


def read_paper(gray: np.ndarray) -> Paper:
    """Read a picture's paper, light and noise (see the module doc): gray (H, W) 0..255.

    Raises ImageError ("blank ...") if no pixel stands out from the background by
    MIN_CONTRAST levels."""
    gray = np.asarray(gray, np.float32)
    inverted = not dark_on_light(gray)
    paper = 255 - gray if inverted else gray  # dark ink on light paper, from here on
    light = paper_light(paper)
    if light is None:  # even light: one background level, read from the frame
        ring = 255 - frame(paper)
        background = float(np.median(ring))
        below = background - ring[ring <= background]  # the paper's side: ink on the frame
        spread = float(np.median(below))  # (a tight crop's) does not widen the grain
        floor = background + NOISE_MADS * spread
        peak = float((255 - paper).max()) - floor
    else:
        draft = Paper(inverted, gray.shape, light, 0.0, 255.0)
        darkness = draft.ink(gray)
        sample = darkness.reshape(-1)[::7]  # the noise is read on every 7th pixel
        level = float(np.median(sample))
        floor = level + NOISE_MADS * float(np.median(np.abs(sample - level)))
        peak = float(darkness.max()) - floor
    if peak < MIN_CONTRAST:
        raise ImageError(f"blank image: nothing stands out from the background (contrast "
                         f"{max(peak, 0):.0f} of 255, need {MIN_CONTRAST}); no digit to "
                         f"classify")
    return Paper(inverted, gray.shape, light, floor, peak)


def ink_image(gray: np.ndarray) -> np.ndarray:
    """(H, W) gray levels 0..255 -> (H, W) float32 ink: background 0, the strongest ink 255.

    See the module doc for the steps. Raises ImageError ("blank ...") if no pixel stands
    out from the background by MIN_CONTRAST levels.
    """
    return read_paper(gray).ink(gray)
