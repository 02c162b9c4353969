"""Evaluate a trained model on a labelled image set, and lay the figures out as text or JSON.

    evaluate_model   run the network once over the images; keep outputs, probabilities,
                     mean hidden activations, and every metric from metrics.py
    Evaluation       those results; `.to_dict()` is the JSON `digitnet evaluate --json` writes
    format_text      the plain-text report `digitnet evaluate` prints (fits 80 columns)
    unit_importance  how much each hidden unit contributes to the outputs, on average

The arithmetic lives in metrics.py (pure functions) and network.py (the forward pass);
this module only runs them on a model and arranges the results. Plots are in report.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import metrics, network
from .inputs import forward_pixels
from .model import Model

TOP_PAIRS = 10  # how many of the most confused (true, predicted) pairs to list


@dataclass
class Evaluation:
    """A model's results on one labelled set of n images, k = 10 classes, H hidden units."""

    labels: np.ndarray  # (n,) true classes
    outputs: np.ndarray  # (n, k) network outputs z (logits, or scores for squared error)
    probabilities: np.ndarray  # (n, k) softmax of the outputs, as Model.predict_proba gives
    predictions: np.ndarray  # (n,) argmax of the outputs
    mean_activation: np.ndarray  # (H,) each hidden unit's mean ReLU output over the images
    loss_function: str  # the loss the model was trained with
    loss: float  # mean of that loss over the images (what `digitnet train` prints)
    source: str = ""  # where the images came from
    reject_threshold: float = 0.0  # the model's: digit scores below it are "not a digit"
    confusion: np.ndarray = field(init=False)  # (k, k) counts, rows = true class
    precision: np.ndarray = field(init=False)  # (k,)
    recall: np.ndarray = field(init=False)  # (k,)
    f1: np.ndarray = field(init=False)  # (k,)
    accuracy: float = field(init=False)
    log_loss: float = field(init=False)  # cross-entropy of the probabilities
    pairs: list[metrics.ConfusedPair] = field(init=False)

    def __post_init__(self) -> None:
        k = self.outputs.shape[1]
        self.confusion = metrics.confusion_matrix(self.labels, self.predictions, k)
        self.precision, self.recall, self.f1 = metrics.precision_recall_f1(self.confusion)
        self.accuracy = metrics.accuracy(self.confusion)
        self.log_loss = metrics.log_loss(self.probabilities, self.labels)
        self.pairs = metrics.most_confused_pairs(self.confusion, TOP_PAIRS)

    @property
    def support(self) -> np.ndarray:
        """(k,) number of images of each true class."""
        return self.confusion.sum(axis=1)

    @property
    def declined(self) -> float:
        """The fraction of the images the model declines as not a digit (their digit
        score, the largest probability, is below reject_threshold); all of them are digits."""
        return float((self.probabilities.max(axis=1) < self.reject_threshold).mean())

    @property
    def n_errors(self) -> int:
        return int(self.confusion.sum() - np.trace(self.confusion))

    def to_dict(self) -> dict[str, Any]:
        """The figures as plain JSON-ready values (floats are 0..1 ratios, not percents)."""
        return {
            "data_source": self.source,
            "images": len(self.labels),
            "errors": self.n_errors,
            "test_accuracy": self.accuracy,
            "test_loss": self.loss,
            "loss_function": self.loss_function,
            "test_log_loss": self.log_loss,
            "reject_threshold": self.reject_threshold,
            "declined": self.declined,
            "per_class": [
                {"class": c, "precision": float(self.precision[c]),
                 "recall": float(self.recall[c]), "f1": float(self.f1[c]),
                 "support": int(self.support[c])}
                for c in range(len(self.confusion))
            ],
            "macro_average": {"precision": float(self.precision.mean()),
                              "recall": float(self.recall.mean()),
                              "f1": float(self.f1.mean())},
            "confusion_matrix": self.confusion.tolist(),
            "confusion_matrix_layout": "rows are true classes, columns predicted classes",
            "most_confused_pairs": [
                {"true": p.true, "predicted": p.predicted, "count": p.count, "share": p.share}
                for p in self.pairs
            ],
        }


