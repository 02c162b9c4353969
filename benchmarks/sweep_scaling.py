"""How `digitnet sweep` scales with workers, and what each trial costs the database.

    python benchmarks/sweep_scaling.py [--trials 6] [--train-subset 20000] [--storage URL]

Starts a throwaway PostgreSQL server (tests/pgtemp.py; Debian's postgresql must be
installed) unless --storage is given, then:

1. runs one `digitnet sweep` worker with --trials N, then two workers at once with --trials
   N each, on fresh studies, and reports trials per hour for each (the sum of each
   worker's rate from its first trial's start to its last trial's end, so process
   start-up is not counted) and the speed-up;
   It also samples how many database connections the workers hold open.
2. runs N trials in this process while counting every SQL statement and the time spent
   in the database, and reports statements, commits and database seconds per trial.

Each worker trains with one BLAS thread (sweep.run sets it), so two workers use the two
cores of a 2-core machine. Prints one JSON object. The load average is included because
the numbers mean little on a machine busy with other work.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPACE = """
[fixed]
epochs = 2
val_split = 2000
[params.hidden]
low = 128
high = 512
step = 128
[params.lr]
low = 0.05
high = 0.4
log = true
"""


def run_workers(url: str, study: str, space: Path, workers: int, trials: int,
                subset: int) -> tuple[float, int]:
    """Start `workers` sweep processes at once; returns trials per hour of the study and
    the most database connections seen open at once (sampled every 0.2 s)."""
    import optuna
    import sqlalchemy

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    procs = [subprocess.Popen(
        [sys.executable, "-m", "digitnet", "sweep", "--study", study, "--space", str(space),
         "--storage", url, "--trials", str(trials), "--train-subset", str(subset),
         "--sampler", "random", "--pruner", "none", "--seed", str(seed), "--json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        for seed in range(workers)]
    most = 0
    if url.startswith("postgresql"):
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        query = sqlalchemy.text("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                "current_database() AND pid <> pg_backend_pid()")
        while any(proc.poll() is None for proc in procs):
            with engine.connect() as connection:
                most = max(most, connection.execute(query).scalar())
            time.sleep(0.2)
        engine.dispose()
    for proc in procs:
        _, err = proc.communicate(timeout=3600)
        if proc.returncode:
            raise SystemExit(f"worker failed: {err.strip()}")
    done = [t for t in optuna.load_study(study_name=study, storage=url).trials
            if t.state.name == "COMPLETE"]
    rate = 0.0  # the sum of each worker's own rate, so staggered start-ups do not count
    for worker in {t.user_attrs["worker"] for t in done}:
        mine = [t for t in done if t.user_attrs["worker"] == worker]
        span = (max(t.datetime_complete for t in mine)
                - min(t.datetime_start for t in mine)).total_seconds()
        rate += len(mine) / span * 3600
    return rate, most


def database_cost(url: str, space: Path, trials: int, subset: int) -> dict[str, float]:
    """SQL statements, commits and seconds in the database per trial, in this process."""
    import sqlalchemy
    from sqlalchemy import event

    from digitnet import sweep
    from digitnet.data import load_mnist

    counts = {"statements": 0, "commits": 0, "seconds": 0.0}
    started: list[float] = []

    def before(*_args) -> None:
        started.append(time.perf_counter())

    def after(*_args) -> None:
        counts["statements"] += 1
        counts["seconds"] += time.perf_counter() - started.pop()

    def commit(*_args) -> None:
        counts["commits"] += 1

    data = load_mnist()
    x, y = data.x_train[:subset], data.y_train[:subset]
    space_obj = sweep.load_space(space)
    sweep.run("cost-warmup", space_obj, x, y, storage=url, trials=1, sampler="random",
              pruner="none", seed=0)  # schema and study creation are not counted
    event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", before)
    event.listen(sqlalchemy.engine.Engine, "after_cursor_execute", after)
    event.listen(sqlalchemy.engine.Engine, "commit", commit)
    began = time.perf_counter()
    records = sweep.run("cost-warmup", space_obj, x, y, storage=url, trials=trials,
                        sampler="random", pruner="none", seed=1).trials
    wall = time.perf_counter() - began
    event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", before)
    event.remove(sqlalchemy.engine.Engine, "after_cursor_execute", after)
    event.remove(sqlalchemy.engine.Engine, "commit", commit)
    n = len(records)
    return {"trials": n, "statements_per_trial": counts["statements"] / n,
            "commits_per_trial": counts["commits"] / n,
            "db_seconds_per_trial": counts["seconds"] / n,
            "seconds_per_trial": wall / n,
            "db_share_of_trial_time": counts["seconds"] / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6, help="trials per worker")
    parser.add_argument("--train-subset", type=int, default=20000)
    parser.add_argument("--storage", default=None,
                        help="an empty database's URL (default: a temporary PostgreSQL)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from pgtemp import temp_postgres

    with tempfile.TemporaryDirectory() as tmp:
        space = Path(tmp) / "space.toml"
        space.write_text(SPACE)
        load_before = os.getloadavg()
        if args.storage:
            urls = [args.storage] * 3
            result = measure(urls, space, args)
        else:
            with temp_postgres() as server:
                urls = [server.create_database(f"bench{i}") for i in range(3)]
                result = measure(urls, space, args)
                result["storage"] = f"temporary PostgreSQL ({server.bindir.parent.name})"
        result["load_average_before"] = [round(v, 2) for v in load_before]
        result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
        result["cpus"] = os.cpu_count()
    print(json.dumps(result, indent=2, allow_nan=False))


def measure(urls: list[str], space: Path, args: argparse.Namespace) -> dict:
    one, connections_one = run_workers(urls[0], "one", space, 1, args.trials,
                                       args.train_subset)
    two, connections_two = run_workers(urls[1], "two", space, 2, args.trials,
                                       args.train_subset)
    return {"most_connections": {"1 worker": connections_one, "2 workers": connections_two},
            "trials_per_worker": args.trials, "train_subset": args.train_subset,
            "space": "fast preset, 2 epochs, hidden 128..512, lr 0.05..0.4",
            "trials_per_hour": {"1 worker": round(one), "2 workers": round(two)},
            "speedup_2_workers": round(two / one, 3),
            "database_cost": database_cost(urls[2], space, args.trials, args.train_subset)}


if __name__ == "__main__":
    main()
