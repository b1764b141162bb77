"""The Letta database readers (SQLite 0.11.7, PostgreSQL 0.16.8): what each reads of the fixture
databases, how they are opened, malformed rows and schemas made here, a table failing mid-read.

No Dolt database is used: the readers only produce records.
"""

from __future__ import annotations

import csv
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from importing import letta
from importing.letta import ImportSourceError
from importing.letta.database import DbTables, load_database
from importing.letta.postgres import load_postgres
from importing.letta.rows import block_from_row
from importing.letta.snapshot import LettaSnapshot
from importing.letta.sqlite import SqliteTables, load_sqlite
from importing.records import OWNER_USER

from .conftest import FIXTURES, PG_FIXTURES, SQLITE, U5, by_owner, own_metadata, split


def test_sqlite_snapshot_row_counts():
    with (FIXTURES / "row_counts.tsv").open(newline="") as fh:
        counts = {row["table"]: int(row["rows"]) for row in csv.DictReader(fh, delimiter="\t")}
    snapshot = load_sqlite(SQLITE)
    assert len(snapshot.blocks) == counts["block"] == 39
    assert len(snapshot.agents) == counts["agents"]
    assert len(snapshot.links) == counts["blocks_agents"]
    assert snapshot.history_count == counts["block_history"]
    assert sum(len(snapshot.history_of(b)) for b in snapshot.blocks) == counts["block_history"]
    assert len(snapshot.identities) == counts["identities"]
    assert sum(len(a.tags) for a in snapshot.agents.values()) == counts["agents_tags"]
    assert snapshot.reports == []


def test_postgres_snapshot_row_counts(letta_postgres_url):
    with (PG_FIXTURES / "row_counts.tsv").open(newline="") as fh:
        counts = {row["table"]: int(row["rows"]) for row in csv.DictReader(fh, delimiter="\t")}
    snapshot = load_postgres(letta_postgres_url)
    assert len(snapshot.blocks) == counts["block"] == 40
    assert len(snapshot.agents) == counts["agents"]
    assert len(snapshot.links) == counts["blocks_agents"]
    assert snapshot.history_count == counts["block_history"]
    assert sum(len(snapshot.block(b).tags) for b in snapshot.blocks) == counts["blocks_tags"]
    assert snapshot.reports == []


def test_postgres_hidden_block_is_kept_hidden(postgres_source, manifest_0168):
    notes = postgres_source.keyed[(OWNER_USER, U5, "archived_notes")]
    assert notes.metadata["letta"]["block_id"] == manifest_0168["users"][U5]["hidden_block"]
    assert notes.metadata["letta"]["hidden"] is True
    assert notes.deleted is False
    assert notes.metadata["letta"]["tags"]  # blocks_tags (0.12+)
    # 0.11.7 has no hidden column: the key is simply absent there.
    assert all(b.metadata["letta"].get("hidden") is not True for b in postgres_source.blocks
               if b.label != "archived_notes")


def test_sqlite_is_opened_read_only(tmp_path):
    copy = tmp_path / "letta.sqlite3"
    copy.write_bytes(SQLITE.read_bytes())
    copy.chmod(0o444)
    before = copy.read_bytes()
    list(letta.read_sqlite(copy))
    assert copy.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["letta.sqlite3"]  # no journal/WAL


# --- malformed databases ----------------------------------------------------------------------


def make_sqlite(path: Path, statements: list[str], rows: dict[str, list[tuple]]) -> Path:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    for table, values in rows.items():
        for row in values:
            conn.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
    conn.commit()
    conn.close()
    return path


def test_sqlite_malformed_rows_are_reported(tmp_path):
    # A loose 0.11-like schema (no NOT NULL, no block_history table) holding bad rows.
    path = make_sqlite(tmp_path / "bad.sqlite3", [
        'CREATE TABLE block (id, label, value, "limit", template_name, metadata_, read_only, '
        "is_deleted, created_at, updated_at)",
        "CREATE TABLE agents (id, name, metadata_)",
        "CREATE TABLE blocks_agents (agent_id, block_id, block_label)",
    ], {
        "block": [
            ("b-ok", "human", "héllo 🎉", 5000, None, '{"youlab_user_id": "u_1"}', 0, 0,
             "2026-11-28 22:47:41", "2026-11-28 22:47:47.653534"),
            ("b-null", "student", None, 8000, None, None, 0, 0, None, None),
            ("b-int", "journey", 12345, 10000, None, None, 0, 0, None, None),
            ("b-utf8", "notes", b"\xff\xfe", 100, None, None, 0, 0, None, None),
            ("b-meta", "persona", "p", "many", None, "[1, 2]", 0, 0, "yesterday", None),
            ("b-bool", "course", "c", 10, None, None, "maybe", 0, None, None),
        ],
        "agents": [("a-1", "youlab_u_1_tutor", '{"youlab_user_id": '),  # broken metadata
                   ("a-2", None, None)],
        "blocks_agents": [("a-1", "b-ok", "human"), ("a-1", "b-meta", "persona"),
                          ("a-1", "b-missing", "x"), ("a-2", "b-int", "journey")],
    })
    learners, blocks, skipped = split(list(letta.read_sqlite(path)))
    assert [r.user_id for r in learners] == ["u_1"]  # from the name: metadata is broken
    keyed = by_owner(blocks)
    assert sorted(keyed) == [(OWNER_USER, "u_1", "human"), (OWNER_USER, "u_1", "persona")]
    assert keyed[(OWNER_USER, "u_1", "human")].content == "héllo 🎉"
    persona = keyed[(OWNER_USER, "u_1", "persona")]
    assert persona.char_limit is None and persona.created_at is None
    assert persona.metadata["letta"]["raw_metadata"] == [1, 2]
    reasons = {(s.kind, s.key): s.reason for s in skipped}
    assert reasons[("row", "block/b-null")] == "value is NULL"
    assert reasons[("row", "block/b-int")] == "value is int, expected text"
    assert reasons[("row", "block/b-utf8")].startswith("value is not valid UTF-8")
    assert "expected a boolean" in reasons[("row", "block/b-bool")]
    assert ("table", "block_history") in reasons
    assert ("note", "agent a-1") in reasons  # its broken metadata
    assert ("agent", "a-2") in reasons  # not a YouLab agent
    assert ("row", "blocks_agents/a-1/b-missing") in reasons
    assert sum(1 for s in skipped if s.key == "block b-meta") == 3  # limit, metadata, created_at


