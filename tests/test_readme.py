"""The README's promises: every command it shows runs as shown, on the sample pictures.

Each `bash` block's lines are run in order in a fresh directory holding a copy of
`examples/` (so `digitnet train --out model.npz` comes before the commands that use
model.npz), and each `python` block too. A line that is not a `digitnet` command must be
one of NOT_RUN, so a new kind of command cannot slip past unrun. Outputs are checked for
their form, not for particular digits: the bundled model's answers on the hard samples
may change as preprocessing improves. The results table's commands must parse, and its
`builtin` figure must be what `digitnet evaluate builtin` measures.
"""

import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitnet.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Lines of the README's bash blocks that this test does not run, and why.
NOT_RUN = {
    "pip install .": "installs: the suite runs on the installed package already",
    "python -m venv .venv && . .venv/bin/activate": "sets up a shell, not a command",
    "bash scripts/test": "is the suite itself",
    "mkdocs build --strict": "runs in tests/test_docs.py",
}

PREDICT_LINE = re.compile(r"^\S+: (\d \(([<>]?\d+\.\d%)\)(, \d \([<>]?\d+\.\d%\))*"
                          r"|not a digit \(score \d\.\d\d\))$")
READ_LINE = re.compile(r"^\S+: (\d+) \(([<>]?\d+%\??)(, [<>]?\d+%\??)*\)$")


def blocks(kind: str) -> list[str]:
    return re.findall(rf"^```{kind}\n(.*?)^```", README, flags=re.M | re.S)


def commands() -> list[str]:
    lines = []
    for block in blocks("bash"):
        for line in block.splitlines():
            command = line.split("  #")[0].split(" # ")[0].strip()
            if command and command not in NOT_RUN:
                lines.append(command)
    return lines


def test_readme_is_a_front_door():
    assert len(README.splitlines()) <= 250
    assert "src/digitnet/network.py" in "\n".join(README.splitlines()[:80])  # the math, early
    assert all(command.startswith("digitnet ") for command in commands()), commands()
    for line in NOT_RUN:  # nothing listed here that the README no longer shows
        assert any(line in block for block in blocks("bash")), line


def test_every_docs_link_in_the_readme_exists():
    for target in re.findall(r"\]\(((?:docs|src|examples)/[^)#]+|LICENSE)(?:#[^)]*)?\)", README):
        assert (ROOT / target).exists(), target


def test_the_commands_table_names_real_commands():
    parser = build_parser()
    names = set(parser._subparsers._group_actions[0].choices)
    table = re.findall(r"^\| `digitnet (\w+)", README, flags=re.M)
    assert set(table) == names  # every command once, none that does not exist


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A fresh directory holding a copy of examples/, as a new user's clone has."""
    work = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", work / "examples")
    return work


def run(command: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    args = shlex.split(command)
    assert args[0] == "digitnet"
    return subprocess.run([sys.executable, "-m", "digitnet", *args[1:]], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def check_output(command: str, result: subprocess.CompletedProcess, cwd: Path) -> None:
    """The form each command's answer must have."""
    args = shlex.split(command)
    out = result.stdout.strip().splitlines()
    if args[1] == "predict" and "--json" in args:
        records = json.loads(result.stdout)
        assert len(records) == len(list((cwd / "examples").glob("*.[pj][np]g")))
        for record in records:
            assert record["digit"] is None or 0 <= record["digit"] <= 9
            assert 0 < record["digit_score"] <= 1 and len(record["probabilities"]) == 10
    elif args[1] == "predict":
        assert out and all(PREDICT_LINE.match(line) for line in out), out
    elif args[1] == "read":
        assert len(out) == 1 and READ_LINE.match(out[0]), out
    elif args[1] == "train":
        assert re.search(r"^test accuracy \d+\.\d\d%", result.stdout, flags=re.M)
        if "--out" in args:
            model = args[args.index("--out") + 1]
            assert f"model saved to {model}" in result.stdout and (cwd / model).is_file()
        else:
            assert "the model was not kept: add --out FILE.npz to save it" in result.stdout
    elif args[1] == "evaluate":
        assert re.search(r"test accuracy \d+\.\d\d%", result.stdout)
    elif args[1] == "adapt":
        from digitnet import load_model

        model = load_model(cwd / args[args.index("--out") + 1])  # an ordinary model file
        assert model.metadata["adapted"]["base"]["name"] == args[2]
    else:
        raise AssertionError(f"no check for {command!r}: add one")


def serve(command: str, cwd: Path) -> None:
    """Start the server as shown (on a free port: 8000 may be taken where the tests run),
    load the page and the health check, stop it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [*shlex.split(command)[1:], "--port", str(port), "-q"]
    server = subprocess.Popen([sys.executable, "-m", "digitnet", *args], cwd=cwd,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert json.load(r) == {"status": "ok"}
                break
            except OSError:
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "digitnet serve did not start"
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            assert "<canvas" in page.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/model", timeout=5) as r:
            assert "builtin" in json.dumps(json.load(r)) or args[0] != "serve"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_every_command_in_the_readme_runs_as_shown(workdir):
    shown = commands()
    assert len(shown) >= 8
    for command in shown:
        if shlex.split(command)[1] == "serve":
            serve(command, workdir)
            continue
        result = run(command, workdir)
        assert result.returncode == 0, (command, result.stderr)
        assert "Traceback" not in result.stderr
        check_output(command, result, workdir)


@pytest.mark.slow
def test_the_python_in_the_readme_runs(workdir):
    for block in blocks("python"):
        result = subprocess.run([sys.executable, "-c", block], cwd=workdir,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip()  # it printed what it said it would


def test_the_results_table_names_commands_that_parse_and_builtin_is_measured(capsys):
    rows = re.findall(r"^\| `(\w+)`[^|]*\| `(digitnet [^`]+)` \| (\d+\.\d\d)% \|", README,
                      flags=re.M)
    assert [name for name, _, _ in rows] == ["seed", "fast", "best", "builtin"]
    parser = build_parser()
    for _, command, _ in rows:
        parser.parse_args(shlex.split(command)[1:])  # exits (SystemExit) if it does not parse
    from digitnet.cli import main

    builtin_command, figure = rows[-1][1], float(rows[-1][2])
    assert main([*shlex.split(builtin_command)[1:], "--json", "-"]) == 0
    measured = json.loads(capsys.readouterr().out)["test_accuracy"]
    assert f"{100 * measured:.2f}" == f"{figure:.2f}", "update the README's builtin row"


def test_the_sample_pictures_are_what_the_script_draws(tmp_path):
    """examples/ holds exactly what examples/make_samples.py draws (JPEG within rounding)."""
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "make_samples.py"),
                             str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    drawn = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(str(p.relative_to(ROOT / "examples"))
                       for p in (ROOT / "examples").rglob("*") if p.is_file()
                       and p.suffix != ".py" and "__pycache__" not in p.parts)
    assert drawn == committed and len(drawn) == 11
    for name in drawn:
        with Image.open(tmp_path / name) as new, Image.open(ROOT / "examples" / name) as old:
            a, b = np.asarray(new, np.int16), np.asarray(old, np.int16)
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= (3 if name.endswith(".jpg") else 0), name
