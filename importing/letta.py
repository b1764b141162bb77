"""Readers for Letta data: SQLite (≤0.11), PostgreSQL (≥0.12), the REST API and Agent Files.

Every source is read in two steps:

1. A loader turns the source into a :class:`LettaSnapshot`: plain "Letta rows" (agents, blocks,
   agent↔block links, block_history, identities) in one shape, whatever the source spelled them
   like. Problems met while reading (a bad row, a missing table, REST blind spots) are collected
   as reports; only a source that cannot be opened at all raises :class:`ImportSourceError`.
2. :func:`map_letta` applies the mapping rules of design.md §7 once, for every source, and yields
   :mod:`records <importing.records>` for the importer core.

Mapping rules:

* Learner of an agent: ``metadata.youlab_user_id``, else its name
  ``youlab_{user}_{tutor|background}`` (greedy, so user ids may contain underscores). Agents
  with neither are not YouLab agents: they are reported and skipped, and so are blocks attached
  only to them.
* Owner of a block: ``youlab_shared_{course}_{label}`` template name or ``metadata.youlab_shared``
  → shared, owner id = the course id; attached to YouLab agents of several learners → shared
  (owner id = the block's/agents' single course id, else ``letta-shared``); attached to one
  learner's agents → that learner; attached to none → ``youlab_user_{user}_{label}`` template
  name, else ``metadata.youlab_user_id``; otherwise reported and skipped.
* Several Letta blocks for one (owner, label): the live YouLab-managed one (YouLab template
  name or metadata) is current over an agent's own inline block whatever their timestamps; among
  equals the one updated last, then Letta's ``version`` counter, then the id. The others
  become earlier versions and are reported as ``SkippedRecord(kind="note")``.
* block_history rows become versions in sequence order, undone ones (beyond
  ``current_history_entry_id``) included and marked. Actors: ``letta_agent`` → ``agent:<agent
  name>`` (the id when the agent is unknown); anything else → ``import:letta``; the raw actor is
  kept in the version's metadata.
* Import keys: ``letta:history:<block_history id>`` for checkpoints; a block VALUE, current or
  merged in as an earlier version, is ``letta:<owner_type>:<owner_id>:<label>:value:<sha256[:16]>``
  (:func:`value_key`; owner and label hashed when the key would not fit the column).
  Value keys name no source-specific block id and do not say current/earlier (which depends on
  what else the source holds), so the same content read from SQLite, Postgres, REST or an Agent
  File (whose ids are file-local) gets the same key, and the core recognises a value it already
  has: e.g. the background agent's inline persona, an earlier version after a database import,
  is not re-applied as current by that agent's Agent File.

``SkippedRecord.kind`` is ``"agent"``, ``"block"``, ``"file"``, ``"row"``, ``"table"`` or
``"request"`` (a REST answer refused: a redirect to another server, too big, nested too deeply)
for things not imported, and ``"note"`` for things imported that a person should know about (a
merged block, a dropped field value, a REST blind spot).

Sources are untrusted data (design.md §7, ``safety.py``): the REST token goes to the server
given only, and responses, Agent Files and JSON values are bounded in size and nesting depth.

Readers take ``user_id`` to keep one learner: their blocks, the shared blocks their agents use,
reports about them, and reports about the source as a whole.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib import error as urlerror
from urllib import parse as urlparse
from urllib import request as urlrequest

from .records import (
    MAX_IMPORT_KEY_LENGTH,
    OWNER_SHARED,
    OWNER_USER,
    BlockRecord,
    ImportRecord,
    LearnerRecord,
    SkippedRecord,
    VersionRecord,
)
from .safety import DEFAULT_LIMITS, Limits, SourceLimitExceeded, format_size, loads_json

SOURCE_SQLITE = "letta:sqlite"
SOURCE_POSTGRES = "letta:postgres"
SOURCE_API = "letta:api"
SOURCE_AGENT_FILE = "letta:agent-file"

IMPORT_ACTOR = "import:letta"
# Owner of blocks shared by several learners when no single course id can be found.
FALLBACK_SHARED_NAMESPACE = "letta-shared"

_AGENT_NAME = re.compile(r"youlab_(?P<user>.+)_(?P<type>tutor|background)")
_USER_TEMPLATE_PREFIX = "youlab_user_"
_SHARED_TEMPLATE_PREFIX = "youlab_shared_"
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)
_T = TypeVar("_T")


class ImportSourceError(Exception):
    """The source cannot be opened, or is not Letta data at all: nothing can be read from it."""


class _RowError(ValueError):
    """A row that cannot be turned into a Letta object; reported and skipped."""


# --------------------------------------------------------------------------------------------
# Letta rows: the one internal shape every loader produces
# --------------------------------------------------------------------------------------------


@dataclass
class LettaAgent:
    id: str
    ref: str  # how reports name it: the Letta id, or "file.af:agent-0" for file-local ids
    name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    agent_type: str | None = None
    hidden: bool | None = None
    deleted: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the Agent File it came from


@dataclass
class LettaBlock:
    id: str
    ref: str
    label: str
    value: str
    limit: int | None = None
    template_name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    read_only: bool = False
    is_template: bool = False
    hidden: bool | None = None  # column exists from Letta 0.12 on
    deleted: bool = False
    version: int | None = None  # SQLAlchemy's optimistic-lock counter, not a revision number
    current_history_entry_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # other Letta fields, kept in metadata
    problems: list[str] = field(default_factory=list)  # field values that had to be dropped


@dataclass
class LettaHistoryEntry:
    id: str
    block_id: str
    sequence_number: int
    value: str
    actor_type: str | None = None
    actor_id: str | None = None
    created_at: datetime | None = None
    label: str | None = None
    limit: int | None = None
    description: str | None = None
    metadata: Any = None
    deleted: bool = False


@dataclass
class LettaIdentity:
    id: str
    identifier_key: str
    name: str | None = None
    identity_type: str | None = None
    properties: Any = None
    agent_ids: list[str] = field(default_factory=list)
    block_ids: list[str] = field(default_factory=list)


class BlockFacts(NamedTuple):
    """What the ownership and grouping rules need of a block: all a snapshot keeps in memory."""

    id: str
    ref: str
    label: str
    template_name: str | None
    metadata: dict[str, Any]  # only the keys in _OWNERSHIP_METADATA


# Block metadata keys the ownership rules read (design.md §7).
_OWNERSHIP_METADATA = ("youlab_shared", "youlab_user_id", "course_id")


class _SpillStore:
    """Whole blocks and history entries of one snapshot, in a private temporary SQLite file.

    A Letta database of 10,000 learners holds ~1 GB of values and checkpoints once they are
    Python objects; keeping them on disk until their group is mapped leaves memory for ids and
    ownership facts only, so reading a source needs about the same memory at any size.
    """

    def __init__(self) -> None:
        # "" = a private on-disk database that SQLite deletes when the connection closes.
        self.db = sqlite3.connect("", check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("CREATE TABLE block (id TEXT NOT NULL, data BLOB NOT NULL)")
        self.db.execute("CREATE TABLE history (block_id TEXT NOT NULL, data BLOB NOT NULL)")
        self.pending: dict[str, list[tuple[str, bytes]]] = {"block": [], "history": []}
        self.indexed = False

    def put_block(self, block: LettaBlock) -> None:
        self._put("block", block.id, block)

    def put_history(self, entry: LettaHistoryEntry) -> None:
        self._put("history", entry.block_id, entry)

    def block(self, block_id: str) -> LettaBlock:
        self._index()
        row = self.db.execute("SELECT data FROM block WHERE id = ?", (block_id,)).fetchone()
        return _unpickle(LettaBlock, row[0])

    def history(self, block_id: str) -> list[LettaHistoryEntry]:
        self._index()
        rows = self.db.execute("SELECT data FROM history WHERE block_id = ? ORDER BY rowid",
                               (block_id,))
        return [_unpickle(LettaHistoryEntry, data) for data, in rows]

    def count_history(self) -> int:
        self._index()
        return self.db.execute("SELECT count(*) FROM history").fetchone()[0]

    def _put(self, table: str, key: str, obj: Any) -> None:
        # The instance dict, not the dataclass: pickling the class's reduce protocol costs
        # more than the data for objects this small.
        rows = self.pending[table]
        rows.append((key, pickle.dumps(obj.__dict__, protocol=pickle.HIGHEST_PROTOCOL)))
        if len(rows) >= 1000 or self.indexed:  # once reads have begun, write at once
            self._flush(table)

    def _flush(self, table: str) -> None:
        # Table names come from this class only.
        self.db.executemany(f"INSERT INTO {table} VALUES (?, ?)", self.pending[table])
        self.pending[table].clear()

    def _index(self) -> None:
        # At the first read: write what is pending, then index once. A sort is much cheaper
        # than random inserts into B-trees keyed by uuids.
        if not self.indexed:
            self._flush("block")
            self._flush("history")
            self.db.execute("CREATE INDEX block_id ON block (id)")
            self.db.execute("CREATE INDEX history_block ON history (block_id)")
            self.indexed = True

    def close(self) -> None:
        self.db.close()


def _unpickle(cls: type[_T], data: bytes) -> _T:
    obj = cls.__new__(cls)
    obj.__dict__.update(pickle.loads(data))
    return obj


@dataclass
class LettaSnapshot:
    """Everything a loader read from one source, before any mapping.

    Blocks and history entries go to a :class:`_SpillStore` as they are added; ``blocks`` keeps
    each block's :class:`BlockFacts`. The ``read_*`` functions close the snapshot when mapped.
    """

    source: str
    origin: str  # path or redacted URL, for messages
    agents: dict[str, LettaAgent] = field(default_factory=dict)
    blocks: dict[str, BlockFacts] = field(default_factory=dict)
    links: set[tuple[str, str]] = field(default_factory=set)  # (agent id, block id)
    identities: list[LettaIdentity] = field(default_factory=list)
    reports: list[SkippedRecord] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # e.g. letta_version
    _store: _SpillStore = field(default_factory=_SpillStore, repr=False)
    _added_tags: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def report(self, kind: str, key: str, reason: str) -> None:
        self.reports.append(SkippedRecord(kind=kind, key=key, reason=reason, source=self.source))

    def add_agent(self, agent: LettaAgent) -> None:
        self.agents.setdefault(agent.id, agent)

    def add_block(self, block: LettaBlock) -> None:
        if block.id in self.blocks:
            return
        self._store.put_block(block)
        self.blocks[block.id] = BlockFacts(
            block.id, block.ref, block.label, block.template_name,
            {k: block.metadata[k] for k in _OWNERSHIP_METADATA if k in block.metadata})
        for problem in block.problems:
            self.report("note", f"block {block.ref}", problem)

    def add_block_tag(self, block_id: str, tag: str) -> None:
        """A tag from a separate tags table (blocks_tags), for a block already added."""
        if block_id in self.blocks:
            self._added_tags.setdefault(block_id, []).append(tag)

    def block(self, block_id: str) -> LettaBlock:
        block = self._store.block(block_id)
        block.tags.extend(self._added_tags.get(block_id, ()))
        return block

    def add_history(self, entry: LettaHistoryEntry) -> None:
        self._store.put_history(entry)

    @property
    def history_count(self) -> int:
        return self._store.count_history()

    def history_of(self, block_id: str) -> list[LettaHistoryEntry]:
        return self._store.history(block_id)

    def close(self) -> None:
        self._store.close()


# --------------------------------------------------------------------------------------------
# Value conversion shared by all sources (DB rows, REST JSON, Agent File JSON)
# --------------------------------------------------------------------------------------------


def _first(row: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in row and row[key] is not None:
            return row[key]
    return None


def _text(value: Any, what: str) -> str:
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
    return None if value is None else _text(value, what)


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


def _bool(value: Any, what: str, default: bool | None = False) -> bool | None:
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
_BLOCK_EXTRA_FIELDS = {
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
_BLOCK_EXTRA_BOOLEANS = {"preserve_on_migration"}


def _block_from_row(row: Mapping[str, Any], *, block_id: str | None = None,
                    ref_prefix: str = "") -> LettaBlock:
    """A block from a DB row (``metadata_``, ``_created_by_id``) or JSON (``metadata``, ...)."""
    f = _Fields(row)
    bid = block_id if block_id is not None else _text(f.get("id"), "id")
    label = _text(f.get("label"), "label")
    if not label:
        raise _RowError("label is empty")
    metadata, raw_metadata = f.metadata("metadata_", "metadata")
    extra = {}
    for name, keys in _BLOCK_EXTRA_FIELDS.items():
        value = f.get(*keys)
        if value is None:
            continue
        if name in _BLOCK_EXTRA_BOOLEANS:
            try:
                value = _bool(value, name)
            except _RowError as exc:
                f.problems.append(f"{exc}; kept as is")
        extra[name] = value if isinstance(value, (str, int, bool, float)) else str(value)
    if raw_metadata is not None:
        extra["raw_metadata"] = raw_metadata
    block = LettaBlock(
        id=bid,
        ref=f"{ref_prefix}{bid}",
        label=label,
        value=_text(f.get("value"), "value"),
        limit=f.int("limit"),
        # 0.11.7 REST aliases template_name as "name" (and always sends null there).
        template_name=_opt_text(f.get("template_name", "name"), "template_name"),
        description=_opt_text(f.get("description"), "description"),
        metadata=metadata,
        read_only=bool(_bool(f.get("read_only"), "read_only")),
        is_template=bool(_bool(f.get("is_template"), "is_template")),
        hidden=_bool(f.get("hidden"), "hidden", default=None),
        deleted=bool(_bool(f.get("is_deleted"), "is_deleted")),
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


def _agent_from_row(row: Mapping[str, Any], *, agent_id: str | None = None,
                    ref_prefix: str = "") -> tuple[LettaAgent, list[str]]:
    f = _Fields(row)
    aid = agent_id if agent_id is not None else _text(f.get("id"), "id")
    metadata, _ = f.metadata("metadata_", "metadata")  # a broken value is reported via problems
    agent = LettaAgent(
        id=aid,
        ref=f"{ref_prefix}{aid}",
        name=_opt_text(f.get("name"), "name") or "",
        metadata=metadata,
        tags=_tags(f.any_json("tags")),
        agent_type=_opt_text(f.get("agent_type"), "agent_type"),
        hidden=_bool(f.get("hidden"), "hidden", default=None),
        deleted=bool(_bool(f.get("is_deleted"), "is_deleted")),
        created_at=f.timestamp("created_at"),
        updated_at=f.timestamp("updated_at"),
    )
    return agent, f.problems


def _history_from_row(row: Mapping[str, Any]) -> LettaHistoryEntry:
    f = _Fields(row)
    try:
        seq = _int(f.get("sequence_number"))
    except ValueError as exc:
        raise _RowError(f"sequence_number {f.get('sequence_number')!r} is not an integer") from exc
    return LettaHistoryEntry(
        id=_text(f.get("id"), "id"),
        block_id=_text(f.get("block_id"), "block_id"),
        sequence_number=seq,
        value=_text(f.get("value"), "value"),
        actor_type=_opt_text(f.get("actor_type"), "actor_type"),
        actor_id=_opt_text(f.get("actor_id"), "actor_id"),
        created_at=f.timestamp("created_at"),
        label=_opt_text(f.get("label"), "label"),
        limit=f.int("limit"),
        description=_opt_text(f.get("description"), "description"),
        metadata=f.any_json("metadata_", "metadata"),
        deleted=bool(_bool(f.get("is_deleted"), "is_deleted")),
    )


def _identity_from_row(row: Mapping[str, Any]) -> LettaIdentity:
    f = _Fields(row)
    return LettaIdentity(
        id=_text(f.get("id"), "id"),
        identifier_key=_text(f.get("identifier_key"), "identifier_key"),
        name=_opt_text(f.get("name"), "name"),
        identity_type=_opt_text(f.get("identity_type"), "identity_type"),
        properties=f.any_json("properties"),
        agent_ids=[a for a in (f.any_json("agent_ids") or []) if isinstance(a, str)],
        block_ids=[b for b in (f.any_json("block_ids") or []) if isinstance(b, str)],
    )


def _row_key(row: Mapping[str, Any], table: str) -> str:
    rid = row.get("id")
    if isinstance(rid, bytes):
        rid = rid.decode("utf-8", "replace")
    return f"{table}/{rid}" if rid is not None else table


# --------------------------------------------------------------------------------------------
# Databases (SQLite ≤0.11, Postgres ≥0.12): one table reader, two drivers
# --------------------------------------------------------------------------------------------

# Columns read per table; absent optional columns (e.g. block.hidden before 0.12) read as NULL.
_TABLES: dict[str, tuple[set[str], list[str]]] = {
    "block": ({"id", "label", "value"}, [
        "id", "label", "value", "limit", "template_name", "description", "metadata_",
        "read_only", "is_template", "hidden", "is_deleted", "version",
        "current_history_entry_id", "created_at", "updated_at", *sorted(
            {k[0] for k in _BLOCK_EXTRA_FIELDS.values()}),
    ]),
    "agents": ({"id"}, ["id", "name", "metadata_", "agent_type", "hidden", "is_deleted",
                        "created_at", "updated_at"]),
    "blocks_agents": ({"agent_id", "block_id"}, ["agent_id", "block_id"]),
    "block_history": ({"id", "block_id", "sequence_number", "value"}, [
        "id", "block_id", "sequence_number", "value", "actor_type", "actor_id", "created_at",
        "label", "limit", "description", "metadata_", "is_deleted"]),
    "agents_tags": ({"agent_id", "tag"}, ["agent_id", "tag"]),
    "blocks_tags": ({"block_id", "tag"}, ["block_id", "tag"]),  # 0.12+
    "identities": ({"id", "identifier_key"}, ["id", "identifier_key", "name", "identity_type",
                                             "properties", "is_deleted"]),
    "identities_agents": ({"identity_id", "agent_id"}, ["identity_id", "agent_id"]),
    "identities_blocks": ({"identity_id", "block_id"}, ["identity_id", "block_id"]),
}
# Tables every Letta generation has; their absence is worth a report.
_EXPECTED_TABLES = {"agents", "blocks_agents", "block_history"}


class _DbTables:
    """Driver interface: which columns a table has, and its rows as dicts, streamed."""

    def columns(self, table: str) -> set[str] | None:  # None: no such table
        raise NotImplementedError

    def rows(self, table: str, columns: list[str]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError


class _SqliteTables(_DbTables):
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def columns(self, table: str) -> set[str] | None:
        cols = {_decode(r[1]) for r in self.conn.execute(f'PRAGMA table_info("{table}")')}
        return cols or None

    def rows(self, table: str, columns: list[str]) -> Iterator[dict[str, Any]]:
        select = ", ".join(f'"{c}"' for c in columns)  # "limit" is a keyword: quote all
        for row in self.conn.execute(f'SELECT {select} FROM "{table}"'):
            yield {c: _decode(v) for c, v in zip(columns, row, strict=True)}


def _decode(value: Any) -> Any:
    # text_factory=bytes keeps one row with invalid UTF-8 from breaking the whole cursor;
    # the row converter reports the undecodable field instead.
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


class _PostgresTables(_DbTables):
    def __init__(self, conn: Any):
        from psycopg import sql
        from psycopg.types.json import set_json_loads

        self.conn = conn
        self.sql = sql
        # psycopg parses json columns itself: one row nested too deeply would fail the whole
        # table. Hand such a value over as text; _json then reports that row's field.
        set_json_loads(_json_or_text, conn)
        self._columns: dict[str, set[str]] = defaultdict(set)
        with conn.cursor() as cur:
            cur.execute("SELECT table_name, column_name FROM information_schema.columns "
                        "WHERE table_schema = current_schema()")
            for table, column in cur.fetchall():
                self._columns[table].add(column)

    def columns(self, table: str) -> set[str] | None:
        return self._columns.get(table) or None

    def rows(self, table: str, columns: list[str]) -> Iterator[dict[str, Any]]:
        sql = self.sql
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(table))
        # A savepoint per table: one unreadable table must not abort the read transaction.
        # A named (server-side) cursor fetches itersize rows at a time instead of the table.
        with self.conn.transaction(), self.conn.cursor(name=f"letta_{table}") as cur:
            cur.itersize = 1000
            cur.execute(query)
            for row in cur:
                yield dict(zip(columns, row, strict=True))


def _json_or_text(data: str | bytes) -> Any:
    try:
        return loads_json(data, what="JSON value")
    except SourceLimitExceeded:
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def _read_table(db: _DbTables, snap: LettaSnapshot, table: str) -> Iterator[dict[str, Any]]:
    """The table's rows with every wanted column (None where the schema lacks it), streamed."""
    required, wanted = _TABLES[table]
    present = db.columns(table)
    if present is None:
        if table == "block":
            raise ImportSourceError(f"{snap.origin}: not a Letta database (no table 'block')")
        if table in _EXPECTED_TABLES:
            snap.report("table", table, "table missing: nothing read from it")
        return
    missing = required - present
    if missing:
        if table == "block":
            raise ImportSourceError(
                f"{snap.origin}: unknown Letta schema (table 'block' lacks {sorted(missing)})")
        snap.report("table", table, f"table lacks columns {sorted(missing)}: nothing read from it")
        return
    columns = [c for c in wanted if c in present]
    absent = [c for c in wanted if c not in present]
    read = 0
    try:
        for row in db.rows(table, columns):
            for c in absent:
                row[c] = None
            read += 1
            yield row
    except Exception as exc:  # driver errors differ per database; the table is what failed
        if table == "block":
            raise ImportSourceError(f"{snap.origin}: cannot read table 'block': {exc}") from exc
        kept = f" (the {read} rows read before the error are kept)" if read else ""
        snap.report("table", table, f"cannot read table: {exc}{kept}")


