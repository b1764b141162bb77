"""`make serve`: production mode on gunicorn, health and readiness, static files, HTTPS, logs.

Everything runs in child processes with the production settings (youlab.settings, DEBUG off)
against this module's own dolt sql-server; nothing here uses the test settings' defaults.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile

import pytest

from tests.servers import ROOT, AppServer, app_env, production_env, wait_for

pytestmark = pytest.mark.slow

HTTPS = {"X-Forwarded-Proto": "https"}  # what the TLS-terminating proxy adds


def settings_of(env: dict, *names: str) -> subprocess.CompletedProcess:
    code = ("import json, django; django.setup(); from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def served(own_dolt):
    """`make serve` on a fresh, unmigrated database (it migrates and collects static itself)."""
    with own_dolt.connect() as conn, conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE serve CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci")
    static_root = tempfile.mkdtemp(prefix="youlab-static-")
    env = production_env(DATABASE_URL=own_dolt.database_url("serve"), DJANGO_HTTPS="1", STATIC_ROOT=static_root)
    server = AppServer(env, command=["make", "--no-print-directory", "serve"])
    try:
        yield server
    finally:
        server.stop()


def test_make_serve_refuses_to_start_without_its_settings():
    env = app_env()
    for name in ("DJANGO_SECRET_KEY", "YOULAB_FERNET_KEYS", "ALLOWED_HOSTS", "DOLT_APP_PASSWORD"):
        env.pop(name, None)
    env["DJANGO_SETTINGS_MODULE"] = "youlab.settings"
    result = subprocess.run(["make", "--no-print-directory", "serve"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0
    for name in ("DJANGO_SECRET_KEY", "ALLOWED_HOSTS", "YOULAB_FERNET_KEYS", "DATABASE_URL"):
        assert name in result.stderr, result.stderr
    # gunicorn started directly with the same config (a container's command) refuses as well.
    direct = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "youlab/gunicorn.conf.py", "--bind",
                             "127.0.0.1:0", "youlab.wsgi:application"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert direct.returncode != 0 and "YOULAB_FERNET_KEYS" in direct.stderr, direct.stderr[-2000:]


def test_health_and_readiness(served, own_dolt):
    status, headers, body = served.request("GET", "/healthz")  # plain HTTP, not redirected
    assert status == 200 and json.loads(body) == {"status": "ok", "checks": {"process": {"status": "ok"}}}
    status, _, body = served.request("GET", "/readyz")
    ready = json.loads(body)
    assert status == 200, ready
    assert ready["status"] == "ok"
    assert {k: v["status"] for k, v in ready["checks"].items()} == {
        "database": "ok", "migrations": "ok", "dolt_role": "ok"}
    assert ready["checks"]["dolt_role"]["role"] == "standalone"

    own_dolt.stop()
    try:
        status, headers, body = served.request("GET", "/readyz")
        failing = json.loads(body)
        assert status == 503 and failing["status"] == "fail", failing
        assert failing["checks"]["database"]["status"] == "fail"
        assert "password" not in body.decode().lower() and "youlab-dev-password" not in body.decode()
        assert served.request("GET", "/healthz")[0] == 200  # liveness does not touch the database
    finally:
        own_dolt.start()
    wait_for(lambda: served.request("GET", "/readyz")[0] == 200, timeout=30, what="ready again")


def test_https_settings_cookies_hsts_and_redirect(served, own_dolt):
    status, headers, _ = served.request("GET", "/admin/login/")
    assert status == 301 and headers["Location"] == f"https://127.0.0.1:{served.port}/admin/login/"
    status, headers, body = served.request("GET", "/admin/login/", headers=HTTPS)
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "csrftoken=" in headers["Set-Cookie"] and "Secure" in headers["Set-Cookie"]

    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120,
                            env=production_env(DATABASE_URL=own_dolt.database_url("serve"), DJANGO_HTTPS="1"))
    assert result.returncode == 0 and "System check identified no issues" in result.stdout, result.stdout + result.stderr
    plain = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, env=production_env(DATABASE_URL=own_dolt.database_url("serve")))
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in plain.stdout + plain.stderr  # what DJANGO_HTTPS=1 turns off


def test_static_files_are_served_compressed_with_hashed_names(served):
    _, _, page = served.request("GET", "/admin/login/", headers=HTTPS)
    css = re.search(r'/static/admin/css/base\.[0-9a-f]{12}\.css', page.decode())
    assert css, "the admin does not link a content-hashed stylesheet"
    status, headers, body = served.request("GET", css.group(0), headers={**HTTPS, "Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert "immutable" in headers["Cache-Control"] and "max-age=315360000" in headers["Cache-Control"]
    status, _, body = served.request("GET", "/static/admin/css/base.css", headers=HTTPS)
    assert status == 200 and b"body" in body  # the unhashed name still answers


def test_debug_is_off_and_logs_are_json_without_secrets(served):
    status, _, body = served.request("GET", "/no-such-page/", headers=HTTPS)
    assert status == 404 and b"DEBUG = True" not in body and b"URLconf" not in body
    secret = "Zq9SECRETPART4xY7wV2"
    status, _, body = served.request("GET", "/api/v1/tools/?token=QUERYSECRET",
                                     headers={**HTTPS, "Authorization": f"Api-Key abcdefgh.{secret}"})
    assert status == 401 and json.loads(body)["error"]["code"] == "authentication_failed"

    def logged():
        lines = [json.loads(line) for line in served.log().splitlines() if line.startswith("{")]
        return [e for e in lines if e.get("type") == "access" and e["path"] == "/api/v1/tools/"] and lines

    lines = wait_for(logged, timeout=10, what="the access log line")
    access = [e for e in lines if e.get("type") == "access" and e["path"] == "/api/v1/tools/"][-1]
    assert access["status"] == 401 and access["method"] == "GET" and access["duration_ms"] >= 0
    text = served.log()
    assert secret not in text and "QUERYSECRET" not in text
    # Once gunicorn runs (after make's migrate and collectstatic output), every line is JSON.
    served_lines = text.split("Serving on", 1)[1].splitlines()[1:]
    assert served_lines and all(line.startswith("{") for line in served_lines if line.strip()), served_lines[:5]


def test_production_settings_never_fall_back_to_development_values():
    env = production_env()
    result = settings_of(env, "ALLOWED_HOSTS")
    assert result.returncode != 0 and "DATABASE_URL" in result.stderr  # no silent dev password
    env["DOLT_APP_PASSWORD"] = "an-operator-chosen-password"
    values = json.loads(settings_of(env, "ALLOWED_HOSTS", "DATABASES").stdout)
    assert values["DATABASES"]["default"]["PASSWORD"] == "an-operator-chosen-password"
    assert "testserver" not in values["ALLOWED_HOSTS"]
    env.pop("ALLOWED_HOSTS")
    assert json.loads(settings_of(env, "ALLOWED_HOSTS").stdout)["ALLOWED_HOSTS"] == []
    dev = app_env(DJANGO_SETTINGS_MODULE="youlab.settings", DJANGO_DEBUG="1")
    dev.pop("ALLOWED_HOSTS", None)
    assert json.loads(settings_of(dev, "ALLOWED_HOSTS").stdout)["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost"]
    capped = json.loads(settings_of(dict(env, YOULAB_API_KEY_CACHE_SECONDS="3600"),
                                    "YOULAB_API_KEY_CACHE_SECONDS").stdout)
    assert capped["YOULAB_API_KEY_CACHE_SECONDS"] == 60
