"""`make run` keeps learners' OpenWebUI keys usable: a development Fernet key in var/.

scripts/dev_fernet_key.py makes the key once (mode 0600) and prints it on later runs; it refuses
outside DEBUG. The end-to-end test runs `make run` itself against a private Dolt server, stores a
key through the API, restarts `make run` and reads the key back: no 503 `secrets_not_configured`.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import stat
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from .conftest import ROOT, free_port, wait_for

SCRIPT = ROOT / "scripts" / "dev_fernet_key.py"
OWUI_KEY = "sk-owui-dev-1234567890abcdef"


def run_script(key_file, debug="1"):
    env = dict(os.environ, YOULAB_DEV_FERNET_KEY_FILE=str(key_file), DJANGO_DEBUG=debug)
    return subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def test_the_dev_key_is_made_once_kept_private_and_never_made_outside_debug(tmp_path):
    key_file = tmp_path / "var" / "dev-fernet.key"
    refused = run_script(key_file, debug="0")
    assert refused.returncode == 1 and "YOULAB_FERNET_KEYS" in refused.stderr and not key_file.exists()

    first = run_script(key_file)
    assert first.returncode == 0 and "Created a development Fernet key" in first.stderr
    key = first.stdout.strip()
    Fernet(key)  # a valid key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = run_script(key_file)
    assert second.stdout.strip() == key and "Using the development Fernet key" in second.stderr

    key_file.write_text("not a key\n")
    broken = run_script(key_file)
    assert broken.returncode == 1 and "does not hold a Fernet key" in broken.stderr


def _request(port, method, path, key, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, json.loads(data or b"{}")


def _answers(port):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/api/v1/tools/")
        conn.getresponse().read()
        conn.close()
        return True
    except OSError:
        return False


@pytest.mark.slow
def test_make_run_stores_and_reads_learner_keys_across_restarts(own_dolt, tmp_path):
    key_file = tmp_path / "dev-fernet.key"
    env = dict(os.environ)
    for name in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "YOULAB_FERNET_KEYS", "DJANGO_DEBUG",
                 "DJANGO_SECRET_KEY"):
        env.pop(name, None)
    env.update(DOLT_PORT=str(own_dolt.port), DOLT_DATA_DIR=str(own_dolt.data_dir), DOLT_DATABASE="makerun",
               YOULAB_DEV_FERNET_KEY_FILE=str(key_file))

    def make_run():
        port = free_port()
        log = open(tmp_path / f"make-run-{port}.log", "w+")
        child = subprocess.Popen(["make", "--no-print-directory", "run", f"PORT={port}"], cwd=ROOT, env=env,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: _answers(port) or child.poll() is not None, timeout=240, interval=0.5,
                     what="make run to serve")
        except AssertionError:
            os.killpg(child.pid, signal.SIGTERM)
            raise
        assert child.poll() is None, (log.seek(0), log.read())[1]
        return child, port, log

    def stop(child):
        os.killpg(child.pid, signal.SIGTERM)  # our own process group: make, runserver and its reloader
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            # Still a failure; but say which process did not stop, and what it waited on (seen
            # once in CI, never reproduced), then leave nothing running.
            processes = subprocess.run(["ps", "-o", "pid,ppid,stat,wchan:24,etime,args", "-g", str(child.pid)],
                                       capture_output=True, text=True).stdout
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
            log.seek(0)
            pytest.fail(f"make run did not stop within 60 s of SIGTERM:\n{processes}\n{log.read()[-3000:]}")

    child, port, log = make_run()
    try:
        agent = subprocess.run(
            [sys.executable, "manage.py", "create_agent_key", "makerun-test", "--scopes",
             "memory:read,owui-key:read,owui-key:write"] if "--scopes" in _help(env) else
            [sys.executable, "manage.py", "create_agent_key", "makerun-test"],
            cwd=ROOT, env=dict(env, DJANGO_DEBUG="1"), capture_output=True, text=True, timeout=120,
        )
        assert agent.returncode == 0, agent.stderr
        api_key = agent.stdout.strip()
        status, body = _request(port, "PUT", "/api/v1/users/dev-learner/owui-key/", api_key, {"key": OWUI_KEY})
        assert status == 201, body
    finally:
        stop(child)
    log.seek(0)
    assert "Created a development Fernet key" in log.read()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    child, port, log = make_run()  # a restart: the same key opens what was stored
    try:
        status, body = _request(port, "GET", "/api/v1/users/dev-learner/owui-key/", api_key)
        assert status == 200 and body["key"] == OWUI_KEY, body
    finally:
        stop(child)
    log.seek(0)
    assert "Using the development Fernet key" in log.read()


def _help(env):
    result = subprocess.run([sys.executable, "manage.py", "create_agent_key", "--help"], cwd=ROOT,
                            env=dict(env, DJANGO_DEBUG="1"), capture_output=True, text=True, timeout=120)
    return result.stdout
