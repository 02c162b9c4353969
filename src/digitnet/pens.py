"""Training digits as people's pens draw them.

`images.preprocess` redraws a picture's strokes at MNIST's width when they are much
thinner or thicker (`strokes.even_strokes`), so a digit drawn with a hairline pen or a
marker reaches the network with smooth, even strokes along its centre line: a look
MNIST's own digits rarely have. `pen_variants` shows the network that look during
training: each MNIST digit's centre line is drawn again with a round pen from
hairline (PEN_WIDTHS[0] of its size) to marker (PEN_WIDTHS[1]), log-uniformly, and the
result goes through the very steps of `images.preprocess_ink`, width check included.

It runs once per training run (about a millisecond a digit); `train.fit` then swaps a
share of the digits (`Config.aug_pens`) for these variants each epoch, before the usual
distortions.
"""

from __future__ import annotations

import numpy as np

from .images import ink_bounding_box, preprocess_ink
from .strokes import MASK, WORK, redraw, to_work_size

PEN_WIDTHS = (0.01, 0.3)  # pens from this fraction of the digit's longer side to this


def pen_variant(digit: np.ndarray, width: float) -> np.ndarray:
    """One digit (28, 28) on 0..255, ink high, redrawn with a pen `width` (a fraction of
    its longer side) and prepared as `images.preprocess_ink` prepares a picture's ink ->
    (28, 28) uint8. A blank image comes back unchanged."""
    ink = digit.astype(np.float32)
    if float(ink.max()) <= 0:
        return digit.astype(np.uint8)
    work = to_work_size(ink[ink_bounding_box(ink)])
    drawn = redraw(work > MASK * float(work.max()), max(width * WORK, 1.0))
    return preprocess_ink(drawn)


def pen_variants(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`pen_variant` of every digit (n, 28, 28), each with its own pen width drawn
    log-uniformly from PEN_WIDTHS -> (n, 28, 28) uint8."""
    low, high = np.log(PEN_WIDTHS[0]), np.log(PEN_WIDTHS[1])
    widths = np.exp(rng.uniform(low, high, len(images)))
    out = np.empty((len(images), 28, 28), np.uint8)
    for k, (digit, width) in enumerate(zip(images, widths, strict=True)):
        out[k] = pen_variant(digit, float(width))
    return out
