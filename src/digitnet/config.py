"""Training configuration: one frozen dataclass, and the named presets.

Every field carries its help text in `metadata["help"]`; the CLI turns each field into a
flag of the same name (`lr` -> `--lr`, `val_split` -> `--val-split`), so nothing can be
set in one place and forgotten in the other. Presets are complete `Config` values; flags
given on the command line replace single fields of the chosen preset.

A config file (`digitnet train --config FILE.toml` or `.json`) is one flat table of
fields; `read_config_file` checks every name, type and value, and `to_toml` writes one.
Precedence: command-line flags > config file > preset.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .augment import Augmentation
from .errors import ConfigError
from .network import INITS, LOSSES
from .optim import OPTIMIZERS, SCHEDULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


MAX_HIDDEN = 100_000  # hidden units; W1 then takes 314 MB in float32
MAX_WEIGHT_BYTES = 784 * MAX_HIDDEN * 4  # so float64 networks stop at 50,000 hidden units
MAX_STEP_NUMBERS = 2**28  # batch_size x hidden: each step holds three such arrays (1 GiB each)
MAX_EPOCHS = 2000  # their history (about 200 bytes an epoch) fits a model file's metadata
MAX_THREADS = 1024

# The largest value of each number field (the smallest is checked in __post_init__).
# Beyond these a run would hang (a million dilation passes), take more memory than any
# machine has, or overflow to NaN. (An input_scale that makes a network's values too large
# for a model file is refused by `train.fit` from the initial weights, before training.)
LIMITS: dict[str, float] = {
    "hidden": MAX_HIDDEN, "init_scale": 1.0, "max_norm": 1e6,
    "aug_rotation": 180.0, "aug_shear": 80.0, "aug_translate": 28.0,
    "elastic_alpha": 1000.0, "elastic_sigma": 100.0, "aug_aspect": 2.0, "aug_pen": 10.0,
    "aug_blur": 28.0, "outliers": 0.5, "fragments": 0.5, "epochs": MAX_EPOCHS,
    "batch_size": 65536, "weight_decay": 1.0, "warmup_epochs": MAX_EPOCHS,
    "step_every": MAX_EPOCHS, "step_gamma": 1.0, "val_split": 10_000_000,
    "patience": MAX_EPOCHS, "seed": 2**32 - 1, "split_seed": 2**32 - 1,
    "threads": MAX_THREADS,
}
MIN_ELASTIC_SIGMA = 0.1  # pixels; a narrower Gaussian underflows to NaN


def _f(default: Any, help: str, choices: tuple | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class Config:
    """How to build and train one network. Defaults are the `fast` preset."""

    preset: str = _f("fast", "name of the preset these settings started from")
    hidden: int = _f(1000, "hidden units H in the 784-H-10 network")
    biases: bool = _f(True, "give both layers a bias vector (the post's network has none)")
    init: str = _f("he", "weight init", tuple(INITS))
    init_scale: float = _f(1e-4, "upper bound of the 'uniform' init, [0, init_scale)")
    input_scale: float = _f(1 / 255, "pixels are multiplied by this (1.0 keeps raw 0..255)")
    dtype: str = _f("float32", "floating-point type for weights and inputs", ("float32", "float64"))
    loss: str = _f("cross_entropy", "loss function", tuple(LOSSES))
    label_smoothing: float = _f(0.1, "target smoothing: (1 - s) * onehot + s / 10 (0 = one-hot)")
    dropout: float = _f(0.0, "probability of dropping each hidden unit during training")
    input_dropout: float = _f(0.0, "probability of dropping each input pixel during training")
    max_norm: float = _f(0.0, "cap on the length of each hidden unit's input weights (0 = none)")
    aug_rotation: float = _f(0.0, "augmentation: largest random rotation, degrees (0 = none)")
    aug_scale: float = _f(0.0, "augmentation: largest rescaling, 0.1 = factors 0.9..1.1")
    aug_shear: float = _f(0.0, "augmentation: largest random shear, degrees")
    aug_translate: float = _f(0.0, "augmentation: largest random shift, pixels")
    elastic_alpha: float = _f(0.0, "elastic distortion strength, pixels (0 = none)")
    elastic_sigma: float = _f(5.0, "elastic distortion smoothness: Gaussian width, pixels")
    aug_aspect: float = _f(0.0, "augmentation: width/height stretch up to exp(+-aug_aspect)")
    aug_pen: float = _f(0.0, "augmentation: stroke width change up to +-aug_pen pixels")
    aug_binarize: float = _f(0.0, "augmentation: probability of thresholding the strokes")
    aug_blur: float = _f(0.0, "augmentation: Gaussian blur up to this width, pixels")
    aug_refit: bool = _f(False, "augmentation: re-normalize to 20x20, centred, as preprocess")
    aug_styles: float = _f(0.0, "augmentation: share of 1s given a continental flag or foot, "
                                "of 7s a crossed stem and of 9s a curled tail")
    aug_pens: float = _f(0.0, "augmentation: share of digits redrawn each epoch along their "
                              "centre line with a pen from hairline to marker, as "
                              "preprocess then prepares them")
    deskew: bool = _f(False, "straighten slanted digits by image moments, in training and "
                             "in every prediction")
    outliers: float = _f(0.0, "share of generated non-digits in the training set, taught to "
                              "give uniform probabilities")
    fragments: float = _f(0.0, "share of pieces of training digits (as a wrong cut through a "
                               "number leaves them) in the training set, taught like "
                               "non-digits")
    reject_rate: float = _f(0.0, "share of validation digits the 'not a digit' threshold may "
                                 "decline; stored as reject_threshold (0 = none)")
    epochs: int = _f(6, "passes over the training set")
    batch_size: int = _f(128, "samples per update; 1 is the post's per-sample SGD")
    shuffle: bool = _f(True, "reshuffle the training set every epoch (off = dataset order)")
    optimizer: str = _f("nesterov", "update rule", OPTIMIZERS)
    lr: float = _f(0.2, "peak learning rate")
    momentum: float = _f(0.9, "momentum for sgd variants; beta1 for adam")
    beta2: float = _f(0.999, "adam's second-moment decay")
    weight_decay: float = _f(0.0, "L2 penalty: adds weight_decay * W to each weight gradient")
    schedule: str = _f("onecycle", "learning-rate schedule", tuple(SCHEDULES))
    warmup_epochs: float = _f(0.0, "epochs of linear warmup from 0 (cosine, step and constant)")
    step_every: int = _f(2, "'step' schedule: epochs between drops")
    step_gamma: float = _f(0.1, "'step' schedule: factor applied at each drop")
    val_split: int = _f(5000, "training images held out for validation (never the test set)")
    early_stopping: bool = _f(False, "stop when validation accuracy stalls; keep the best weights")
    patience: int = _f(3, "epochs without a better validation accuracy before stopping")
    test_every_epoch: bool = _f(False, "also measure test accuracy after every epoch")
    seed: int = _f(1, "random seed for init, shuffling and the validation split")
    split_seed: int = _f(-1, "seed of the validation split alone (-1: use seed); networks "
                             "meant for one committee share it, so none saw its val images")
    threads: int = _f(0, "BLAS threads; 0 = before each epoch, use the cores other programs "
                         "left free (or the DIGITNET_THREADS environment variable)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value not in choices:
                raise ValueError(f"{f.name} must be one of {', '.join(choices)}; got {value!r}")
            if f.type == "float" and isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
        positive = {"hidden": self.hidden, "epochs": self.epochs, "batch_size": self.batch_size,
                    "lr": self.lr, "input_scale": self.input_scale, "patience": self.patience,
                    "step_every": self.step_every}
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        for name in ("weight_decay", "warmup_epochs", "val_split", "init_scale", "max_norm",
                     "threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("momentum", "beta2", "label_smoothing", "dropout", "input_dropout",
                     "outliers", "fragments", "reject_rate", "aug_pens"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.outliers + self.fragments >= 1:
            raise ValueError("outliers + fragments must be < 1: some of the training set must "
                             f"be digits; got {self.outliers!r} + {self.fragments!r}")
        if self.split_seed < -1:
            raise ValueError(f"split_seed must be >= 0, or -1 for seed; got {self.split_seed!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed!r}")
        if not self.step_gamma > 0:
            raise ValueError(f"step_gamma must be > 0, got {self.step_gamma!r}")
        if self.elastic_sigma < MIN_ELASTIC_SIGMA:
            raise ValueError(f"elastic_sigma must be at least {MIN_ELASTIC_SIGMA}, got "
                             f"{self.elastic_sigma!r}")
        self._check_limits()
        if self.early_stopping and not self.val_split:
            raise ValueError("early_stopping needs a validation set: set val_split > 0")
        if self.reject_rate and not self.val_split:
            raise ValueError("reject_rate needs a validation set: set val_split > 0")
        self.augmentation  # noqa: B018  (validates the augmentation ranges)

    def _check_limits(self) -> None:
        """Raise ValueError naming the first number above its LIMITS entry, or a network
        whose weights or training steps would be too large to hold."""
        for name, highest in LIMITS.items():
            value = getattr(self, name)
            if value > highest:
                raise ValueError(f"{name} must be at most {highest:g}, got {value!r}")
        itemsize = 8 if self.dtype == "float64" else 4
        if 784 * self.hidden * itemsize > MAX_WEIGHT_BYTES:
            raise ValueError(
                f"hidden {self.hidden} in {self.dtype} makes W1 take "
                f"{784 * self.hidden * itemsize / 1e6:.0f} MB, more than the "
                f"{MAX_WEIGHT_BYTES / 1e6:.0f} MB digitnet allows (float32 up to "
                f"{MAX_WEIGHT_BYTES // (784 * 4):,} hidden units, float64 up to "
                f"{MAX_WEIGHT_BYTES // (784 * 8):,})")
        if self.batch_size * self.hidden > MAX_STEP_NUMBERS:
            raise ValueError(f"batch_size {self.batch_size} x hidden {self.hidden} is more "
                             f"than the {MAX_STEP_NUMBERS:,} numbers a training step may hold "
                             f"(three arrays of that size); use a smaller batch")

    @property
    def augmentation(self) -> Augmentation:
        """The augmentation settings as an `augment.Augmentation`."""
        return Augmentation(rotation=self.aug_rotation, scale=self.aug_scale,
                            shear=self.aug_shear, translate=self.aug_translate,
                            elastic_alpha=self.elastic_alpha, elastic_sigma=self.elastic_sigma,
                            aspect=self.aug_aspect, pen=self.aug_pen,
                            binarize=self.aug_binarize, blur=self.aug_blur,
                            refit=self.aug_refit, styles=self.aug_styles)

    @property
    def validation_seed(self) -> int:
        """The seed of the validation split: split_seed, or seed when that is -1."""
        return self.seed if self.split_seed == -1 else self.split_seed

    @property
    def is_seed_algorithm(self) -> bool:
        """True when this is the post's per-sample SGD on squared error without biases."""
        return (self.batch_size == 1 and self.optimizer == "sgd" and not self.biases
                and self.loss == "squared_error" and self.weight_decay == 0
                and self.label_smoothing == 0
                and self.schedule == "constant" and self.warmup_epochs == 0
                and not (self.dropout or self.input_dropout or self.max_norm)
                and not (self.deskew or self.outliers or self.fragments)
                and not self.augmentation.active)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        """Rebuild a Config saved with `to_dict`; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(unknown)}")
        return cls(**values)


PRESETS: dict[str, Config] = {
    # The blog post, faithfully: 784-1000-10, no biases, raw 0..255 float64 pixels,
    # uniform [0, 1e-4) weights from RandomState(1), per-sample SGD in dataset order on
    # squared error, lr 1e-5, 5 epochs, test accuracy printed after every epoch.
    "seed": Config(
        preset="seed", hidden=1000, biases=False, init="uniform", init_scale=1e-4,
        input_scale=1.0, dtype="float64", loss="squared_error", epochs=5, batch_size=1,
        shuffle=False, optimizer="sgd", lr=1e-5, momentum=0.0, schedule="constant",
        label_smoothing=0.0, val_split=0, test_every_epoch=True, seed=1,
    ),
    "fast": Config(),
    # The best run without augmentation (docs/experiments.md): wider, with dropout, longer.
    "noaug": Config(preset="noaug", hidden=2048, dropout=0.3, lr=0.1, epochs=30),
    # The record attempt (see docs/experiments.md): a wide hidden layer with dropout,
    # trained on freshly distorted images every epoch (affine + elastic, after Simard,
    # Steinkraus & Platt 2003). One hidden layer, one network.
    "best": Config(
        preset="best", hidden=2048, dropout=0.3, lr=0.1, epochs=150,
        aug_rotation=8.0, aug_scale=0.08, aug_shear=8.0, aug_translate=1.5,
        elastic_alpha=34.0, elastic_sigma=5.0,
    ),
    # The bundled `builtin` model (issue 14): reads other writers' digits and doubts
    # non-digits. Inputs are deskewed; the training digits are also redrawn every epoch
    # with other pens, proportions, blur and thresholding, then re-normalized the way
    # preprocess does; a share of generated non-digits (letters, scribbles, shapes) is
    # taught to give uniform probabilities, and the "not a digit" threshold is set so
    # that 0.5% of validation digits fall below it. No label smoothing: with 0.1 it read
    # other writers' digits 2 to 3 points worse. Dropout 0.2 rather than 0.3: on two seeds
    # it read other writers a little better and declined as many non-digits. See
    # docs/experiments.md.
    "robust": Config(
        preset="robust", hidden=2048, dropout=0.2, lr=0.1, epochs=45, label_smoothing=0.0,
        aug_rotation=8.0, aug_shear=8.0, aug_translate=1.5, elastic_alpha=34.0,
        elastic_sigma=5.0, aug_aspect=0.2, aug_pen=1.0, aug_binarize=0.1, aug_blur=0.7,
        aug_refit=True, deskew=True, outliers=0.25, reject_rate=0.005,
    ),
}


def preset(name: str, **overrides: Any) -> Config:
    """The named preset with some fields replaced: `preset("seed", epochs=1)`."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)


