"""The `digitnet adapt` command: teach a model one person's handwriting from a folder.

    digitnet adapt MODEL DIR --out mine.npz [--data-dir DIR] [--steps N] ...

DIR holds labelled examples the way torchvision's ImageFolder lays them out: one folder
per digit, named 0 to 9, with that digit's pictures in it (any subset of the digits, one
picture or many). Every picture is read and preprocessed exactly as `digitnet predict`
does (`images.preprocess_file`). A picture that cannot be read, or is blank, is skipped
with a line on stderr; a folder named other than a digit, or pictures lying in DIR
itself, stop the command before any work, in one line. The math is in adapt.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from .constants import CLASSES
from .errors import ImageError, UsageError

DIGIT_FOLDERS = tuple(str(d) for d in range(CLASSES))


def add_adapt_parser(sub: Any) -> None:
    """Register `digitnet adapt` on the CLI's subcommands."""
    from .adapt import AdaptSettings
    from .cli import _data_dir_argument
    from .cli_help import HelpFormatter, model_argument

    adapt = sub.add_parser(
        "adapt", help="teach a model your handwriting from a few labelled pictures",
        formatter_class=HelpFormatter,
        description="Adapt a model to one writer: DIR/0/*.png ... DIR/9/*.png hold pictures "
                    "of each digit (any of the digits, from one picture each). The new model "
                    "is an ordinary model file; it records its base model, the examples per "
                    "digit and these settings. See docs/adapt.md.")
    model_argument(adapt)
    adapt.add_argument("examples", type=Path, metavar="DIR",
                       help="folder with one subfolder per digit, named 0 to 9")
    adapt.add_argument("--out", type=Path, required=True, help="the adapted model file (.npz)")
    _data_dir_argument(adapt, " the model was trained on, for replay")
    group = adapt.add_argument_group("adaptation settings")
    for f in dataclasses.fields(AdaptSettings):
        kind = {"int": int, "float": float, "str": str}[f.type]
        options: dict[str, Any] = {"type": kind, "default": f.default, "help": f.metadata["help"]}
        if f.metadata["choices"]:
            options["choices"] = f.metadata["choices"]
        else:
            options["metavar"] = f.name.upper()
        group.add_argument("--" + f.name.replace("_", "-"), dest=f"adapt_{f.name}", **options)
    adapt.set_defaults(run=cmd_adapt)


def read_examples(folder: Path) -> tuple[list[Any], list[int], list[str]]:
    """The pictures under folder/0 ... folder/9, preprocessed: (images (28, 28) uint8 each,
    their digits, one line per picture skipped). Raises UsageError, naming the folder,
    when it is not laid out as one subfolder per digit or holds no readable picture."""
    from .images import EXTENSIONS, list_images, preprocess_file

    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder; give a folder with one subfolder per "
                         f"digit (0 to 9) holding its pictures")
    try:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as e:
        raise UsageError(f"{folder}: cannot list the folder ({e.strerror or e})") from None
    loose = [p for p in entries if p.suffix.lower() in EXTENSIONS and not p.is_dir()]
    if loose:
        raise UsageError(f"{loose[0]}: pictures must be in a subfolder named by their digit "
                         f"({folder}/0 ... {folder}/9), not in {folder} itself")
    folders = [p for p in entries if p.is_dir()]
    for sub in folders:
        if sub.name not in DIGIT_FOLDERS:
            raise UsageError(f"{sub}: folder name {sub.name!r} is not a digit; name each "
                             f"subfolder 0 to 9 after the digit its pictures show")
    if not folders:
        raise UsageError(f"{folder}: no digit folders; put each digit's pictures in "
                         f"{folder}/0 ... {folder}/9")
    images, digits, skipped = [], [], []
    for sub in folders:
        try:
            files = list_images([sub])
        except ImageError as e:
            skipped.append(str(e))
            continue
        for file in files:
            try:
                images.append(preprocess_file(file))
                digits.append(int(sub.name))
            except ImageError as e:
                skipped.append(str(e))
    if not images:
        raise UsageError(f"{folder}: no readable pictures in its digit folders"
                         + (f" ({skipped[0]})" if skipped else ""))
    return images, digits, skipped


def _counts(digits: list[int]) -> str:
    """'3 of 0, 3 of 1, 1 of 7': how many examples of each digit shown."""
    return ", ".join(f"{digits.count(d)} of {d}" for d in range(CLASSES) if d in digits)


def cmd_adapt(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import numpy as np

    from .adapt import AdaptSettings, adapt_model, check_adaptable
    from .cli import _model_file
    from .data import data_files, load_mnist
    from .files import check_outputs
    from .model import load_model

    start = time.perf_counter()
    settings = AdaptSettings(**{f.name: getattr(args, f"adapt_{f.name}")
                                for f in dataclasses.fields(AdaptSettings)})
    check_outputs([("--out", args.out)], [("model file", _model_file(args.model)), *(
        ("data file", path) for path in data_files(args.data_dir))])
    model = load_model(args.model)
    check_adaptable(model)  # before reading any picture
    images, digits, skipped = read_examples(args.examples)
    for line in skipped:
        print(f"digitnet: skipped {line}", file=sys.stderr)
    adapted = adapt_model(model, np.stack(images), np.array(digits), settings,
                          mnist=load_mnist(args.data_dir), base_name=str(args.model))
    stored_as = model.metadata.get("architecture", {}).get("stored_as")
    adapted.save(args.out, stored_as=stored_as)
    threshold = (f"; reject_threshold {adapted.reject_threshold:.4f}"
                 if "reject_threshold" in adapted.metadata else "")
    print(f"adapted {args.model} to {len(digits)} examples ({_counts(digits)}) by the "
          f"'{settings.method}' method in {time.perf_counter() - start:.1f}s{threshold}; "
          f"written to {args.out}")
    return 0
