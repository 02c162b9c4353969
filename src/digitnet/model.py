"""The Model: a trained network plus what is known about it, and its predictions.

    model = load_model("model.npz")     # or load_model("builtin")
    model.predict(images)               # (n, 28, 28) pixels 0..255 -> digits (n,)
    model.predict_proba(images)         # -> (n, 10)
    model.predict_images(["a.png"])     # pictures, preprocessed as MNIST was
    model.predict_digits(images)        # -> ([7, None, ...], digit scores (n,)): None = declined
    model.adapt(images, labels)         # a new Model taught one writer's digits (adapt.py)
    model.save("copy.npz")

A model declines a picture as "not a digit" when its digit score, the largest of its ten
probabilities, is below the model's reject threshold (metadata "reject_threshold"; 0 for
models without one, which never decline). The name "builtin" (BUILTIN) means the model
packaged with digitnet, digitnet/_builtin/builtin.npz; any other name, and any Path, is a
file (so a file called builtin in the current directory is "./builtin").

What is not here: the file format (modelfile.py), checkpoints (checkpoint.py), how
pixels become network inputs (inputs.py) and the math (network.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from . import network
from .config import Config
from .constants import SIDE, architecture
from .errors import ImageError, ModelFileError
from .images import preprocess, preprocess_file
from .inputs import outputs_of_pixels
from .modelfile import load_model_file, save_model
from .network import Params

BUILTIN = "builtin"  # the model name of the recognizer packaged with digitnet
Picture = Any  # a path to an image file, a PIL image or an array: what `preprocess` takes


class Model:
    """A trained network plus what is known about it.

    params:   {"W1": (784, H), "W2": (H, 10), optionally "b1": (H,), "b2": (10,)}
    config:   the training Config
    metadata: JSON-ready dict (history, test_accuracy, data_sha256, version, created, ...)

    Every predict method takes pixels on MNIST's 0..255 scale, 0 = background and
    255 = ink, as uint8 or float: the network's own input scaling (config.input_scale)
    is applied inside. For pictures of digits use `predict_images`, or run
    `digitnet.preprocess` on each first.
    """

    def __init__(self, params: Params, config: Config, metadata: dict[str, Any] | None = None):
        self.params = params
        self.config = config
        self.metadata = dict(metadata or {})

    @classmethod
    def from_training(cls, result: Any, config: Config, data: Any = None) -> Model:
        """The model a `train.fit` run produced, with its history and test figures recorded.

        result: the TrainResult; data: the Mnist it was trained on (for its source and sha256).
        """
        meta: dict[str, Any] = {
            "history": result.history, "test_accuracy": result.test_accuracy,
            "test_loss": result.test_loss, "train_seconds": result.train_seconds,
            "best_epoch": result.best_epoch,
        }
        if result.reject_threshold is not None:
            meta["reject_threshold"] = result.reject_threshold
        if data is not None:
            meta.update(data_source=data.source, data_sha256=data.sha256)
        return cls(result.params, config, meta)

    @property
    def hidden(self) -> int:
        return int(self.params["W1"].shape[1])

    def __repr__(self) -> str:
        accuracy = self.metadata.get("test_accuracy")
        tail = f", test accuracy {100 * accuracy:.2f}%" if isinstance(accuracy, float) else ""
        return f"<digitnet.Model {architecture(self.hidden)} {self.params['W1'].dtype}{tail}>"

    def _outputs(self, x: np.ndarray) -> np.ndarray:
        """Network outputs z (n, 10) for pixels x (see `inputs.network_inputs`), a batch
        at a time."""
        return outputs_of_pixels(self.params, x, self.config)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (n, 10): softmax of the outputs for images x (n, 28, 28) or (n, 784).

        Pixels are on the 0..255 scale (0 = background, 255 = ink), uint8 or float.
        For a model trained on squared error (the seed preset) the outputs are scores,
        not logits; their softmax still ranks the digits as the scores do.
        """
        return network.softmax(self._outputs(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted digits (n,) for images x (n, 28, 28) or (n, 784) on the 0..255 scale."""
        return self._outputs(x).argmax(axis=1)

    @property
    def reject_threshold(self) -> float:
        """Digit scores below this are declined as "not a digit" (0.0: never declines)."""
        return float(self.metadata.get("reject_threshold", 0.0))

    def with_threshold(self, threshold: float) -> Model:
        """This model declining below another digit score: 0.0 never declines, 1.0 declines
        all but certainties. The weights are shared, not copied. Raises ValueError for a
        threshold outside 0..1 (or NaN)."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
        return Model(self.params, self.config, {**self.metadata,
                                                "reject_threshold": float(threshold)})

    def declines(self, scores: Any) -> Any:
        """True where a digit score (a float, or an array (n,)) is below `reject_threshold`:
        that picture is "not a digit"."""
        return scores < self.reject_threshold

    def digit_score(self, x: np.ndarray) -> np.ndarray:
        """How much each image looks like a digit: its largest probability, (n,) in (0, 1].

        x: images (n, 28, 28) or (n, 784) on the 0..255 scale, as `predict` takes them.
        An image whose score is below `reject_threshold` is not a digit.
        """
        return self._score(self._outputs(x))

    @staticmethod
    def _score(outputs: np.ndarray) -> np.ndarray:
        """The digit score (n,) from network outputs (n, 10): the largest probability."""
        return network.softmax(outputs).max(axis=1)

    def predict_digits(self, x: np.ndarray) -> tuple[list[int | None], np.ndarray]:
        """Digits with None for each image declined as not a digit, and the digit scores.

        x: images (n, 28, 28) or (n, 784) on the 0..255 scale. Returns (digits, scores):
        a list of n ints 0..9 or None (score below `reject_threshold`), and scores (n,).
        """
        outputs = self._outputs(x)  # (n, 10)
        scores = self._score(outputs)
        digits = [None if declined else int(digit) for digit, declined
                  in zip(outputs.argmax(axis=1), self.declines(scores), strict=True)]
        return digits, scores

    def predict_images_digits(self, pictures: Picture | Iterable[Picture],
                              ) -> tuple[list[int | None], np.ndarray]:
        """`predict_digits` for pictures: (digits with None when declined, scores (n,)).

        pictures: image files, PIL images or arrays (any that `digitnet.preprocess`
        takes), or one of them. Raises ImageError naming the first that cannot be read or
        is blank; `predict_pictures` answers each picture on its own instead.
        """
        return self.predict_digits(self._load_images(pictures))

    def predict_pictures(self, pictures: Picture | Iterable[Picture]) -> list[dict[str, Any]]:
        """One answer per picture, as `digitnet predict --json` gives them: a picture that
        cannot be read, or is blank, gets {"error": why} and stops no other.

        pictures: image files, PIL images or arrays, or one of them. Each answer is
        {"digit": 0..9 or None, "reason": "not a digit" or None, "digit_score",
        "probabilities": [10 floats]}, or {"error": message}.
        """
        answers: list[dict[str, Any]] = []
        inputs, where = [], []
        for k, picture in enumerate(_as_list(pictures)):
            try:
                inputs.append(_prepared(picture))
                where.append(k)
                answers.append({})
            except ImageError as e:
                answers.append({"error": str(e)})
        if inputs:
            outputs = self._outputs(np.stack(inputs))  # (n, 10)
            probabilities, scores = network.softmax(outputs), self._score(outputs)
            for k, probs, score in zip(where, probabilities, scores, strict=True):
                declined = bool(self.declines(score))
                answers[k] = {"digit": None if declined else int(probs.argmax()),
                              "reason": "not a digit" if declined else None,
                              "digit_score": float(score),
                              "probabilities": [float(p) for p in probs]}
        return answers

    def predict_images(self, paths: str | Path | Iterable[str | Path]) -> np.ndarray:
        """Predicted digits (n,) for image files (PNG, JPEG, BMP, GIF, TIFF, ...).

        Each file is read safely and preprocessed as MNIST was (`digitnet.preprocess`).
        Raises ImageError naming the first file that cannot be read or is blank.
        """
        return self.predict(self._load_images(paths))

    def predict_images_proba(self, paths: str | Path | Iterable[str | Path]) -> np.ndarray:
        """Class probabilities (n, 10) for image files; see `predict_images`."""
        return self.predict_proba(self._load_images(paths))

    @staticmethod
    def _load_images(pictures: Picture | Iterable[Picture]) -> np.ndarray:
        images = [_prepared(p) for p in _as_list(pictures)]
        if not images:
            return np.zeros((0, SIDE, SIDE), np.uint8)
        return np.stack(images)  # (n, 28, 28) uint8

    def adapt(self, x: np.ndarray, y: np.ndarray, **options: Any) -> Model:
        """A new Model taught the handwriting of images x (n, 28, 28), pixels 0..255 as
        `predict` takes them, with digits y (n,); this one is unchanged. options: the
        fields of `adapt.AdaptSettings` (steps=100, ...), and mnist= or base_name= as
        `adapt.adapt_model` takes them."""
        from .adapt import AdaptSettings, adapt_model

        extra = {key: options.pop(key) for key in ("mnist", "replay", "base_name")
                 if key in options}
        return adapt_model(self, x, y, AdaptSettings(**options), **extra)

    def save(self, path: str | Path, stored_as: str | None = None) -> None:
        """Write this model to `path` atomically; checks the weights first.
        stored_as="float16" keeps float32 weights as float16 in the file (half the size)."""
        save_model(path, self.params, self.config, self.metadata, stored_as=stored_as)

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read and validate a model file written by `save`, or the packaged "builtin"."""
        return cls(*load_model_file(model_path(path)))


def _as_list(pictures: Picture | Iterable[Picture]) -> list[Picture]:
    """One picture (a path, a PIL image, an array) or several -> a list of them."""
    if isinstance(pictures, (str, os.PathLike, np.ndarray)) or hasattr(pictures, "convert"):
        return [pictures]
    return list(pictures)


def _prepared(picture: Picture) -> np.ndarray:
    """A picture -> the network's (28, 28) uint8 input, by `preprocess` (whose errors name
    the file). Every picture is prepared, a 28x28 array too, so all are treated alike."""
    if isinstance(picture, (str, os.PathLike)):
        return preprocess_file(picture)
    return preprocess(picture)


def load_model(path: str | Path) -> Model:
    """Load a model file, or the packaged recognizer for the name "builtin".

    Raises ModelFileError with the reason if it is not a valid model file.
    """
    return Model.load(path)


def builtin_path() -> Path:
    """Where the packaged recognizer's file is (it may be missing from a checkout)."""
    return Path(str(resources.files("digitnet") / "_builtin" / "builtin.npz"))


def model_path(name: str | Path) -> Path:
    """The file a model name means: the string "builtin" is the packaged recognizer,
    anything else (and every Path) is a path. Raises ModelFileError, in one line, if the
    packaged recognizer is missing."""
    if isinstance(name, str) and name == BUILTIN:
        path = builtin_path()
        if not path.is_file():
            raise ModelFileError(f"{BUILTIN}: the bundled model is not installed ({path} is "
                                 f"missing); give a model file written by 'digitnet train "
                                 f"--out' instead")
        return path
    return Path(name)