def _load_database(db: _DbTables, snap: LettaSnapshot) -> LettaSnapshot:
    for row in _read_table(db, snap, "block"):
        try:
            snap.add_block(_block_from_row(row))
        except _RowError as exc:
            snap.report("row", _row_key(row, "block"), str(exc))
    for row in _read_table(db, snap, "agents"):
        try:
            agent, problems = _agent_from_row(row)
        except _RowError as exc:
            snap.report("row", _row_key(row, "agents"), str(exc))
            continue
        snap.add_agent(agent)
        for problem in problems:
            snap.report("note", f"agent {agent.ref}", problem)
    for row in _read_table(db, snap, "agents_tags"):
        agent = snap.agents.get(row["agent_id"])
        if agent is not None and isinstance(row["tag"], str):
            agent.tags.append(row["tag"])
    for row in _read_table(db, snap, "blocks_tags"):
        if isinstance(row["tag"], str):
            snap.add_block_tag(row["block_id"], row["tag"])
    for row in _read_table(db, snap, "blocks_agents"):
        snap.links.add((row["agent_id"], row["block_id"]))
    for row in _read_table(db, snap, "block_history"):
        try:
            snap.add_history(_history_from_row(row))
        except _RowError as exc:
            snap.report("row", _row_key(row, "block_history"), str(exc))
    _load_identities(db, snap)
    return snap


