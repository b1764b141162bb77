"""Acceptance tests of ``manage.py import_letta`` (issue 5) against the real Dolt server.

Every fixture source goes through the command exactly as an operator would run it: the 0.11.7
SQLite file, the 0.16.8 dump loaded into a real PostgreSQL, both recorded REST APIs replayed over
HTTP, and every Agent File (YouLab exports of both versions, the REST exports, the public ones).
What lands in Dolt is checked against two independent oracles: Letta's own manifest.json (and,
for databases, the block_history rows read straight from the source) and the reader's records.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from importing import letta
from importing.letta.mapping import _digest, value_key
from importing.records import OWNER_SHARED, OWNER_USER, BlockRecord, LearnerRecord
from blocks.models import Block, HistoricalBlock
from diffs.models import PendingDiff
from youlab import dolt
from youlab.actors import Actor

from .conftest import COURSE, FIXTURES, PG_FIXTURES, SQLITE, U1, U2, U5, U6, pg_rows, sqlite_rows

BRANCH = "import/test-letta-command"

YOULAB_FILES_0117 = [
    "agentfiles/youlab_maya_tutor.af",
    "agentfiles/youlab_xiaoming_tutor_and_background.af",
    "agentfiles/youlab_amara_background.af",
    "agentfiles/legacy_v1_youlab_sofia_tutor.af",
    "api/export_u1_tutor_v2.af",
    "api/export_u1_tutor_legacy_v1.af",
]
YOULAB_FILES_0168 = [
    "agentfiles/youlab_maya_tutor.af",
    "agentfiles/youlab_xiaoming_tutor_and_background.af",
    "agentfiles/youlab_amara_background.af",
    "api/export_u1_tutor_v2.af",
]
PUBLIC_FILES = [
    "agentfiles/public/memgpt_agent_with_convo.af",
    "agentfiles/public/customer_service.double_encoded.af",
    "agentfiles/public/memgpt_agent.legacy_v1_0.6.47.af",
]

SOURCE_IDS = (
    ["sqlite", "postgres", "api-0.11.7", "api-0.16.8"]
    + [f"0.11.7:{Path(p).name}" for p in YOULAB_FILES_0117]
    + [f"0.16.8:{Path(p).name}" for p in YOULAB_FILES_0168]
    + [f"public:{Path(p).name}" for p in PUBLIC_FILES]
)


# --- helpers -------------------------------------------------------------------------------------


def import_letta(*args: str, tmp_path: Path, name: str = "report.json") -> tuple[dict, str]:
    """Run the command as an operator would; return its --report JSON and its stdout."""
    report_path = tmp_path / name
    stdout = io.StringIO()
    call_command("import_letta", *args, "--report", str(report_path), stdout=stdout,
                 stderr=io.StringIO())
    return json.loads(report_path.read_text(encoding="utf-8")), stdout.getvalue()


def blocks(**filters) -> list[Block]:
    return list(Block.objects.filter(**filters))


def one_block(**filters) -> Block:
    (block,) = blocks(**filters)
    return block


def row_counts() -> tuple[int, int, int]:
    return Block.objects.count(), HistoricalBlock.objects.count(), PendingDiff.objects.count()


def versions_of(block: Block) -> list[HistoricalBlock]:
    return list(HistoricalBlock.objects.filter(id=block.id).order_by("version"))


def counts(report: dict, kind: str) -> dict:
    return report["counts"].get(kind, {})


def without(mapping: dict, *keys: str) -> dict:
    return {k: v for k, v in mapping.items() if k not in keys}


def json_roundtrip(value):
    return json.loads(json.dumps(value))


def own_metadata(metadata: dict) -> dict:
    return {k: v for k, v in metadata.items() if k != "letta"}


def expected_history(record: BlockRecord) -> list[tuple[str, str, str]]:
    """(content, import key, actor) per version of a newly imported block, oldest first."""
    rows = [(v.content, v.import_key, v.actor) for v in record.versions]
    if not rows or rows[-1][0] != record.content:
        rows.append((record.content, record.current_key, record.current_actor))
    return rows


def snapshot() -> dict:
    """Every block as it is now: (owner, label) → (content, version, metadata, deleted)."""
    return {
        (b.owner_type, b.owner_id, b.label): (b.content, b.version, b.metadata, b.deleted_at)
        for b in blocks()
    }


@dataclass
class Source:
    """One fixture source: the command's arguments, its manifest and what the reader yields."""

    name: str
    args: list[str]
    manifest: dict
    kind: str  # "db", "api", "file", "public"
    records: list = field(default_factory=list)
    db_rows: object = None  # query → rows, for database sources

    @property
    def blocks(self) -> list[BlockRecord]:
        return [r for r in self.records if isinstance(r, BlockRecord)]

    @property
    def learners(self) -> dict[str, LearnerRecord]:
        return {r.user_id: r for r in self.records if isinstance(r, LearnerRecord)}

    def agent_types(self, uid: str) -> set[str]:
        return {a.get("type") for a in self.learners[uid].metadata["letta"]["agents"]}


