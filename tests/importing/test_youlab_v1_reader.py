"""The YouLab v1 reader: the shared fixture (written by v1 itself) and synthetic repositories.

No test here needs the database: the reader only yields plain records.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from importing.records import (
    BlockRecord,
    DiffRecord,
    LearnerRecord,
    SkippedRecord,
)
from importing.youlab_v1 import (
    map_actor,
    read_data_root,
    split_author,
    split_frontmatter,
    toml_to_markdown,
)

from .v1_builder import BANGKOK, V1Repo, frontmatter_file, run_git

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "youlab_v1"
MANIFEST = json.loads((FIXTURE / "manifest.json").read_text(encoding="utf-8"))
EXPECTED = json.loads((FIXTURE / "expected_v1_api.json").read_text(encoding="utf-8"))["users"]
UTC = timezone.utc

ELODIE = "3f6c1b9e-8a2d-4c1e-9b7a-5d2e8f4a1c01"
LI_MING = "7a0e4d2c-1f3b-4e5a-8c9d-2b6f0e1a3d02"
EMPTY = "b5d8e1f4-2c7a-4b3e-9f1d-6a0c4e8b2d03"

MANIFEST_BLOCKS = [
    pytest.param(uid, block, id=f"{uid[:8]}/{block['label_from_filename']}")
    for uid, learner in MANIFEST["users"].items()
    for block in learner["blocks"]
]
MANIFEST_DIFFS = [
    pytest.param(uid, diff, id=f"{uid[:8]}/{diff['id'][:8]}")
    for uid, learner in MANIFEST["users"].items()
    for diff in learner["diffs"]
]


# --------------------------------------------------------------------------- helpers


def blocks_of(records, user_id=None) -> dict[str, BlockRecord]:
    return {
        r.label: r
        for r in records
        if isinstance(r, BlockRecord) and (user_id is None or r.owner_id == user_id)
    }


def diffs_of(records) -> dict[str, DiffRecord]:
    return {r.import_key: r for r in records if isinstance(r, DiffRecord)}


def skipped(records, kind=None) -> list[SkippedRecord]:
    return [r for r in records if isinstance(r, SkippedRecord) and kind in (None, r.kind)]


def reasons(records, kind=None) -> str:
    return "\n".join(f"{r.key}: {r.reason}" for r in skipped(records, kind))


def commits_touching(learner: dict, path: str) -> list[dict]:
    return [c for c in learner["commits"] if any(f.split("\t")[-1] == path for f in c["files"])]


def expected_actor(trailer: str | None) -> str:
    if trailer in ("user", "system") or (trailer or "").startswith("agent:"):
        return trailer
    return "unknown"


def assert_v1_string(actual: str, expected) -> None:
    """expected_v1_api.json replaces strings over 4096 characters by a digest."""
    if isinstance(expected, dict):
        assert len(actual) == expected["chars"]
        assert hashlib.sha256(actual.encode("utf-8")).hexdigest() == expected["sha256_utf8"]
    else:
        assert actual == expected


def read(root, **kwargs) -> list:
    return list(read_data_root(root, **kwargs))


def tree_state(path: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in path.rglob("*")
        if p.is_file()
    )


# --------------------------------------------------------------------------- the shared fixture


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("youlab_v1")
    with tarfile.open(FIXTURE / "users.tar.gz") as tar:
        tar.extractall(dest, filter="data")
    return dest / "users"


@pytest.fixture(scope="module")
def records(fixture_root):
    return read(fixture_root, tz="Asia/Bangkok")


def test_every_learner_repo_is_a_learner(records):
    learners = {r.user_id: r for r in records if isinstance(r, LearnerRecord)}
    assert set(learners) == set(MANIFEST["users"])
    for uid, learner in MANIFEST["users"].items():
        assert learners[uid].source == "youlab_v1"
        assert learners[uid].metadata["v1"]["head"] == learner["head"]
        assert learners[uid].metadata["v1"]["branch"] == learner["branch"]
        assert learners[uid].metadata["v1"]["commits"] == learner["commit_count"]


def test_blocks_are_exactly_the_md_files(records):
    for uid, learner in MANIFEST["users"].items():
        assert set(blocks_of(records, uid)) == {b["label_from_filename"] for b in learner["blocks"]}


def test_empty_repo_is_a_learner_without_blocks(records):
    assert any(isinstance(r, LearnerRecord) and r.user_id == EMPTY for r in records)
    assert blocks_of(records, EMPTY) == {}
    assert not [d for d in diffs_of(records).values() if d.owner_id == EMPTY]
    assert not [s for s in skipped(records) if s.key.startswith(EMPTY)]


@pytest.mark.parametrize(("uid", "block"), MANIFEST_BLOCKS)
def test_current_content_is_the_body_byte_for_byte(records, fixture_root, uid, block):
    label = block["label_from_filename"]
    record = blocks_of(records, uid)[label]
    v1_block = EXPECTED[uid]["blocks"][label]["GET /users/{uid}/blocks/{label}"]
    assert_v1_string(record.content, v1_block["body"])
    assert len(record.content) == block["body_chars"]
    assert len(record.content.encode("utf-8")) == block["body_bytes"]
    # Independently: the file on disk is the frontmatter, a blank line and then exactly the body.
    on_disk = (fixture_root / uid / block["file"]).read_bytes()
    assert on_disk.endswith(b"\n---\n\n" + record.content.encode("utf-8"))

    assert record.owner_type == "user" and record.owner_id == uid
    assert record.source == "youlab_v1"
    assert record.source_key == f"{uid}/{block['file']}"
    assert record.metadata["v1"]["frontmatter"] == block["frontmatter"]
    assert record.metadata["v1"]["frontmatter"] == v1_block["metadata"]
    assert record.metadata["v1"]["path"] == block["file"]
    assert not record.deleted
    assert "uncommitted" not in record.metadata["v1"]


@pytest.mark.parametrize(("uid", "block"), MANIFEST_BLOCKS)
def test_every_commit_touching_the_file_is_a_version_in_order(records, uid, block):
    learner = MANIFEST["users"][uid]
    label = block["label_from_filename"]
    record = blocks_of(records, uid)[label]
    commits = commits_touching(learner, block["file"])

    assert len(record.versions) == len(commits) == block["commits_touching"]
    for version, commit in zip(record.versions, commits, strict=True):
        meta = version.metadata["v1"]
        assert meta["commit"] == commit["sha"]
        assert version.import_key == f"git:{commit['sha']}:{block['file']}"
        assert version.date == datetime.fromisoformat(commit["committer_date"])
        assert version.date.tzinfo is not None and version.date.utcoffset() == timedelta(0)
        assert meta["committed_at"] == commit["committer_date"]
        assert version.actor == expected_actor(commit["author_trailer_last"])
        assert meta["author"] == commit["author_trailer_last"]
        assert version.reason == commit["subject"]

    # Each version's content is that version's body, as v1's own versions route returned it.
    v1_versions = EXPECTED[uid]["blocks"][label]["versions"]
    for version in record.versions:
        v1_version = v1_versions[version.metadata["v1"]["commit"]]
        assert_v1_string(version.content, v1_version["body"])
        assert version.metadata["v1"]["frontmatter"] == v1_version["metadata"]

    # The newest version is the current content, so the core adds nothing.
    assert record.versions[-1].content == record.content
    assert record.created_at == record.versions[0].date
    assert record.updated_at == record.versions[-1].date
    assert record.current_actor == record.versions[-1].actor


@pytest.mark.parametrize(("uid", "block"), MANIFEST_BLOCKS)
def test_history_agrees_with_v1_history_route(records, uid, block):
    """Same commits and (naive Bangkok) timestamps as v1's history; authors differ on purpose."""
    label = block["label_from_filename"]
    record = blocks_of(records, uid)[label]
    v1_history = EXPECTED[uid]["blocks"][label]["GET /users/{uid}/blocks/{label}/history"]
    ours = list(reversed(record.versions))  # v1 lists newest first
    assert [v.metadata["v1"]["commit"] for v in ours] == [h["sha"] for h in v1_history]
    bangkok = ZoneInfo("Asia/Bangkok")
    for version, entry in zip(ours, v1_history, strict=True):
        naive_local = version.date.astimezone(bangkok).replace(tzinfo=None)
        assert naive_local.isoformat() == entry["timestamp"]
        assert version.reason == entry["message"]
        if entry["author"] != version.actor:
            # v1 took the FIRST "Author: " line; a user's message can fake it (spec §3).
            assert entry["author"] == "ce n'est pas un trailer"
            assert version.actor == "user"


