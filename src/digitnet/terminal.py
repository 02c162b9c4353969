"""What the command line shows, and the signals it answers: safe to print, never a traceback.

    shown(text)          text with control characters escaped, so a file name holding a
                         newline cannot forge a result line and escape sequences never
                         reach the terminal
    guarded_stdout()     standard output whose write errors (a full disk: `> /dev/full`)
                         become one OutputError line instead of a traceback
    sigterm_as_interrupt()  SIGTERM raises Terminated, a KeyboardInterrupt, so `kill`
                         runs the same clean-ups as Ctrl-C (temporary files removed, a
                         training checkpoint saved, a sweep trial closed)
    signals_held(), signals_allowed()
                         where Ctrl-C and SIGTERM wait, and where they may arrive

cli.main uses the first three; files and sweeps hold signals around steps that must not be
cut in two.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
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
    comes back after). Servers that install their own handlers replace it meanwhile.

    A signal's exception can land where Python ignores exceptions (a finalizer or a
    weakref callback, reported through sys.unraisablehook): then the signal is sent again,
    so that it is raised in ordinary code, rather than lost.
    """
    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    def unraisable(info: Any) -> None:
        if isinstance(info.exc_value, KeyboardInterrupt):  # Terminated included
            again = signal.SIGTERM if isinstance(info.exc_value, Terminated) else signal.SIGINT
            os.kill(os.getpid(), again)
        else:
            previous_hook(info)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = previous_hook


_INTERRUPTS = (signal.SIGINT, signal.SIGTERM)
_pending: list[int] = []  # signals that arrived while held, in order
_outer: list[dict[int, Any]] = []  # the handlers each signals_held block replaced


def _defer(signum: int, frame: Any) -> None:
    _pending.append(signum)


def _install(handlers: dict[int, Any]) -> None:
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def _deliver_pending() -> None:
    """Raise the signals that waited, as the handlers now in place take them."""
    while _pending:
        signal.raise_signal(_pending.pop(0))


@contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done, then arrive as usual (for steps
    that must not be cut in two: moving a report's files into place, a sweep's bookkeeping
    between trials). Python runs signal handlers in the main thread, whichever thread the
    system woke, so the waiting is done there, by a handler that only takes note."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _outer.append({signum: signal.getsignal(signum) for signum in _INTERRUPTS})
    _install(dict.fromkeys(_INTERRUPTS, _defer))
    try:
        yield
    finally:
        _install(_outer.pop())
        if not _outer:
            _deliver_pending()


@contextmanager
def signals_allowed() -> Iterator[None]:
    """Inside a `signals_held` block: here Ctrl-C and SIGTERM arrive at once (and any that
    waited arrive on entering)."""
    if not _outer or threading.current_thread() is not threading.main_thread():
        yield
        return
    _install(_outer[0])
    try:
        _deliver_pending()
        yield
    finally:
        _install(dict.fromkeys(_INTERRUPTS, _defer))


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
