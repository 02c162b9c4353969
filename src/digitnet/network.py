"""The network's math: a 784 -> H -> 10 perceptron with one ReLU hidden layer.

Pure functions on NumPy arrays, nothing else: parameter init, forward, the two losses
(each returning its value and its gradient), backward, and predict. Rows are samples:
`x` is (n, 784), the hidden layer is (n, H), the output is (n, 10).

Parameters live in a plain dict so they can be saved, iterated and updated by name:
    "W1" (784, H), "W2" (H, 10), and, when the network has biases, "b1" (H,), "b2" (10,).
The blog post's network has no biases; every function here works with or without them.

What is deliberately not here: optimizers (optim.py), the training loop (train.py), and
the seed's fast per-sample trainer (seed.py), which re-arranges these same formulas.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .constants import CLASSES, PIXELS

Params = dict[str, np.ndarray]

N_INPUTS = PIXELS  # 784
N_OUTPUTS = CLASSES  # 10
BATCH = 4096  # rows per forward pass when running over many inputs: bounds memory ...
BATCH_NUMBERS = 2**23  # ... and so does this: a batch's hidden layer (rows, H) holds at most
# this many numbers (32 MB in float32), so a wide network runs fewer rows at a time

# Each init draws a (fan_in, fan_out) weight matrix from rng; `scale` is uniform's bound.
INITS = {
    # the post's `np.random.random(shape) * 0.0001`
    "uniform": lambda rng, fan_in, fan_out, scale: rng.random((fan_in, fan_out)) * scale,
    # He: normal with std sqrt(2 / fan_in), suited to ReLU layers
    "he": lambda rng, fan_in, fan_out, scale: rng.normal(0.0, np.sqrt(2.0 / fan_in),
                                                         (fan_in, fan_out)),
    # Glorot: uniform in +-sqrt(6 / (fan_in + fan_out))
    "glorot": lambda rng, fan_in, fan_out, scale: rng.uniform(
        -np.sqrt(6.0 / (fan_in + fan_out)), np.sqrt(6.0 / (fan_in + fan_out)), (fan_in, fan_out)),
}


def init_params(
    rng: np.random.Generator | np.random.RandomState,
    hidden: int,
    *,
    init: str = "he",
    scale: float = 1e-4,
    biases: bool = True,
    dtype: np.dtype | type = np.float32,
) -> Params:
    """Draw a fresh network: W1 (784, hidden), W2 (hidden, 10), and zero biases if asked.

    init="uniform": every weight uniform in [0, scale), W1 drawn before W2, exactly the
        post's `np.random.random(shape) * 0.0001` when rng is `RandomState(1)`.
    init="he":      normal with std sqrt(2 / fan_in), suited to ReLU layers.
    init="glorot":  uniform in +-sqrt(6 / (fan_in + fan_out)).
    """
    if hidden < 1:
        raise ValueError(f"hidden must be >= 1, got {hidden!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {tuple(INITS)}, got {init!r}")
    params: Params = {}
    for name, (fan_in, fan_out) in {"W1": (N_INPUTS, hidden), "W2": (hidden, N_OUTPUTS)}.items():
        params[name] = INITS[init](rng, fan_in, fan_out, scale).astype(dtype, copy=False)
    if biases:
        params["b1"] = np.zeros(hidden, dtype)
        params["b2"] = np.zeros(N_OUTPUTS, dtype)
    return params


def relu(a: np.ndarray) -> np.ndarray:
    """max(a, 0) elementwise; any shape."""
    return np.maximum(a, 0)


def forward(
    params: Params,
    x: np.ndarray,
    out: tuple[np.ndarray, np.ndarray] | None = None,
    hidden_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the network on x (n, 784); returns the hidden layer h (n, H) and output z (n, 10).

    h = relu(x @ W1 + b1) * mask
    z = h @ W2 + b2          (scores for squared error, logits for softmax cross-entropy)

    hidden_mask (n, H) is dropout's: 0 for a dropped unit, 1 / keep-probability for a kept
    one (inverted dropout, so nothing changes at test time, when there is no mask).
    `out` may give preallocated (h, z) arrays to write into, so a training loop allocates
    nothing per step; the results are the same either way.
    """
    h_out, z_out = out if out is not None else (None, None)
    a1 = np.matmul(x, params["W1"], out=h_out)  # (n, H)
    if "b1" in params:
        a1 += params["b1"]
    h = np.maximum(a1, 0, out=a1)  # (n, H) relu, in place: a1 itself is not needed again
    if hidden_mask is not None:
        h *= hidden_mask
    z = np.matmul(h, params["W2"], out=z_out)  # (n, 10)
    if "b2" in params:
        z += params["b2"]
    return h, z