def test_faked_author_line_in_a_user_message_does_not_count(records):
    student = blocks_of(records, ELODIE)["student"]
    version = next(v for v in student.versions if v.reason == "Corrige l'orthographe")
    assert version.actor == "user"
    assert version.metadata["v1"]["message"] == (
        "Corrige l'orthographe\n\nAjout d'une précision sur Lyon.\nAuthor: ce n'est pas un trailer"
    )


def test_block_with_empty_body_and_restore_to_empty_version(records):
    manual = blocks_of(records, LI_MING)["operating_manual"]
    assert manual.content == ""
    assert manual.versions[0].content == "" and manual.versions[-1].content == ""
    assert manual.versions[-1].reason.startswith("Restore operating_manual to version")


def test_non_ascii_and_hyphenated_labels(records):
    blocks = blocks_of(records, LI_MING)
    assert {"目标", "reading-list"} <= set(blocks)
    assert blocks["目标"].metadata["v1"]["frontmatter"]["block"] == "目标"  # was "\u76EE\u6807"
    assert blocks["reading-list"].metadata["v1"]["frontmatter"]["title"] == "阅读清单 📚"


@pytest.mark.parametrize(("uid", "diff"), MANIFEST_DIFFS)
def test_every_pending_diff_file_is_a_diff(records, uid, diff):
    record = diffs_of(records)[diff["id"]]
    assert record.owner_type == "user" and record.owner_id == uid
    assert record.label == diff["block_label"]
    assert record.agent_id == diff["agent_id"]
    assert record.source == "youlab_v1"
    assert record.metadata["original_operation"] == diff["operation"]
    assert record.metadata["original_status"] == diff["status"]
    assert record.metadata["field"] == diff["field"]
    assert record.metadata["confidence"] == "medium"
    assert record.metadata["v1"]["applied_commit"] == diff["applied_commit"]

    unappliable = diff["operation"] in ("replace", "llm_diff")
    if diff["status"] == "pending" and unappliable:
        assert record.status == "conflict"
        assert "v1 could not apply" in record.conflict_reason
    else:
        assert record.status == diff["status"]
        assert record.conflict_reason == ""

    bangkok = ZoneInfo("Asia/Bangkok")
    created = datetime.fromisoformat(diff["created_at"]).replace(tzinfo=bangkok)
    assert record.created_at == created and record.created_at.utcoffset() == timedelta(0)
    if diff["reviewed_at"]:
        reviewed = datetime.fromisoformat(diff["reviewed_at"]).replace(tzinfo=bangkok)
        assert record.reviewed_at == reviewed
    else:
        assert record.reviewed_at is None


