"""A scikit-learn style front to training: `Classifier(hidden=500).fit(x, y).score(xt, yt)`.

The estimator holds a `Config` (built from a preset plus keyword overrides) and, once
fitted, a `Model`; it adds no math of its own. The CLI's `train` command uses it too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from . import train
from .config import PRESETS, Config
from .constants import CLASSES
from .inputs import check_pixels
from .model import Model


class Classifier:
    """A 784-H-10 ReLU network for 28x28 digit images.

    Classifier(**settings): any Config field, e.g. Classifier(hidden=500, epochs=10).
    Classifier.from_preset("seed", epochs=1): a named preset with some fields replaced.

    After `fit`: `model_` (a Model), `history_` (per-epoch dicts: epoch, loss, lr,
    seconds, val_accuracy, test_accuracy), `result_` (the full TrainResult).
    """

    def __init__(self, config: Config | None = None, **settings: Any):
        self.config = dataclasses.replace(config or PRESETS["fast"], **settings)

    @classmethod
    def from_preset(cls, name: str, **settings: Any) -> Classifier:
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
        return cls(PRESETS[name], **settings)

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        test: tuple[np.ndarray, np.ndarray] | None = None,
        state: train.TrainState | None = None,
        progress: Callable[[int, int], train.Progress | None] | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        on_interrupt: Callable[[train.TrainState], None] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Classifier:
        """Train on images x (n, 28, 28) or (n, 784), pixels 0..255, and labels y (n,).

        `test` is an optional (images, labels) pair measured at the end (and every epoch
        if config.test_every_epoch); the other arguments are passed to `train.fit`.
        """
        x, y = _check_xy(x, y)
        result = train.fit(self.config, x, y, test=test, state=state, progress=progress,
                           on_epoch=on_epoch, on_interrupt=on_interrupt)
        self.model_ = Model.from_training(result, self.config)
        self.model_.metadata = {**(metadata or {}), **self.model_.metadata}
        self.history_ = result.history
        self.result_ = result
        return self

    def _fitted(self) -> Model:
        if not hasattr(self, "model_"):
            raise RuntimeError("this Classifier is not fitted yet; call fit(x, y) first")
        return self.model_

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (n, 10) for images x (n, 28, 28) or (n, 784), pixels 0..255."""
        return self._fitted().predict_proba(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted digits (n,) for images x (n, 28, 28) or (n, 784), pixels 0..255."""
        return self._fitted().predict(x)

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        """Accuracy in 0..1 on images x and labels y (n,)."""
        x, y = _check_xy(x, y)
        return float(np.mean(self.predict(x) == y))

    def save(self, path: str) -> None:
        """Write the fitted model to a .npz model file."""
        self._fitted().save(path)


def _check_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = check_pixels(x), np.asarray(y)
    if y.shape != (len(x),):
        raise ValueError(f"y must be shaped ({len(x)},) to match x, got {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= CLASSES or not np.issubdtype(y.dtype, np.integer)):
        raise ValueError(f"y must hold integer digits 0..{CLASSES - 1}")
    return x, y
