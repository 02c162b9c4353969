"""Development figures for choosing the `robust` preset (issue 14): prints JSON.

    python benchmarks/model_dev.py MODEL.npz [MODEL.npz ...]

Measured on development data only, never on the sets reported in docs/builtin.md:
  mnist_val        MNIST's 5,000 validation images (the split `digitnet train` holds out
                   with seed 1; a model trained with another seed saw some of them)
  sklearn_dev      the FIRST half (index order) of scikit-learn's load_digits, 8x8 digits
                   from writers outside MNIST, turned into 64x64 dark-on-white pictures by
                   bicubic upsampling and then run through digitnet.preprocess. The second
                   half is left for the final report (benchmarks/robustness.py).
  non-digits       nondigits.VALIDATION_KINDS (kinds and fonts never used in training, and
                   scribbles from a fresh seed), 300 each, plus 1,000 Fashion-MNIST test
                   images when /usr/share/datasets/fashion-mnist is installed.
The held-out letters depend on the fonts installed (Liberation comes with Chromium; without
any, Pillow's own font stands in), so the report names them: compare runs on one machine.
The rejection threshold is the one in the model's metadata, else the 0.5% quantile of
the digit score (largest softmax probability) on mnist_val.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from digitnet import nondigits, train
from digitnet.config import PRESETS
from digitnet.data import load_mnist
from digitnet.images import preprocess
from digitnet.model import load_model

FASHION = Path("/usr/share/datasets/fashion-mnist")


def sklearn_pictures(half: int) -> tuple[np.ndarray, np.ndarray]:
    """load_digits' first (half=0) or second (half=1) half as preprocessed (n, 28, 28)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    cut = len(digits.images) // 2
    part = slice(0, cut) if half == 0 else slice(cut, None)
    images = []
    for small in digits.images[part]:
        picture = Image.fromarray((255 - small * (255 / 16)).astype(np.float32))
        big = np.clip(np.asarray(picture.resize((64, 64), Image.Resampling.BICUBIC)), 0, 255)
        images.append(preprocess(big.astype(np.uint8)))
    return np.stack(images), digits.target[part]


def fashion() -> np.ndarray | None:
    if not FASHION.is_dir():
        return None
    data = load_mnist(FASHION)
    return np.stack([preprocess(x) for x in data.x_test[:1000]])


def dev_sets() -> dict:
    """The development sets, the same on every run: {"x_val", "y_val", "x_dev", "y_dev",
    "others" (held-out kinds of non-digit, name -> images), "seen" (fresh drawings of the
    training kinds), "fonts" (what the held-out letters were drawn in)}; images (n, 28, 28)."""
    mnist = load_mnist()
    _, held = train.held_out(len(mnist.x_train), PRESETS["robust"])  # as the robust preset
    x_dev, y_dev = sklearn_pictures(0)
    rng = np.random.default_rng(20261125)
    others = {kind: nondigits.generate(kind, 300, rng) for kind in nondigits.VALIDATION_KINDS}
    seen = {f"train_kind_{kind}": nondigits.generate(kind, 300, rng)
            for kind in nondigits.TRAIN_KINDS}
    clothes = fashion()
    if clothes is not None:
        others["fashion_mnist"] = clothes
    faces = nondigits.fonts(nondigits.VALIDATION_FONT_FAMILIES)  # draw letters_other_fonts
    return {"x_val": mnist.x_train[held], "y_val": mnist.y_train[held], "x_dev": x_dev,
            "y_dev": y_dev, "others": others, "seen": seen,
            "fonts": [p.name for p in faces] or "Pillow's own font"}


def figures(probabilities, sets: dict, threshold: float | None = None) -> dict:
    """Development figures of a classifier: `probabilities` maps images (n, 28, 28) to
    class probabilities (n, 10). The threshold is the one given, else the 0.5% quantile
    of the digit score (the largest probability) on MNIST val."""
    def scores(x):
        p = probabilities(x)
        return p.max(axis=1), p.argmax(axis=1)

    val_scores, val_digits = scores(sets["x_val"])
    dev_scores, dev_digits = scores(sets["x_dev"])
    if not threshold:
        threshold = float(np.quantile(val_scores, 0.005))
    right_val, right_dev = val_digits == sets["y_val"], dev_digits == sets["y_dev"]
    entry = {
        "mnist_val_accuracy": float(np.mean(right_val)),
        "sklearn_dev_accuracy": float(np.mean(right_dev)),
        # a declined digit counted as wrong, as `digitnet predict` answers
        "mnist_val_accuracy_with_declines": float(np.mean(right_val
                                                          & (val_scores >= threshold))),
        "threshold": threshold,
        "false_rejection_mnist_val": float(np.mean(val_scores < threshold)),
        "false_rejection_sklearn_dev": float(np.mean(dev_scores < threshold)),
        "sklearn_dev_accuracy_of_accepted": float(np.mean(right_dev[dev_scores >= threshold])),
        "sklearn_dev_accuracy_with_declines": float(np.mean(right_dev
                                                            & (dev_scores >= threshold))),
        "rejection": {kind: float(np.mean(scores(x)[0] < threshold)) for kind, x in
                      {**sets["others"], **sets["seen"]}.items()},
    }
    entry["rejection_held_out_mean"] = float(np.mean([entry["rejection"][k]
                                                      for k in sets["others"]]))
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description="Development figures of models (JSON).")
    parser.add_argument("models", nargs="+", metavar="MODEL", help="model file, or 'builtin'")
    args = parser.parse_args()
    try:  # a bad model name is one line, before minutes of work
        models = {path: load_model(path) for path in args.models}
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    sets = dev_sets()
    report = {"letters_other_fonts_drawn_in": sets["fonts"]}
    for path, model in models.items():
        report[path] = figures(model.predict_proba, sets,
                               model.metadata.get("reject_threshold"))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