def test_null_and_boolean_facts_read_alike_whatever_the_storage(tmp_path):
    """SQL NULL and JSON null are both "no metadata"; 0/1 and false/true are booleans (issue 19)."""
    path = make_sqlite(tmp_path / "nulls.sqlite3", [
        "CREATE TABLE block (id, label, value, metadata_, preserve_on_migration)",
        "CREATE TABLE agents (id, name, metadata_)",
        "CREATE TABLE blocks_agents (agent_id, block_id)",
    ], {
        "block": [("b-sql-null", "human", "h", None, 0), ("b-json-null", "notes", "n", "null", 1),
                  ("b-no-flag", "journey", "j", "{}", None)],
        "agents": [("a-1", "youlab_u_1_tutor", "null")],
        "blocks_agents": [("a-1", "b-sql-null"), ("a-1", "b-json-null"), ("a-1", "b-no-flag")],
    })
    _, blocks, skipped = split(list(letta.read_sqlite(path)))
    keyed = by_owner(blocks)
    human, notes, journey = (keyed[(OWNER_USER, "u_1", label)]
                             for label in ("human", "notes", "journey"))
    assert own_metadata(human) == own_metadata(notes) == own_metadata(journey) == {}
    assert "raw_metadata" not in notes.metadata["letta"]
    assert [s for s in skipped if s.kind == "note"] == []  # JSON null is not "not an object"
    assert human.metadata["letta"]["preserve_on_migration"] is False
    assert notes.metadata["letta"]["preserve_on_migration"] is True
    assert "preserve_on_migration" not in journey.metadata["letta"]  # not stated: not invented
    # An Agent File (JSON) states the same facts as false/true and null.
    spec = {"label": "human", "value": "h", "metadata": None, "preserve_on_migration": False}
    assert block_from_row(spec, block_id="x").extra == {"preserve_on_migration": False}
    assert block_from_row(spec, block_id="x").metadata == {}


def test_sqlite_unknown_schema_raises(tmp_path):
    path = make_sqlite(tmp_path / "other.sqlite3", ["CREATE TABLE foo (x)"], {})
    with pytest.raises(ImportSourceError, match="no table 'block'"):
        letta.read_sqlite(path)
    path = make_sqlite(tmp_path / "odd.sqlite3", ["CREATE TABLE block (id, label)"], {})
    with pytest.raises(ImportSourceError, match=r"lacks \['value'\]"):
        letta.read_sqlite(path)


def test_sqlite_that_is_not_a_database_raises(tmp_path):
    path = tmp_path / "letta.sqlite3"
    path.write_text("hello, I am not SQLite" * 100)
    with pytest.raises(ImportSourceError, match="SQLite"):
        letta.read_sqlite(path)
    with pytest.raises(ImportSourceError, match="not found"):
        letta.read_sqlite(tmp_path / "missing.sqlite3")


