"""The same learners from Letta 0.11.7 SQLite and 0.16.8 Postgres end the same (issue 19, item 4).

The two fixture sets hold the same six learners in the same scenario (manifest.json notes: the
same values, checkpoints, undo, edits after a checkpoint, hidden background agent, soft-deleted
scratchpad, shared course blocks, metadata), recorded by two separate Letta runs. So by design
they differ in, and only in:

* every Letta id (agents, blocks, block_history rows, identities): generated per run;
* every timestamp: the runs were ~18 s apart, and 0.11.7 SQLite keeps whole seconds where
  0.16.8 keeps microseconds;
* block tags: the blocks_tags table exists from 0.12 on (0.11.7 has none);
* 0.16.8's extra hidden `archived_notes` block of Amara (manifest `hidden_block`).

Each source is imported by `manage.py import_letta` onto its own Dolt branch cut from the same
main; the end states are then compared field by field: content, limits, descriptions,
read-only and deleted flags, versions, every history row (content, version, actor, reason,
import key, metadata) and the whole metadata, with only the facts above masked. The
booleans (`preserve_on_migration`: 0 in SQLite, false in Postgres) and null handling must agree
exactly.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import call_command
from django.db import connection

from blocks.models import Block, HistoricalBlock
from youlab import dolt

from .conftest import FIXTURES

SQLITE = FIXTURES / "letta-0.11.7.sqlite3"
BRANCHES = {"sqlite": "test/sources-sqlite", "postgres": "test/sources-postgres"}
AMARA = "5b0e8d3a-6f29-4c71-8d4b-1a9e2f7c6d05"

LETTA_ID = re.compile(r"\b(agent|block_hist|block|identity)-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")
ID_KEYS = {"id", "block_id", "history_id", "actor_id", "current_history_entry_id"}
TIME_KEYS = {"created_at", "updated_at"}


@pytest.fixture
def branches(transactional_db):
    dolt.commit("test start: clean working set")  # earlier tests' flushes left main dirty
    yield BRANCHES
    connection.close()
    for name in BRANCHES.values():
        if name in dolt.branches():
            dolt.delete_branch(name, force=True)


def masked(value, *, block_level=False):
    """The value with run-specific facts masked: Letta ids, timestamps, agent order by id."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ID_KEYS and isinstance(item, str):
                out[key] = "<id>"
            elif key in TIME_KEYS and isinstance(item, str):
                out[key] = "<time>"
            elif key == "tags" and block_level:
                continue  # block tags: 0.12+ only (agent tags are compared)
            elif key in ("letta", "merged_blocks"):
                out[key] = masked(item, block_level=True)
            else:
                out[key] = masked(item)
        if isinstance(out.get("agents"), list):  # listed by Letta id, which differs per run
            out["agents"] = sorted(out["agents"], key=lambda a: (a.get("name", ""), repr(a)))
        return out
    if isinstance(value, list):
        return [masked(item, block_level=block_level) for item in value]
    if isinstance(value, str):
        return LETTA_ID.sub(lambda m: f"{m.group(1)}-<id>", value)
    return value


def end_state() -> dict:
    """Every block and its history on the connection's branch, run-specific facts masked."""
    state = {}
    for block in Block.objects.order_by("owner_type", "owner_id", "label"):
        history = HistoricalBlock.objects.filter(id=block.id).order_by("version")
        state[(block.owner_type, block.owner_id, block.label)] = {
            "content": block.content,
            "description": block.description,
            "char_limit": block.char_limit,
            "read_only": block.read_only,
            "deleted": block.deleted_at is not None,
            "version": block.version,
            "metadata": masked(block.metadata),
            "history": [{
                "version": row.version,
                "content": row.content,
                "actor": row.actor,
                "reason": masked(row.history_change_reason),
                "import_key": masked(row.import_key),
                "type": row.history_type,
                "deleted": row.deleted_at is not None,
                "metadata": masked(row.metadata),
            } for row in history],
        }
    return state


def exact(value) -> str:
    """Compared as JSON text: 0 and false, or 1.0 and 1, are different facts (== says equal)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def block_tags(state_metadata: dict) -> list:
    return state_metadata.get("letta", {}).get("tags", [])


def import_on(branch: str, *source_args: str) -> str:
    out = io.StringIO()
    call_command("import_letta", *source_args, "--branch", branch, stdout=out,
                 stderr=io.StringIO())
    return out.getvalue()


def test_sqlite_and_postgres_imports_of_the_same_learners_end_the_same(branches,
                                                                     letta_postgres_url):
    import_on(branches["sqlite"], "--sqlite", str(SQLITE))
    import_on(branches["postgres"], "--postgres", letta_postgres_url)
    with dolt.use_branch(branches["sqlite"]):
        from_sqlite = end_state()
        raw_sqlite = {k: b.metadata for k, b in ((k, Block.objects.get(
            owner_type=k[0], owner_id=k[1], label=k[2])) for k in from_sqlite)}
    with dolt.use_branch(branches["postgres"]):
        from_postgres = end_state()
        raw_postgres = {k: b.metadata for k, b in ((k, Block.objects.get(
            owner_type=k[0], owner_id=k[1], label=k[2])) for k in from_postgres)}

    # By design: 0.16.8's extra hidden block, and block tags (0.12+).
    extra = set(from_postgres) - set(from_sqlite)
    assert extra == {("user", AMARA, "archived_notes")}
    assert raw_postgres[("user", AMARA, "archived_notes")]["letta"]["hidden"] is True
    assert set(from_sqlite) <= set(from_postgres)
    assert all(block_tags(m) == [] for m in raw_sqlite.values())
    assert all(block_tags(raw_postgres[k]) for k in raw_sqlite)

    # Everything else, field by field.
    # 6 learners x 5 labels, 2 shared course blocks, demo_learner_6's soft-deleted scratchpad.
    assert len(from_sqlite) == 6 * 5 + 2 + 1
    for key, ours in from_sqlite.items():
        theirs = from_postgres[key]
        for field in ("content", "description", "char_limit", "read_only", "deleted",
                      "version", "metadata"):
            assert exact(ours[field]) == exact(theirs[field]), (key, field)
        assert len(ours["history"]) == len(theirs["history"]), key
        for mine, other in zip(ours["history"], theirs["history"], strict=True):
            assert exact(mine) == exact(other), (key, mine["version"])

    # The fact the issue found differing, by name: a boolean from both (SQLite stores 0).
    for raw in (raw_sqlite, raw_postgres):
        assert all(m["letta"]["preserve_on_migration"] is False for m in raw.values())