def _load_identities(db: _DbTables, snap: LettaSnapshot) -> None:
    identities: dict[str, LettaIdentity] = {}
    for row in _read_table(db, snap, "identities"):
        try:
            if _bool(row.get("is_deleted"), "is_deleted"):
                continue
            identity = _identity_from_row(row)
        except _RowError as exc:
            snap.report("row", _row_key(row, "identities"), str(exc))
            continue
        identities[identity.id] = identity
    for table, attr, column in (("identities_agents", "agent_ids", "agent_id"),
                                ("identities_blocks", "block_ids", "block_id")):
        if not identities:
            break
        for row in _read_table(db, snap, table):
            identity = identities.get(row["identity_id"])
            if identity is not None:
                getattr(identity, attr).append(row[column])
    snap.identities = list(identities.values())


def load_sqlite(path: str | Path) -> LettaSnapshot:
    """Read a Letta ≤0.11 SQLite database (``~/.letta/sqlite.db``), opened read-only."""
    p = Path(path)
    if not p.is_file():
        raise ImportSourceError(f"Letta SQLite database not found: {p}")
    snap = LettaSnapshot(SOURCE_SQLITE, str(p))
    try:
        conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ImportSourceError(f"cannot open {p} as SQLite: {exc}") from exc
    try:
        conn.text_factory = bytes
        try:
            # One deferred read transaction: every table is read from the same snapshot.
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise ImportSourceError(f"cannot read {p} as SQLite: {exc}") from exc
        return _load_database(_SqliteTables(conn), snap)
    finally:
        conn.close()


