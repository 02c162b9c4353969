"""The blog post's training algorithm, computed fast: per-sample SGD on squared error.

For each sample x (784,), in dataset order, the post does:

    h  = relu(x @ W1)                      # (1000,)
    z  = h @ W2                            # (10,)
    dz = z - goal                          # the post's layer_2_delta
    dh = (dz @ W2.T) * (h > 0)             # the post's layer_1_delta
    W2 = W2 - lr * outer(h, dz)
    W1 = W1 - lr * outer(x, dh)

That is `network.forward`, `network.squared_error` and `network.backward` with n = 1 and no
biases. Done literally, every sample builds and copies a full 784 x 1000 matrix, three times.
This module performs the same sequence of updates without doing that.

The trick: W1 only enters the next samples through products x_t @ W1. Take a block of
K consecutive samples x_1..x_K (rows of X, (K, 784)). When sample t is reached, W1 has
received the updates of samples 1..t-1 of the block, so

    x_t @ W1_now = x_t @ (W1_start - lr * sum_{s<t} outer(x_s, dh_s))
                 = (X @ W1_start)[t] - sum_{s<t} (x_t . x_s) * lr * dh_s
                 = H0[t]             - G[t, :t] @ D[:t]

with H0 = X @ W1_start (one matrix product for the block), G = X @ X.T (the block's
Gram matrix, (K, K)) and D the rows lr * dh_s stored as they are computed. At the end of the
block, W1 -= X.T @ D applies the K updates at once. W2 is small (1000 x 10), so it is
updated in place after every sample, exactly as in the post.

Nothing is approximated: in exact arithmetic this is the post's algorithm step for step.
In floating point only the order of additions differs, so the weights agree with a
literal transcription to about 1e-15 relative (tests/test_seed.py checks it). MNIST's
blank border columns are skipped inside each block, since a zero pixel contributes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .network import Params

BLOCK = 64  # samples per block; any size gives the same updates, 64 is fastest here


def sgd_epoch(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    learning_rate: float,
    *,
    block: int = BLOCK,
    progress: Callable[[int], None] | None = None,
) -> float:
    """One epoch of the post's per-sample SGD over x (n, 784) float64 and labels y (n,).

    Updates params["W1"] (784, H) and params["W2"] (H, 10) in place, in dataset order.
    Returns the mean over samples of 1/2 * ||z - goal||^2 (z before that sample's update).
    `progress(k)` is called after every block with the number of samples just done.
    """
    if "b1" in params or "b2" in params:
        raise ValueError("the seed trainer reproduces the post's network, which has no biases")
    W1, W2 = params["W1"], params["W2"]
    D = np.empty((block, W1.shape[1]), W1.dtype)  # rows lr * dh of the current block
    total_loss = 0.0
    for start in range(0, len(x), block):
        X, Y = x[start : start + block], y[start : start + block]
        cols = np.flatnonzero(X.any(axis=0))  # pixels that are ink somewhere in the block
        lo, hi = (cols[0], cols[-1] + 1) if len(cols) else (0, 0)
        Xs, W1s = X[:, lo:hi], W1[lo:hi]  # W1s is a view: updating it updates W1
        H0 = Xs @ W1s  # (K, H) every sample's x @ W1 at the block's start
        G = Xs @ Xs.T  # (K, K) dot products between the block's samples
        for t in range(len(X)):
            h = H0[t]
            if t:
                h -= G[t, :t] @ D[:t]  # the updates of earlier samples in this block
            np.maximum(h, 0, out=h)  # h = relu(x @ W1)
            dz = h @ W2  # z ...
            dz[Y[t]] -= 1  # ... minus goal
            total_loss += 0.5 * float(dz @ dz)
            dh = W2 @ dz  # dz @ W2.T, as a (H,) vector
            dh *= h > 0
            W2 -= np.multiply.outer(h, learning_rate * dz)
            np.multiply(dh, learning_rate, out=D[t])
        W1s -= Xs.T @ D[: len(X)]
        if progress is not None:
            progress(len(X))
    return total_loss / len(x)