_FIELD_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def check_value(name: str, value: Any) -> Any:
    """`value` for the Config field `name`, type-checked: an int where an int belongs
    (never a bool), a number for a float field (converted to float), a string or a bool.
    Raises ConfigError naming the field and the value."""
    fields = {f.name: f for f in dataclasses.fields(Config)}
    if name not in fields:
        raise ConfigError(f"unknown config field {name!r}")
    kind = fields[name].type
    if (isinstance(value, bool) and kind != "bool") or not isinstance(value, _FIELD_TYPES[kind]):
        raise ConfigError(f"{name} must be {'an' if kind == 'int' else 'a'} {kind}, "
                          f"got {value!r}")
    if kind != "float":
        return value
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return number


MAX_TABLE_BYTES = 1 << 20  # a config or search-space file is a few hundred bytes


def read_table(path: Path, what: str, json_file: bool = False) -> Any:
    """The parsed contents of a TOML file (or a JSON file, if json_file); any error reading
    or parsing it raises ConfigError naming the file and `what` it is.

    Only a regular file of at most MAX_TABLE_BYTES is read (checked before reading: a FIFO
    would wait forever, /dev/zero never ends); nesting too deep to parse is an error too.
    """
    try:
        with open(path, "rb", opener=_no_blocking) as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ConfigError(f"{path}: {what} must be a regular file, not a device, FIFO "
                                  f"or directory")
            data = f.read(MAX_TABLE_BYTES + 1)
        if len(data) > MAX_TABLE_BYTES:
            raise ConfigError(f"{path}: {what} is larger than {MAX_TABLE_BYTES:,} bytes")
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read {what} "
                          f"({getattr(e, 'strerror', None) or e})") from None
    try:
        return json.loads(text) if json_file else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as e:
        problem = "nested too deeply" if isinstance(e, RecursionError) else e
        raise ConfigError(f"{path}: not valid {'JSON' if json_file else 'TOML'}: "
                          f"{problem}") from None


