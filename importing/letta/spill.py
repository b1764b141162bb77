"""The spill store: everything of a snapshot that grows with the source, on disk until mapped.

A Letta database of 10,000 learners holds ~1 GB of values and checkpoints once they are Python
objects, and ~100 MB of agents, block facts and agent↔block links. All of it goes to a private
temporary SQLite file as it is read; the mapping then asks for one block, one learner, one
(owner, label) group at a time, in a deterministic order, so reading a source needs about the
same memory at any size.

Identifiers are stored as UTF-8 BLOBs (lone surrogates kept, as JSON sources may hold them):
SQLite compares BLOBs byte by byte, which for UTF-8 is the order of the code points, the order
Python sorts strings in, so ``ORDER BY`` here gives what ``sorted()`` gave when they were in
memory.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

_T = TypeVar("_T")

# The tables of pickled objects, each under a key that need not be unique.
TABLES = ("block", "history")

_SCHEMA = """
CREATE TABLE agent (id BLOB PRIMARY KEY, ref BLOB NOT NULL, learner BLOB, data BLOB NOT NULL);
CREATE TABLE agent_tag (agent BLOB NOT NULL, tag BLOB NOT NULL);
CREATE TABLE fact (id BLOB PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE block_tag (block BLOB NOT NULL, tag BLOB NOT NULL);
CREATE TABLE link (agent BLOB NOT NULL, block BLOB NOT NULL, PRIMARY KEY (agent, block))
    WITHOUT ROWID;
CREATE TABLE grp (owner_type BLOB NOT NULL, owner_id BLOB NOT NULL, label BLOB NOT NULL,
                  block BLOB NOT NULL, reason BLOB NOT NULL);
"""
# Built when the mapping starts (a sort then is cheaper than B-tree inserts while loading).
_MAPPING_INDEXES = """
CREATE INDEX IF NOT EXISTS agent_tag_agent ON agent_tag (agent);
CREATE INDEX IF NOT EXISTS block_tag_block ON block_tag (block);
CREATE INDEX IF NOT EXISTS link_block ON link (block, agent);
CREATE INDEX IF NOT EXISTS agent_learner ON agent (learner, ref);
"""
_NOT_TEXT = b"\xff"  # never starts UTF-8: marks a pickled non-text id (a hostile link row)
# Every pickle read back here was written by this module into its own database, which SQLite
# keeps in an anonymous temporary file (unlinked on open): no source's bytes are ever unpickled,
# a source's value only ever is pickled. SQL here is built from this module's constants; values
# always go in as parameters.


def key(value: Any) -> bytes:
    """An identifier as stored: UTF-8 for text, in code-point order; anything else pickled."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return _NOT_TEXT + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def unkey(data: bytes) -> Any:
    if data[:1] == _NOT_TEXT:
        return pickle.loads(data[1:])
    return data.decode("utf-8", "surrogatepass")


def _dump(obj: Any) -> bytes:
    # The instance dict, not the dataclass: pickling the class's reduce protocol costs
    # more than the data for objects this small.
    state = obj.__dict__ if hasattr(obj, "__dict__") else obj
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def _unpickle(cls: type[_T], data: bytes) -> _T:
    obj = cls.__new__(cls)
    obj.__dict__.update(pickle.loads(data))
    return obj


class SpillStore:
    """A snapshot's rows in a private on-disk SQLite database, deleted when it is closed.

    ``put`` buffers whole blocks and history entries and writes them 1,000 at a time; the first
    read writes what is pending and indexes the keys once. Agents, block facts and links are
    written at once (their primary keys keep the first of duplicates, as a dict did).
    """

    def __init__(self) -> None:
        # "" = a private on-disk database that SQLite deletes when the connection closes.
        self.db = sqlite3.connect("", check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        for table in TABLES:
            self.db.execute(f"CREATE TABLE {table} (key TEXT NOT NULL, data BLOB NOT NULL)")
        self.db.executescript(_SCHEMA)
        self.pending: dict[str, list[tuple[str, bytes]]] = {table: [] for table in TABLES}
        self.indexed = False
        self.agent_tags = False  # any rows in agent_tag (most sources have none)

    # -- whole blocks and history entries

    def put(self, table: str, key: str, obj: Any) -> None:
        rows = self.pending[table]
        rows.append((key, _dump(obj)))
        if len(rows) >= 1000 or self.indexed:  # once reads have begun, write at once
            self._flush(table)

    def first(self, table: str, key: str, cls: type[_T]) -> _T:
        """The first object put under ``key``, rebuilt as a ``cls``."""
        self.index()
        row = self.db.execute(f"SELECT data FROM {table} WHERE key = ?", (key,)).fetchone()
        return _unpickle(cls, row[0])

    def all(self, table: str, key: str, cls: type[_T]) -> list[_T]:
        """Every object put under ``key``, in the order they were put."""
        self.index()
        rows = self.db.execute(f"SELECT data FROM {table} WHERE key = ? ORDER BY rowid", (key,))
        return [_unpickle(cls, data) for data, in rows]

    def count(self, table: str) -> int:
        self.index()
        return self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def _flush(self, table: str) -> None:
        # Table names come from TABLES only.
        self.db.executemany(f"INSERT INTO {table} VALUES (?, ?)", self.pending[table])
        self.pending[table].clear()

    def index(self) -> None:
        """Write what is pending and index the keys, once: before the first read."""
        if not self.indexed:
            for table in TABLES:
                self._flush(table)
                self.db.execute(f"CREATE INDEX {table}_key ON {table} (key)")
            self.db.executescript(_MAPPING_INDEXES)
            self.indexed = True

    # -- agents, block facts, links

    def add_agent(self, agent_id: str, ref: str, agent: Any) -> None:
        self.db.execute("INSERT OR IGNORE INTO agent (id, ref, data) VALUES (?, ?, ?)",
                        (key(agent_id), key(ref), _dump(agent)))

    def add_agent_tags(self, agent_id: str, tags: Iterable[str]) -> None:
        rows = [(key(agent_id), key(tag)) for tag in tags]
        self.db.executemany("INSERT INTO agent_tag VALUES (?, ?)", rows)
        self.agent_tags = self.agent_tags or bool(rows)

    def agent(self, agent_id: Any, cls: type[_T]) -> _T | None:
        row = self.db.execute("SELECT data, id FROM agent WHERE id = ?",
                              (key(agent_id),)).fetchone()
        return None if row is None else self._agent(cls, *row)

    def has_agent(self, agent_id: Any) -> bool:
        return self.db.execute("SELECT 1 FROM agent WHERE id = ?",
                               (key(agent_id),)).fetchone() is not None

    def _agent(self, cls: type[_T], data: bytes, agent_key: bytes) -> _T:
        agent = _unpickle(cls, data)
        if self.agent_tags:
            rows = self.db.execute("SELECT tag FROM agent_tag WHERE agent = ? ORDER BY rowid",
                                   (agent_key,))
            agent.tags.extend(unkey(tag) for tag, in rows)  # type: ignore[attr-defined]
        return agent

    def agents(self, cls: type[_T], where: str = "", args: tuple = (),
               order: str = "rowid") -> Iterator[_T]:
        """Agents, streamed; ``where``/``order`` are SQL from this package, never from a source."""
        rows = self.db.execute(f"SELECT data, id FROM agent {where} ORDER BY {order}", args)
        while batch := rows.fetchmany(500):
            for data, agent_key in batch:
                yield self._agent(cls, data, agent_key)

    def agent_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM agent").fetchone()[0]

    def set_learners(self, learner_of: Callable[[Any], str | None], cls: type) -> None:
        """Store each agent's learner (``learner_of`` is the ownership rule) for the SQL below."""
        last = 0
        while rows := self.db.execute(
                "SELECT rowid, data, id FROM agent WHERE rowid > ? ORDER BY rowid LIMIT 1000",
                (last,)).fetchall():
            updates = []
            for rowid, data, agent_key in rows:
                learner = learner_of(self._agent(cls, data, agent_key))
                updates.append((None if learner is None else key(learner), rowid))
            self.db.executemany("UPDATE agent SET learner = ? WHERE rowid = ?", updates)
            last = rows[-1][0]

    def add_fact(self, block_id: str, facts: tuple) -> bool:
        """Keep a block's facts; False when a block with that id is already kept."""
        cursor = self.db.execute("INSERT OR IGNORE INTO fact VALUES (?, ?)",
                                 (key(block_id), pickle.dumps(tuple(facts))))
        return cursor.rowcount == 1

    def fact(self, block_id: Any) -> tuple | None:
        row = self.db.execute("SELECT data FROM fact WHERE id = ?", (key(block_id),)).fetchone()
        return None if row is None else pickle.loads(row[0])

    def facts(self) -> Iterator[tuple]:
        """Every block's facts, by block id."""
        rows = self.db.execute("SELECT data FROM fact ORDER BY id")
        while batch := rows.fetchmany(500):
            yield from (pickle.loads(data) for data, in batch)

    def block_ids(self) -> Iterator[str]:
        return (unkey(k) for k, in self.db.execute("SELECT id FROM fact ORDER BY rowid"))

    def fact_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM fact").fetchone()[0]

    def add_block_tag(self, block_id: str, tag: str) -> None:
        self.db.execute("INSERT INTO block_tag VALUES (?, ?)", (key(block_id), key(tag)))

    def block_tags(self, block_id: str) -> list[str]:
        rows = self.db.execute("SELECT tag FROM block_tag WHERE block = ? ORDER BY rowid",
                               (key(block_id),))
        return [unkey(tag) for tag, in rows]

    def add_links(self, links: Iterable[tuple[Any, Any]]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO link VALUES (?, ?)",
                            [(key(a), key(b)) for a, b in links])

    def links(self, where: str = "") -> Iterator[tuple[Any, Any]]:
        """(agent id, block id) links by agent id, then block id."""
        rows = self.db.execute(f"SELECT agent, block FROM link {where} ORDER BY agent, block")
        return ((unkey(a), unkey(b)) for a, b in rows)

    def link_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM link").fetchone()[0]

    def agents_of(self, block_id: str, cls: type[_T]) -> Iterator[_T]:
        """The known agents linked to a block, by agent id, streamed."""
        self.index()
        rows = self.db.execute(
            "SELECT a.data, a.id FROM link l JOIN agent a ON a.id = l.agent WHERE l.block = ? "
            "ORDER BY l.agent", (key(block_id),))
        while batch := rows.fetchmany(500):
            for data, agent_key in batch:
                yield self._agent(cls, data, agent_key)

    # -- the mapping's grouping

    def add_to_group(self, owner_type: str, owner_id: str, label: str, block_id: str,
                     reason: str) -> None:
        self.db.execute("INSERT INTO grp VALUES (?, ?, ?, ?, ?)", (
            key(owner_type), key(owner_id), key(label), key(block_id), key(reason)))

    def clear_groups(self) -> None:
        self.db.execute("DELETE FROM grp")

    def groups(self) -> Iterator[tuple[tuple[str, str, str], list[tuple], set[str]]]:
        """((owner type, owner id, label), the blocks' facts by id, the reasons), by key."""
        self.db.execute("CREATE INDEX IF NOT EXISTS grp_key ON grp "
                        "(owner_type, owner_id, label, block)")
        rows = self.db.execute(
            "SELECT g.owner_type, g.owner_id, g.label, g.reason, f.data FROM grp g "
            "JOIN fact f ON f.id = g.block ORDER BY g.owner_type, g.owner_id, g.label, g.block")
        current, facts, reasons = None, [], set()
        while batch := rows.fetchmany(500):
            for owner_type, owner_id, label, reason, data in batch:
                group = (owner_type, owner_id, label)
                if group != current:
                    if current is not None:
                        yield tuple(map(unkey, current)), facts, reasons
                    current, facts, reasons = group, [], set()
                facts.append(pickle.loads(data))
                reasons.add(unkey(reason))
        if current is not None:
            yield tuple(map(unkey, current)), facts, reasons

    def learners(self, owner_type_user: str) -> Iterator[str]:
        """Every learner: of a YouLab agent, or owner of a learner block; in order."""
        rows = self.db.execute(
            "SELECT learner FROM agent WHERE learner IS NOT NULL UNION "
            "SELECT owner_id FROM grp WHERE owner_type = ? ORDER BY 1", (key(owner_type_user),))
        while batch := rows.fetchmany(500):
            yield from (unkey(learner) for learner, in batch)

    def close(self) -> None:
        self.db.close()
