"""Fixtures for the Letta reader tests: the fixture data, a real PostgreSQL with the 0.16.8 dump
loaded, and a local server replaying the recorded Letta REST responses.

None of these needs the Dolt database. PostgreSQL is started through scripts/postgres.sh; if it
cannot be started the tests that need it fail (they are never skipped).
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "letta"
PG_FIXTURES = FIXTURES / "v0.16.8-postgres"
POSTGRES_SCRIPT = ROOT / "scripts" / "postgres.sh"


@pytest.fixture(scope="session")
def letta_fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def manifest_0117() -> dict:
    return json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def manifest_0168() -> dict:
    return json.loads((PG_FIXTURES / "manifest.json").read_text(encoding="utf-8"))


# --- PostgreSQL ------------------------------------------------------------------------------


def _script(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(POSTGRES_SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """URL of the throwaway server (maintenance database). Stopped at the end if we started it."""
    was_running = _script("status").returncode == 0
    started = _script("start")
    if started.returncode != 0:
        pytest.fail("PostgreSQL (scripts/postgres.sh start) could not be started:\n"
                    f"{started.stdout}\n{started.stderr}", pytrace=False)
    url = _script("url").stdout.strip()
    yield url
    if not was_running:
        _script("stop")


def _database_url(server_url: str, dbname: str) -> str:
    return server_url.rsplit("/", 1)[0] + "/" + dbname


@pytest.fixture(scope="session")
def postgres_database(postgres_server):
    """A factory for fresh, uniquely named databases, all dropped at the end of the session."""
    import psycopg

    created: list[str] = []

    def create(prefix: str) -> tuple[str, str]:
        # Unique per session: other test runs may share the server.
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return name, _database_url(postgres_server, name)

    yield create
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def letta_postgres_url(postgres_database) -> str:
    """A fresh database holding the Letta 0.16.8 dump (loaded with psql, ON_ERROR_STOP)."""
    name, url = postgres_database("letta_0168")
    loaded = _script("psql", "-d", name, "-q", "-v", "ON_ERROR_STOP=1",
                     "-f", str(PG_FIXTURES / "letta-0.16.8.pg_dump.sql"))
    if loaded.returncode != 0:
        pytest.fail(f"loading the Letta 0.16.8 dump failed:\n{loaded.stderr}", pytrace=False)
    return url


# --- REST replay -----------------------------------------------------------------------------


@dataclass
class LettaReplay:
    """Answers exactly the recorded requests of an api/ folder (INDEX.tsv), 404 otherwise."""

    api_dir: Path
    url: str = ""
    responses: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)  # every path+query received, in order
    unknown: list[str] = field(default_factory=list)  # those not recorded (answered 404)
    headers: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self):
        with (self.api_dir / "INDEX.tsv").open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                body = (self.api_dir / row["file"]).read_bytes()
                self.responses[(row["method"], row["path"])] = (int(row["http_status"]), body)


def _handler(replay: LettaReplay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            replay.requests.append(self.path)
            replay.headers.append(dict(self.headers))
            recorded = replay.responses.get(("GET", self.path))
            if recorded is None:
                replay.unknown.append(self.path)
                status, body = 404, b'{"detail":"Not Found"}'
            else:
                status, body = recorded
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # keep pytest output clean
            pass

    return Handler


@pytest.fixture
def letta_replay():
    """Factory: ``letta_replay(api_dir)`` starts a replay server on 127.0.0.1 (free port)."""
    servers: list[ThreadingHTTPServer] = []

    def start(api_dir: Path) -> LettaReplay:
        replay = LettaReplay(Path(api_dir))
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(replay))
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        replay.url = f"http://127.0.0.1:{server.server_address[1]}"
        return replay

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
