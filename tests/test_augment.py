"""Augmentation: shapes, determinism, identities, mass, and SciPy as the reference."""

import numpy as np
import pytest

from digitnet import augment
from digitnet.augment import Augmentation

STRONG = Augmentation(rotation=12, scale=0.12, shear=10, translate=2.5, elastic_alpha=34,
                      elastic_sigma=5)


def test_shape_dtype_and_range(mnist):
    out = augment.augment(mnist.x_train[:300], np.random.default_rng(0), STRONG)
    assert out.shape == (300, 28, 28) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255


def test_same_seed_same_images_other_seed_differs(mnist):
    images = mnist.x_train[:50]
    a = augment.augment(images, np.random.default_rng(3), STRONG)
    b = augment.augment(images, np.random.default_rng(3), STRONG)
    c = augment.augment(images, np.random.default_rng(4), STRONG)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 50


def test_nothing_active_is_the_identity(mnist):
    images = mnist.x_train[:20]
    out = augment.augment(images, np.random.default_rng(0), Augmentation())
    np.testing.assert_array_equal(out, images)


def test_elastic_with_alpha_zero_resamples_exactly(mnist):
    # a vanishing shift forces the full resampling path; with alpha 0 nothing moves
    images = mnist.x_train[:20]
    aug = Augmentation(translate=1e-12, elastic_alpha=0.0)
    out = augment.augment(images, np.random.default_rng(0), aug)
    np.testing.assert_allclose(out, images, atol=1e-3)


def test_mass_is_roughly_preserved(mnist):
    images = mnist.x_train[:500]
    aug = Augmentation(rotation=10, shear=8, translate=2, elastic_alpha=34, elastic_sigma=5)
    out = augment.augment(images, np.random.default_rng(1), aug)
    ratio = out.sum(axis=(1, 2)) / images.sum(axis=(1, 2))
    # an affine map keeps the ink (determinant ~1); an elastic field stretches some strokes
    # and squeezes others, so single images change by up to about a quarter
    assert 0.95 < np.median(ratio) < 1.05
    assert (np.abs(ratio - 1) < 0.25).mean() > 0.95
    affine_only = augment.augment(images, np.random.default_rng(1),
                                  Augmentation(rotation=10, shear=8, translate=2))
    affine_ratio = affine_only.sum(axis=(1, 2)) / images.sum(axis=(1, 2))
    assert np.percentile(np.abs(affine_ratio - 1), 99) < 0.05


def test_elastic_displacements_are_smooth_and_scaled():
    field = augment.elastic_field(np.random.default_rng(0), 200, alpha=34, sigma=5)
    assert field.shape == (200, 2, 28, 28)
    neighbour = np.abs(np.diff(field, axis=3)).mean()
    assert neighbour < 0.2 * np.abs(field).mean()  # neighbours move together
    assert 0.3 < np.abs(field).mean() < 5  # a few pixels at most
    doubled = augment.elastic_field(np.random.default_rng(0), 200, alpha=68, sigma=5)
    np.testing.assert_allclose(doubled, 2 * field, rtol=1e-5, atol=1e-5)


def test_gaussian_matrix_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(0)
    noise = rng.uniform(-1, 1, (28, 28))
    for sigma in (2.0, 5.0):
        k = augment.gaussian_matrix(sigma)
        expected = ndimage.gaussian_filter(noise, sigma, mode="constant", truncate=20)
        np.testing.assert_allclose(k @ noise @ k.T, expected, atol=1e-12)


def test_bilinear_matches_scipy_map_coordinates(mnist):
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(0)
    images = mnist.x_train[:6]
    sy, sx = rng.uniform(-3, 30, (2, 6, 28, 28))
    expected = np.stack([
        ndimage.map_coordinates(image.astype(np.float64), [y, x], order=1, mode="constant")
        for image, y, x in zip(images, sy, sx, strict=True)])
    np.testing.assert_allclose(augment.bilinear(images, sy, sx), expected, atol=2e-3)


def test_rotation_by_a_known_angle_moves_a_pixel_where_expected():
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 13, 24] = 255  # right of the centre (13.5, 13.5)
    rng = np.random.default_rng(0)
    m = augment.affine_matrices(rng, 1, Augmentation(rotation=90))
    angle = np.degrees(np.arctan2(m[0, 1, 0], m[0, 0, 0]))
    out = augment.augment(image, np.random.default_rng(0), Augmentation(rotation=90))
    y, x = np.unravel_index(out[0].argmax(), (28, 28))
    # the output pixel (y, x) reads the source at A (y - c, x - c) + c: that is the ink
    src = m[0, :, :2] @ np.array([y - 13.5, x - 13.5]) + 13.5
    assert np.allclose(src, [13, 24], atol=1.0), (angle, src)