@pytest.fixture(autouse=True)
def main_committed(transactional_db):
    """Start each test from a clean Dolt working set: earlier tests' flushes left it dirty."""
    dolt.commit("test start: clean working set")
    yield


@pytest.fixture
def branch_name():
    yield BRANCH
    connection.close()
    if BRANCH in dolt.branches():
        dolt.delete_branch(BRANCH, force=True)


@pytest.fixture
def make_source(request, letta_replay, manifest_0117, manifest_0168):
    """Factory: a Source by id (see SOURCE_IDS)."""

    def make(source_id: str) -> Source:
        if source_id == "sqlite":
            return Source(source_id, ["--sqlite", str(SQLITE)], manifest_0117, "db",
                          list(letta.read_sqlite(SQLITE)), db_rows=lambda q: sqlite_rows(SQLITE, q))
        if source_id == "postgres":
            url = request.getfixturevalue("letta_postgres_url")
            return Source(source_id, ["--postgres", url], manifest_0168, "db",
                          list(letta.read_postgres(url)), db_rows=lambda q: pg_rows(url, q))
        if source_id.startswith("api-"):
            api_dir, manifest = ((FIXTURES / "api", manifest_0117) if source_id == "api-0.11.7"
                                 else (PG_FIXTURES / "api", manifest_0168))
            replay = letta_replay(api_dir)
            source = Source(source_id, ["--api", replay.url], manifest, "api",
                            list(letta.read_api(replay.url)))
            assert replay.unknown == []
            return source
        version, name = source_id.split(":", 1)
        if version == "public":
            path = FIXTURES / "agentfiles/public" / name
            manifest = manifest_0117
        else:
            base, files, manifest = ((FIXTURES, YOULAB_FILES_0117, manifest_0117)
                                     if version == "0.11.7"
                                     else (PG_FIXTURES, YOULAB_FILES_0168, manifest_0168))
            path = base / next(p for p in files if Path(p).name == name)
        kind = "public" if version == "public" else "file"
        return Source(source_id, ["--agent-file", str(path)], manifest, kind,
                      list(letta.read_agent_file(path)))

    return make


@pytest.fixture(params=SOURCE_IDS)
def source(request, make_source) -> Source:
    return make_source(request.param)


# --- every fixture source ------------------------------------------------------------------------


def check_manifest_blocks(source: Source) -> int:
    """Manifest oracle: every live block of the learners in the source, exactly. Returns count."""
    checked = 0
    for uid in source.learners:
        user = source.manifest["users"][uid]
        types = source.agent_types(uid)
        for label, final in user["final_values"].items():
            found = blocks(owner_type=OWNER_USER, owner_id=uid, label=label)
            if "tutor" not in types and label == "human":
                assert found == []  # only the tutor agent has a human block
                continue
            (block,) = found
            contents = [v.content for v in versions_of(block)]
            if label == "persona" and block.content != final["value"]:
                # The background agent's inline persona is current here (newest, or the only
                # persona the source has); the tutor's templated one is an earlier version.
                if "tutor" in types:
                    assert final["value"] in contents
                assert block.metadata["letta"].get("template_name") is None
                checked += 1
                continue
            assert block.content.encode("utf-8") == final["value"].encode("utf-8")
            assert block.label == label
            assert block.char_limit == final["limit"]
            assert block.description == final["description"]
            assert block.read_only is False
            assert own_metadata(block.metadata) == final["metadata"]
            assert block.deleted_at is None
            assert contents[-1] == block.content
            checked += 1
    return checked


