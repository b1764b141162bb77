"""Dolt going away under the app: SIGKILL mid-import, mid-approval, restarts between requests.

Each test runs against the module's private dolt sql-server (conftest.own_dolt), never the
shared one; the app runs in child processes pointed at it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import subprocess
import sys
import threading
import time
import uuid

import pytest

from bench.letta_generator import generate

from .conftest import ROOT, free_port, wait_for

pytestmark = pytest.mark.slow

WORKER = [sys.executable, str(ROOT / "tests" / "hardening" / "_worker.py")]
LEARNERS = 240  # 1,201 blocks and 4,800 history rows: the import takes a few seconds
BATCH = 40  # blocks per import transaction: ~30 transactions to kill one in the middle of


# --- helpers ---------------------------------------------------------------------------------


class Lines:
    """A child's stdout, read line by line on a thread (so the test can wait with a timeout)."""

    def __init__(self, child: subprocess.Popen):
        self.child = child
        self.lines: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for line in self.child.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.lines):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; output so far: {self.lines[-20:]}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"child exited early: {self.lines[-20:]}")
            self.lines.append(line)

    def finish(self, timeout: float = 120) -> list[str]:
        self.child.wait(timeout=timeout)
        self._thread.join(timeout=10)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return self.lines


def run_worker(own_dolt, database: str, *args: str, timeout: float = 180) -> list[str]:
    result = subprocess.run([*WORKER, *args], env=own_dolt.env(database), capture_output=True, text=True,
                            timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout.splitlines()


def start_worker(own_dolt, database: str, *args: str) -> Lines:
    child = subprocess.Popen([*WORKER, *args], env=own_dolt.env(database), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    return Lines(child)


def count(own_dolt, database: str, table: str) -> int:
    return own_dolt.query(database, f"SELECT COUNT(*) FROM `{table}`")[0][0]


def canonical_dump(own_dolt, database: str) -> dict:
    """Blocks, history and diffs without the run's surrogate ids (block ids, history ids)."""
    blocks = own_dolt.query(database, """
        SELECT owner_type, owner_id, label, content, description, char_limit, read_only,
               CAST(metadata AS CHAR), version, deleted_at, created_at, updated_at
        FROM blocks ORDER BY owner_type, owner_id, label""")
    history = own_dolt.query(database, """
        SELECT owner_type, owner_id, label, version, content, description, char_limit, read_only,
               CAST(metadata AS CHAR), deleted_at, created_at, updated_at, history_date, history_type,
               history_change_reason, actor, import_key, diff_id, history_user_id
        FROM block_history ORDER BY owner_type, owner_id, label, version""")
    diffs = own_dolt.query(database, """
        SELECT owner_type, owner_id, label, operation, CAST(arguments AS CHAR), proposed_content,
               base_version, status, import_key
        FROM pending_diffs ORDER BY import_key""")

    def parsed(rows, json_index):
        return [(*r[:json_index], json.loads(r[json_index]), *r[json_index + 1:]) for r in rows]

    return {"blocks": parsed(blocks, 7), "history": parsed(history, 8), "diffs": parsed(diffs, 4)}


def assert_every_block_whole(own_dolt, database: str) -> None:
    """Each block has exactly the versions 1..version in block_history (an import item is whole)."""
    rows = own_dolt.query(database, """
        SELECT b.id, b.version, COUNT(h.history_id), MIN(h.version), MAX(h.version)
        FROM blocks b LEFT JOIN block_history h ON h.id = b.id GROUP BY b.id, b.version""")
    broken = [r for r in rows if not (r[2] == r[1] and r[3] == 1 and r[4] == r[1])]
    assert not broken, broken[:5]


# --- kill during an import ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def letta_sqlite(tmp_path_factory):
    path = tmp_path_factory.mktemp("letta") / "letta.sqlite3"
    counts = generate(path, LEARNERS)
    return path, counts


def import_command(path) -> list[str]:
    return [sys.executable, "manage.py", "import_letta", "--sqlite", str(path), "--batch-size", str(BATCH)]


def test_killing_dolt_mid_import_then_rerunning_equals_a_clean_import(own_dolt, letta_sqlite):
    path, counts = letta_sqlite
    total = counts["blocks"]
    own_dolt.create_databases("crash_import", "clean_import")

    child = subprocess.Popen(import_command(path), cwd=ROOT, env=own_dolt.env("crash_import"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # Some transactions are in, most are not: kill the server now.
        seen = wait_for(lambda: (lambda n: n if 3 * BATCH <= n else 0)(count(own_dolt, "crash_import", "blocks")),
                        timeout=120, what="the import's first batches")
        assert seen < total, "the import finished before the kill; make it bigger"
        own_dolt.kill()
        out, _ = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != 0, out.decode(errors="replace")[-2000:]

    own_dolt.restart_after_kill()
    survived = count(own_dolt, "crash_import", "blocks")
    assert seen <= survived < total  # every committed batch survived SIGKILL; the rest is absent
    assert_every_block_whole(own_dolt, "crash_import")
    assert own_dolt.query("crash_import", "SELECT COUNT(*) FROM dolt_log WHERE message LIKE 'Import %%'") == [(0,)]

    # The operator re-runs the same command; meanwhile a clean import into a fresh database.
    rerun = subprocess.Popen(import_command(path), cwd=ROOT, env=own_dolt.env("crash_import"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    clean = subprocess.Popen(import_command(path), cwd=ROOT, env=own_dolt.env("clean_import"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for child in (rerun, clean):
        out, _ = child.communicate(timeout=300)
        assert child.returncode == 0, out.decode(errors="replace")[-3000:]

    crashed, reference = canonical_dump(own_dolt, "crash_import"), canonical_dump(own_dolt, "clean_import")
    assert len(reference["blocks"]) == total and len(reference["history"]) >= counts["history"]
    for table in ("blocks", "history", "diffs"):
        assert crashed[table] == reference[table], f"{table} differ after the crash and re-run"
    # Nothing duplicated: one row per (owner, label) and per (block, version).
    for table, key in (("blocks", "owner_type, owner_id, label"), ("block_history", "id, version")):
        assert own_dolt.query("crash_import", f"SELECT COUNT(*) FROM (SELECT {key} FROM {table} "
                                              f"GROUP BY {key} HAVING COUNT(*) > 1) d") == [(0,)]
    assert_every_block_whole(own_dolt, "crash_import")
    # One Dolt commit for the import (the killed run made none), and nothing left uncommitted.
    messages = [m for (m,) in own_dolt.query("crash_import", "SELECT message FROM dolt_log")]
    assert len([m for m in messages if m.startswith("Import letta:sqlite")]) == 1, messages[:5]
    assert own_dolt.query("crash_import", "SELECT * FROM dolt_status") == []


# --- kill during approvals ---------------------------------------------------------------------


def assert_decisions_whole(own_dolt, database: str) -> dict[str, str]:
    """Each diff is either approved with its history row and its Dolt commit, or untouched."""
    diffs = own_dolt.query(database, "SELECT id, status, applied_version, block_id FROM pending_diffs")
    history = own_dolt.query(database, "SELECT id, version, diff_id, content FROM block_history")
    blocks = {b: (v, c) for b, v, c in own_dolt.query(database, "SELECT id, version, content FROM blocks")}
    messages = [m for (m,) in own_dolt.query(database, "SELECT message FROM dolt_log")]
    by_diff: dict[str, list] = {}
    versions: dict[str, dict[int, str]] = {}
    for block_id, version, diff_id, content in history:
        versions.setdefault(block_id, {})[version] = content
        if diff_id:
            by_diff.setdefault(diff_id, []).append((block_id, version))
    statuses = {}
    for diff_id, status, applied_version, block_id in diffs:
        pk = str(uuid.UUID(diff_id))
        commits = [m for m in messages if m.startswith(f"Approve diff {pk}:")]
        statuses[pk] = status
        if status == "approved":
            assert by_diff.get(diff_id) == [(block_id, applied_version)], (pk, by_diff.get(diff_id))
            assert len(commits) == 1, (pk, commits)
        else:
            assert status == "pending", (pk, status)
            assert diff_id not in by_diff and not commits, (pk, by_diff.get(diff_id), commits)
    for block_id, (version, content) in blocks.items():
        assert sorted(versions[block_id]) == list(range(1, version + 1)), (block_id, versions[block_id])
        assert versions[block_id][version] == content
    assert own_dolt.query(database, "SELECT * FROM dolt_status") == []
    return statuses


def test_killing_dolt_mid_approval_leaves_each_diff_applied_whole_or_not_at_all(own_dolt):
    database = "crash_approve"
    own_dolt.create_databases(database)
    assert run_worker(own_dolt, database, "setup-approvals", "60")[-1] == "ready 60"

    approver = start_worker(own_dolt, database, "approve", "4")
    try:
        approver.wait_for(lambda lines: sum(line.startswith("approved") for line in lines) >= 8, timeout=120)
        own_dolt.kill()
        lines = approver.finish()
    finally:
        if approver.child.poll() is None:
            approver.child.kill()
            approver.child.wait()
    acknowledged = {line.split()[1] for line in lines if line.startswith("approved")}
    assert any(line.startswith("error") for line in lines), lines[-10:]  # it really was cut off

    own_dolt.restart_after_kill()
    statuses = assert_decisions_whole(own_dolt, database)
    # Every approval the service returned survived the kill; some were still pending.
    assert all(statuses[pk] == "approved" for pk in acknowledged)
    assert 8 <= sum(s == "approved" for s in statuses.values()) < 60

    # After the restart the rest approve normally.
    lines = run_worker(own_dolt, database, "approve", "2")
    assert not [line for line in lines if line.startswith("error")], lines
    statuses = assert_decisions_whole(own_dolt, database)
    assert set(statuses.values()) == {"approved"}


# --- restarts between requests ---------------------------------------------------------------


class Gunicorn:
    def __init__(self, own_dolt, database):
        self.port = free_port()
        self.child = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "youlab.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "1", "--worker-class", "sync", "--timeout", "60", "--log-level", "warning"],
            cwd=ROOT, env=own_dolt.env(database), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        wait_for(self._answers, timeout=60, interval=0.2, what="gunicorn")

    def _answers(self):
        if self.child.poll() is not None:
            raise AssertionError(self.child.stdout.read().decode(errors="replace")[-3000:])
        with contextlib.suppress(OSError):
            self.request("GET", "/api/v1/bench-floor/")
            return True
        return False

    def request(self, method, path, key=None, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"Api-Key {key}"} if key else {}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        status, content_type, payload = response.status, response.getheader("Content-Type", ""), response.read()
        conn.close()
        return status, content_type, payload

    def stop(self):
        self.child.terminate()
        try:
            self.child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()


def test_the_app_answers_normally_after_dolt_restarts_between_requests(own_dolt):
    database = "restart_api"
    own_dolt.create_databases(database)
    key = run_worker(own_dolt, database, "setup-api")[-1]
    block = "/api/v1/users/maya/blocks/student/"
    server = Gunicorn(own_dolt, database)  # one sync worker: one persistent DB connection
    try:
        assert server.request("GET", block, key)[0] == 200

        own_dolt.stop()  # a clean restart
        status, content_type, payload = server.request("GET", block, key)
        # While Dolt is down: the API's JSON error, not Django's HTML 500.
        assert status == 503 and content_type.startswith("application/json"), (status, payload[:300])
        assert json.loads(payload)["error"]["code"] == "database_unavailable"
        own_dolt.start()
        assert server.request("GET", block, key)[0] == 200
        status, _, payload = server.request("POST", block + "diffs/", key, {"operation": "append", "text": "x"})
        assert status == 201, payload[:300]

        own_dolt.kill()  # and a crash
        own_dolt.restart_after_kill()
        for path in (block, "/api/v1/users/maya/diffs/", block + "history/"):
            status, content_type, payload = server.request("GET", path, key)
            assert status == 200 and content_type.startswith("application/json"), (path, status, payload[:300])
        assert json.loads(server.request("GET", "/api/v1/users/maya/diffs/", key)[2])["count"] == 1
    finally:
        server.stop()
