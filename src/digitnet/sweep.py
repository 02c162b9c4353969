"""Hyper-parameter sweeps on Optuna: the search-space file, the objective, the storage.

    load_space / parse_space  a TOML search space -> Space (in sweep_space.py)
    open_storage              an Optuna RDBStorage (SQLite file or PostgreSQL), with
                              heartbeats, retry of dead workers' trials, and schema creation
                              made safe for workers that start together (sweep_storage.py)
    run                       run N trials in this process, joining the study if it exists
    trial_records, best_config
                              what `sweep show` and `sweep best` print and write
                              (`sweep report` draws in sweep_report.py)

The objective is validation accuracy (`val_split` training images held out); the test
set is never loaded. Each epoch's validation accuracy is reported to the trial so the
pruner can stop bad trials early.

Several workers (processes or machines) share a study through its storage: a SQLite
file on one machine, PostgreSQL (or any SQLAlchemy URL Optuna accepts) across machines.
A worker killed mid-trial stops sending heartbeats; once `grace_period` seconds pass, the
next worker to start a trial marks it FAIL and queues its parameters again.

What it leaves out: sweeps over the network's shape beyond `hidden` (there is one hidden
layer), and multi-objective studies.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import Config
from .errors import (
    ConfigError,
    SweepError,
    TrainingDiverged,
)
from .sweep_space import (  # noqa: F401 (the space is part of the sweep API)
    FIELD_TYPES,
    MAX_GRID,
    Param,
    Space,
    check_grid,
    load_space,
    parse_space,
)
from .sweep_storage import (  # noqa: F401 (the storage is part of the sweep API)
    DEFAULT_STORAGE,
    GRACE_PERIOD,
    HEARTBEAT_INTERVAL,
    MAX_RETRY,
    display_url,
    open_storage,
    quiet_optuna,
    require_optuna,
    sqlite_path,
    storage_errors,
    storage_failures,
    storage_url,
)
from .terminal import signals_allowed, signals_held

SPACE_ATTR = "digitnet.space"  # study user attributes that pin what every worker must run
SUBSET_ATTR = "digitnet.train_subset"


def worker_name() -> str:
    """This process as "host:pid", recorded with each trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"



# ----------------------------------------------------------------------------- studies

def load_study(name: str, url: str | None) -> Any:
    """An existing study; SweepError names the studies there if `name` is not one. A
    SQLite file that does not exist is an error (it is not created empty)."""
    optuna = require_optuna()
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise SweepError(f"no study {name!r}: the sweep database {path} does not exist "
                         "(give --storage, or run where the sweep ran)")
    storage = open_storage(url, existing=True)
    with storage_failures(storage_url(url)), quiet_optuna():
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        if name not in names:
            known = ", ".join(sorted(names)) or "none"
            raise SweepError(f"no study {name!r} in {display_url(storage_url(url))} "
                             f"(studies there: {known})")
        return optuna.load_study(study_name=name, storage=storage)


def _pin(study: Any, key: str, value: Any, what: str) -> None:
    """Store value in the study, or check it equals what the first worker stored."""
    if key not in study.user_attrs:
        study.set_user_attr(key, value)  # a concurrent first write is ignored by Optuna
    stored = study.user_attrs.get(key)
    if stored is not None and stored != value:
        raise SweepError(f"study {study.study_name!r} was started with a different {what}: "
                         f"{json.dumps(stored)}; this worker has {json.dumps(value)}")


def make_sampler(name: str, space: Space, seed: int | None) -> Any:
    """The Optuna sampler called name: tpe, random or grid."""
    optuna = require_optuna()
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        grid = {p.name: p.grid() for p in space.params.values()}
        return optuna.samplers.GridSampler(grid, seed=seed)
    raise ConfigError(f"unknown sampler {name!r}; choose from tpe, random, grid")


def make_pruner(name: str) -> Any:
    """The Optuna pruner called name: median (after 5 trials, from epoch 2 on) or none.
    Epochs are reported as steps 1, 2, ...; Optuna prunes from step n_warmup_steps on."""
    optuna = require_optuna()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner {name!r}; choose from median, none")


SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")


def trial_value(history: list[dict[str, Any]], best_epoch: int | None) -> float:
    """The validation accuracy of the weights a run kept: the best epoch's with early
    stopping, otherwise the last epoch's."""
    record = history[best_epoch - 1] if best_epoch else history[-1]
    return float(record["val_accuracy"])


