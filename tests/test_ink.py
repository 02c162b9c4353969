"""ink.py: polarity, uneven light and noise, on pictures made with known answers."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from digitnet import ImageError
from digitnet.ink import dark_on_light, ink_image, paper_light, read_paper


def seven(size=600, pen=14, paper=235, ink=30):
    """A 7 drawn dark on light paper -> (picture (H, W) float32, its stroke mask)."""
    canvas = Image.new("L", (size, size), 0)
    ImageDraw.Draw(canvas).line([(200, 150), (400, 150), (260, 450)], fill=255, width=pen)
    mask = np.asarray(canvas) > 127
    return np.where(mask, ink, paper).astype(np.float32), mask


def shadow(shape, depth=0.55, blur=30):
    """A light multiplier (H, W): the left half in a soft-edged shadow."""
    h, w = shape
    region = Image.new("L", (w, h), 0)
    ImageDraw.Draw(region).rectangle((0, 0, w // 2, h), fill=255)
    region = np.asarray(region.filter(ImageFilter.GaussianBlur(blur)), np.float32) / 255
    return 1 - depth * region


def test_a_digit_in_a_shadow_is_found_and_the_shadow_is_not_ink():
    picture, mask = seven()
    shaded = picture * shadow(picture.shape)
    assert paper_light(shaded) is not None  # uneven: the light is evened out
    ink = ink_image(shaded)
    strong = ink > 0.25 * 255
    assert strong[mask].mean() > 0.9  # the 7's strokes, in and out of the shadow
    assert strong[~mask].mean() < 0.001  # and nothing else, the shadow's edge included
    # the frame-only estimate of old, one level for the whole page, found only the
    # shadow's edge here and none of the 7 inside it: the ink in shadow is as strong
    inside = mask.copy()
    inside[:, 300:] = False
    assert ink[inside].mean() > 0.7 * ink[mask & ~inside].mean()


def test_a_blank_page_with_a_shadow_is_blank():
    page = np.full((500, 700), 230, np.float32) * shadow((500, 700))
    page += np.random.default_rng(0).normal(0, 2, page.shape)
    with pytest.raises(ImageError, match="blank image"):
        ink_image(np.clip(page, 0, 255))


def test_even_light_is_read_from_the_frame_as_before():
    picture, mask = seven()
    assert paper_light(picture) is None
    paper = read_paper(picture)
    assert paper.light is None and not paper.inverted
    ink = ink_image(picture)
    assert ink[mask].min() == 255 and ink[~mask].max() == 0


def test_dark_mode_and_a_frame_crossed_by_the_table():
    picture, _ = seven()
    assert not dark_on_light(255 - picture)
    np.testing.assert_allclose(ink_image(255 - picture), ink_image(picture), atol=1e-3)
    dim, _ = seven(paper=150, ink=20)  # a dim photo: the paper is mid-grey ...
    dim[:, :120] = 45  # ... and the table shows beyond its edge: the frame says little
    assert dark_on_light(dim)  # the strokes still tell: dark ink on lighter paper
    assert not dark_on_light(255 - dim)


def test_a_region_made_at_full_resolution_matches_the_whole():
    picture, _ = seven()
    shaded = picture * shadow(picture.shape)
    paper = read_paper(shaded)
    whole = paper.ink(shaded)
    box = (slice(120, 480), slice(180, 430))
    np.testing.assert_allclose(paper.ink(shaded[box], box=box), whole[box], atol=1.0)
