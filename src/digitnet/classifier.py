"""A scikit-learn style front to training: `Classifier(hidden=500).fit(x, y).score(xt, yt)`.

The estimator holds a `Config` (built from a preset plus keyword overrides) and, once
fitted, a `Model`; it adds no math of its own. The CLI's `train` command uses it too.
`partial_fit` learns from a stream of batches, one update per call (docs/adapt.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from . import optim, train
from .config import PRESETS, Config
from .constants import CLASSES
from .errors import TrainingDiverged
from .inputs import check_pixels, network_inputs
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
        for name in ("state_", "classes_", "n_steps_"):  # a fit ends any partial_fit stream
            self.__dict__.pop(name, None)
        result = train.fit(self.config, x, y, test=test, state=state, progress=progress,
                           on_epoch=on_epoch, on_interrupt=on_interrupt)
        self.model_ = Model.from_training(result, self.config)
        self.model_.metadata = {**(metadata or {}), **self.model_.metadata}
        self.history_ = result.history
        self.result_ = result
        return self

    def partial_fit(self, x: np.ndarray, y: np.ndarray,
                    classes: Any = None) -> Classifier:
        """One update of the weights on the batch x (n, 28, 28) or (n, 784), pixels 0..255,
        with labels y (n,), as scikit-learn's partial_fit: `classes` (the digits the stream
        will hold, a subset of 0..9) is required on the first call and may be left out
        after; the optimizer's buffers (momentum, Adam's moments) carry over from call to
        call and are never reset. Calling it on the batches of an epoch in order does what
        `fit` does for that epoch with shuffle off and a constant learning rate.

        What scikit-learn's users tripped on, and what this one does:
        - One pass, not a fit (scikit-learn #12505): each call is ONE step on the batch it
          is given, at the constant learning rate config.lr (a schedule needs to know how
          long training will be); call it as often as you want steps.
        - Forgetting (#14469): a stream of only new digits overwrites what the network
          knew. Mix earlier data into each batch, or use `Model.adapt`, which replays
          MNIST and non-digits while it learns a writer's examples.
        - Early stopping (#25693): partial_fit never holds out validation images or stops
          by itself (config.val_split, early_stopping, augmentation and generated
          non-digits belong to `fit`); measure `score` on your own held-out batch and stop
          when it stalls.
        After `fit`, partial_fit continues from the fitted weights with fresh optimizer
        buffers (fit does not keep them).
        """
        x, y = _check_xy(x, y)
        if not hasattr(self, "state_"):
            self._start_stream(classes)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes {np.unique(classes).tolist()} differ from those of the "
                             f"first call, {self.classes_.tolist()}")
        unknown = np.setdiff1d(y, self.classes_)
        if len(unknown):
            raise ValueError(f"y holds digits {unknown.tolist()} not in classes "
                             f"{self.classes_.tolist()}")
        if not len(y):
            return self
        state, config = self.state_, self.config
        inputs = network_inputs(x, config)
        space = train._workspace(state.params, len(inputs))
        loss = train.minibatch_step(state, inputs, y, config, config.lr, space)
        if not np.isfinite(loss):
            raise TrainingDiverged(f"partial_fit diverged: the loss became {loss}; try a "
                                   f"lower learning rate than {config.lr:g}")
        self.n_steps_ += 1
        self.model_.metadata["partial_fit_steps"] = self.n_steps_
        return self

    def _start_stream(self, classes: Any) -> None:
        """The first partial_fit: check `classes`, then start from fresh weights (or the
        fitted ones) with zeroed optimizer buffers."""
        if classes is None:
            raise ValueError("classes must be given on the first call to partial_fit: the "
                             "digits the stream will hold, e.g. classes=range(10)")
        classes = np.unique(np.asarray(list(classes)))
        if not len(classes) or not np.issubdtype(classes.dtype, np.integer) \
                or classes.min() < 0 or classes.max() >= CLASSES:
            raise ValueError(f"classes must be digits 0..{CLASSES - 1}, got {classes.tolist()}")
        if hasattr(self, "model_"):
            params = self.model_.params
            state = train.TrainState(params, optim.init_state(params, self.config.optimizer),
                                     np.random.default_rng(self.config.seed))
        else:
            state = train.new_state(self.config)
            self.model_ = Model(state.params, self.config, {})
        self.state_, self.classes_, self.n_steps_ = state, classes, 0

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
