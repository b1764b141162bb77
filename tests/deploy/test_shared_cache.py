"""One cache for every app server (CACHE_URL = Redis): revocations and rate limits hold across
processes. Two gunicorn servers (separate processes) share this module's Dolt database and the
Redis that `make test` started; the verified-key cache TTL is the maximum (60 s), so only the
shared invalidation can make a revocation take effect within the 1 s we allow."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid

import pytest

from tests.servers import ROOT, AppServer, Browser, app_env, redis_url, wait_for

pytestmark = pytest.mark.slow

WORKER = [sys.executable, str(ROOT / "tests" / "hardening" / "_worker.py")]
BLOCK = "/api/v1/users/maya/blocks/student/"


@pytest.fixture(scope="module")
def two_servers(own_dolt):
    own_dolt.create_databases("shared_cache")
    env = app_env(DATABASE_URL=own_dolt.database_url("shared_cache"), CACHE_URL=redis_url(),
                  CACHE_KEY_PREFIX=f"test-{uuid.uuid4().hex[:8]}", YOULAB_API_KEY_CACHE_SECONDS="60",
                  YOULAB_AGENT_RATE="6/minute")
    setup = subprocess.run([*WORKER, "setup-api"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert setup.returncode == 0, setup.stderr[-2000:]
    admin = subprocess.run([sys.executable, "manage.py", "ensure_superuser"], cwd=ROOT, capture_output=True, text=True,
                           timeout=120, env=dict(env, DJANGO_SUPERUSER_USERNAME="boss", DJANGO_SUPERUSER_PASSWORD="pw-boss-1",
                                                 DJANGO_SUPERUSER_EMAIL="boss@example.org"))
    assert admin.returncode == 0, admin.stderr[-2000:]
    servers = [AppServer(env), AppServer(env)]
    try:
        yield env, servers
    finally:
        for server in servers:
            server.stop()


def new_key(env, name: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", "create_agent_key", name], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def first_401_within(server, key: str, seconds: float) -> float:
    started = time.monotonic()
    while True:
        status = server.request("GET", BLOCK, key=key)[0]
        elapsed = time.monotonic() - started
        if status == 401:
            return elapsed
        assert status == 200, status
        assert elapsed < seconds, f"the revoked key still worked after {elapsed:.2f}s on port {server.port}"
        time.sleep(0.05)


def test_a_key_revoked_by_the_command_stops_working_on_every_server_within_a_second(two_servers):
    env, servers = two_servers
    key = new_key(env, "tutor-cmd")
    for server in servers:  # verified and cached (for 60 s) by both
        assert server.request("GET", BLOCK, key=key)[0] == 200
        assert server.request("GET", BLOCK, key=key)[0] == 200
    result = subprocess.run([sys.executable, "manage.py", "create_agent_key", "tutor-cmd", "--revoke"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "revoked 1 key" in result.stdout, result.stdout + result.stderr
    for server in servers:
        assert first_401_within(server, key, 1.0) < 1.0


def test_a_key_revoked_in_the_admin_of_one_server_stops_working_on_the_other_at_once(two_servers, own_dolt):
    env, (first, second) = two_servers
    key = new_key(env, "tutor-admin")
    for server in (first, second):
        assert server.request("GET", BLOCK, key=key)[0] == 200
    pk = own_dolt.query("shared_cache", "SELECT id FROM agent_keys WHERE name = %s", ["tutor-admin"])[0][0]
    browser = Browser(first)
    browser.login("boss", "pw-boss-1")
    change = f"/admin/youlab/agentkey/{pk}/change/"
    status, _, page = browser.request("GET", change)
    assert status == 200 and 'name="revoked"' in page
    status, location, page = browser.request("POST", change, {"name": "tutor-admin", "revoked": "on",
                                                              "expiry_date_0": "", "expiry_date_1": "", "_save": "Save"})
    assert status == 302, re.findall(r'class="errorlist[^>]*>.*?</ul>', page, re.S)[:3] or page[:500]
    assert own_dolt.query("shared_cache", "SELECT revoked FROM agent_keys WHERE id = %s", [pk]) == [(1,)]
    assert first_401_within(second, key, 1.0) < 1.0
    assert first.request("GET", BLOCK, key=key)[0] == 401


def test_the_rate_limit_is_counted_across_servers(two_servers):
    env, (first, second) = two_servers
    key = new_key(env, "tutor-rate")
    statuses = [server.request("GET", BLOCK, key=key)[0] for _ in range(3) for server in (first, second)]
    assert statuses == [200] * 6  # 6/minute in all, whichever server answered
    for server in (first, second):
        status, headers, _ = server.request("GET", BLOCK, key=key)
        assert status == 429 and int(headers["Retry-After"]) > 0


def test_without_redis_the_servers_keep_working_on_the_database(two_servers, own_dolt):
    """A cache outage is no API outage: keys are checked in the database, requests not counted."""
    env, _ = two_servers
    key = new_key(env, "tutor-nocache")
    lost = AppServer(dict(env, CACHE_URL="redis://127.0.0.1:1/0"))  # nothing listens on port 1
    try:
        assert lost.request("GET", BLOCK, key=key)[0] == 200
        assert lost.request("GET", BLOCK, key="abcdefgh." + "x" * 32)[0] == 401
        status, _, body = lost.request("GET", "/readyz")
        assert status == 503 and b'"cache": {"status": "fail"' in body
    finally:
        lost.stop()
    wait_for(lambda: True, timeout=1)