def test_diff_counts_and_pending_set_match_v1(records):
    diffs = diffs_of(records)
    for uid, learner in MANIFEST["users"].items():
        ours = [d for d in diffs.values() if d.owner_id == uid]
        assert len(ours) == len(learner["diffs"])
        # What v1 listed as pending is exactly what we import as pending or conflict.
        v1_pending = {
            d["id"]
            for block in EXPECTED[uid].get("blocks", {}).values()
            for d in block["GET /users/{uid}/blocks/{label}/diffs"]
        }
        ours_open = {d.import_key for d in ours if d.status in ("pending", "conflict")}
        v1_counts = EXPECTED[uid].get("GET /users/{uid}/blocks/diffs/counts", {})
        assert len(ours_open) == sum(v1_counts.values())
        assert v1_pending <= ours_open


def test_operations_map_to_canonical_ops(records):
    by_op = {}
    for d in diffs_of(records).values():
        by_op.setdefault(d.metadata["original_operation"], set()).add(d.operation)
    assert by_op["append"] == {"append", "create"}
    assert by_op["full_replace"] == {"rethink"}
    assert by_op["replace"] == {"str_replace"}
    assert by_op["llm_diff"] == {"append"}

    replace = diffs_of(records)["faa2e1d4-95b3-42d3-845c-00f7a6b2e84e"]
    assert replace.arguments == {
        "old_str": replace.metadata["v1"]["current_value"],
        "new_str": "Prête pour le module 2.",
    }
    llm = diffs_of(records)["1f2b158b-4efe-46ea-a075-bc709349078e"]
    assert llm.status == "conflict" and "llm_diff" in llm.conflict_reason
    assert llm.arguments == {"text": "Poser davantage de questions ouvertes ; éviter le jargon."}


def test_applied_diffs_propose_exactly_the_version_v1_wrote(records):
    versions = {
        v.metadata["v1"]["commit"]: v.content
        for block in records
        if isinstance(block, BlockRecord)
        for v in block.versions
    }
    applied = [d for d in diffs_of(records).values() if d.metadata["v1"]["applied_commit"]]
    assert len(applied) == 4
    for diff in applied:
        assert diff.proposed_content == versions[diff.metadata["v1"]["applied_commit"]]


def test_approved_then_rejected_diff_stays_rejected(records):
    diff = diffs_of(records)["e410cf98-c047-4b6b-a29d-5d1483009d1d"]
    assert diff.status == "rejected"
    assert diff.metadata["approved_then_rejected"] is True
    assert diff.metadata["applied_commit"] == "7873450c5a7e4fe6af9a26d7b41d1d3f51f43ad9"


def test_diff_for_a_missing_block_is_kept_as_create_and_reported(records):
    diff = diffs_of(records)["ecfbd7c2-7a29-4d55-9e97-b9d6ee659baf"]
    assert diff.label == "portfolio" and "portfolio" not in blocks_of(records, ELODIE)
    assert diff.status == "pending"
    assert diff.operation == "create"
    assert diff.arguments == {"content": "- Essai « La voix du violoncelle »"}
    assert "'portfolio', which does not exist" in reasons(records, "note")


