"""Plumbing for the hardening tests that kill or restart Dolt.

They never touch the shared server that `make test` started: `own_dolt` starts a private
`dolt sql-server` (the same binary, through scripts/dolt.sh) on a free port with its data in a
temporary directory, and the app under test runs in child processes (manage.py, gunicorn,
tests/hardening/_worker.py) whose DATABASE_URL points at it. Killing it means SIGKILL to the pid
scripts/dolt.sh recorded for that port: nothing else is ever signalled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import MySQLdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOLT_SH = ROOT / "scripts" / "dolt.sh"
APP_USER = os.environ.get("DOLT_APP_USER", "youlab")
APP_PASSWORD = os.environ.get("DOLT_APP_PASSWORD", "youlab-dev-password")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnDolt:
    """A private dolt sql-server for one test module."""

    def __init__(self):
        self.port = free_port()
        self.run_dir = Path(tempfile.mkdtemp(prefix="youlab-hardening-dolt-"))
        self.data_dir = self.run_dir / "dolt"
        self.pidfile = self.run_dir / f"dolt-{self.port}.pid"
        self.logfile = self.run_dir / f"dolt-{self.port}.log"

    # -- the server

    def _script(self, command: str) -> None:
        env = dict(os.environ, DOLT_PORT=str(self.port), DOLT_DATA_DIR=str(self.data_dir),
                   DOLT_DATABASE="hardening", DOLT_HOST="127.0.0.1")
        result = subprocess.run([str(DOLT_SH), command], env=env, capture_output=True, text=True,
                                timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"scripts/dolt.sh {command} failed: {result.stderr[-2000:]}")

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        self._script("stop")

    def pid(self) -> int:
        return int(self.pidfile.read_text().strip())

    def kill(self) -> None:
        """SIGKILL the server (by the pid scripts/dolt.sh recorded for this port) and wait."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.05)
        raise RuntimeError(f"dolt sql-server {pid} survived SIGKILL")

    def restart_after_kill(self) -> None:
        # The pidfile names a dead process (maybe a zombie not reaped yet, which `kill -0` still
        # finds): drop it so scripts/dolt.sh starts a new server on the same data.
        self.pidfile.unlink(missing_ok=True)
        self.start()

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- databases and clients

    def connect(self, database: str = "", autocommit: bool = True) -> MySQLdb.Connection:
        conn = MySQLdb.connect(host="127.0.0.1", port=self.port, user=APP_USER, password=APP_PASSWORD,
                               database=database, charset="utf8mb4", connect_timeout=10)
        conn.autocommit(autocommit)
        return conn

    def query(self, database: str, sql: str, params=None) -> list[tuple]:
        with contextlib.closing(self.connect(database)) as conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def database_url(self, database: str) -> str:
        return f"mysql://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def env(self, database: str, **extra) -> dict[str, str]:
        """Environment for a child process of the app pointed at `database` on this server."""
        env = dict(os.environ)
        for name in ("DJANGO_DEBUG", "DOLT_DATABASE", "DOLT_PORT"):
            env.pop(name, None)
        env.update(DATABASE_URL=self.database_url(database), DJANGO_SETTINGS_MODULE="youlab.settings_test",
                   PYTHONPATH=str(ROOT), **extra)
        return env

    def create_databases(self, *names: str) -> None:
        """Create and migrate fresh databases (migrations run in parallel child processes)."""
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cursor:
            for name in names:
                cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci")
        children = [
            subprocess.Popen([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                             env=self.env(name), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for name in names
        ]
        for child in children:
            out, _ = child.communicate(timeout=300)
            assert child.returncode == 0, out.decode(errors="replace")[-3000:]


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever reaps it counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


@pytest.fixture(scope="module")
def own_dolt():
    server = OwnDolt()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
