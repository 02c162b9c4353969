"""A throwaway PostgreSQL server for tests and benchmarks: initdb into a temporary
directory, listen on a free 127.0.0.1 port, stop and delete everything afterwards.

Uses Debian's `postgresql` binaries (/usr/lib/postgresql/<version>/bin). The server runs
as the `postgres` user when we are root (PostgreSQL refuses to run as root), with
`trust` authentication for local connections only, and fsync off (the data is disposable).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TempPostgres:
    """One temporary cluster. `url(db)` gives a SQLAlchemy URL; start/stop/restart it."""

    def __init__(self, bindir: Path, root: Path):
        self.bindir, self.root = bindir, root
        self.data = root / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        self.user = "postgres" if self._as_postgres else os.environ.get("USER", "postgres")

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout)

    def init(self) -> None:
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust",
                  "-E", "UTF8", "--no-locale", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.root}'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                       "max_connections = 100\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                  "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return self.url(name)

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{db}"


@contextlib.contextmanager
def temp_postgres() -> Iterator[TempPostgres]:
    """A running temporary server; raises FileNotFoundError when PostgreSQL is absent."""
    bindir = find_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL binaries not found (/usr/lib/postgresql/*/bin)")
    root = Path(tempfile.mkdtemp(prefix="digitnet-pg-"))
    os.chmod(root, 0o755)
    server = TempPostgres(bindir, root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop("immediate")
        time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
