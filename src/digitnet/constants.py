"""The shapes every part of digitnet agrees on, defined once: MNIST's 28x28 images, the
784 inputs they flatten to, the 10 digit classes, and where a digit sits in its image."""

SIDE = 28  # MNIST images are SIDE x SIDE pixels
PIXELS = SIDE * SIDE  # 784: the network's inputs, one per pixel, row-major
CLASSES = 10  # the digits 0..9: the network's outputs

# How a digit is normalized, as MNIST was (by `images.preprocess`, and again by
# `augment.refit` after a distortion):
BOX = 20  # the digit is scaled to fit a 20x20 box ...
CENTER = 14.0  # ... then shifted so its center of mass is at (row 14, column 14)
INK_THRESHOLD = 0.25  # pixels below this fraction of the peak ink don't count for the box


def architecture(hidden: int) -> str:
    """The network's shape as people write it: '784-1000-10' for 1000 hidden units."""
    return f"{PIXELS}-{hidden}-{CLASSES}"