def test_only_the_missing_block_diff_is_reported(records):
    notes = skipped(records)
    assert [n.key for n in notes] == [
        f"{ELODIE}/pending_diffs/ecfbd7c2-7a29-4d55-9e97-b9d6ee659baf.json"
    ]


def test_user_id_selects_one_learner(fixture_root):
    only = read(fixture_root, user_id=LI_MING)
    assert {r.user_id for r in only if isinstance(r, LearnerRecord)} == {LI_MING}
    assert {b.owner_id for b in blocks_of(only).values()} == {LI_MING}

    missing = read(fixture_root, user_id="nobody")
    assert [(r.kind, r.key) for r in missing] == [("learner", "nobody")]
    outside = read(fixture_root / LI_MING / "memory-blocks", user_id=f"../../{ELODIE}")
    assert [type(r) for r in outside] == [SkippedRecord]


def test_diff_timestamps_default_to_utc(fixture_root):
    diff = diffs_of(read(fixture_root, user_id=ELODIE))["19c74fd7-6f39-4d09-a86c-de2e76514925"]
    assert diff.created_at == datetime(2026, 1, 19, 9, 3, 54, 758220, tzinfo=UTC)
    assert diff.metadata["v1"]["created_at"] == "2026-01-19T09:03:54.758220"


def test_reading_changes_nothing_on_disk(fixture_root):
    before = tree_state(fixture_root)
    read(fixture_root)
    assert tree_state(fixture_root) == before


# --------------------------------------------------------------------------- synthetic repositories


@pytest.fixture
def root(tmp_path) -> Path:
    path = tmp_path / "users"
    path.mkdir()
    return path


def only_block(records) -> BlockRecord:
    blocks = blocks_of(records)
    assert len(blocks) == 1, blocks
    return next(iter(blocks.values()))


def test_toml_era_learner_is_converted_with_history(root):
    repo = V1Repo(root, "toml-learner", era="toml")
    first = repo.write_toml(
        "student", 'profile = "Likes chess"\n', subject="Initialize student block", who="system"
    )
    second = repo.write_toml(
        "student", 'profile = "Likes chess"\ninsights = ["Plays at night", "Dislikes deadlines"]\n'
        "graduated = false\n\n[college]\nname = \"Lyon 2\"\n",
        who="agent:agent-7",
    )
    block = only_block(read(root))

    assert block.label == "student"
    assert block.content == (
        "## Profile\n\nLikes chess\n\n## Insights\n\n- Plays at night\n- Dislikes deadlines\n\n"
        "## Graduated\n\nNo\n\n## College\n\n### Name\n\nLyon 2\n"
    )
    assert block.metadata["v1"]["era"] == "toml"
    assert block.metadata["v1"]["toml_status"] == "converted"
    assert block.metadata["v1"]["toml"].startswith('profile = "Likes chess"\ninsights')
    assert [v.metadata["v1"]["commit"] for v in block.versions] == [first, second]
    assert [v.actor for v in block.versions] == ["system", "agent:agent-7"]
    assert block.versions[0].content == "## Profile\n\nLikes chess\n"
    assert block.versions[0].metadata["v1"]["toml"] == 'profile = "Likes chess"\n'
    assert block.versions[-1].content == block.content
    assert block.versions[0].import_key == f"git:{first}:blocks/student.toml"


def test_toml_overwritten_with_invalid_toml_is_verbatim_and_reported(root):
    repo = V1Repo(root, "broken-toml", era="toml")
    repo.write_toml("goals", 'goals = ["Finish essay"]\n')
    # A toml-era approval wrote proposed_value as the whole file, whatever the operation.
    repo.write_toml("goals", "- Read it aloud", who="agent:agent-7",
                    subject="Apply agent suggestion: Suggest a habit")
    records = read(root)
    block = only_block(records)

    assert block.content == "- Read it aloud"
    assert block.metadata["v1"]["toml_status"] == "invalid"
    assert "toml" not in block.metadata["v1"]
    assert block.versions[0].content == "## Goals\n\n- Finish essay\n"
    assert block.versions[1].content == "- Read it aloud"
    assert block.versions[1].metadata["v1"]["toml_status"] == "invalid"
    notes = reasons(records, "note")
    assert "current content is invalid TOML; imported verbatim" in notes
    assert "1 of 2 versions are invalid or empty TOML" in notes


def test_empty_toml_file_is_an_empty_block_and_reported(root):
    repo = V1Repo(root, "empty-toml", era="toml")
    # markdown_to_toml of input without "##" produced an empty file.
    repo.write_toml("notes", "")
    records = read(root)
    block = only_block(records)
    assert block.content == ""
    assert len(block.versions) == 1 and block.versions[0].content == ""
    assert block.metadata["v1"]["toml_status"] == "empty"
    assert "current content is empty TOML; imported verbatim" in reasons(records, "note")