def _no_blocking(path: str, flags: int) -> int:
    """os.open that never waits: opening a FIFO with no writer would block forever."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The Config fields set in a .toml or .json file, as {field: value}, type-checked.

    The file is one flat table of Config fields (`hidden = 512`, `lr = 0.1`); `preset`
    names the preset the other fields replace. Unknown fields, wrong types and values
    that Config refuses raise ConfigError naming the file.
    """
    path = Path(path)
    if path.suffix.lower() not in (".toml", ".json"):
        raise ConfigError(f"{path}: a config file must end in .toml or .json")
    values = read_table(path, "the config file", json_file=path.suffix.lower() == ".json")
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a table of config fields, got "
                          f"{type(values).__name__}")
    try:
        checked = {name: check_value(name, value) for name, value in values.items()}
        if "preset" in checked and checked["preset"] not in PRESETS:
            raise ConfigError(f"unknown preset {checked['preset']!r}; choose from "
                              f"{', '.join(PRESETS)}")
        dataclasses.replace(PRESETS[checked.get("preset", "fast")], **checked)
    except (ConfigError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from None
    return checked


def to_toml(values: dict[str, Any], comment: str = "") -> str:
    """A flat table of Config values (str, int, float, bool) as TOML text; `comment`
    lines go first, each prefixed with '# '."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    for name, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = json.dumps(value)  # a JSON string is a valid TOML basic string
        elif isinstance(value, (int, float)) and math.isfinite(value):
            text = repr(value)
        else:
            raise ConfigError(f"cannot write {name} = {value!r} as a TOML value")
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"
