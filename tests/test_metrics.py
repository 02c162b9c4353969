"""metrics.py: small cases worked by hand, and random cases against plain-loop references."""

import numpy as np
import pytest

from digitnet import metrics
from digitnet.evaluation import unit_importance


def test_hand_worked_three_class_case():
    # true:      0  0  1  2     predicted: 0  1  1  1
    confusion = metrics.confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert confusion.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert metrics.accuracy(confusion) == 0.5
    precision, recall, f1 = metrics.precision_recall_f1(confusion)
    # class 0: 1 of 1 predicted right, 1 of 2 found; class 1: 1 of 3, 1 of 1; class 2: never
    # predicted, so precision 0 by convention, and 0 of 1 found.
    np.testing.assert_allclose(precision, [1, 1 / 3, 0])
    np.testing.assert_allclose(recall, [1 / 2, 1, 0])
    np.testing.assert_allclose(f1, [2 / 3, 1 / 2, 0])
    pairs = metrics.most_confused_pairs(confusion)
    assert [(p.true, p.predicted, p.count) for p in pairs] == [(0, 1, 1), (2, 1, 1)]
    assert [p.share for p in pairs] == [0.5, 1.0]


def test_random_labels_against_loops(rng):
    labels, predictions = rng.integers(0, 10, 5000), rng.integers(0, 10, 5000)
    confusion = metrics.confusion_matrix(labels, predictions)
    expected = np.zeros((10, 10), int)
    for t, p in zip(labels, predictions, strict=True):
        expected[t, p] += 1
    np.testing.assert_array_equal(confusion, expected)
    assert confusion.sum() == 5000
    assert metrics.accuracy(confusion) == pytest.approx(np.mean(labels == predictions))
    precision, recall, f1 = metrics.precision_recall_f1(confusion)
    for c in range(10):
        hits = np.sum((labels == c) & (predictions == c))
        p, r = hits / np.sum(predictions == c), hits / np.sum(labels == c)
        assert precision[c] == pytest.approx(p)
        assert recall[c] == pytest.approx(r)
        assert f1[c] == pytest.approx(2 * p * r / (p + r))
    pairs = metrics.most_confused_pairs(confusion, top=5)
    off_diagonal = sorted(((expected[t, p], t, p) for t in range(10) for p in range(10)
                           if t != p), key=lambda cell: (-cell[0], cell[1], cell[2]))
    assert [(p.count, p.true, p.predicted) for p in pairs] == off_diagonal[:5]


def test_no_mistakes_means_no_pairs():
    confusion = metrics.confusion_matrix(np.arange(10), np.arange(10))
    assert metrics.most_confused_pairs(confusion) == []
    assert metrics.accuracy(confusion) == 1.0


def test_log_loss_and_confidence():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.0, 1.0, 0.0]])
    labels = np.array([0, 1, 1])
    assert metrics.log_loss(probabilities, labels) == pytest.approx(
        -(np.log(0.7) + np.log(0.1) + np.log(1.0)) / 3)
    np.testing.assert_allclose(metrics.confidence(probabilities), [0.7, 0.8, 1.0])
    # a zero probability for the true class is clipped, never infinite
    assert np.isfinite(metrics.log_loss(probabilities, np.array([2, 0, 0])))


def test_confident_mistakes_are_wrong_rows_surest_first():
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.55, 0.45], [0.7, 0.3]])
    labels = np.array([0, 0, 0, 1, 1])  # rows 1, 2, 3, 4 are wrong, with 0.6, 0.8, 0.55, 0.7
    assert metrics.confident_mistakes(probabilities, labels, 3).tolist() == [2, 4, 1]
    assert metrics.confident_mistakes(probabilities, labels, 10).tolist() == [2, 4, 1, 3]


def test_unit_importance_is_activation_times_outgoing_norm():
    w2 = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]])  # norms 5, 1, 0
    np.testing.assert_allclose(unit_importance(np.array([0.5, 2.0, 9.0]), w2), [2.5, 2.0, 0.0])


@pytest.mark.parametrize("labels, predictions, message", [
    ([0, 10], [0, 1], "labels must be in 0..9, got 10"),
    ([0, 1], [0, -1], "predictions must be in 0..9, got -1"),
    ([0, 1], [0], "differ in length"),
    ([0.5, 1.0], [0, 1], "integer classes"),
])
def test_bad_labels_are_rejected_with_the_value(labels, predictions, message):
    with pytest.raises(ValueError, match=message):
        metrics.confusion_matrix(np.array(labels), np.array(predictions))
