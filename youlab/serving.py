"""Production serving helpers: the start-up check of `make serve` and gunicorn's JSON logs.

    python -m youlab.serving preflight   # exit 1 naming every missing setting

Used by the Makefile before anything starts and by youlab/gunicorn.conf.py when gunicorn is
started directly (a container's command), so a production server never starts half-configured.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

from gunicorn.glogging import Logger

REQUIRED = {
    "DJANGO_SECRET_KEY": "a long random secret (python -c 'import secrets; print(secrets.token_urlsafe(50))')",
    "ALLOWED_HOSTS": "the host names clients use, comma separated",
    "YOULAB_FERNET_KEYS": "Fernet keys for learners' OpenWebUI keys at rest, newest first",
}


def missing_settings(environ=None) -> list[str]:
    """What a production (DEBUG off) server lacks, one line each."""
    environ = os.environ if environ is None else environ
    problems = [f"{name}: {why}" for name, why in REQUIRED.items() if not environ.get(name, "").strip()]
    if not environ.get("DATABASE_URL") and not environ.get("DOLT_APP_PASSWORD"):
        problems.append("DATABASE_URL (or DOLT_APP_PASSWORD for the local Dolt server): production never "
                        "uses the development password")
    return problems


def preflight(environ=None) -> None:
    problems = missing_settings(environ)
    if problems:
        sys.stderr.write("Refusing to start in production mode (DEBUG off); set:\n"
                         + "".join(f"  - {p}\n" for p in problems))
        raise SystemExit(1)


class JsonLogger(Logger):
    """gunicorn's logger with one JSON object per access-log and error-log line.

    The access line has no query string and no request headers (an API key travels in
    `Authorization`; ids and filters in the query string), only what operations need.
    """

    def setup(self, cfg):
        super().setup(cfg)
        from youlab.logs import JsonFormatter

        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(_Passthrough() if handler in self.access_log.handlers else JsonFormatter())

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "type": "access",
            "remote": environ.get("REMOTE_ADDR", "-"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
            "user_agent": environ.get("HTTP_USER_AGENT", "")[:200],
            "pid": os.getpid(),
        }
        try:
            self.access_log.info(json.dumps(entry, ensure_ascii=False))
        except Exception:
            self.error("failed to write an access log line", exc_info=True)


class _Passthrough(logging.Formatter):
    def format(self, record):
        return record.getMessage()


if __name__ == "__main__":
    if sys.argv[1:] == ["preflight"]:
        preflight()
    else:
        raise SystemExit(__doc__)
