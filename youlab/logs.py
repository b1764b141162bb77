"""Log formatting for production: one JSON object per line, secrets masked.

Masked wherever they appear in a message or traceback: `Api-Key <key>` credentials, passwords in
URLs (`mysql://user:secret@host`, `redis://:secret@host`), and the values of the settings that
hold secrets (DJANGO_SECRET_KEY, YOULAB_FERNET_KEYS, DOLT_*_PASSWORD) when they are set.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import UTC, datetime

MASK = "***"
_PATTERNS = [
    (re.compile(r"(Api-Key\s+)\S+", re.IGNORECASE), rf"\g<1>{MASK}"),
    (re.compile(r"(Authorization['\"]?\s*[:=]\s*['\"]?)[^'\",}\s]+(\s+[^'\",}\s]+)?", re.IGNORECASE), rf"\g<1>{MASK}"),
    (re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE), rf"\g<1>{MASK}@"),
]
_SECRET_SETTINGS = ("DJANGO_SECRET_KEY", "YOULAB_FERNET_KEYS", "DOLT_APP_PASSWORD", "DOLT_ROOT_PASSWORD",
                    "YOULAB_WEBHOOK_SECRET")


def _secret_values() -> list[str]:
    values = []
    for name in _SECRET_SETTINGS:
        for part in os.environ.get(name, "").split(","):
            part = part.strip()
            if len(part) >= 8:  # short values would mask ordinary words
                values.append(part)
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    for value in _secret_values():
        text = text.replace(value, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record):
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message"[, "exc"]}; extra fields of Django's request logs."""

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        status = getattr(record, "status_code", None)
        if status is not None:
            entry["status"] = status
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "method"):
            entry["method"] = request.method
            entry["path"] = redact(getattr(request, "path", ""))
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)