def check_against_records(source: Source) -> None:
    """Reader oracle: each record's block, field by field, and its versions in order."""
    for record in source.blocks:
        block = one_block(owner_type=record.owner_type, owner_id=record.owner_id,
                          label=record.label)
        assert block.content == record.content
        assert (block.char_limit, block.read_only, block.description) == (
            record.char_limit, record.read_only, record.description)
        assert block.metadata == json_roundtrip(record.metadata)
        assert (block.deleted_at is not None) is record.deleted
        rows = versions_of(block)
        assert [(r.content, r.import_key, r.actor) for r in rows] == expected_history(record)
        assert [r.version for r in rows] == list(range(1, len(rows) + 1))
        assert block.version == len(rows)
        # The core may add the current value after the source's versions: zip stops before it.
        dated = [(r.history_date, v.date)
                 for r, v in zip(rows, record.versions, strict=False) if v.date]
        assert all(ours == theirs for ours, theirs in dated)


def check_block_history(source: Source) -> None:
    """Database oracle: Letta's block_history rows are the versions, in order, with actors."""
    rows = source.db_rows(
        "SELECT h.id, h.block_id, h.sequence_number, h.value, h.actor_type, h.actor_id "
        "FROM block_history h ORDER BY h.block_id, h.sequence_number")
    names = {r["id"]: r["name"] for r in source.db_rows("SELECT id, name FROM agents")}
    by_letta_block: dict[str, list[dict]] = {}
    for row in rows:
        by_letta_block.setdefault(row["block_id"], []).append(row)
    checked = 0
    for block in blocks():
        letta_ids = [block.metadata["letta"].get("block_id")] + [
            m.get("block_id") for m in block.metadata["letta"].get("merged_blocks", [])]
        expected = [r for lid in letta_ids for r in by_letta_block.get(lid, [])]
        history = [v for v in versions_of(block) if v.import_key.startswith("letta:history:")]
        assert [v.import_key for v in history] == [f"letta:history:{r['id']}" for r in expected]
        assert [v.content for v in history] == [r["value"] for r in expected]
        assert [v.actor for v in history] == [
            f"agent:{names[r['actor_id']]}" if r["actor_type"] == "letta_agent" else "import:letta"
            for r in expected]
        checked += len(history)
    assert checked == len(rows) == 9


