"""The spill store: a snapshot's whole blocks and history entries, on disk until they are mapped.

A Letta database of 10,000 learners holds ~1 GB of values and checkpoints once they are Python
objects; keeping them in a private temporary SQLite file until their group is mapped leaves memory
for ids and ownership facts only, so reading a source needs about the same memory at any size.
"""

from __future__ import annotations

import pickle
import sqlite3
from typing import Any, TypeVar

_T = TypeVar("_T")

# The tables of the store, each holding pickled objects under a key that need not be unique.
TABLES = ("block", "history")


class SpillStore:
    """Objects kept by key in a private on-disk SQLite database, deleted when it is closed.

    ``put`` buffers rows and writes them 1,000 at a time; the first read writes what is pending
    and indexes the keys once.
    """

    def __init__(self) -> None:
        # "" = a private on-disk database that SQLite deletes when the connection closes.
        self.db = sqlite3.connect("", check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        for table in TABLES:
            self.db.execute(f"CREATE TABLE {table} (key TEXT NOT NULL, data BLOB NOT NULL)")
        self.pending: dict[str, list[tuple[str, bytes]]] = {table: [] for table in TABLES}
        self.indexed = False

    def put(self, table: str, key: str, obj: Any) -> None:
        # The instance dict, not the dataclass: pickling the class's reduce protocol costs
        # more than the data for objects this small.
        rows = self.pending[table]
        rows.append((key, pickle.dumps(obj.__dict__, protocol=pickle.HIGHEST_PROTOCOL)))
        if len(rows) >= 1000 or self.indexed:  # once reads have begun, write at once
            self._flush(table)

    def first(self, table: str, key: str, cls: type[_T]) -> _T:
        """The first object put under ``key``, rebuilt as a ``cls``."""
        self._index()
        row = self.db.execute(f"SELECT data FROM {table} WHERE key = ?", (key,)).fetchone()
        return _unpickle(cls, row[0])

    def all(self, table: str, key: str, cls: type[_T]) -> list[_T]:
        """Every object put under ``key``, in the order they were put."""
        self._index()
        rows = self.db.execute(f"SELECT data FROM {table} WHERE key = ? ORDER BY rowid", (key,))
        return [_unpickle(cls, data) for data, in rows]

    def count(self, table: str) -> int:
        self._index()
        return self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def _flush(self, table: str) -> None:
        # Table names come from TABLES only.
        self.db.executemany(f"INSERT INTO {table} VALUES (?, ?)", self.pending[table])
        self.pending[table].clear()

    def _index(self) -> None:
        # At the first read: write what is pending, then index once. A sort is much cheaper
        # than random inserts into B-trees keyed by uuids.
        if not self.indexed:
            for table in TABLES:
                self._flush(table)
                self.db.execute(f"CREATE INDEX {table}_key ON {table} (key)")
            self.indexed = True

    def close(self) -> None:
        self.db.close()


def _unpickle(cls: type[_T], data: bytes) -> _T:
    obj = cls.__new__(cls)
    obj.__dict__.update(pickle.loads(data))
    return obj
