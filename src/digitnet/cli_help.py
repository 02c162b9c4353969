"""What `digitnet --help` says (examples, the presets table) and the MODEL argument.

cli.py builds the parsers; the words and examples live here, so each is written once, and
so does the rule that tells a model from a picture in `predict [MODEL] IMAGE...`. The
presets table is made from `config.PRESETS` itself, never typed by hand: a preset changed
in config.py is changed in `digitnet train --help` (and in docs/training.md, whose table
the docs build makes with the same function).
"""

from __future__ import annotations

import argparse
import dataclasses
import zipfile
from pathlib import Path

from .config import PRESETS, Config

MODEL_HELP = ("a model file written by 'digitnet train --out', or 'builtin' for the recognizer "
              "packaged with digitnet ('./builtin' is a file of that name)")

# The rule for `predict` and `read`, whose MODEL may be left out (as `serve`'s may).
MODEL_RULE = ("The first argument is the MODEL when it is 'builtin', ends in .npz, or is a "
              "zip archive (as every model file is); otherwise every argument is a picture "
              "and the model is builtin.")

TOP = """\
examples:
  digitnet predict examples/seven-thin-pen.png      the digit in a picture (bundled model)
  digitnet read examples/number.png                 a number of several digits
  digitnet serve                                    draw digits in the browser
  digitnet train --out model.npz                    train your own network (about 15 s)
  digitnet predict model.npz examples/              ... and use it

MODEL is a model file (.npz, written by 'digitnet train --out') or 'builtin', the
recognizer packaged with digitnet; predict, read, evaluate and serve use builtin when no
model is named. Each command has its own --help."""

TRAIN = """\
examples:
  digitnet train                                    the fast preset; the model is not kept
  digitnet train --out model.npz                    ... keep it
  digitnet train --preset seed                      the blog post's network and algorithm
  digitnet train --preset best --threads 1 --out best.npz   the record attempt (~20 min)
  digitnet train --hidden 500 --optimizer adam --lr 0.002 --epochs 10
  digitnet train --config best.toml                 settings from 'digitnet sweep best'

Settings: a flag overrides the config file, which overrides the preset. Ctrl-C saves a
checkpoint of the last complete epoch; 'digitnet train --resume CHECKPOINT' continues it
and ends with the weights an uninterrupted run would have.

"""

PREDICT = f"""\
examples:
  digitnet predict examples/seven-thin-pen.png      with the bundled model
  digitnet predict examples/ --json                 every picture in a directory, as JSON
  digitnet predict model.npz my-seven.png --top-k 3
  digitnet predict builtin photo.jpg --show-input seen/   save the 28x28 the network saw

{MODEL_RULE}"""

READ = f"""\
examples:
  digitnet read examples/number.png                 with the bundled model
  digitnet read model.npz meter.png --json          each digit with its box
  digitnet read examples/number.png --show-input seen/   the boxes, and each digit's 28x28

{MODEL_RULE}"""

EVALUATE = """\
examples:
  digitnet evaluate                                 the bundled model on MNIST's test set
  digitnet evaluate model.npz --json m.json         ... and every figure as JSON
  digitnet evaluate model.npz --json - | jq .accuracy
  digitnet evaluate model.npz --data-dir /usr/share/datasets/fashion-mnist"""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each default (not None or an off switch's False); wraps
    prose, but keeps a paragraph that starts with an indented line, or a heading line
    ending in ':', as written (examples, tables)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:  # None: the help says; False:
            return action.help                                     # an on/off flag, off
        return super()._get_help_string(action)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            first = paragraph.split("\n", 1)[0]
            if paragraph.startswith(" ") or first.endswith(":"):
                paragraphs.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                paragraphs.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(paragraphs)


def _shown(value: object) -> str:
    """A setting as a person would write it: 1/255 for 0.00392..., 1e-05, true."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):  # 1/255 rather than 0.00392156862745098; 0.0001 as it is
        if len(repr(value)) > 10 and value and abs(1 / value - round(1 / value)) < 1e-6:
            return f"1/{round(1 / value)}"
        return f"{value:g}"
    return str(value)


def differing_fields() -> list[str]:
    """The Config fields some preset sets differently from another (besides its name)."""
    return [f.name for f in dataclasses.fields(Config) if f.name != "preset"
            and len({repr(getattr(p, f.name)) for p in PRESETS.values()}) > 1]


def preset_rows() -> list[list[str]]:
    """The presets table: a header row (setting, then each preset's name), then one row
    per setting the presets differ on, with each preset's value."""
    rows = [["setting", *PRESETS]]
    for name in differing_fields():
        rows.append([name.replace("_", "-"), *(_shown(getattr(p, name)) for p in PRESETS.values())])
    return rows


# What each preset is for, in a line (its settings are in the table made from PRESETS).
PRESET_NOTES = {
    "seed": "the blog post's network and algorithm, reproduced exactly",
    "fast": "the same network trained the modern way, in seconds (the default)",
    "noaug": "wider, with dropout, longer: the best run without augmentation",
    "best": "the record attempt: every epoch sees freshly distorted digits",
    "robust": "the bundled model's recipe: other writers' styles, non-digits, a reject rule",
}


def preset_table() -> str:
    """The presets, a line each, and their table as plain text, for `train --help`."""
    rows = preset_rows()
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    notes = [f"  {name:<8}{PRESET_NOTES.get(name, '')}" for name in PRESETS]
    return ("presets:\n" + "\n".join(notes) + "\n\nthe settings they differ on (every other "
            "setting is the same in all):\n" + "\n".join(lines))


def preset_markdown() -> str:
    """The presets table in Markdown, for the docs (docs/training.md)."""
    rows = preset_rows()
    lines = ["| " + " | ".join(f"`{c}`" if i == 0 and r else c for i, c in enumerate(row)) + " |"
             for r, row in enumerate(rows)]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    return "\n".join(lines)


def setting_help(field: dataclasses.Field) -> str:
    """A training flag's help: what it does, and its value when every preset agrees."""
    values = {repr(getattr(p, field.name)) for p in PRESETS.values()}
    if len(values) == 1:
        return f"{field.metadata['help']} (default: {_shown(getattr(PRESETS['fast'], field.name))})"
    return f"{field.metadata['help']} (see presets)"


def is_model_argument(text: str) -> bool:
    """True when a first positional argument of predict/read names a model (MODEL_RULE)."""
    if text == "builtin" or text.lower().endswith(".npz"):
        return True
    path = Path(text)
    try:
        return path.is_file() and zipfile.is_zipfile(path)
    except OSError:
        return False


def model_argument(parser: argparse.ArgumentParser, optional: bool = False) -> None:
    """The MODEL argument: kept a string, so "builtin" and "./builtin" stay apart. Before
    pictures (optional=None) it may be left out; `model_and_images` then decides."""
    if optional is None:
        parser.add_argument("model", nargs="?", default=None, metavar="MODEL",
                            help=f"{MODEL_HELP} (default: builtin)")
    elif optional:
        parser.add_argument("model", nargs="?", default="builtin", help=MODEL_HELP)
    else:
        parser.add_argument("model", help=MODEL_HELP)


def model_and_images(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """predict's and read's positionals, [MODEL] IMAGE...: args.model is the model
    (builtin when none is named, cli_help.MODEL_RULE) and args.images the pictures."""
    if args.model is None and len(args.images) == 1 and \
            is_model_argument(str(args.images[0])):
        parser.error(f"no pictures given after the model {args.images[0]}")
    if args.model is not None and not is_model_argument(args.model):
        args.images = [Path(args.model), *args.images]
        args.model = None
    args.model = args.model or "builtin"
