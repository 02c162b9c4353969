"""`digitnet sweep` on Optuna: the space file, config files, and real faults against a
real PostgreSQL server the tests start (two workers, kill -9, a database going away,
workers racing to create the schema, bad storage URLs).

Trials are tiny (hidden 16-32, 2-8 epochs on the first 3,000 training images) so each
takes well under a second.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pgtemp import find_bindir, temp_postgres

optuna = pytest.importorskip("optuna")

from digitnet import sweep  # noqa: E402
from digitnet.config import Config, read_config_file, to_toml  # noqa: E402
from digitnet.errors import ConfigError, SweepError  # noqa: E402

SUBSET = "3000"  # training images per trial in the CLI tests
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
       "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TINY = """
[fixed]
hidden = 16
epochs = {epochs}
val_split = 500
[params.lr]
low = 0.02
high = 0.5
log = true
[params.batch_size]
choices = [64, 128]
"""


def write_space(tmp_path, epochs=2, name="space.toml"):
    path = tmp_path / name
    path.write_text(TINY.format(epochs=epochs))
    return path


def digitnet(*args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "digitnet", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=ENV)


def main_in_process(*args, capsys, monkeypatch, cwd=None):
    """digitnet.cli.main(args) in this process (no interpreter start-up to pay for), as a
    CompletedProcess; for error paths that need no separate process."""
    from digitnet.cli import main

    if cwd is not None:
        monkeypatch.chdir(cwd)
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse usage errors
        code = e.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


def start(*args, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "digitnet", *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def worker_args(url, study, space, trials, *extra):
    return ("sweep", "--study", study, "--space", space, "--storage", url, "--trials", trials,
            "--train-subset", SUBSET, "--heartbeat-interval", 1, "--grace-period", 2, *extra)


def assert_one_line_error(result, *fragments):
    stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.read()
    assert result.returncode not in (0, None)
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("digitnet: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


_STORAGES = {}  # url -> RDBStorage, so polling does not rebuild one each time


def trials_of(url, study):
    """The study's trials in number order ([] while the study does not exist yet)."""
    if url not in _STORAGES:
        _STORAGES[url] = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    try:
        return sorted(optuna.load_study(study_name=study, storage=_STORAGES[url]).get_trials(),
                      key=lambda t: t.number)
    except KeyError:  # no such study yet
        return []


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# ----------------------------------------------------------------------------- the space

def test_space_file_gives_typed_ranges_and_choices(tmp_path):
    space = sweep.load_space(write_space(tmp_path))
    assert space.fixed == {"hidden": 16, "epochs": 2, "val_split": 500}
    assert space.params["lr"] == sweep.Param("lr", 0.02, 0.5, log=True)
    assert space.params["batch_size"].choices == (64, 128)
    trial = optuna.trial.FixedTrial({"lr": 0.1, "batch_size": 64})
    config = space.config({p.name: p.suggest(trial) for p in space.params.values()})
    assert (config.hidden, config.epochs, config.lr, config.batch_size) == (16, 2, 0.1, 64)
    assert config.optimizer == "nesterov"  # the rest from the fast preset


def test_space_int_range_with_step_suggests_on_the_grid():
    space = sweep.parse_space({"params": {"hidden": {"low": 32, "high": 96, "step": 32}}})
    assert space.params["hidden"].grid() == [32, 64, 96]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        seen.add(space.params["hidden"].suggest(trial))
        study.tell(trial, 0.0)
    assert seen <= {32, 64, 96} and len(seen) > 1


