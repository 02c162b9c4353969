"""A sweep's study storage: an Optuna RDBStorage on SQLite or PostgreSQL, opened safely.

    open_storage       the storage, with heartbeats, retry of dead workers' trials, and
                       schema creation made safe for workers that start together; never
                       in memory, and never creating tables in another program's database
    storage_failures   a lost or unreachable database as one SweepError line
    sqlite_path        the file of a sqlite:/// URL, to keep outputs off it

Workers share a study through its storage: a SQLite file on one machine, PostgreSQL (or
any SQLAlchemy URL Optuna accepts) across machines. The trials themselves are in sweep.py.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import DigitnetError, MissingExtraError, SweepError

DEFAULT_STORAGE = "sqlite:///digitnet-sweeps.db"  # a file in the working directory
CONNECT_TIMEOUT = 5  # seconds to wait for a database server before giving up
SCHEMA_LOCK_TIMEOUT = 60  # seconds a worker waits for another to finish creating the schema
SCHEMA_ATTEMPTS = 5  # tries at creating the schema where no lock serialises it
SCHEMA_LOCK_KEY = 0x6469676974  # "digit": the PostgreSQL advisory lock guarding schema creation
HEARTBEAT_INTERVAL = 10  # seconds between a running trial's heartbeats
GRACE_PERIOD = 60  # seconds without a heartbeat after which a trial counts as dead
MAX_RETRY = 3  # times a dead worker's trial is queued again
OPTUNA_TABLES = {"studies", "trials", "version_info"}  # some of the tables Optuna makes


def require_optuna() -> Any:
    """Import and return optuna, or raise MissingExtraError saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise MissingExtraError("sweeps need optuna, which is not installed; install "
                                "digitnet[sweep] (pip install 'digitnet[sweep]')") from None
    return optuna


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
                 grace_period: int = GRACE_PERIOD, existing: bool = False) -> Any:
    """An Optuna RDBStorage for url (None: the SQLite file in the working directory).

    Running trials send a heartbeat every heartbeat_interval seconds; a trial silent for
    grace_period seconds is marked FAIL by the next worker and queued again (at most
    MAX_RETRY times). Workers that start together on an empty database race to create
    Optuna's tables (on PostgreSQL one dies on a duplicate `CREATE TYPE studydirection`,
    on SQLite on a duplicate alembic_version row). On PostgreSQL an advisory lock
    serialises the creation; on other databases a worker that loses the race tries again,
    finding the tables made. Raises SweepError, with one line of reason, when the storage
    cannot be reached or the URL is wrong, when it is in-memory SQLite (lost with this
    process, and not shareable), and before creating any table in a database that holds
    other tables but not Optuna's (another program's), or, with `existing`, in any
    database without Optuna's tables (`sweep show`, `best` and `report` only read).
    """
    optuna = require_optuna()
    url = storage_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}  # reconnect after a database restart
    if url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    elif url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}  # wait for other workers' writes
    _check_database(url, kwargs, existing)
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


def _check_database(url: str, engine_kwargs: dict[str, Any], existing: bool) -> None:
    """Refuse in-memory SQLite, a database of another program's tables, and (existing)
    one without Optuna's; see open_storage."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    try:
        parsed = sqlalchemy.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite" and (
                parsed.database in (None, "", ":memory:") or "memory" in str(parsed.query)):
            raise SweepError(f"{display_url(url)} is an in-memory database: the study would be "
                             "lost when this process ends; give a file, sqlite:///FILE.db")
        engine = sqlalchemy.create_engine(url, poolclass=NullPool,
                                          connect_args=engine_kwargs.get("connect_args", {}))
        try:
            tables = set(sqlalchemy.inspect(engine).get_table_names())
        finally:
            engine.dispose()
    except (*storage_errors(), ImportError, ValueError) as e:
        if isinstance(e, SweepError):
            raise
        raise SweepError(f"cannot open the study storage {display_url(url)}: "
                         f"{_reason(e)}") from None
    if tables >= OPTUNA_TABLES:
        return
    if tables:
        raise SweepError(f"{display_url(url)} holds other tables ({', '.join(sorted(tables)[:5])}"
                         f"), not a sweep's; digitnet creates none there: give another --storage")
    if existing:
        raise SweepError(f"no sweep in {display_url(url)}: the database holds no studies")


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
