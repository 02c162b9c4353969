"""Classification metrics: pure NumPy functions of labels, predictions and probabilities.

    confusion_matrix      labels (n,), predictions (n,)   -> counts (k, k), rows = true class
    accuracy              confusion (k, k)                -> share of the diagonal
    precision_recall_f1   confusion (k, k)                -> three (k,) arrays
    most_confused_pairs   confusion (k, k)                -> the largest off-diagonal cells
    log_loss              probabilities (n, k), labels    -> mean -log p(true class)
    confidence            probabilities (n, k)            -> (n,) largest probability per row
    confident_mistakes    probabilities, labels           -> rows wrongly predicted, surest first

Everything is computed from arrays the caller passes in; nothing here knows about models,
files or printing (evaluation.py runs a model and formats the figures). Where a ratio has
a zero denominator (a class that is never predicted has no precision), the value is 0, as
scikit-learn does with `zero_division=0`; the support and counts tell the reader why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check_labels(name: str, values: np.ndarray, n_classes: int) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array, got shape {values.shape}")
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must hold integer classes, got dtype {values.dtype}")
    if values.size and (values.min() < 0 or values.max() >= n_classes):
        bad = values[(values < 0) | (values >= n_classes)][0]
        raise ValueError(f"{name} must be in 0..{n_classes - 1}, got {bad}")
    return values.astype(np.int64)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray,
                     n_classes: int = 10) -> np.ndarray:
    """Counts (n_classes, n_classes) int64: entry [t, p] = images of class t predicted as p.

    labels (n,) and predictions (n,) are integer classes in 0..n_classes-1. Rows sum to
    each class's support, columns to how often each class was predicted, and the whole
    matrix to n.
    """
    labels = _check_labels("labels", labels, n_classes)
    predictions = _check_labels("predictions", predictions, n_classes)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} differ "
                         "in length")
    cells = np.bincount(labels * n_classes + predictions, minlength=n_classes * n_classes)
    return cells.reshape(n_classes, n_classes)


def _check_confusion(confusion: np.ndarray) -> np.ndarray:
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a square matrix, got shape {confusion.shape}")
    return confusion


def accuracy(confusion: np.ndarray) -> float:
    """Share of correct predictions, 0..1: trace / sum of the confusion matrix (k, k)."""
    confusion = _check_confusion(confusion)
    total = confusion.sum()
    if total == 0:
        raise ValueError("accuracy of an empty confusion matrix (no samples) is undefined")
    return float(np.trace(confusion) / total)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise as float64, with 0 where the denominator is 0."""
    out = np.zeros(numerator.shape, np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def precision_recall_f1(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall and F1, each (k,) float64 in 0..1, from confusion (k, k).

    precision[c] = correct c / predicted c        (column sum)
    recall[c]    = correct c / true c             (row sum, the support)
    f1[c]        = harmonic mean of the two = 2 * correct / (predicted + true)
    A zero denominator gives 0 (see the module docstring).
    """
    confusion = _check_confusion(confusion)
    correct = np.diag(confusion)
    predicted, true = confusion.sum(axis=0), confusion.sum(axis=1)
    return (_ratio(correct, predicted), _ratio(correct, true),
            _ratio(2 * correct, predicted + true))


@dataclass(frozen=True)
class ConfusedPair:
    """One off-diagonal cell: `count` images of class `true` were predicted as `predicted`."""

    true: int
    predicted: int
    count: int
    share: float  # count / support of `true`, 0..1


def most_confused_pairs(confusion: np.ndarray, top: int = 10) -> list[ConfusedPair]:
    """The `top` largest off-diagonal cells of confusion (k, k), largest first.

    Only cells with at least one mistake are listed, so fewer than `top` may come back.
    Ties are broken by (true, predicted) order, so the list is deterministic.
    """
    confusion = _check_confusion(confusion)
    if top < 0:
        raise ValueError(f"top must be >= 0, got {top}")
    k = len(confusion)
    off = confusion.astype(np.int64)
    off[np.arange(k), np.arange(k)] = 0
    flat = off.ravel()
    order = np.lexsort((np.arange(flat.size), -flat))  # by count desc, then cell index
    support = confusion.sum(axis=1)
    pairs = []
    for cell in order[:top]:
        if flat[cell] == 0:
            break
        t, p = divmod(int(cell), k)
        pairs.append(ConfusedPair(t, p, int(flat[cell]), float(flat[cell] / support[t])))
    return pairs


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy -log p[i, labels[i]] over the rows of probabilities (n, k).

    Probabilities are clipped below at the dtype's smallest positive normal number, so a
    zero never produces an infinite loss.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be (n, k), got shape {probabilities.shape}")
    labels = _check_labels("labels", labels, probabilities.shape[1])
    if len(labels) != len(probabilities) or not len(labels):
        raise ValueError(f"need one label per row: {len(probabilities)} rows, "
                         f"{len(labels)} labels")
    tiny = np.finfo(probabilities.dtype if probabilities.dtype.kind == "f" else np.float64).tiny
    p_true = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.maximum(p_true, tiny).astype(np.float64))))


def confidence(probabilities: np.ndarray) -> np.ndarray:
    """The predicted class's probability (n,) for each row of probabilities (n, k)."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be (n, k), got shape {probabilities.shape}")
    return probabilities.max(axis=1)


def confident_mistakes(probabilities: np.ndarray, labels: np.ndarray, top: int) -> np.ndarray:
    """Row indices (m,) of the `top` misclassified rows the model was surest of, surest first.

    probabilities (n, k), labels (n,). A row is misclassified when its largest probability
    is not at its label; m = min(top, number of misclassified rows). Ties keep row order.
    """
    probabilities = np.asarray(probabilities)
    labels = _check_labels("labels", labels, probabilities.shape[1])
    if top < 0:
        raise ValueError(f"top must be >= 0, got {top}")
    wrong = np.flatnonzero(probabilities.argmax(axis=1) != labels)
    order = np.argsort(-confidence(probabilities)[wrong], kind="stable")
    return wrong[order[:top]]