def test_each_source_lands_exactly_and_a_second_run_changes_nothing(source, tmp_path):
    commits = dolt.log_count()

    # --dry-run first: it reads everything, reports, and writes nothing at all.
    dry, dry_out = import_letta(*source.args, "--dry-run", tmp_path=tmp_path, name="dry.json")
    assert row_counts() == (0, 0, 0)
    assert dolt.log_count() == commits and dolt.status() == []
    assert dry["dry_run"] is True and "dry run: nothing was written" in dry_out

    report, out = import_letta(*source.args, tmp_path=tmp_path)

    expected_blocks = {(b.owner_type, b.owner_id, b.label) for b in source.blocks}
    assert len(expected_blocks) == len(source.blocks)  # one record per (owner, label)
    assert Block.objects.count() == len(expected_blocks)
    assert counts(report, "block") == counts(dry, "block")
    assert counts(report, "version") == counts(dry, "version")
    items = {(i["kind"], i["key"]): i for i in report["items"]}
    for owner_type, owner_id, label in expected_blocks:
        key = f"shared:{owner_id}/{label}" if owner_type == OWNER_SHARED else f"{owner_id}/{label}"
        assert items[("block", key)]["action"] == "created"
    assert counts(report, "block").get("failed") is None

    if source.kind == "public":
        # Not YouLab agents: nothing imported, each skipped with its reason, no Dolt commit.
        assert Block.objects.count() == 0 and dolt.log_count() == commits
        skipped = [i for i in report["items"] if i["action"] == "skipped"]
        assert sorted(i["kind"] for i in skipped) == ["agent", "block", "block"]
        assert all("YouLab agent" in i["reason"] for i in skipped)
        return

    # One Dolt commit on main, naming the source.
    assert dolt.log_count() == commits + 1 and dolt.status() == []
    assert dolt.log(limit=1)[0].message.startswith(f"Import {report['source']}: ")
    assert report["commit"] == dolt.log(limit=1)[0].commit_hash

    assert check_manifest_blocks(source) > 0
    check_against_records(source)
    assert sorted(items[("learner", uid)]["action"] for uid in source.learners) == [
        "created"] * len(source.learners)

    # The shared course block exists once, read-only, for every source that has it.
    (course,) = blocks(owner_type=OWNER_SHARED, label="course")
    assert (course.owner_id, course.read_only) == (COURSE, "legacy" not in source.name)
    assert Block.objects.filter(label="course").count() == 1

    if source.kind in ("db", "api"):
        assert set(source.learners) == set(source.manifest["users"])
        # The hidden background agent of demo_learner_6 is found, and its inline persona is in.
        agents = course.metadata["letta"]["agents"]
        assert len(agents) == 12 and sum(1 for a in agents if a.get("hidden")) == 1
        persona = Block.objects.get(owner_id=U6, label="persona")
        assert len({v.content for v in versions_of(persona)}) == 2
    if source.kind == "db":
        check_block_history(source)
        scratchpad = one_block(owner_id=U6, label="scratchpad")
        assert scratchpad.deleted_at is not None  # soft-deleted in Letta, soft-deleted here
        assert versions_of(scratchpad)[-1].deleted_at is not None
        assert scratchpad.metadata["letta"]["block_id"] == (
            source.manifest["users"][U6]["soft_deleted_block"])
    if source.name == "postgres":
        hidden = one_block(owner_id=U5, label="archived_notes")
        assert hidden.metadata["letta"]["hidden"] is True and hidden.deleted_at is None
    if source.kind == "api":
        # REST shows no soft deletes: the scratchpad comes back live, and the run says so.
        assert Block.objects.get(owner_id=U6, label="scratchpad").deleted_at is None
        assert any(i["key"] == "is_deleted" for i in report["items"])

    # A second run: everything unchanged, no rows, no Dolt commit.
    rows, commits, before = row_counts(), dolt.log_count(), snapshot()
    again, again_out = import_letta(*source.args, tmp_path=tmp_path, name="again.json")
    assert row_counts() == rows and dolt.log_count() == commits and snapshot() == before
    # (The REST 0.16.8 source also reports, both times, a block it cannot see: "skipped".)
    assert counts(again, "block") == {
        "unchanged": len(expected_blocks), **without(counts(report, "block"), "created")}
    assert counts(again, "version").get("created", 0) == 0
    assert set(counts(again, "learner")) == {"unchanged"}
    assert again["commit"] is None and "Dolt: nothing new to commit." in again_out


@pytest.mark.parametrize("source_id", [s for s in SOURCE_IDS if not s.startswith("public:")])
def test_each_source_on_a_branch_leaves_main_untouched_until_merged(source_id, make_source,
                                                                   tmp_path, branch_name):
    source = make_source(source_id)
    main_commits = dolt.log_count()

    report, out = import_letta(*source.args, "--branch", branch_name, tmp_path=tmp_path)

    assert Block.objects.count() == 0 and dolt.log_count() == main_commits
    assert f"on branch {branch_name}" in out and f"Branch {branch_name} vs main: " in out
    tables = {d["table"]: d for d in report["diff_summary"]}
    assert tables["blocks"]["added"] == len(source.blocks)
    with dolt.use_branch(branch_name):
        assert Block.objects.count() == len(source.blocks)

    merged, out = import_letta(*source.args, "--branch", branch_name, "--merge",
                               tmp_path=tmp_path, name="merged.json")

    assert merged["merged"] is True and f"Merged {branch_name} into main" in out
    # Already on the branch: nothing more to import, only the merge.
    assert without(counts(merged, "block"), "skipped") == {"unchanged": len(source.blocks)}
    assert Block.objects.count() == len(source.blocks)
    check_against_records(source)
    assert dolt.log(limit=1)[0].message == f"Merge {branch_name}: import {merged['source']}"


