"""Small file utilities shared by everything that writes: atomic writes.

`atomic_write` writes to a temporary file beside the target and renames it into place,
so an interrupted or failed write never leaves half a file and never touches the old one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .errors import OutputError


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None],
                 error: type[Exception] = OutputError) -> None:
    """Call write(f) on a temporary file beside `path`, then rename it to `path`.

    A crash or error midway leaves `path` as it was. OSErrors become `error` (by default
    OutputError), with the path and the reason.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise error(f"{path}: cannot write here ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise error(f"{path}: cannot write ({e.strerror or e})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
