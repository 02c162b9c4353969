"""Hyper-parameter sweeps on Optuna: the search-space file, the objective, the storage.

    load_space / parse_space  a TOML search space -> Space, every name and range checked
    open_storage              an Optuna RDBStorage (SQLite file or PostgreSQL), with
                              heartbeats, retry of dead workers' trials, and schema creation
                              made safe for workers that start together
    run                       run N trials in this process, joining the study if it exists
    trial_records, best_config
                              what `sweep show` and `sweep best` print and write
                              (`sweep report` draws in sweep_report.py)

A search space file:

    [fixed]                    # any Config fields, the same in every trial
    preset = "fast"            # the preset the other fields replace (default "fast")
    epochs = 6
    [params.lr]                # a float range; log = true samples it log-uniformly
    low = 0.05
    high = 0.5
    log = true
    [params.hidden]            # an int range, in steps of 128
    low = 256
    high = 2048
    step = 128
    [params.schedule]          # a choice
    choices = ["cosine", "onecycle"]

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

import contextlib
import dataclasses
import json
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import PRESETS, Config, check_value, read_table
from .errors import (
    ConfigError,
    DigitnetError,
    MissingExtraError,
    SweepError,
    TrainingDiverged,
)

DEFAULT_STORAGE = "sqlite:///digitnet-sweeps.db"  # a file in the working directory
CONNECT_TIMEOUT = 5  # seconds to wait for a database server before giving up
SCHEMA_LOCK_TIMEOUT = 60  # seconds a worker waits for another to finish creating the schema
SCHEMA_ATTEMPTS = 5  # tries at creating the schema where no lock serialises it
SCHEMA_LOCK_KEY = 0x6469676974  # "digit": the PostgreSQL advisory lock guarding schema creation
HEARTBEAT_INTERVAL = 10  # seconds between a running trial's heartbeats
GRACE_PERIOD = 60  # seconds without a heartbeat after which a trial counts as dead
MAX_RETRY = 3  # times a dead worker's trial is queued again
SPACE_ATTR = "digitnet.space"  # study user attributes that pin what every worker must run
SUBSET_ATTR = "digitnet.train_subset"


def require_optuna() -> Any:
    """Import and return optuna, or raise MissingExtraError saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise MissingExtraError("sweeps need optuna, which is not installed; install "
                                "digitnet[sweep] (pip install 'digitnet[sweep]')") from None
    return optuna


# ----------------------------------------------------------------------------- the space

