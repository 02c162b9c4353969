"""The training loop: a few named steps, returning the weights and a per-epoch history.

    prepare_inputs   images (n, 28, 28) uint8 -> (n, 784) floats, scaled as configured
    split_validation hold out the last `val_split` images of a seeded permutation
    minibatch_epoch  one pass of minibatch training (softmax or squared error, any optimizer)
    seed.sgd_epoch   one pass of the post's per-sample SGD (when the config is the seed's)
    evaluate         accuracy and mean loss on a labelled set
    fit              the loop: epochs, history, early stopping, checkpoints

Printing, progress bars and files belong to the caller: `fit` reports through callbacks.
Randomness comes from one `np.random.Generator` built from `config.seed`; the post's
uniform init instead draws from `np.random.RandomState(config.seed)`, as the post did.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import network, optim, seed
from .config import Config
from .data import Mnist
from .errors import TrainingDiverged
from .network import Params

Progress = Callable[[int], None]  # called with the number of samples just processed

# Training accuracy is measured after each epoch on the first TRAIN_SAMPLE training images
# (a fixed subset, never the validation images): a fair estimate at a tenth of the cost
# of a pass over all 55,000.
TRAIN_SAMPLE = 5000


@dataclass
class TrainState:
    """Everything needed to continue training exactly where it stopped (at an epoch end)."""

    params: Params
    opt_state: dict[str, np.ndarray]
    rng: np.random.Generator
    epoch: int = 0  # epochs completed
    history: list[dict[str, Any]] = field(default_factory=list)
    best: tuple[float, int, Params] | None = None  # (val accuracy, epoch, params) so far


@dataclass
class TrainResult:
    params: Params
    history: list[dict[str, Any]]  # per epoch: epoch, loss, seconds, lr, train/val/test_accuracy
    test_accuracy: float
    test_loss: float
    train_seconds: float  # time inside epochs, excluding evaluation
    stopped_early: bool = False
    best_epoch: int | None = None


def prepare_inputs(images: np.ndarray, config: Config) -> np.ndarray:
    """(n, 28, 28) or (n, 784) uint8 pixels -> (n, 784) in config.dtype, times input_scale."""
    x = images.reshape(len(images), -1).astype(config.dtype)
    if config.input_scale != 1.0:
        x *= np.asarray(config.input_scale, dtype=config.dtype)
    return x


def split_validation(
    x: np.ndarray, y: np.ndarray, n_val: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split (x, y) into train and validation parts: the validation part is n_val random rows."""
    if n_val >= len(x):
        raise ValueError(
            f"val_split must be smaller than the {len(x)} training images, got {n_val}")
    if n_val == 0:
        return x, y, x[:0], y[:0]
    order = rng.permutation(len(x))
    keep, held = np.sort(order[n_val:]), np.sort(order[:n_val])
    return x[keep], y[keep], x[held], y[held]


def evaluate(params: Params, x: np.ndarray, y: np.ndarray, loss: str,
             batch: int = 2000) -> tuple[float, float]:
    """(accuracy in 0..1, mean loss) of the network on x (n, 784) with labels y (n,)."""
    correct, total_loss = 0, 0.0
    for i in range(0, len(x), batch):
        _, z = network.forward(params, x[i : i + batch])
        correct += int((z.argmax(axis=1) == y[i : i + batch]).sum())
        total_loss += network.LOSSES[loss](z, y[i : i + batch])[0] * len(z)
    return correct / len(x), total_loss / len(x)


