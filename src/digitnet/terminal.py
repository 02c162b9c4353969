"""What the command line shows, and the signals it answers: safe to print, never a traceback.

    shown(text)          text with control characters escaped, so a file name holding a
                         newline cannot forge a result line and escape sequences never
                         reach the terminal
    guarded_stdout()     standard output whose write errors (a full disk: `> /dev/full`)
                         become one OutputError line instead of a traceback
    sigterm_as_interrupt()  SIGTERM raises Terminated, a KeyboardInterrupt, so `kill`
                         runs the same clean-ups as Ctrl-C (temporary files removed, a
                         training checkpoint saved, a sweep trial closed)

Only cli.main uses these; the library itself prints nothing.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO

from .errors import OutputError

# C0 controls (tab included), DEL, C1 controls, and the Unicode line and paragraph
# separators: everything that moves the cursor, starts an escape sequence or breaks a line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown(text: Any) -> str:
    """str(text) with every control character written as a Python escape (\\n, \\x1b...)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))


def shown_lines(text: str) -> str:
    """`shown` for each line of a text of several lines; the line breaks stay."""
    return "\n".join(shown(line) for line in text.split("\n"))


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: handled as Ctrl-C is, so every clean-up runs."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM raises Terminated in the main thread (the old handler
    comes back after). Servers that install their own handlers replace it meanwhile."""
    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class StdoutError(OutputError):
    """Standard output cannot be written (a full disk, an I/O error)."""


class _GuardedStream:
    """A text stream whose write and flush turn OSError (other than a closed pipe, which
    the CLI handles as `| head`) into OutputError."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self.failure: StdoutError | None = None  # kept: some callers swallow OSError

    def _guard(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as e:
            self.failure = StdoutError(f"cannot write to standard output "
                                       f"({e.strerror or e})")
            raise self.failure from None

    def write(self, text: str) -> int:
        return self._guard(self._stream.write, text)

    def flush(self) -> None:
        """Flush; raises StdoutError if this or any earlier write failed (argparse, for
        one, ignores an OSError from writing its --help)."""
        self._guard(self._stream.flush)
        if self.failure is not None:
            raise self.failure

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def guarded_stdout() -> Iterator[None]:
    """sys.stdout inside the block is guarded (see _GuardedStream) and flushed at its end,
    so a write error is raised there, as an OutputError, not at interpreter exit."""
    original = sys.stdout
    sys.stdout = _GuardedStream(original)  # type: ignore[assignment]
    try:
        yield
        sys.stdout.flush()
    except SystemExit:  # --help, --version, a usage error: printed, so flush it now
        sys.stdout.flush()
        raise
    except StdoutError:
        raise
    except BaseException:  # the error being raised matters more than unwritten output
        try:
            sys.stdout.flush()
        except (StdoutError, BrokenPipeError):
            silence_stdout()
        raise
    finally:
        sys.stdout = original


def silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null and drop what is buffered for it, so nothing
    fails again when the interpreter flushes standard output at exit."""
    stream = getattr(sys.stdout, "_stream", sys.stdout)  # beneath a guard
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError):
        return
    with suppress(OSError):
        stream.flush()