@dataclass(frozen=True)
class Param:
    """One searched Config field: a range (low, high, optional log or step) or choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna trial for this field's value."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if _field_type(self.name) == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high),
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def grid(self) -> list[Any]:
        """Every value this parameter can take, for the grid sampler."""
        if self.choices is not None:
            return list(self.choices)
        if self.step is None and _field_type(self.name) != "int":
            raise ConfigError(f"params.{self.name}: the grid sampler needs choices or a step "
                              "for every parameter")
        step = self.step or 1
        count = math.floor((self.high - self.low) / step + 1e-9) + 1
        values = [self.low + i * step for i in range(count)]
        return [int(v) for v in values] if _field_type(self.name) == "int" else values

    def to_dict(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out


@dataclass(frozen=True)
class Space:
    """A search space: fixed Config fields, and the searched ones."""

    fixed: dict[str, Any]
    params: dict[str, Param]

    def config(self, values: dict[str, Any]) -> Config:
        """The Config for one trial: the preset, then the fixed fields, then `values`."""
        base = PRESETS[self.fixed.get("preset", "fast")]
        return dataclasses.replace(base, **self.fixed, **values)

    def to_dict(self) -> dict[str, Any]:
        return {"fixed": dict(self.fixed),
                "params": {name: p.to_dict() for name, p in self.params.items()}}


FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(Config)}  # "int", "float", ...


def _field_type(name: str) -> str:
    return FIELD_TYPES[name]


def worker_name() -> str:
    """This process as "host:pid", recorded with each trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def load_space(path: str | Path) -> Space:
    """Read a TOML search-space file; every error names the file and the bad entry."""
    path = Path(path)
    data = read_table(path, "the search space")
    try:
        return parse_space(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def parse_space(data: dict[str, Any]) -> Space:
    """Check a search space given as {"fixed": {...}, "params": {name: {...}}}."""
    unknown = sorted(set(data) - {"fixed", "params"})
    if unknown:
        raise ConfigError(f"unknown section {unknown[0]!r}; a search space has [fixed] and "
                          "[params.NAME] tables")
    fixed_raw, params_raw = data.get("fixed", {}), data.get("params", {})
    if not isinstance(fixed_raw, dict) or not isinstance(params_raw, dict):
        raise ConfigError("[fixed] and [params] must be tables")
    fixed = {name: _checked(name, value, "[fixed]") for name, value in fixed_raw.items()}
    if "preset" in fixed and fixed["preset"] not in PRESETS:
        raise ConfigError(f"fixed.preset: unknown preset {fixed['preset']!r}; choose from "
                          f"{', '.join(PRESETS)}")
    if not params_raw:
        raise ConfigError("no [params.NAME] table: nothing to search")
    params = {name: _parse_param(name, spec, fixed) for name, spec in params_raw.items()}
    space = Space(fixed, params)
    _check_config(space, {}, "[fixed]")
    if space.config({}).val_split <= 0:
        raise ConfigError("val_split must be > 0: the sweep chooses on validation accuracy")
    return space


def _parse_param(name: str, spec: Any, fixed: dict[str, Any]) -> Param:
    where = f"params.{name}"
    if name not in FIELD_TYPES:
        raise ConfigError(f"{where}: unknown config field {name!r}")
    if name == "preset":
        raise ConfigError(f"{where}: the preset cannot be searched; set it in [fixed]")
    if name in fixed:
        raise ConfigError(f"{where}: {name} is also in [fixed]")
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a table with low/high or choices, got {spec!r}")
    extra = sorted(set(spec) - {"low", "high", "log", "step", "choices"})
    if extra:
        raise ConfigError(f"{where}: unknown key {extra[0]!r} (expected low, high, log, step "
                          "or choices)")
    if "choices" in spec:
        if set(spec) != {"choices"}:
            raise ConfigError(f"{where}: give either choices or low/high, not both")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}.choices must be a non-empty list, got {choices!r}")
        checked = tuple(_checked(name, c, where) for c in choices)
        if len(set(checked)) < len(checked):
            raise ConfigError(f"{where}.choices repeats a value: {choices!r}")
        param = Param(name, choices=checked)
        for value in checked:
            _check_config_value(fixed, name, value, where)
        return param
    kind = _field_type(name)
    if kind not in ("int", "float"):
        raise ConfigError(f"{where}: {name} is a {kind}; give choices = [...]")
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where} needs both low and high (or choices)")
    low, high = _checked(name, spec["low"], where), _checked(name, spec["high"], where)
    log = spec.get("log", False)
    step = spec.get("step")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log must be true or false, got {log!r}")
    if not all(math.isfinite(v) for v in (low, high)) or not low < high:
        raise ConfigError(f"{where}: need low < high, got low={low!r}, high={high!r}")
    if step is not None:
        step = _checked(name, step, where)
        if not step > 0:
            raise ConfigError(f"{where}.step must be > 0, got {step!r}")
        if log:
            raise ConfigError(f"{where}: use log or step, not both")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got {low!r}")
    for value in (low, high):
        _check_config_value(fixed, name, value, where)
    return Param(name, low, high, log, step)


def _checked(name: str, value: Any, where: str) -> Any:
    try:
        return check_value(name, value)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _check_config_value(fixed: dict[str, Any], name: str, value: Any, where: str) -> None:
    _check_config(Space(fixed, {}), {name: value}, where)


def _check_config(space: Space, values: dict[str, Any], where: str) -> None:
    try:
        space.config(values)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None


# ----------------------------------------------------------------------------- storage

def storage_url(url: str | None) -> str:
    """The SQLAlchemy URL to use: `url`, or the SQLite file in the working directory."""
    return url or DEFAULT_STORAGE


def display_url(url: str) -> str:
    """url with any password hidden, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is shown as given; it holds no parsed password
        return url


def storage_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the study storage failed (not a bug in digitnet).
    Raises MissingExtraError without the sweep extra, as every sweep command needs it."""
    optuna = require_optuna()
    import sqlalchemy.exc  # installed with optuna

    return (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError)


def _reason(error: BaseException) -> str:
    """One line saying why a database call failed, from the driver's own message."""
    cause = getattr(error, "orig", None) or error.__cause__ or error
    cause = getattr(cause, "orig", None) or cause
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    text = "; ".join(line for line in lines if not line.startswith(("(Background", "[SQL")))
    return text or type(cause).__name__