def test_bad_settings_are_rejected_by_name():
    with pytest.raises(ValueError, match="rotation must be >= 0, got -1"):
        Augmentation(rotation=-1)
    with pytest.raises(ValueError, match="scale must be < 1"):
        Augmentation(scale=1.5)
    with pytest.raises(ValueError, match="elastic_sigma must be > 0"):
        Augmentation(elastic_sigma=0)


def test_sample_grid_puts_originals_first(mnist):
    images = mnist.x_train[:3]
    grid = augment.sample_grid(images, np.random.default_rng(0), STRONG, copies=4, gap=2)
    assert grid.shape == (3 * 30 + 2, 5 * 30 + 2) and grid.dtype == np.uint8
    for r in range(3):
        np.testing.assert_array_equal(grid[2 + 30 * r : 30 + 30 * r, 2:30], images[r])
        assert not np.array_equal(grid[2 + 30 * r : 30 + 30 * r, 32:60], images[r])


def test_augment_command_writes_a_png(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    out = tmp_path / "grid.png"
    done = subprocess.run([sys.executable, "-m", "digitnet", "augment", "--out", str(out),
                           "--samples", "4", "--copies", "5", "--elastic-alpha", "20"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with Image.open(out) as picture:
        assert picture.size == (3 * (6 * 30 + 2), 3 * (4 * 30 + 2))
    bad = subprocess.run([sys.executable, "-m", "digitnet", "augment", "--out",
                          str(tmp_path / "missing" / "g.png")], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "cannot write" in bad.stderr


# ---- pen width, binarization, blur, aspect and refit (issue 14) -------------------------

WRITERS = Augmentation(aspect=0.3, pen=1.5, binarize=0.5, blur=1.0, refit=True)


@pytest.mark.parametrize("aug", [WRITERS, Augmentation(pen=1.0), Augmentation(blur=1.0),
                                 Augmentation(binarize=1.0), Augmentation(aspect=0.3),
                                 Augmentation(refit=True)])
def test_each_new_step_keeps_shape_and_is_seeded(mnist, aug):
    images = mnist.x_train[:64]
    a = augment.augment(images, np.random.default_rng(5), aug)
    b = augment.augment(images, np.random.default_rng(5), aug)
    assert a.shape == (64, 28, 28) and a.dtype == np.float32
    assert np.isfinite(a).all() and a.min() >= -1e-3 and a.max() <= 255 + 1e-3
    np.testing.assert_array_equal(a, b)


def test_pen_width_thickens_and_thins(mnist):
    images = mnist.x_train[:50].astype(np.float32)
    ink = (images > 127).sum()
    assert (augment.pen_width(images, np.full(50, 1.0)) > 127).sum() > 1.5 * ink
    assert (augment.pen_width(images, np.full(50, -0.5)) > 127).sum() < ink
    np.testing.assert_array_equal(augment.pen_width(images, np.zeros(50)), images)


def test_binarize_leaves_only_ink_and_paper(mnist):
    out = augment.binarize(mnist.x_train[:10], np.full(10, 0.5))
    assert set(np.unique(out)) == {0.0, 255.0}


def test_blur_spreads_ink_keeps_mass_and_zero_width_is_identity(mnist):
    images = mnist.x_train[:10].astype(np.float32)
    np.testing.assert_allclose(augment.blur(images, np.zeros(10)), images, atol=1e-3)
    blurred = augment.blur(images, np.full(10, 1.0))
    assert (blurred > 0).sum() > 1.3 * (images > 0).sum()
    np.testing.assert_allclose(blurred.sum(axis=(1, 2)), images.sum(axis=(1, 2)), rtol=0.02)


def test_refit_restores_the_box_and_centre(mnist):
    images = mnist.x_train[:100].astype(np.float32)
    # already normalized: at most shifted by a pixel, or faint specks outside the box dropped
    same = augment.refit(images, augment.box_size(images))
    assert np.abs(same - images).mean() < 1.0
    small = augment.augment(images, np.random.default_rng(0), Augmentation(scale=0.3))
    fixed = augment.refit(small, 20)
    assert (augment.box_size(fixed) >= 19).all() and (augment.box_size(fixed) <= 21).all()
    mass = fixed.sum(axis=(1, 2))
    rows = fixed.sum(axis=2) @ np.arange(28) / mass
    cols = fixed.sum(axis=1) @ np.arange(28) / mass
    assert np.abs(rows - 14).max() < 1 and np.abs(cols - 14).max() < 1
    np.testing.assert_allclose(fixed.max(axis=(1, 2)), 255, rtol=1e-5)
    np.testing.assert_array_equal(augment.refit(np.zeros((2, 28, 28))), 0)


def test_aspect_changes_width_not_height():
    bar = np.zeros((1, 28, 28), np.float32)
    bar[0, 8:20, 10:18] = 255
    out = augment.augment(np.repeat(bar, 20, axis=0), np.random.default_rng(2),
                          Augmentation(aspect=0.4))
    widths = (out > 127).any(axis=1).sum(axis=1)
    heights = (out > 127).any(axis=2).sum(axis=1)
    assert np.ptp(widths) >= 3 and np.ptp(heights) <= 1


def test_new_settings_are_checked_and_off_by_default():
    assert not Augmentation().active
    with pytest.raises(ValueError, match="binarize"):
        Augmentation(binarize=1.5)
    with pytest.raises(ValueError, match="pen"):
        Augmentation(pen=-1)


def test_binarize_leaves_a_blank_image_blank():
    out = augment.binarize(np.zeros((2, 28, 28)), np.array([0.5, 0.1]))
    assert out.max() == 0


# ---- writer styles: the continental 1 and the crossed 7 ---------------------------------


def test_draw_strokes_draws_a_segment_of_the_given_width():
    blank = np.zeros((1, 28, 28), np.float32)
    blank[0, 0, 0] = 200  # the peak sets the stroke's brightness
    out = augment.draw_strokes(blank, np.array([[14.0, 6.0]]), np.array([[14.0, 20.0]]),
                               np.array([3.0]))[0]
    assert out[14, 6:21].min() == 200 and out[13, 10] == 200 and out[15, 10] == 200
    assert out[11, 10] == 0 and out[17, 10] == 0  # 3 px wide: rows 13-15, edges ramp off
    assert out[14, 3] == 0 and out[14, 23] == 0  # it stops at its ends
    assert out[0, 0] == 200  # the old ink stays


def test_writer_styles_add_ink_to_chosen_ones_sevens_and_nines_only(mnist):
    images, labels = mnist.x_train[:400].astype(np.float32), mnist.y_train[:400]
    out = augment.writer_styles(images, labels, np.random.default_rng(0), rate=1.0)
    changed = np.abs(out - images).max(axis=(1, 2)) > 0
    styled = np.isin(labels, (1, 7, 9))
    assert changed[styled].all() and not changed[~styled].any()
    assert (out >= images).all()  # strokes are added, never taken away
    np.testing.assert_array_equal(out.max(axis=(1, 2)), images.max(axis=(1, 2)))
    added = (out - images)[styled].sum(axis=(1, 2)) / 255
    assert np.median(added) > 10  # a real stroke, not a speck
    none = augment.writer_styles(images, labels, np.random.default_rng(0), rate=0.0)
    np.testing.assert_array_equal(none, images)


def test_continental_one_is_wider_and_a_crossed_seven_has_ink_across_its_stem(mnist):
    ones = mnist.x_train[mnist.y_train == 1][:200].astype(np.float32)
    styled = augment.writer_styles(ones, np.ones(200), np.random.default_rng(1), rate=1.0)
    def widths(x):  # (n,) columns between the first and the last with ink
        _, _, c0, c1 = augment.ink_extent(x, 64 / 255)
        return c1 - c0

    assert np.median(widths(styled) - widths(ones)) >= 4
    sevens = mnist.x_train[mnist.y_train == 7][:200].astype(np.float32)
    crossed = augment.writer_styles(sevens, np.full(200, 7), np.random.default_rng(1), 1.0)
    added = crossed - sevens
    rows = added.sum(axis=2).argmax(axis=1)  # where most new ink went: the bar's row
    r0, r1, _, _ = augment.ink_extent(sevens)
    assert np.median((rows - r0) / (r1 - r0)) == pytest.approx(0.52, abs=0.1)
    nines = mnist.x_train[mnist.y_train == 9][:200].astype(np.float32)
    hooked = augment.writer_styles(nines, np.full(200, 9), np.random.default_rng(1), 1.0)
    _, r1, _, _ = augment.ink_extent(nines)
    foot = np.array([np.flatnonzero(n[r] > 64).mean() for n, r in zip(nines, r1, strict=True)])
    new = (hooked - nines) > 64
    lowest = np.array([np.flatnonzero(m.any(axis=1))[-1] for m in new])
    leftmost = np.array([np.flatnonzero(m.any(axis=0))[0] for m in new])
    assert np.median(lowest - r1) >= 0  # the tail starts at the foot of the stem ...
    assert np.median(foot - leftmost) >= 3  # ... and curls away to the left


def test_writer_styles_need_labels_and_are_seeded(mnist):
    images, labels = mnist.x_train[:100], mnist.y_train[:100]
    aug = Augmentation(styles=1.0)
    assert aug.active
    np.testing.assert_array_equal(augment.augment(images, np.random.default_rng(0), aug),
                                  images)  # without labels nothing is drawn
    a = augment.augment(images, np.random.default_rng(2), aug, labels=labels)
    b = augment.augment(images, np.random.default_rng(2), aug, labels=labels)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, images)
    with pytest.raises(ValueError, match="styles must be in"):
        Augmentation(styles=1.5)
