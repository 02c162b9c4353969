"""From pixels to network inputs, in one place for training, prediction and evaluation.

Pixels are on MNIST's 0..255 scale, 0 = background and 255 = ink, as uint8 or float,
shaped (n, 28, 28) or (n, 784), or one image (28, 28) or (784,). The network's input is
those pixels flattened to (n, 784), in the config's float dtype, times `input_scale`
(1/255 for the modern presets, 1.0 for the post's raw pixels). Models trained with
`deskew` straighten every image first (`images.deskew`), in training and prediction alike.
`forward_pixels` runs a network over any number of images converting a batch at a time,
so a large set never exists as a whole float copy (4 bytes a pixel, or 8, against 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from . import network
from .constants import PIXELS, SIDE
from .images import deskew

CONVERT_ROWS = 4096  # images turned into network inputs at a time (12.8 MB in float32)


def check_pixels(x: Any) -> np.ndarray:
    """x as an (n, 28, 28) or (n, 784) array of finite numbers; one image gets n = 1.

    Raises ValueError naming the shape or dtype when x is not images.
    """
    x = np.asarray(x)
    if x.shape in ((SIDE, SIDE), (PIXELS,)):
        x = x[None]
    if x.ndim not in (2, 3) or x.shape[1:] not in ((SIDE, SIDE), (PIXELS,)):
        raise ValueError(f"expected images shaped (n, 28, 28) or (n, 784), got {x.shape}")
    if x.dtype.kind not in "biuf":
        raise ValueError(f"expected pixel values as numbers, got dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError("pixel values must be finite; got NaN or infinity")
    return x


def network_inputs(x: Any, config: Any) -> np.ndarray:
    """Pixels x (see `check_pixels`) -> network inputs (n, 784) in config.dtype, scaled by
    config.input_scale, and deskewed first (`images.deskew`) if config.deskew. `config`
    is a Config (any object with dtype, input_scale and deskew)."""
    x = check_pixels(x)
    if config.deskew:
        x = deskew(x.reshape(len(x), SIDE, SIDE).astype(np.float32))
    dtype = np.dtype(config.dtype)
    x = x.reshape(len(x), PIXELS).astype(dtype)
    if config.input_scale != 1.0:
        x *= dtype.type(config.input_scale)
    return x


def forward_pixels(params: network.Params, x: Any, config: Any,
                   order: np.ndarray | None = None,
                   ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`network.forward` over pixels x (see `check_pixels`), turned into network inputs
    CONVERT_ROWS images at a time: yields (h (b, H), z (b, 10)) batch by batch, in order.

    order: a permutation of the 784 inputs, when the rows of params' W1 are in that order
    (training's ink order). Memory holds one batch, never a float copy of all of x.
    """
    x = check_pixels(x)
    for start in range(0, len(x), CONVERT_ROWS):
        inputs = network_inputs(x[start : start + CONVERT_ROWS], config)  # (b, 784)
        if order is not None:
            inputs = np.ascontiguousarray(inputs[:, order])
        yield from network.forward_in_batches(params, inputs)


def pixel_outputs(params: network.Params, x: Any, config: Any,
                  order: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """`forward_pixels`, yielding only the outputs z (b, 10): each batch's hidden layer is
    freed before the next one's is computed."""
    for h, z in forward_pixels(params, x, config, order):
        del h
        yield z


def outputs_of_pixels(params: network.Params, x: Any, config: Any) -> np.ndarray:
    """The network's outputs z (n, 10) for pixels x, computed batch by batch."""
    x = check_pixels(x)
    z = np.empty((len(x), network.N_OUTPUTS), np.result_type(np.dtype(config.dtype),
                                                             params["W2"]))
    start = 0
    for zb in pixel_outputs(params, x, config):
        z[start : start + len(zb)] = zb
        start += len(zb)
    return z
