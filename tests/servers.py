"""Real servers for tests that need their own: Dolt (alone or as a cluster), Redis, gunicorn.

Each picks free ports and temporary directories, is started through the project's own scripts
(scripts/dolt.sh, scripts/cluster.sh, scripts/redis.sh) exactly as an operator would, and stops
only what it started (by the pids those scripts recorded). Never the shared server of `make test`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import MySQLdb
import pytest

ROOT = Path(__file__).resolve().parents[1]
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

    def script(self, command: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ, DOLT_PORT=str(self.port), DOLT_DATA_DIR=str(self.data_dir),
                   DOLT_DATABASE="hardening", DOLT_HOST="127.0.0.1")
        result = subprocess.run([str(DOLT_SH), command, *args], env=env, capture_output=True, text=True,
                                timeout=300)
        if check and result.returncode != 0:
            raise RuntimeError(f"scripts/dolt.sh {command} failed: {result.stderr[-2000:]}")
        return result

    def _script(self, command: str) -> None:
        self.script(command)

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


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --- a Dolt cluster ------------------------------------------------------------------------------


class OwnCluster:
    """A primary and standbys (Dolt direct-to-standby replication) started by scripts/cluster.sh."""

    database = "youlab"

    def __init__(self, nodes: int = 2):
        self.ports = [free_port() for _ in range(nodes)]
        self.remotesapi_ports = [free_port() for _ in range(nodes)]
        self.dir = Path(tempfile.mkdtemp(prefix="youlab-cluster-"))
        self.env_file = self.dir / "app.env"

    def script_env(self, **extra) -> dict[str, str]:
        env = dict(os.environ, CLUSTER_PORTS=" ".join(map(str, self.ports)), CLUSTER_DIR=str(self.dir),
                   CLUSTER_REMOTESAPI_PORTS=" ".join(map(str, self.remotesapi_ports)), DOLT_DATABASE=self.database,
                   DOLT_HOST="127.0.0.1", DOLT_CLUSTER_ACK_TIMEOUT="5")
        for name in ("DOLT_PORT", "DOLT_DATA_DIR", "DATABASE_URL", "DATABASE_REPLICA_URLS"):
            env.pop(name, None)
        env.update(extra)
        return env

    def cluster(self, command: str) -> str:
        result = subprocess.run([str(ROOT / "scripts" / "cluster.sh"), command], env=self.script_env(),
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"scripts/cluster.sh {command} failed: {result.stderr[-3000:]}")
        return result.stdout + result.stderr

    def start(self) -> None:
        self.cluster("start")

    def data_dir(self, port: int) -> Path:
        return self.dir / f"node-{port}" / "dolt"

    def pid(self, port: int) -> int:
        return int((self.dir / f"node-{port}" / f"dolt-{port}.pid").read_text().strip())

    def kill(self, port: int) -> None:
        pid = self.pid(port)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), timeout=30, what=f"dolt {pid} to die")

    def dolt(self, port: int, command: str, *args: str, **extra_env) -> subprocess.CompletedProcess:
        """scripts/dolt.sh COMMAND for one node (e.g. promote), as an operator runs it."""
        env = self.script_env(DOLT_PORT=str(port), DOLT_DATA_DIR=str(self.data_dir(port)), **extra_env)
        result = subprocess.run([str(DOLT_SH), command, *args], env=env, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"scripts/dolt.sh {command} failed: {result.stderr[-3000:]}")
        return result

    def app_env_values(self) -> dict[str, str]:
        values = {}
        for line in self.env_file.read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key] = value
        return values

    def connect(self, port: int, autocommit: bool = True) -> MySQLdb.Connection:
        conn = MySQLdb.connect(host="127.0.0.1", port=port, user=APP_USER, password=APP_PASSWORD,
                               database=self.database, charset="utf8mb4", connect_timeout=5)
        conn.autocommit(autocommit)
        return conn

    def query(self, port: int, sql: str, params=None) -> list[tuple]:
        with contextlib.closing(self.connect(port)) as conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def url(self, port: int) -> str:
        return f"mysql://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{port}/{self.database}"

    def migrate(self) -> None:
        env = app_env(DATABASE_URL=self.url(self.ports[0]))
        result = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.cluster("stop")
        for port in self.ports:  # a node killed and never restarted leaves only a pidfile
            with contextlib.suppress(Exception):
                pid = self.pid(port)
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


# --- Redis and the app ---------------------------------------------------------------------------


def redis_url() -> str:
    """The Redis that `make test` started (scripts/redis.sh, REDIS_PORT), like the shared Dolt."""
    result = subprocess.run([str(ROOT / "scripts" / "redis.sh"), "url"], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def app_env(**extra) -> dict[str, str]:
    """A child process of the app with the test settings (no inherited database or cache)."""
    env = dict(os.environ)
    for name in ("DJANGO_DEBUG", "DOLT_DATABASE", "DOLT_PORT", "DATABASE_URL", "DATABASE_REPLICA_URLS",
                 "CACHE_URL", "DJANGO_HTTPS"):
        env.pop(name, None)
    env.update({"DJANGO_SETTINGS_MODULE": "youlab.settings_test", "PYTHONPATH": str(ROOT), **extra})
    return env


PRODUCTION_SECRET = "prod-test-" + "k8Zq3vT1xR9mW2pL7nB4cY6hJ0sD5fG" * 2  # long and varied: check --deploy


def production_env(**extra) -> dict[str, str]:
    """A child process with the production settings (youlab.settings, DEBUG off), all required set."""
    env = app_env()
    for name in ("DJANGO_SECRET_KEY", "YOULAB_FERNET_KEYS", "ALLOWED_HOSTS", "DOLT_APP_PASSWORD"):
        env.pop(name, None)
    env.update(DJANGO_SETTINGS_MODULE="youlab.settings", DJANGO_SECRET_KEY=PRODUCTION_SECRET,
               ALLOWED_HOSTS="127.0.0.1,localhost", YOULAB_FERNET_KEYS="fSjDUcmM0qyJ2vY3kU4d2xQpXbt5kS8gkJd8QHqz3Zk=",
               **extra)
    return env


class AppServer:
    """gunicorn with youlab/gunicorn.conf.py (as `make serve` runs it) in a process group of its own."""

    def __init__(self, env: dict[str, str], *, command: list[str] | None = None, workers: int = 1,
                 threads: int = 2, wait: bool = True):
        self.port = free_port()
        self.log_path = Path(tempfile.mkstemp(prefix="youlab-app-", suffix=".log")[1])
        self.pidfile = Path(tempfile.mkdtemp(prefix="youlab-app-pid-")) / "gunicorn.pid"
        env = dict({"ALLOWED_HOSTS": "127.0.0.1,localhost"}, **env)  # gunicorn.conf.py refuses without
        env = dict(env, PORT=str(self.port), HOST="127.0.0.1", GUNICORN_WORKERS=str(workers),
                   GUNICORN_THREADS=str(threads), GUNICORN_PIDFILE=str(self.pidfile))
        command = command or [sys.executable, "-m", "gunicorn", "-c", "youlab/gunicorn.conf.py",
                              "youlab.wsgi:application"]
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        if wait:
            wait_for(self._answers, timeout=180, interval=0.2, what="the app server")

    def _answers(self):
        if self.child.poll() is not None:
            raise AssertionError(f"app server exited {self.child.returncode}: {self.log()[-3000:]}")
        with contextlib.suppress(OSError):
            return self.request("GET", "/healthz")[0] == 200
        return False

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, *, key: str | None = None, body=None, headers=None,
                timeout: float = 30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        all_headers = {"Authorization": f"Api-Key {key}"} if key else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        try:
            conn.request(method, path, body=data, headers=all_headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.child.pid, signal.SIGTERM)
            try:
                self.child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.child.pid, signal.SIGKILL)
                self.child.wait()
        self._log.close()
        shutil.rmtree(self.pidfile.parent, ignore_errors=True)


class Browser:
    """A staff member's browser against one server: cookies and the CSRF token."""

    def __init__(self, server):
        self.server, self.cookies = server, {}

    def request(self, method, path, form=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode({**form, "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")})
            headers.update({"Content-Type": "application/x-www-form-urlencoded",
                            "Referer": f"http://127.0.0.1:{self.server.port}{path}"})
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie = value.split(";", 1)[0]
                self.cookies[cookie.split("=", 1)[0]] = cookie.split("=", 1)[1]
        result = response.status, response.getheader("Location"), response.read().decode(errors="replace")
        conn.close()
        return result

    def login(self, username, password):
        self.request("GET", "/admin/login/")
        status, location, _ = self.request("POST", "/admin/login/?next=/admin/",
                                           {"username": username, "password": password, "next": "/admin/"})
        assert status == 302 and "sessionid" in self.cookies, (status, location)

    def api(self, method, path, body=None):
        """A JSON call with the session and the CSRF header (DRF's SessionAuthentication)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
                   "X-CSRFToken": self.cookies.get("csrftoken", ""), "Content-Type": "application/json",
                   "Referer": f"http://127.0.0.1:{self.server.port}/admin/"}
        try:
            conn.request(method, path, body=json.dumps(body or {}).encode(), headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()



@pytest.fixture(scope="module")
def own_dolt():
    """A private dolt sql-server for one test module (import this fixture into a conftest)."""
    server = OwnDolt()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