@pytest.mark.parametrize(("data", "message"), [
    ({"fixed": {"hiden": 10}, "params": {"lr": {"low": 0.1, "high": 1}}}, "'hiden'"),
    ({"params": {"learning_rate": {"low": 0.1, "high": 1}}}, "'learning_rate'"),
    ({"params": {"lr": {"low": 0.5, "high": 0.1}}}, "low < high"),
    ({"params": {"lr": {"low": 0.0, "high": 0.1, "log": True}}}, "low > 0"),
    ({"params": {"lr": {"low": 0.01, "high": 0.1, "log": True, "step": 0.01}}}, "log or step"),
    ({"params": {"lr": {"low": 0.01, "high": 0.1, "by": 2}}}, "'by'"),
    ({"params": {"lr": {"low": 0.01}}}, "both low and high"),
    ({"params": {"hidden": {"low": 10.5, "high": 20}}}, "hidden must be an int"),
    ({"params": {"hidden": {"low": 0, "high": 20}}}, "hidden must be > 0"),
    ({"params": {"dropout": {"low": 0.0, "high": 1.5}}}, "dropout must be in [0, 1)"),
    ({"params": {"optimizer": {"choices": ["adam", "rmsprop"]}}}, "'rmsprop'"),
    ({"params": {"optimizer": {"low": 1, "high": 2}}}, "give choices"),
    ({"params": {"biases": {"choices": []}}}, "non-empty list"),
    ({"fixed": {"lr": 0.1}, "params": {"lr": {"low": 0.01, "high": 0.2}}}, "also in [fixed]"),
    ({"fixed": {"epochs": "six"}, "params": {"lr": {"low": 0.01, "high": 0.2}}},
     "epochs must be an int"),
    ({"fixed": {"val_split": 0}, "params": {"lr": {"low": 0.01, "high": 0.2}}},
     "val_split must be > 0"),
    ({"fixed": {"preset": "fastest"}, "params": {"lr": {"low": 0.01, "high": 0.2}}},
     "'fastest'"),
    ({"fixed": {}}, "nothing to search"),
    ({"param": {"lr": {"low": 0.01, "high": 0.2}}}, "unknown section 'param'"),
])
def test_bad_space_is_one_clear_error(data, message):
    with pytest.raises(ConfigError) as info:
        sweep.parse_space(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_space_file_errors_name_the_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[params.lr]\nlow = 0.1\nhigh = \n")
    with pytest.raises(ConfigError, match=r"s\.toml: not valid TOML"):
        sweep.load_space(path)
    with pytest.raises(ConfigError, match="cannot read"):
        sweep.load_space(tmp_path / "missing.toml")


# ----------------------------------------------------------------------------- config files

def test_config_file_round_trips_every_field(tmp_path):
    config = Config(preset="noaug", hidden=77, lr=0.0123, optimizer="adam", shuffle=False,
                    weight_decay=1e-05)
    path = tmp_path / "c.toml"
    path.write_text(to_toml(config.to_dict(), comment="a comment\nover two lines"))
    assert path.read_text().startswith("# a comment\n# over two lines\n")
    assert Config(**read_config_file(path)) == config
    json_path = tmp_path / "c.json"
    json_path.write_text(json.dumps({"hidden": 64, "lr": 1}))
    assert read_config_file(json_path) == {"hidden": 64, "lr": 1.0}


@pytest.mark.parametrize(("text", "message"), [
    ("hiden = 5\n", "unknown config field 'hiden'"),
    ("hidden = true\n", "hidden must be an int, got True"),
    ("lr = \"fast\"\n", "lr must be a float"),
    ("hidden = 0\n", "hidden must be > 0, got 0"),
    ("optimizer = \"rmsprop\"\n", "optimizer must be one of"),
    ("preset = \"fastest\"\n", "unknown preset 'fastest'"),
    ("[fixed]\nhidden = 5\n", "unknown config field 'fixed'"),
    ("hidden = \n", "not valid TOML"),
])
def test_bad_config_file_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_config_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_config_file_needs_a_known_suffix(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("hidden: 5\n")
    with pytest.raises(ConfigError, match=r"\.toml or \.json"):
        read_config_file(path)


# ----------------------------------------------------------------------------- in process

def test_run_joins_the_study_and_pins_its_space(tmp_path, mnist):
    space = sweep.load_space(write_space(tmp_path))
    url = f"sqlite:///{tmp_path / 's.db'}"
    x, y = mnist.x_train[:3000], mnist.y_train[:3000]
    lines = []
    first = sweep.run("s", space, x, y, storage=url, trials=2, seed=0, data_note={"n": 3000},
                      on_trial=lambda r, b: lines.append(sweep.format_record(r, b))).trials
    second = sweep.run("s", space, x, y, storage=url, trials=2, seed=1, data_note={"n": 3000})
    assert second.best["value"] == max(r["value"] for r in first + second.trials)
    second = second.trials
    assert [r["number"] for r in first + second] == [0, 1, 2, 3]
    assert len(lines) == 2 and lines[0].startswith("trial    0  COMPLETE  val ")
    for record in first:
        assert record["state"] == "COMPLETE" and 0.5 < record["value"] <= 1
        assert set(record["params"]) == {"lr", "batch_size"} and record["seconds"] > 0
    with pytest.raises(SweepError, match="different training data"):
        sweep.run("s", space, x, y, storage=url, trials=1, data_note={"n": 6000})
    other = sweep.parse_space({"params": {"hidden": {"low": 16, "high": 32}}})
    with pytest.raises(SweepError, match="different search space"):
        sweep.run("s", other, x, y, storage=url, trials=1, data_note={"n": 3000})

    study = sweep.load_study("s", url)
    assert all(t.user_attrs["threads"] == 1 for t in study.trials)  # one BLAS thread each
    config, best = sweep.best_config(study)
    top = max((r for r in first + second if r["state"] == "COMPLETE"), key=lambda r: r["value"])
    assert best == {**top, "seconds": best["seconds"]}
    assert (config.lr, config.batch_size, config.hidden) == (
        top["params"]["lr"], top["params"]["batch_size"], 16)
    with pytest.raises(SweepError, match=r"no study 'nope'.*studies there: s"):
        sweep.load_study("nope", url)


def test_pruned_trial_stops_early_and_diverged_trial_fails(tmp_path, mnist):
    # lr 1e30 diverges; the median pruner stops a trial far below the others after epoch 2.
    space = sweep.parse_space({"fixed": {"hidden": 16, "epochs": 4, "val_split": 500},
                               "params": {"lr": {"choices": [0.2, 1e30, 1e-5]}}})
    url = f"sqlite:///{tmp_path / 's.db'}"
    x, y = mnist.x_train[:3000], mnist.y_train[:3000]
    study = optuna.create_study(study_name="p", storage=url, direction="maximize")
    for lr in [0.2] * 5 + [1e30, 1e-5]:
        study.enqueue_trial({"lr": lr})
    records = sweep.run("p", space, x, y, storage=url, trials=7).trials
    states = [r["state"] for r in records]
    assert states == ["COMPLETE"] * 5 + ["FAIL", "PRUNED"]
    pruned = sweep.load_study("p", url).trials[6]
    assert sorted(pruned.intermediate_values) == [1, 2]  # stopped after epoch 2 of 4


def test_grid_sampler_runs_every_combination_once_then_stops(tmp_path, mnist):
    space = sweep.parse_space({"fixed": {"epochs": 1, "val_split": 500},
                               "params": {"hidden": {"low": 16, "high": 32, "step": 16},
                                          "batch_size": {"choices": [64, 128]}}})
    records = sweep.run("g", space, mnist.x_train[:2000], mnist.y_train[:2000],
                        storage=f"sqlite:///{tmp_path / 'g.db'}", trials=10,
                        sampler="grid").trials
    combos = sorted((r["params"]["hidden"], r["params"]["batch_size"]) for r in records)
    assert combos == [(16, 64), (16, 128), (32, 64), (32, 128)]
    lr_space = sweep.parse_space({"params": {"lr": {"low": 0.1, "high": 0.2}}})
    with pytest.raises(ConfigError, match="grid sampler needs choices or a step"):
        sweep.make_sampler("grid", lr_space, seed=None)


def test_report_writes_plots_and_index(tmp_path, mnist):
    pytest.importorskip("matplotlib")
    space = sweep.load_space(write_space(tmp_path))
    url = f"sqlite:///{tmp_path / 's.db'}"
    sweep.run("r", space, mnist.x_train[:3000], mnist.y_train[:3000], storage=url, trials=3,
              seed=0)
    from digitnet.sweep_report import write_report

    written = write_report(sweep.load_study("r", url), tmp_path / "report")
    assert set(written) == {"history.png", "importance.png", "slice-batch_size.png",
                            "slice-lr.png", "index.html"}
    for name, path in written.items():
        assert path.stat().st_size > (1000 if name.endswith(".png") else 200)
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    index = written["index.html"].read_text()
    assert all(f'src="{name}"' in index for name in written if name.endswith(".png"))
    assert index.count("<tr>") == 4  # header + 3 trials


# ----------------------------------------------------------------------------- PostgreSQL

@pytest.fixture(scope="session")
def postgres():
    if find_bindir() is None:
        pytest.skip("PostgreSQL is not installed (Debian package postgresql; scripts/test "
                    "installs it)")
    with temp_postgres() as server:
        yield server


@pytest.fixture
def database(postgres, request):
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:50]
    return postgres.create_database(name)


OPEN_STORAGE = """
import sys, time
import optuna, sqlalchemy, psycopg
from digitnet import sweep
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
storage = sweep.open_storage(sys.argv[1])
optuna.create_study(study_name="race", storage=storage, load_if_exists=True)
print("ok")
"""


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_workers_starting_together_on_an_empty_database_do_not_race(backend, request,
                                                                    tmp_path):
    # Without the advisory lock around schema creation, one of two workers dies on a
    # duplicate CREATE TYPE studydirection (2 of 5 such pairs did, with Optuna 5.0); on
    # SQLite, without trying again, one of each pair died on "table ... already exists" or
    # a duplicate alembic_version row (3 of 3 pairs).
    if backend == "postgresql":
        server = request.getfixturevalue("postgres")
        urls = [server.create_database(f"race{attempt}") for attempt in range(2)]
    else:
        urls = [f"sqlite:///{tmp_path / 'race.db'}"]
    # Empty databases, two workers on each, all released at the same moment.
    at = time.time() + 2.5  # every process has imported everything and waits by then
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_STORAGE, url, str(at)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
             for url in urls for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out.strip() == "ok", err
    for url in urls:
        assert len(optuna.get_all_study_summaries(url)) == 1


def test_two_workers_share_one_study_without_duplicates(tmp_path, database):
    space = write_space(tmp_path)
    workers = [start(*worker_args(database, "two", space, 4, "--seed", seed))
               for seed in (1, 2)]
    for proc in workers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert len([line for line in out.splitlines() if line.startswith("trial ")]) == 4
    trials = trials_of(database, "two")
    assert [t.number for t in trials] == list(range(8))
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)


