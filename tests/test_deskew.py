"""Deskewing by image moments: slanted strokes come out upright, upright ones unchanged."""

import numpy as np
import pytest

from digitnet.images import MAX_SLANT, deskew


def moments(image: np.ndarray) -> tuple[float, float, float]:
    """(centre row, centre column, covariance of x and y) of one (28, 28) image."""
    x = image.astype(np.float64)
    rows, cols = np.indices(x.shape)
    mass = x.sum()
    cy, cx = (rows * x).sum() / mass, (cols * x).sum() / mass
    return cy, cx, ((rows - cy) * (cols - cx) * x).sum() / mass


def slanted_bar(slope: float) -> np.ndarray:
    """A 3-pixel-wide bar from row 4 to row 23 whose column moves `slope` per row."""
    rows, cols = np.indices((28, 28))
    centre = 14 + slope * (rows - 13.5)
    bar = (np.abs(cols - centre) <= 1.5) & (rows >= 4) & (rows <= 23)
    return np.where(bar, 255, 0).astype(np.uint8)


@pytest.mark.parametrize("slope", [-0.5, -0.25, 0.3, 0.6])
def test_a_sheared_bar_becomes_upright(slope):
    bar = slanted_bar(slope)
    assert abs(moments(bar)[2]) > 5  # really slanted
    straight = deskew(bar.astype(np.float32))
    cy, cx, cov = moments(straight)
    assert abs(cov) < 0.3
    # upright: every row's ink sits in the same columns, around the old centre of mass
    inked = [np.flatnonzero(row > 127).mean() for row in straight[6:22]]
    assert np.ptp(inked) <= 1.0
    np.testing.assert_allclose((cy, cx), moments(bar)[:2], atol=0.3)


def test_an_upright_symmetric_digit_is_unchanged():
    zero = np.zeros((28, 28), np.uint8)
    rows, cols = np.indices((28, 28))
    ring = np.abs(np.hypot((rows - 14) / 9, (cols - 14) / 6) - 1) < 0.2  # an upright 0
    zero[ring] = 255
    np.testing.assert_array_equal(deskew(zero), zero)


def test_shapes_and_dtypes(mnist):
    batch = mnist.x_train[:5]
    out = deskew(batch)
    assert out.shape == (5, 28, 28) and out.dtype == np.uint8
    one = deskew(batch[0].astype(np.float64))
    assert one.shape == (28, 28) and one.dtype == np.float32
    np.testing.assert_allclose(one, out[0], atol=0.51)  # the same image, unrounded
    empty = deskew(np.zeros((0, 28, 28), np.uint8))
    assert empty.shape == (0, 28, 28)


def test_blank_images_and_extreme_slants_are_safe():
    np.testing.assert_array_equal(deskew(np.zeros((2, 28, 28))), 0)
    line = np.zeros((28, 28), np.float32)
    line[14, 3:25] = 255  # horizontal: no vertical spread to measure a slant with
    assert np.isfinite(deskew(line)).all()
    out = deskew(slanted_bar(3.0))  # far past MAX_SLANT: corrected only that far
    assert np.isfinite(out).all() and out.max() > 0 and MAX_SLANT == 1.0


def test_it_straightens_mnist_and_keeps_ink(mnist):
    x = mnist.x_train[:200].astype(np.float32)
    out = deskew(x)
    before = np.abs([moments(i)[2] for i in x]).mean()
    after = np.abs([moments(i)[2] for i in out]).mean()
    assert after < 0.2 * before
    np.testing.assert_allclose(out.sum(axis=(1, 2)), x.sum(axis=(1, 2)), rtol=0.1)