def minibatch_epoch(state: TrainState, x: np.ndarray, y: np.ndarray, config: Config,
                    progress: Progress | None = None) -> float:
    """One shuffled pass of minibatch training; updates state in place, returns mean loss."""
    n = len(x)
    order = state.rng.permutation(n) if config.shuffle else np.arange(n)
    steps = -(-n // config.batch_size)
    loss_fn = network.LOSSES[config.loss]
    total = 0.0
    for step in range(steps):
        idx = order[step * config.batch_size : (step + 1) * config.batch_size]
        xb, yb = x[idx], y[idx]
        h, z = network.forward(state.params, xb)
        if config.loss == "cross_entropy":
            loss, dz = loss_fn(z, yb, config.label_smoothing)
        else:
            loss, dz = loss_fn(z, yb)
        grads = network.backward(state.params, xb, h, dz)
        lr = optim.learning_rate(
            config.schedule, config.lr, state.epoch + step / steps, config.epochs,
            warmup=config.warmup_epochs, step_every=config.step_every, step_gamma=config.step_gamma,
        )
        optim.update(state.params, grads, state.opt_state, config.optimizer, lr,
                     momentum=config.momentum, beta2=config.beta2,
                     weight_decay=config.weight_decay)
        total += loss * len(idx)
        if progress is not None:
            progress(len(idx))
    return total / n


def run_epoch(state: TrainState, x: np.ndarray, y: np.ndarray, config: Config,
              progress: Progress | None = None) -> float:
    """One epoch with the right trainer for config; returns the mean training loss."""
    if config.is_seed_algorithm and not config.shuffle:
        return seed.sgd_epoch(state.params, x, y, config.lr, progress=progress)
    return minibatch_epoch(state, x, y, config, progress)


def new_state(config: Config) -> TrainState:
    """Fresh weights and optimizer buffers, and the run's random generator."""
    rng = np.random.default_rng(config.seed)
    init_rng = np.random.RandomState(config.seed) if config.init == "uniform" else rng
    params = network.init_params(init_rng, config.hidden, init=config.init,
                                 scale=config.init_scale, biases=config.biases,
                                 dtype=np.dtype(config.dtype))
    return TrainState(params, optim.init_state(params, config.optimizer), rng)


def fit(
    config: Config,
    data: Mnist,
    *,
    state: TrainState | None = None,
    progress: Callable[[int, int], Progress | None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_interrupt: Callable[[TrainState], None] | None = None,
) -> TrainResult:
    """Train a network as `config` says on `data`; returns weights, history and test figures.

    state:        continue from a checkpoint instead of starting fresh.
    progress:     progress(epoch, n_samples) -> a callback taking samples done, or None.
    on_epoch:     called with each epoch's history record as soon as it is complete.
    on_interrupt: on Ctrl-C, called with the state as of the last completed epoch, before
                  KeyboardInterrupt propagates.
    Raises TrainingDiverged if the loss becomes NaN or infinite.
    """
    state = state if state is not None else new_state(config)
    split_rng = np.random.default_rng([config.seed, 1])  # independent of the shuffle stream
    x_all = prepare_inputs(data.x_train, config)
    x_train, y_train, x_val, y_val = split_validation(x_all, data.y_train, config.val_split,
                                                      split_rng)
    x_test = prepare_inputs(data.x_test, config)

    stopped_early = False
    while state.epoch < config.epochs:
        saved = _snapshot(state)
        epoch = state.epoch + 1
        start = time.perf_counter()
        try:
            loss = run_epoch(state, x_train, y_train, config,
                             progress(epoch, len(x_train)) if progress else None)
        except KeyboardInterrupt:
            if on_interrupt is not None:
                on_interrupt(saved)
            raise
        seconds = time.perf_counter() - start
        if not np.isfinite(loss) or not all(np.isfinite(p).all() for p in state.params.values()):
            raise TrainingDiverged(
                f"training diverged in epoch {epoch}: the loss became {loss}; "
                f"try a lower learning rate than {config.lr:g}"
            )
        state.epoch = epoch
        record: dict[str, Any] = {"epoch": epoch, "loss": loss, "seconds": seconds,
                                  "lr": optim.learning_rate(
                                      config.schedule, config.lr, epoch - 1, config.epochs,
                                      warmup=config.warmup_epochs, step_every=config.step_every,
                                      step_gamma=config.step_gamma)}
        record["train_accuracy"] = evaluate(state.params, x_train[:TRAIN_SAMPLE],
                                            y_train[:TRAIN_SAMPLE], config.loss)[0]
        if len(x_val):
            record["val_accuracy"] = evaluate(state.params, x_val, y_val, config.loss)[0]
        if config.test_every_epoch:
            record["test_accuracy"] = evaluate(state.params, x_test, data.y_test, config.loss)[0]
        state.history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if config.early_stopping:
            if state.best is None or record["val_accuracy"] > state.best[0]:
                state.best = (record["val_accuracy"], epoch, _copy(state.params))
            elif epoch - state.best[1] >= config.patience:
                stopped_early = True
                break

    params = state.params
    best_epoch = None
    if config.early_stopping and state.best is not None:
        _, best_epoch, params = state.best
    test_accuracy, test_loss = evaluate(params, x_test, data.y_test, config.loss)
    return TrainResult(params, state.history, test_accuracy, test_loss,
                       sum(r["seconds"] for r in state.history), stopped_early, best_epoch)


def _copy(params: Params) -> Params:
    return {name: p.copy() for name, p in params.items()}


def _snapshot(state: TrainState) -> TrainState:
    """A deep copy of state, so an interrupted epoch can be rolled back to its start."""
    rng = np.random.default_rng()
    rng.bit_generator.state = state.rng.bit_generator.state
    best = None if state.best is None else (state.best[0], state.best[1], _copy(state.best[2]))
    return dataclasses.replace(state, params=_copy(state.params), opt_state=_copy(state.opt_state),
                               rng=rng, history=[dict(r) for r in state.history], best=best)