def batch_rows(hidden: int, batch: int = BATCH) -> int:
    """Rows per forward pass for a network of `hidden` units: at most `batch`, and few
    enough that the hidden layer holds at most BATCH_NUMBERS numbers (at least one row)."""
    return max(1, min(batch, BATCH_NUMBERS // hidden))


def forward_in_batches(params: Params, x: np.ndarray,
                       batch: int = BATCH) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`forward` over x (n, 784) a batch of rows at a time (`batch_rows`): yields
    (h (b, H), z (b, 10)) per batch, so memory stays bounded however many rows x has and
    however wide the network is."""
    rows = batch_rows(params["W1"].shape[1], batch)
    for start in range(0, len(x), rows):
        yield forward(params, x[start : start + rows])


def outputs_in_batches(params: Params, x: np.ndarray,
                       batch: int = BATCH) -> Iterator[np.ndarray]:
    """`forward_in_batches`, yielding only the outputs z (b, 10) of each batch: its hidden
    layer is freed before the next batch's is computed."""
    for h, z in forward_in_batches(params, x, batch):
        del h
        yield z


def outputs(params: Params, x: np.ndarray) -> np.ndarray:
    """The network's outputs z (n, 10) for inputs x (n, 784), computed in batches."""
    z = np.empty((len(x), N_OUTPUTS), np.result_type(x, params["W2"]))
    start = 0
    for zb in outputs_in_batches(params, x):
        z[start : start + len(zb)] = zb
        start += len(zb)
    return z


def backward(
    params: Params,
    x: np.ndarray,
    h: np.ndarray,
    dz: np.ndarray,
    out: Params | None = None,
    hidden_mask: np.ndarray | None = None,
) -> Params:
    """Gradients of the loss for every parameter, given dz = dLoss/dz (n, 10).

    Each line undoes one step of `forward`, read bottom to top:
        layer 2:  z  = h @ W2 + b2    ->  dW2 = h.T @ dz,  db2 = sum of dz over rows,
                                          dh  = dz @ W2.T
        ReLU:     h  = relu(a1)       ->  da1 = dh * (h > 0)   (a1 > 0 exactly where h > 0)
        dropout:  h  = relu(a1) * m   ->  da1 = dh * (h > 0) * m
        layer 1:  a1 = x @ W1 + b1    ->  dW1 = x.T @ da1, db1 = sum of da1 over rows
    Returns a dict with the same keys and shapes as params. `out` may hold preallocated
    arrays to write into: one per parameter name, and "da1" (n, H) for the hidden delta.
    hidden_mask must be the one given to `forward`.
    """
    out = out if out is not None else {}
    grads: Params = {"W2": np.matmul(h.T, dz, out=out.get("W2"))}  # (H, 10)
    if "b2" in params:
        grads["b2"] = np.sum(dz, axis=0, out=out.get("b2"))  # (10,)
    da1 = np.matmul(dz, params["W2"].T, out=out.get("da1"))  # (n, H)
    np.multiply(da1, h > 0, out=da1)
    if hidden_mask is not None:
        da1 *= hidden_mask
    grads["W1"] = np.matmul(x.T, da1, out=out.get("W1"))  # (784, H)
    if "b1" in params:
        grads["b1"] = np.sum(da1, axis=0, out=out.get("b1"))  # (H,)
    return grads


NOT_A_DIGIT = -1  # the training label of a picture that is not a digit


def one_hot(y: np.ndarray, n_classes: int = N_OUTPUTS,
            dtype: np.dtype | type = np.float64) -> np.ndarray:
    """Labels (n,) of 0..n_classes-1 -> (n, n_classes) rows with a single 1 (the post's `goal`)."""
    goal = np.zeros((len(y), n_classes), dtype)
    goal[np.arange(len(y)), y] = 1
    return goal


def targets(y: np.ndarray, n_classes: int, dtype: np.dtype | type,
            label_smoothing: float = 0.0) -> np.ndarray:
    """Training targets (n, n_classes): one-hot rows, or (1 - s) * onehot + s / n_classes.

    The label NOT_A_DIGIT (-1) marks a picture that is no digit at all ("outlier
    exposure"): its target is the uniform distribution, 1 / n_classes everywhere.
    """
    outlier = y == NOT_A_DIGIT
    if not outlier.any():
        goal = one_hot(y, n_classes, dtype)
    else:
        goal = np.full((len(y), n_classes), 1 / n_classes, dtype)
        goal[~outlier] = one_hot(y[~outlier], n_classes, dtype)
    if label_smoothing:
        goal = goal * (1 - label_smoothing) + label_smoothing / n_classes
    return goal


def squared_error(z: np.ndarray, y: np.ndarray,
                  label_smoothing: float = 0.0) -> tuple[float, np.ndarray]:
    """The post's loss: mean over rows of 1/2 * ||z - goal||^2, with its gradient.

    z (n, 10) scores, y (n,) labels. Returns (loss, dz) with dz = (z - goal) / n, (n, 10).
    With n = 1, dz is the post's `layer_2_delta = layer_2 - goal`; the 1/2 is what makes
    that the exact gradient (the post prints ||z - goal||^2, twice this loss).
    """
    dz = z - targets(y, z.shape[1], z.dtype, label_smoothing)
    loss = 0.5 * float(np.einsum("ij,ij->", dz, dz)) / len(z)
    dz /= len(z)
    return loss, dz


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits z (n, 10) -> probabilities (n, 10).

    Subtracting the row max first changes nothing mathematically and keeps exp() finite.
    """
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(
    z: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0
) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(z) against the labels, fused with its gradient.

    z (n, 10) logits, y (n,) labels. Returns (loss, dz) with dz (n, 10).
    With targets t (one-hot, or smoothed to (1 - s) * onehot + s / 10), the loss of one row
    is -sum(t * log p) with p = softmax(z), and its gradient is simply p - t: the softmax
    Jacobian diag(p) - p p^T times -t / p collapses because t sums to 1. Log-probabilities
    come from z - logsumexp(z), so log(0) is never taken.
    """
    shifted = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_norm  # (n, 10) log-probabilities, all finite
    target = targets(y, z.shape[1], z.dtype, label_smoothing)
    loss = -float(np.einsum("ij,ij->", target, log_p)) / len(z)
    dz = (np.exp(log_p) - target) / len(z)
    return loss, dz


LOSSES = {"squared_error": squared_error, "cross_entropy": softmax_cross_entropy}


def side_by_side(members: list[Params]) -> Params:
    """K networks of one hidden layer each -> one network whose outputs are their mean.

    Put the hidden layers next to each other and let the output layer average them:

        W1 = [W1_1 | ... | W1_K]           (784, H_1 + ... + H_K)
        b1 = [b1_1, ..., b1_K]             (H_1 + ... + H_K,)
        W2 = [W2_1; ...; W2_K] / K         (H_1 + ... + H_K, 10)
        b2 = (b2_1 + ... + b2_K) / K       (10,)

    Each hidden unit still sees only its own network's weights, so z = relu(x W1 + b1) W2
    + b2 = (z_1 + ... + z_K) / K exactly: a committee that averages its members' outputs
    (for softmax networks, their logits) is itself a 784-H-10 network, and everything
    that runs one network runs it. The members must all have biases or all have none.
    """
    if not members:
        raise ValueError("a committee needs at least one network")
    if len({"b1" in p for p in members}) != 1:
        raise ValueError("the networks must all have biases or all have none")
    k = len(members)
    params = {"W1": np.concatenate([p["W1"] for p in members], axis=1),
              "W2": np.concatenate([p["W2"] for p in members], axis=0) / k}
    if "b1" in members[0]:
        params["b1"] = np.concatenate([p["b1"] for p in members])
        params["b2"] = sum(p["b2"] for p in members) / k
    dtype = members[0]["W1"].dtype
    return {name: a.astype(dtype, copy=False) for name, a in params.items()}


def predict(params: Params, x: np.ndarray) -> np.ndarray:
    """Predicted digit (n,) for inputs x (n, 784): the index of the largest output."""
    return forward(params, x)[1].argmax(axis=1)
