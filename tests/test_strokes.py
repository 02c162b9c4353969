"""strokes.py and pens.py: stroke widths measured, and redrawn to MNIST's."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitnet.pens import pen_variant, pen_variants
from digitnet.strokes import KEEP, TARGET, WORK, even_strokes, mnist_widths, redraw, stroke_width


def drawn(width, size=400):
    """A 2 (an arc and two lines) drawn with a pen `width` px wide on a size x size canvas,
    as ink (bright on black), cropped to its ink."""
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    draw.arc((100, 40, 300, 200), 180, 360 + 30, fill=255, width=width)
    draw.line([(290, 150), (100, 360), (310, 360)], fill=255, width=width, joint="curve")
    ink = np.asarray(image, np.float32)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


@pytest.mark.parametrize("pen", [6, 16, 30])
def test_the_width_of_a_drawn_stroke_is_measured(pen):
    mask = drawn(pen) > 127
    assert stroke_width(mask) == pytest.approx(pen, rel=0.2)


def test_keep_is_mnists_range_from_its_5th_percentile(mnist):
    widths = mnist_widths(mnist.x_train[:2000])
    assert np.mean(widths < KEEP[0]) == pytest.approx(0.05, abs=0.02)
    assert np.mean(widths > KEEP[1]) < 0.01


@pytest.mark.parametrize("pen, expect", [(3, TARGET[0]), (260, TARGET[1])])
def test_hairlines_and_markers_are_redrawn_within_the_target(pen, expect):
    out = even_strokes(drawn(pen))
    assert out is not None
    width = stroke_width(out > 127) / max(out.shape)
    assert width == pytest.approx(expect, rel=0.25)


@pytest.mark.parametrize("pen", [40, 80])
def test_a_stroke_as_wide_as_mnists_or_a_scans_is_left_alone(pen):
    assert even_strokes(drawn(pen)) is None  # 40 or 80 of 330 px: inside KEEP


def test_redraw_keeps_the_whole_stroke_on_its_canvas():
    mask = np.zeros((WORK, WORK), bool)
    mask[:, 38:42] = True  # a line along the whole height
    out = redraw(mask, 20.0)
    assert out.shape[0] > WORK and out[0].max() == 0 and out[-1].max() == 0


def test_pen_variants_are_mnist_inputs_and_reproducible(mnist):
    digits = mnist.x_train[:20]
    a = pen_variants(digits, np.random.default_rng(1))
    b = pen_variants(digits, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (20, 28, 28) and a.dtype == np.uint8 and (a.max(axis=(1, 2)) == 255).all()
    thin, thick = pen_variant(digits[0], 0.01), pen_variant(digits[0], 0.3)
    # both end inside MNIST's range: the hairline redrawn wider, the marker narrower
    for x in (thin, thick):
        assert KEEP[0] - 0.03 <= mnist_widths(x[None])[0] <= KEEP[1] + 0.03
