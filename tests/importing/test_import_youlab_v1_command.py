"""Acceptance tests of ``manage.py import_youlab_v1`` (issue 6) against the real Dolt server.

The shared fixture (learner repositories written by v1's own code) goes through the command as an
operator would run it; what lands in Dolt is checked against its manifest.json and v1's own API
answers (expected_v1_api.json), and against the git repositories on disk. TOML-era learners and
unusual content are built here with real git (v1_builder.py), since the fixture has three learners.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from importing.records import BlockRecord, DiffRecord
from importing.youlab_v1 import read_data_root
from blocks.models import Block, HistoricalBlock
from diffs.models import PendingDiff
from youlab import dolt

from .v1_builder import BANGKOK, V1Repo, frontmatter_file

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "youlab_v1"
MANIFEST = json.loads((FIXTURE / "manifest.json").read_text(encoding="utf-8"))
EXPECTED = json.loads((FIXTURE / "expected_v1_api.json").read_text(encoding="utf-8"))["users"]
ELODIE = "3f6c1b9e-8a2d-4c1e-9b7a-5d2e8f4a1c01"
LI_MING = "7a0e4d2c-1f3b-4e5a-8c9d-2b6f0e1a3d02"
EMPTY = "b5d8e1f4-2c7a-4b3e-9f1d-6a0c4e8b2d03"
BRANCH = "import/test-v1-command"
UTC = timezone.utc


# --- helpers -------------------------------------------------------------------------------------


def import_v1(*args: str, tmp_path: Path, name: str = "report.json") -> tuple[dict, str]:
    """Run the command as an operator would; return its --report JSON and its stdout."""
    report_path = tmp_path / name
    stdout = io.StringIO()
    call_command("import_youlab_v1", *args, "--report", str(report_path), stdout=stdout,
                 stderr=io.StringIO())
    return json.loads(report_path.read_text(encoding="utf-8")), stdout.getvalue()


def one_block(**filters) -> Block:
    (block,) = Block.objects.filter(**filters)
    return block


def versions_of(block: Block) -> list[HistoricalBlock]:
    return list(HistoricalBlock.objects.filter(id=block.id).order_by("version"))


def row_counts() -> tuple[int, int, int]:
    return Block.objects.count(), HistoricalBlock.objects.count(), PendingDiff.objects.count()


def counts(report: dict, kind: str) -> dict:
    return report["counts"].get(kind, {})


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
        assert actual.encode("utf-8") == expected.encode("utf-8")


def expected_history(record: BlockRecord) -> list[tuple[str, str, str]]:
    rows = [(v.content, v.import_key, v.actor) for v in record.versions]
    if not rows or rows[-1][0] != record.content:
        rows.append((record.content, record.current_key, record.current_actor))
    return rows


def check_against_records(root: Path, **kwargs) -> tuple[int, int]:
    """Reader oracle: every block and diff the reader yields is in Dolt exactly as read."""
    records = list(read_data_root(root, **kwargs))
    block_records = [r for r in records if isinstance(r, BlockRecord)]
    for record in block_records:
        block = one_block(owner_id=record.owner_id, label=record.label)
        assert block.content.encode("utf-8", "surrogateescape") == record.content.encode(
            "utf-8", "surrogateescape")
        assert block.metadata == json.loads(json.dumps(record.metadata))
        assert (block.deleted_at is not None) is record.deleted
        rows = versions_of(block)
        assert [(r.content, r.import_key, r.actor) for r in rows] == expected_history(record)
        assert [r.history_date for r in rows[: len(record.versions)]] == [
            v.date for v in record.versions]
    diff_records = [r for r in records if isinstance(r, DiffRecord)]
    for record in diff_records:
        diff = PendingDiff.objects.get(import_key=record.import_key)
        assert (diff.owner_id, diff.label, diff.operation, diff.status) == (
            record.owner_id, record.label, record.operation, record.status)
        assert (diff.agent_id, diff.reasoning, diff.conflict_reason) == (
            record.agent_id, record.reasoning, record.conflict_reason)
        assert diff.arguments == record.arguments
        assert diff.proposed_content == (record.proposed_content or "")
        assert (diff.created_at, diff.reviewed_at) == (record.created_at, record.reviewed_at)
    return len(block_records), len(diff_records)


@pytest.fixture(autouse=True)
def main_committed(transactional_db):
    """Start each test from a clean Dolt working set: earlier tests' flushes left it dirty."""
    dolt.commit("test start: clean working set")
    yield


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("youlab_v1")
    with tarfile.open(FIXTURE / "users.tar.gz") as tar:
        tar.extractall(dest, filter="data")
    return dest / "users"


