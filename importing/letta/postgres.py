"""Letta ≥0.12's PostgreSQL database, read in one read-only, repeatable-read transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from ..safety import SourceLimitExceeded, loads_json
from .database import DbTables, load_database
from .snapshot import SOURCE_POSTGRES, ImportSourceError, LettaSnapshot, redact_url


class PostgresTables(DbTables):
    """The tables of the current schema, read inside the caller's transaction."""

    def __init__(self, conn: Any):
        from psycopg import sql
        from psycopg.types.json import set_json_loads

        self.conn = conn
        self.sql = sql
        # psycopg parses json columns itself: one row nested too deeply would fail the whole
        # table. Hand such a value over as text; the row converter (rows.py) then
        # reports that row's field.
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
                db = PostgresTables(conn)
            except psycopg.Error as exc:
                raise ImportSourceError(f"cannot read the schema of {origin}: {exc}") from exc
            return load_database(db, snap)
    finally:
        conn.close()

