"""digitnet: handwritten digits recognised by a 784-H-10 ReLU network written in NumPy.

    from digitnet import Classifier, load_mnist
    x_train, y_train, x_test, y_test = load_mnist()   # bundled MNIST, uint8 arrays
    clf = Classifier(hidden=1000, epochs=5).fit(x_train, y_train)
    print(clf.score(x_test, y_test), clf.history_[-1])
    clf.save("model.npz")

    model = load_model("model.npz")           # a file written by `digitnet train --out`
    model = load_model("builtin")             # the recognizer packaged with digitnet
    model.predict(images)                     # (n, 28, 28) pixels 0..255 -> digits (n,)
    model.predict_images(["seven.png"])       # any picture of a digit, preprocessed
    preprocess(picture)                       # -> (28, 28) uint8, made as MNIST was

Modules, bottom layer first (each imports only modules listed before it):
constants (28, 784, 10), errors, version, files (atomic writes, output checks), data
(idx files), network (the math), optim (update rules, schedules), seed (the post's
per-sample SGD, fast), threads (BLAS threads from the free cores), augment
(distortions), images (pictures -> MNIST-style pixels, deskew), inputs (pixels ->
network inputs), nondigits (generated non-digits), segment (a number's digits), config,
train (the loop), modelfile (the file format), checkpoint (resumable training), model
(the Model, its predictions and "builtin"), committee (networks averaged as one),
classifier (the estimator), adapt (a model taught one writer's handwriting), metrics,
evaluation and report (figures and plots), export (ONNX), sweep and sweep_report
(searches on Optuna), sessions (the web app's per-browser adapted models), server (the web
app of `digitnet serve`), cli_help (the words of --help, and which argument is a model),
cli and cli_adapt.
"""

from .classifier import Classifier
from .config import PRESETS, Config, preset
from .data import Mnist, load_mnist
from .errors import (
    ConfigError,
    DataError,
    DigitnetError,
    ImageError,
    ModelFileError,
    TrainingDiverged,
)
from .images import preprocess
from .model import Model, load_model
from .train import TrainResult, fit
from .version import __version__

__all__ = [
    "PRESETS", "Classifier", "Config", "ConfigError", "DataError", "DigitnetError", "ImageError",
    "Mnist", "Model", "ModelFileError", "TrainResult", "TrainingDiverged", "__version__", "fit",
    "load_mnist", "load_model", "preprocess", "preset",
]