@pytest.fixture
def branch_name():
    yield BRANCH
    connection.close()
    if BRANCH in dolt.branches():
        dolt.delete_branch(BRANCH, force=True)


# --- the shared fixture --------------------------------------------------------------------------


def test_the_fixture_lands_exactly_and_a_second_run_creates_nothing(fixture_root, tmp_path):
    commits = dolt.log_count()
    args = [str(fixture_root), "--timezone", "Asia/Bangkok"]

    dry, dry_out = import_v1(*args, "--dry-run", tmp_path=tmp_path, name="dry.json")
    assert row_counts() == (0, 0, 0) and dolt.log_count() == commits and dolt.status() == []
    assert "dry run: nothing was written" in dry_out

    report, out = import_v1(*args, tmp_path=tmp_path)

    assert counts(report, "block") == counts(dry, "block")
    assert counts(report, "diff") == counts(dry, "diff")
    assert dolt.log_count() == commits + 1 and dolt.status() == []
    assert dolt.log(limit=1)[0].message.startswith(f"Import youlab_v1 ({fixture_root}): ")

    manifest_blocks = manifest_diffs = 0
    for uid, learner in MANIFEST["users"].items():
        labels = sorted(Block.objects.filter(owner_id=uid).values_list("label", flat=True))
        assert labels == sorted(b["label_from_filename"] for b in learner["blocks"])
        for entry in learner["blocks"]:
            label = entry["label_from_filename"]
            block = one_block(owner_type="user", owner_id=uid, label=label)
            v1_block = EXPECTED[uid]["blocks"][label]["GET /users/{uid}/blocks/{label}"]
            # Current content: the body, byte for byte (v1's API, and the file on disk).
            assert_v1_string(block.content, v1_block["body"])
            assert len(block.content.encode("utf-8")) == entry["body_bytes"]
            on_disk = (fixture_root / uid / entry["file"]).read_bytes()
            assert on_disk.endswith(b"\n---\n\n" + block.content.encode("utf-8"))
            assert block.metadata["v1"]["frontmatter"] == entry["frontmatter"]
            assert block.deleted_at is None

            # One version per commit touching the file, in order, with its date and actor.
            commits_for_file = commits_touching(learner, entry["file"])
            rows = versions_of(block)
            assert len(rows) == len(commits_for_file) == entry["commits_touching"]
            for row, commit in zip(rows, commits_for_file, strict=True):
                assert row.import_key == f"git:{commit['sha']}:{entry['file']}"
                assert row.history_date == datetime.fromisoformat(commit["committer_date"])
                assert row.actor == expected_actor(commit["author_trailer_last"])
                assert row.history_change_reason == commit["subject"]
                v1_version = EXPECTED[uid]["blocks"][label]["versions"][commit["sha"]]
                assert_v1_string(row.content, v1_version["body"])
            assert rows[-1].content == block.content and block.version == len(rows)
            manifest_blocks += 1

        # Pending diffs: count and status (unappliable pending proposals become conflicts).
        diffs = {d.import_key: d for d in PendingDiff.objects.filter(owner_id=uid)}
        assert len(diffs) == len(learner["diffs"])
        for entry in learner["diffs"]:
            diff = diffs[entry["id"]]
            unappliable = entry["operation"] in ("replace", "llm_diff")
            if entry["status"] == "pending" and unappliable:
                assert diff.status == "conflict" and "v1 could not apply" in diff.conflict_reason
            else:
                assert diff.status == entry["status"]
            created = datetime.fromisoformat(entry["created_at"]).replace(
                tzinfo=ZoneInfo("Asia/Bangkok"))
            assert diff.created_at == created
            assert diff.metadata["original_operation"] == entry["operation"]
            has_block = Block.objects.filter(owner_id=uid, label=entry["block_label"]).exists()
            assert (diff.block_id is not None) is has_block
            manifest_diffs += 1
    assert manifest_blocks == counts(report, "block")["created"]
    assert manifest_diffs == counts(report, "diff")["created"]
    assert check_against_records(fixture_root, tz="Asia/Bangkok") == (
        manifest_blocks, manifest_diffs)

    # The empty repository: a learner with no blocks, said so in the report.
    assert not Block.objects.filter(owner_id=EMPTY).exists()
    learners = {i["key"]: i for i in report["items"] if i["kind"] == "learner"}
    assert set(learners) == set(MANIFEST["users"])
    assert learners[EMPTY]["reason"] == "no blocks in the source"
    assert learners[ELODIE]["action"] == learners[LI_MING]["action"] == "created"
    missing = next(i for i in report["items"] if i["key"] == "ecfbd7c2-7a29-4d55-9e97-b9d6ee659baf")
    assert any(w.startswith("missing block:") for w in missing["warnings"])

    # A second run creates nothing: no rows, no Dolt commit.
    rows, commits = row_counts(), dolt.log_count()
    again, again_out = import_v1(*args, tmp_path=tmp_path, name="again.json")
    assert row_counts() == rows and dolt.log_count() == commits
    assert counts(again, "block") == {"unchanged": manifest_blocks}
    assert counts(again, "diff") == {"unchanged": manifest_diffs}
    assert counts(again, "version").get("created", 0) == 0
    assert "Dolt: nothing new to commit." in again_out


