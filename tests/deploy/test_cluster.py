"""A Dolt cluster (primary + standby, direct-to-standby replication) started by
scripts/cluster.sh: reads from the standby, writes to the primary, a committed write on the
standby when the request answers, and a fail-over with scripts/dolt.sh promote under load."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests.hardening.test_faults import assert_decisions_whole
from tests.servers import ROOT, AppServer, Browser, OwnCluster, app_env, wait_for

pytestmark = pytest.mark.slow

WORKER = [sys.executable, str(ROOT / "tests" / "hardening" / "_worker.py")]
PROBE = [sys.executable, str(ROOT / "tests" / "deploy" / "_router_probe.py")]
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CALL|CREATE|DROP|ALTER|TRUNCATE)\b|dolt_transaction_commit = 1",
                   re.IGNORECASE)


@pytest.fixture(scope="module")
def cluster():
    nodes = OwnCluster(nodes=2)
    try:
        nodes.start()
        nodes.migrate()
        yield nodes
    finally:
        nodes.cleanup()


def cluster_env(cluster, **extra) -> dict[str, str]:
    primary, standby = cluster.ports
    return app_env(DATABASE_URL=cluster.url(primary), DATABASE_REPLICA_URLS=cluster.url(standby), **extra)


def run(cluster, *command, env=None) -> list[str]:
    result = subprocess.run(list(command), cwd=ROOT, env=env or cluster_env(cluster), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout.splitlines()


@pytest.fixture(scope="module")
def agent_key(cluster):
    return run(cluster, *WORKER, "setup-api")[-1]  # staff user rita, block maya/student, a key


def test_the_cluster_scripts_make_a_primary_and_a_standby_with_the_app_user(cluster):
    primary, standby = cluster.ports
    status = cluster.cluster("status")
    assert f"127.0.0.1:{primary} primary 1" in status and f"127.0.0.1:{standby} standby 1" in status
    # The app user reached the standby (by replication: a standby refuses CREATE USER), and the
    # standby refuses writes.
    assert cluster.query(standby, "SELECT COUNT(*) FROM django_migrations")[0][0] > 10
    with pytest.raises(Exception, match="read.only"):
        cluster.query(standby, "INSERT INTO django_content_type (app_label, model) VALUES ('x', 'y')")
    env = cluster.app_env_values()
    assert env["DATABASE_URL"].endswith(f"@127.0.0.1:{primary}/youlab")
    assert env["DATABASE_REPLICA_URLS"].endswith(f"@127.0.0.1:{standby}/youlab")


def test_a_write_through_the_api_is_on_the_standby_when_the_request_answers(cluster, agent_key):
    _, standby = cluster.ports
    app = AppServer(cluster_env(cluster))
    try:
        for n in range(15):
            status, _, body = app.request("POST", "/api/v1/users/maya/blocks/student/diffs/", key=agent_key,
                                          body={"operation": "append", "text": f"fact {n}"})
            assert status == 201, body[:300]
            diff_id = json.loads(body)["id"]
            # At once, straight from the standby's own SQL port:
            assert cluster.query(standby, "SELECT proposed_content LIKE %s FROM pending_diffs WHERE id = %s",
                                 [f"%fact {n}%", diff_id.replace("-", "")]) == [(1,)], n
            # and through the app, whose reads of this route go to the standby:
            status, _, body = app.request("GET", f"/api/v1/diffs/{diff_id}/", key=agent_key)
            assert status == 200 and json.loads(body)["status"] == "pending"
        ready = json.loads(app.request("GET", "/readyz")[2])
        assert ready["checks"]["replica_1"] == {"status": "ok", "role": "standby", "epoch": 1}
        assert ready["checks"]["replication"]["standbys"][0]["error"] is None
    finally:
        app.stop()
    # An approval (one transaction = one Dolt commit) is on the standby with its commit at once.
    for line in run(cluster, *WORKER, "approve", "1"):
        if line.startswith("approved"):
            _, pk, version = line.split()
            commits = cluster.query(standby, "SELECT COUNT(*) FROM dolt_log WHERE message LIKE %s",
                                    [f"Approve diff {pk}:%"])
            assert commits == [(1,)], pk
    assert cluster.query(standby, "SELECT version FROM blocks WHERE owner_id = 'maya'") == [(16,)]


def test_the_router_sends_no_write_and_no_read_after_a_write_to_the_standby(cluster, agent_key):
    steps = json.loads(run(cluster, *PROBE, agent_key)[-1])

    def aliases(step):
        return [alias for alias, _ in steps[step]]

    for step, statements in steps.items():
        for alias, sql in statements:
            assert not (alias != "default" and WRITE.search(sql)), (step, sql)  # never a write to a standby
    # Agent API and admin GETs read from the standby only.
    for step in ("agent GET block", "agent GET diffs", "admin GET list", "admin GET detail"):
        assert aliases(step) and set(aliases(step)) == {"replica_1"}, (step, steps[step])
    # Writes and everything in their requests: the primary only.
    for step in ("agent POST diff", "staff POST approve"):
        assert set(aliases(step)) == {"default"}, (step, steps[step])
    # One GET: the first read from the standby; the read in a transaction, the write and the read
    # after it on the primary.
    mixed = steps["GET read, atomic read, write, read"]
    assert mixed[0][0] == "replica_1" and "COUNT" in mixed[0][1].upper()
    assert all(alias == "default" for alias, _ in mixed[1:]), mixed
    assert any(WRITE.search(sql) for _, sql in mixed) and "COUNT" in mixed[-1][1].upper()


def test_killing_the_primary_and_promoting_the_standby_loses_and_duplicates_no_approval(cluster):
    primary, standby = cluster.ports
    assert run(cluster, *WORKER, "setup-approvals", "40", env=cluster_env(cluster))[-1] == "ready 40"
    run(cluster, sys.executable, "manage.py", "ensure_superuser",
        env=cluster_env(cluster, DJANGO_SUPERUSER_USERNAME="boss", DJANGO_SUPERUSER_PASSWORD="pw-boss-1",
                        DJANGO_SUPERUSER_EMAIL="boss@example.org"))
    key = run(cluster, sys.executable, "manage.py", "create_agent_key", "reader")[-1]
    pending = [str(uuid.UUID(pk)) for (pk,) in cluster.query(
        primary, "SELECT id FROM pending_diffs WHERE status = 'pending' ORDER BY owner_id")]
    assert len(pending) == 40

    # The app as `make cluster` runs it: its database settings come from the cluster's env file.
    app = AppServer(app_env(YOULAB_ENV_FILE=str(cluster.env_file)), threads=2)
    browser = Browser(app)
    browser.login("boss", "pw-boss-1")
    outcomes: dict[str, list] = {pk: [] for pk in pending}
    acknowledged: list[str] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def reviewer():
        try:
            review()
        except BaseException as exc:
            failures.append(exc)
        finally:
            done.set()

    def review():
        deadline = time.monotonic() + 180
        for pk in pending:
            while time.monotonic() < deadline:
                try:
                    status, body = browser.api("POST", f"/api/v1/diffs/{pk}/approve/", {"note": "ok"})
                except OSError as exc:  # a worker replaced mid-request: retry like a client would
                    outcomes[pk].append(type(exc).__name__)
                    time.sleep(0.2)
                    continue
                code = json.loads(body).get("error", {}).get("code") if status != 200 else None
                outcomes[pk].append(code or status)
                if status == 200:
                    acknowledged.append(pk)
                    break
                if status == 409 and code == "diff_not_pending":
                    break  # the lost answer's approval did land: retrying found it decided
                assert status == 503 and code == "database_unavailable", (pk, status, body[:300])
                time.sleep(0.2)

    thread = threading.Thread(target=reviewer, daemon=True)
    try:
        thread.start()
        wait_for(lambda: len(acknowledged) >= 10 or done.is_set(), timeout=120, what="the first approvals")
        assert not failures and not done.is_set(), failures
        cluster.kill(primary)
        # While no primary is there: reads are still served (by the standby), writes are 503.
        status, _, body = app.request("GET", "/api/v1/users/learner-000/blocks/student/", key=key)
        assert status == 200, body[:300]
        wait_for(lambda: any(503 in o or "database_unavailable" in o for o in outcomes.values()), timeout=30,
                 what="a 503 during the outage")
        cluster.dolt(standby, "promote", YOULAB_ENV_FILE=str(cluster.env_file), GUNICORN_PIDFILE=str(app.pidfile))
        assert done.wait(timeout=180), "approvals did not finish after the fail-over"
        assert not failures, failures
    finally:
        done.wait(timeout=1)
        app.stop()

    env = cluster.app_env_values()
    assert env["DATABASE_URL"].endswith(f"@127.0.0.1:{standby}/youlab") and env["DATABASE_REPLICA_URLS"] == ""
    assert cluster.dolt(standby, "role").stdout.strip() == "primary 2"

    class OnNewPrimary:
        def query(self, database, sql, params=None):
            return cluster.query(standby, sql, params)

    statuses = assert_decisions_whole(OnNewPrimary(), "youlab")  # one history row + one Dolt commit each
    ours = {pk: statuses[pk] for pk in pending}
    assert set(ours.values()) == {"approved"}, ours
    assert set(acknowledged) <= set(pending)
    # What clients saw during the switch: 503 database_unavailable (JSON), then success; no 500.
    seen = {o for attempts in outcomes.values() for o in attempts}
    assert "database_unavailable" in seen and 500 not in seen, seen