def evaluate_model(model: Model, images: np.ndarray, labels: np.ndarray,
                   source: str = "") -> Evaluation:
    """Run `model` over images (n, 28, 28) uint8 with labels (n,) and compute every figure."""
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) != len(labels) or not len(labels):
        raise ValueError(f"need one label per image: {len(images)} images, {len(labels)} labels")
    outputs, activation_sum = [], None
    # the images become network inputs a batch at a time: never a float copy of them all
    for h, z in forward_pixels(model.params, images, model.config):  # (b, H), (b, 10)
        outputs.append(z)
        batch_sum = h.sum(axis=0, dtype=np.float64)
        activation_sum = batch_sum if activation_sum is None else activation_sum + batch_sum
        del h  # before the next batch's hidden layer exists
    z = np.concatenate(outputs)
    loss = network.LOSSES[model.config.loss](z, labels)[0]
    return Evaluation(labels=labels.astype(np.int64), outputs=z, probabilities=network.softmax(z),
                      predictions=z.argmax(axis=1), mean_activation=activation_sum / len(z),
                      loss_function=model.config.loss, loss=float(loss), source=source,
                      reject_threshold=model.reject_threshold)


def unit_importance(mean_activation: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """How strongly each hidden unit drives the outputs on average: (H,) >= 0.

    importance[j] = mean ReLU output of unit j over the images (H,)
                    x Euclidean norm of its outgoing weights W2[j, :] (W2 is (H, 10)).
    A unit that rarely fires, or whose votes for the ten classes are all tiny, matters
    little however striking its input weights look; this product is the typical size of
    the unit's contribution h_j * W2[j] to the output vector.
    """
    mean_activation, w2 = np.asarray(mean_activation), np.asarray(w2)
    if w2.ndim != 2 or mean_activation.shape != (w2.shape[0],):
        raise ValueError(f"need mean_activation (H,) and W2 (H, k); got "
                         f"{mean_activation.shape} and {w2.shape}")
    return mean_activation * np.linalg.norm(w2.astype(np.float64), axis=1)


def format_text(ev: Evaluation) -> str:
    """The report `digitnet evaluate` prints: headline, per-class table, matrix, pairs.

    Every line is at most 80 characters wide for 10 classes and up to 99,999 images.
    """
    n = len(ev.labels)
    loss_note = f"test loss {ev.loss:.4f} ({ev.loss_function})"
    if ev.loss_function != "cross_entropy":
        loss_note += f"  log loss {ev.log_loss:.4f}"
    lines = [f"test accuracy {100 * ev.accuracy:.2f}%  {loss_note}",
             f"{n} images from {ev.source or 'unknown source'}, {ev.n_errors} misclassified",
             *([f"declined as not a digit: {100 * ev.declined:.2f}% (digit score below "
                f"{ev.reject_threshold:.4g}; not counted below)"]
               if ev.reject_threshold > 0 else []),
             "", "per-class precision, recall and F1",
             f"{'class':>5}  {'precision':>9}  {'recall':>7}  {'F1':>7}  {'support':>7}"]
    for c in range(len(ev.confusion)):
        lines.append(f"{c:>5}  {ev.precision[c]:>9.4f}  {ev.recall[c]:>7.4f}  "
                     f"{ev.f1[c]:>7.4f}  {ev.support[c]:>7}")
    lines.append(f"{'mean':>5}  {ev.precision.mean():>9.4f}  {ev.recall.mean():>7.4f}  "
                 f"{ev.f1.mean():>7.4f}  {n:>7}")

    k = len(ev.confusion)
    rule = "-" * 6 + "+" + "-" * (6 * k + 1) + "+" + "-" * 7
    lines += ["", "confusion matrix (rows: true class, columns: predicted class)",
              " true |" + "".join(f"{c:>6}" for c in range(k)) + " | total", rule]
    for t in range(k):
        cells = "".join(f"{v:>6}" for v in ev.confusion[t])
        lines.append(f"{t:>5} |{cells} | {ev.support[t]:>5}")
    lines += [rule, "total |" + "".join(f"{v:>6}" for v in ev.confusion.sum(axis=0))
              + f" | {n:>5}"]

    lines += ["", "most confused pairs (true -> predicted)"]
    if not ev.pairs:
        lines.append("  none: every image was classified correctly")
    for p in ev.pairs:
        lines.append(f"  {p.true} -> {p.predicted}  {p.count:>5} images  "
                     f"({100 * p.share:.2f}% of the {ev.support[p.true]} images of class {p.true})")
    return "\n".join(lines)
