"""The robust preset's pieces: outlier exposure, the rejection threshold, deskewed training."""

import numpy as np
import pytest

from digitnet import Classifier, network, nondigits, preset, reject, train
from digitnet.inputs import network_inputs


def test_robust_preset_is_a_valid_config():
    config = preset("robust")
    assert config.preset == "robust" and config.deskew
    assert config.outliers > 0 and 0 < config.reject_rate < 0.01
    assert config.augmentation.active and config.augmentation.refit
    assert preset("robust", epochs=1).epochs == 1


def test_not_a_digit_label_targets_the_uniform_distribution():
    z = np.array([[3.0, 0, 0, 0, 0, 0, 0, 0, 0, -1], [0, 2.0, 0, 0, 0, 0, 0, 0, 0, 0]])
    y = np.array([network.NOT_A_DIGIT, 1])
    goal = network.targets(y, 10, np.float64)
    np.testing.assert_allclose(goal[0], 0.1)
    np.testing.assert_array_equal(goal[1], np.eye(10)[1])
    loss, dz = network.softmax_cross_entropy(z, y)
    p = network.softmax(z)
    np.testing.assert_allclose(dz * 2, p - goal)
    np.testing.assert_allclose(loss, -(goal * np.log(p)).sum() / 2)
    # the uniform target is met by equal logits, where its gradient vanishes
    _, flat = network.softmax_cross_entropy(np.zeros((1, 10)), y[:1])
    np.testing.assert_allclose(flat, 0, atol=1e-12)


@pytest.fixture(scope="module")
def digits_and_others(mnist):
    others = nondigits.training_set(300, np.random.default_rng(99))
    return mnist.x_train[:3000], mnist.y_train[:3000], others


def test_outlier_exposure_lowers_scores_of_non_digits(digits_and_others):
    x, y, others = digits_and_others
    plain, exposed = (Classifier(hidden=64, epochs=4, val_split=500, outliers=share,
                                 reject_rate=0.02).fit(x, y) for share in (0.0, 0.2))
    for clf in (plain, exposed):
        threshold = clf.model_.metadata["reject_threshold"]
        assert 0 < threshold < 1
    def declined(clf):
        threshold = clf.model_.metadata["reject_threshold"]
        return np.mean(clf.predict_proba(others).max(axis=1) < threshold)
    assert declined(exposed) > declined(plain) + 0.2
    assert exposed.score(x[:500], y[:500]) > 0.85  # it still reads digits


def test_reject_threshold_declines_the_asked_share_of_validation_digits(mnist):
    x, y = mnist.x_train[:2000], mnist.y_train[:2000]
    config = preset("fast", hidden=32, epochs=2, val_split=400, reject_rate=0.05)
    result = train.fit(config, x, y)
    _, held = train.validation_indices(len(x), 400, np.random.default_rng([config.seed, 1]))
    scores = reject.digit_scores(result.params, network_inputs(x[held], config))
    assert np.mean(scores < result.reject_threshold) == pytest.approx(0.05, abs=0.005)
    assert train.fit(preset("fast", hidden=32, epochs=1, val_split=400), x,
                     y).reject_threshold is None


def test_deskewed_training_is_deterministic(mnist):
    x, y = mnist.x_train[:1000], mnist.y_train[:1000]
    config = preset("fast", hidden=16, epochs=1, val_split=200, deskew=True, outliers=0.1,
                    aug_pen=1.0, aug_blur=0.5, aug_refit=True, threads=1)  # see threads.py
    a, b = (train.fit(config, x, y).params for _ in range(2))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_fragments_join_the_non_digits_in_their_own_share(mnist):
    x, y = mnist.x_train[:1000], mnist.y_train[:1000]
    images, labels = nondigits.with_outliers(x, y, 0.2, 0.1, preset("robust").seed)
    total = 1000 / 0.7
    assert len(images) == round(total)
    assert (labels == network.NOT_A_DIGIT).sum() == round(total * 0.2) + round(total * 0.1)
    np.testing.assert_array_equal(images[:1000], x)
    with pytest.raises(ValueError, match="outliers \\+ fragments must be < 1"):
        preset("robust", outliers=0.6, fragments=0.4)
