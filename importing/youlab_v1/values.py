"""What v1 stored (YAML frontmatter, TOML, pending-diff JSON) as what we store: JSON-safe values,
aware UTC datetimes, text."""

from __future__ import annotations

import base64
import math
from datetime import date, datetime, time, timezone, tzinfo
from typing import Any


def json_safe(value: Any) -> Any:
    """Convert what YAML/TOML can produce into JSON-storable values (dates become ISO strings)."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((json_safe(v) for v in value), key=repr)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def aware_utc(value: Any, tz: tzinfo) -> datetime | None:
    """Parse an ISO timestamp; a naive one is local time in ``tz``. None if absent or invalid."""
    if isinstance(value, datetime):  # an unquoted YAML timestamp
        parsed = value
    elif not isinstance(value, str) or not value:
        return None
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(timezone.utc)


def as_text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)