def load_postgres(url: str) -> LettaSnapshot:
    """Read a Letta ≥0.12 PostgreSQL database in one read-only, repeatable-read transaction."""
    import psycopg

    origin = redact_url(url)
    try:
        conn = psycopg.connect(url, connect_timeout=15)
    except psycopg.Error as exc:
        raise ImportSourceError(f"cannot connect to {origin}: {exc}".strip()) from exc
    try:
        # Set before the transaction starts; every table is then read from one snapshot, and
        # the per-table transaction() blocks inside become savepoints.
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        snap = LettaSnapshot(SOURCE_POSTGRES, origin)
        with conn.transaction():
            try:
                db = _PostgresTables(conn)
            except psycopg.Error as exc:
                raise ImportSourceError(f"cannot read the schema of {origin}: {exc}") from exc
            return _load_database(db, snap)
    finally:
        conn.close()


def redact_url(url: str) -> str:
    parts = urlparse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlparse.urlunsplit(parts._replace(netloc=netloc))


# --------------------------------------------------------------------------------------------
# REST API
# --------------------------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlparse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a port that is not a number
        port = -1
    return scheme, (parts.hostname or "").lower(), port


class _RedirectRefused(urlerror.URLError):
    def __init__(self, target: str, code: int):
        super().__init__("redirect refused")
        self.target = target
        self.code = code


