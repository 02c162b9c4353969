"""Small file utilities shared by everything that writes: atomic writes, output-path
safety, and JSON that never holds NaN.

`atomic_write` writes to a temporary file beside the target, named `.NAME.digitnet-tmp-XXXX`
so a save killed midway leaves something easy to recognise (the next save of NAME removes
such leftovers), and renames it into place: an interrupted or failed write never leaves
half a file and never touches the old one. It never writes through a symbolic link.

A written file gets the mode a new file gets from the umask (0644 under the usual 022),
or keeps the mode of the file it replaces. `staged_directory` writes a set of files (a
report) as a unit: all into a hidden directory first, then moved into place together.

`check_outputs` runs before any work: every output has a writable directory, is not a
directory itself, and is neither one of the command's inputs nor another output (compared
by resolved path and by inode, so symlinks and hard links count).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import OutputError
from .terminal import signals_held

TMP_MARK = ".digitnet-tmp-"  # temporary files are named "." + NAME + TMP_MARK + random
STALE_SECONDS = 60  # a leftover temporary file older than this is from a killed save


def _not_replaceable(path: Path) -> str | None:
    """Why digitnet will not write a file at `path`, or None when it may."""
    if path.is_symlink():
        return "is a symbolic link; digitnet does not write through links"
    if path.exists() and not path.is_file():  # a device such as /dev/null, a FIFO, a dir
        return "exists and is not a regular file (a device, FIFO or directory); not replaced"
    return None


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None],
                 error: type[Exception] = OutputError) -> None:
    """Call write(f) on a temporary file beside `path`, then rename it to `path`.

    A crash or error midway leaves `path` as it was. A `path` that is a symbolic link is
    refused (never followed, never replaced). OSErrors become `error` (by default
    OutputError), with the path and the reason.
    """
    path = Path(path)
    problem = _not_replaceable(path)
    if problem:
        raise error(f"{path}: {problem}")
    _remove_stale_temporaries(path)
    mode = output_mode(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TMP_MARK}", dir=path.parent)
    except OSError as e:
        raise error(f"{path}: cannot write here ({e.strerror or e})") from None
    try:
        os.fchmod(fd, mode)  # mkstemp makes 0600 whatever the umask
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # replaces a directory entry: never follows a link
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise error(f"{path}: cannot write ({e.strerror or e})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def output_mode(path: Path) -> int:
    """The permission bits a file written at `path` gets: those of the regular file it
    replaces, else what the umask leaves of 0666 (as `open` would create it)."""
    try:
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            return stat.S_IMODE(info.st_mode)
    except OSError:
        pass
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def staged_directory(out: Path) -> Iterator[Path]:
    """A hidden directory inside `out` to write a set of files into, published as a unit.

    When the block ends normally, every file in it is moved into `out` (replacing files of
    the same names, keeping their modes) in one quick step during which Ctrl-C and SIGTERM
    wait; a name taken by a directory, a device, a FIFO or a symbolic link is refused
    before anything moves. When the block raises (a full disk, an interrupt), `out` is
    left exactly as it was. Either way the hidden directory is removed.
    """
    try:
        stage = Path(tempfile.mkdtemp(prefix=TMP_MARK.lstrip("."), dir=out))
    except OSError as e:
        raise OutputError(f"{out}: cannot write here ({e.strerror or e})") from None
    try:
        yield stage
        files = sorted(stage.iterdir())
        for file in files:
            problem = _not_replaceable(out / file.name)
            if problem:
                raise OutputError(f"{out / file.name}: {problem}")
        with signals_held():
            for file in files:
                target = out / file.name
                if target.is_file() and not target.is_symlink():
                    os.chmod(file, stat.S_IMODE(target.stat().st_mode))
                os.replace(file, target)
    except OSError as e:
        if isinstance(e, OutputError):
            raise
        raise OutputError(f"{out}: cannot write ({e.strerror or e})") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _remove_stale_temporaries(path: Path) -> None:
    """Delete what killed saves of `path` left behind (older than STALE_SECONDS, so a save
    of the same name running right now in another process keeps its file)."""
    try:
        leftovers = list(path.parent.glob(f".{glob.escape(path.name)}{TMP_MARK}*"))
    except OSError:
        return
    for leftover in leftovers:
        try:
            if leftover.is_file() and not leftover.is_symlink() and \
                    time.time() - leftover.stat().st_mtime > STALE_SECONDS:
                leftover.unlink()
        except OSError:
            pass  # not ours to fight over; the save itself goes on


def json_text(obj: Any, **kwargs: Any) -> str:
    """json.dumps that refuses NaN and Infinity (which are not JSON) with an OutputError."""
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError as e:
        raise OutputError(f"refusing to write JSON with a NaN or infinite number ({e})") from None


def write_text(path: str | Path, text: str, what: str = "file") -> None:
    """Write text (UTF-8) to path atomically; OutputError naming `what` if it cannot."""
    try:
        atomic_write(path, lambda f: f.write(text.encode()))
    except OutputError as e:
        raise OutputError(f"cannot write {what}: {e}") from None


def file_identities(paths: Iterable[str | Path]) -> set[Any]:
    """What names each file: its resolved path and, if it exists, its (device, inode), so
    that a symlink or a hard link to a file is recognised as that file."""
    found: set[Any] = set()
    for path in map(Path, paths):
        try:
            found.add(str(path.resolve()))
            info = path.stat()
            found.add((info.st_dev, info.st_ino))
        except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
            pass
    return found


def is_one_of(path: str | Path, identities: set[Any]) -> bool:
    """Whether path names one of the files `file_identities` described."""
    return not file_identities([path]).isdisjoint(identities)


def same_file(a: Path, b: Path) -> bool:
    """Whether a and b name the same file: the same resolved path, or the same inode."""
    return is_one_of(a, file_identities([b]))


def check_outputs(outputs: Iterable[tuple[str, Path | None]],
                  inputs: Iterable[tuple[str, Path | None]] = ()) -> None:
    """Before any work: raise OutputError (one line, naming the flag) unless every output
    path can be written as a new file and overwrites neither an input nor another output.

    outputs, inputs: (flag or description, path or None) pairs; None entries are skipped.
    """
    outs = [(flag, Path(p)) for flag, p in outputs if p is not None]
    ins = [(flag, Path(p)) for flag, p in inputs if p is not None]
    for i, (flag, path) in enumerate(outs):
        for in_flag, in_path in ins:
            if same_file(path, in_path):
                raise OutputError(f"{flag} {path} is the {in_flag}: it would be overwritten")
        for other_flag, other in outs[:i]:
            if same_file(path, other):
                raise OutputError(f"{flag} {path} and {other_flag} {other} are the same file")
        _check_writable(flag, path)


def _check_writable(flag: str, path: Path) -> None:
    if path.is_dir():
        raise OutputError(f"{flag} {path}: is a directory; give a file name")
    problem = _not_replaceable(path)
    if problem:
        raise OutputError(f"{flag} {path}: {problem}")
    directory = path.parent
    if not directory.is_dir():
        raise OutputError(f"{flag} {path}: cannot write, directory {directory} not found")
    try:  # the only sure test of writability (root, read-only mounts, ACLs): try it
        with tempfile.TemporaryFile(dir=directory, prefix=f".{path.name}{TMP_MARK}"):
            pass
    except OSError as e:
        raise OutputError(f"{flag} {path}: cannot write in {directory} "
                          f"({e.strerror or e})") from None
