"""The Letta readers against the real fixture data (letta.md): SQLite 0.11.7, Postgres 0.16.8,
recorded REST of both, Agent Files (YouLab and public), and broken inputs made here.

No Dolt database is used: the readers only produce records.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from importing import letta
from importing.letta import ImportSourceError
from importing.letta.database import DbTables, load_database
from importing.letta.mapping import map_letta
from importing.letta.ownership import FALLBACK_SHARED_NAMESPACE, agent_learner
from importing.letta.postgres import load_postgres
from importing.letta.rows import block_from_row
from importing.letta.snapshot import BlockFacts, LettaAgent, LettaBlock, LettaHistoryEntry, LettaSnapshot
from importing.letta.sqlite import SqliteTables, load_sqlite
from importing.records import (
    OWNER_SHARED,
    OWNER_USER,
    BlockRecord,
    LearnerRecord,
    SkippedRecord,
)

from .conftest import FIXTURES, PG_FIXTURES

COURSE = "college-essay"
U1 = "3f6c9b2e-8a41-4d7e-9c15-2b7e4f0a91d3"  # Maya: history incl. undo
U2 = "a8d2e5f1-7c34-4b9a-8e60-5f1d3c2b7a40"  # Sofía: edited after its last checkpoint
U3 = "c41b7d09-2e8f-4a63-b5d2-9e0f6a1c3b87"  # Xiaoming
U4 = "e92a4c6b-1d57-4f08-a3e9-7b2c5d8f0e14"  # Jordan: REST edits, no history
U5 = "5b0e8d3a-6f29-4c71-8d4b-1a9e2f7c6d05"  # Amara: REST edits; hidden block (0.16.8)
U6 = "demo_learner_6"  # underscores; hidden background agent; soft-deleted scratchpad
LEARNER_LABELS = ["engagement_strategy", "human", "journey", "persona", "student"]


# --- helpers ---------------------------------------------------------------------------------


def split(records):
    learners = [r for r in records if isinstance(r, LearnerRecord)]
    blocks = [r for r in records if isinstance(r, BlockRecord)]
    skipped = [r for r in records if isinstance(r, SkippedRecord)]
    assert len(learners) + len(blocks) + len(skipped) == len(records)
    return learners, blocks, skipped


def by_owner(blocks) -> dict[tuple[str, str, str], BlockRecord]:
    keyed = {(b.owner_type, b.owner_id, b.label): b for b in blocks}
    assert len(keyed) == len(blocks), "an (owner, label) was yielded twice"
    return keyed


def own_metadata(block: BlockRecord) -> dict:
    return {k: v for k, v in block.metadata.items() if k != "letta"}


def sha16(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pg_rows(url: str, query: str) -> list[dict]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query).fetchall()


def sqlite_rows(path: Path, query: str) -> list[dict]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(query)]
    finally:
        conn.close()


SQLITE = FIXTURES / "letta-0.11.7.sqlite3"


class Source:
    """One fixture source read through its reader, plus what the tests expect of it."""

    def __init__(self, name, records, manifest, *, db_rows=None, has_history, sees_deleted,
                 has_timestamps):
        self.name = name
        self.records = records
        self.manifest = manifest
        self.learners, self.blocks, self.skipped = split(records)
        self.keyed = by_owner(self.blocks)
        self.db_rows = db_rows  # query → rows, for sources that are databases
        self.has_history = has_history
        self.sees_deleted = sees_deleted
        self.has_timestamps = has_timestamps


@pytest.fixture(scope="session")
def sqlite_source(manifest_0117):
    return Source("sqlite", list(letta.read_sqlite(SQLITE)), manifest_0117,
                  db_rows=lambda q: sqlite_rows(SQLITE, q), has_history=True,
                  sees_deleted=True, has_timestamps=True)


@pytest.fixture(scope="session")
def postgres_source(letta_postgres_url, manifest_0168):
    return Source("postgres", list(letta.read_postgres(letta_postgres_url)), manifest_0168,
                  db_rows=lambda q: pg_rows(letta_postgres_url, q), has_history=True,
                  sees_deleted=True, has_timestamps=True)


@pytest.fixture(params=["sqlite", "postgres", "api-0.11.7", "api-0.16.8"])
def source(request, letta_replay, manifest_0117, manifest_0168):
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_source")
    if request.param == "postgres":
        return request.getfixturevalue("postgres_source")
    api_dir, manifest = ((FIXTURES / "api", manifest_0117) if request.param == "api-0.11.7"
                         else (PG_FIXTURES / "api", manifest_0168))
    replay = letta_replay(api_dir)
    src = Source(request.param, list(letta.read_api(replay.url)), manifest, has_history=False,
                 sees_deleted=False, has_timestamps=False)
    assert replay.unknown == []
    return src


@pytest.fixture(params=["sqlite", "postgres"])
def db_source(request):
    return request.getfixturevalue(f"{request.param}_source")


# --- every source: the manifest's blocks, learners, shared blocks ---------------------------


def test_every_manifest_block_is_read_exactly(source):
    for uid, user in source.manifest["users"].items():
        for label, final in user["final_values"].items():
            block = source.keyed[(OWNER_USER, uid, label)]
            letta_id = user["blocks"][label]
            # persona too: the templated block is current over the background agent's inline
            # one in every source, whatever their timestamps (design.md §7).
            assert block.content == final["value"]  # byte for byte
            assert block.content.encode() == final["value"].encode()
            assert block.char_limit == final["limit"]
            assert block.description == final["description"]
            assert own_metadata(block) == final["metadata"]
            assert block.read_only is False
            assert block.deleted is False
            assert block.metadata["letta"]["block_id"] == letta_id
            assert block.source_key == letta_id
            assert block.current_key == (
                f"letta:user:{uid}:{label}:value:{sha16(final['value'])}")


def test_shared_blocks_are_yielded_once_with_their_course(source):
    shared = [b for b in source.blocks if b.owner_type == OWNER_SHARED]
    assert sorted((b.owner_id, b.label) for b in shared) == [
        (COURSE, "course"), (COURSE, "essay_rubric")]
    course = source.keyed[(OWNER_SHARED, COURSE, "course")]
    assert course.read_only is True
    assert course.char_limit == 12000
    assert course.content.startswith("# Course: College Essay Lab (college-essay) v2.1.0\n")
    assert course.metadata["letta"]["block_id"] == source.manifest["shared_blocks"]["course"]["id"]
    assert own_metadata(course) == {"youlab_shared": True, "course_id": COURSE,
                                    "course_version": "2.1.0"}
    # Attached to all 12 agents, the hidden one included (REST finds it through this block).
    agents = course.metadata["letta"]["agents"]
    assert len(agents) == 12
    assert sum(1 for a in agents if a.get("hidden")) == 1
    rubric = source.keyed[(OWNER_SHARED, COURSE, "essay_rubric")]
    assert rubric.read_only is False
    assert rubric.metadata["letta"]["block_id"] == (
        source.manifest["shared_blocks"]["essay_rubric"]["id"])


def test_learners_and_their_agents(source):
    assert sorted(r.user_id for r in source.learners) == sorted(source.manifest["users"])
    for learner in source.learners:
        user = source.manifest["users"][learner.user_id]
        agents = {a["type"]: a for a in learner.metadata["letta"]["agents"]}
        assert {t: a["id"] for t, a in agents.items()} == user["agents"]
        assert agents["tutor"]["name"] == f"youlab_{learner.user_id}_tutor"
        assert agents["tutor"]["course_id"] == COURSE
        if "identity_id" in user:
            identity = learner.metadata["letta"]["identity"]
            assert (identity["id"], identity["name"]) == (user["identity_id"], user["name"])
    demo = next(r for r in source.learners if r.user_id == U6)
    background = next(a for a in demo.metadata["letta"]["agents"] if a["type"] == "background")
    assert background["hidden"] is True


def test_hidden_agents_blocks_are_included(source):
    hidden_agent = source.manifest["users"][U6]["agents"]["background"]
    for label in ("student", "journey", "engagement_strategy"):
        block = source.keyed[(OWNER_USER, U6, label)]
        assert hidden_agent in [a["id"] for a in block.metadata["letta"]["agents"]]
    # Its inline persona is read too: current or merged into the learner's persona.
    persona = source.keyed[(OWNER_USER, U6, "persona")]
    inline = source.manifest["users"][U6]["background_inline_persona_block"]
    seen = [persona.metadata["letta"]["block_id"]] + [
        m["block_id"] for m in persona.metadata["letta"].get("merged_blocks", [])]
    assert inline in seen


def test_block_counts(source):
    # Each learner's two persona blocks merge into one; 0.16.8 adds the hidden archived_notes,
    # which its REST API does not show.
    expected = {"sqlite": 33, "postgres": 34, "api-0.11.7": 33, "api-0.16.8": 33}[source.name]
    assert len(source.blocks) == expected
    assert Counter(b.label for b in source.blocks if b.owner_type == OWNER_USER)["persona"] == 6


def test_reading_twice_gives_identical_records(source, letta_replay, letta_postgres_url):
    again = {
        "sqlite": lambda: letta.read_sqlite(SQLITE),
        "postgres": lambda: letta.read_postgres(letta_postgres_url),
        "api-0.11.7": lambda: letta.read_api(letta_replay(FIXTURES / "api").url),
        "api-0.16.8": lambda: letta.read_api(letta_replay(PG_FIXTURES / "api").url),
    }[source.name]
    assert list(again()) == source.records


def test_metadata_is_plain_json(source):
    for record in source.learners + source.blocks:
        json.dumps(record.metadata, allow_nan=False)
    for block in source.blocks:
        for version in block.versions:
            json.dumps(version.metadata, allow_nan=False)
            assert version.date is None or version.date.tzinfo is not None


def test_persona_merge_notes_and_versions(source):
    notes = [s for s in source.skipped if s.kind == "note" and "merged into" in s.reason]
    assert len(notes) == 6
    for uid in source.manifest["users"]:
        persona = source.keyed[(OWNER_USER, uid, "persona")]
        (merged,) = persona.metadata["letta"]["merged_blocks"]
        assert any(n.key == merged.get("block_id") for n in notes)
        # The earlier block's value is the first version, keyed by owner/label/content only.
        (earlier,) = persona.versions
        assert earlier.import_key == f"letta:user:{uid}:persona:value:{sha16(earlier.content)}"
        assert earlier.actor == "import:letta"
        assert earlier.content != persona.content


def test_persona_youlab_block_is_current_whatever_the_timestamps(source):
    """design.md §7: the YouLab-managed block is current over an agent's own inline block.

    The sources disagree on which is newer (0.16.8 Postgres wrote the inline persona ~0.1 s
    after the templated one, 0.11.7 SQLite the same second but for demo_learner_6, REST shows no
    block timestamps), so a newest-first rule would give each source a different persona.
    """
    for uid, user in source.manifest["users"].items():
        persona = source.keyed[(OWNER_USER, uid, "persona")]
        assert persona.metadata["letta"]["block_id"] == user["blocks"]["persona"]
        (merged,) = persona.metadata["letta"]["merged_blocks"]
        assert merged["block_id"] == user["background_inline_persona_block"]


def test_youlab_block_beats_a_newer_inline_one_and_the_newest_of_equals_wins():
    t1 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    t2 = datetime(2026, 1, 2, tzinfo=timezone.utc)
    youlab = {"youlab_user_id": "u"}
    snap = snapshot(agents=[agent("a", "youlab_u_tutor"), agent("b", "youlab_u_background")],
                    blocks=[block("b1", "persona", "older", updated_at=t2),
                            block("b2", "persona", "newer", updated_at=t1, metadata=youlab),
                            block("b3", "notes", "old", updated_at=t1),
                            block("b4", "notes", "new", updated_at=t2)],
                    links={("a", "b1"), ("b", "b2"), ("a", "b3"), ("b", "b4")})
    _, blocks, _ = split(list(map_letta(snap)))
    keyed = by_owner(blocks)
    # The YouLab block wins though the inline one is a day newer; among equals, the newest.
    assert keyed[(OWNER_USER, "u", "persona")].content == "newer"
    assert [v.content for v in keyed[(OWNER_USER, "u", "persona")].versions] == ["older"]
    assert keyed[(OWNER_USER, "u", "notes")].content == "new"


# --- history (databases only) ---------------------------------------------------------------


def test_history_versions_match_block_history(db_source):
    rows = db_source.db_rows(
        "SELECT h.id, h.block_id, h.sequence_number, h.value, h.actor_type, h.actor_id, "
        "b.current_history_entry_id FROM block_history h JOIN block b ON b.id = h.block_id "
        "ORDER BY h.block_id, h.sequence_number")
    assert len(rows) == 9
    names = {r["id"]: r["name"] for r in db_source.db_rows("SELECT id, name FROM agents")}
    by_block: dict[str, list[dict]] = {}
    for row in rows:
        by_block.setdefault(row["block_id"], []).append(row)
    checked = 0
    for block in db_source.blocks:
        expected = by_block.get(block.metadata["letta"]["block_id"], [])
        history = [v for v in block.versions if v.import_key.startswith("letta:history:")]
        assert [v.import_key for v in history] == [f"letta:history:{r['id']}" for r in expected]
        assert [v.content for v in history] == [r["value"] for r in expected]
        assert [v.actor for v in history] == [
            f"agent:{names[r['actor_id']]}" if r["actor_type"] == "letta_agent" else "import:letta"
            for r in expected]
        for version, row in zip(history, expected, strict=True):
            assert version.metadata["letta"]["actor_type"] == row["actor_type"]
            assert version.metadata["letta"]["actor_id"] == row["actor_id"]
            assert version.date is not None and version.date.tzinfo is not None
            checked += 1
    assert checked == 9


def test_student_history_with_agent_actor(db_source):
    student = db_source.keyed[(OWNER_USER, U1, "student")]
    assert [v.reason for v in student.versions] == [
        "Letta checkpoint 1", "Letta checkpoint 2", "Letta checkpoint 3"]
    assert [v.actor for v in student.versions] == [
        "import:letta", "import:letta", f"agent:youlab_{U1}_background"]
    # The value is checkpoint 3: the core adds no extra version.
    assert student.versions[-1].content == student.content
    assert student.current_reason == "Letta checkpoint 3"
    assert [v.date for v in student.versions] == sorted(v.date for v in student.versions)


def test_undo_keeps_the_undone_checkpoint(db_source):
    journey = db_source.keyed[(OWNER_USER, U1, "journey")]
    assert len(journey.versions) == 4
    seq3, seq4 = journey.versions[2], journey.versions[3]
    assert seq4.reason == "Letta checkpoint 4 (undone)"
    assert seq4.metadata["letta"]["undone"] is True
    assert "undone" not in seq3.metadata["letta"]
    assert seq4.actor == f"agent:youlab_{U1}_background"
    # Block value = checkpoint 3; it differs from the last version, so the core will append it
    # as the newest version with this reason.
    assert journey.content == seq3.content != seq4.content
    assert journey.current_reason == "Letta undo to checkpoint 3"
    assert journey.metadata["letta"]["current_history_entry_id"] == (
        seq3.metadata["letta"]["history_id"])


def test_edit_after_the_last_checkpoint(db_source):
    block = db_source.keyed[(OWNER_USER, U2, "engagement_strategy")]
    assert [v.reason for v in block.versions] == ["Letta checkpoint 1", "Letta checkpoint 2"]
    assert block.content != block.versions[-1].content
    assert block.content == db_source.manifest["users"][U2]["final_values"][
        "engagement_strategy"]["value"]
    assert block.current_reason == "Letta edit after checkpoint 2"
    assert block.current_key.endswith(sha16(block.content))


def test_rest_edits_leave_no_history(db_source):
    for uid in (U4, U5):
        for label in ("journey", "student"):
            block = db_source.keyed[(OWNER_USER, uid, label)]
            assert block.versions == []
            assert block.metadata["letta"]["version"] > 1  # only Letta's lock counter moved
            assert block.current_reason == "Letta block value"


def test_timestamps_are_utc(db_source):
    journey = db_source.keyed[(OWNER_USER, U1, "journey")]
    assert journey.created_at.tzinfo == timezone.utc
    assert journey.updated_at > journey.created_at
    if db_source.name == "sqlite":
        # naive "YYYY-MM-DD HH:MM:SS" and microsecond values, both UTC
        assert journey.created_at == datetime(2026, 11, 28, 22, 47, 41, tzinfo=timezone.utc)
        assert journey.updated_at == datetime(2026, 11, 28, 22, 47, 47, 653534,
                                              tzinfo=timezone.utc)


def test_soft_deleted_scratchpad_is_deleted(db_source):
    scratchpad = db_source.keyed[(OWNER_USER, U6, "scratchpad")]
    assert scratchpad.deleted is True
    assert scratchpad.metadata["letta"]["block_id"] == (
        db_source.manifest["users"][U6]["soft_deleted_block"])
    assert scratchpad.metadata["letta"]["agents"] == []  # detached before the delete
    assert scratchpad.char_limit == 1000


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


# --- REST specifics --------------------------------------------------------------------------


def test_api_0117_requests_are_exactly_the_recorded_ones(letta_replay, manifest_0117):
    replay = letta_replay(FIXTURES / "api")
    list(letta.read_api(replay.url))
    course = manifest_0117["shared_blocks"]["course"]["id"]
    assert replay.requests == [
        "/v1/health/",
        "/v1/agents/count",
        "/v1/agents/?limit=50",
        "/v1/blocks/count",
        "/v1/blocks/?limit=100",  # one big page: 0.11.7's after= paging on blocks is broken
        f"/v1/blocks/{course}/agents?include_relationships=memory",  # finds the hidden agent
        "/v1/identities/?limit=50",
    ]
    assert replay.unknown == []


def test_api_0168_requests_are_exactly_the_recorded_ones(letta_replay, manifest_0168):
    replay = letta_replay(PG_FIXTURES / "api")
    list(letta.read_api(replay.url))
    include = "include=agent.blocks&include=agent.tags&include=agent.identities"
    course = manifest_0168["shared_blocks"]["course"]["id"]
    assert replay.requests == [
        "/v1/health/",
        "/v1/agents/count",
        f"/v1/agents/?limit=50&{include}",
        "/v1/blocks/count",
        "/v1/blocks/?limit=100",
        f"/v1/blocks/{course}/agents?{include}",
        "/v1/identities/?limit=50",
    ]
    assert replay.unknown == []


def test_api_sends_the_token(letta_replay):
    replay = letta_replay(FIXTURES / "api")
    list(letta.read_api(replay.url + "/", token="s3cret"))
    assert {h.get("Authorization") for h in replay.headers} == {"Bearer s3cret"}


def test_api_reports_what_rest_cannot_show(letta_replay):
    replay = letta_replay(PG_FIXTURES / "api")
    _, blocks, skipped = split(list(letta.read_api(replay.url)))
    keyed = by_owner(blocks)
    # The hidden archived_notes block is invisible over 0.16.8 REST: counted, not listed.
    assert (OWNER_USER, U5, "archived_notes") not in keyed
    assert any(s.kind == "block" and "says 40 but only 39" in s.reason for s in skipped)
    # Soft deletes are invisible over REST: the scratchpad comes back live, and that is said.
    assert keyed[(OWNER_USER, U6, "scratchpad")].deleted is False
    assert any(s.key == "is_deleted" for s in skipped)
    assert any(s.key == "agents" and "hidden agents" in s.reason for s in skipped)


def test_api_0117_template_names_are_unknown_but_owners_are_not(letta_replay):
    replay = letta_replay(FIXTURES / "api")
    _, blocks, _ = split(list(letta.read_api(replay.url)))
    assert all("template_name" not in b.metadata["letta"] for b in blocks)
    # The detached scratchpad has no agent: its owner comes from its youlab metadata.
    scratchpad = by_owner(blocks)[(OWNER_USER, U6, "scratchpad")]
    assert scratchpad.metadata["letta"]["agents"] == []


def test_api_missing_hidden_agent_is_reported(tmp_path, letta_replay):
    # A 0.11.7 server whose shared block's agents cannot be listed: the hidden agent stays
    # unknown, the count says so, and its inline persona has no owner.
    api = tmp_path / "api"
    api.mkdir()
    src = FIXTURES / "api"
    index = [line for line in (src / "INDEX.tsv").read_text().splitlines()
             if "/agents?include_relationships" not in line.split("\t")[2]
             or line.startswith("file")]
    (api / "INDEX.tsv").write_text("\n".join(index) + "\n")
    for line in index[1:]:
        name = line.split("\t")[0]
        (api / name).write_bytes((src / name).read_bytes())
    replay = letta_replay(api)
    _, blocks, skipped = split(list(letta.read_api(replay.url)))
    assert any(s.kind == "agent" and "says 12 but only 11" in s.reason for s in skipped)
    assert any(s.kind == "block" and "has no owner" in s.reason for s in skipped)
    assert len(replay.unknown) == 1  # the one probe, answered 404 and reported
    assert (OWNER_USER, U6, "student") in by_owner(blocks)


# --- Agent Files -----------------------------------------------------------------------------

AGENT_FILES = {
    "agentfiles/youlab_maya_tutor.af": (U1, "0117"),
    "agentfiles/youlab_xiaoming_tutor_and_background.af": (U3, "0117"),
    "agentfiles/youlab_amara_background.af": (U5, "0117"),
    "agentfiles/legacy_v1_youlab_sofia_tutor.af": (U2, "0117"),
    "api/export_u1_tutor_v2.af": (U1, "0117"),
    "api/export_u1_tutor_legacy_v1.af": (U1, "0117"),
    "v0.16.8-postgres/agentfiles/youlab_maya_tutor.af": (U1, "0168"),
    "v0.16.8-postgres/agentfiles/youlab_xiaoming_tutor_and_background.af": (U3, "0168"),
    "v0.16.8-postgres/agentfiles/youlab_amara_background.af": (U5, "0168"),
    "v0.16.8-postgres/api/export_u1_tutor_v2.af": (U1, "0168"),
}


@pytest.mark.parametrize("rel", sorted(AGENT_FILES))
def test_youlab_agent_file_blocks(rel, manifest_0117, manifest_0168):
    uid, version = AGENT_FILES[rel]
    manifest = manifest_0117 if version == "0117" else manifest_0168
    learners, blocks, skipped = split(list(letta.read_agent_file(FIXTURES / rel)))
    assert [r.user_id for r in learners] == [uid]
    keyed = by_owner(blocks)
    background_only = "background" in rel and "tutor" not in rel
    user_labels = sorted(label for (t, _, label) in keyed if t == OWNER_USER)
    shared_labels = sorted(label for (t, _, label) in keyed if t == OWNER_SHARED)
    # A background agent has no `human` block and no rubric; its persona is its own inline one.
    assert user_labels == ([x for x in LEARNER_LABELS if x != "human"] if background_only
                           else LEARNER_LABELS)
    assert shared_labels == (["course"] if background_only else ["course", "essay_rubric"])
    final = manifest["users"][uid]["final_values"]
    for label in user_labels:
        block = keyed[(OWNER_USER, uid, label)]
        assert block.source == letta.SOURCE_AGENT_FILE
        assert "block_id" not in block.metadata["letta"]  # file-local ids are not Letta ids
        assert block.metadata["letta"]["file"] == Path(rel).name
        if label == "persona" and background_only:
            # Only the background agent's inline persona is in this file.
            assert block.char_limit == 2000 and own_metadata(block) == {}
            continue
        assert block.content == final[label]["value"]
        assert block.char_limit == final[label]["limit"]
        assert block.description == final[label]["description"]
        assert own_metadata(block) == final[label]["metadata"]
        assert block.current_key == f"letta:user:{uid}:{label}:value:{sha16(block.content)}"
    legacy = "legacy" in rel
    # The legacy format has no read_only: every block reads as writable, and that is said.
    assert keyed[(OWNER_SHARED, COURSE, "course")].read_only is (not legacy)
    assert any("no read_only" in s.reason for s in skipped) is legacy
    merges = [s for s in skipped if "merged into" in s.reason]
    assert len(merges) == (1 if "tutor_and_background" in rel else 0)
    assert [s for s in skipped if s.kind != "note"] == []


def test_two_agents_in_one_file_share_their_blocks():
    path = FIXTURES / "agentfiles/youlab_xiaoming_tutor_and_background.af"
    learners, blocks, skipped = split(list(letta.read_agent_file(path)))
    (learner,) = learners
    assert sorted(a["type"] for a in learner.metadata["letta"]["agents"]) == [
        "background", "tutor"]
    student = by_owner(blocks)[(OWNER_USER, U3, "student")]
    assert len(student.metadata["letta"]["agents"]) == 2
    assert student.metadata["reviewed_by"] == "counselor@youlab.example"
    assert "📻🔧" in student.content and "爷爷的收音机" in student.content


def test_legacy_agent_file_details():
    path = FIXTURES / "agentfiles/legacy_v1_youlab_sofia_tutor.af"
    learners, blocks, _ = split(list(letta.read_agent_file(path)))
    assert learners[0].metadata["letta"]["agents"][0]["tags"] == [
        "course:college-essay", "youlab", "youlab:tutor"]
    block = by_owner(blocks)[(OWNER_USER, U2, "engagement_strategy")]
    assert block.metadata["letta"]["file_format"] == "legacy-v1"
    assert block.metadata["letta"]["letta_version"] == "0.11.7"
    assert block.metadata["letta"]["template_name"] == f"youlab_user_{U2}_engagement_strategy"
    assert block.updated_at == datetime(2026, 11, 28, 22, 47, 48, 772771, tzinfo=timezone.utc)
    assert "Prefiere mensajes en español cuando está cansada 🌙" in block.content


PUBLIC_FILES = ["memgpt_agent_with_convo.af", "customer_service.double_encoded.af",
                "memgpt_agent.legacy_v1_0.6.47.af"]


@pytest.mark.parametrize("name", PUBLIC_FILES)
def test_public_agent_files_are_skipped_with_reasons(name):
    learners, blocks, skipped = split(
        list(letta.read_agent_file(FIXTURES / "agentfiles/public" / name)))
    assert learners == [] and blocks == []
    kinds = Counter(s.kind for s in skipped if s.kind != "note")
    assert kinds == {"agent": 1, "block": 2}  # parsed (double-encoded too), then skipped
    agent = next(s for s in skipped if s.kind == "agent")
    assert "not a YouLab agent" in agent.reason
    assert all("non-YouLab agent" in s.reason for s in skipped if s.kind == "block")


def test_agent_files_read_together_share_the_course_block_once():
    paths = [FIXTURES / "agentfiles" / n for n in (
        "youlab_maya_tutor.af", "youlab_xiaoming_tutor_and_background.af",
        "youlab_amara_background.af")] + [FIXTURES / "agentfiles/public/memgpt_agent_with_convo.af"]
    learners, blocks, skipped = split(list(letta.read_agent_files(paths)))
    assert sorted(r.user_id for r in learners) == sorted([U1, U3, U5])
    shared = [b for b in blocks if b.owner_type == OWNER_SHARED]
    assert sorted(b.label for b in shared) == ["course", "essay_rubric"]
    course = by_owner(blocks)[(OWNER_SHARED, COURSE, "course")]
    assert len(course.metadata["letta"]["merged_blocks"]) == 2  # identical copies, no versions
    assert course.versions == []
    assert Counter(s.kind for s in skipped)["agent"] == 1


def test_import_keys_are_stable_across_sources(sqlite_source):
    """SQLite then Agent Files: same (owner, label, content) → same keys, so no duplicates."""
    for rel in ("agentfiles/youlab_maya_tutor.af",
                "agentfiles/youlab_xiaoming_tutor_and_background.af",
                "agentfiles/legacy_v1_youlab_sofia_tutor.af"):
        _, blocks, _ = split(list(letta.read_agent_file(FIXTURES / rel)))
        for block in blocks:
            from_db = sqlite_source.keyed[(block.owner_type, block.owner_id, block.label)]
            assert block.content == from_db.content
            assert block.current_key == from_db.current_key
            if block.versions:  # the merged inline persona
                assert [v.import_key for v in block.versions] == [
                    v.import_key for v in from_db.versions]


def test_postgres_legacy_export_answer_is_reported_not_raised():
    # 0.16.8 answered 400 {"detail": ...} to ?use_legacy_format=true; the body was saved as .af.
    path = PG_FIXTURES / "api/export_u1_tutor_legacy_v1.af"
    (record,) = list(letta.read_agent_file(path))
    assert record.kind == "file" and "not a Letta Agent File" in record.reason


# --- --user filter ---------------------------------------------------------------------------


def test_user_filter():
    learners, blocks, skipped = split(list(letta.read_sqlite(SQLITE, user_id=U6)))
    assert [r.user_id for r in learners] == [U6]
    assert sorted((b.owner_type, b.label) for b in blocks) == sorted(
        [(OWNER_USER, label) for label in [*LEARNER_LABELS, "scratchpad"]]
        + [(OWNER_SHARED, "course"), (OWNER_SHARED, "essay_rubric")])
    assert all(b.owner_id in (U6, COURSE) for b in blocks)
    # Only reports about this learner (no other learner's merged persona).
    merges = [s for s in skipped if "merged into" in s.reason]
    assert [s.reason.split(" as ")[0] for s in merges] == [f"merged into user:{U6}/persona"]


def test_user_filter_postgres(letta_postgres_url):
    learners, blocks, _ = split(list(letta.read_postgres(letta_postgres_url, user_id=U5)))
    assert [r.user_id for r in learners] == [U5]
    assert sorted(b.label for b in blocks if b.owner_type == OWNER_USER) == sorted(
        [*LEARNER_LABELS, "archived_notes"])


def test_user_filter_on_an_unknown_learner_yields_source_reports_only(letta_replay):
    replay = letta_replay(FIXTURES / "api")
    records = list(letta.read_api(replay.url, user_id="nobody"))
    assert records and all(isinstance(r, SkippedRecord) and r.key == "is_deleted"
                           for r in records)


# --- mapping rules on synthetic rows ---------------------------------------------------------


def agent(aid, name="", metadata=None, tags=()):
    return LettaAgent(id=aid, ref=aid, name=name, metadata=metadata or {}, tags=list(tags))


def block(bid, label, value="v", **kw):
    return LettaBlock(id=bid, ref=bid, label=label, value=value, **kw)


def snapshot(agents=(), blocks=(), links=()):
    snap = LettaSnapshot("letta:sqlite", "test")
    for a in agents:
        snap.add_agent(a)
    for b in blocks:
        snap.add_block(b)
    snap.links.update(links)
    return snap


def test_learner_id_from_metadata_then_name():
    assert agent_learner(agent("a", "youlab_x_tutor", {"youlab_user_id": "u_1"})) == "u_1"
    assert agent_learner(agent("a", "youlab_demo_learner_6_background")) == U6
    assert agent_learner(agent("a", "youlab_a_b_c_tutor", {"youlab_user_id": ""})) == "a_b_c"
    assert agent_learner(agent("a", "youlab_x_helper")) is None
    assert agent_learner(agent("a", "memgpt_agent")) is None


def test_block_of_several_learners_becomes_shared():
    snap = snapshot(
        agents=[agent("a1", "youlab_u1_tutor", tags=["course:c-1"]),
                agent("a2", "youlab_u2_tutor", tags=["course:c-1"]),
                agent("a3", "youlab_u3_tutor", {"course_id": "other"})],
        blocks=[block("b1", "notes"), block("b2", "faq")],
        links={("a1", "b1"), ("a2", "b1"), ("a1", "b2"), ("a3", "b2")})
    learners, blocks, _ = split(list(map_letta(snap)))
    keyed = by_owner(blocks)
    notes = keyed[(OWNER_SHARED, "c-1", "notes")]
    assert notes.metadata["letta"]["shared_reason"] == "attached to agents of 2 learners"
    # Two different courses: no single course id, the fallback namespace.
    assert (OWNER_SHARED, FALLBACK_SHARED_NAMESPACE, "faq") in keyed
    assert sorted(r.user_id for r in learners) == ["u1", "u2", "u3"]
    # --user keeps shared blocks the learner uses, only those.
    _, only_u3, _ = split(list(map_letta(snap, user_id="u3")))
    assert [(b.owner_id, b.label) for b in only_u3] == [(FALLBACK_SHARED_NAMESPACE, "faq")]


def test_soft_deleted_agent_does_not_make_a_block_shared():
    gone = agent("a2", "youlab_u2_tutor")
    gone.deleted = True
    snap = snapshot(agents=[agent("a1", "youlab_u1_tutor"), gone],
                    blocks=[block("b1", "notes"), block("b2", "old")],
                    links={("a1", "b1"), ("a2", "b1"), ("a2", "b2")})
    _, blocks, _ = split(list(map_letta(snap)))
    assert sorted(by_owner(blocks)) == [(OWNER_USER, "u1", "notes"), (OWNER_USER, "u2", "old")]


def test_detached_blocks_get_their_owner_from_template_then_metadata():
    snap = snapshot(blocks=[
        block("b1", "journey", template_name="youlab_user_demo_learner_6_journey"),
        block("b2", "notes", metadata={"youlab_user_id": "u9"}),
        block("b3", "rubric", template_name="youlab_shared_my_course_rubric"),
        block("b4", "scratch"),
    ])
    _, blocks, skipped = split(list(map_letta(snap)))
    assert sorted(by_owner(blocks)) == [
        (OWNER_SHARED, "my_course", "rubric"), (OWNER_USER, U6, "journey"),
        (OWNER_USER, "u9", "notes")]
    (orphan,) = skipped
    assert (orphan.kind, orphan.key) == ("block", "b4") and "has no owner" in orphan.reason


def test_live_block_beats_a_newer_soft_deleted_one():
    t1 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    t2 = datetime(2026, 1, 2, tzinfo=timezone.utc)
    snap = snapshot(agents=[agent("a", "youlab_u_tutor")], blocks=[
        block("old", "notes", "live text", updated_at=t1),
        block("new", "notes", "deleted text", updated_at=t2, deleted=True,
              metadata={"youlab_user_id": "u"}),
    ], links={("a", "old")})
    _, (notes,), _ = split(list(map_letta(snap)))
    assert notes.content == "live text" and notes.deleted is False
    assert [v.content for v in notes.versions] == ["deleted text"]


# --- malformed inputs ------------------------------------------------------------------------


def test_truncated_agent_file_is_reported(tmp_path):
    path = tmp_path / "broken.af"
    path.write_text((FIXTURES / "agentfiles/youlab_maya_tutor.af").read_text()[:5000])
    (record,) = list(letta.read_agent_file(path))
    assert (record.kind, record.key) == ("file", "broken.af")
    assert "not valid JSON" in record.reason


def test_broken_agent_file_among_good_ones(tmp_path):
    bad = tmp_path / "bad.af"
    bad.write_bytes(b"\xff\xfe not json")
    listed = tmp_path / "list.af"
    listed.write_text("[1, 2]")
    good = FIXTURES / "agentfiles/youlab_maya_tutor.af"
    learners, blocks, skipped = split(list(letta.read_agent_files([bad, good, listed])))
    assert [r.user_id for r in learners] == [U1] and len(blocks) == 7
    assert sorted((s.kind, s.key) for s in skipped) == [("file", "bad.af"), ("file", "list.af")]


def test_agent_file_with_wrong_types(tmp_path):
    doc = json.loads((FIXTURES / "agentfiles/youlab_maya_tutor.af").read_text())
    index = {b["label"]: i for i, b in enumerate(doc["blocks"])}
    human, persona, journey = (doc["blocks"][index[k]] for k in ("human", "persona", "journey"))
    human["value"] = 42  # not text: skipped
    del persona["label"]  # skipped
    journey["limit"] = "lots"  # kept, limit dropped
    journey["metadata"] = "{not json"  # kept, raw metadata kept
    doc["blocks"].append("not a block")
    doc["agents"].append(None)
    doc["agents"][0]["block_ids"].append("block-99")
    path = tmp_path / "odd.af"
    path.write_text(json.dumps(json.dumps(doc)))  # double-encoded, for good measure
    _, blocks, skipped = split(list(letta.read_agent_file(path)))
    keyed = by_owner(blocks)
    assert (OWNER_USER, U1, "human") not in keyed
    journey_record = keyed[(OWNER_USER, U1, "journey")]
    assert journey_record.char_limit is None
    assert journey_record.metadata["letta"]["raw_metadata"] == "{not json"
    reasons = {(s.kind, s.key): s.reason for s in skipped}
    assert reasons[("row", f"odd.af:blocks[{index['human']}]")] == "value is int, expected text"
    assert reasons[("row", f"odd.af:blocks[{index['persona']}]")] == "label is NULL"
    assert ("row", "odd.af:blocks[7]") in reasons
    assert ("row", "odd.af:agents[1]") in reasons
    assert "unknown block id 'block-99'" in reasons[("row", "odd.af:agent-0.block_ids")]
    journey_notes = [s.reason for s in skipped if s.key == f"block odd.af:{journey['id']}"]
    assert sorted(journey_notes) == [
        "limit 'lots' is not an integer; left empty",
        "metadata is not valid JSON (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)); kept raw"]


def test_missing_agent_file_raises(tmp_path):
    with pytest.raises(ImportSourceError, match="not found"):
        letta.read_agent_file(tmp_path / "nope.af")


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


def write_api(folder: Path, responses: dict[str, tuple[int, object]]) -> Path:
    folder.mkdir()
    lines = ["file\tmethod\tpath\thttp_status"]
    for i, (path, (status, body)) in enumerate(responses.items()):
        name = f"r{i}.json"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        (folder / name).write_bytes(data)
        lines.append(f"{name}\tGET\t{path}\t{status}")
    (folder / "INDEX.tsv").write_text("\n".join(lines) + "\n")
    return folder


def test_api_malformed_items_are_reported(tmp_path, letta_replay):
    good_block = {"id": "block-1", "label": "human", "value": "hi", "limit": 10,
                  "metadata": {"youlab_user_id": "u"}}
    api = write_api(tmp_path / "api", {
        "/v1/health/": (200, {"version": "0.11.7", "status": "ok"}),
        "/v1/agents/count": (500, {"detail": "boom"}),
        "/v1/agents/?limit=50": (200, [
            "junk",
            {"id": "agent-1", "name": "youlab_u_tutor", "metadata": {},
             "memory": {"blocks": [good_block, {"id": "block-2", "label": "x"}]}},
        ]),
        "/v1/blocks/count": (200, "many"),
        "/v1/blocks/?limit=100": (200, [good_block, {"id": "block-3", "value": None}]),
        "/v1/blocks/block-1/agents?include_relationships=memory": (200, {"not": "a list"}),
        "/v1/identities/?limit=50": (200, [7]),
    })
    replay = letta_replay(api)
    learners, blocks, skipped = split(list(letta.read_api(replay.url)))
    assert replay.unknown == []
    assert [r.user_id for r in learners] == ["u"]
    assert [(b.owner_id, b.label, b.content) for b in blocks] == [("u", "human", "hi")]
    reasons = {(s.kind, s.key): s.reason for s in skipped}
    assert reasons[("row", "agents")] == "agent is a str, not an object"
    assert reasons[("row", "block/block-2")] == "value is NULL"
    assert reasons[("row", "block/block-3")] == "label is NULL"
    assert ("note", "/v1/agents/count") in reasons
    assert ("row", "identities") in reasons


def test_api_that_is_not_letta_raises(tmp_path, letta_replay):
    replay = letta_replay(write_api(tmp_path / "api", {"/": (200, {})}))
    with pytest.raises(ImportSourceError, match="does not look like a Letta server"):
        letta.read_api(replay.url)
    replay = letta_replay(write_api(tmp_path / "api2", {
        "/v1/health/": (200, {"version": "0.16.8"}),
        "/v1/agents/count": (200, 0),
        "/v1/agents/?limit=50&include=agent.blocks&include=agent.tags&include=agent.identities":
            (200, b"<html>oops</html>"),
    }))
    with pytest.raises(ImportSourceError, match="cannot list Letta data"):
        letta.read_api(replay.url)
    with pytest.raises(ImportSourceError, match="cannot reach"):
        letta.read_api("http://127.0.0.1:1", timeout=2)


def test_snapshot_keeps_values_and_history_on_disk_until_mapped():
    snap = snapshot(agents=[agent("a1", "youlab_u1_tutor")],
                    blocks=[block("b1", "notes", value="x" * 5000,
                                  metadata={"course_id": "c", "other": "y" * 1000})],
                    links={("a1", "b1")})
    snap.add_block_tag("b1", "from-tags-table")
    snap.add_block_tag("unknown", "ignored")
    snap.add_history(LettaHistoryEntry(id="h2", block_id="b1", sequence_number=2, value="v2"))
    snap.add_history(LettaHistoryEntry(id="h1", block_id="b1", sequence_number=1, value="v1"))
    facts = snap.blocks["b1"]
    assert facts == BlockFacts("b1", "b1", "notes", None, {"course_id": "c"})
    full = snap.block("b1")
    assert (full.value, full.metadata["other"], full.tags) == ("x" * 5000, "y" * 1000,
                                                                ["from-tags-table"])
    assert [e.id for e in snap.history_of("b1")] == ["h2", "h1"]  # mapping sorts by sequence
    _, (notes,), _ = split(list(map_letta(snap)))
    assert [v.content for v in notes.versions] == ["v1", "v2"]
    assert notes.content == "x" * 5000
    snap.close()
    with pytest.raises(sqlite3.ProgrammingError):
        snap.block("b1")


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