def make_objective(space: Space, x: np.ndarray, y: np.ndarray) -> Callable[[Any], float]:
    """An Optuna objective: train on images x (n, 28, 28) and labels y (n,) with the
    trial's Config, report validation accuracy after every epoch (so the pruner can stop
    the trial), and return the validation accuracy of the weights kept."""
    optuna = require_optuna()
    from .classifier import Classifier

    def objective(trial: Any) -> float:
        trial.set_user_attr("worker", worker_name())
        config = space.config({p.name: p.suggest(trial) for p in space.params.values()})
        if "threads" not in space.fixed and "threads" not in space.params:
            config = dataclasses.replace(config, threads=1)  # one core per worker

        def report(record: dict[str, Any]) -> None:
            trial.report(record["val_accuracy"], record["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation accuracy {record['val_accuracy']:.4f} "
                                         f"after epoch {record['epoch']}")

        with signals_allowed():  # Ctrl-C and SIGTERM land here, where Optuna fails the trial
            result = Classifier(config).fit(x, y, on_epoch=report).result_
        trial.set_user_attr("train_seconds", result.train_seconds)
        trial.set_user_attr("epochs", len(result.history))
        trial.set_user_attr("threads", result.history[-1].get("threads"))
        return trial_value(result.history, result.best_epoch)

    return objective


def run(
    study_name: str,
    space: Space,
    x: np.ndarray,
    y: np.ndarray,
    *,
    storage: str | None = None,
    trials: int | None = 10,
    timeout: float | None = None,
    sampler: str = "tpe",
    pruner: str = "median",
    seed: int | None = None,
    data_note: Any = None,
    on_trial: Callable[[dict[str, Any], dict[str, Any] | None], None] | None = None,
    heartbeat_interval: int = HEARTBEAT_INTERVAL,
    grace_period: int = GRACE_PERIOD,
) -> RunResult:
    """Run up to `trials` trials (or until `timeout` seconds) of study `study_name` in this
    process, creating the study if it does not exist. Returns this process's trial records
    (see `trial_record`) and the study's best trial.

    x (n, 28, 28), y (n,): the training images; each trial holds out config.val_split of
    them for validation. `data_note` (JSON) describes the data and is pinned in the study
    with the space, so every worker of one study trains on the same thing. `on_trial` is
    called after each trial with its record and the best trial's record so far (or None).
    Training uses one BLAS thread (unless the space sets `threads`): run one worker per
    core.
    """
    optuna = require_optuna()
    from .threads import limited

    url = storage_url(storage)
    store = open_storage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    records: list[dict[str, Any]] = []

    def callback(study: Any, trial: Any) -> None:
        record = trial_record(trial)
        records.append(record)
        if on_trial is not None:
            best = _best_trial(study)
            on_trial(record, trial_record(best) if best is not None else None)

    with storage_failures(url), quiet_optuna(), limited(1):
        study = optuna.create_study(study_name=study_name, storage=store,
                                    sampler=make_sampler(sampler, space, seed),
                                    pruner=make_pruner(pruner), direction="maximize",
                                    load_if_exists=True)
        if study.direction != optuna.study.StudyDirection.MAXIMIZE:
            raise SweepError(f"study {study_name!r} minimizes; digitnet maximizes validation "
                             "accuracy")
        _pin(study, SPACE_ATTR, space.to_dict(), "search space")
        _pin(study, SUBSET_ATTR, data_note, "training data")
        try:
            with signals_held():  # not between trials, where a trial would stay RUNNING
                study.optimize(make_objective(space, x, y), n_trials=trials,
                               timeout=timeout, catch=(TrainingDiverged,),
                               callbacks=[callback], gc_after_trial=False)
            best = _best_trial(study)
        finally:
            store.engine.dispose()  # close this worker's connections now, not at exit
    return RunResult(records, trial_record(best) if best is not None else None)


@dataclass
class RunResult:
    trials: list[dict[str, Any]]  # this process's trials, as trial_record gives them
    best: dict[str, Any] | None  # the study's best trial so far (any worker's), or None


def _best_trial(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no completed trial yet
        return None


def trial_record(trial: Any) -> dict[str, Any]:
    """One trial as JSON-ready data: number, state (Optuna's name), value, params,
    seconds (wall time from start to end; None while running)."""
    seconds = trial.duration.total_seconds() if trial.duration is not None else None
    value = trial.value if trial.value is not None and math.isfinite(trial.value) else None
    return {"number": trial.number, "state": trial.state.name, "value": value,
            "params": dict(trial.params), "seconds": seconds}


def trial_records(study: Any) -> list[dict[str, Any]]:
    """Every trial of the study, in number order (see trial_record)."""
    return [trial_record(t) for t in sorted(study.get_trials(deepcopy=False),
                                            key=lambda t: t.number)]


def stored_space(study: Any) -> Space:
    """The search space the study's first worker pinned."""
    data = study.user_attrs.get(SPACE_ATTR)
    if data is None:
        raise SweepError(f"study {study.study_name!r} was not made by digitnet sweep "
                         "(it has no stored search space)")
    return parse_space(data)


def best_config(study: Any) -> tuple[Config, dict[str, Any]]:
    """The Config of the study's best completed trial, and that trial's record."""
    best = _best_trial(study)
    if best is None:
        raise SweepError(f"study {study.study_name!r} has no completed trial yet")
    space = stored_space(study)
    return space.config(best.params), trial_record(best)


def format_record(record: dict[str, Any], best: dict[str, Any] | None = None) -> str:
    """One fixed-format line for a trial record (and the best so far, if given)."""
    value = f"{100 * record['value']:.2f}%" if record["value"] is not None else "-"
    seconds = f"{record['seconds']:.1f}s" if record["seconds"] is not None else "-"
    params = format_params(record["params"])
    line = f"trial {record['number']:>4}  {record['state']:<8}  val {value:>7}  {seconds:>7}  " \
           f"{params}"
    if best is not None:
        line += f"  (best: trial {best['number']}, {100 * best['value']:.2f}%)"
    return line


def format_params(params: dict[str, Any]) -> str:
    """A trial's parameters as 'name=value, ...', floats to 4 significant digits."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())
