"""How well a model reads digits made other ways, and how often it says "not a digit"; JSON.

    python benchmarks/robustness.py [MODEL] [--per-style 1000] [--count 300] [--web 150]
                                    [--gallery FILE.png] [--seed 0]

MODEL is a model file or `builtin` (the default: the recognizer packaged with digitnet).
Every set comes from `robustness_sets.py` beside this file; they are REPORTED sets, never
to be trained on or used to choose anything. Printed, as JSON:

  digits        per set: n, accuracy (right digit AND not declined), rejected (the
                fraction declined as "not a digit", or refused as blank: false rejections),
                and accuracy_of_accepted:
                  mnist_test       the 10,000 MNIST test images as arrays (no preprocessing)
                  sklearn_digits   scikit-learn's digits, second half, upsampled pictures
                  mnist_pictures   MNIST test digits saved as files the ways users make them
                                   (off-centre, scanned, RGBA canvas export), classified by
                                   the real `digitnet predict MODEL DIR --json`; per style too
                  web_drawn        (with --web N) digits drawn with the mouse on the page of
                                   `digitnet serve MODEL`, in headless Chromium, pen widths
                                   from thin to thick; the page's own verdict is read
  non_digits    per kind (letters, scribbles, shapes and each shape, fashion_mnist): n and
                rejected, the fraction declined (or refused as blank)
  false_rejection_rate  the fraction of the MNIST test images declined

A picture is declined when its digit score (the largest softmax probability) is below the
model's reject threshold (`Model.reject_threshold`, from the model file; 0 for models made
before it existed, which never decline). `--gallery` writes a PNG of the 28x28 inputs the
model got wrong in the digit sets, each under "true>predicted" (or "true>?" if declined).
Needs scikit-learn (the dev extra); --web needs Playwright and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import robustness_sets as sets

import digitnet
from digitnet.errors import ImageError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PEN_WIDTHS = (6, 10, 16, 22, 30, 40)  # on the page's 280-unit pad: thin to thick
GALLERY_PER_SET = 48  # mistakes shown from each digit set


# ---- scoring ------------------------------------------------------------------------------


def preprocess_all(pictures: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Pictures -> (inputs (n, 28, 28) uint8, refused (n,) bool: blank pictures)."""
    inputs = np.zeros((len(pictures), 28, 28), np.uint8)
    refused = np.zeros(len(pictures), bool)
    for i, picture in enumerate(pictures):
        try:
            inputs[i] = digitnet.preprocess(picture)
        except ImageError:
            refused[i] = True
    return inputs, refused