def test_postgres_malformed_rows_are_reported(postgres_database):
    import psycopg

    name, url = postgres_database("letta_bad")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('CREATE TABLE block (id varchar, label varchar, value varchar, '
                     '"limit" integer, metadata_ json, read_only boolean, hidden boolean, '
                     "updated_at timestamptz)")
        conn.execute("CREATE TABLE agents (id varchar, name varchar, metadata_ json)")
        conn.execute("CREATE TABLE blocks_agents (agent_id varchar, block_id varchar)")
        conn.execute("INSERT INTO agents VALUES ('a', 'youlab_u_2_background', "
                     "'{\"youlab_user_id\": \"u_2\"}')")
        conn.execute("INSERT INTO block VALUES ('b1', 'student', 'ok', 10, '[\"x\"]', false, "
                     "true, '2026-01-01 10:00+02'), ('b2', 'human', NULL, 5, NULL, NULL, NULL, "
                     "NULL), ('b3', NULL, 'no label', 5, NULL, NULL, NULL, NULL)")
        conn.execute("INSERT INTO blocks_agents VALUES ('a', 'b1'), ('a', 'b2')")
    learners, blocks, skipped = split(list(letta.read_postgres(url)))
    (student,) = blocks
    assert (student.owner_id, student.label, student.content) == ("u_2", "student", "ok")
    assert student.metadata["letta"]["hidden"] is True
    assert student.metadata["letta"]["raw_metadata"] == ["x"]
    assert student.updated_at == datetime(2026, 1, 1, 8, tzinfo=timezone.utc)
    reasons = {(s.kind, s.key): s.reason for s in skipped}
    assert reasons[("row", "block/b2")] == "value is NULL"
    assert reasons[("row", "block/b3")] == "label is NULL"
    assert ("table", "block_history") in reasons


def test_postgres_json_nested_too_deeply_is_one_reported_field(postgres_database):
    """psycopg parses json columns itself: a row nested deeper than Python's recursion limit
    used to fail the whole block table (issue 13); now only that row's metadata is kept raw."""
    import psycopg

    name, url = postgres_database("letta_deep")
    deep = "[" * 2000 + "]" * 2000
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE block (id varchar, label varchar, value varchar, "
                     "metadata_ json)")
        conn.execute("CREATE TABLE agents (id varchar, name varchar, metadata_ json)")
        conn.execute("CREATE TABLE blocks_agents (agent_id varchar, block_id varchar)")
        conn.execute("INSERT INTO agents VALUES ('a', 'youlab_u_1_tutor', %s)", (deep,))
        conn.execute("INSERT INTO block VALUES ('b1', 'student', 'deep', %s), "
                     "('b2', 'journey', 'fine', '{\"k\": 1}')", (deep,))
        conn.execute("INSERT INTO blocks_agents VALUES ('a', 'b1'), ('a', 'b2')")
    learners, blocks, skipped = split(list(letta.read_postgres(url)))
    by_label = {b.label: b for b in blocks}
    assert by_label["journey"].content == "fine" and by_label["student"].content == "deep"
    assert by_label["student"].metadata["letta"]["raw_metadata"] == deep
    notes = {s.key: s.reason for s in skipped}
    assert "nested deeper than 64 levels" in notes["block b1"]
    assert "nested deeper than 64 levels" in notes["agent a"]


def test_postgres_unknown_schema_and_unreachable_server_raise(postgres_database, postgres_server):
    _, url = postgres_database("letta_empty")
    with pytest.raises(ImportSourceError, match="no table 'block'"):
        letta.read_postgres(url)
    with pytest.raises(ImportSourceError, match="cannot connect"):
        letta.read_postgres("postgresql://nobody:pw@127.0.0.1:1/letta")
    with pytest.raises(ImportSourceError, match="cannot connect") as info:
        letta.read_postgres(postgres_server.rsplit("/", 1)[0] + "/no_such_db_here")
    assert "pw" not in str(info.value)


class _BreaksMidTable(DbTables):
    """A driver whose `blocks_agents` cursor fails after two rows (a connection lost mid-read)."""

    def __init__(self, source):
        self.source = source

    def columns(self, table):
        return self.source.columns(table)

    def rows(self, table, columns):
        for n, row in enumerate(self.source.rows(table, columns)):
            if table == "blocks_agents" and n == 2:
                raise sqlite3.OperationalError("disk I/O error")
            yield row


def test_a_table_that_fails_mid_read_keeps_its_rows_and_says_so():
    conn = sqlite3.connect(f"{SQLITE.resolve().as_uri()}?mode=ro", uri=True)
    conn.text_factory = bytes
    try:
        snap = load_database(_BreaksMidTable(SqliteTables(conn)),
                                    LettaSnapshot("letta:sqlite", "test"))
    finally:
        conn.close()
    assert len(snap.links) == 2
    (report,) = [r for r in snap.reports if r.kind == "table"]
    assert report.key == "blocks_agents"
    assert "disk I/O error" in report.reason and "the 2 rows read before the error are kept" in report.reason
    with (FIXTURES / "row_counts.tsv").open(newline="") as fh:
        counts = {row["table"]: int(row["rows"]) for row in csv.DictReader(fh, delimiter="\t")}
    assert snap.history_count == counts["block_history"]  # read after it, as usual


def test_the_block_table_failing_mid_read_stops_the_import():
    class BlocksBreak(_BreaksMidTable):
        def rows(self, table, columns):
            for n, row in enumerate(self.source.rows(table, columns)):
                if table == "block" and n == 5:
                    raise sqlite3.OperationalError("disk I/O error")
                yield row

    conn = sqlite3.connect(f"{SQLITE.resolve().as_uri()}?mode=ro", uri=True)
    conn.text_factory = bytes
    try:
        with pytest.raises(ImportSourceError, match="cannot read table 'block': disk I/O error"):
            load_database(BlocksBreak(SqliteTables(conn)), LettaSnapshot("letta:sqlite", "t"))
    finally:
        conn.close()