class _SameOriginRedirects(urlrequest.HTTPRedirectHandler):
    """Follow a redirect only to the server the operator named (scheme, host and port).

    urllib copies every header, Authorization included, to wherever a redirect points: another
    host would get the token, and an internal address would be reached from this machine.
    """

    def __init__(self, origin: tuple[str, str, int | None]):
        self.origin = origin

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        target = urlparse.urljoin(req.full_url, newurl)
        if _origin(target) != self.origin:
            raise _RedirectRefused(target, code)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _LettaHttp:
    def __init__(self, base_url: str, token: str | None, timeout: float,
                 limits: Limits = DEFAULT_LIMITS):
        self.base = base_url.rstrip("/")
        self.headers = {"Accept": "application/json", "User-Agent": "youlab-import"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self.max_bytes = limits.max_response_bytes
        self.opener = urlrequest.build_opener(_SameOriginRedirects(_origin(self.base)))

    def get(self, path: str, params: Iterable[tuple[str, Any]] = ()) -> Any:
        """GET and decode JSON; raises _HttpError for a non-2xx answer, a broken body, a redirect
        to another host, a response over the size limit or JSON nested too deeply."""
        query = urlparse.urlencode(list(params))
        url = f"{self.base}{path}" + (f"?{query}" if query else "")
        req = urlrequest.Request(url, headers=self.headers)
        try:
            with self.opener.open(req, timeout=self.timeout) as resp:
                body = self._read(resp, url)
        except _RedirectRefused as exc:
            target = redact_url(exc.target)
            raise _HttpError(url, exc.code, f"redirect to another server ({target}) refused: "
                             "only the server given is contacted", refused=True) from None
        except urlerror.HTTPError as exc:
            raise _HttpError(url, exc.code, exc.read(300).decode("utf-8", "replace")) from exc
        except (urlerror.URLError, OSError) as exc:
            raise ImportSourceError(f"cannot reach the Letta server at {self.base}: {exc}") from exc
        try:
            return loads_json(body, what="response")
        except SourceLimitExceeded as exc:
            raise _HttpError(url, 200, str(exc), refused=True) from None
        except ValueError as exc:
            raise _HttpError(url, 200, f"response is not JSON ({exc})") from exc

    def _read(self, resp: Any, url: str) -> bytes:
        declared = resp.headers.get("Content-Length")
        too_big = (f"response over the limit of {format_size(self.max_bytes)} "
                   "(--max-response-size); not read")
        if declared and declared.strip().isdigit() and int(declared) > self.max_bytes:
            raise _HttpError(url, resp.status, too_big, refused=True)
        body = resp.read(self.max_bytes + 1)
        if len(body) > self.max_bytes:
            raise _HttpError(url, resp.status, too_big, refused=True)
        return body


class _HttpError(Exception):
    def __init__(self, url: str, status: int, detail: str, *, refused: bool = False):
        super().__init__(f"GET {url} → {status}: {detail}")
        self.status = status
        # Refused by us (redirect elsewhere, too big, too deep): a skipped item in the summary,
        # where a server's own error is a note.
        self.report_kind = "request" if refused else "note"


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def load_api(base_url: str, token: str | None = None, *, timeout: float = 30.0,
             page_size: int = 50, limits: Limits = DEFAULT_LIMITS) -> LettaSnapshot:
    """Read agents, blocks and identities from a running Letta server (0.11 … 0.16 REST).

    REST blind spots, each reported: hidden agents are missing from ``GET /v1/agents/`` (they are
    looked up through the agents of the most shared block), ≥0.12 hides ``hidden`` blocks, no
    version shows ``is_deleted`` (soft-deleted blocks come back as live) or block history, and
    0.11.7 never shows ``template_name``.
    """
    http = _LettaHttp(base_url, token, timeout, limits)
    snap = LettaSnapshot(SOURCE_API, http.base)
    try:
        health = http.get("/v1/health/")
        version = str(health.get("version") or "") if isinstance(health, dict) else ""
    except _HttpError as exc:
        raise ImportSourceError(f"{http.base} does not look like a Letta server ({exc})") from exc
    snap.info["letta_version"] = version or None
    legacy = bool(version) and _version_tuple(version) < (0, 12)
    # How to ask for the relations we need: 0.11 `include_relationships`, 0.12+ `include`.
    # 0.11 loads everything (tags too) when no relationship is named, so list agents bare there.
    agent_params = [] if legacy else [("include", "agent.blocks"), ("include", "agent.tags"),
                                      ("include", "agent.identities")]
    probe_params = ([("include_relationships", "memory")] if legacy else agent_params)

    def essential(path: str, params: list[tuple[str, Any]]) -> Any:
        try:
            return http.get(path, params)
        except _HttpError as exc:
            raise ImportSourceError(f"cannot list Letta data: {exc}") from exc

    def count(path: str) -> int | None:
        try:
            value = http.get(path)
            return value if isinstance(value, int) and not isinstance(value, bool) else None
        except _HttpError as exc:
            snap.report(exc.report_kind, path,
                        f"count not available ({exc}); completeness not checked")
            return None

    # Agents, page by page (cursor = last id; agent pagination is consistent in both versions).
    agents_count = count("/v1/agents/count")
    after = None
    seen_ids: set[str] = set()
    while True:
        params = [("limit", page_size), *agent_params] + ([("after", after)] if after else [])
        page = essential("/v1/agents/", params)
        if not isinstance(page, list):
            raise ImportSourceError(f"GET /v1/agents/ did not return a list: {str(page)[:200]}")
        for item in page:
            _add_api_agent(snap, item)
        new = [a["id"] for a in page if isinstance(a, dict) and a.get("id") not in seen_ids]
        seen_ids.update(new)
        if len(page) < page_size or not new:  # last page, or a server repeating itself
            break
        after = new[-1]
    listed_agents = len(snap.agents)

    # Blocks: 0.11.7's `after=` paging on SQLite is broken (all blocks share a created_at
    # second), so ask for everything in one page and check the total against /count.
    blocks_count = count("/v1/blocks/count")
    limit = max(100, 2 * (blocks_count or 0))
    blocks = essential("/v1/blocks/", [("limit", limit)])
    if not isinstance(blocks, list):
        raise ImportSourceError(f"GET /v1/blocks/ did not return a list: {str(blocks)[:200]}")
    for item in blocks:
        _add_api_block(snap, item)
    if blocks_count is None and len(blocks) >= limit:
        snap.report("block", "?", f"GET /v1/blocks/ returned a full page of {limit} and no count "
                    "is available: blocks beyond it may be missing")

    # Hidden agents: find them through the agents attached to the most shared blocks. Before
    # 0.12, /count includes hidden agents, so we know when to stop; from 0.12 on it does not,
    # so one probe (of the most shared block) is all we can justify.
    linked: dict[str, int] = defaultdict(int)
    for _, block_id in snap.links:
        linked[block_id] += 1
    candidates = sorted(linked, key=lambda b: (-linked[b], b))
    max_probes = 20 if legacy and agents_count is not None else 1
    for block_id in candidates[:max_probes]:
        if legacy and agents_count is not None and len(snap.agents) >= agents_count:
            break
        try:
            attached = http.get(f"/v1/blocks/{urlparse.quote(block_id)}/agents", probe_params)
        except _HttpError as exc:  # the route itself is unusable: do not try every block
            snap.report(exc.report_kind, f"block {block_id}", f"cannot list its agents ({exc})")
            break
        for item in attached if isinstance(attached, list) else []:
            _add_api_agent(snap, item)
    found_hidden = len(snap.agents) - listed_agents
    if agents_count is not None and len(snap.agents) < agents_count:
        snap.report("agent", "?", (
            f"GET /v1/agents/count says {agents_count} but only {len(snap.agents)} agents could be "
            "read: Letta's REST API omits hidden agents; blocks attached only to them are missing "
            "or unowned. Import from the database to get them."))
    elif not legacy:
        snap.report("note", "agents", (
            f"Letta {version or '≥0.12'} omits hidden agents from GET /v1/agents/ and from its "
            f"count; hidden agents found through the most shared block's agents: {found_hidden}. "
            "Others may be missing: import from the database to be sure."))
    if blocks_count is not None and len(snap.blocks) < blocks_count:
        snap.report("block", "?", (
            f"GET /v1/blocks/count says {blocks_count} but only {len(snap.blocks)} blocks are "
            "visible over REST (0.12+ hides blocks with hidden=true; template blocks are not "
            "listed). Import from the database to get them."))
    snap.report("note", "is_deleted", (
        "Letta's REST API does not show soft deletes: blocks deleted in Letta (is_deleted) are "
        "imported as live, and block history is not available. Import from the database for both."))

    _load_api_identities(http, snap, page_size)
    return snap


def _add_api_agent(snap: LettaSnapshot, item: Any) -> None:
    if not isinstance(item, dict):
        snap.report("row", "agents", f"agent is a {type(item).__name__}, not an object")
        return
    try:
        agent, problems = _agent_from_row(item)
    except _RowError as exc:
        snap.report("row", _row_key(item, "agents"), str(exc))
        return
    known = snap.agents.get(agent.id)
    if known is None:
        snap.add_agent(agent)
        for problem in problems:
            snap.report("note", f"agent {agent.ref}", problem)
    elif not known.tags:
        known.tags = agent.tags  # a probe (0.11: memory only) may have come first
    # 0.12+ returns `blocks`; both return `memory.blocks`.
    memory = item.get("memory") if isinstance(item.get("memory"), dict) else {}
    blocks = item.get("blocks") or memory.get("blocks") or []
    for block in blocks if isinstance(blocks, list) else []:
        added = _add_api_block(snap, block)
        if added is not None:
            snap.links.add((agent.id, added))


def _add_api_block(snap: LettaSnapshot, item: Any) -> str | None:
    if not isinstance(item, dict):
        snap.report("row", "blocks", f"block is a {type(item).__name__}, not an object")
        return None
    try:
        block = _block_from_row(item)
    except _RowError as exc:
        snap.report("row", _row_key(item, "block"), str(exc))
        return None
    if block.id not in snap.blocks:
        snap.add_block(block)
    return block.id


def _load_api_identities(http: _LettaHttp, snap: LettaSnapshot, page_size: int) -> None:
    after = None
    while True:
        params = [("limit", page_size)] + ([("after", after)] if after else [])
        try:
            page = http.get("/v1/identities/", params)
        except _HttpError as exc:
            snap.report(exc.report_kind, "identities", f"identities not read ({exc})")
            return
        if not isinstance(page, list):
            return
        for item in page:
            try:
                if not isinstance(item, dict):
                    raise _RowError(f"identity is a {type(item).__name__}, not an object")
                snap.identities.append(_identity_from_row(item))
            except _RowError as exc:
                snap.report("row", "identities", f"identity not read: {exc}")
        if len(page) < page_size or not page or not isinstance(page[-1], dict):
            return
        after = page[-1].get("id")


# --------------------------------------------------------------------------------------------
# Agent Files (.af): v2 (file-local ids, blocks[] + agents[].block_ids), legacy v1 (core_memory)
# --------------------------------------------------------------------------------------------


def load_agent_files(paths: Iterable[str | Path], *,
                     limits: Limits = DEFAULT_LIMITS) -> LettaSnapshot:
    """Read several Agent Files into one snapshot, so blocks shared across files map once.

    File-local ids (``agent-0``, ``block-0``) are prefixed with the file name. A file that does
    not exist raises ImportSourceError; a file that exists but is broken, over
    ``limits.max_response_bytes`` or nested too deeply is reported and skipped.
    """
    snap = LettaSnapshot(SOURCE_AGENT_FILE, "")
    names: set[str] = set()
    origins = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise ImportSourceError(f"Agent File not found: {p}")
        name = p.name
        n = 2
        while name in names:  # two files of the same name from different folders
            name, n = f"{p.name}#{n}", n + 1
        names.add(name)
        origins.append(str(p))
        try:
            with p.open("rb") as fh:
                raw = fh.read(limits.max_response_bytes + 1)
        except OSError as exc:
            raise ImportSourceError(f"cannot read Agent File {p}: {exc}") from exc
        if len(raw) > limits.max_response_bytes:
            snap.report("file", name, f"over the limit of {format_size(limits.max_response_bytes)}"
                        " (--max-response-size); not read")
            continue
        _load_agent_file(snap, name, raw)
    snap.origin = ", ".join(origins)
    return snap


def _load_agent_file(snap: LettaSnapshot, name: str, raw: bytes) -> None:
    try:
        doc: Any = loads_json(raw.decode("utf-8-sig"), what="the file")
        # Some published files are a JSON string holding the JSON document.
        for _ in range(3):
            if not isinstance(doc, str):
                break
            doc = loads_json(doc, what="the file")
    except SourceLimitExceeded as exc:
        snap.report("file", name, str(exc))
        return
    except (UnicodeDecodeError, ValueError) as exc:
        snap.report("file", name, f"not valid JSON: {exc}")
        return
    if isinstance(doc, dict) and isinstance(doc.get("agents"), list):
        _load_agent_file_v2(snap, name, doc)
    elif isinstance(doc, dict) and isinstance(doc.get("core_memory"), list):
        _load_agent_file_legacy(snap, name, doc)
    else:
        what = f"keys {sorted(doc)[:8]}" if isinstance(doc, dict) else type(doc).__name__
        snap.report("file", name, f"not a Letta Agent File (no agents[] or core_memory[]; {what})")


def _load_agent_file_v2(snap: LettaSnapshot, name: str, doc: dict[str, Any]) -> None:
    prefix = f"{name}:"
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    file_info = {"file": name, "file_format": "v2", "revision_id": meta.get("revision_id")}
    blocks = doc.get("blocks") if isinstance(doc.get("blocks"), list) else []
    if not isinstance(doc.get("blocks"), list):
        snap.report("file", name, "blocks is not a list; no blocks read")
    for i, item in enumerate(blocks):
        if not isinstance(item, dict):
            snap.report("row", f"{name}:blocks[{i}]", f"block is a {type(item).__name__}")
            continue
        try:
            local = _text(item.get("id"), "id")
            block = _block_from_row(item, block_id=prefix + local)
        except _RowError as exc:
            snap.report("row", f"{name}:blocks[{i}]", str(exc))
            continue
        block.ref = prefix + local
        block.extra.update(file_info, file_block_id=local)
        snap.add_block(block)
    for i, item in enumerate(doc["agents"]):
        if not isinstance(item, dict):
            snap.report("row", f"{name}:agents[{i}]", f"agent is a {type(item).__name__}")
            continue
        try:
            local = _text(item.get("id") or f"agents[{i}]", "id")
            agent, problems = _agent_from_row(item, agent_id=prefix + local)
        except _RowError as exc:
            snap.report("row", f"{name}:agents[{i}]", str(exc))
            continue
        agent.extra.update(file=name, file_agent_id=local)
        snap.add_agent(agent)
        for problem in problems:
            snap.report("note", f"agent {agent.ref}", problem)
        block_ids = item.get("block_ids") if isinstance(item.get("block_ids"), list) else []
        for local_block in block_ids:
            bid = prefix + str(local_block)
            if bid in snap.blocks:
                snap.links.add((agent.id, bid))
            else:
                snap.report("row", f"{agent.ref}.block_ids", f"unknown block id {local_block!r}")
        # Files from older exporters may carry block specs inline instead of blocks[].
        inline = item.get("memory_blocks") if isinstance(item.get("memory_blocks"), list) else []
        for j, spec in enumerate(inline):
            _add_inline_block(snap, spec, f"{agent.id}/memory_blocks[{j}]", agent.id, file_info)


def _load_agent_file_legacy(snap: LettaSnapshot, name: str, doc: dict[str, Any]) -> None:
    # One agent per file, blocks inline without ids (AgentManager.serialize, letta ≤0.11).
    file_info = {"file": name, "file_format": "legacy-v1", "letta_version": doc.get("version")}
    agent_id = f"{name}:agent"
    try:
        agent, problems = _agent_from_row(doc, agent_id=agent_id)
    except _RowError as exc:
        snap.report("file", name, f"agent not read: {exc}")
        return
    agent.extra.update(file=name)
    snap.add_agent(agent)
    snap.report("note", name, "legacy Agent File: blocks have no ids and no read_only flag; "
                "every block is read as writable")
    for problem in problems:
        snap.report("note", f"agent {agent.ref}", problem)
    for i, item in enumerate(doc["core_memory"]):
        _add_inline_block(snap, item, f"{name}:core_memory[{i}]", agent_id, file_info)


def _add_inline_block(snap: LettaSnapshot, spec: Any, bid: str, agent_id: str,
                      file_info: dict[str, Any]) -> None:
    """A block given inline in an agent (no id of its own), linked to that agent."""
    try:
        if not isinstance(spec, dict):
            raise _RowError(f"block is a {type(spec).__name__}")
        block = _block_from_row(spec, block_id=bid)
    except _RowError as exc:
        snap.report("row", bid, str(exc))
        return
    block.extra.update(file_info)
    snap.add_block(block)
    snap.links.add((agent_id, bid))


# --------------------------------------------------------------------------------------------
# Public readers
# --------------------------------------------------------------------------------------------


def _records(snap: LettaSnapshot, user_id: str | None) -> Iterator[ImportRecord]:
    try:
        yield from map_letta(snap, user_id=user_id)
    finally:
        snap.close()  # deletes the spill file now rather than whenever the snapshot is collected


def read_sqlite(path: str | Path, *, user_id: str | None = None) -> Iterator[ImportRecord]:
    """Records from a Letta ≤0.11 SQLite file. Raises ImportSourceError if it cannot be read."""
    return _records(load_sqlite(path), user_id)


def read_postgres(url: str, *, user_id: str | None = None) -> Iterator[ImportRecord]:
    """Records from a Letta ≥0.12 PostgreSQL database (``postgresql://…``)."""
    return _records(load_postgres(url), user_id)


def read_api(base_url: str, token: str | None = None, *, user_id: str | None = None,
             timeout: float = 30.0, limits: Limits = DEFAULT_LIMITS) -> Iterator[ImportRecord]:
    """Records from a running Letta server's REST API (token sent as ``Bearer``, to that server
    only: redirects elsewhere are refused)."""
    return _records(load_api(base_url, token, timeout=timeout, limits=limits), user_id)


def read_agent_file(path: str | Path, *, user_id: str | None = None) -> Iterator[ImportRecord]:
    """Records from one Agent File (v2, legacy v1, or either JSON-encoded twice)."""
    return read_agent_files([path], user_id=user_id)


def read_agent_files(paths: Iterable[str | Path], *, user_id: str | None = None,
                     limits: Limits = DEFAULT_LIMITS) -> Iterator[ImportRecord]:
    """Records from several Agent Files read together (``--agent-file`` repeated)."""
    return _records(load_agent_files(paths, limits=limits), user_id)


# --------------------------------------------------------------------------------------------
# Mapping: Letta rows → records (design.md §7), the same for every source
# --------------------------------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]




def value_key(owner_type: str, owner_id: str, label: str, value: str) -> str:
    """The import key of a block value: owner, label and content only, the same from any source.

    Long owner ids or labels would overflow the column; the owner and label are hashed then.
    """
    key = f"letta:{owner_type}:{owner_id}:{label}:value:{_digest(value)}"
    if len(key) > MAX_IMPORT_KEY_LENGTH:
        owner_and_label = _digest(owner_id + "\n" + label)
        key = f"letta:{owner_type}:sha256:{owner_and_label}:value:{_digest(value)}"
    return key


def agent_learner(agent: LettaAgent) -> str | None:
    """The YouLab learner an agent works for, or None for a non-YouLab agent."""
    uid = agent.metadata.get("youlab_user_id")
    if isinstance(uid, int) and not isinstance(uid, bool):
        uid = str(uid)
    if isinstance(uid, str) and uid.strip():
        return uid.strip()
    match = _AGENT_NAME.fullmatch(agent.name or "")
    return match.group("user") if match else None


def _agent_type(agent: LettaAgent) -> str | None:
    kind = agent.metadata.get("youlab_agent_type")
    if isinstance(kind, str) and kind:
        return kind
    match = _AGENT_NAME.fullmatch(agent.name or "")
    return match.group("type") if match else None


def _agent_course(agent: LettaAgent) -> str | None:
    course = agent.metadata.get("course_id")
    if isinstance(course, str) and course:
        return course
    for tag in agent.tags:
        if tag.startswith("course:") and len(tag) > 7:
            return tag[7:]
    return None


def _template_part(template: str | None, prefix: str, label: str) -> str | None:
    """``{prefix}{middle}_{label}`` → middle. The known label makes underscores unambiguous."""
    if not template or not template.startswith(prefix):
        return None
    rest = template[len(prefix):]
    suffix = f"_{label}"
    if rest.endswith(suffix) and len(rest) > len(suffix):
        return rest[: -len(suffix)]
    return None


def _is_youlab_block(block: LettaBlock) -> bool:
    return bool(
        (block.template_name or "").startswith((_USER_TEMPLATE_PREFIX, _SHARED_TEMPLATE_PREFIX))
        or block.metadata.get("youlab_user_id") or block.metadata.get("youlab_shared"))


@dataclass(frozen=True)
class _Owner:
    owner_type: str
    owner_id: str
    shared_reason: str = ""


class _Mapper:
    """The mapping rules, applied to one snapshot."""

    def __init__(self, snap: LettaSnapshot):
        self.snap = snap
        self.learner_of = {a.id: learner for a in snap.agents.values()
                           if (learner := agent_learner(a)) is not None}
        self.agents_of: dict[str, list[LettaAgent]] = defaultdict(list)
        self.dangling: list[tuple[str, str]] = []
        for agent_id, block_id in sorted(snap.links):
            agent = snap.agents.get(agent_id)
            if agent is None or block_id not in snap.blocks:
                self.dangling.append((agent_id, block_id))
            else:
                self.agents_of[block_id].append(agent)
        # Reports made while mapping, with the learners they concern (for --user).
        self.reports: list[tuple[frozenset[str], SkippedRecord]] = []

    def report(self, learners: Iterable[str], kind: str, key: str, reason: str) -> None:
        record = SkippedRecord(kind=kind, key=key, reason=reason, source=self.snap.source)
        self.reports.append((frozenset(learners), record))

    def learners_using(self, block: BlockFacts | LettaBlock) -> frozenset[str]:
        agents = [a for a in self.agents_of.get(block.id, []) if a.id in self.learner_of]
        # A soft-deleted agent counts only when no live one uses the block, so a deleted agent
        # left linked to another learner's block does not turn that block into a shared one.
        live = [a for a in agents if not a.deleted] or agents
        return frozenset(self.learner_of[a.id] for a in live)

    # -- ownership ------------------------------------------------------------------------

    def owner(self, block: BlockFacts) -> _Owner | None:
        agents = self.agents_of.get(block.id, [])
        learners = self.learners_using(block)
        template = block.template_name or ""
        if template.startswith(_SHARED_TEMPLATE_PREFIX) or block.metadata.get("youlab_shared"):
            course = (_template_part(template, _SHARED_TEMPLATE_PREFIX, block.label)
                      or self.course(block, agents))
            return _Owner(OWNER_SHARED, course, "youlab_shared template name or metadata")
        if len(learners) > 1:
            return _Owner(OWNER_SHARED, self.course(block, agents),
                          f"attached to agents of {len(learners)} learners")
        if learners:
            return _Owner(OWNER_USER, next(iter(learners)))
        uid = _template_part(template, _USER_TEMPLATE_PREFIX, block.label)
        if uid is None:
            meta_uid = block.metadata.get("youlab_user_id")
            if isinstance(meta_uid, (str, int)) and not isinstance(meta_uid, bool):
                uid = str(meta_uid).strip() or None
        if uid is not None:
            return _Owner(OWNER_USER, uid)
        if agents:
            names = ", ".join(sorted(a.name or a.ref for a in agents))
            reason = f"{block.label!r} belongs only to non-YouLab agent(s): {names}"
        else:
            reason = (f"{block.label!r} has no owner: attached to no known YouLab agent, and no "
                      "youlab_user_/youlab_shared_ template name or youlab metadata")
        self.report((), "block", block.ref, reason)
        return None

    def course(self, block: BlockFacts, agents: list[LettaAgent]) -> str:
        """Namespace of a shared block: its course id, else its YouLab agents' single course."""
        course = block.metadata.get("course_id")
        if isinstance(course, str) and course:
            return course
        courses = {c for a in agents if a.id in self.learner_of if (c := _agent_course(a))}
        return next(iter(courses)) if len(courses) == 1 else FALLBACK_SHARED_NAMESPACE

    # -- versions -------------------------------------------------------------------------

    def actor(self, actor_type: str | None, actor_id: str | None) -> str:
        if actor_type == "letta_agent" and actor_id:
            agent = self.snap.agents.get(actor_id)
            return f"agent:{agent.name if agent is not None and agent.name else actor_id}"
        return IMPORT_ACTOR

    def checkpoints(self, block: LettaBlock) -> tuple[list[VersionRecord], int | None]:
        """block_history rows as versions (undone ones too), and the current checkpoint's seq."""
        entries = sorted(self.snap.history_of(block.id), key=lambda e: (e.sequence_number, e.id))
        pointer = next((e.sequence_number for e in entries
                        if e.id == block.current_history_entry_id), None)
        versions = []
        for e in entries:
            undone = pointer is not None and e.sequence_number > pointer
            info = {
                "history_id": e.id, "block_id": block.id, "sequence_number": e.sequence_number,
                "actor_type": e.actor_type, "actor_id": e.actor_id, "label": e.label,
                "limit": e.limit, "description": e.description, "metadata": e.metadata,
                "undone": undone or None, "is_deleted": e.deleted or None,
            }
            versions.append(VersionRecord(
                content=e.value,
                import_key=f"letta:history:{e.id}",
                actor=self.actor(e.actor_type, e.actor_id),
                reason=f"Letta checkpoint {e.sequence_number}" + (" (undone)" if undone else ""),
                date=e.created_at,
                metadata={"letta": _compact(info)},
            ))
        return versions, pointer

    @staticmethod
    def current_reason(block: LettaBlock, checkpoints: list[VersionRecord],
                       pointer: int | None) -> str:
        """Why the current value is what it is (used if the core appends it as a version)."""
        if not checkpoints:
            return "Letta block value"
        at_pointer = next((v for v in checkpoints
                           if v.metadata["letta"]["sequence_number"] == pointer), None)
        if at_pointer is not None and at_pointer.content == block.value:
            if checkpoints[-1] is not at_pointer:
                return f"Letta undo to checkpoint {pointer}"
            return f"Letta checkpoint {pointer}"
        if pointer is None:
            return "Letta block value (after its checkpoints)"
        return f"Letta edit after checkpoint {pointer}"

    # -- records --------------------------------------------------------------------------

    def block_record(self, owner: _Owner, label: str, group: list[BlockFacts]) -> BlockRecord:
        blocks = [self.snap.block(facts.id) for facts in group]
        # Current last: live before soft-deleted, then the YouLab-managed block over an agent's
        # own inline one whatever their timestamps (design.md §7: sources store them with
        # different precision), then updated_at, then Letta's edit counter, then the id
        # (deterministic whatever the source's order).
        ordered = sorted(blocks, key=lambda b: (
            not b.deleted, _is_youlab_block(b), b.updated_at or b.created_at or _EPOCH,
            b.version or 0, b.id))
        current, earlier = ordered[-1], ordered[:-1]
        concerned = frozenset().union(*(self.learners_using(b) for b in blocks))
        if owner.owner_type == OWNER_USER:
            concerned |= {owner.owner_id}

        versions: list[VersionRecord] = []
        merged = []
        for block in earlier:
            versions.extend(self.checkpoints(block)[0])
            if block.value not in (versions[-1].content if versions else None, current.value):
                versions.append(VersionRecord(
                    content=block.value,
                    # Same scheme as a current value: another source may hold it as current.
                    import_key=value_key(owner.owner_type, owner.owner_id, label, block.value),
                    actor=IMPORT_ACTOR,
                    reason=f"Letta block {block.ref} merged as an earlier version",
                    date=block.updated_at or block.created_at,
                    metadata={"letta": self.block_info(block, full=True)},
                ))
            merged.append(self.block_info(block, full=True))
            self.report(concerned, "note", block.ref, (
                f"merged into {owner.owner_type}:{owner.owner_id}/{label} as an earlier version: "
                f"{len(blocks)} Letta blocks map there and {current.ref} is the newest"))
        checkpoints, pointer = self.checkpoints(current)
        versions.extend(checkpoints)

        letta = self.block_info(current)
        if merged:
            letta["merged_blocks"] = merged
        if owner.shared_reason:
            letta["shared_reason"] = owner.shared_reason
        metadata = dict(current.metadata)
        if "letta" in metadata:  # a source key of that name is kept, not overwritten
            letta["source_metadata_letta"] = metadata.pop("letta")
        metadata["letta"] = letta

        return BlockRecord(
            owner_type=owner.owner_type,
            owner_id=owner.owner_id,
            label=label,
            content=current.value,
            source=self.snap.source,
            source_key=current.ref,
            current_key=value_key(owner.owner_type, owner.owner_id, label, current.value),
            versions=versions,
            description=current.description or "",
            char_limit=current.limit,
            read_only=current.read_only,
            metadata=metadata,
            deleted=current.deleted,
            created_at=current.created_at,
            updated_at=current.updated_at,
            current_actor=IMPORT_ACTOR,
            current_reason=self.current_reason(current, checkpoints, pointer),
        )

    def block_info(self, block: LettaBlock, *, full: bool = False) -> dict[str, Any]:
        """Letta facts about a block that have no column (``full``: also those that do)."""
        from_file = "file" in block.extra  # ids in Agent Files are file-local: not kept as ids
        info: dict[str, Any] = {
            "block_id": None if from_file else block.id,
            "template_name": block.template_name,
            "is_template": block.is_template or None,
            "hidden": block.hidden,
            "is_deleted": block.deleted or None,
            "version": block.version,
            "current_history_entry_id": block.current_history_entry_id,
            "tags": block.tags or None,
            "agents": [self.agent_ref(a) for a in self.agents_of.get(block.id, [])],
            "created_at": block.created_at.isoformat() if block.created_at else None,
            "updated_at": block.updated_at.isoformat() if block.updated_at else None,
            "letta_version": self.snap.info.get("letta_version"),
            **block.extra,
        }
        if full:
            info.update(label=block.label, limit=block.limit, description=block.description,
                        read_only=block.read_only, metadata=block.metadata or None)
        return _compact(info)

    @staticmethod
    def agent_ref(agent: LettaAgent) -> dict[str, Any]:
        return _compact({"id": None if "file" in agent.extra else agent.id, "name": agent.name,
                         "hidden": agent.hidden or None, **agent.extra})

    def learner_record(self, user_id: str, agents: list[LettaAgent]) -> LearnerRecord:
        letta: dict[str, Any] = {"agents": [{
            **self.agent_ref(a),
            **_compact({"type": _agent_type(a), "course_id": _agent_course(a),
                        "course_version": a.metadata.get("course_version"),
                        "tags": a.tags or None, "is_deleted": a.deleted or None}),
        } for a in agents]}
        identity = next((i for i in self.snap.identities if i.identifier_key == user_id), None)
        if identity is not None:
            letta["identity"] = _compact({
                "id": identity.id, "name": identity.name, "identity_type": identity.identity_type,
                "properties": identity.properties})
        display_name, email = _learner_names(identity, agents)
        return LearnerRecord(user_id=user_id, source=self.snap.source,
                             source_key=",".join(a.ref for a in agents), metadata={"letta": letta},
                             display_name=display_name, email=email)


# Where a learner's name and email may sit, first found wins: the identity's name, the identity's
# properties, then the agents' metadata (never an agent's own `name`).
_NAME_KEYS = ("display_name", "youlab_user_name", "youlab_display_name", "user_name")
_EMAIL_KEYS = ("email", "youlab_user_email", "user_email")


def _learner_names(identity: LettaIdentity | None, agents: list[LettaAgent]) -> tuple[str, str]:
    """(display name, email) of a learner from their Letta identity and agents ("" if none)."""
    names: list[Any] = []
    emails: list[Any] = []
    if identity is not None:
        names.append(identity.name)
        properties = identity.properties if isinstance(identity.properties, list) else []
        found = {p["key"]: p.get("value") for p in properties
                 if isinstance(p, dict) and isinstance(p.get("key"), str)}
        names += [found.get(k) for k in ("name", *_NAME_KEYS)]
        emails += [found.get(k) for k in _EMAIL_KEYS]
    for agent in agents:
        metadata = agent.metadata if isinstance(agent.metadata, dict) else {}
        names += [metadata.get(k) for k in _NAME_KEYS]
        emails += [metadata.get(k) for k in _EMAIL_KEYS]

    def first(values):
        return next((v.strip() for v in values if isinstance(v, str) and v.strip()), "")

    return first(names), first(emails)


def _compact(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if v is not None}


def map_letta(snap: LettaSnapshot, *, user_id: str | None = None) -> Iterator[ImportRecord]:
    """Yield LearnerRecords, then BlockRecords, then SkippedRecords for one snapshot.

    ``user_id`` restricts the output to one learner: their blocks, the shared blocks their
    agents use, reports about them, and reports about the source as a whole.
    """
    mapper = _Mapper(snap)
    for agent in sorted(snap.agents.values(), key=lambda a: a.ref):
        if agent.id not in mapper.learner_of:
            mapper.report((), "agent", agent.ref, (
                f"not a YouLab agent: {agent.name or '(no name)'!r} has no metadata.youlab_user_id "
                "and its name is not youlab_<user>_<tutor|background>"))
    for agent_id, block_id in mapper.dangling:
        mapper.report((), "row", f"blocks_agents/{agent_id}/{block_id}",
                      "link to an unknown agent or block; ignored")

    groups: dict[tuple[str, str, str], list[BlockFacts]] = defaultdict(list)
    shared_reasons: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for block in sorted(snap.blocks.values(), key=lambda b: b.id):
        owner = mapper.owner(block)
        if owner is not None:
            key = (owner.owner_type, owner.owner_id, block.label)
            groups[key].append(block)
            shared_reasons[key].add(owner.shared_reason)

    learners: dict[str, list[LettaAgent]] = defaultdict(list)
    for agent in sorted(snap.agents.values(), key=lambda a: a.ref):
        if agent.id in mapper.learner_of:
            learners[mapper.learner_of[agent.id]].append(agent)
    for owner_type, owner_id, _ in groups:
        if owner_type == OWNER_USER:
            learners.setdefault(owner_id, [])
    for uid in sorted(learners):
        if user_id is None or uid == user_id:
            yield mapper.learner_record(uid, learners[uid])

    for key, blocks in sorted(groups.items()):
        owner_type, owner_id, label = key
        if user_id is not None:
            users = frozenset().union(*(mapper.learners_using(b) for b in blocks))
            if (owner_id != user_id) if owner_type == OWNER_USER else (user_id not in users):
                continue
        owner = _Owner(owner_type, owner_id, "; ".join(sorted(shared_reasons[key] - {""})))
        yield mapper.block_record(owner, label, blocks)

    yield from snap.reports  # about the source as a whole: kept under a --user filter too
    for learners_concerned, record in mapper.reports:
        if user_id is None or user_id in learners_concerned:
            yield record