def test_commits_without_a_change_to_the_file_are_not_versions(root):
    repo = V1Repo(root, "empty-commits", era="toml")
    first = repo.write_toml("student", 'name = "Ana"\n')
    repo.write_toml("student", 'name = "Ana"\n')  # identical bytes: a commit with no tree change
    repo.commit(None, "Nothing at all", who="user", allow_empty=True)
    last = repo.write_toml("student", 'name = "Ana B."\n')
    log = repo.git("rev-list", "--count", "HEAD").strip()
    assert log == "5"  # init + 4

    block = only_block(read(root))
    assert [v.metadata["v1"]["commit"] for v in block.versions] == [first, last]


def test_toml_history_becomes_earlier_versions_of_the_md_block(root):
    repo = V1Repo(root, "both-eras", era="toml")
    t1 = repo.write_toml("student", 'profile = "Ana"\n', who="system")
    t2 = repo.write_toml("student", 'profile = "Ana, 17"\n')
    (repo.path / "memory-blocks").mkdir()
    m1 = repo.write_md("student", "## Profile\nAna, 17, from Lyon\n")
    m2 = repo.write_md("student", "## Profile\nAna, 17, from Lyon. Cellist.\n", who="agent:a-1")
    records = read(root)
    block = only_block(records)

    assert block.label == "student"
    assert block.content == "## Profile\nAna, 17, from Lyon. Cellist.\n"
    assert block.metadata["v1"]["era"] == "md"
    assert [v.metadata["v1"]["commit"] for v in block.versions] == [t1, t2, m1, m2]
    assert block.versions[1].content == "## Profile\n\nAna, 17\n"
    assert block.versions[1].import_key == f"git:{t2}:blocks/student.toml"
    assert block.versions[2].import_key == f"git:{m1}:memory-blocks/student.md"
    assert block.created_at == block.versions[0].date
    assert block.metadata["v1"]["superseded_toml"] == {
        "path": "blocks/student.toml", "text": 'profile = "Ana, 17"\n'
    }
    assert "superseded by memory-blocks/student.md" in reasons(records, "note")


def test_uncommitted_md_block_over_toml_history(root):
    repo = V1Repo(root, "half-migrated", era="toml")
    t1 = repo.write_toml("student", 'profile = "Ana"\n')
    (repo.path / "memory-blocks").mkdir()
    repo.write_md("student", "Ana, from Lyon", commit=False)
    records = read(root)
    block = only_block(records)
    assert block.content == "Ana, from Lyon"
    assert [v.metadata["v1"]["commit"] for v in block.versions] == [t1]
    assert block.current_actor == "import:youlab_v1"
    assert "memory-blocks/student.md: work-tree file was never committed" in reasons(records)


def test_toml_block_without_md_counterpart_sits_next_to_md_blocks(root):
    repo = V1Repo(root, "mixed", era="toml")
    repo.write_toml("journey", 'module = "01"\n')
    (repo.path / "memory-blocks").mkdir()
    repo.write_md("student", "Ana")
    blocks = blocks_of(read(root))
    assert blocks["journey"].metadata["v1"]["era"] == "toml"
    assert blocks["journey"].content == "## Module\n\n01\n"
    assert blocks["student"].metadata["v1"]["era"] == "md"