def test_on_a_branch_main_is_untouched_until_merged(fixture_root, tmp_path, branch_name):
    args = [str(fixture_root), "--timezone", "Asia/Bangkok", "--branch", branch_name]
    main_commits = dolt.log_count()

    report, out = import_v1(*args, tmp_path=tmp_path)

    assert row_counts() == (0, 0, 0) and dolt.log_count() == main_commits
    tables = {d["table"]: d for d in report["diff_summary"]}
    assert tables["blocks"]["added"] == counts(report, "block")["created"]
    assert tables["pending_diffs"]["added"] == counts(report, "diff")["created"]
    with dolt.use_branch(branch_name):
        assert Block.objects.count() == counts(report, "block")["created"]

    merged, out = import_v1(*args, "--merge", tmp_path=tmp_path, name="merged.json")

    assert merged["merged"] is True and f"Merged {branch_name} into main" in out
    assert Block.objects.count() == counts(report, "block")["created"]
    assert PendingDiff.objects.count() == counts(report, "diff")["created"]
    check_against_records(fixture_root, tz="Asia/Bangkok")


def test_user_imports_one_learner(fixture_root, tmp_path):
    report, _ = import_v1(str(fixture_root), "--user", LI_MING, tmp_path=tmp_path)
    assert set(Block.objects.values_list("owner_id", flat=True)) == {LI_MING}
    assert set(PendingDiff.objects.values_list("owner_id", flat=True)) == {LI_MING}
    assert [i["key"] for i in report["items"] if i["kind"] == "learner"] == [LI_MING]


def test_user_not_in_the_data_root_is_named_and_fails(fixture_root, tmp_path):
    commits = dolt.log_count()
    stdout = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("import_youlab_v1", str(fixture_root), "--user", "nobody",
                     "--report", str(tmp_path / "r.json"), stdout=stdout, stderr=io.StringIO())
    assert str(failed.value) == (
        "--user nobody: no such learner folder in the data root, nothing imported for it")
    assert "NOT FOUND: --user nobody" in stdout.getvalue()
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["users_not_found"] == ["nobody"]
    # Said once, by the reader, not again by the core.
    assert [i["key"] for i in report["items"] if i["kind"] == "learner"] == ["nobody"]
    assert row_counts() == (0, 0, 0) and dolt.log_count() == commits


