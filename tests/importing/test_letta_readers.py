"""The Letta readers against the real fixture data (letta.md), what every source has in common:
SQLite 0.11.7, Postgres 0.16.8 and the recorded REST of both give the manifest's blocks,
learners and history; the mapping rules on synthetic rows; the --user filter.
Per source: test_letta_databases.py, test_letta_rest.py, test_letta_agent_files.py.

No Dolt database is used: the readers only produce records.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import datetime, timezone

import pytest

from importing import letta
from importing.letta.mapping import map_letta
from importing.letta.ownership import FALLBACK_SHARED_NAMESPACE, agent_learner
from importing.letta.snapshot import BlockFacts, LettaAgent, LettaBlock, LettaHistoryEntry, LettaSnapshot
from importing.records import OWNER_SHARED, OWNER_USER, SkippedRecord

from .conftest import (
    COURSE,
    FIXTURES,
    LEARNER_LABELS,
    PG_FIXTURES,
    SQLITE,
    U1,
    U2,
    U4,
    U5,
    U6,
    Source,
    by_owner,
    own_metadata,
    sha16,
    split,
)


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
