"""Shared plumbing for the bench scripts (run by hand, never from the tests).

Every bench creates its OWN fresh database on the local dolt sql-server, migrates it, and drops
and purges it at the end (``--keep`` keeps it). The server is the one ``manage.py`` would use:
DOLT_HOST, DOLT_PORT, DOLT_APP_USER and DOLT_APP_PASSWORD are read the same way (defaults: the
project's server on 127.0.0.1:3307).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import MySQLdb

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = os.environ.get("DOLT_HOST", "127.0.0.1")
PORT = int(os.environ.get("DOLT_PORT", "3307"))
USER = os.environ.get("DOLT_APP_USER", "youlab")
PASSWORD = os.environ.get("DOLT_APP_PASSWORD", "youlab-dev-password")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or f"bench-only-{secrets.token_hex(16)}"
# Production settings (DEBUG off) need these; bench-only values unless the caller set them.
PRODUCTION_ENV = {
    "ALLOWED_HOSTS": os.environ.get("ALLOWED_HOSTS") or "127.0.0.1,localhost",
    "YOULAB_FERNET_KEYS": os.environ.get("YOULAB_FERNET_KEYS") or "fSjDUcmM0qyJ2vY3kU4d2xQpXbt5kS8gkJd8QHqz3Zk=",
}


# --- databases ---------------------------------------------------------------------------------


def connect(database: str | None = None, *, autocommit: bool = True) -> MySQLdb.Connection:
    conn = MySQLdb.connect(host=HOST, port=PORT, user=USER, password=PASSWORD,
                           database=database or "", charset="utf8mb4")
    conn.autocommit(autocommit)
    return conn


def database_url(name: str) -> str:
    return f"mysql://{USER}:{PASSWORD}@{HOST}:{PORT}/{name}"


def new_database_name(kind: str) -> str:
    return f"bench_{kind}_{time.strftime('%Y%m%d_%H%M%S')}_{os.getpid()}"


def create_database(name: str) -> None:
    with contextlib.closing(connect()) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci")


def drop_database(name: str) -> None:
    with contextlib.closing(connect()) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute("CALL dolt_purge_dropped_databases()")


def django_setup(name: str) -> None:
    """Point this process's Django at database `name` (DEBUG off, as in production)."""
    os.environ["DATABASE_URL"] = database_url(name)
    os.environ["DJANGO_SECRET_KEY"] = SECRET_KEY
    os.environ.update(PRODUCTION_ENV)
    os.environ.pop("DJANGO_DEBUG", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "youlab.settings")
    import django

    django.setup()


@contextlib.contextmanager
def fresh_database(kind: str, keep: bool = False):
    """Create, migrate (in this process, through Django) and finally drop a bench database."""
    name = new_database_name(kind)
    print(f"Creating and migrating {name} on {HOST}:{PORT} ...", flush=True)
    create_database(name)
    try:
        django_setup(name)
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        print(f"  migrated in {time.perf_counter() - started:.1f} s", flush=True)
        yield name
    finally:
        from django.db import connections

        connections.close_all()
        if keep:
            print(f"Kept database {name}")
        else:
            drop_database(name)


def insert_rows(cursor, table: str, columns: list[str], rows: list[tuple], per_statement: int = 1000):
    """Multi-row INSERTs (fast bulk loading for the benches' fixtures)."""
    names = ", ".join(f"`{c}`" for c in columns)
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        cursor.execute(f"INSERT INTO `{table}` ({names}) VALUES " + ", ".join([one] * len(chunk)),
                       [v for row in chunk for v in row])


LABELS = ["human", "persona", "student", "journey", "engagement_strategy"]


