"""Letta's database tables, read the same way from SQLite (≤0.11) and PostgreSQL (≥0.12).

One table reader over a small driver interface (:class:`DbTables`, implemented in
:mod:`~importing.letta.sqlite` and :mod:`~importing.letta.postgres`): which columns a table has,
and its rows streamed as dicts. Optional columns a Letta version lacks read as NULL; a missing or
unreadable table is reported, except ``block``, without which the source is not Letta data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .rows import (
    BLOCK_EXTRA_FIELDS,
    _RowError,
    agent_from_row,
    as_bool,
    block_from_row,
    history_from_row,
    identity_from_row,
    row_key,
)
from .snapshot import ImportSourceError, LettaIdentity, LettaSnapshot

# Columns read per table; absent optional columns (e.g. block.hidden before 0.12) read as NULL.
_TABLES: dict[str, tuple[set[str], list[str]]] = {
    "block": ({"id", "label", "value"}, [
        "id", "label", "value", "limit", "template_name", "description", "metadata_",
        "read_only", "is_template", "hidden", "is_deleted", "version",
        "current_history_entry_id", "created_at", "updated_at", *sorted(
            {k[0] for k in BLOCK_EXTRA_FIELDS.values()}),
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


class DbTables:
    """Driver interface: which columns a table has, and its rows as dicts, streamed."""

    def columns(self, table: str) -> set[str] | None:  # None: no such table
        raise NotImplementedError

    def rows(self, table: str, columns: list[str]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError


def _read_table(db: DbTables, snap: LettaSnapshot, table: str) -> Iterator[dict[str, Any]]:
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


def load_database(db: DbTables, snap: LettaSnapshot) -> LettaSnapshot:
    for row in _read_table(db, snap, "block"):
        try:
            snap.add_block(block_from_row(row))
        except _RowError as exc:
            snap.report("row", row_key(row, "block"), str(exc))
    for row in _read_table(db, snap, "agents"):
        try:
            agent, problems = agent_from_row(row)
        except _RowError as exc:
            snap.report("row", row_key(row, "agents"), str(exc))
            continue
        snap.add_agent(agent)
        for problem in problems:
            snap.report("note", f"agent {agent.ref}", problem)
    for row in _read_table(db, snap, "agents_tags"):
        if isinstance(row["tag"], str) and row["agent_id"] in snap.agents:
            snap.add_agent_tags(row["agent_id"], [row["tag"]])
    for row in _read_table(db, snap, "blocks_tags"):
        if isinstance(row["tag"], str):
            snap.add_block_tag(row["block_id"], row["tag"])
    for row in _read_table(db, snap, "blocks_agents"):
        snap.links.add((row["agent_id"], row["block_id"]))
    for row in _read_table(db, snap, "block_history"):
        try:
            snap.add_history(history_from_row(row))
        except _RowError as exc:
            snap.report("row", row_key(row, "block_history"), str(exc))
    _load_identities(db, snap)
    return snap


def _load_identities(db: DbTables, snap: LettaSnapshot) -> None:
    identities: dict[str, LettaIdentity] = {}
    for row in _read_table(db, snap, "identities"):
        try:
            if as_bool(row.get("is_deleted"), "is_deleted"):
                continue
            identity = identity_from_row(row)
        except _RowError as exc:
            snap.report("row", row_key(row, "identities"), str(exc))
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

