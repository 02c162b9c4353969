"""The shapes every part of digitnet agrees on, defined once: MNIST's 28x28 images, the
784 inputs they flatten to, and the 10 digit classes."""

SIDE = 28  # MNIST images are SIDE x SIDE pixels
PIXELS = SIDE * SIDE  # 784: the network's inputs, one per pixel, row-major
CLASSES = 10  # the digits 0..9: the network's outputs


def architecture(hidden: int) -> str:
    """The network's shape as people write it: '784-1000-10' for 1000 hidden units."""
    return f"{PIXELS}-{hidden}-{CLASSES}"