def test_killed_worker_trial_is_failed_by_heartbeat_and_retried(tmp_path, database):
    space = write_space(tmp_path, epochs=12)  # long enough to be caught mid-trial
    victim = start(*worker_args(database, "kill", space, 1))

    def training():  # the victim's trial is running and has reported an epoch
        running = [t for t in trials_of(database, "kill") if t.state.name == "RUNNING"]
        return bool(running and running[0].intermediate_values)

    wait_for(training, 60, "the first trial to report an epoch")
    victim.send_signal(signal.SIGKILL)
    out, err = victim.communicate(timeout=10)
    assert victim.returncode == -signal.SIGKILL, (out, err)
    time.sleep(3)  # > grace period (2 s) since the last heartbeat

    result = digitnet(*worker_args(database, "kill", space, 2))
    assert result.returncode == 0, result.stderr
    trials = trials_of(database, "kill")
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    retried = trials[1]
    assert retried.params == trials[0].params
    assert retried.system_attrs["failed_trial"] == 0  # RetryHeartbeatStaleTrialCallback's mark


def test_database_going_away_is_one_error_line_and_the_trial_is_retried(
        tmp_path, postgres, database):
    space = write_space(tmp_path, epochs=8)
    proc = start(*worker_args(database, "restart", space, 100))
    # Stop the database in the middle of training, once the trial has a heartbeat on
    # record: Optuna never fails a RUNNING trial that has none (a worker that dies between
    # creating a trial and its first heartbeat leaves it RUNNING for good).
    wait_for(lambda: any(t.state.name == "RUNNING" and t.intermediate_values
                         for t in trials_of(database, "restart")),
             60, "a trial in the middle of training")
    postgres.stop("fast")
    try:
        proc.wait(timeout=30)  # never a hang
    finally:
        proc.kill()
        postgres.start()
    assert_one_line_error(proc, "lost the study storage", "@127.0.0.1:")
    before = trials_of(database, "restart")
    assert before[-1].state.name == "RUNNING"  # orphaned: its worker died with the database
    time.sleep(2.5)  # > grace period

    result = digitnet(*worker_args(database, "restart", space, 1))
    assert result.returncode == 0, result.stderr
    after = trials_of(database, "restart")
    assert after[len(before) - 1].state.name == "FAIL"
    assert after[-1].state.name == "COMPLETE"
    assert after[-1].params == before[-1].params