def open_storage(url: str | None, *, heartbeat_interval: int = HEARTBEAT_INTERVAL,
                 grace_period: int = GRACE_PERIOD) -> Any:
    """An Optuna RDBStorage for url (None: the SQLite file in the working directory).

    Running trials send a heartbeat every heartbeat_interval seconds; a trial silent for
    grace_period seconds is marked FAIL by the next worker and queued again (at most
    MAX_RETRY times). Workers that start together on an empty database race to create
    Optuna's tables (on PostgreSQL one dies on a duplicate `CREATE TYPE studydirection`,
    on SQLite on a duplicate alembic_version row). On PostgreSQL an advisory lock
    serialises the creation; on other databases a worker that loses the race tries again,
    finding the tables made. Raises SweepError, with one line of reason, when the storage
    cannot be reached or the URL is wrong.
    """
    optuna = require_optuna()
    url = storage_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}  # reconnect after a database restart
    if url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    elif url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}  # wait for other workers' writes
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with _schema_lock(url, kwargs), quiet_optuna():
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=kwargs, heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=(
                        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)))
        except (*storage_errors(), ImportError, ValueError, RuntimeError) as e:
            if attempt + 1 < SCHEMA_ATTEMPTS and _lost_schema_race(e):
                time.sleep(0.2 * 2**attempt)
                continue
            raise SweepError(f"cannot open the study storage {display_url(url)}: "
                             f"{_reason(e)}") from None
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _lost_schema_race(error: BaseException) -> bool:
    """True when error is another worker having created the same table, type or row."""
    import sqlalchemy.exc

    cause = _storage_cause(error, (sqlalchemy.exc.SQLAlchemyError,)) or error
    text = _reason(cause).lower()
    return isinstance(cause, sqlalchemy.exc.IntegrityError) or "already exists" in text


@contextlib.contextmanager
def _schema_lock(url: str, engine_kwargs: dict[str, Any]) -> Iterator[None]:
    """On PostgreSQL, hold a session advisory lock while Optuna creates its schema."""
    if not url.startswith("postgresql"):
        yield
        return
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(url, poolclass=NullPool,
                                      connect_args=engine_kwargs.get("connect_args", {}))
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f"SET lock_timeout = '{SCHEMA_LOCK_TIMEOUT}s'"))
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"),
                               {"key": SCHEMA_LOCK_KEY})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"),
                                   {"key": SCHEMA_LOCK_KEY})
                connection.commit()
    finally:
        engine.dispose()


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna logs each trial and warns about experimental features; digitnet prints its
    own lines, so silence both while inside."""
    import warnings

    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


@contextlib.contextmanager
def storage_failures(url: str | None) -> Iterator[None]:
    """Turn a storage failure inside the block into one SweepError line, and keep
    Optuna's heartbeat thread from printing a traceback when the database goes away (the
    main thread reports the same failure at its next database call).

    An error raised while Optuna was handling a storage failure counts as that failure
    (Optuna 5.0's trial loop raises UnboundLocalError when it cannot even read the trial
    back after a failed write)."""
    errors = storage_errors()
    previous = threading.excepthook

    def hook(args: Any) -> None:
        if not issubclass(args.exc_type, errors):
            previous(args)

    threading.excepthook = hook
    try:
        yield
    except DigitnetError:
        raise
    except Exception as e:
        cause = _storage_cause(e, errors)
        if cause is None:
            raise
        raise SweepError(f"lost the study storage {display_url(storage_url(url))}: "
                         f"{_reason(cause)}") from None
    finally:
        threading.excepthook = previous


def _storage_cause(error: BaseException,
                   errors: tuple[type[BaseException], ...]) -> BaseException | None:
    """The storage error in error's chain of causes and contexts, or None."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, errors):
            return error
        seen.add(id(error))
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return None


# ----------------------------------------------------------------------------- studies

def load_study(name: str, url: str | None) -> Any:
    """An existing study; SweepError names the studies there if `name` is not one. A
    SQLite file that does not exist is an error (it is not created empty)."""
    optuna = require_optuna()
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise SweepError(f"no study {name!r}: the sweep database {path} does not exist "
                         "(give --storage, or run where the sweep ran)")
    storage = open_storage(url)
    with storage_failures(storage_url(url)), quiet_optuna():
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        if name not in names:
            known = ", ".join(sorted(names)) or "none"
            raise SweepError(f"no study {name!r} in {display_url(storage_url(url))} "
                             f"(studies there: {known})")
        return optuna.load_study(study_name=name, storage=storage)


def sqlite_path(url: str | None) -> Path | None:
    """The file of a sqlite:/// URL, None meaning the default file (None for other
    databases and in-memory SQLite)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(storage_url(url))
    except ArgumentError:
        return None  # open_storage reports the bad URL
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


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
            study.optimize(make_objective(space, x, y), n_trials=trials, timeout=timeout,
                           catch=(TrainingDiverged,), callbacks=[callback],
                           gc_after_trial=False)
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
