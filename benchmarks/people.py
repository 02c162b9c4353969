"""How well digitnet reads pictures made the way people make them (issue 33): prints JSON.

    python benchmarks/people.py [--models builtin fast.npz] [--per-kind 300] [--dev]

For every model, per kind of picture (see `people_sets`): "read right" counts a declined
picture ("not a digit") and a refused one (an error such as "blank image") as wrong,
as a user who got no answer would; "declined" and "refused" say how often each happened.

    pen_<band>   MNIST digits redrawn with each pen width band, hairline to marker
    screenshot   phone screenshots of a paint app (status bar, toolbar)
    photo        photos of paper with a shadow, uneven light, JPEG
    scanned      scikit-learn's digits (other writers) scanned and thresholded
    styles       digits in styles MNIST rarely has, by consistent "writers"
    not_digits   letters, scribbles and shapes, as drawn and redrawn with every pen:
                 the share declined (or refused)
    numbers      `read` on MNIST digits written as numbers with every pen: exact share
    not_numbers  `read` on words, rows of letters, smileys, stars and scribbles: the share
                 answered "not a number" (or refused)

By default the sets are the REPORTED ones (MNIST test digits, the second half of
`load_digits`, seeds never used for development); `--dev` makes them from MNIST's
validation digits and the first half of `load_digits` instead, for choosing settings.
With no model named, `builtin` and a `fast` model trained in this run (about 15 s) are
measured on the same pictures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import people_sets as ps
import robustness_sets as rs

from digitnet import Classifier, load_mnist, load_model, nondigits
from digitnet.errors import ImageError
from digitnet.images import preprocess

SEEDS = {"dev": 3301, "report": 9902}


def digit_pictures(split: str, per_kind: int, rng: np.random.Generator
                   ) -> dict[str, list[tuple[Any, int]]]:
    """kind -> [(picture, label)] for the digit kinds."""
    x, y = ps.mnist_digits(split)
    order = rng.permutation(len(x))
    take = iter(order)
    sets: dict[str, list[tuple[Any, int]]] = {}
    for band in ps.PEN_BANDS:
        sets[f"pen_{band}"] = [(ps.pen_picture(ps.centre_line(x[i]), rng, band), int(y[i]))
                               for i in (next(take) for _ in range(per_kind))]
    sets["screenshot"] = [(ps.screenshot(ps.centre_line(x[i]), rng), int(y[i]))
                          for i in (next(take) for _ in range(per_kind))]
    sets["photo"] = [(ps.photo(ps.centre_line(x[i]), rng), int(y[i]))
                     for i in (next(take) for _ in range(per_kind))]
    s8, l8 = ps.sklearn_digits(split)
    pick = rng.choice(len(s8), min(per_kind, len(s8)), replace=False)
    sets["scanned"] = [(ps.scanned(s8[i], rng), int(l8[i])) for i in pick]
    writers = max(1, per_kind // 10)
    sets["styles"] = [(p, label) for p, label, _ in ps.styled(writers, 10, rng)]
    return sets


def nondigit_pictures(split: str, per_kind: int, rng: np.random.Generator
                      ) -> dict[str, list[Any]]:
    """kind -> pictures that are not digits, half as drawn and half redrawn with any pen."""
    if split == "report":
        raw = {"letters": rs.letters(rng, per_kind), "scribbles": rs.scribbles(rng, per_kind),
               "shapes": [p for _, p in rs.shapes(rng, per_kind)]}
    else:
        raw = {"letters": [nondigits.picture("letters_other_fonts", rng)
                           for _ in range(per_kind)],
               "scribbles": [nondigits.picture("scribble", rng) for _ in range(per_kind)],
               "shapes": [nondigits.picture(("spiral", "star", "zigzag")[k % 3], rng)
                          for k in range(per_kind)]}
    out = {}
    for kind, pictures in raw.items():
        half = len(pictures) // 2
        out[kind] = pictures[:half] + [ps.pen_nondigit(p, rng) for p in pictures[half:]]
    return out


def read_pictures(split: str, per_kind: int, rng: np.random.Generator
                  ) -> dict[str, list[tuple[Any, str | None]]]:
    """"numbers": [(picture, the number)], "not_numbers": [(picture, None)]."""
    x, y = ps.mnist_digits(split)
    numbers = []
    for _ in range(per_kind):
        pick = rng.choice(len(x), int(rng.integers(3, 7)), replace=False)
        numbers.append((ps.number(list(x[pick]), rng), "".join(str(int(d)) for d in y[pick])))
    faces = sorted(ps.FONT_DIR.glob("liberation/*.ttf" if split == "report" else "dejavu/*.ttf"))
    faces = [f for f in faces if "Math" not in f.name] or sorted(ps.FONT_DIR.glob("*/*.ttf"))
    others = [(ps.non_number(ps.NON_NUMBERS[k % len(ps.NON_NUMBERS)], rng, faces), None)
              for k in range(per_kind)]
    return {"numbers": numbers, "not_numbers": others}


def prepared(pictures: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(network inputs (n, 28, 28), refused (n,) bool): preprocess each picture; one it
    refuses (blank) gets an empty input."""
    inputs, refused = [], np.zeros(len(pictures), bool)
    for k, picture in enumerate(pictures):
        try:
            inputs.append(preprocess(picture))
        except ImageError:
            refused[k] = True
            inputs.append(np.zeros((28, 28), np.uint8))
    return np.stack(inputs), refused