def block_content(n: int, size: int = 1500) -> str:
    line = f"- learner fact {n}: likes essays, bakery night shifts, chess, 学习 🙂 café\n"
    return (line * (size // len(line) + 1))[:size]


def bulk_blocks(learners: int, labels=LABELS, *, content_size: int = 1500, history=True,
                owner_prefix: str = "learner", char_limit: int = 20000) -> list[tuple[str, str, str]]:
    """learners x labels blocks at version 1 (+ their history row); returns (id hex, owner, label).

    Written by importing.writer, the one bulk writer of blocks and history rows (a transaction
    per 1,000 learners), so Django must be set up in this process (fresh_database); a bench
    whose process has no Django uses bulk_blocks_in_child. No Dolt commit: dolt_commit.
    """
    from django.db import transaction
    from django.utils import timezone

    from importing import writer

    now = timezone.now()
    rows = []
    for start in range(0, learners, 1000):
        blocks, history_rows = [], []
        for n in range(start, min(start + 1000, learners)):
            owner = f"{owner_prefix}-{n:06d}"
            created = writer.Version(content=block_content(n, content_size), import_key=None,
                                     actor="system", reason="Created", date=now, metadata={})
            for label in labels:
                fields = dict(owner_type="user", owner_id=owner, label=label,
                              description=f"the {label} block", char_limit=char_limit, read_only=False,
                              metadata={"seed": n}, created_at=now)
                block, versions = writer.new_block(fields, [created], updated_at=now, deleted_at=None)
                blocks.append(block)
                history_rows += versions
                rows.append((block.id.hex, owner, label))
        with transaction.atomic():
            writer.write(blocks=blocks, history=history_rows if history else ())
    return rows


def bulk_blocks_in_child(learners: int, message: str, *, env: dict) -> list[tuple[str, str, str]]:
    """bulk_blocks and dolt_commit(message) in a Django child process (`env` points it at the
    database: DATABASE_URL, DJANGO_SETTINGS_MODULE, ...); returns bulk_blocks' rows."""
    result = subprocess.run([sys.executable, __file__, "_bulk_blocks", str(learners), message],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"bulk_blocks in a child failed:\n{result.stderr[-3000:]}")
    return [tuple(row) for row in json.loads(result.stdout)]


def dolt_commit(message: str) -> None:
    """Commit the fixtures (already committed to the working set by their SQL transactions)
    through youlab.dolt, the one module that speaks Dolt SQL. Django must be set up."""
    from youlab import dolt

    dolt.commit(message)


# --- statistics and output ---------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(samples_s: list[float]) -> dict:
    ms = [s * 1000 for s in samples_s]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 3), "p95_ms": round(percentile(ms, 95), 3),
            "mean_ms": round(statistics.fmean(ms), 3)}


def print_table(headers: list[str], rows: list[list], title: str | None = None) -> None:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if title:
        print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:.0f}"
    return "-" if value is None else str(value)


def emit_json(bench: str, result: dict) -> None:
    # Which cache the app ran with: Redis (CACHE_URL, as deployed) costs every agent request
    # round trips the per-process cache does not (docs/performance.md, fourth pass).
    cache = "redis" if os.environ.get("CACHE_URL") else "per-process"
    print(json.dumps({"bench": bench, "dolt_port": PORT, "cache": cache, **result}, ensure_ascii=False))


# --- gunicorn ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """`gunicorn youlab.wsgi` as a child process on 127.0.0.1, pointed at one database.

    gthread workers: they keep HTTP connections alive (sync workers close after each response).
    """

    def __init__(self, database: str, *, workers: int = 1, threads: int = 1, extra_env=None,
                 app: str = "youlab.wsgi:application"):
        self.port = free_port()
        self.database = database
        env = dict(os.environ)
        env.pop("DJANGO_DEBUG", None)
        env.update({
            "DATABASE_URL": database_url(database),
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "DJANGO_SETTINGS_MODULE": "youlab.settings",
            **PRODUCTION_ENV,
            # The throttle still runs on every request; only its limit is out of the way.
            "YOULAB_AGENT_RATE": "100000000/minute",
            **(extra_env or {}),
        })
        self.log = open(f"/tmp/bench-gunicorn-{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", app,
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
             "--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "120",
             "--log-level", "warning", "--timeout", "120"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {self.log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/tools/")
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("gunicorn did not answer within 60 s")

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def request(conn: http.client.HTTPConnection, method: str, path: str, body=None, headers=None):
    """One keep-alive request; (status, body bytes)."""
    data = json.dumps(body).encode() if body is not None else None
    all_headers = {"Content-Type": "application/json"} if data is not None else {}
    all_headers.update(headers or {})
    conn.request(method, path, body=data, headers=all_headers)
    response = conn.getresponse()
    payload = response.read()
    if response.getheader("Connection", "").lower() == "close":
        conn.close()  # http.client reconnects on the next request
    return response.status, payload


def create_agent_key(name: str = "bench") -> str:
    from youlab import keys

    return keys.create_agent_key(name=name, allow_duplicate=True)[1]


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "_bulk_blocks":
    import django

    django.setup()
    fixture_rows = bulk_blocks(int(sys.argv[2]))
    dolt_commit(sys.argv[3])
    print(json.dumps(fixture_rows))