# --- one learner ---------------------------------------------------------------------------------


@pytest.mark.parametrize("source_id", ["sqlite", "postgres"])
def test_user_imports_one_learner_and_the_shared_blocks_it_uses(source_id, make_source,
                                                                tmp_path):
    source = make_source(source_id)
    report, _ = import_letta(*source.args, "--user", U6, tmp_path=tmp_path)

    owners = sorted({(b.owner_type, b.owner_id) for b in Block.objects.all()})
    assert owners == [(OWNER_SHARED, COURSE), (OWNER_USER, U6)]
    labels = sorted(Block.objects.filter(owner_id=U6).values_list("label", flat=True))
    assert labels == ["engagement_strategy", "human", "journey", "persona", "scratchpad",
                      "student"]
    assert [i["key"] for i in report["items"] if i["kind"] == "learner"] == [U6]
    assert report["only_user"] == U6
    # The rest follows with a full import: the learner's blocks are unchanged, no duplicates.
    full, _ = import_letta(*source.args, tmp_path=tmp_path, name="full.json")
    assert counts(full, "block")["unchanged"] == 8
    assert Block.objects.count() == len(source.blocks)


@pytest.mark.parametrize("source_id", ["sqlite", "postgres", "api-0.16.8"])
def test_user_not_in_the_source_is_named_and_fails(source_id, make_source, tmp_path):
    source = make_source(source_id)
    commits = dolt.log_count()
    report_path = tmp_path / "nobody.json"
    stdout = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("import_letta", *source.args, "--user", "nobody", "--report",
                     str(report_path), stdout=stdout, stderr=io.StringIO())

    assert str(failed.value) == "--user nobody: not found in the source, nothing imported for it"
    assert "NOT FOUND: --user nobody: not found in the source" in stdout.getvalue()
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["users_not_found"] == ["nobody"]
    assert [(i["key"], i["action"]) for i in report["items"] if i["kind"] == "learner"] == [
        ("nobody", "skipped")]
    assert Block.objects.count() == 0 and dolt.log_count() == commits


# --- the same learners from several sources ------------------------------------------------------


def assert_adds_nothing(args: list[str], tmp_path: Path, name: str) -> dict:
    rows, commits, before = row_counts(), dolt.log_count(), snapshot()
    report, out = import_letta(*args, tmp_path=tmp_path, name=name)
    assert counts(report, "block").get("created", 0) == 0
    assert counts(report, "block").get("updated", 0) == 0, [
        (i["key"], i["reason"]) for i in report["items"] if i["action"] == "updated"]
    assert counts(report, "version").get("created", 0) == 0
    assert row_counts() == rows and snapshot() == before
    assert dolt.log_count() == commits and report["commit"] is None
    return report


@pytest.mark.parametrize(
    ("database", "base", "files"),
    [pytest.param("sqlite", FIXTURES, YOULAB_FILES_0117, id="sqlite"),
     pytest.param("postgres", PG_FIXTURES, YOULAB_FILES_0168, id="postgres")],
)
def test_agent_files_after_their_database_add_nothing(database, base, files, make_source,
                                                      tmp_path):
    """SQLite/Postgres, then each agent file of the same learners: no block, version or commit.

    The background agent's inline persona and the tutor's templated persona collide on
    (learner, persona): the database import keeps one as current and the other as an earlier
    version; an agent file holding the earlier one as its only persona must not re-apply it.
    """
    db = make_source(database)
    import_letta(*db.args, tmp_path=tmp_path, name="db.json")
    for rel in files:
        report = assert_adds_nothing(["--agent-file", str(base / rel)], tmp_path,
                                     f"{Path(rel).stem}.json")
        assert counts(report, "block")["unchanged"] > 0
    # All of them at once, too.
    assert_adds_nothing([a for rel in files for a in ("--agent-file", str(base / rel))],
                        tmp_path, "all-files.json")


