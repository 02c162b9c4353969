"""How many BLAS threads to train with, chosen from the cores that are actually free.

NumPy's matrix products run on OpenBLAS (or another BLAS), which by default starts one
thread per core. On a quiet machine that is right. When another program holds one of
the cores, the BLAS thread that lands there waits for it, and the others spin while they
wait: an epoch that takes 2.4 s quiet took 7 to 9 s with one of two cores busy. One
thread on the free core would take about twice the quiet time, not three and a half.

So, unless told how many threads to use, training looks before each epoch at how much
CPU other programs used since the last look (`LoadMeter`: the machine's busy time from
/proc/stat, less this process's own), and uses the cores they left free, at least one
(`free_threads`). Where /proc/stat is missing (not Linux) it times a few matrix products
of the epoch's shapes with one thread and with all cores instead, and keeps the faster
(`fastest`); those products are on made-up numbers, so measuring never touches the
training itself. Which count was used is recorded in each epoch's history.

The count matters for reproducibility: a BLAS may add up a product in a different order
with a different number of threads, so the last bits of the weights (and after many
epochs, a test figure's last digit) can differ. The same seed with the same thread count
and the same BLAS gives bit-identical weights; fix the count (`--threads`, or the
DIGITNET_THREADS environment variable) to reproduce a run exactly.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .config import MAX_THREADS
from .constants import PIXELS
from .errors import ConfigError

ENVIRONMENT = "DIGITNET_THREADS"  # a whole number: the thread count when none is configured
PROBE_ROUNDS = 7  # timed products per candidate (interleaved, the median is kept)
MARGIN = 0.9  # more threads must be at least 10% faster to be chosen
MIN_WINDOW = 0.25  # seconds: LoadMeter reads nothing from a shorter window (10 ms ticks)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _controller() -> Any:
    """A controller of every BLAS loaded now (made anew: a library may load later)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def limited(threads: int, controller: Any = None) -> Iterator[None]:
    """Inside the block, BLAS uses at most `threads` threads; the old limit comes back after."""
    with (controller or _controller()).limit(limits=threads, user_api="blas"):
        yield


def configured(threads: int) -> int:
    """The thread count to use: `threads` if > 0, else DIGITNET_THREADS if set, else 0
    (meaning: choose before each epoch from the cores other programs left free, see
    LoadMeter, or with `fastest` where that cannot be read). Raises ConfigError for a bad
    DIGITNET_THREADS."""
    if threads > 0:
        return threads
    text = os.environ.get(ENVIRONMENT, "").strip()
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_THREADS:
        raise ConfigError(f"{ENVIRONMENT} must be a whole number from 1 to {MAX_THREADS}, "
                          f"got {text[:40]!r}")
    return int(text)


def _cpu_seconds() -> float | None:
    """CPU seconds every program on the machine has used since boot (/proc/stat), or None
    where that cannot be read."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]  # user .. steal
    except (OSError, ValueError):
        return None
    if len(ticks) < 5:
        return None
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


class LoadMeter:
    """How many cores other programs kept busy between two readings.

        meter = LoadMeter()          # starts the clock
        ...                          # work (this process's own CPU time is left out)
        meter.others()               # e.g. 1.0 when another program held one core
    """

    def __init__(self) -> None:
        self._last = self._now()

    @staticmethod
    def _now() -> tuple[float, float | None, float]:
        return time.perf_counter(), _cpu_seconds(), time.process_time()

    def others(self) -> float | None:
        """Cores' worth of CPU used by other programs since the last reading (or since the
        meter was made); None where the machine's CPU time cannot be read, or when less
        than MIN_WINDOW seconds have passed (the count moves in ticks of 10 ms, so one tick
        in a 1 ms window would read as ten busy cores; the window then keeps growing)."""
        (wall0, all0, own0), now = self._last, self._now()
        wall1, all1, own1 = now
        if all0 is None or all1 is None or wall1 - wall0 < MIN_WINDOW:
            return None
        self._last = now
        return max(0.0, ((all1 - all0) - (own1 - own0)) / (wall1 - wall0))


def free_threads(others: float, cores: int | None = None) -> int:
    """The cores that `others` cores' worth of other programs leave free: at least 1, at
    most `cores` (default: the available cores); half a core busy or more counts as taken."""
    cores = available_cores() if cores is None else cores
    return max(1, min(cores, int(cores - others + 0.5)))


def fastest(batch: int, hidden: int, dtype: np.dtype | str, cores: int | None = None) -> int:
    """1 or `cores` (default: the available cores), whichever runs this network's two big
    products, (batch, 784) @ (784, hidden) and its transpose, faster right now.

    Each candidate runs PROBE_ROUNDS times, interleaved so that a change of load hits both;
    more threads win only if their median is at least 10% lower. Takes tens of ms.
    """
    cores = available_cores() if cores is None else cores
    if cores <= 1:
        return 1
    rng = np.random.default_rng(0)  # made-up operands: the training's generator is untouched
    x = rng.random((batch, PIXELS), dtype=np.float32).astype(dtype)
    w = rng.random((PIXELS, hidden), dtype=np.float32).astype(dtype)
    h = np.empty((batch, hidden), dtype)
    g = np.empty((PIXELS, hidden), dtype)
    times: dict[int, list[float]] = {1: [], cores: []}
    controller = _controller()
    for _ in range(PROBE_ROUNDS):
        for n, seconds in times.items():
            with limited(n, controller):
                start = time.perf_counter()
                np.matmul(x, w, out=h)  # forward:  x @ W1
                np.matmul(x.T, h, out=g)  # backward: x.T @ dh
                seconds.append(time.perf_counter() - start)
    one, many = statistics.median(times[1]), statistics.median(times[cores])
    return cores if many < MARGIN * one else 1


class PerEpoch:
    """The thread count of each training epoch, as a context manager:

        epoch_threads = PerEpoch(fixed, batch, hidden, dtype)
        with epoch_threads() as n:      # BLAS runs on n threads inside
            ...                         # one epoch

    n is `configured(fixed)` when that is set; otherwise the cores other programs left free
    since the last epoch (`LoadMeter`, `free_threads`), or where that cannot be read,
    `fastest(batch, hidden, dtype)`.
    """

    def __init__(self, fixed: int, batch: int, hidden: int, dtype: np.dtype | str):
        self.fixed = configured(fixed)  # 0: choose before each epoch
        self.meter = LoadMeter()  # what other programs use, for choosing
        self.batch, self.hidden, self.dtype = batch, hidden, dtype

    @contextmanager
    def __call__(self) -> Iterator[int]:
        n = self.fixed or self._choose()
        with limited(n):
            yield n

    def _choose(self) -> int:
        others = self.meter.others()
        if others is not None:
            return free_threads(others)
        return fastest(self.batch, self.hidden, self.dtype)