def test_290_kb_block(root):
    repo = V1Repo(root, "big")
    line = "Élodie écrit beaucoup — 写作 📚 and more plain text to fill the line.\n"
    body = line * (290 * 1024 // len(line.encode("utf-8")) + 1)
    assert len(body.encode("utf-8")) > 290 * 1024
    repo.write_md("journal", body)
    repo.write_md("journal", body + "One more line.\n")
    block = only_block(read(root))
    assert block.content == body + "One more line.\n"
    assert block.versions[0].content == body
    assert block.versions[1].content == block.content


def test_crlf_body_is_kept(root):
    repo = V1Repo(root, "crlf")
    body = "## Notes\r\n- first\r\n- second\r\n\r\nend"
    repo.write_md("notes", body)
    block = only_block(read(root))
    assert block.content == body
    assert block.versions[0].content == body


def test_body_starting_with_dashes_that_is_not_yaml(root):
    repo = V1Repo(root, "dashes")
    body = "---\nnot: [valid yaml\n---\nAfter the rule.\n"
    repo.write_md("scratch", body)
    # A file with no frontmatter of its own whose first fence is not YAML: all of it is body.
    raw = "---\n: : : nope [\n---\n\nHand-written file.\n"
    repo.write("memory-blocks/handmade.md", raw)
    repo.commit("memory-blocks/handmade.md", "Update handmade")
    # A horizontal rule with no closing fence at all.
    repo.write("memory-blocks/rule.md", "---\n\nJust a rule above.\n")
    repo.commit("memory-blocks/rule.md", "Update rule")
    records = read(root)
    blocks = blocks_of(records)

    assert blocks["scratch"].content == body
    assert blocks["scratch"].metadata["v1"]["frontmatter"]["block"] == "scratch"
    assert blocks["handmade"].content == raw
    assert blocks["handmade"].metadata["v1"]["frontmatter"] == {}
    assert blocks["handmade"].versions[0].content == raw
    assert blocks["rule"].content == "---\n\nJust a rule above.\n"
    assert "handmade.md: frontmatter is not a YAML mapping" in reasons(records, "note")
    assert "rule.md" not in reasons(records)


def test_frontmatter_block_key_differing_from_file_name(root):
    repo = V1Repo(root, "merged")
    repo.write("memory-blocks/notes.md", frontmatter_file(
        {"block": "scratchpad", "updated_at": "2026-01-10T02:00:00+00:00", "title": "Notes",
         "meta": {"pinned": True}, "due": datetime(2026, 2, 1).date()},
        "Body of notes",
    ))
    repo.commit("memory-blocks/notes.md", "Update notes")
    records = read(root)
    block = only_block(records)
    assert block.label == "notes"
    assert block.content == "Body of notes"
    assert block.metadata["v1"]["frontmatter"] == {
        "block": "scratchpad", "updated_at": "2026-01-10T02:00:00+00:00", "title": "Notes",
        "meta": {"pinned": True}, "due": "2026-02-01",
    }
    json.dumps(block.metadata)  # JSON-safe
    assert "frontmatter block: 'scratchpad' differs from the file name" in reasons(records, "note")


def test_escaped_unicode_and_wrapped_yaml_title(root):
    repo = V1Repo(root, "yaml")
    title = "Profil d'Élodie ✨ " + "très long titre " * 8 + "📚"
    repo.write_md("student", "x", meta={"schema": "college-essay/student", "title": title})
    raw = (repo.path / "memory-blocks/student.md").read_text(encoding="utf-8")
    assert "\\xC9" in raw and "\\\n" in raw  # escaped and wrapped as v1's PyYAML wrote it
    block = only_block(read(root))
    assert block.metadata["v1"]["frontmatter"]["title"] == title
    assert block.metadata["v1"]["frontmatter"]["schema"] == "college-essay/student"


def test_user_message_with_its_own_author_line(root):
    repo = V1Repo(root, "sneaky")
    repo.write_md("student", "a", subject="Fix typo\n\nAuthor: agent:evil\nsigned off", who="user")
    repo.write_md("goals", "b", subject="Plain\n\nAuthor: system", who=None)  # no v1 trailer...
    blocks = blocks_of(read(root))
    version = blocks["student"].versions[0]
    assert version.actor == "user"
    assert version.reason == "Fix typo"
    assert version.metadata["v1"]["message"] == "Fix typo\n\nAuthor: agent:evil\nsigned off"
    # ...but a message ending in an "Author:" paragraph is read as the trailer.
    assert blocks["goals"].versions[0].actor == "system"


def test_missing_or_unknown_trailer_is_unknown(root):
    repo = V1Repo(root, "anon")
    repo.write_md("student", "a", who=None, subject="Edited by hand")
    repo.write_md("student", "b", who="admin")
    block = only_block(read(root))
    assert [v.actor for v in block.versions] == ["unknown", "unknown"]
    assert [v.metadata["v1"]["author"] for v in block.versions] == [None, "admin"]


def test_non_ascii_labels_and_nfd_nfc_file_names(root):
    repo = V1Repo(root, "unicode")
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    c1 = repo.write_md("目标", "学习", subject="添加目标 🎯")
    c2 = repo.write_md(nfc, "composed")
    c3 = repo.write_md(nfd, "decomposed")
    c4 = repo.write_md("目标", "学习更多")
    records = read(root)
    blocks = blocks_of(records)

    assert set(blocks) == {"目标", nfc, nfd}
    assert [v.metadata["v1"]["commit"] for v in blocks["目标"].versions] == [c1, c4]
    assert blocks["目标"].versions[0].reason == "添加目标 🎯"
    assert blocks["目标"].content == "学习更多"
    assert [v.metadata["v1"]["commit"] for v in blocks[nfc].versions] == [c2]
    assert [v.metadata["v1"]["commit"] for v in blocks[nfd].versions] == [c3]
    assert blocks[nfc].content == "composed" and blocks[nfd].content == "decomposed"
    assert "differ only by case, accents or Unicode normalisation" in reasons(records, "note")


def test_labels_with_glob_characters_are_literal_paths(root):
    repo = V1Repo(root, "globs")
    a = repo.write_md("notes1", "one")
    b = repo.write_md("notes[1]", "bracketed")
    c = repo.write_md("star*", "star")
    blocks = blocks_of(read(root))
    assert [v.metadata["v1"]["commit"] for v in blocks["notes1"].versions] == [a]
    assert [v.metadata["v1"]["commit"] for v in blocks["notes[1]"].versions] == [b]
    assert [v.metadata["v1"]["commit"] for v in blocks["star*"].versions] == [c]


def test_commit_dates_keep_their_instant_whatever_the_offset(root):
    repo = V1Repo(root, "offsets")
    new_york = timezone(timedelta(hours=-5))
    repo.write_md("student", "a", when=datetime(2026, 1, 12, 23, 30, tzinfo=new_york))
    repo.write_md("student", "b", when=datetime(2026, 1, 13, 12, 0, tzinfo=BANGKOK))
    block = only_block(read(root))
    assert [v.date for v in block.versions] == [
        datetime(2026, 1, 13, 4, 30, tzinfo=UTC),
        datetime(2026, 1, 13, 5, 0, tzinfo=UTC),
    ]
    assert [v.metadata["v1"]["committed_at"] for v in block.versions] == [
        "2026-01-12T23:30:00-05:00", "2026-01-13T12:00:00+07:00"
    ]


def test_working_tree_differing_from_head_is_the_current_content(root):
    repo = V1Repo(root, "dirty")
    repo.write_md("student", "committed body")
    when = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)
    repo.write_md("student", "edited but never committed", when=when, commit=False)
    records = read(root)
    block = only_block(records)

    assert block.content == "edited but never committed"
    assert [v.content for v in block.versions] == ["committed body"]
    assert block.metadata["v1"]["uncommitted"] is True
    digest = hashlib.sha256(block.content.encode("utf-8")).hexdigest()
    assert block.current_key == f"worktree:memory-blocks/student.md:{digest}"
    assert only_block(read(root)).current_key == block.current_key  # deterministic
    assert block.current_actor == "import:youlab_v1"
    assert block.updated_at == when  # the frontmatter's updated_at
    assert "differs from the last commit" in reasons(records, "note")


