"""`--show-input DIR`: the pictures `predict` and `read` saw, written as PNGs into DIR.

A name is never reused within a run (-2, -3 ... suffixes), and never one of the input
pictures (given, or inside a given directory) or the model file, so writing cannot
replace a file being read (`files.file_identities` also knows hard links). An existing
file is replaced only if digitnet wrote it (a PNG carrying digitnet's mark, `MARK`):
any other file of that name is left alone and the next free name taken. Files are
written atomically and never through a symbolic link (an OutputError instead).
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from .errors import OutputError
from .files import file_identities, is_one_of
from .images import DIGITNET_MARK, save_png

MARK_BYTES = 4096  # the mark sits in the PNG's first chunks, well within this


def written_by_digitnet(path: Path) -> bool:
    """Whether path is a regular file that `images.save_png` wrote (it carries the mark)."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return False
        with open(path, "rb") as f:
            return DIGITNET_MARK in f.read(MARK_BYTES)
    except OSError:
        return False


def _replaceable(path: Path) -> bool:
    """A name save may take: free, digitnet's own PNG, or something save_png will refuse
    with an error (a symbolic link or a special file) rather than silently skip."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return not stat.S_ISREG(info.st_mode) or written_by_digitnet(path)


class ShowInput:
    """Where --show-input writes: PNGs in one directory, created on demand (see the
    module docstring for the names it takes)."""

    def __init__(self, directory: Path | None, inputs: list[Path], model: Path):
        self.directory = directory
        self.used: set[Path] = set()
        files = [model]
        for path in inputs:
            try:
                files.extend([path, *path.iterdir()] if path.is_dir() else [path])
            except OSError:
                files.append(path)
        self.inputs = file_identities(files)
        if directory is not None:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OutputError(f"--show-input {directory}: cannot create the directory "
                                  f"({e.strerror or e})") from None

    def path_for(self, stem: str) -> Path:
        """A fresh file name DIR/stem.png (or stem-2.png, ...) that is safe to write."""
        assert self.directory is not None
        stem, n = stem or "image", 1
        path = self.directory / f"{stem}.png"
        while path in self.used or is_one_of(path, self.inputs) or not _replaceable(path):
            n += 1
            path = self.directory / f"{stem}-{n}.png"
        self.used.add(path)
        return path

    def save(self, pixels: Any, stem: str, scale: int = 1) -> Path:
        """Write a (h, w) uint8 gray or (h, w, 3) RGB picture as DIR/stem.png; returns it."""
        path = self.path_for(stem)
        save_png(pixels, path, scale=scale)
        return path

    def save_reading(self, path: Path, picture: Any, reading: Any) -> None:
        """Write the picture read from `path` with each digit's numbered box, and each
        digit's 28x28 input; OutputError lists the ones that could not be written."""
        import numpy as np
        from PIL import ImageDraw

        boxed = picture.convert("RGB")
        draw = ImageDraw.Draw(boxed)
        width = max(1, round(max(boxed.size) / 400))
        for k, digit in enumerate(reading.digits, 1):
            x0, y0, x1, y1 = digit.box
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(220, 30, 30), width=width)
            draw.text((x0 + width + 1, y0 + width + 1), str(k), fill=(220, 30, 30))
        pictures = [(np.asarray(boxed), f"{path.stem}-boxes")]
        pictures += [(d.pixels, f"{path.stem}-digit{k}") for k, d in enumerate(reading.digits, 1)]
        failures = []
        for pixels, stem in pictures:  # one that cannot be written does not stop the others
            try:
                self.save(pixels, stem)
            except OutputError as e:
                failures.append(str(e))
        if failures:
            raise OutputError("; ".join(failures))
