"""BLAS thread choice: the configured count wins, DIGITNET_THREADS is read and checked,
the measured choice is 1 or all cores, the count used is recorded, and the same seed with
the same thread count gives bit-identical weights."""

import numpy as np
import pytest

from digitnet import Classifier, ConfigError, threads
from digitnet.config import Config


def test_configured_count_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(threads.ENVIRONMENT, "2")
    assert threads.configured(1) == 1
    assert threads.configured(0) == 2
    monkeypatch.delenv(threads.ENVIRONMENT)
    assert threads.configured(0) == 0  # 0: measure


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_a_bad_environment_value_is_a_clear_error(monkeypatch, bad):
    monkeypatch.setenv(threads.ENVIRONMENT, bad)
    with pytest.raises(ConfigError, match=f"{threads.ENVIRONMENT} must be a whole number"):
        threads.configured(0)


def test_negative_threads_is_refused():
    with pytest.raises(ValueError, match="threads must be >= 0, got -1"):
        Config(threads=-1)


def test_the_measured_choice_is_one_thread_or_all_cores():
    assert threads.fastest(32, 64, "float32", cores=1) == 1
    cores = threads.available_cores()
    assert threads.fastest(64, 256, "float32") in {1, cores}


def test_limited_sets_and_restores_the_blas_limit():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    with threads.limited(1):
        assert all(n == 1 for n in blas_threads())
    assert blas_threads() == before


def _train(mnist, n_threads):
    clf = Classifier(hidden=64, epochs=2, val_split=1000, threads=n_threads, seed=7)
    return clf.fit(mnist.x_train[:6000], mnist.y_train[:6000])


@pytest.mark.parametrize("n_threads", sorted({1, threads.available_cores()}))
def test_same_seed_and_thread_count_give_bit_identical_weights(mnist, n_threads):
    first, second = _train(mnist, n_threads), _train(mnist, n_threads)
    for name, w in first.model_.params.items():
        assert np.array_equal(w, second.model_.params[name]), name
    assert [r["threads"] for r in first.history_] == [n_threads, n_threads]


def test_the_measured_count_is_recorded_per_epoch(mnist, monkeypatch):
    monkeypatch.delenv(threads.ENVIRONMENT, raising=False)
    history = _train(mnist, 0).history_
    assert all(r["threads"] in {1, threads.available_cores()} for r in history)


def test_free_threads_leaves_the_cores_others_use():
    assert threads.free_threads(0.0, cores=2) == 2
    assert threads.free_threads(0.3, cores=2) == 2
    assert threads.free_threads(0.7, cores=2) == 1  # another program holds most of a core
    assert threads.free_threads(5.0, cores=2) == 1  # never fewer than one
    assert threads.free_threads(1.0, cores=8) == 7


def test_the_load_meter_sees_another_program_and_not_this_one():
    import subprocess
    import sys
    import time

    meter = threads.LoadMeter()
    np.ones((2000, 2000)) @ np.ones((2000, 2000))  # this process's own work is left out
    time.sleep(0.3)
    quiet = meter.others()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start
        meter.others()
        time.sleep(1.0)
        busy = meter.others()
    finally:
        spinner.kill()
        spinner.wait()
    assert quiet is not None and busy is not None
    assert busy > quiet and busy >= 0.6  # the spinner held (most of) a core


def test_the_load_meter_reads_nothing_from_a_window_too_short_for_the_tick_count():
    meter = threads.LoadMeter()
    assert meter.others() is None  # ~0 s: one 10 ms tick would read as many busy cores
