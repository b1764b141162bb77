"""The Letta Agent File reader: YouLab's exports of both versions, the REST exports, the public
files, several files read together, and broken files made here.

No Dolt database is used: the readers only produce records.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from importing import letta
from importing.letta import ImportSourceError
from importing.records import OWNER_SHARED, OWNER_USER

from .conftest import (
    COURSE,
    FIXTURES,
    LEARNER_LABELS,
    PG_FIXTURES,
    U1,
    U2,
    U3,
    U5,
    by_owner,
    own_metadata,
    sha16,
    split,
)


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


# --- malformed files --------------------------------------------------------------------------


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
