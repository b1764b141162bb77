"""Letta ≤0.11's SQLite database (``~/.letta/sqlite.db``), opened read-only."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .database import DbTables, load_database
from .snapshot import SOURCE_SQLITE, ImportSourceError, LettaSnapshot


class SqliteTables(DbTables):
    """The tables of an open SQLite connection whose text_factory is bytes."""

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
        return load_database(SqliteTables(conn), snap)
    finally:
        conn.close()

