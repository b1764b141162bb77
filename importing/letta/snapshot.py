"""The snapshot model: the plain Letta data every source produces, before any mapping.

Whatever a source spells them like (SQLite and PostgreSQL rows, REST JSON, Agent Files), its
loader turns what it reads into these "Letta rows": agents, blocks, agent↔block links,
block_history entries and identities, collected with the problems met on the way in one
:class:`LettaSnapshot`. The mapping (:mod:`importing.letta.mapping`) reads nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from urllib import parse as urlparse

from ..records import SkippedRecord
from .spill import SpillStore

SOURCE_SQLITE = "letta:sqlite"
SOURCE_POSTGRES = "letta:postgres"
SOURCE_API = "letta:api"
SOURCE_AGENT_FILE = "letta:agent-file"


class ImportSourceError(Exception):
    """The source cannot be opened, or is not Letta data at all: nothing can be read from it."""


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
    metadata: dict[str, Any]  # only the keys in OWNERSHIP_METADATA


# Block metadata keys the ownership rules read (design.md §7).
OWNERSHIP_METADATA = ("youlab_shared", "youlab_user_id", "course_id")


@dataclass
class LettaSnapshot:
    """Everything a loader read from one source, before any mapping.

    Blocks and history entries go to a :class:`SpillStore` as they are added; ``blocks`` keeps
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
    _store: SpillStore = field(default_factory=SpillStore, repr=False)
    _added_tags: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def report(self, kind: str, key: str, reason: str) -> None:
        self.reports.append(SkippedRecord(kind=kind, key=key, reason=reason, source=self.source))

    def add_agent(self, agent: LettaAgent) -> None:
        self.agents.setdefault(agent.id, agent)

    def add_block(self, block: LettaBlock) -> None:
        if block.id in self.blocks:
            return
        self._store.put("block", block.id, block)
        self.blocks[block.id] = BlockFacts(
            block.id, block.ref, block.label, block.template_name,
            {k: block.metadata[k] for k in OWNERSHIP_METADATA if k in block.metadata})
        for problem in block.problems:
            self.report("note", f"block {block.ref}", problem)

    def add_block_tag(self, block_id: str, tag: str) -> None:
        """A tag from a separate tags table (blocks_tags), for a block already added."""
        if block_id in self.blocks:
            self._added_tags.setdefault(block_id, []).append(tag)

    def block(self, block_id: str) -> LettaBlock:
        block = self._store.first("block", block_id, LettaBlock)
        block.tags.extend(self._added_tags.get(block_id, ()))
        return block

    def add_history(self, entry: LettaHistoryEntry) -> None:
        self._store.put("history", entry.block_id, entry)

    @property
    def history_count(self) -> int:
        return self._store.count("history")

    def history_of(self, block_id: str) -> list[LettaHistoryEntry]:
        return self._store.all("history", block_id, LettaHistoryEntry)

    def close(self) -> None:
        self._store.close()


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``: a snapshot's origin, safe to print."""
    parts = urlparse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlparse.urlunsplit(parts._replace(netloc=netloc))