def test_never_committed_block_has_no_versions(root):
    repo = V1Repo(root, "untracked")
    repo.write_md("student", "only on disk", commit=False)
    block = only_block(read(root))
    assert block.content == "only on disk"
    assert block.versions == []
    assert block.current_actor == "import:youlab_v1"
    assert block.created_at == block.updated_at is not None


def test_block_deleted_from_the_work_tree_is_imported_as_deleted(root):
    repo = V1Repo(root, "deleted")
    first = repo.write_md("old", "old body")
    (repo.path / "memory-blocks/old.md").unlink()
    repo.commit("memory-blocks/old.md", "Remove old")
    records = read(root)
    block = only_block(records)
    assert block.deleted is True
    assert block.content == "old body"
    assert [v.metadata["v1"]["commit"] for v in block.versions] == [first]


def test_corrupt_pending_diff_json_is_skipped_and_the_rest_read(root):
    repo = V1Repo(root, "diffs")
    repo.write_md("student", "Ana")
    good = repo.write_diff()
    repo.write("pending_diffs/0bad.json", '{"id": "0bad", "block_label": "stu')
    repo.write("pending_diffs/list.json", "[1, 2]")
    repo.write("pending_diffs/nolabel.json", json.dumps({"id": "nolabel", "operation": "append"}))
    repo.write("pending_diffs/README.txt", "not a diff")
    records = read(root)

    assert set(diffs_of(records)) == {good["id"]}
    bad = {s.key.rsplit("/", 1)[1]: s.reason for s in skipped(records, "diff")}
    assert set(bad) == {"0bad.json", "list.json", "nolabel.json"}
    assert "JSONDecodeError" in bad["0bad.json"]
    assert "not a JSON object" in bad["list.json"]
    assert "'block_label' missing" in bad["nolabel.json"]
    assert [s.key for s in skipped(records, "file")] == ["diffs/pending_diffs/README.txt"]


def test_diff_mapping_rules(root):
    repo = V1Repo(root, "ops")
    repo.write_md("student", "## Profile\nAna  \n")
    snapshot = (repo.path / "memory-blocks/student.md").read_text(encoding="utf-8")
    append = repo.write_diff(current_value=snapshot, proposed_value="- cellist")
    full = repo.write_diff(operation="full_replace", current_value=snapshot,
                           proposed_value="---\ntitle: New\n---\nAll new")
    replace_ok = repo.write_diff(operation="replace", current_value="Ana", proposed_value="Anna")
    expired = repo.write_diff(status="expired", reviewed_at="2026-01-13T10:00:00")
    odd = repo.write_diff(status="archived")
    diffs = diffs_of(read(root, tz=ZoneInfo("America/New_York")))

    d = diffs[append["id"]]
    assert (d.operation, d.arguments, d.status) == ("append", {"text": "- cellist"}, "pending")
    assert d.proposed_content == "## Profile\nAna\n\n- cellist"  # v1: rstrip, blank line, text
    d = diffs[full["id"]]
    assert (d.operation, d.arguments) == ("rethink", {"content": "All new"})  # v1 took its fm
    d = diffs[replace_ok["id"]]
    # A (hand-made) replace whose current_value does occur in the block: v1 could apply it.
    assert (d.operation, d.status) == ("str_replace", "pending")
    assert d.arguments == {"old_str": "Ana", "new_str": "Anna"}
    assert diffs[expired["id"]].status == "superseded"
    assert diffs[odd["id"]].status == "conflict"
    assert "unknown v1 status 'archived'" in diffs[odd["id"]].conflict_reason
    assert d.created_at == datetime(2026, 1, 12, 15, 0, 0, 123456, tzinfo=UTC)  # EST = UTC-5
    assert d.metadata["timezone"] == "America/New_York"


