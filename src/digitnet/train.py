"""Training: one step, one epoch, and the loop, returning the weights and a history.

    reference_step   one update written plainly: forward, loss, backward, update
    minibatch_step   the same update, fast (on the inked columns only); `fit` runs this
    train_epoch      one pass: shuffled minibatches, or the post's per-sample SGD (seed.py)
    fit              the epoch loop: history, early stopping, Ctrl-C, divergence

`digitnet train` -> `Classifier.fit` -> `fit` -> `train_epoch` -> `minibatch_step`.
Printing, progress bars and files belong to the caller: `fit` reports through callbacks.
Randomness comes from one `np.random.Generator` built from `config.seed`; the post's
uniform init instead draws from `np.random.RandomState(config.seed)`, as the post did.

Speed. Minibatch training spends nearly all its time in the two large products
x @ W1 and x.T @ da1. About 81% of MNIST pixels are zero, and the border pixels are zero
in almost every image. So, inside `fit` only, pixels are put in "ink order" (most often
inked first): then within a batch every pixel past some column `ink_end` is zero in all of
its images, and both products can stop there, exactly, with no approximation (x @ W1 over
the zero columns adds zeros; the gradient rows of those pixels are zeros). The weights
are put back in standard pixel order whenever they leave `fit`, even on an error or Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import augment, network, nondigits, optim, pens, seed, threads
from .config import Config
from .errors import TrainingDiverged
from .inputs import check_pixels, network_inputs, pixel_outputs
from .modelfile import check_reachable
from .network import Params
from .reject import image_digit_scores, reject_threshold

Progress = Callable[[int], None]  # called with the number of samples just processed

# Training accuracy is measured after each epoch on the first TRAIN_SAMPLE training images
# (a fixed subset, never the validation images): a fair estimate at a tenth of the cost
# of a pass over all 55,000.
TRAIN_SAMPLE = 5000


@dataclass
class Best:
    """The best weights so far under early stopping, and when they were reached."""

    val_accuracy: float
    epoch: int
    params: Params


@dataclass
class TrainState:
    """Everything needed to continue training exactly where it stopped (at an epoch end)."""

    params: Params
    opt_state: dict[str, np.ndarray]
    rng: np.random.Generator
    epoch: int = 0  # epochs completed
    history: list[dict[str, Any]] = field(default_factory=list)
    best: Best | None = None  # with early stopping: the best validation accuracy so far


@dataclass
class TrainResult:
    params: Params
    history: list[dict[str, Any]]  # per epoch: epoch, loss, lr, seconds, train/val/test_accuracy
    train_seconds: float  # time spent inside epochs, evaluation excluded
    test_accuracy: float | None = None  # None when no test set was given
    test_loss: float | None = None
    stopped_early: bool = False
    best_epoch: int | None = None  # the epoch whose weights were kept, with early stopping
    reject_threshold: float | None = None  # digit scores below this mean "not a digit"


def validation_indices(n: int, n_val: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Choose n_val of n rows at random to hold out: returns (train rows, held-out rows)."""
    if n_val >= n:
        raise ValueError(f"val_split must be smaller than the {n} training images, got {n_val}")
    order = rng.permutation(n) if n_val else np.arange(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def held_out(n: int, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows) of n training images, as `fit` splits them: the
    config's val_split rows drawn with its validation_seed."""
    return validation_indices(n, config.val_split,
                              np.random.default_rng([config.validation_seed, 1]))


def split_validation(x: np.ndarray, y: np.ndarray, n_val: int, rng: np.random.Generator,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out n_val random rows of (x, y): returns x_train, y_train, x_val, y_val."""
    keep, held = validation_indices(len(x), n_val, rng)
    return x[keep], y[keep], x[held], y[held]


def evaluate(params: Params, x: np.ndarray, y: np.ndarray, loss: str) -> tuple[float, float]:
    """(accuracy in 0..1, mean loss) of the network on inputs x (n, 784) with labels y (n,)."""
    return _accuracy_and_loss(network.outputs_in_batches(params, x), y, loss)


def evaluate_images(params: Params, images: np.ndarray, y: np.ndarray, config: Config,
                    order: np.ndarray | None = None) -> tuple[float, float]:
    """`evaluate` on pixels (n, 28, 28), made into network inputs a batch at a time (a
    large test set is never copied whole as floats); order: the ink order of W1's rows."""
    return _accuracy_and_loss(pixel_outputs(params, images, config, order), y, config.loss)


def _accuracy_and_loss(outputs: Iterator[np.ndarray], y: np.ndarray,
                       loss: str) -> tuple[float, float]:
    """(accuracy, mean loss) from the outputs z (b, 10) of consecutive batches of rows."""
    correct, total_loss, start = 0, 0.0, 0
    for z in outputs:
        yb = y[start : start + len(z)]
        correct += int((z.argmax(axis=1) == yb).sum())
        total_loss += network.LOSSES[loss](z, yb)[0] * len(z)
        start += len(z)
    return correct / len(y), total_loss / len(y)


def measure(params: Params, config: Config, data: Any) -> dict[str, float]:
    """What a model file records of the network `params` trained as `config` on `data`
    (an Mnist): test_accuracy and test_loss on its test set and, when config has a
    reject_rate, the reject_threshold set on the validation images config holds out."""
    accuracy, loss = evaluate_images(params, data.x_test, data.y_test, config)
    figures = {"test_accuracy": accuracy, "test_loss": loss}
    if config.reject_rate and config.val_split:
        _, held = held_out(len(data.x_train), config)
        scores = image_digit_scores(params, data.x_train[held], config)
        figures["reject_threshold"] = float(np.quantile(scores, config.reject_rate))
    return figures


def ink_order(x: np.ndarray) -> np.ndarray:
    """A permutation of the 784 pixels, most often nonzero in x (n, 784) first."""
    return np.argsort(-np.count_nonzero(x, axis=0), kind="stable")


def _workspace(params: Params, batch_size: int) -> dict[str, np.ndarray]:
    """Preallocated arrays for one step: hidden layer, output, hidden delta, gradients."""
    dtype, hidden = params["W1"].dtype, params["W1"].shape[1]
    space = {"h": np.empty((batch_size, hidden), dtype), "z": np.empty((batch_size, 10), dtype),
             "da1": np.empty((batch_size, hidden), dtype),
             "mask": np.empty((batch_size, hidden), dtype)}
    space.update({f"grad.{name}": np.empty_like(p) for name, p in params.items()})
    return space


def dropout_mask(rng: np.random.Generator, rate: float, out: np.ndarray) -> np.ndarray:
    """Fill out (n, k) with inverted-dropout factors: 0 with probability rate, else 1/(1-rate)."""
    rng.random(dtype=out.dtype, out=out)
    keep = 1.0 - rate
    return np.multiply(out < keep, out.dtype.type(1 / keep), out=out)


# ---- one training step: the plain reference, and the fast step `fit` runs ----------------

def reference_step(state: TrainState, xb: np.ndarray, yb: np.ndarray, config: Config,
                   lr: float) -> float:
    """One update on the batch xb (b, 784), yb (b,), written plainly; returns its mean loss.

    Forward, loss, backward, update: read this one. `fit` runs `minibatch_step`, the same
    update computed faster (tests/test_train.py checks that they agree).
    """
    params = state.params
    if config.input_dropout:  # drop input pixels at random (training only)
        xb = xb * dropout_mask(state.rng, config.input_dropout, np.empty_like(xb))
    hidden = np.empty((len(xb), params["W1"].shape[1]), xb.dtype)  # (b, H)
    mask = dropout_mask(state.rng, config.dropout, hidden) if config.dropout else None
    h, z = network.forward(params, xb, hidden_mask=mask)  # h (b, H), z (b, 10)
    loss, dz = network.LOSSES[config.loss](z, yb, config.label_smoothing)  # dz = dLoss/dz
    grads = network.backward(params, xb, h, dz, hidden_mask=mask)  # dLoss/dW1, dW2, db1, db2
    optim.update(params, grads, state.opt_state, config.optimizer, lr,
                 momentum=config.momentum, beta2=config.beta2, weight_decay=config.weight_decay)
    if config.max_norm:
        optim.max_norm(params["W1"], config.max_norm)
    return loss


def minibatch_step(state: TrainState, xb: np.ndarray, yb: np.ndarray, config: Config,
                   lr: float, space: dict[str, np.ndarray]) -> float:
    """`reference_step` made fast: the same update, computed on the inked columns only.

    xb (b, 784) is in ink order (module docstring): every pixel past `ink_end` is zero in
    the whole batch, so the products stop there and those rows of W1 get a zero gradient,
    as in the reference. Results go into the preallocated arrays `space` (`_workspace`).
    """
    b = len(xb)
    if config.input_dropout:
        xb = xb * dropout_mask(state.rng, config.input_dropout, np.empty_like(xb))
    mask = dropout_mask(state.rng, config.dropout, space["mask"][:b]) if config.dropout else None
    ink_end = int(np.flatnonzero(xb.any(axis=0))[-1]) + 1 if xb.any() else 1
    params = state.params
    inked = {**params, "W1": params["W1"][:ink_end]}  # a view: the rows that can matter
    h, z = network.forward(inked, xb[:, :ink_end], out=(space["h"][:b], space["z"][:b]),
                           hidden_mask=mask)
    loss, dz = network.LOSSES[config.loss](z, yb, config.label_smoothing)
    grad_w1 = space["grad.W1"]
    out = {name: space[f"grad.{name}"] for name in params}
    out.update(W1=grad_w1[:ink_end], da1=space["da1"][:b])
    grads = network.backward(inked, xb[:, :ink_end], h, dz, out=out, hidden_mask=mask)
    grad_w1[ink_end:] = 0  # pixels with no ink in this batch get no gradient
    grads["W1"] = grad_w1
    optim.update(params, grads, state.opt_state, config.optimizer, lr, momentum=config.momentum,
                 beta2=config.beta2, weight_decay=config.weight_decay)
    if config.max_norm:
        optim.max_norm(params["W1"], config.max_norm)
    return loss


def scheduled_lr(config: Config, progress: float) -> float:
    """The learning rate after `progress` epochs (fractional) under config's schedule."""
    return optim.learning_rate(config.schedule, config.lr, progress, config.epochs,
                               warmup=config.warmup_epochs, step_every=config.step_every,
                               step_gamma=config.step_gamma)


def train_epoch(state: TrainState, x: np.ndarray, y: np.ndarray, config: Config,
                progress: Progress | None = None) -> float:
    """One pass over x (n, 784), y (n,); returns the mean training loss.

    The post's algorithm (`config.is_seed_algorithm`, in dataset order) runs as
    `seed.sgd_epoch`; every other config as shuffled minibatches, one `minibatch_step`
    each. Raises TrainingDiverged as soon as the loss is NaN or infinite.
    """
    if config.is_seed_algorithm and not config.shuffle:
        loss = seed.sgd_epoch(state.params, x, y, config.lr, progress=progress)
        if not math.isfinite(loss):
            raise _diverged(f"in epoch {state.epoch + 1}", loss, config)
        return loss
    n, size = len(x), config.batch_size
    order = state.rng.permutation(n) if config.shuffle else np.arange(n)
    steps = -(-n // size)
    space = _workspace(state.params, min(size, n))
    total = 0.0
    for step in range(steps):
        idx = order[step * size : (step + 1) * size]
        lr = scheduled_lr(config, state.epoch + step / steps)
        loss = minibatch_step(state, x[idx], y[idx], config, lr, space)
        if not math.isfinite(loss):
            raise _diverged(f"at epoch {state.epoch + 1}, step {step + 1}", loss, config)
        total += loss * len(idx)
        if progress is not None:
            progress(len(idx))
    return total / n


def _diverged(where: str, loss: float, config: Config) -> TrainingDiverged:
    return TrainingDiverged(f"training diverged {where}: the loss became {loss}; "
                            f"try a lower learning rate than {config.lr:g}")


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
    x: np.ndarray,
    y: np.ndarray,
    *,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    state: TrainState | None = None,
    progress: Callable[[int, int], Progress | None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_interrupt: Callable[[TrainState], None] | None = None,
) -> TrainResult:
    """Train a network as `config` says on images x (n, 28, 28) and labels y (n,).

    test:         (images, labels) to report test accuracy on, at the end and, if
                  config.test_every_epoch, after every epoch. Never used for any decision.
    state:        continue from a checkpoint's state instead of starting fresh.
    progress:     progress(epoch, n_samples) -> a callback taking samples done, or None.
    on_epoch:     called with each epoch's history record as soon as it is complete.
    on_interrupt: on Ctrl-C, called with the state as of the last completed epoch, before
                  KeyboardInterrupt propagates.
    Raises TrainingDiverged as soon as the loss becomes NaN or infinite.
    Side concerns wrap the plain epoch loop as context managers: Ctrl-C, pixel order, threads.
    """
    state = state if state is not None else new_state(config)
    check_reachable(state.params, config.input_scale)
    sets = _training_sets(config, x, y, test)
    batch = seed.BLOCK if config.is_seed_algorithm else config.batch_size
    epoch_threads = threads.PerEpoch(config.threads, max(1, min(batch, len(sets.x_train))),
                                     config.hidden, config.dtype)
    with _reported_on_interrupt(state, on_interrupt), _ink_ordered(state, sets.pixels), \
            _divergence_raised_not_warned():
        stopped_early = False
        with _rolled_back_on_interrupt(state, keep=on_interrupt is not None) as epoch_done:
            while state.epoch < config.epochs and not stopped_early:
                with epoch_threads() as n_threads:
                    start = time.perf_counter()
                    x_epoch = _epoch_inputs(state, config, sets)  # distorted afresh, or as is
                    loss = train_epoch(state, x_epoch, sets.y_train, config,
                                       progress(state.epoch + 1, len(x_epoch)) if progress
                                       else None)
                    record = {"epoch": state.epoch + 1, "loss": loss,
                              "lr": scheduled_lr(config, state.epoch),
                              "seconds": time.perf_counter() - start}
                    state.epoch += 1
                    record.update(_accuracies(state.params, config, sets))
                record["threads"] = n_threads
                state.history.append(record)
                stopped_early = _early_stopping(state, config, record)
                epoch_done()
                if on_epoch is not None:
                    on_epoch(record)
        kept = state.best if config.early_stopping and state.best is not None else None
        params = kept.params if kept is not None else state.params
        test_figures = (evaluate_images(params, sets.test_images, sets.y_test, config,
                                        sets.pixels)
                        if sets.test_images is not None else (None, None))
        threshold = (reject_threshold(params, sets.x_val, config.reject_rate)
                     if config.reject_rate else None)

    params = kept.params if kept is not None else state.params  # now in standard order
    return TrainResult(_copy(params), state.history, sum(r["seconds"] for r in state.history),
                       test_accuracy=test_figures[0], test_loss=test_figures[1],
                       stopped_early=stopped_early,
                       best_epoch=kept.epoch if kept is not None else None,
                       reject_threshold=threshold)


@dataclass
class _Sets:
    """What `fit` trains and measures on: network inputs (n, 784), in the order `pixels`."""

    images: np.ndarray  # (n, 28, 28) the training images (and non-digits), for augmentation
    variants: np.ndarray | None  # (m, 28, 28) the first m (the digits) as other pens draw them
    x_train: np.ndarray  # (n, 784), with y_train (n,)
    y_train: np.ndarray
    x_val: np.ndarray  # the held-out validation images, with y_val
    y_val: np.ndarray
    test_images: np.ndarray | None  # (m, 28, 28) pixels, made into inputs a batch at a
    #                                  time when measured; None when fit was given no test
    y_test: np.ndarray | None
    pixels: np.ndarray  # (784,) the pixel order: ink order, or the standard one for the seed


def _training_sets(config: Config, x: np.ndarray, y: np.ndarray,
                   test: tuple[np.ndarray, np.ndarray] | None) -> _Sets:
    """Split off the validation images, add the non-digits, make network inputs, and put
    the pixels in ink order (except for the post's algorithm, which keeps its own)."""
    keep, held = held_out(len(x), config)  # its own stream, not the shuffle's
    images, y_train = np.asarray(x)[keep], np.asarray(y)[keep]  # for augmentation
    variants = (pens.pen_variants(images, np.random.default_rng([config.seed, 4]))
                if config.aug_pens else None)
    if config.outliers or config.fragments:  # appended: the train-accuracy sample stays digits
        images, y_train = nondigits.with_outliers(images, y_train, config.outliers,
                                                  config.fragments, config.seed)
    x_train = network_inputs(images, config)
    x_val, y_val = network_inputs(np.asarray(x)[held], config), np.asarray(y)[held]
    test_images = check_pixels(test[0]) if test is not None else None
    pixels = np.arange(network.N_INPUTS)
    if not config.is_seed_algorithm:  # work in ink order (see the module docstring)
        pixels = ink_order(x_train)
        x_train, x_val = _in_order(x_train, pixels), _in_order(x_val, pixels)
    return _Sets(images, variants, x_train, y_train, x_val, y_val, test_images,
                 test[1] if test is not None else None, pixels)


def _accuracies(params: Params, config: Config, sets: _Sets) -> dict[str, float]:
    """An epoch record's accuracies: train (a fixed sample), validation, test if asked."""
    record = {"train_accuracy": evaluate(params, sets.x_train[:TRAIN_SAMPLE],
                                         sets.y_train[:TRAIN_SAMPLE], config.loss)[0]}
    if len(sets.x_val):
        record["val_accuracy"] = evaluate(params, sets.x_val, sets.y_val, config.loss)[0]
    if config.test_every_epoch and sets.test_images is not None:
        record["test_accuracy"] = evaluate_images(params, sets.test_images, sets.y_test, config,
                                                  sets.pixels)[0]
    return record


def _epoch_inputs(state: TrainState, config: Config, sets: _Sets) -> np.ndarray:
    """This epoch's inputs: sets.x_train itself, or a fresh random distortion of every
    training image (with its label, which some writer styles need), a share aug_pens of
    the digits first swapped for their pen variants."""
    images = sets.images
    if sets.variants is not None:
        swap = np.flatnonzero(state.rng.random(len(sets.variants)) < config.aug_pens)
        images = images.copy()
        images[swap] = sets.variants[swap]
    elif not config.augmentation.active:
        return sets.x_train
    if config.augmentation.active:
        images = augment.augment(images, state.rng, config.augmentation, labels=sets.y_train)
    return _in_order(network_inputs(images, config), sets.pixels)


def _in_order(x: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """x (n, 784) with its columns in the order `pixels`, as a row-major array (x[:, pixels]
    alone comes back column-major, and gathering batches of rows from that is slow)."""
    return np.ascontiguousarray(x[:, pixels])


def _early_stopping(state: TrainState, config: Config, record: dict[str, Any]) -> bool:
    """Remember the best weights so far; True when patience has run out."""
    if not config.early_stopping:
        return False
    if state.best is None or record["val_accuracy"] > state.best.val_accuracy:
        state.best = Best(record["val_accuracy"], state.epoch, _copy(state.params))
    return state.epoch - state.best.epoch >= config.patience


def _copy(params: Params) -> Params:
    return {name: p.copy() for name, p in params.items()}


# ---- what wraps the loop: pixel order, Ctrl-C (and threads.PerEpoch) ----------------------

@contextmanager
def _ink_ordered(state: TrainState, pixels: np.ndarray) -> Iterator[None]:
    """Inside the block, the rows of every W1-shaped array (the weights', the optimizer
    buffers' "v.W1"..., the best weights') are in the order `pixels`; on leaving, normally
    or by an exception, they are put back in the standard order."""
    def reorder(order: np.ndarray) -> None:
        for arrays in (state.params, state.opt_state, state.best.params if state.best else {}):
            for key in arrays:
                if key.split(".")[-1] == "W1":
                    arrays[key] = arrays[key][order]

    reorder(pixels)
    try:
        yield
    finally:
        reorder(np.argsort(pixels))


@contextmanager
def _divergence_raised_not_warned() -> Iterator[None]:
    """No overflow warnings: a NaN or infinite loss raises TrainingDiverged instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@contextmanager
def _reported_on_interrupt(state: TrainState,
                           on_interrupt: Callable[[TrainState], None] | None) -> Iterator[None]:
    """On Ctrl-C inside the block, call on_interrupt(state) before KeyboardInterrupt goes on."""
    try:
        yield
    except KeyboardInterrupt:
        if on_interrupt is not None:
            on_interrupt(state)
        raise


@contextmanager
def _rolled_back_on_interrupt(state: TrainState, keep: bool) -> Iterator[Callable[[], None]]:
    """On Ctrl-C inside the block, put state back as it was after the last completed epoch.
    Yields `epoch_done`, to call after each epoch. keep=False copies nothing, rolls nothing
    back (no one would see the state)."""
    saved = [_copy_state(state)] if keep else []

    def epoch_done() -> None:
        if saved:
            saved[0] = _copy_state(state)

    try:
        yield epoch_done
    except KeyboardInterrupt:
        if saved:
            _restore(state, saved[0])
        raise


def _copy_state(state: TrainState) -> TrainState:
    """A deep copy of state, to roll an interrupted epoch back to."""
    rng = np.random.default_rng()
    rng.bit_generator.state = state.rng.bit_generator.state
    best = state.best and Best(state.best.val_accuracy, state.best.epoch,
                               _copy(state.best.params))
    return dataclasses.replace(state, params=_copy(state.params),
                               opt_state=_copy(state.opt_state), rng=rng,
                               history=[dict(r) for r in state.history], best=best)


def _restore(state: TrainState, saved: TrainState) -> None:
    """Make state equal to the copy `saved`, in place (the caller holds `state`)."""
    for f in dataclasses.fields(state):
        setattr(state, f.name, getattr(saved, f.name))
