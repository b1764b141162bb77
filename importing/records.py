"""Plain records that every importer reader yields and the importer core writes.

Readers (Letta SQLite/Postgres/REST/Agent File, YouLab v1 git) know nothing about Django
models: they only produce these dataclasses. The core (``importing.core``) is the one
place that turns them into blocks, history rows and pending diffs, so every source gets the same
idempotency, reporting and Dolt behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

OWNER_USER = "user"
OWNER_SHARED = "shared"
# block_history.import_key / pending_diffs.import_key: readers keep their keys within it.
MAX_IMPORT_KEY_LENGTH = 255


@dataclass(frozen=True)
class VersionRecord:
    """One historical version of a block, as the source recorded it.

    ``import_key`` identifies the version in its source (a Letta block_history id, a git
    commit sha + path, ...). The core stores it on the history row, so a re-run skips versions
    it has already imported.
    """

    content: str
    import_key: str
    actor: str = "system"  # e.g. "import:letta", "agent:<id>", "user", "system"
    reason: str = ""
    date: datetime | None = None  # timezone-aware; None = unknown (the core uses the block's date)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class BlockRecord:
    """A block with its full history, oldest version first.

    ``content`` is the current value. When ``versions`` is empty, or its last entry's content
    differs from ``content``, the core adds one more version for the current value (keyed by
    ``current_key``), so the block's newest version always equals its current content.
    """

    owner_type: str  # OWNER_USER or OWNER_SHARED
    owner_id: str  # learner id or shared namespace
    label: str
    content: str
    source: str  # "letta:sqlite", "letta:postgres", "letta:api", "letta:agent-file", "youlab_v1"
    source_key: str  # the block's id in the source (Letta block id, "<user>/<path>" ...)
    current_key: str = ""  # import key for the current value; default derived by the core
    versions: list[VersionRecord] = field(default_factory=list)
    description: str = ""
    char_limit: int | None = None
    read_only: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    current_actor: str = "system"
    current_reason: str = ""


@dataclass
class DiffRecord:
    """A proposal carried over from the source (v1 pending_diffs/*.json)."""

    owner_type: str
    owner_id: str
    label: str
    operation: str  # canonical op (append, str_replace, insert, rethink, create)
    arguments: dict[str, Any]
    status: str  # pending, approved, rejected, conflict, superseded
    source: str
    import_key: str  # stable id in the source (v1: the diff's uuid)
    proposed_content: str | None = None
    reasoning: str = ""
    agent_id: str = ""
    conflict_reason: str = ""
    created_at: datetime | None = None
    reviewed_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # original op, confidence, field ...


@dataclass
class LearnerRecord:
    """A learner seen in the source, even one with nothing to import (an empty v1 repo).

    ``display_name`` / ``email``: what the source knows of the learner's name ("" if nothing);
    the core fills the learner's profile with them, never overwriting a name already there.
    """

    user_id: str
    source: str
    source_key: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    display_name: str = ""
    email: str = ""


@dataclass
class SkippedRecord:
    """Something the reader could not or would not import, and why."""

    kind: str  # "agent", "block", "file", "diff", "row", ...
    key: str
    reason: str
    source: str = ""


ImportRecord = LearnerRecord | BlockRecord | DiffRecord | SkippedRecord