def classify(model: Any, inputs: np.ndarray, refused: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """(digits (n,) with -1 where declined or refused, declined (n,) bool)."""
    digits, _ = model.predict_digits(inputs)
    declined = np.array([d is None for d in digits]) & ~refused
    answer = np.array([-1 if d is None else d for d in digits])
    answer[refused] = -1
    return answer, declined


def digit_figures(model: Any, sets: dict[str, tuple[list, np.ndarray, np.ndarray, np.ndarray]],
                  mistakes: list | None = None) -> dict[str, Any]:
    """Figures per kind; sets: kind -> (pictures, inputs, refused, labels). Mistakes (the
    picture, its input, true, answer) are appended to `mistakes`, up to 6 per kind."""
    out: dict[str, Any] = {}
    for kind, (pictures, inputs, refused, labels) in sets.items():
        answer, declined = classify(model, inputs, refused)
        out[kind] = {"n": len(labels), "read_right": round(float(np.mean(answer == labels)), 4),
                     "declined": round(float(np.mean(declined)), 4),
                     "refused": round(float(np.mean(refused)), 4)}
        if mistakes is not None:
            wrong = np.flatnonzero(answer != labels)[:6]
            mistakes += [(kind, pictures[i], inputs[i], int(labels[i]), int(answer[i]))
                         for i in wrong]
    pens = [out[k]["read_right"] for k in out if k.startswith("pen_")]
    out["pen_all"] = {"read_right": round(float(np.mean(pens)), 4)}
    return out


def nondigit_figures(model: Any, sets: dict[str, tuple[np.ndarray, np.ndarray]]
                     ) -> dict[str, Any]:
    """The share of each kind of non-digit declined or refused; sets: kind -> (inputs,
    refused)."""
    out = {}
    for kind, (inputs, refused) in sets.items():
        answer, _ = classify(model, inputs, refused)
        out[kind] = {"n": len(inputs), "declined": round(float(np.mean(answer == -1)), 4)}
    return out


def gallery(mistakes: list, path: Path, columns: int = 6) -> None:
    """A PNG of mistakes: each picture as sent beside the 28x28 input the network saw,
    under "kind: true>answer" ("?" when declined or refused)."""
    from PIL import Image, ImageDraw, ImageFont

    cell, label = 96, 18
    font = ImageFont.load_default(size=13)
    rows = max(1, -(-len(mistakes) // columns))
    sheet = Image.new("RGB", (columns * 2 * cell, rows * (cell + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (kind, picture, image, true, answer) in enumerate(mistakes):
        x, y = (k % columns) * 2 * cell, (k // columns) * (cell + label)
        shown = picture.convert("RGB")
        shown.thumbnail((cell - 4, cell - 4))
        sheet.paste(shown, (x + 2, y + label))
        sheet.paste(Image.fromarray(255 - image).resize((cell - 4, cell - 4)).convert("RGB"),
                    (x + cell, y + label))
        draw.text((x + 4, y + 2), f"{kind}: {true}>{'?' if answer < 0 else answer}",
                  fill="black", font=font)
    sheet.save(path)


def read_figures(model: Any, sets: dict[str, list[tuple[Any, str | None]]]) -> dict[str, Any]:
    from digitnet.segment import read_number

    out = {}
    for kind, items in sets.items():
        right = 0
        for picture, truth in items:
            try:
                number = read_number(model, picture).number  # None: "not a number"
            except ImageError:
                number = None
            right += number == truth
        out[kind] = {"n": len(items), "right" if kind == "numbers" else "declined":
                     round(right / len(items), 4)}
    return out


def fast_model() -> Any:
    mnist = load_mnist()
    return Classifier(preset="fast").fit(mnist.x_train, mnist.y_train).model_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None,
                        help="model files or 'builtin' (default: builtin and a fresh fast model)")
    parser.add_argument("--per-kind", type=int, default=300)
    parser.add_argument("--dev", action="store_true", help="the development sets")
    parser.add_argument("--skip-read", action="store_true", help="leave out numbers")
    parser.add_argument("--gallery", type=Path, default=None, metavar="FILE.png",
                        help="draw the first model's mistakes on each kind of digit")
    args = parser.parse_args()
    split = "dev" if args.dev else "report"
    models = {name: load_model(name) for name in (args.models or ["builtin"])}
    if args.models is None:
        models["fast"] = fast_model()
    rng = np.random.default_rng(SEEDS[split])
    start = time.perf_counter()
    digits = {}  # kind -> (pictures, inputs, refused, labels)
    for kind, items in digit_pictures(split, args.per_kind, rng).items():
        pictures = [p for p, _ in items]
        digits[kind] = (pictures, *prepared(pictures), np.array([label for _, label in items]))
    others = {kind: prepared(pictures)
              for kind, pictures in nondigit_pictures(split, args.per_kind, rng).items()}
    reads = None if args.skip_read else read_pictures(split, args.per_kind // 3, rng)
    report: dict[str, Any] = {"split": split, "per_kind": args.per_kind,
                              "make_seconds": round(time.perf_counter() - start, 1)}
    for k, (name, model) in enumerate(models.items()):
        start = time.perf_counter()
        mistakes: list | None = [] if args.gallery is not None and k == 0 else None
        entry = {"digits": digit_figures(model, digits, mistakes),
                 "not_digits": nondigit_figures(model, others)}
        if mistakes is not None:
            gallery(mistakes, args.gallery)
        if reads is not None:
            entry["read"] = read_figures(model, reads)
        entry["seconds"] = round(time.perf_counter() - start, 1)
        report[name] = entry
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
