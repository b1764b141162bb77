"""Letta rows: one source row or JSON object → a snapshot object, whatever the source spelled it.

Database rows say ``metadata_`` and ``_created_by_id``, JSON says ``metadata`` and
``created_by_id``; SQLite stores booleans as 0/1 and timestamps as naive text. Every loader
(SQLite, PostgreSQL, REST, Agent File) turns its rows into :mod:`snapshot
<importing.letta.snapshot>` objects through these functions, so every source is read alike.

A row that cannot be read at all raises :class:`_RowError` (the loader reports and skips it); a
field value that has to be dropped is noted in the object's ``problems`` and the row is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..safety import loads_json
from .snapshot import LettaAgent, LettaBlock, LettaHistoryEntry, LettaIdentity


class _RowError(ValueError):
    """A row that cannot be turned into a Letta object; reported and skipped."""


def _first(row: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in row and row[key] is not None:
            return row[key]
    return None


def as_text(value: Any, what: str) -> str:
    """A required text field (``what`` names it in the error); UTF-8 bytes are decoded."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _RowError(f"{what} is not valid UTF-8 ({exc.reason})") from exc
    if value is None:
        raise _RowError(f"{what} is NULL")
    raise _RowError(f"{what} is {type(value).__name__}, expected text")


def _opt_text(value: Any, what: str) -> str | None:
    return None if value is None else as_text(value, what)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (str, bytes)):
        return int(value)
    raise ValueError(type(value).__name__)


def as_bool(value: Any, what: str, default: bool | None = False) -> bool | None:
    """A boolean field however it is stored; ``default`` when it is NULL."""
    # SQLite stores booleans as 0/1; Postgres and JSON as real booleans.
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false", "t", "f"):
        return value.strip().lower() in ("1", "true", "t")
    raise _RowError(f"{what} is {value!r}, expected a boolean")


def _timestamp(value: Any) -> datetime:
    """Letta timestamps; naive ones (SQLite, 0.11.7 REST) are UTC."""
    if isinstance(value, datetime):
        dt = value
    else:
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if not isinstance(value, str):
            raise ValueError(f"{type(value).__name__} is not a timestamp")
        dt = datetime.fromisoformat(value.strip())
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _json(value: Any) -> Any:
    """JSON columns: TEXT in SQLite (and in JSON payloads sometimes), parsed already elsewhere.

    Too deeply nested JSON raises SourceLimitExceeded, a ValueError like invalid JSON."""
    if isinstance(value, (bytes, str)):
        return loads_json(value, what="JSON value")
    return value


def _tags(value: Any) -> list[str]:
    # Agent File v2 / REST: ["a", "b"]; legacy Agent File: [{"tag": "a"}, ...].
    tags = []
    for item in value or []:
        tag = item.get("tag") if isinstance(item, Mapping) else item
        if isinstance(tag, str):
            tags.append(tag)
    return tags


class _Fields:
    """Reads optional fields of one row, noting (not failing on) values that must be dropped."""

    def __init__(self, row: Mapping[str, Any]):
        self.row = row
        self.problems: list[str] = []

    def get(self, *keys: str) -> Any:
        return _first(self.row, *keys)

    def _name(self, keys: tuple[str, ...]) -> str:
        """The key actually present (DB rows say ``metadata_``, JSON says ``metadata``)."""
        return next((k for k in keys if self.row.get(k) is not None), keys[0])

    def int(self, *keys: str) -> int | None:
        value = self.get(*keys)
        if value is None:
            return None
        try:
            return _int(value)
        except ValueError:
            self.problems.append(f"{self._name(keys)} {value!r} is not an integer; left empty")
            return None

    def timestamp(self, *keys: str) -> datetime | None:
        value = self.get(*keys)
        if value is None:
            return None
        try:
            return _timestamp(value)
        except ValueError:
            self.problems.append(f"{self._name(keys)} {value!r} is not a timestamp; left empty")
            return None

    def metadata(self, *keys: str) -> tuple[dict[str, Any], Any]:
        """The metadata object, and the raw value when it was not a JSON object (kept, not lost)."""
        value = self.get(*keys)
        if value is None:
            return {}, None
        try:
            parsed = _json(value)
        except ValueError as exc:
            self.problems.append(f"{self._name(keys)} is not valid JSON ({exc}); kept raw")
            return {}, value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if parsed is None:
            return {}, None  # JSON null says what SQL NULL says: no metadata
        if not isinstance(parsed, dict):
            self.problems.append(
                f"{self._name(keys)} is a JSON {type(parsed).__name__}, not an object; kept raw")
            return {}, parsed
        return parsed, None

    def any_json(self, *keys: str) -> Any:
        value = self.get(*keys)
        try:
            return _json(value)
        except ValueError:
            return value


# Letta block fields that have no column of their own; kept under metadata["letta"] if set.
BLOCK_EXTRA_FIELDS = {
    "created_by_id": ("_created_by_id", "created_by_id"),
    "last_updated_by_id": ("_last_updated_by_id", "last_updated_by_id"),
    "organization_id": ("organization_id",),
    "project_id": ("project_id",),
    "template_id": ("template_id",),
    "base_template_id": ("base_template_id",),
    "entity_id": ("entity_id",),
    "deployment_id": ("deployment_id",),
    "preserve_on_migration": ("preserve_on_migration",),
}
# ... of which booleans: 0/1 in SQLite, false/true in Postgres and JSON; kept as booleans.
BLOCK_EXTRA_BOOLEANS = {"preserve_on_migration"}


