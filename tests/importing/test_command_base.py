"""The shared import command: options, checks, progress, summary, report file, branches."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from importing.command import BaseImportCommand
from importing.records import (
    OWNER_SHARED,
    OWNER_USER,
    BlockRecord,
    DiffRecord,
    LearnerRecord,
    SkippedRecord,
    VersionRecord,
)
from blocks.models import Block, HistoricalBlock
from diffs.models import PendingDiff
from youlab import dolt

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


def sample_records():
    versions = [
        VersionRecord("v1", "h1", actor="system", reason="Created", date=T0),
        VersionRecord("v2", "h2", actor="agent:tutor", reason="Append", date=T0.replace(hour=10)),
    ]
    return [
        LearnerRecord("learner-1", "test"),
        BlockRecord(OWNER_USER, "learner-1", "student", "v2", "test", "b1", versions=versions),
        BlockRecord(OWNER_USER, "learner-2", "student", "other", "test", "b2"),
        BlockRecord(OWNER_SHARED, "course-1", "course", "shared", "test", "b3"),
        BlockRecord(OWNER_USER, "learner-1", "bad/label", "x", "test", "b4"),
        DiffRecord(OWNER_USER, "learner-1", "student", "append", {"text": "x"}, "pending", "test",
                   "diff-1", proposed_content="v2\nx"),
        SkippedRecord("agent", "agent-9", "not a YouLab agent", "test"),
        LearnerRecord("learner-empty", "test"),
    ]


class ListImportCommand(BaseImportCommand):
    """A test source: the records it was given, as a generator (as real readers do)."""

    help = "Import test records."
    source_name = "test"
    progress_interval = 0.0

    def __init__(self, records=None, **kwargs):
        super().__init__(**kwargs)
        self.records = sample_records() if records is None else records
        self.seen_options = None

    def add_source_arguments(self, parser):
        parser.add_argument("--name", default="sample", help="A name for the test source.")

    def read_records(self, options):
        self.seen_options = options
        yield from self.records

    def describe_source(self, options):
        return f"test ({options['name']})"


class TTY(io.StringIO):
    def isatty(self):
        return True


def run_command(*args, records=None, **kwargs):
    command = ListImportCommand(records)
    stdout, stderr = io.StringIO(), kwargs.pop("stderr", io.StringIO())
    call_command(command, *args, stdout=stdout, stderr=stderr, **kwargs)
    return command, stdout.getvalue(), stderr.getvalue()


# --- option checks (nothing is read or written when they fail) -----------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--merge"], "--merge needs --branch"),
        (["--branch", "x", "--merge", "--dry-run"], "--merge cannot be combined with --dry-run"),
        (["--branch", "main"], "--branch main is the default"),
        (["--branch", "bad name"], "invalid branch name"),
        (["--user", "a/b"], "--user: owner id"),
        (["--report", "/nonexistent-dir/r.json"], "--report: cannot write into /nonexistent-dir"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_bad_option_combinations_are_refused_before_reading(args, message):
    command = ListImportCommand()
    with pytest.raises(CommandError, match=message):
        call_command(command, *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert command.seen_options is None


def test_report_pointing_at_a_directory_is_refused(tmp_path):
    with pytest.raises(CommandError, match="is a directory"):
        call_command(ListImportCommand(), "--report", str(tmp_path), stdout=io.StringIO())


def test_help_explains_idempotency_dry_run_and_branches():
    text = ListImportCommand().create_parser("manage.py", "import_test").format_help()
    for phrase in ("Import test records.", "--name", "--dry-run", "--branch NAME", "--merge",
                   "--user ID", "--report FILE", "--no-history", "Idempotent",
                   "Re-running the same import changes nothing", "main is untouched",
                   "writing nothing (no rows, no Dolt commit)"):
        assert phrase in text, phrase


# --- running -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_import_writes_commits_prints_a_summary_and_a_report(tmp_path):
    report_path = tmp_path / "report.json"
    commits = dolt.log_count()

    command, out, err = run_command("--report", str(report_path), "--name", "fixture")

    assert command.seen_options["name"] == "fixture" and command.seen_options["user"] is None
    assert Block.objects.count() == 3 and HistoricalBlock.objects.count() == 4
    assert PendingDiff.objects.count() == 1
    assert dolt.log_count() == commits + 1
    assert dolt.log(limit=1)[0].message == "Import test (fixture): 3 created, 0 updated, 1 diffs"

    lines = out.splitlines()
    assert lines[0] == "Import test (fixture)"
    table = {line.split()[0]: line.split()[1:] for line in lines[3:9] if line.strip()}
    assert table["learners"] == ["2", "0", "1", "0", "0"]
    assert table["blocks"] == ["3", "0", "0", "1", "0"]
    assert table["versions"] == ["4", "-", "0", "-", "-"]
    assert table["diffs"] == ["1", "-", "0", "0", "0"]
    assert table["agents"] == ["-", "-", "-", "1", "-"]
    assert "Skipped, by reason:" in out and "not a YouLab agent (agent)" in out
    assert "invalid: label may not contain" in out
    assert f"Report written to {report_path}" in out

    report = json.loads(report_path.read_text())
    assert report["source"] == "test (fixture)" and report["dry_run"] is False
    assert report["commit"] == dolt.log(limit=1)[0].commit_hash
    assert report["counts"]["block"] == {"created": 3, "skipped": 1}
    items = {(i["kind"], i["key"]): i for i in report["items"]}
    assert items[("block", "learner-1/student")]["action"] == "created"
    assert items[("block", "learner-1/student")]["versions_added"] == 2
    assert items[("block", "shared:course-1/course")]["action"] == "created"
    assert items[("block", "learner-1/bad/label")]["action"] == "skipped"
    assert items[("agent", "agent-9")]["reason"] == "not a YouLab agent"
    assert items[("learner", "learner-empty")]["reason"] == "no blocks in the source"
    assert items[("diff", "diff-1")]["action"] == "created"
    assert set(items[("block", "learner-1/student")]) == {
        "kind", "key", "action", "reason", "source", "source_key", "versions_added",
        "versions_unchanged", "warnings",
    }

    # Plain progress lines on a non-terminal stderr (interval 0 here: one per batch).
    assert "test (fixture): " in err and "\r" not in err

    _, out_again, _ = run_command("--name", "fixture")
    assert dolt.log_count() == commits + 1
    assert "Dolt: nothing new to commit." in out_again


@pytest.mark.django_db(transaction=True)
def test_dry_run_writes_nothing_and_says_so(tmp_path):
    commits = dolt.log_count()
    _, out, _ = run_command("--dry-run", "--report", str(tmp_path / "r.json"))
    assert Block.objects.count() == 0 and PendingDiff.objects.count() == 0
    assert dolt.log_count() == commits
    assert "dry run: nothing was written" in out and "Dolt: dry run, no commit." in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["dry_run"] is True and report["counts"]["block"]["created"] == 3


@pytest.mark.django_db
def test_user_option_reaches_the_reader_and_scopes_the_import():
    command, out, _ = run_command("--user", "learner-2", "--dry-run")
    assert command.seen_options["user"] == "learner-2"
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines()[3:9] if line.strip()}
    assert table["blocks"][0] == "2"  # learner-2's block and the shared one
    assert table["learners"][0] == "1"


@pytest.mark.django_db(transaction=True)
def test_no_history_imports_current_values_only():
    run_command("--no-history")
    rows = HistoricalBlock.objects.filter(label="student", owner_id="learner-1")
    assert [r.content for r in rows] == ["v2"]


@pytest.mark.django_db
def test_verbosity_two_lists_items_and_zero_is_silent():
    _, out, _ = run_command("--dry-run", verbosity=2)
    assert "  created block learner-1/student: new block, 2 versions" in out
    _, quiet, err = run_command("--dry-run", verbosity=0)
    assert quiet == "" and err == ""


@pytest.mark.django_db
def test_progress_on_a_terminal_redraws_one_line():
    stderr = TTY()
    run_command("--dry-run", stderr=stderr)
    text = stderr.getvalue()
    assert text.startswith("\rtest (sample): ") and text.endswith("\n")
    assert "blocks 3 new" in text and "\x1b[" not in text  # not coloured as an error


@pytest.mark.django_db(transaction=True)
def test_a_reader_that_breaks_off_ends_in_a_command_error_after_the_report(tmp_path):
    def broken():
        yield BlockRecord(OWNER_USER, "learner-1", "student", "v", "test", "b1")
        raise ValueError("corrupt file")

    command = ListImportCommand()
    command.read_records = lambda options: broken()
    with pytest.raises(CommandError, match="import stopped early: reading the source failed"):
        call_command(command, "--report", str(tmp_path / "r.json"), stdout=io.StringIO(),
                     stderr=io.StringIO())
    assert json.loads((tmp_path / "r.json").read_text())["aborted"].endswith("corrupt file")
    assert Block.objects.filter(label="student").exists()
    assert dolt.status() == []  # what was imported is committed


# --- branches ------------------------------------------------------------------------------------


@pytest.fixture
def branch_name(transactional_db):
    name = "import/test-command"
    yield name
    connection.close()
    if name in dolt.branches():
        dolt.delete_branch(name, force=True)


@pytest.mark.django_db(transaction=True)
def test_branch_then_merge(branch_name):
    dolt.commit("main as the test starts")  # a branch starts from main's last commit
    _, out, _ = run_command("--branch", branch_name)
    assert Block.objects.count() == 0
    assert f"Import test (sample) on branch {branch_name}" in out
    assert f"Branch {branch_name} vs main: " in out and "blocks +3 ~0 -0" in out

    _, out, _ = run_command("--branch", branch_name, "--merge")
    assert Block.objects.count() == 3
    assert f"Merged {branch_name} into main" in out


@pytest.mark.django_db(transaction=True)
def test_branch_is_refused_while_main_has_uncommitted_block_changes(branch_name):
    dolt.commit("main as the test starts")
    Block.objects.create(owner_id="learner-9", label="notes", content="raw SQL, never committed")
    commits, branches = dolt.log_count(), dolt.branches()

    with pytest.raises(CommandError) as refused:
        run_command("--branch", branch_name, "--merge")

    message = str(refused.value)
    assert message.startswith("main has uncommitted changes in block_history, blocks that a "
                              "branch would not carry")
    assert "no branch was created" in message
    assert dolt.branches() == branches and dolt.log_count() == commits
    assert Block.objects.count() == 1  # main as it was: nothing imported, nothing committed


@pytest.mark.django_db(transaction=True)
def test_other_uncommitted_rows_stay_on_main_and_are_named(branch_name, django_user_model):
    dolt.commit("main as the test starts")
    django_user_model.objects.create_user(username="newstaff")  # e.g. the admin, no commit

    _, out, _ = run_command("--branch", branch_name, "--merge")

    assert "Note: main has uncommitted rows in auth_user; they are not import data" in out
    assert f"Merged {branch_name} into main" in out and Block.objects.count() == 3
    assert [t for t, _, _ in dolt.status()] == ["auth_user"]  # still there, still uncommitted


@pytest.mark.django_db(transaction=True)
def test_a_branch_the_run_created_is_removed_when_the_run_is_interrupted(branch_name):
    dolt.commit("main as the test starts")
    branches = dolt.branches()

    def interrupted_source():
        yield from sample_records()[:2]
        raise KeyboardInterrupt  # the operator's Ctrl-C, mid-import

    with pytest.raises(KeyboardInterrupt):
        run_command("--branch", branch_name, "--batch-size", "1", records=interrupted_source())
    assert dolt.branches() == branches


@pytest.mark.django_db(transaction=True)
def test_user_matching_nobody_leaves_no_branch_behind(branch_name):
    dolt.commit("main as the test starts")
    branches = dolt.branches()
    records = [r for r in sample_records() if getattr(r, "owner_type", "user") != "shared"]
    with pytest.raises(CommandError, match="--user nobody: not found in the source"):
        run_command("--branch", branch_name, "--merge", "--user", "nobody", records=records)
    assert dolt.branches() == branches and Block.objects.count() == 0


@pytest.mark.django_db
def test_user_not_in_the_source_is_reported_by_id():
    with pytest.raises(CommandError) as failed:
        run_command("--user", "nobody", "--dry-run")
    assert str(failed.value) == "--user nobody: not found in the source, nothing imported for it"


@pytest.mark.django_db
def test_the_summary_prints_the_first_20_notes_and_says_where_the_rest_are(tmp_path):
    notes = [SkippedRecord("note", f"learner-1/file-{i:02d}", f"remark number {i}", "test") for i in range(23)]
    _, out, _ = run_command(records=[LearnerRecord("learner-1", "test"), *notes])
    assert "Reader notes (23):" in out
    assert "  learner-1/file-00: remark number 0" in out and "  learner-1/file-19: remark number 19" in out
    assert "remark number 20" not in out
    assert "  +3 more, -v 2 lists them all" in out
    assert "--report" not in out  # none was given

    report = tmp_path / "report.json"
    _, out, _ = run_command("--report", str(report), records=notes)
    assert f"  +3 more, see {report}" in out
    assert len([i for i in json.loads(report.read_text())["items"] if i["kind"] == "note"]) == 23

    _, out, _ = run_command("-v", "2", records=notes)
    assert "noted note learner-1/file-22: remark number 22" in out


@pytest.mark.django_db(transaction=True)
def test_a_learner_record_with_a_name_fills_the_profile_once(tmp_path):
    from learners.models import Learner

    records = [LearnerRecord("learner-1", "test:x", display_name="Maya Thompson", email="maya@example.org")]
    _, out, _ = run_command(records=records)
    learner = Learner.objects.get(user_id="learner-1")
    assert (learner.display_name, learner.email, learner.updated_by) == ("Maya Thompson", "maya@example.org", "import:test")
    assert "1 learner name(s)" in dolt.log(limit=1)[0].message
    commits = dolt.log_count()
    _, out, _ = run_command("--dry-run", records=records)
    run_command(records=records)
    assert dolt.log_count() == commits
