"""The snapshot model: the plain Letta data every source produces, before any mapping.

Whatever a source spells them like (SQLite and PostgreSQL rows, REST JSON, Agent Files), its
loader turns what it reads into these "Letta rows": agents, blocks, agent↔block links,
block_history entries and identities, collected with the problems met on the way in one
:class:`LettaSnapshot`. The mapping (:mod:`importing.letta.mapping`) reads nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from collections.abc import Iterable, Iterator
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
    """What the ownership and grouping rules need of a block (kept apart from its value)."""

    id: str
    ref: str
    label: str
    template_name: str | None
    metadata: dict[str, Any]  # only the keys in OWNERSHIP_METADATA


# Block metadata keys the ownership rules read (design.md §7).
OWNERSHIP_METADATA = ("youlab_shared", "youlab_user_id", "course_id")


class SpilledAgents:
    """A snapshot's agents, kept in its spill store: read like a dict by agent id.

    An agent read back is a copy: tags added later go through :meth:`LettaSnapshot.add_agent_tags`.
    """

    def __init__(self, store: SpillStore):
        self._store = store

    def get(self, agent_id: Any) -> LettaAgent | None:
        return self._store.agent(agent_id, LettaAgent)

    def __contains__(self, agent_id: Any) -> bool:
        return self._store.has_agent(agent_id)

    def __len__(self) -> int:
        return self._store.agent_count()

    def values(self) -> Iterator[LettaAgent]:
        return self._store.agents(LettaAgent)


class SpilledFacts:
    """Each block's :class:`BlockFacts`, kept in the spill store: read like a dict by block id."""

    def __init__(self, store: SpillStore):
        self._store = store

    def __getitem__(self, block_id: Any) -> BlockFacts:
        facts = self._store.fact(block_id)
        if facts is None:
            raise KeyError(block_id)
        return BlockFacts(*facts)

    def __contains__(self, block_id: Any) -> bool:
        return self._store.fact(block_id) is not None

    def __len__(self) -> int:
        return self._store.fact_count()

    def __iter__(self) -> Iterator[str]:
        return self._store.block_ids()

    def values(self) -> Iterator[BlockFacts]:
        """By block id."""
        return (BlockFacts(*facts) for facts in self._store.facts())


class SpilledLinks:
    """The (agent id, block id) links, kept in the spill store: a set that only grows."""

    def __init__(self, store: SpillStore):
        self._store = store

    def add(self, link: tuple[Any, Any]) -> None:
        self._store.add_links([link])

    def update(self, links: Iterable[tuple[Any, Any]]) -> None:
        self._store.add_links(links)

    def __len__(self) -> int:
        return self._store.link_count()

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return self._store.links()


@dataclass
class LettaSnapshot:
    """Everything a loader read from one source, before any mapping.

    Agents, block facts, links, whole blocks and history entries go to a :class:`SpillStore` as
    they are added (``agents``, ``blocks`` and ``links`` read them back); the mapping asks the
    store for one block, group or learner at a time. The ``read_*`` functions close the snapshot
    when mapped.
    """

    source: str
    origin: str  # path or redacted URL, for messages
    identities: list[LettaIdentity] = field(default_factory=list)
    reports: list[SkippedRecord] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # e.g. letta_version
    _store: SpillStore = field(default_factory=SpillStore, repr=False)

    def __post_init__(self) -> None:
        self.agents = SpilledAgents(self._store)
        self.blocks = SpilledFacts(self._store)
        self.links = SpilledLinks(self._store)

    @property
    def store(self) -> SpillStore:
        return self._store

    def report(self, kind: str, key: str, reason: str) -> None:
        self.reports.append(SkippedRecord(kind=kind, key=key, reason=reason, source=self.source))

    def add_agent(self, agent: LettaAgent) -> None:
        """Keep an agent; a second one with the same id is ignored."""
        self._store.add_agent(agent.id, agent.ref, agent)

    def add_agent_tags(self, agent_id: str, tags: Iterable[str]) -> None:
        """Tags for an agent already added (agents_tags; a REST probe that came first)."""
        self._store.add_agent_tags(agent_id, tags)

    def add_block(self, block: LettaBlock) -> None:
        facts = BlockFacts(
            block.id, block.ref, block.label, block.template_name,
            {k: block.metadata[k] for k in OWNERSHIP_METADATA if k in block.metadata})
        if not self._store.add_fact(block.id, facts):
            return
        self._store.put("block", block.id, block)
        for problem in block.problems:
            self.report("note", f"block {block.ref}", problem)

    def add_block_tag(self, block_id: str, tag: str) -> None:
        """A tag from a separate tags table (blocks_tags), for a block already added."""
        if block_id in self.blocks:
            self._store.add_block_tag(block_id, tag)

    def block(self, block_id: str) -> LettaBlock:
        block = self._store.first("block", block_id, LettaBlock)
        block.tags.extend(self._store.block_tags(block_id))
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