def test_amara_background_file_holds_the_earlier_persona(make_source, tmp_path):
    """The case the key scheme is for: SQLite keeps the tutor's persona current (a tie, broken
    for the YouLab block); the background file's only persona is the earlier, inline one."""
    import_letta("--sqlite", str(SQLITE), tmp_path=tmp_path, name="db.json")
    persona = Block.objects.get(owner_id=U5, label="persona")
    rows = versions_of(persona)
    assert len(rows) == 2 and rows[-1].content == persona.content
    inline = rows[0]
    assert inline.import_key == f"letta:user:{U5}:persona:value:{_digest(inline.content)}"

    path = FIXTURES / "agentfiles/youlab_amara_background.af"
    (record,) = [r for r in letta.read_agent_file(path)
                 if isinstance(r, BlockRecord) and r.label == "persona"]
    assert record.content == inline.content and record.current_key == inline.import_key

    report = assert_adds_nothing(["--agent-file", str(path)], tmp_path, "amara.json")
    item = next(i for i in report["items"] if i["key"] == f"{U5}/persona")
    assert (item["action"], item["versions_unchanged"]) == ("unchanged", 1)
    assert Block.objects.get(owner_id=U5, label="persona").content == persona.content


def test_a_database_and_its_agent_files_in_one_run(make_source, tmp_path):
    """Several sources in one run: read in order (database first), one Dolt commit for all."""
    sqlite = make_source("sqlite")
    files = [a for rel in YOULAB_FILES_0117 for a in ("--agent-file", str(FIXTURES / rel))]
    commits = dolt.log_count()

    report, _ = import_letta("--sqlite", str(SQLITE), *files, tmp_path=tmp_path)

    assert dolt.log_count() == commits + 1
    assert report["source"].startswith(f"letta:sqlite ({SQLITE}) + letta:agent-file (")
    assert Block.objects.count() == len(sqlite.blocks)
    check_against_records(sqlite)  # exactly what SQLite alone gives: the files added nothing
    assert counts(report, "version").get("created") == sum(
        len(expected_history(r)) for r in sqlite.blocks)


def edited_agent_file(src: Path, dest: Path, label: str, new_value: str) -> Path:
    doc = json.loads(src.read_text(encoding="utf-8"))
    (block,) = [b for b in doc["blocks"] if b["label"] == label]
    block["value"] = new_value
    dest.write_text(json.dumps(doc), encoding="utf-8")
    return dest


def test_a_later_source_with_a_changed_value_appends_it_and_a_stale_one_does_not_revert(
        make_source, tmp_path):
    import_letta("--sqlite", str(SQLITE), tmp_path=tmp_path, name="db.json")
    student = Block.objects.get(owner_id=U1, label="student")
    old_rows = versions_of(student)
    new_value = student.content + "- Session 3: cut the draft to 648 words. ✂️\n"
    path = edited_agent_file(FIXTURES / "agentfiles/youlab_maya_tutor.af",
                             tmp_path / "maya_edited.af", "student", new_value)
    commits = dolt.log_count()

    report, _ = import_letta("--agent-file", str(path), tmp_path=tmp_path, name="edited.json")

    assert counts(report, "block") == {"updated": 1, "unchanged": 6}
    assert counts(report, "version") == {"created": 1, "unchanged": 6}
    student.refresh_from_db()
    rows = versions_of(student)
    assert student.content == new_value and student.version == len(old_rows) + 1
    assert [r.content for r in rows[:-1]] == [r.content for r in old_rows]
    assert (rows[-1].content, rows[-1].actor, rows[-1].import_key) == (
        new_value, "import:letta", f"letta:user:{U1}:student:value:{_digest(new_value)}")
    assert dolt.log_count() == commits + 1

    # The same edited file again adds nothing; so does the now-stale database: a value the block
    # already had is never re-applied over a newer one.
    assert_adds_nothing(["--agent-file", str(path)], tmp_path, "edited-again.json")
    assert_adds_nothing(["--sqlite", str(SQLITE)], tmp_path, "db-again.json")
    student.refresh_from_db()
    assert student.content == new_value


