"""gunicorn settings for `make serve` (and a container's command): read at start and on HUP.

Environment: HOST (127.0.0.1), PORT (8000), GUNICORN_WORKERS (2 x cores), GUNICORN_THREADS (4),
GUNICORN_TIMEOUT (60), GUNICORN_PIDFILE, and YOULAB_ENV_FILE: a KEY=VALUE file whose values are
set for the workers at every start and HUP (scripts/dolt.sh promote rewrites DATABASE_URL there
and sends HUP, so new workers use the new primary while the old ones finish their requests).

The master also runs the decision-callback worker (`manage.py deliver_callbacks`) as its child:
started when the server is ready, restarted on HUP (with the new environment), stopped on exit.
YOULAB_CALLBACK_WORKER=0 leaves it out (run it as a process of its own instead).
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

from youlab.serving import preflight


def _env_file(path):
    values = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


_cores = os.cpu_count() or 1
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", str(2 * _cores)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
pidfile = os.environ.get("GUNICORN_PIDFILE") or None
# gunicorn 27's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), which
# several servers on one host would fight over; signals (HUP, TERM) are how we steer it.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logger_class = "youlab.serving.JsonLogger"
# Requests bigger than this never reach Django (request bodies are bounded again in the API).
limit_request_line = 8190
limit_request_field_size = 16384

raw_env = []
if os.environ.get("YOULAB_ENV_FILE"):
    raw_env = [f"{k}={v}" for k, v in _env_file(os.environ["YOULAB_ENV_FILE"]).items()]


def on_starting(server):
    if os.environ.get("DJANGO_DEBUG", "").strip().lower() not in {"1", "true", "yes", "on"}:
        environ = dict(os.environ)
        environ.update(dict(item.split("=", 1) for item in raw_env))
        preflight(environ)


# --- the decision-callback worker, supervised by the master --------------------------------------

_ROOT = Path(__file__).resolve().parent.parent


def _start_callback_worker(server):
    if os.environ.get("YOULAB_CALLBACK_WORKER", "1").strip() == "0":
        return
    # os.environ already holds raw_env here (gunicorn applies it before these hooks run).
    server.youlab_callback_worker = subprocess.Popen(
        [sys.executable, str(_ROOT / "manage.py"), "deliver_callbacks", "-v", "0"], cwd=_ROOT, env=dict(os.environ)
    )
    server.log.info("callback worker started (pid %s)", server.youlab_callback_worker.pid)


def _stop_callback_worker(server):
    child = getattr(server, "youlab_callback_worker", None)
    if child is None or child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=25)  # it finishes the attempts in flight (bounded by their timeouts)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def when_ready(server):
    _start_callback_worker(server)


def on_reload(server):
    _stop_callback_worker(server)
    _start_callback_worker(server)


def on_exit(server):
    _stop_callback_worker(server)
