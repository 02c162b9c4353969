"""The figure of how a picture is prepared: each step of `digitnet.preprocess`, drawn.

    python docs/make_steps.py docs/preprocessing-steps.png

One row per sample picture in examples/ (a thin pen, a phone screenshot, a photo with a
shadow): the picture as sent; its ink, once the light is evened out and the paper taken
off (`ink.read_paper`); the writing chosen, other marks cleared (`writing.digit_mask`);
the strokes brought to MNIST's width (`strokes.even_strokes`); and the 28x28 input the
network sees, with the bundled model's answer under it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digitnet import load_model, preprocess
from digitnet.images import (
    ANALYSIS_SIDE,
    ink_bounding_box,
    load_image,
    to_grayscale,
)
from digitnet.ink import read_paper
from digitnet.strokes import even_strokes
from digitnet.writing import digit_mask

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ROWS = ("seven-thin-pen.png", "phone-screenshot.png", "photo-shadow.jpg")
CELL = 200  # pixels per picture in the figure
TITLES = ("as sent", "ink: light evened, paper off", "the writing chosen",
          "strokes at MNIST's width", "the network's input")


def steps(path: Path) -> list[Image.Image]:
    """The pictures of each step for one file, as PIL images."""
    picture = load_image(path)
    gray = to_grayscale(picture)
    factor = -(-max(gray.shape) // ANALYSIS_SIDE)
    small = np.asarray(Image.fromarray(gray).reduce(factor), np.float32) if factor > 1 else gray
    ink = read_paper(small).ink(small)
    keep = digit_mask(ink)
    chosen = np.where(keep, ink, 0) if keep is not None else ink
    crop = chosen[ink_bounding_box(chosen)]
    redrawn = even_strokes(crop)
    evened = crop if redrawn is None else redrawn[ink_bounding_box(redrawn)]
    shown = [picture.convert("RGB")] + [Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
                                        for a in (ink, chosen, evened)]
    shown.append(Image.fromarray(preprocess(picture)))
    return shown


def main(out: str) -> None:
    model = load_model("builtin")
    figure = Image.new("RGB", (len(TITLES) * CELL, 24 + len(ROWS) * (CELL + 20)), "white")
    draw = ImageDraw.Draw(figure)
    draw.font = ImageFont.load_default(13)
    for k, title in enumerate(TITLES):
        draw.text((k * CELL + 6, 6), title, fill="black")
    for r, name in enumerate(ROWS):
        top = 24 + r * (CELL + 20)
        for k, image in enumerate(steps(EXAMPLES / name)):
            image = image.convert("RGB")
            scale = (CELL - 12) / max(image.size)  # up or down, to fill the cell
            image = image.resize((max(1, round(image.width * scale)),
                                  max(1, round(image.height * scale))), Image.Resampling.BOX
                                 if scale < 1 else Image.Resampling.NEAREST)
            figure.paste(image, (k * CELL + 6, top))
        answer = model.predict_pictures(EXAMPLES / name)[0]
        said = "not a digit" if answer["digit"] is None else str(answer["digit"])
        draw.text((6, top + CELL - 6), name, fill="gray")
        draw.text((4 * CELL + 6, top + CELL - 6),
                  f"builtin: {said} (digit score {answer['digit_score']:.2f})", fill="black")
    figure.save(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/preprocessing-steps.png")
