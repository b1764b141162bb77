"""gunicorn settings for `make serve` (and a container's command): read at start and on HUP.

Environment: HOST (127.0.0.1), PORT (8000), GUNICORN_WORKERS (2 x cores), GUNICORN_THREADS (4),
GUNICORN_TIMEOUT (60), GUNICORN_PIDFILE, and YOULAB_ENV_FILE: a KEY=VALUE file whose values are
set for the workers at every start and HUP (scripts/dolt.sh promote rewrites DATABASE_URL there
and sends HUP, so new workers use the new primary while the old ones finish their requests).
"""

import os

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