def test_a_long_label_gets_a_hashed_value_key_and_imports_idempotently(tmp_path):
    doc = json.loads((FIXTURES / "agentfiles/youlab_maya_tutor.af").read_text(encoding="utf-8"))
    label = "notes_" + "x" * 230  # with the owner id, the plain key would pass 255 characters
    (block,) = [b for b in doc["blocks"] if b["label"] == "engagement_strategy"]
    block["label"] = label
    path = tmp_path / "long_label.af"
    path.write_text(json.dumps(doc), encoding="utf-8")

    report, _ = import_letta("--agent-file", str(path), tmp_path=tmp_path)

    assert counts(report, "block") == {"created": 7}
    (row,) = versions_of(one_block(owner_id=U1, label=label))
    assert row.import_key == value_key(OWNER_USER, U1, label, block["value"])
    assert row.import_key.startswith("letta:user:sha256:") and len(row.import_key) <= 255
    assert_adds_nothing(["--agent-file", str(path)], tmp_path, "again.json")


# --- the command itself --------------------------------------------------------------------------


def test_help_summarises_sources_mapping_and_examples():
    from importing.management.commands.import_letta import Command

    text = Command().create_parser("manage.py", "import_letta").format_help()
    for phrase in ("--sqlite PATH", "--postgres URL", "--api URL", "--api-token T",
                   "--agent-file PATH", "LETTA_API_TOKEN", "youlab_user_id", "youlab_shared_",
                   "earlier versions", "block_history", "soft-deleted", "Examples:",
                   "ONE Dolt commit", "--dry-run", "--branch NAME", "Idempotent"):
        assert phrase in text, phrase


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "name a source"),
        (["--api-token", "t", "--sqlite", str(SQLITE)], "--api-token needs --api"),
        (["--sqlite", "/nonexistent/sqlite.db"], "Letta SQLite database not found"),
        (["--agent-file", "/nonexistent/x.af"], "Agent File not found"),
        (["--postgres", "postgresql://nobody@127.0.0.1:1/letta"], "cannot connect to"),
        (["--api", "http://127.0.0.1:1"], "cannot reach the Letta server"),
    ],
)
def test_bad_sources_stop_the_run_before_anything_is_written(args, message):
    commits = dolt.log_count()
    with pytest.raises(CommandError, match=message):
        call_command("import_letta", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert row_counts() == (0, 0, 0) and dolt.log_count() == commits


def test_an_unreadable_second_source_stops_the_run_before_the_first_is_written(tmp_path):
    commits = dolt.log_count()
    with pytest.raises(CommandError, match="Agent File not found"):
        call_command("import_letta", "--sqlite", str(SQLITE), "--agent-file",
                     str(tmp_path / "missing.af"), stdout=io.StringIO(), stderr=io.StringIO())
    assert row_counts() == (0, 0, 0) and dolt.log_count() == commits


def test_a_broken_agent_file_among_good_ones_is_reported_and_the_rest_imported(tmp_path):
    broken = tmp_path / "broken.af"
    broken.write_text('{"agents": [', encoding="utf-8")
    good = FIXTURES / "agentfiles/youlab_maya_tutor.af"
    report, out = import_letta("--agent-file", str(broken), "--agent-file", str(good),
                               tmp_path=tmp_path)
    assert Block.objects.filter(owner_id=U1).count() == 5
    (skipped,) = [i for i in report["items"] if i["kind"] == "file"]
    assert skipped["key"] == "broken.af" and "not valid JSON" in skipped["reason"]
    assert "not valid JSON" in out


def test_the_api_token_is_sent_from_the_option_or_the_environment(letta_replay, tmp_path,
                                                                  monkeypatch):
    replay = letta_replay(FIXTURES / "api")
    import_letta("--api", replay.url, "--api-token", "secret-1", "--dry-run", tmp_path=tmp_path)
    assert {h.get("Authorization") for h in replay.headers} == {"Bearer secret-1"}
    replay.headers.clear()
    monkeypatch.setenv("LETTA_API_TOKEN", "secret-2")
    import_letta("--api", replay.url, "--dry-run", tmp_path=tmp_path, name="env.json")
    assert {h.get("Authorization") for h in replay.headers} == {"Bearer secret-2"}


def test_passwords_in_urls_are_never_shown():
    from importing.management.commands.import_letta import Command

    with pytest.raises(CommandError) as failed:
        call_command("import_letta", "--postgres", "postgresql://letta:s3cret@127.0.0.1:1/letta",
                     stdout=io.StringIO(), stderr=io.StringIO())
    assert "s3cret" not in str(failed.value) and "letta:***@127.0.0.1:1" in str(failed.value)
    described = Command().describe_source({
        "sqlite": None, "postgres": "postgresql://letta:s3cret@db/letta",
        "api": "https://ops:pw-2@letta.example.org", "agent_files": [],
    })
    assert described == ("letta:postgres (postgresql://letta:***@db/letta) + "
                         "letta:api (https://ops:***@letta.example.org)")


def test_the_sqlite_source_is_read_only_and_readable_under_a_writers_lock(tmp_path):
    """Read-only: the import neither locks out nor modifies the Letta database."""
    copy = tmp_path / "letta.db"
    shutil.copy(SQLITE, copy)
    before = copy.read_bytes()
    writer = sqlite3.connect(copy)
    writer.execute("BEGIN IMMEDIATE")  # a Letta server holding the write lock
    try:
        import_letta("--sqlite", str(copy), "--dry-run", tmp_path=tmp_path)
    finally:
        writer.rollback()
        writer.close()
    assert copy.read_bytes() == before


# --- learners' names -----------------------------------------------------------------------------


@pytest.mark.parametrize("source_id", ["sqlite", "postgres", "api-0.11.7"])
def test_learners_names_come_from_the_letta_identities_and_stay_on_a_rerun(source_id, make_source,
                                                                             tmp_path):
    from learners import services as learner_services
    from learners.models import HistoricalLearner, Learner

    source = make_source(source_id)
    named = {uid: user["name"] for uid, user in source.manifest["users"].items() if user.get("identity_id")}
    assert len(named) == 4 and named[U1] == "Maya Thompson"

    first, out = import_letta(*source.args, tmp_path=tmp_path)
    profiles = {l.user_id: (l.display_name, l.updated_by) for l in Learner.objects.all()}
    assert profiles == {uid: (name, "import:letta") for uid, name in named.items()}
    learners = {i["key"]: i for i in first["items"] if i["kind"] == "learner"}
    assert learners[U1]["reason"] == "new learner; profile: display name set"
    assert learners[U5]["reason"] == "new learner"  # no identity: no name
    assert "learner name(s)" in dolt.log(limit=1)[0].message

    # A re-run changes nothing; nor does it undo a name an agent set since.
    learner_services.set_learner_profile(user_id=U2, display_name="Sofi", by=Actor.agent("tutor"))
    commits = dolt.log_count()
    again, _ = import_letta(*source.args, tmp_path=tmp_path, name="again.json")
    assert dolt.log_count() == commits
    assert {i["action"] for i in again["items"] if i["kind"] == "learner"} == {"unchanged"}
    assert Learner.objects.get(user_id=U2).display_name == "Sofi"
    assert Learner.objects.get(user_id=U1).display_name == "Maya Thompson"
    assert HistoricalLearner.objects.filter(user_id=U1).count() == 1
