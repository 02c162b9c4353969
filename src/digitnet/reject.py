"""How surely a network input is a digit, and the threshold below which it is declined.

A model declines a picture as "not a digit" when its digit score, the largest of its
ten softmax probabilities, is below the model's reject threshold. `train.fit` sets that
threshold so that a share `Config.reject_rate` of the validation digits fall below it.
"""

from __future__ import annotations

import numpy as np

from . import network
from .config import Config
from .inputs import pixel_outputs
from .network import Params


def digit_scores(params: Params, x: np.ndarray) -> np.ndarray:
    """The largest softmax probability (n,) for each input row of x (n, 784)."""
    scores = [network.softmax(z).max(axis=1) for z in network.outputs_in_batches(params, x)]
    return np.concatenate(scores) if scores else np.empty(0)


def image_digit_scores(params: Params, images: np.ndarray, config: Config) -> np.ndarray:
    """`digit_scores` for pixels (n, 28, 28), made into network inputs a batch at a time."""
    scores = [network.softmax(z).max(axis=1) for z in pixel_outputs(params, images, config)]
    return np.concatenate(scores) if scores else np.empty(0)


def reject_threshold(params: Params, x_val: np.ndarray, rate: float) -> float:
    """The digit score below which a share `rate` of the validation digits x_val (n, 784)
    fall: pictures scoring lower are declined as "not a digit"."""
    return float(np.quantile(digit_scores(params, x_val), rate))