def block_from_row(row: Mapping[str, Any], *, block_id: str | None = None,
                    ref_prefix: str = "") -> LettaBlock:
    """A block from a DB row (``metadata_``, ``_created_by_id``) or JSON (``metadata``, ...)."""
    f = _Fields(row)
    bid = block_id if block_id is not None else as_text(f.get("id"), "id")
    label = as_text(f.get("label"), "label")
    if not label:
        raise _RowError("label is empty")
    metadata, raw_metadata = f.metadata("metadata_", "metadata")
    extra = {}
    for name, keys in BLOCK_EXTRA_FIELDS.items():
        value = f.get(*keys)
        if value is None:
            continue
        if name in BLOCK_EXTRA_BOOLEANS:
            try:
                value = as_bool(value, name)
            except _RowError as exc:
                f.problems.append(f"{exc}; kept as is")
        extra[name] = value if isinstance(value, (str, int, bool, float)) else str(value)
    if raw_metadata is not None:
        extra["raw_metadata"] = raw_metadata
    block = LettaBlock(
        id=bid,
        ref=f"{ref_prefix}{bid}",
        label=label,
        value=as_text(f.get("value"), "value"),
        limit=f.int("limit"),
        # 0.11.7 REST aliases template_name as "name" (and always sends null there).
        template_name=_opt_text(f.get("template_name", "name"), "template_name"),
        description=_opt_text(f.get("description"), "description"),
        metadata=metadata,
        read_only=bool(as_bool(f.get("read_only"), "read_only")),
        is_template=bool(as_bool(f.get("is_template"), "is_template")),
        hidden=as_bool(f.get("hidden"), "hidden", default=None),
        deleted=bool(as_bool(f.get("is_deleted"), "is_deleted")),
        version=f.int("version"),
        current_history_entry_id=_opt_text(f.get("current_history_entry_id"),
                                           "current_history_entry_id"),
        created_at=f.timestamp("created_at"),
        updated_at=f.timestamp("updated_at"),
        tags=_tags(f.any_json("tags")),
        extra=extra,
    )
    block.problems = f.problems
    return block


def agent_from_row(row: Mapping[str, Any], *, agent_id: str | None = None,
                    ref_prefix: str = "") -> tuple[LettaAgent, list[str]]:
    f = _Fields(row)
    aid = agent_id if agent_id is not None else as_text(f.get("id"), "id")
    metadata, _ = f.metadata("metadata_", "metadata")  # a broken value is reported via problems
    agent = LettaAgent(
        id=aid,
        ref=f"{ref_prefix}{aid}",
        name=_opt_text(f.get("name"), "name") or "",
        metadata=metadata,
        tags=_tags(f.any_json("tags")),
        agent_type=_opt_text(f.get("agent_type"), "agent_type"),
        hidden=as_bool(f.get("hidden"), "hidden", default=None),
        deleted=bool(as_bool(f.get("is_deleted"), "is_deleted")),
        created_at=f.timestamp("created_at"),
        updated_at=f.timestamp("updated_at"),
    )
    return agent, f.problems


def history_from_row(row: Mapping[str, Any]) -> LettaHistoryEntry:
    f = _Fields(row)
    try:
        seq = _int(f.get("sequence_number"))
    except ValueError as exc:
        raise _RowError(f"sequence_number {f.get('sequence_number')!r} is not an integer") from exc
    return LettaHistoryEntry(
        id=as_text(f.get("id"), "id"),
        block_id=as_text(f.get("block_id"), "block_id"),
        sequence_number=seq,
        value=as_text(f.get("value"), "value"),
        actor_type=_opt_text(f.get("actor_type"), "actor_type"),
        actor_id=_opt_text(f.get("actor_id"), "actor_id"),
        created_at=f.timestamp("created_at"),
        label=_opt_text(f.get("label"), "label"),
        limit=f.int("limit"),
        description=_opt_text(f.get("description"), "description"),
        metadata=f.any_json("metadata_", "metadata"),
        deleted=bool(as_bool(f.get("is_deleted"), "is_deleted")),
    )


def identity_from_row(row: Mapping[str, Any]) -> LettaIdentity:
    f = _Fields(row)
    return LettaIdentity(
        id=as_text(f.get("id"), "id"),
        identifier_key=as_text(f.get("identifier_key"), "identifier_key"),
        name=_opt_text(f.get("name"), "name"),
        identity_type=_opt_text(f.get("identity_type"), "identity_type"),
        properties=f.any_json("properties"),
        agent_ids=[a for a in (f.any_json("agent_ids") or []) if isinstance(a, str)],
        block_ids=[b for b in (f.any_json("block_ids") or []) if isinstance(b, str)],
    )


def row_key(row: Mapping[str, Any], table: str) -> str:
    rid = row.get("id")
    if isinstance(rid, bytes):
        rid = rid.decode("utf-8", "replace")
    return f"{table}/{rid}" if rid is not None else table