def test_naive_diff_times_are_read_in_the_given_timezone(fixture_root, tmp_path):
    diff_id = "19c74fd7-6f39-4d09-a86c-de2e76514925"  # created_at "2026-01-19T09:03:54.758220"
    import_v1(str(fixture_root), "--user", ELODIE, tmp_path=tmp_path)  # default: UTC
    assert PendingDiff.objects.get(import_key=diff_id).created_at == datetime(
        2026, 1, 19, 9, 3, 54, 758220, tzinfo=UTC)
    PendingDiff.objects.all().delete()
    import_v1(str(fixture_root), "--user", ELODIE, "--timezone", "Asia/Bangkok",
              tmp_path=tmp_path, name="bangkok.json")
    assert PendingDiff.objects.get(import_key=diff_id).created_at == datetime(
        2026, 1, 19, 2, 3, 54, 758220, tzinfo=UTC)


# --- TOML era and unusual content, built with git ------------------------------------------------


def test_toml_era_learner_and_unusual_content_import_end_to_end(tmp_path):
    root = tmp_path / "users"
    root.mkdir()

    toml = V1Repo(root, "toml-learner", era="toml")
    toml.write_toml("student", 'profile = "Likes chess"\n', subject="Initialize student block",
                    who="system")
    toml.write_toml("student", 'profile = "Likes chess"\ninsights = ["Plays at night"]\n',
                    who="agent:agent-7")
    toml.write_toml("goals", 'goals = ["Finish essay"]\n')
    toml.write_toml("goals", "- Read it aloud", who="agent:agent-7",
                    subject="Apply agent suggestion: Suggest a habit")  # invalid TOML now
    toml.write_toml("notes", "")  # empty TOML
    # As v1 wrote it: current_value is the whole file, so v1 could never apply it: a conflict.
    toml.write_diff(block_label="student", operation="replace",
                    current_value='profile = "Likes chess"\ninsights = ["Plays at night"]\n',
                    proposed_value="Loves chess")

    odd = V1Repo(root, "unusual")
    line = "Élodie écrit beaucoup — 写作 📚 and more plain text to fill the line.\n"
    big = line * (290 * 1024 // len(line.encode("utf-8")) + 1)
    odd.write_md("journal", big)
    odd.write_md("journal", big + "One more line.\n", who="agent:agent-9")
    crlf = "## Notes\r\n- first\r\n- second\r\n\r\nend"
    odd.write_md("notes", crlf)
    dashes = "---\nnot: [valid yaml\n---\nAfter the rule.\n"
    odd.write_md("scratch", dashes)
    handmade = "---\n: : : nope [\n---\n\nHand-written file.\n"
    odd.write("memory-blocks/handmade.md", handmade)
    odd.commit("memory-blocks/handmade.md", "Update handmade")
    odd.write("memory-blocks/目标.md",
              frontmatter_file({"block": "目标", "title": "目标"}, "- 读书\n"))
    odd.commit("memory-blocks/目标.md", "Update 目标", who="user",
               when=datetime(2026, 1, 11, 23, 30, tzinfo=BANGKOK))
    odd.write_diff(block_label="portfolio", operation="append", proposed_value="- An essay")

    report, out = import_v1(str(root), tmp_path=tmp_path)

    assert counts(report, "block") == {"created": 8}
    assert check_against_records(root) == (8, 2)
    # TOML era: converted for display, versions converted too, the TOML kept in metadata.
    student = one_block(owner_id="toml-learner", label="student")
    assert student.content == "## Profile\n\nLikes chess\n\n## Insights\n\n- Plays at night\n"
    assert student.metadata["v1"]["era"] == "toml"
    assert [(r.content, r.actor) for r in versions_of(student)] == [
        ("## Profile\n\nLikes chess\n", "system"), (student.content, "agent:agent-7")]
    goals = one_block(owner_id="toml-learner", label="goals")
    assert goals.content == "- Read it aloud" and goals.metadata["v1"]["toml_status"] == "invalid"
    assert one_block(owner_id="toml-learner", label="notes").content == ""
    conflict = PendingDiff.objects.get(owner_id="toml-learner")
    assert conflict.status == "conflict" and conflict.operation == "str_replace"
    # Unusual content, byte for byte.
    journal = one_block(owner_id="unusual", label="journal")
    assert journal.content == big + "One more line.\n" and len(journal.content.encode()) > 290_000
    assert [r.content for r in versions_of(journal)] == [big, journal.content]
    assert one_block(owner_id="unusual", label="notes").content == crlf
    assert one_block(owner_id="unusual", label="scratch").content == dashes
    assert one_block(owner_id="unusual", label="handmade").content == handmade
    target = one_block(owner_id="unusual", label="目标")
    assert target.content == "- 读书\n"
    assert versions_of(target)[0].history_date == datetime(2026, 1, 11, 16, 30, tzinfo=UTC)
    missing = PendingDiff.objects.get(owner_id="unusual")
    assert (missing.label, missing.operation, missing.block_id) == ("portfolio", "create", None)
    # What the reader noticed is in the summary and the report.
    notes = [i["reason"] for i in report["items"] if i["kind"] == "note"]
    assert any("invalid TOML; imported verbatim" in n for n in notes)
    assert any("empty TOML; imported verbatim" in n for n in notes)
    assert any("frontmatter is not a YAML mapping" in n for n in notes)
    assert f"Reader notes ({len(notes)}):" in out and all(n in out for n in notes)

    # Run again: nothing; then the learner keeps writing in v1 and a re-run adds just that.
    rows, commits = row_counts(), dolt.log_count()
    again, _ = import_v1(str(root), tmp_path=tmp_path, name="again.json")
    assert row_counts() == rows and dolt.log_count() == commits
    assert counts(again, "block") == {"unchanged": 8}
    odd.write_md("notes", crlf + "\r\n- third", who="agent:agent-9")
    later, _ = import_v1(str(root), tmp_path=tmp_path, name="later.json")
    assert counts(later, "block") == {"updated": 1, "unchanged": 7}
    assert counts(later, "version")["created"] == 1
    notes_block = one_block(owner_id="unusual", label="notes")
    assert notes_block.content == crlf + "\r\n- third"
    assert versions_of(notes_block)[-1].actor == "agent:agent-9"
    assert dolt.log_count() == commits + 1


# --- the command itself --------------------------------------------------------------------------


def test_help_summarises_the_mapping_timezone_and_examples():
    from importing.management.commands.import_youlab_v1 import Command

    text = Command().create_parser("manage.py", "import_youlab_v1").format_help()
    for phrase in ("PATH", "--timezone ZONE", "Asia/Bangkok", "FILE NAME", "Author:",
                   "TOML era", "conflict", "Examples:", "--dry-run", "--branch NAME",
                   "Idempotent"):
        assert phrase in text, phrase


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/v1"], "v1 data root not found"),
        ([str(FIXTURE), "--timezone", "Mars/Olympus"], "--timezone: unknown time zone"),
    ],
)
def test_bad_arguments_stop_before_anything_is_read(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("import_youlab_v1", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert row_counts() == (0, 0, 0)


def test_learners_names_come_from_the_name_given_at_init_and_stay_on_a_rerun(fixture_root, tmp_path):
    from learners.models import Learner

    first, _ = import_v1(str(fixture_root), tmp_path=tmp_path)
    names = {l.user_id: (l.display_name, l.updated_by) for l in Learner.objects.all()}
    assert names == {ELODIE: ("Élodie Martin", "import:youlab_v1"), LI_MING: ("李明", "import:youlab_v1")}
    assert MANIFEST["users"][ELODIE]["display"] == "Élodie Martin"
    learners = {i["key"]: i for i in first["items"] if i["kind"] == "learner"}
    assert learners[ELODIE]["reason"] == "new learner; profile: display name set"
    assert learners[EMPTY]["reason"] == "no blocks in the source"

    again, _ = import_v1(str(fixture_root), tmp_path=tmp_path, name="again.json")
    assert {i["action"] for i in again["items"] if i["kind"] == "learner"} == {"unchanged"}
    assert Learner.objects.count() == 2