@pytest.mark.parametrize(("url", "message"), [
    ("postgresql://nobody@127.0.0.1:{closed}/nodb", "cannot open the study storage"),
    ("postgresql://nobody@127.0.0.1:{port}/nodb", 'role "nobody" does not exist'),
    ("notadatabase://x/y", "cannot open the study storage notadatabase://x/y"),
])
def test_bad_storage_url_is_one_error_line(postgres, url, message, capsys, monkeypatch):
    from pgtemp import free_port

    url = url.format(closed=free_port(), port=postgres.port)
    began = time.monotonic()
    result = main_in_process("sweep", "show", "--study", "s", "--storage", url,
                             capsys=capsys, monkeypatch=monkeypatch)
    assert_one_line_error(result, message)
    assert time.monotonic() - began < 30


# ----------------------------------------------------------------------------- the CLI

def test_cli_default_sqlite_show_best_report_then_train_with_config(tmp_path):
    space = write_space(tmp_path)
    result = digitnet("sweep", "--study", "cli", "--space", space, "--trials", 2,
                      "--train-subset", SUBSET, "--sampler", "random", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "digitnet-sweeps.db").is_file()
    ran = json.loads(result.stdout)
    assert [t["number"] for t in ran["trials"]] == [0, 1]
    assert ran["best"]["value"] == max(t["value"] for t in ran["trials"])
    assert len([ln for ln in result.stderr.splitlines() if ln.startswith("trial ")]) == 2

    shown = digitnet("sweep", "show", "--study", "cli", "--json", cwd=tmp_path)
    trials = json.loads(shown.stdout)["trials"]
    assert trials == ran["trials"]
    assert set(trials[0]) == {"number", "state", "value", "params", "seconds"}

    out = tmp_path / "best.toml"
    result = digitnet("sweep", "best", "--study", "cli", "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    values = read_config_file(out)
    assert values["lr"] == ran["best"]["params"]["lr"] and values["hidden"] == 16

    report = digitnet("sweep", "report", "--study", "cli", "--out", tmp_path / "rep",
                      cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "rep" / "index.html").is_file()
    assert (tmp_path / "rep" / "slice-lr.png").is_file()

    metrics = tmp_path / "m.json"
    result = digitnet("train", "--config", out, "--epochs", 1, "--val-split", 100,
                      *tiny_data(tmp_path), "--metrics-json", metrics, "-q")
    assert result.returncode == 0, result.stderr
    used = json.loads(metrics.read_text())["config"]
    assert used == {**values, "epochs": 1, "val_split": 100}  # the file, the flags on top


def tiny_data(tmp_path):
    """--data-dir with 600 random training and 100 test images, for quick train runs."""
    from test_data import write_dataset

    directory = tmp_path / "data"
    directory.mkdir()
    write_dataset(directory, n_train=600, n_test=100)
    return ("--data-dir", directory)


@pytest.mark.parametrize(("args", "message"), [
    (("sweep", "--study", "x", "--space", "missing.toml"), "missing.toml: cannot read"),
    (("sweep", "show", "--study", "x"), "digitnet-sweeps.db does not exist"),
    (("sweep", "report", "--study", "x", "--storage", "sqlite:///e.db", "--out", "r"),
     "e.db does not exist"),
    (("sweep", "best", "--study", "x", "--out", "nodir/b.toml"), "nodir"),
    (("train", "--config", "missing.toml"), "missing.toml: cannot read"),
    (("train", "--config", "space.toml", "--out", "space.toml"), "is the --config file"),
])
def test_cli_errors_are_one_line(tmp_path, args, message, capsys, monkeypatch):
    write_space(tmp_path)
    result = main_in_process(*args, cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert_one_line_error(result, message)
    assert not list(tmp_path.glob("*.db"))  # nothing created on the way


@pytest.mark.parametrize(("args", "message"), [
    (("sweep", "--space", "space.toml"), "--study is required"),
    (("sweep", "--study", "x"), "--space is required"),
    (("sweep", "--study", "x", "--space", "space.toml", "--trials", "0"), "positive integer"),
])
def test_cli_sweep_usage_errors(tmp_path, args, message, capsys, monkeypatch):
    write_space(tmp_path)
    result = main_in_process(*args, cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("usage: digitnet")
    assert message in result.stderr.strip().splitlines()[-1]


def test_cli_config_precedence_flags_over_file_over_preset(tmp_path, capsys, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text('preset = "noaug"\nhidden = 24\nepochs = 3\n')
    metrics = tmp_path / "m.json"
    data = tiny_data(tmp_path)
    result = main_in_process("train", "--config", path, "--epochs", 1, "--val-split", 100,
                             *data, "--metrics-json", metrics, "-q", capsys=capsys,
                             monkeypatch=monkeypatch)
    assert result.returncode == 0, result.stderr
    used = json.loads(metrics.read_text())["config"]
    noaug = Config(preset="noaug", hidden=2048, dropout=0.3, lr=0.1, epochs=30)
    assert (used["preset"], used["hidden"], used["epochs"]) == ("noaug", 24, 1)
    assert (used["dropout"], used["lr"]) == (noaug.dropout, noaug.lr)  # from the preset
    explicit = main_in_process("train", "--config", path, "--preset", "fast", "--epochs", 1,
                               "--val-split", 100, *data, "--metrics-json", metrics, "-q",
                               capsys=capsys, monkeypatch=monkeypatch)
    assert explicit.returncode == 0, explicit.stderr
    used = json.loads(metrics.read_text())["config"]
    assert (used["preset"], used["hidden"], used["dropout"]) == ("fast", 24, 0.0)



def test_the_documented_fast_search_space_holds_the_fast_preset():
    space = sweep.load_space(Path(__file__).parent.parent / "docs" / "fast-search.toml")
    fast = Config()
    for name, param in space.params.items():
        value = getattr(fast, name)
        if param.choices is not None:
            assert value in param.choices, name
        else:
            assert param.low <= value <= param.high, name
