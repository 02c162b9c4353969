"""Generated non-digits: shapes, determinism, visible ink, and kinds kept out of training."""

import numpy as np
import pytest

from digitnet import nondigits


@pytest.mark.parametrize("kind", list(nondigits.KINDS))
def test_every_kind_draws_preprocessed_pictures_with_ink(kind):
    images = nondigits.generate(kind, 6, np.random.default_rng(0))
    assert images.shape == (6, 28, 28) and images.dtype == np.uint8
    assert (images.max(axis=(1, 2)) == 255).all()  # preprocess stretched real ink
    assert ((images > 64).sum(axis=(1, 2)) >= 10).all()
    assert len({im.tobytes() for im in images}) == 6  # all different


def test_same_seed_same_pictures():
    a = nondigits.training_set(40, np.random.default_rng(7))
    b = nondigits.training_set(40, np.random.default_rng(7))
    c = nondigits.training_set(40, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (40, 28, 28)


def test_validation_kinds_are_kept_out_of_training():
    held_out = set(nondigits.VALIDATION_KINDS) - {"scribble"}  # scribbles: a fresh seed
    assert held_out and not held_out & set(nondigits.TRAIN_KINDS)
    assert not set(nondigits.TRAIN_FONT_FAMILIES) & set(nondigits.VALIDATION_FONT_FAMILIES)
    assert abs(sum(nondigits.TRAIN_KINDS.values()) - 1) < 1e-9


def test_letters_that_look_like_digits_are_left_out():
    assert not set("OoDQIlijJZzSsbGTBgqyY") & set(nondigits.LETTERS)


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="'splotch'"):
        nondigits.picture("splotch", np.random.default_rng(0))


def test_letters_work_without_installed_fonts(monkeypatch, tmp_path):
    monkeypatch.setattr(nondigits, "FONT_DIR", tmp_path)
    nondigits.fonts.cache_clear()
    try:
        images = nondigits.generate("letters", 3, np.random.default_rng(0))
    finally:
        nondigits.fonts.cache_clear()
    assert images.shape == (3, 28, 28) and (images.max(axis=(1, 2)) == 255).all()


def test_fragments_are_pieces_of_wide_digits_drawn_again_from_the_seed(mnist):
    digits = mnist.x_train[:500]
    a = nondigits.fragments(digits, 50, np.random.default_rng(3))
    np.testing.assert_array_equal(a, nondigits.fragments(digits, 50, np.random.default_rng(3)))
    assert a.shape == (50, 28, 28) and a.dtype == np.uint8
    assert (a.max(axis=(1, 2)) == 255).all()  # run through preprocess_ink
    assert not {im.tobytes() for im in a} & {im.tobytes() for im in digits}
    ink = a > 64
    widths = 28 - ink.any(axis=1)[:, ::-1].argmax(axis=1) - ink.any(axis=1).argmax(axis=1)
    heights = 28 - ink.any(axis=2)[:, ::-1].argmax(axis=1) - ink.any(axis=2).argmax(axis=1)
    assert (widths >= 0.2 * heights).all()  # strokes as thin as a 1 are drawn again


def test_a_fragment_is_one_side_of_a_digit_or_two_sides_side_by_side():
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 4:24] = 255  # a solid 20 x 20 square: every cut leaves a solid block
    rng = np.random.default_rng(0)
    shapes = {nondigits.fragment(digit[None], rng).shape for _ in range(200)}
    assert all(h in range(20, 23) for h, _ in shapes)  # two sides: bottoms within 2 px
    widths = {w for _, w in shapes}
    assert min(widths) >= 6 and max(widths) <= 14 + 2 + 14  # cuts at 0.3-0.7 of 20 px
    assert any(w > 20 for w in widths) and any(w < 14 for w in widths)
