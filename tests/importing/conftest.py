"""Fixtures for the Letta reader tests: the fixture data, a real PostgreSQL with the 0.16.8 dump
loaded, a local server replaying the recorded Letta REST responses, the fixture databases read
through their readers (``sqlite_source``, ``postgres_source``), the fixture learners' ids and
helpers that sort the records read.

None of these needs the Dolt database. PostgreSQL is started through scripts/postgres.sh; if it
cannot be started the tests that need it fail (they are never skipped).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
import sqlite3
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from importing import letta
from importing.records import BlockRecord, LearnerRecord, SkippedRecord

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


# --- the fixture learners, and helpers for the records read -----------------------------------

COURSE = "college-essay"
U1 = "3f6c9b2e-8a41-4d7e-9c15-2b7e4f0a91d3"  # Maya: history incl. undo
U2 = "a8d2e5f1-7c34-4b9a-8e60-5f1d3c2b7a40"  # Sofía: edited after its last checkpoint
U3 = "c41b7d09-2e8f-4a63-b5d2-9e0f6a1c3b87"  # Xiaoming
U4 = "e92a4c6b-1d57-4f08-a3e9-7b2c5d8f0e14"  # Jordan: REST edits, no history
U5 = "5b0e8d3a-6f29-4c71-8d4b-1a9e2f7c6d05"  # Amara: REST edits; hidden block (0.16.8)
U6 = "demo_learner_6"  # underscores; hidden background agent; soft-deleted scratchpad
LEARNER_LABELS = ["engagement_strategy", "human", "journey", "persona", "student"]


def split(records):
    learners = [r for r in records if isinstance(r, LearnerRecord)]
    blocks = [r for r in records if isinstance(r, BlockRecord)]
    skipped = [r for r in records if isinstance(r, SkippedRecord)]
    assert len(learners) + len(blocks) + len(skipped) == len(records)
    return learners, blocks, skipped


def by_owner(blocks) -> dict[tuple[str, str, str], BlockRecord]:
    keyed = {(b.owner_type, b.owner_id, b.label): b for b in blocks}
    assert len(keyed) == len(blocks), "an (owner, label) was yielded twice"
    return keyed


def own_metadata(block: BlockRecord) -> dict:
    return {k: v for k, v in block.metadata.items() if k != "letta"}


def sha16(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pg_rows(url: str, query: str) -> list[dict]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query).fetchall()


def sqlite_rows(path: Path, query: str) -> list[dict]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(query)]
    finally:
        conn.close()


SQLITE = FIXTURES / "letta-0.11.7.sqlite3"


class Source:
    """One fixture source read through its reader, plus what the tests expect of it."""

    def __init__(self, name, records, manifest, *, db_rows=None, has_history, sees_deleted,
                 has_timestamps):
        self.name = name
        self.records = records
        self.manifest = manifest
        self.learners, self.blocks, self.skipped = split(records)
        self.keyed = by_owner(self.blocks)
        self.db_rows = db_rows  # query → rows, for sources that are databases
        self.has_history = has_history
        self.sees_deleted = sees_deleted
        self.has_timestamps = has_timestamps


@pytest.fixture(scope="session")
def sqlite_source(manifest_0117):
    return Source("sqlite", list(letta.read_sqlite(SQLITE)), manifest_0117,
                  db_rows=lambda q: sqlite_rows(SQLITE, q), has_history=True,
                  sees_deleted=True, has_timestamps=True)


@pytest.fixture(scope="session")
def postgres_source(letta_postgres_url, manifest_0168):
    return Source("postgres", list(letta.read_postgres(letta_postgres_url)), manifest_0168,
                  db_rows=lambda q: pg_rows(letta_postgres_url, q), has_history=True,
                  sees_deleted=True, has_timestamps=True)