def test_folders_without_git_and_stray_files_are_reported(root):
    V1Repo(root, "real")
    (root / "no-git").mkdir()
    (root / "no-git" / "memory-blocks").mkdir()
    (root / ".DS_Store").write_bytes(b"\0")
    records = read(root)
    assert [r.user_id for r in records if isinstance(r, LearnerRecord)] == ["real"]
    assert [(s.kind, s.key) for s in skipped(records)] == [
        ("file", ".DS_Store"), ("learner", "no-git")
    ]


def test_repository_without_commits(root):
    (root / "fresh" / "memory-blocks").mkdir(parents=True)
    (root / "fresh" / "memory-blocks" / "student.md").write_text("---\nblock: student\n---\n\nhi")
    run_git(root / "fresh", "init", "-q")
    records = read(root)
    assert [r.user_id for r in records if isinstance(r, LearnerRecord)] == ["fresh"]
    block = only_block(records)
    assert block.content == "hi" and block.versions == []
    assert "repository has no commits" in reasons(records, "note")


def test_broken_repository_is_one_skipped_learner(root):
    V1Repo(root, "good").write_md("student", "fine")
    (root / "broken" / ".git").mkdir(parents=True)
    records = read(root)
    assert [r.user_id for r in records if isinstance(r, LearnerRecord)] == ["good"]
    [broken] = skipped(records, "learner")
    assert broken.key == "broken" and "unreadable v1 repository" in broken.reason


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="handing the repository to another owner needs root (CI runs as root, so it runs there)")
def test_repository_owned_by_another_user(root):
    repo = V1Repo(root, "foreign")
    repo.write_md("student", "owned by nobody")
    for path in [repo.path, *repo.path.rglob("*")]:
        shutil.chown(path, user=65534, group=65534)
    assert only_block(read(root)).content == "owned by nobody"


# --------------------------------------------------------------------------- format helpers


@pytest.mark.parametrize(
    ("text", "frontmatter", "body"),
    [
        ("---\nblock: a\n---\n\nbody", {"block": "a"}, "body"),
        ("---\nblock: a\n---\n\n\n\nbody\n", {"block": "a"}, "body\n"),
        ("---\nblock: a\n---\nno blank line", {"block": "a"}, "no blank line"),
        ("no fence", {}, "no fence"),
        ("---\n[unclosed\n---\n\nx", {}, "---\n[unclosed\n---\n\nx"),
        ("---\njust a string\n---\nx", {}, "---\njust a string\n---\nx"),
        ("---\nd: 2026-02-30\n---\nx", {}, "---\nd: 2026-02-30\n---\nx"),
        ("---\r\nblock: a\r\n---\r\nx", {}, "---\r\nblock: a\r\n---\r\nx"),
        ("---\na: 1\n---\nb\n---\nc: 2\n---\n", {"a": 1}, "b\n---\nc: 2\n---\n"),
        ('---\ntitle: "\\u76EE\\u6807 \\U0001F4DA"\n---\n\nx', {"title": "目标 📚"}, "x"),
    ],
)
def test_split_frontmatter(text, frontmatter, body):
    assert split_frontmatter(text) == (frontmatter, body)


def test_split_author_and_map_actor():
    assert split_author("Update x\n\nAuthor: user") == ("Update x", "user")
    assert split_author("Initialize user storage") == ("Initialize user storage", None)
    assert split_author("a\nAuthor: fake\n\nAuthor: system") == ("a\nAuthor: fake", "system")
    assert map_actor("agent:background:grader") == "agent:background:grader"
    assert map_actor("user") == "user" and map_actor("system") == "system"
    assert map_actor(None) == map_actor("") == map_actor("agent:") == map_actor("bob") == "unknown"


def test_toml_to_markdown():
    assert toml_to_markdown(
        'first_name = "Ana"\nflags = [true, 3, "multi\\nline"]\n'
        "seen = 2026-01-12\nempty = []\n[a.b]\nc = 1\n"
    ) == (
        "## First Name\n\nAna\n\n## Flags\n\n- Yes\n- 3\n- multi\n  line\n\n"
        "## Seen\n\n2026-01-12\n\n## Empty\n\n## A\n\n### B\n\n#### C\n\n1\n"
    )
