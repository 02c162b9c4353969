"""Issue 34's files and terminals: what digitnet writes respects the umask and never
replaces a file that is not its own, a report is written as a unit, SIGTERM is handled as
Ctrl-C is, printed names cannot forge lines or drive the terminal, standard output on a
full disk is one error line, and a sweep never creates tables in another program's
database."""

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image
from test_cli import assert_one_line_error, run
from test_data import write_dataset
from test_limits import cli

from digitnet import files
from digitnet.errors import OutputError
from digitnet.files import atomic_write, staged_directory
from digitnet.terminal import Terminated, shown, sigterm_as_interrupt

# --- modes: the umask, and a replaced file's own ------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_mode_the_umask_gives(model_file, tmp_path, umask, mode):
    """Every output was 0600 whatever the umask (tempfile.mkstemp's mode)."""
    out = tmp_path / "m.onnx"
    result = subprocess.run([sys.executable, "-m", "digitnet", "export", str(model_file),
                             "--onnx", str(out)], capture_output=True, text=True, umask=umask)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o640


# --- a report is written as a unit -----------------------------------------------------------

def test_a_report_that_fails_midway_leaves_the_old_one_whole(trained_model, mnist, tmp_path,
                                                             monkeypatch):
    """A full disk or Ctrl-C partway through left new plots beside old pages. (The plots
    are stand-ins here: what is tested is how the files reach the directory.)"""
    from digitnet import report
    from digitnet.evaluation import evaluate_model

    images, labels = mnist.x_test[:200], mnist.y_test[:200]
    evaluation = evaluate_model(trained_model, images, labels)
    run = [0]
    for name in ("plot_learning_curves", "plot_confusion", "plot_mistakes",
                 "plot_hidden_units", "plot_confidence"):
        monkeypatch.setattr(report, name, lambda *args, name=name, **kwargs: atomic_write(
            next(a for a in args if isinstance(a, files.Path)),
            lambda f: f.write(f"{name} of run {run[0]}".encode())))
    out = tmp_path / "report"
    report.write_report(trained_model, evaluation, images, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == set(report.REPORT_FILES)

    def full_disk(*args, **kwargs):
        raise OutputError(f"{out / 'confidence.png'}: cannot write (No space left on device)")

    run[0] = 1
    monkeypatch.setattr(report, "plot_confidence", full_disk)  # after four plots are written
    with pytest.raises(OutputError, match="No space left"):
        report.write_report(trained_model, evaluation, images, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no staging left either

    monkeypatch.setattr(report, "plot_confidence", lambda *a, **k: os.kill(os.getpid(),
                                                                            signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        report.write_report(trained_model, evaluation, images, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_staged_files_are_published_together(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    with staged_directory(tmp_path) as stage:
        (stage / "a.txt").write_text("new a")
        (stage / "b.txt").write_text("new b")
        assert not (tmp_path / "b.txt").exists()  # nothing moves before the end
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]
    assert (tmp_path / "a.txt").read_text() == "new a"
    (tmp_path / "c.txt").mkdir()  # a name taken by a directory: refused before anything moves
    with pytest.raises(OutputError, match=r"c\.txt: exists and is not a regular file"), \
            staged_directory(tmp_path) as stage:
        (stage / "a.txt").write_text("newer a")
        (stage / "c.txt").write_text("c")
    assert (tmp_path / "a.txt").read_text() == "new a"


# --- SIGTERM as Ctrl-C -----------------------------------------------------------------------

def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path):
    """`read --show-input` killed with SIGTERM left .NAME.digitnet-tmp-* files behind."""
    def write(f):
        f.write(b"half")
        os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Terminated), sigterm_as_interrupt():
        atomic_write(tmp_path / "seen.png", write)
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back


def test_sigterm_in_training_saves_a_checkpoint_as_ctrl_c_does(tmp_path):
    write_dataset(tmp_path, n_train=2000, n_test=100)
    ckpt = tmp_path / "run.checkpoint.npz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "digitnet", "train", "--data-dir", str(tmp_path), "--val-split",
         "100", "--hidden", "256", "--batch-size", "16", "--epochs", "200", "--checkpoint",
         str(ckpt)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:
        if line.startswith("epoch"):
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "Traceback" not in err  # today: killed, no checkpoint
    assert f"checkpoint saved to {ckpt}" in err and err.strip().endswith("digitnet: terminated")
    assert ckpt.is_file()


def test_sigterm_in_a_sweep_closes_the_trial(tmp_path):
    """The killed worker's trial stayed RUNNING until another worker's grace period."""
    optuna = pytest.importorskip("optuna")
    space = tmp_path / "space.toml"
    space.write_text("[fixed]\nepochs = 200\nval_split = 100\nbatch_size = 16\n"
                     "[params.hidden]\nlow = 200\nhigh = 256\n")
    url = f"sqlite:///{tmp_path / 's.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "digitnet", "sweep", "--study", "s", "--space", str(space),
         "--storage", url, "--trials", "1", "--train-subset", "2000", "--pruner", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    proc.stdout.readline()  # "study 's' in ...": trials start now
    for _ in range(300):  # read with sqlite3, never opening (so never creating) the schema
        try:
            with sqlite3.connect(f"file:{tmp_path / 's.db'}?mode=ro", uri=True) as db:
                states = [row[0] for row in db.execute("SELECT state FROM trials")]
        except sqlite3.Error:  # not created yet
            states = []
        if states == ["RUNNING"]:
            break
        proc.poll()
        assert proc.returncode is None
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "Traceback" not in err, err
    states = [t.state.name for t in optuna.load_study(study_name="s", storage=url).get_trials()]
    assert states == ["FAIL"]


# --- --show-input replaces only digitnet's own pictures -----------------------------------

def test_show_input_never_replaces_a_file_digitnet_did_not_write(model_file, tmp_path, mnist):
    pictures, shown_dir = tmp_path / "in", tmp_path / "seen"
    pictures.mkdir()
    shown_dir.mkdir()
    Image.fromarray(255 - mnist.x_test[0]).save(pictures / "seven.png")
    mine = shown_dir / "seven.png"
    Image.new("RGB", (5, 5), (1, 2, 3)).save(mine)  # the user's own picture of that name
    before = mine.read_bytes()
    for _ in range(2):  # the second run replaces its own seven-2.png, and only that
        result = run("predict", str(model_file), str(pictures / "seven.png"), "--show-input",
                     str(shown_dir), "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)[0]["input_image"] == str(shown_dir / "seven-2.png")
    assert mine.read_bytes() == before
    assert sorted(p.name for p in shown_dir.iterdir()) == ["seven-2.png", "seven.png"]
    seen = np.asarray(Image.open(shown_dir / "seven-2.png"))
    assert seen.shape == (28, 28)


# --- names printed safely -------------------------------------------------------------------

def test_control_characters_in_file_names_are_escaped(model_file, tmp_path, mnist):
    """A name holding a newline forged a result line; escape sequences reached the terminal."""
    forged = tmp_path / "a.png\nb.png: 7 (100.0%)"
    red = tmp_path / "\x1b[31mred.png"
    for path in (forged, red):
        Image.fromarray(255 - mnist.x_test[0]).save(path, format="PNG")
    missing = tmp_path / "gone\n.png"
    result = run("predict", str(model_file), str(forged), str(red), str(missing))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and "\x1b" not in result.stdout + result.stderr
    assert lines[0].startswith(str(tmp_path) + "/a.png\\nb.png: 7 (100.0%): ")
    assert lines[1].startswith(str(tmp_path) + "/\\x1b[31mred.png: ")
    assert result.stderr.splitlines() == [f"digitnet: error: {tmp_path}/gone\\n.png: file not "
                                          "found"]


def test_shown_escapes_every_control_character():
    assert shown("a\tb\rc\x00d\x7fe\x9bf\u2028g") == "a\\tb\\rc\\x00d\\x7fe\\x9bf\\u2028g"
    assert shown("plain ünïcode.png") == "plain ünïcode.png"


# --- standard output on a full disk ---------------------------------------------------------

@pytest.mark.parametrize("args", [["--version"], ["evaluate", "MODEL"],
                                  ["evaluate", "MODEL", "--json", "-"]])
def test_stdout_on_a_full_disk_is_one_error_line(model_file, args):
    args = [str(model_file) if a == "MODEL" else a for a in args]
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "digitnet", *args], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=120)
    assert_one_line_error(result, "digitnet: error: cannot write to standard output (No space "
                                  "left on device)")
    assert result.returncode == 1


# --- sweeps read other programs' databases, never write them -------------------------------

def test_sweep_show_creates_no_tables_in_another_programs_database(tmp_path, capsys):
    pytest.importorskip("optuna")
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
    before = db.read_bytes()
    for action in (["show"], ["best", "--out", tmp_path / "b.toml"],
                   ["report", "--out", tmp_path / "r"]):
        result = cli("sweep", *action, "--study", "s", "--storage", f"sqlite:///{db}",
                     capsys=capsys)
        assert_one_line_error(result, "holds other tables (customers), not a sweep's")
    space = tmp_path / "space.toml"
    space.write_text("[fixed]\nepochs = 1\nval_split = 100\n[params.hidden]\nlow = 8\nhigh = 9\n")
    result = cli("sweep", "--study", "s", "--space", space, "--storage", f"sqlite:///{db}",
                 "--train-subset", "500", "--trials", "1", capsys=capsys)
    assert_one_line_error(result, "digitnet creates none there")
    assert db.read_bytes() == before


def test_sweep_show_on_an_empty_database_says_so_and_leaves_it_empty(tmp_path, capsys):
    pytest.importorskip("optuna")
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()
    result = cli("sweep", "show", "--study", "s", "--storage", f"sqlite:///{db}", capsys=capsys)
    assert_one_line_error(result, "no sweep in", "the database holds no studies")
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_output_mode_reads_the_umask_without_changing_it():
    old = os.umask(0o027)
    try:
        assert files.output_mode(files.Path("/nonexistent/x")) == 0o640
        assert os.umask(0o027) == 0o027
    finally:
        os.umask(old)
