"""Adapting a trained network to one person's handwriting from a few labelled examples.

    new = adapt_model(model, images, labels)      # images (n, 28, 28) pixels 0..255
    model.adapt(images, labels)                   # the same, from the Model
    digitnet adapt MODEL DIR --out mine.npz       # DIR/0/*.png ... DIR/9/*.png

A person who writes 7 with a bar writes every 7 with a bar. The hidden layer of a
network trained on MNIST already describes such a digit well; what it lacks is an output
layer that maps that description to "7". So the default method, "output", keeps W1 and b1
and retrains only the output layer (W2 (H, 10), b2 (10,)) by Adam:

    loss = weight * CE(user's examples, their labels)
         + (1 - weight) * CE(replayed pictures, the base model's own probabilities)

Each of the user's examples comes with `copies` randomly distorted copies (small
rotations, shears, shifts), so three examples of a 7 say more about the writer's 7s.
The replay set is a fixed sample of MNIST training digits (never the validation digits
the base model held out) and of generated non-digits. Their targets are what the base
model itself answered on them, "learning without forgetting" (Li and Hoiem, 2016): the
adapted network is asked to keep the base's answers wherever the writer gives no reason
to change them, including its doubt about scribbles. With W1 fixed the hidden layer of
every replayed picture is computed once (`Replay`), and each step is a few small
(b, H) x (H, 10) products: a correction on the web page takes a fraction of a second.

Three other methods are kept so their comparison can be rerun (`benchmarks/adapt.py
--compare`; the figures are in docs/adapt.md):
    "both"        both layers, by minibatch Adam with a small learning rate, with replay
    "prototypes"  no training: each digit's mean hidden vector m_c over the user's examples
                  is added to the output layer, z_c += alpha (h . m_c - |m_c|^2 / 2) / s,
                  a nearest-class-mean classifier in feature space folded into W2 and b2
    "featuremap"  a diagonal affine map of the hidden layer, h' = h (1 + a) + t, learnt
                  with replay and folded into W2, b2 (after Zhang and Liu, TPAMI 2013)

Whatever the method, the result is an ordinary 784-H-10 network. Its "not a digit"
threshold is measured again the way training set it: the digit score below which
`config.reject_rate` of the MNIST validation digits the base model held out fall.

Not here: reading pictures from folders (the CLI, cli_adapt.py), the web page's
per-session models (sessions.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import network, nondigits, optim, threads, train
from .augment import Augmentation, augment
from .constants import CLASSES, PIXELS, SIDE
from .errors import ConfigError
from .inputs import check_pixels, network_inputs
from .modelfile import as_stored
from .network import Params

METHODS = ("output", "both", "prototypes", "featuremap")


def _f(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class AdaptSettings:
    """How to adapt a network to a writer. Defaults are what measured best (docs/adapt.md)."""

    method: str = _f("output", "which parameters change", METHODS)
    steps: int = _f(60, "optimizer steps (Adam)")
    lr: float = _f(0.003, "Adam's learning rate")
    weight: float = _f(0.5, "share of the loss on the user's examples; the rest is replay")
    pull: float = _f(0.0, "L2 pull of the changed weights toward the base model's")
    replay_digits: int = _f(1500, "MNIST training digits replayed against forgetting")
    replay_nondigits: int = _f(400, "generated non-digits replayed, so scribbles stay 'not a "
                                    "digit'")
    replay_targets: str = _f("base", "what replayed pictures are taught: 'base', the base "
                                     "model's own probabilities (learning without "
                                     "forgetting); 'labels', their labels",
                             ("base", "labels"))
    copies: int = _f(8, "distorted copies of each example added (small rotations, shifts, "
                        "shears), so a few examples cover more of the writer's variety")
    alpha: float = _f(4.0, "'prototypes' method: strength of the class means")
    batch: int = _f(256, "replayed pictures per step")
    seed: int = _f(0, "random seed for the replay sample and the order of steps")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            choices = f.metadata["choices"]
            if choices and getattr(self, f.name) not in choices:
                raise ConfigError(f"{f.name} must be one of {', '.join(choices)}; got "
                                  f"{getattr(self, f.name)!r}")
        for name in ("steps", "batch"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got "
                                  f"{getattr(self, name)!r}")
        for name in ("replay_digits", "replay_nondigits", "copies"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ConfigError(f"{name} must be a whole number >= 0, got "
                                  f"{getattr(self, name)!r}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr!r}")
        if not 0 < self.weight <= 1:
            raise ConfigError(f"weight must be in (0, 1], got {self.weight!r}")
        if not self.pull >= 0 or not self.alpha >= 0:
            raise ConfigError(f"pull and alpha must be >= 0, got {self.pull!r}, {self.alpha!r}")


@dataclass
class Replay:
    """What adaptation replays, prepared once per base model (the server shares it).

    x (r, 784) network inputs of the replayed pictures, y (r,) their labels
    (NOT_A_DIGIT for non-digits); h (r, H) the base model's hidden layer on x and
    p (r, 10) its probabilities, the targets of learning without forgetting; h_val
    (v, H) its hidden layer on the validation digits the base model held out, for
    measuring the reject threshold again (v = 0 when the model has none).
    """

    x: np.ndarray
    y: np.ndarray
    h: np.ndarray
    p: np.ndarray
    x_val: np.ndarray
    h_val: np.ndarray
    reject_rate: float  # share of validation digits the threshold may decline (0: none)


def hidden(params: Params, x: np.ndarray) -> np.ndarray:
    """The hidden layer h (n, H) of network inputs x (n, 784), in batches."""
    parts = [h.copy() for h, _ in network.forward_in_batches(params, x)]
    return np.concatenate(parts) if parts else np.zeros((0, params["W1"].shape[1]),
                                                        params["W1"].dtype)


def prepare_replay(model: Any, mnist: Any, settings: AdaptSettings) -> Replay:
    """The replay set and the validation digits for `model` (a Model) trained on `mnist`.

    Replayed digits are drawn (settings.seed) from the MNIST training images the base
    model trained on, never from those it held out for validation; those held-out ones
    (`train.held_out`, as the base's config split them) are where the reject threshold is
    measured. Raises ConfigError if the model was trained on other data than `mnist`.
    """
    trained_on = model.metadata.get("data_sha256")
    if trained_on is not None and trained_on != mnist.sha256:
        raise ConfigError("the model was trained on other data than the MNIST files given "
                          "(its data_sha256 differs); give its training data with --data-dir")
    config = model.config
    rng = np.random.default_rng([settings.seed, 35])
    keep, held = train.held_out(len(mnist.x_train), config)
    rows = rng.choice(keep, min(settings.replay_digits, len(keep)), replace=False)
    with ThreadPoolExecutor(1) as pool:  # non-digits are drawn (Pillow, NumPy) while the
        # validation digits go through the network (BLAS): the two overlap on two cores
        drawn = pool.submit(nondigits.training_set, settings.replay_nondigits,
                            np.random.default_rng([settings.seed, 35, 1]))
        rate = config.reject_rate if config.val_split and "reject_threshold" in model.metadata \
            else 0.0
        x_val = network_inputs(mnist.x_train[held], config) if rate else \
            np.zeros((0, PIXELS), config.dtype)
        h_val = hidden(model.params, x_val)
        images = np.concatenate([mnist.x_train[rows], drawn.result()])
    labels = np.concatenate([mnist.y_train[rows].astype(np.int64),
                             np.full(settings.replay_nondigits, network.NOT_A_DIGIT)])
    order = rng.permutation(len(labels))  # digits and non-digits mixed
    x = network_inputs(images[order], config)
    h = hidden(model.params, x)
    z = h @ model.params["W2"] + model.params.get("b2", 0)
    if _METHODS[settings.method][1]:  # W1 stays: its hidden layer h_val is all we need
        x_val = x_val[:0]
    return Replay(x, labels[order], h, network.softmax(z), x_val, h_val, rate)


def _soft_cross_entropy(z: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(z) (n, 10) against target distributions (n, 10),
    and its gradient (softmax(z) - target) / n, as `network.softmax_cross_entropy`."""
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(np.einsum("ij,ij->", target, log_p)) / len(z)
    return loss, (np.exp(log_p) - target) / len(z)


def _delta(z: np.ndarray, y: np.ndarray, n_user: int, weight: float, smoothing: float,
           soft: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Loss and dLoss/dz (n, 10) of the weighted cross-entropy: rows [:n_user] are the
    user's examples (share `weight` of the loss) against their labels y[:n_user], the
    rest replay (share 1 - weight) against the labels y[n_user:] or, when given, the
    target distributions `soft` (n - n_user, 10). Each part is a mean, so 3 examples
    weigh as much as 100 would."""
    loss_u, dz_u = network.softmax_cross_entropy(z[:n_user], y[:n_user], smoothing)
    if n_user == len(z):
        return weight * loss_u, dz_u * weight
    loss_r, dz_r = (_soft_cross_entropy(z[n_user:], soft) if soft is not None else
                    network.softmax_cross_entropy(z[n_user:], y[n_user:], smoothing))
    return (weight * loss_u + (1 - weight) * loss_r,
            np.concatenate([dz_u * weight, dz_r * (1 - weight)]))


def _soft(replay: Replay, rows: slice | np.ndarray, s: AdaptSettings) -> np.ndarray | None:
    """The replay targets of these rows when they are the base's probabilities."""
    return replay.p[rows] if s.replay_targets == "base" else None


def _pull(grads: Params, params: Params, base: Params, strength: float) -> None:
    """Add the gradient of strength/2 ||p - p_base||^2 to each gradient, in place."""
    if strength:
        for name, g in grads.items():
            g += strength * (params[name] - base[name])


def _batches(replay: Replay, size: int, steps: int) -> list[slice]:
    """`steps` slices of `size` consecutive replay rows, wrapping around: the replay set is
    in random order already, so these are random batches, read without copying."""
    size = min(size, len(replay.y))
    starts = [(i * size) % max(len(replay.y) - size + 1, 1) for i in range(steps)]
    return [slice(start, start + size) for start in starts]


def _output(params: Params, h_user: np.ndarray, y: np.ndarray, replay: Replay,
            s: AdaptSettings, smoothing: float, rng: np.random.Generator) -> Params:
    """Retrain the output layer on fixed hidden vectors by Adam: every step sees all the
    user's examples and s.batch replayed pictures."""
    head = {name: params[name].copy() for name in ("W2", "b2") if name in params}
    base = {name: a.copy() for name, a in head.items()}
    state = optim.init_state(head, "adam")
    for rows in _batches(replay, s.batch, s.steps):
        h = (h_user, replay.h[rows])  # (n, H), (b, H): the user's part, the replayed part
        z = np.concatenate([part @ head["W2"] for part in h])  # (n + b, 10): forward's
        if "b2" in head:                                        # last line
            z += head["b2"]
        _, dz = _delta(z, np.concatenate([y, replay.y[rows]]), len(y), s.weight, smoothing,
                       _soft(replay, rows, s))
        grads = {"W2": h[0].T @ dz[: len(y)] + h[1].T @ dz[len(y):]}  # backward's layer 2
        if "b2" in head:
            grads["b2"] = dz.sum(axis=0)
        _pull(grads, head, base, s.pull)
        optim.update(head, grads, state, "adam", s.lr)
    return {**params, **head}


def _both(params: Params, x_user: np.ndarray, y: np.ndarray, replay: Replay,
          s: AdaptSettings, smoothing: float, rng: np.random.Generator) -> Params:
    """Retrain both layers by minibatch Adam: every step sees all the user's examples
    (up to s.batch of them) and s.batch replayed pictures."""
    new = {name: a.copy() for name, a in params.items()}
    state = optim.init_state(new, "adam")
    for _ in range(s.steps):
        mine = rng.choice(len(y), min(len(y), s.batch), replace=False)
        rows = rng.choice(len(replay.y), min(len(replay.y), s.batch), replace=False)
        xb = np.concatenate([x_user[mine], replay.x[rows]])
        yb = np.concatenate([y[mine], replay.y[rows]])
        h, z = network.forward(new, xb)
        _, dz = _delta(z, yb, len(mine), s.weight, smoothing, _soft(replay, rows, s))
        grads = network.backward(new, xb, h, dz)
        _pull(grads, new, params, s.pull)
        optim.update(new, grads, state, "adam", s.lr)
    return new


def _prototypes(params: Params, h_user: np.ndarray, y: np.ndarray, replay: Replay,
                s: AdaptSettings, smoothing: float, rng: np.random.Generator) -> Params:
    """Fold a nearest-class-mean classifier on the hidden layer into W2 and b2:
    -|h - m_c|^2 / 2 = h . m_c - |m_c|^2 / 2 - |h|^2 / 2, and the last term is the
    same for every class, so each digit the user showed gets z_c += alpha (h . m_c -
    |m_c|^2 / 2) / scale, scale the mean |m_c|^2 (so alpha does not depend on H)."""
    shown = np.unique(y)
    means = np.stack([h_user[y == c].mean(axis=0) for c in shown])  # (k, H)
    squares = np.einsum("kh,kh->k", means, means)
    scale = max(float(squares.mean()), 1e-12)
    new = {**params, **{name: params[name].copy() for name in ("W2", "b2") if name in params}}
    new["W2"][:, shown] += (s.alpha / scale * means.T).astype(new["W2"].dtype)
    if "b2" in new:
        new["b2"][shown] -= (s.alpha / scale * squares / 2).astype(new["b2"].dtype)
    return new


def _featuremap(params: Params, h_user: np.ndarray, y: np.ndarray, replay: Replay,
                s: AdaptSettings, smoothing: float, rng: np.random.Generator) -> Params:
    """Learn h' = h (1 + a) + t (a, t (H,)) with replay, then fold it into the output
    layer: z = h' W2 + b2 = h (diag(1 + a) W2) + (b2 + t W2)."""
    w2 = params["W2"]
    b2 = params.get("b2", np.zeros(CLASSES, w2.dtype))
    shift = {"a": np.zeros(w2.shape[0], w2.dtype), "t": np.zeros(w2.shape[0], w2.dtype)}
    zero = {name: v.copy() for name, v in shift.items()}
    state = optim.init_state(shift, "adam")
    for rows in _batches(replay, s.batch, s.steps):
        h = np.concatenate([h_user, replay.h[rows]])
        w, b = w2 * (1 + shift["a"])[:, None], b2 + shift["t"] @ w2
        _, dz = _delta(h @ w + b, np.concatenate([y, replay.y[rows]]), len(y), s.weight,
                       smoothing, _soft(replay, rows, s))
        grad_w, grad_b = h.T @ dz, dz.sum(axis=0)  # gradients of the folded W2, b2
        grads = {"a": np.einsum("hk,hk->h", grad_w, w2), "t": w2 @ grad_b}
        _pull(grads, shift, zero, s.pull)
        optim.update(shift, grads, state, "adam", s.lr)
    new = dict(params)
    new["W2"] = (w2 * (1 + shift["a"])[:, None]).astype(w2.dtype)
    if "b2" in params:
        new["b2"] = (b2 + shift["t"] @ w2).astype(w2.dtype)
    return new


# method -> (function, whether it keeps W1 and b1 as they are)
_METHODS = {"output": (_output, True), "both": (_both, False),
            "prototypes": (_prototypes, True), "featuremap": (_featuremap, True)}


def adapt_params(params: Params, x: np.ndarray, y: np.ndarray, replay: Replay,
                 settings: AdaptSettings, smoothing: float = 0.0) -> Params:
    """The adapted network: params of the base, x (n, 784) network inputs of the user's
    examples with labels y (n,) in 0..9. Returns new params; the base's arrays are not
    changed (unchanged ones are shared)."""
    function, keeps_hidden = _METHODS[settings.method]
    rng = np.random.default_rng([settings.seed, 36])
    if not keeps_hidden:
        return function(params, x, np.asarray(y, np.int64), replay, settings, smoothing, rng)
    # (b, H) x (H, 10) products: a second BLAS thread only adds hand-offs (5x slower on a
    # busy 2-core machine)
    with threads.limited(1):
        return function(params, hidden(params, x), np.asarray(y, np.int64), replay, settings,
                        smoothing, rng)


def reject_threshold(params: Params, base: Params, replay: Replay) -> float | None:
    """The threshold training would set for `params`: the digit score below which
    replay.reject_rate of the held-out validation digits fall; None without one. When
    W1 and b1 are the base's, the stored hidden layer of those digits is reused."""
    if not replay.reject_rate:
        return None
    if params["W1"] is base["W1"]:
        z = replay.h_val @ params["W2"]
        if "b2" in params:
            z += params["b2"]
        scores = network.softmax(z).max(axis=1)
        return float(np.quantile(scores, replay.reject_rate))
    return train.reject_threshold(params, replay.x_val, replay.reject_rate)


COPY_DISTORTION = Augmentation(rotation=8.0, scale=0.08, shear=8.0, translate=1.5, refit=True)


def with_copies(images: np.ndarray, labels: np.ndarray, copies: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The examples (n, 28, 28) and labels (n,) followed by `copies` randomly distorted
    copies of each (COPY_DISTORTION): ((1 + copies) n, 28, 28), labels likewise."""
    images = np.asarray(images).reshape(-1, SIDE, SIDE)
    if not copies:
        return images, labels
    distorted = augment(np.repeat(images, copies, axis=0), rng, COPY_DISTORTION)
    if images.dtype == np.uint8:  # as the originals, so deskew treats both alike
        distorted = np.clip(np.rint(distorted), 0, 255).astype(np.uint8)
    return np.concatenate([images, distorted]), np.concatenate([labels,
                                                                np.repeat(labels, copies)])


def check_examples(images: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """images as (n, 28, 28) or (n, 784) pixels and labels as (n,) int64 digits, n >= 1.
    Raises ValueError naming what is wrong."""
    x = check_pixels(images)
    y = np.asarray(labels)
    if y.shape != (len(x),):
        raise ValueError(f"labels must be shaped ({len(x)},) to match the images, "
                         f"got {y.shape}")
    if not len(y):
        raise ValueError("adapting needs at least one labelled example, got none")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= CLASSES:
        raise ValueError(f"labels must be digits 0..{CLASSES - 1}, got {np.unique(y)[:10]}")
    return x, y.astype(np.int64)


def check_adaptable(model: Any) -> None:
    """Raise ConfigError unless the model's outputs are logits (cross-entropy training):
    the seed preset's squared-error network gives scores that adaptation cannot use."""
    if model.config.loss != "cross_entropy":
        raise ConfigError(f"this model was trained on {model.config.loss} (the "
                          f"{model.config.preset} preset): its outputs are not logits, and "
                          f"adapting needs a network trained with cross_entropy")


def weights_sha256(params: Params) -> str:
    """A fingerprint of a network's weights: sha256 over each array's name and bytes."""
    digest = hashlib.sha256()
    for name in sorted(params):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(params[name]).tobytes())
    return digest.hexdigest()


def base_summary(model: Any, name: str | None) -> dict[str, Any]:
    """What an adapted model records of its base: its name, weights' fingerprint, and
    the figures that describe it (they are not the adapted model's)."""
    meta = model.metadata
    keep = ("test_accuracy", "reject_threshold", "created", "digitnet_version",
            "data_source", "adapted")
    return {"name": name, "weights_sha256": weights_sha256(model.params),
            "preset": model.config.preset,
            **{key: meta[key] for key in keep if key in meta}}


def adapt_model(model: Any, images: Any, labels: Any,
                settings: AdaptSettings | None = None, *, mnist: Any = None,
                replay: Replay | None = None, base_name: str | None = None) -> Any:
    """A new Model: `model` adapted to the writer of images (n, 28, 28) (pixels 0..255,
    preprocessed as `predict` does) with labels (n,) in 0..9. Any subset of the digits
    may be shown, one example or many.

    mnist: the base's training data (default: the bundled MNIST) for replay and the
    reject threshold; replay: a `prepare_replay` result to reuse instead. The metadata
    records the base (`base_summary`), the examples per digit, the settings, the new
    reject_threshold and the seconds taken; MNIST test accuracy is not measured here
    (`digitnet evaluate` does it). Raises ConfigError for a model trained on squared error.
    """
    from .data import load_mnist
    from .model import Model

    start = time.perf_counter()
    settings = settings or AdaptSettings()
    check_adaptable(model)
    x, y = check_examples(images, labels)
    if replay is None:
        mnist = mnist if mnist is not None else load_mnist()
        replay = prepare_replay(model, mnist, settings)
    x, y_all = with_copies(x, y, settings.copies, np.random.default_rng([settings.seed, 37]))
    params = adapt_params(model.params, network_inputs(x, model.config), y_all, replay,
                          settings, model.config.label_smoothing)
    stored_as = model.metadata.get("architecture", {}).get("stored_as")
    if stored_as is not None:  # kept as the base is kept; measured as the file will hold it
        changed = {k: v for k, v in params.items() if v is not model.params[k]}
        params.update(as_stored(changed, stored_as))
    meta: dict[str, Any] = {
        key: model.metadata[key] for key in ("data_source", "data_sha256")
        if key in model.metadata}
    threshold = reject_threshold(params, model.params, replay)
    if threshold is not None:
        meta["reject_threshold"] = threshold
    elif "reject_threshold" in model.metadata:
        meta["reject_threshold"] = model.reject_threshold
    meta["adapted"] = {
        "base": base_summary(model, base_name),
        "examples": len(y),
        "examples_per_digit": {str(d): int(np.sum(y == d)) for d in range(CLASSES)},
        "settings": dataclasses.asdict(settings),
        "seconds": round(time.perf_counter() - start, 3),
    }
    return Model(params, model.config, meta)