def verdicts(model: digitnet.Model, inputs: np.ndarray,
             refused: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(digits (n,), declined (n,) bool) for network inputs; refused ones count as declined."""
    digits = model.predict(inputs)
    declined = model.digit_score(inputs) < model.reject_threshold
    if refused is not None:
        declined |= refused
    return digits, declined


def digit_figures(digits: np.ndarray, declined: np.ndarray, labels: np.ndarray) -> dict:
    """n, accuracy (right and accepted), rejected, accuracy_of_accepted."""
    right = (digits == labels) & ~declined
    accepted = int((~declined).sum())
    return {"n": len(labels), "accuracy": _ratio(right.sum(), len(labels)),
            "rejected": _ratio(declined.sum(), len(labels)),
            "accuracy_of_accepted": _ratio(right.sum(), accepted)}


def _ratio(part: Any, whole: int) -> float | None:
    """part / whole rounded to 4 places, or None (never NaN) for an empty set."""
    return round(float(part) / whole, 4) if whole else None


# ---- the sets -----------------------------------------------------------------------------


def run_cli_on_pictures(model_arg: str, items: list[tuple[str, Any, int]]) -> dict:
    """Write the pictures to a temporary directory and classify it with the real CLI,
    `digitnet predict MODEL DIR --json`; figures overall and per style."""
    with tempfile.TemporaryDirectory(prefix="digitnet-robustness-") as folder:
        labels: dict[str, tuple[str, int]] = {}
        for i, (style, picture, label) in enumerate(items):
            name = f"{i:05d}-{style}.png"
            picture.save(Path(folder) / name)
            labels[name] = (style, label)
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "digitnet", "predict", model_arg, folder,
                              "--json"], capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        try:
            records = json.loads(run.stdout)
        except json.JSONDecodeError:
            raise SystemExit(f"digitnet predict failed: {run.stderr.strip()[-500:]}") from None
    rows = []
    for record in records:
        style, label = labels[Path(record["file"]).name]
        digit = record.get("digit")  # None: declined as not a digit; absent: refused
        rows.append((style, -1 if digit is None else digit, digit is None, label))
    figures = _table(rows)
    figures["per_style"] = {style: _table([r for r in rows if r[0] == style])
                            for style in sets.MNIST_STYLES}
    figures["cli_seconds"] = round(seconds, 2)
    return figures


def _table(rows: list[tuple[str, int, bool, int]]) -> dict:
    digits = np.array([r[1] for r in rows], np.int64)
    declined = np.array([r[2] for r in rows], bool)
    labels = np.array([r[3] for r in rows], np.int64)
    return digit_figures(digits, declined, labels)


def non_digit_figures(model: digitnet.Model, pictures: list[Any]) -> dict:
    inputs, refused = preprocess_all(pictures)
    _, declined = verdicts(model, inputs, refused)
    return {"n": len(pictures), "rejected": _ratio(declined.sum(), len(pictures)),
            "refused_blank": int(refused.sum())}


def web_drawn(model_arg: str, count: int, rng: np.random.Generator) -> dict:
    """Draw `count` digits (cycling 0..9) with the mouse on the page of `digitnet serve`,
    pen widths cycling through PEN_WIDTHS, and read the page's verdict for each."""
    from playwright.sync_api import sync_playwright

    proc = subprocess.Popen([sys.executable, "-m", "digitnet", "serve", model_arg, "--port",
                             "0", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        match = re.search(r" at (http://127\.0\.0\.1:\d+/) ", proc.stdout.readline())
        if match is None:
            raise SystemExit(f"digitnet serve did not start: {proc.stderr.read()[-500:]}")
        rows = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                 headless=True)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(match.group(1))
            page.wait_for_selector("#pen")
            for i in range(count):
                digit, pen = i % 10, PEN_WIDTHS[(i // 10) % len(PEN_WIDTHS)]
                page.click("#clear")
                page.eval_on_selector("#pen", "(el, v) => { el.value = v; "
                                      "el.dispatchEvent(new Event('input')); }", str(pen))
                for stroke in sets.digit_strokes(digit, rng):
                    draw_stroke(page, stroke)
                page.wait_for_selector('#result[data-status="done"], '
                                       '#result[data-status="error"]', timeout=20_000)
                declined = page.get_attribute("#result", "data-verdict") == "not-a-digit"
                guess = page.text_content("#guess") or ""
                shown = int(guess) if guess.isdigit() and not declined else -1
                rows.append((f"pen {pen}", shown, declined or shown < 0, digit))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    figures = _table(rows)
    figures["per_pen_width"] = {f"{pen}": _table([r for r in rows if r[0] == f"pen {pen}"])
                                for pen in PEN_WIDTHS if any(r[0] == f"pen {pen}" for r in rows)}
    return figures


def draw_stroke(page: Any, stroke: sets.Stroke) -> None:
    box = page.locator("#pad").bounding_box()

    def at(point: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]

    page.mouse.move(*at(stroke[0]))
    page.mouse.down()
    for point in stroke[1:]:
        page.mouse.move(*at(point))
    page.mouse.up()


def gallery(mistakes: list[tuple[np.ndarray, int, int]], path: Path, columns: int = 12) -> None:
    """A PNG grid of (input (28, 28), true, predicted or -1) mistakes, dark ink on white,
    each under "true>predicted" ("true>?" when declined)."""
    from PIL import Image, ImageDraw, ImageFont

    cell, label = 84, 18
    font = ImageFont.load_default(size=15)
    rows = max(1, -(-len(mistakes) // columns))
    sheet = Image.new("L", (columns * cell, rows * (cell + label)), 255)
    draw = ImageDraw.Draw(sheet)
    for k, (image, true, predicted) in enumerate(mistakes):
        x, y = (k % columns) * cell, (k // columns) * (cell + label)
        sheet.paste(Image.fromarray(255 - image).resize((cell, cell)), (x, y + label))
        draw.text((x + 4, y + 2), f"{true}>{'?' if predicted < 0 else predicted}", fill=0,
                  font=font)
    sheet.save(path)


# ---- main -----------------------------------------------------------------------------


def measure(model_arg: str, per_style: int, count: int, web: int, seed: int,
            gallery_path: Path | None = None) -> dict:
    """Every figure described in the module docstring, as a JSON-ready dict."""
    started = time.perf_counter()
    model = digitnet.load_model(model_arg)
    threshold = float(model.reject_threshold)
    rng = np.random.default_rng(seed)
    mnist = digitnet.load_mnist()
    digits: dict[str, Any] = {}
    mistakes: list[tuple[np.ndarray, int, int]] = []

    predicted, declined = verdicts(model, mnist.x_test)
    digits["mnist_test"] = digit_figures(predicted, declined, mnist.y_test)

    pictures, labels = sets.sklearn_digits()
    inputs, refused = preprocess_all(pictures)
    predicted, declined = verdicts(model, inputs, refused)
    digits["sklearn_digits"] = digit_figures(predicted, declined, labels)
    mistakes += _mistakes(inputs, labels, predicted, declined)[:GALLERY_PER_SET]

    items = sets.mnist_pictures(mnist.x_test, mnist.y_test, rng, per_style)
    digits["mnist_pictures"] = run_cli_on_pictures(model_arg, items)
    inputs, refused = preprocess_all([picture for _, picture, _ in items])
    labels = np.array([label for _, _, label in items])
    predicted, declined = verdicts(model, inputs, refused)
    mistakes += _mistakes(inputs, labels, predicted, declined)[:GALLERY_PER_SET]

    if web:
        digits["web_drawn"] = web_drawn(model_arg, web, rng)

    shaped = sets.shapes(rng, count)
    non_digits = {
        "letters": non_digit_figures(model, sets.letters(rng, count)),
        "scribbles": non_digit_figures(model, sets.scribbles(rng, count)),
        "shapes": non_digit_figures(model, [picture for _, picture in shaped]),
        **{f"shape_{name}": non_digit_figures(model, [p for n, p in shaped if n == name])
           for name in sets.SHAPES},
        "fashion_mnist": non_digit_figures(model, sets.fashion(rng, count)),
    }
    if gallery_path is not None:
        gallery(mistakes, gallery_path)
    return {
        "model": model_arg, "reject_threshold": threshold,
        "digits": digits, "non_digits": non_digits,
        "false_rejection_rate": digits["mnist_test"]["rejected"],
        "seed": seed, "seconds": round(time.perf_counter() - started, 1),
    }


def _mistakes(inputs: np.ndarray, labels: np.ndarray, predicted: np.ndarray,
              declined: np.ndarray) -> list[tuple[np.ndarray, int, int]]:
    wrong = np.flatnonzero((predicted != labels) | declined)
    return [(inputs[i], int(labels[i]), -1 if declined[i] else int(predicted[i]))
            for i in wrong]


def main() -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("model", nargs="?", default="builtin",
                        help="model file, or 'builtin' for the packaged recognizer")
    parser.add_argument("--per-style", type=int, default=1000,
                        help="MNIST test digits saved in each picture style")
    parser.add_argument("--count", type=int, default=300, help="pictures of each non-digit kind")
    parser.add_argument("--web", type=int, default=0, metavar="N",
                        help="also draw N digits on the web page (needs Playwright, chromium)")
    parser.add_argument("--gallery", type=Path, default=None, metavar="FILE.png",
                        help="write the inputs of the digits it got wrong to this PNG")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    args = parser.parse_args()
    figures = measure(args.model, args.per_style, args.count, args.web, args.seed, args.gallery)
    print(json.dumps(figures, indent=2, allow_nan=False))


if __name__ == "__main__":
    main()
