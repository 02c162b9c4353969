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

import numpy as np

from .network import Params

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
ADAM_EPS = 1e-8


def init_state(params: Params, optimizer: str) -> dict[str, np.ndarray]:
    """Zeroed buffers for `optimizer`: "v.W1" etc. for momentum, "m.W1", "s.W1" for adam."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    slots = {"sgd": (), "momentum": ("v",), "nesterov": ("v",), "adam": ("m", "s")}[optimizer]
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
    if optimizer == "adam":
        state["step"] += 1
        t = int(state["step"])
        # fold both bias corrections into the step size, as in Kingma & Ba, section 2
        step_size = lr * math.sqrt(1 - beta2**t) / (1 - momentum**t)
    for name, p in params.items():
        g = grads[name]
        if weight_decay and name.startswith("W"):
            g += weight_decay * p
        # Every line below is one in-place pass over the arrays: no temporaries.
        if optimizer == "sgd":
            g *= lr
        elif optimizer in ("momentum", "nesterov"):
            v = state[f"v.{name}"]
            v *= momentum
            v += g  # v = mu * v + g
            if optimizer == "nesterov":  # W -= lr * g, then W -= lr * mu * v below
                g *= lr
                p -= g
                np.multiply(v, lr * momentum, out=g)
            else:
                np.multiply(v, lr, out=g)
        else:  # adam
            m, s = state[f"m.{name}"], state[f"s.{name}"]
            m -= g
            m *= momentum
            m += g  # m = b1 * m + (1 - b1) * g
            g *= g
            s -= g
            s *= beta2
            s += g  # s = b2 * s + (1 - b2) * g^2
            np.sqrt(s, out=g)
            g += ADAM_EPS * math.sqrt(1 - beta2**t)
            np.divide(m, g, out=g)
            g *= step_size
        p -= g


def max_norm(w: np.ndarray, limit: float) -> None:
    """Scale down, in place, every column of w (n_in, n_out) whose length exceeds limit.

    Column j of W1 is hidden unit j's incoming weight vector (Srivastava et al., 2014).
    """
    norms = np.sqrt(np.einsum("ij,ij->j", w, w))
    too_long = norms > limit
    if too_long.any():
        w[:, too_long] *= (limit / norms[too_long]).astype(w.dtype)


SCHEDULES = ("constant", "step", "cosine", "onecycle")


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
    if schedule == "onecycle":
        rise = warmup or 0.3 * total
        if progress < rise:
            return peak / 25 + (peak - peak / 25) * progress / rise
        frac = (progress - rise) / max(total - rise, 1e-12)
        return peak / 1e4 + (peak - peak / 1e4) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
    if schedule == "constant":
        lr = peak
    elif schedule == "step":
        lr = peak * step_gamma ** (int(progress) // step_every)
    elif schedule == "cosine":
        lr = peak * 0.5 * (1 + math.cos(math.pi * min(progress / total, 1.0)))
    else:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if warmup and progress < warmup:
        lr *= progress / warmup
    return lr
