"""Optimizers and learning-rate schedules, as pure update rules on the params dict.

An optimizer is two functions: `init_state(params, name)` makes its per-parameter
buffers, and `update(params, grads, state, ...)` applies one step in place. Gradients are
consumed: `update` may overwrite them to avoid temporary arrays.

    sgd:       W -= lr * g
    momentum:  v = mu * v + g;           W -= lr * v          (PyTorch's convention)
    nesterov:  v = mu * v + g;           W -= lr * (g + mu * v)
    adam:      m = b1 m + (1 - b1) g;    s = b2 s + (1 - b2) g^2
               W -= lr * m_hat / (sqrt(s_hat) + eps), with m_hat, s_hat bias-corrected

Weight decay adds weight_decay * W to the gradient of each weight matrix (not biases).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .network import Params

ADAM_EPS = 1e-8


@dataclass(frozen=True)
class Step:
    """The numbers one update step needs, the same for every parameter."""

    lr: float
    momentum: float  # mu for the sgd variants; beta1 for adam
    beta2: float = 0.999
    t: int = 0  # adam: the step number, from 1
    step_size: float = 0.0  # adam: lr with both bias corrections folded in


# Each rule updates one parameter p in place from its gradient g, which it may overwrite.
# Every line is one in-place pass over the arrays: no temporaries.

def _sgd(p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], name: str,
         k: Step) -> None:
    g *= k.lr
    p -= g  # W -= lr * g


def _momentum(p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], name: str,
              k: Step) -> None:
    v = state[f"v.{name}"]
    v *= k.momentum
    v += g  # v = mu * v + g
    np.multiply(v, k.lr, out=g)
    p -= g  # W -= lr * v


def _nesterov(p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], name: str,
              k: Step) -> None:
    v = state[f"v.{name}"]
    v *= k.momentum
    v += g  # v = mu * v + g
    g *= k.lr
    p -= g  # W -= lr * g ...
    np.multiply(v, k.lr * k.momentum, out=g)
    p -= g  # ... and W -= lr * mu * v


def _adam(p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], name: str,
          k: Step) -> None:
    m, s = state[f"m.{name}"], state[f"s.{name}"]
    m -= g
    m *= k.momentum
    m += g  # m = b1 * m + (1 - b1) * g
    g *= g
    s -= g
    s *= k.beta2
    s += g  # s = b2 * s + (1 - b2) * g^2
    np.sqrt(s, out=g)
    g += ADAM_EPS * math.sqrt(1 - k.beta2**k.t)
    np.divide(m, g, out=g)
    g *= k.step_size
    p -= g  # W -= lr * m_hat / (sqrt(s_hat) + eps)


# name -> (update rule, the buffers it keeps per parameter)
RULES = {
    "sgd": (_sgd, ()),
    "momentum": (_momentum, ("v",)),
    "nesterov": (_nesterov, ("v",)),
    "adam": (_adam, ("m", "s")),
}
OPTIMIZERS = tuple(RULES)


def init_state(params: Params, optimizer: str) -> dict[str, np.ndarray]:
    """Zeroed buffers for `optimizer`: "v.W1" etc. for momentum, "m.W1", "s.W1" for adam."""
    if optimizer not in RULES:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    slots = RULES[optimizer][1]
    state = {f"{slot}.{name}": np.zeros_like(p) for slot in slots for name, p in params.items()}
    if optimizer == "adam":
        state["step"] = np.zeros((), np.int64)
    return state


def update(
    params: Params,
    grads: Params,
    state: dict[str, np.ndarray],
    optimizer: str,
    lr: float,
    *,
    momentum: float = 0.9,
    beta2: float = 0.999,
    weight_decay: float = 0.0,
) -> None:
    """Apply one step of `optimizer` to params in place (grads are overwritten)."""
    rule = RULES[optimizer][0]
    step = Step(lr, momentum, beta2)
    if optimizer == "adam":
        state["step"] += 1
        t = int(state["step"])
        # fold both bias corrections into the step size, as in Kingma & Ba, section 2
        step = Step(lr, momentum, beta2, t, lr * math.sqrt(1 - beta2**t) / (1 - momentum**t))
    for name, p in params.items():
        g = grads[name]
        if weight_decay and name.startswith("W"):
            g += weight_decay * p
        rule(p, g, state, name, step)


def max_norm(w: np.ndarray, limit: float) -> None:
    """Scale down, in place, every column of w (n_in, n_out) whose length exceeds limit.

    Column j of W1 is hidden unit j's incoming weight vector (Srivastava et al., 2014).
    """
    norms = np.sqrt(np.einsum("ij,ij->j", w, w))
    too_long = norms > limit
    if too_long.any():
        w[:, too_long] *= (limit / norms[too_long]).astype(w.dtype)


def _warm(lr: float, progress: float, warmup: float) -> float:
    """lr, scaled down linearly over the first `warmup` epochs."""
    return lr * progress / warmup if warmup and progress < warmup else lr


def _constant(peak: float, progress: float, total: float, warmup: float, every: int,
              gamma: float) -> float:
    return _warm(peak, progress, warmup)


def _step(peak: float, progress: float, total: float, warmup: float, every: int,
          gamma: float) -> float:
    return _warm(peak * gamma ** (int(progress) // every), progress, warmup)


def _cosine(peak: float, progress: float, total: float, warmup: float, every: int,
            gamma: float) -> float:
    return _warm(peak * 0.5 * (1 + math.cos(math.pi * min(progress / total, 1.0))), progress,
                 warmup)


def _onecycle(peak: float, progress: float, total: float, warmup: float, every: int,
              gamma: float) -> float:
    rise = warmup or 0.3 * total
    if progress < rise:
        return peak / 25 + (peak - peak / 25) * progress / rise
    frac = (progress - rise) / max(total - rise, 1e-12)
    return peak / 1e4 + (peak - peak / 1e4) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))


SCHEDULES = {"constant": _constant, "step": _step, "cosine": _cosine, "onecycle": _onecycle}


def learning_rate(
    schedule: str,
    peak: float,
    progress: float,
    total: float,
    *,
    warmup: float = 0.0,
    step_every: int = 2,
    step_gamma: float = 0.1,
) -> float:
    """The learning rate after `progress` of `total` epochs (both may be fractional).

    constant: peak.  step: peak * step_gamma ** (epochs done // step_every).
    cosine: from peak down to 0 along half a cosine.  With warmup > 0 each of these first
    rises linearly from 0 over `warmup` epochs.
    onecycle: rises linearly from peak / 25 to peak over the first 30% (or `warmup` epochs
    if given), then falls along half a cosine to peak / 1e4 (Smith & Topin, 2018).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {tuple(SCHEDULES)}, got {schedule!r}")
    return SCHEDULES[schedule](peak, progress, total, warmup, step_every, step_gamma)
