"""The importer core against the real Dolt server, with hand-made records."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection

from blocks import services
from importing.core import IMPORT_AUTHOR, import_records
from importing.records import (
    OWNER_SHARED,
    OWNER_USER,
    BlockRecord,
    DiffRecord,
    LearnerRecord,
    SkippedRecord,
    VersionRecord,
)
from importing.report import CREATED, FAILED, NOTED, SKIPPED, UNCHANGED, UPDATED
from blocks.models import Block, HistoricalBlock
from diffs.models import PendingDiff
from learners.models import Learner
from tests.factories import make_block
from youlab import dolt
from youlab.actors import Actor

T0 = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def version(content, key, minutes=None, actor="agent:tutor", reason="", **metadata):
    return VersionRecord(
        content=content, import_key=key, actor=actor, reason=reason,
        date=at(minutes) if minutes is not None else None, metadata=metadata,
    )


def block(label="student", owner_id="learner-1", content="v3", versions=None, **kwargs):
    if versions is None:
        versions = [
            version("v1", f"{owner_id}:{label}:h1", 0, actor="system", reason="Created"),
            version("v2", f"{owner_id}:{label}:h2", 10, actor="agent:tutor", reason="Append goal"),
            version("v3", f"{owner_id}:{label}:h3", 20, actor="user", reason="Edited"),
        ]
    kwargs.setdefault("source", "letta:sqlite")
    kwargs.setdefault("source_key", f"block-{owner_id}-{label}")
    return BlockRecord(
        owner_type=kwargs.pop("owner_type", OWNER_USER), owner_id=owner_id, label=label,
        content=content, versions=versions, **kwargs,
    )


def diff(key="diff-1", owner_id="learner-1", label="student", **kwargs):
    values = dict(
        owner_type=OWNER_USER, owner_id=owner_id, label=label, operation="append",
        arguments={"text": "likes maths"}, status="pending", source="youlab_v1", import_key=key,
        proposed_content="v3\nlikes maths", reasoning="seen in chat", agent_id="tutor-7",
        created_at=at(30),
    )
    values.update(kwargs)
    return DiffRecord(**values)


def history(block_obj):
    return list(HistoricalBlock.objects.filter(id=block_obj.id).order_by("version"))


def run(records, **kwargs):
    kwargs.setdefault("source", "letta:sqlite (test)")
    kwargs.setdefault("dolt_commit", False)
    return import_records(records, **kwargs)


def item(report, kind, key):
    matches = [i for i in report.items if i.kind == kind and i.key == key]
    assert len(matches) == 1, (kind, key, report.items)
    return matches[0]


def row_counts():
    return (Block.objects.count(), HistoricalBlock.objects.count(), PendingDiff.objects.count())


# --- creating ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_new_block_lands_with_every_version_in_order():
    record = block(
        description="What the tutor knows", char_limit=5000, read_only=True,
        metadata={"letta": {"id": "block-1", "template_name": "student"}},
        created_at=at(-5), updated_at=at(20),
    )

    report = run([record])

    created = Block.objects.get(owner_id="learner-1", label="student")
    assert (created.content, created.version) == ("v3", 3)
    assert (created.description, created.char_limit, created.read_only) == (
        "What the tutor knows", 5000, True,
    )
    assert created.metadata == {"letta": {"id": "block-1", "template_name": "student"}}
    assert created.created_at == at(-5) and created.updated_at == at(20)
    assert created.deleted_at is None
    rows = history(created)
    summary = [(r.version, r.content, r.actor, r.history_change_reason, r.import_key) for r in rows]
    assert summary == [
        (1, "v1", "system", "Created", "learner-1:student:h1"),
        (2, "v2", "agent:tutor", "Append goal", "learner-1:student:h2"),
        (3, "v3", "user", "Edited", "learner-1:student:h3"),
    ]
    assert [r.history_date for r in rows] == [at(0), at(10), at(20)]
    assert [r.history_type for r in rows] == ["+", "~", "~"]
    assert all(r.history_user is None and r.diff_id is None for r in rows)
    assert all(r.read_only and r.char_limit == 5000 and r.created_at == at(-5) for r in rows)

    entry = item(report, "block", "learner-1/student")
    assert (entry.action, entry.versions_added) == (CREATED, 3)
    assert entry.source_key == "block-learner-1-student"
    assert report.count("block", CREATED) == 1 and report.count("version", CREATED) == 3
    assert report.count("learner", CREATED) == 1


@pytest.mark.django_db
def test_the_current_value_becomes_an_extra_version_when_history_stops_short():
    with_key = block(label="persona", content="v4", current_key="letta:current:persona",
                     current_actor="import:letta", current_reason="Current value",
                     updated_at=at(40))
    derived = block(label="journey", content="now", versions=[], updated_at=at(50),
                    created_at=at(1))

    run([with_key, derived])

    persona = Block.objects.get(label="persona")
    rows = history(persona)
    assert [r.content for r in rows] == ["v1", "v2", "v3", "v4"]
    assert (rows[-1].import_key, rows[-1].actor, rows[-1].history_change_reason) == (
        "letta:current:persona", "import:letta", "Current value",
    )
    assert rows[-1].history_date == at(40) and persona.version == 4 and persona.content == "v4"

    journey = Block.objects.get(label="journey")
    (only,) = history(journey)
    assert only.content == "now" and only.version == 1 and only.history_type == "+"
    assert only.import_key.startswith("letta:sqlite:block-learner-1-journey:current:")
    assert only.history_date == at(50) and journey.created_at == at(1)
    assert only.history_change_reason == "Imported from letta:sqlite"  # a reason is never empty


@pytest.mark.django_db
def test_undated_versions_fall_back_to_the_blocks_dates():
    record = block(
        versions=[version("v1", "k1"), version("v2", "k2", 10), version("v3", "k3")],
        created_at=at(-60), updated_at=at(99),
    )
    run([record])
    rows = history(Block.objects.get(label="student"))
    assert [r.history_date for r in rows] == [at(-60), at(10), at(99)]


@pytest.mark.django_db
def test_a_deleted_block_is_soft_deleted_and_only_its_last_version_says_so():
    run([block(deleted=True, updated_at=at(25))])

    deleted = Block.objects.get(label="student")
    assert deleted.deleted_at == at(25) and deleted.content == "v3"
    rows = history(deleted)
    assert [r.deleted_at for r in rows] == [None, None, at(25)]


@pytest.mark.django_db
def test_content_over_the_char_limit_is_kept_and_reported():
    report = run([block(content="x" * 30, versions=[], char_limit=10)])
    assert Block.objects.get(label="student").content == "x" * 30
    warnings = item(report, "block", "learner-1/student").warnings
    assert warnings == ["over char_limit: 30 characters, limit 10 (kept)"]
    assert report.warning_counts() == {"over char_limit": 1}


@pytest.mark.django_db
def test_shared_blocks_are_their_own_owner():
    report = run([
        block(label="course", owner_id="course-101", owner_type=OWNER_SHARED, versions=[],
              content="Course notes"),
        block(label="course", owner_id="course-101", versions=[], content="learner's own"),
    ])
    assert Block.objects.filter(label="course").count() == 2
    assert item(report, "block", "shared:course-101/course").action == CREATED
    # A shared namespace is not a learner.
    assert [i.key for i in report.items if i.kind == "learner"] == ["course-101"]


@pytest.mark.django_db
def test_a_block_with_a_long_history_is_written_in_several_inserts():
    versions = [version(f"content {n}", f"k{n}", n) for n in range(1, 1201)]
    record = block(content="content 1200", versions=versions)
    report = run([record])
    created = Block.objects.get(label="student")
    assert created.version == 1200
    numbers = HistoricalBlock.objects.filter(id=created.id).order_by("version")
    assert list(numbers.values_list("version", flat=True)) == list(range(1, 1201))
    assert report.count("version", CREATED) == 1200


@pytest.mark.django_db
def test_many_blocks_over_several_batches():
    records = [block(label=f"label-{n}", owner_id=f"learner-{n % 7}") for n in range(45)]
    report = run(records, batch_size=10)
    assert Block.objects.count() == 45 and HistoricalBlock.objects.count() == 135
    assert report.count("block", CREATED) == 45 and report.count("learner", CREATED) == 7


# --- re-running and second sources ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_rerun_changes_nothing_and_makes_no_dolt_commit():
    records = [block(label="student"), block(label="persona", content="p", versions=[]),
               diff(), LearnerRecord("learner-1", "letta:sqlite")]
    first = import_records(records, source="letta:sqlite (x.db)")
    assert first.commit_hash
    entry = dolt.log(limit=1)[0]
    assert entry.message == "Import letta:sqlite (x.db): 2 created, 0 updated, 1 diffs"
    assert f"{entry.author} <{entry.email}>" == IMPORT_AUTHOR
    commits, rows = dolt.log_count(), row_counts()

    again = import_records(records, source="letta:sqlite (x.db)")

    assert again.commit_hash is None
    assert dolt.log_count() == commits and row_counts() == rows
    assert {(i.kind, i.action) for i in again.items} == {
        ("block", UNCHANGED), ("diff", UNCHANGED), ("learner", UNCHANGED),
    }
    assert again.count("version", UNCHANGED) == 4 and again.count("version", CREATED) == 0


@pytest.mark.django_db
def test_a_source_that_moved_on_adds_only_its_new_versions():
    run([block()])
    moved_on = block(
        content="v5",
        versions=block().versions + [version("v4", "learner-1:student:h4", 30),
                                     version("v5", "learner-1:student:h5", 40)],
        description="new description",
    )

    report = run([moved_on])

    updated = Block.objects.get(label="student")
    assert (updated.content, updated.version, updated.description) == ("v5", 5, "new description")
    assert updated.updated_at == at(40)
    rows = history(updated)
    assert [(r.version, r.content, r.history_type) for r in rows] == [
        (1, "v1", "+"), (2, "v2", "~"), (3, "v3", "~"), (4, "v4", "~"), (5, "v5", "~"),
    ]
    entry = item(report, "block", "learner-1/student")
    assert (entry.action, entry.versions_added, entry.versions_unchanged) == (UPDATED, 2, 3)
    assert entry.reason == "2 new versions after v3"
    assert report.count("learner", UPDATED) == 1


@pytest.mark.django_db
def test_new_versions_go_after_a_staff_edit_and_a_rerun_keeps_the_staff_edit():
    run([block()])
    imported = Block.objects.get(label="student")
    services.update_block_content(block=imported, content="staff fix", by=Actor("staff", "rita"), reason="Fix",
                                  dolt_commit=False)

    assert item(run([block()]), "block", "learner-1/student").action == UNCHANGED
    assert Block.objects.get(label="student").content == "staff fix"

    run([block(content="v4", versions=block().versions + [version("v4", "h4", 30)])])
    current = Block.objects.get(label="student")
    assert [r.content for r in history(current)] == ["v1", "v2", "v3", "staff fix", "v4"]
    assert current.version == 5


@pytest.mark.django_db
def test_another_source_with_the_same_current_content_adds_nothing():
    # SQLite first, then the same learner's agent file: different keys, same current value.
    run([block()])
    agent_file = block(content="v3", versions=[], source="letta:agent-file", source_key="f.af")

    report = run([agent_file])

    entry = item(report, "block", "learner-1/student")
    assert entry.action == UNCHANGED and entry.warnings == []
    assert HistoricalBlock.objects.count() == 3


@pytest.mark.django_db
def test_another_source_with_the_same_history_under_other_keys_is_not_duplicated():
    run([block()])
    same_history = [version(v.content, f"other:{v.import_key}", 0) for v in block().versions]
    other = block(versions=same_history, source="letta:postgres")
    report = run([other])
    entry = item(report, "block", "learner-1/student")
    assert entry.action == UNCHANGED and HistoricalBlock.objects.count() == 3
    # Its two earlier versions are not in the history; history is append-only, so it says so.
    assert entry.warnings[0].startswith("history not inserted: 2 earlier source version(s)")


@pytest.mark.django_db
def test_a_second_source_that_is_ahead_appends_only_what_follows_the_current_value():
    run([block()])
    ahead = block(content="v4", source="letta:agent-file", versions=[
        version("v2", "af:2", 10), version("v3", "af:3", 20), version("v4", "af:4", 30),
    ])
    report = run([ahead])
    current = Block.objects.get(label="student")
    assert [r.content for r in history(current)] == ["v1", "v2", "v3", "v4"]
    assert item(report, "block", "learner-1/student").versions_added == 1


@pytest.mark.django_db
def test_metadata_is_merged_into_what_staff_and_earlier_imports_set():
    run([block(metadata={"letta": {"id": "b1"}, "limit_source": "letta"})])
    staff_metadata = {"letta": {"id": "b1"}, "limit_source": "letta", "staff_note": "keep"}
    Block.objects.filter(label="student").update(metadata=staff_metadata)

    report = run([block(metadata={"letta": {"id": "b1"}, "v1": {"path": "x.md"}})])

    merged = {**staff_metadata, "v1": {"path": "x.md"}}
    current = Block.objects.get(label="student")
    assert current.metadata == merged
    entry = item(report, "block", "learner-1/student")
    # Filling in metadata is a change like any other: a version with its history row.
    assert (entry.action, entry.versions_added) == (UPDATED, 1)
    assert entry.reason == "metadata filled in: v4 (same content)"
    assert (current.version, current.content) == (4, "v3")
    last = history(current)[-1]
    assert (last.version, last.content, last.metadata, last.actor) == (4, "v3", merged, "import:letta")
    assert last.history_change_reason == "Metadata filled in from letta:sqlite: v1"
    again = run([block(metadata={"v1": {"path": "x.md"}})])
    assert item(again, "block", "learner-1/student").action == UNCHANGED
    assert Block.objects.get(label="student").version == 4 and len(history(current)) == 4


@pytest.mark.django_db
def test_a_reimport_changing_only_metadata_is_a_version_and_a_rerun_is_unchanged():
    run([block()])
    assert item(run([block()]), "block", "learner-1/student").action == UNCHANGED

    report = run([block(metadata={"era": "md"})])

    current = Block.objects.get(label="student")
    assert (current.version, current.content, current.metadata) == (4, "v3", {"era": "md"})
    assert [(r.version, r.content, r.metadata) for r in history(current)][-2:] == [
        (3, "v3", {}), (4, "v3", {"era": "md"}),
    ]
    assert (item(report, "block", "learner-1/student").action, report.count("block", UPDATED)) == (UPDATED, 1)
    assert item(run([block(metadata={"era": "md"})]), "block", "learner-1/student").action == UNCHANGED
    assert HistoricalBlock.objects.filter(id=current.id).count() == 4


@pytest.mark.django_db
def test_version_metadata_is_kept_on_its_history_row():
    record = block(versions=[version("v3", "k", 5, commit="abc")], metadata={"era": "md"})
    run([record])
    (row,) = history(Block.objects.get(label="student"))
    assert row.metadata == {"era": "md", "commit": "abc"}
    assert Block.objects.get(label="student").metadata == {"era": "md"}


@pytest.mark.django_db
def test_a_block_deleted_in_the_source_later_is_deleted_once_and_a_staff_restore_sticks():
    run([block()])
    report = run([block(deleted=True, updated_at=at(60))])

    deleted = Block.objects.get(label="student")
    assert deleted.deleted_at == at(60) and deleted.version == 4 and deleted.content == "v3"
    last = history(deleted)[-1]
    assert (last.content, last.deleted_at, last.import_key) == (
        "v3", at(60), "letta:sqlite:block-learner-1-student:deleted",
    )
    assert item(report, "block", "learner-1/student").reason == "deleted in the source"

    services.set_block_deleted(block=deleted, deleted=False, by=Actor("staff", "rita"), dolt_commit=False)
    assert item(run([block(deleted=True)]), "block", "learner-1/student").action == UNCHANGED
    assert Block.objects.get(label="student").deleted_at is None


@pytest.mark.django_db
def test_no_history_imports_only_the_current_value():
    report = run([block(), block(label="persona", content="p2",
                                 versions=[version("p1", "p:1", 1)])], history=False)
    student = Block.objects.get(label="student")
    (row,) = history(student)
    # The source's own key for the current value is kept, so a later full run recognises it.
    assert (row.content, row.import_key, row.version) == ("v3", "learner-1:student:h3", 1)
    assert [r.content for r in history(Block.objects.get(label="persona"))] == ["p2"]
    assert report.history is False
    later = run([block()])
    assert item(later, "block", "learner-1/student").action == UNCHANGED


# --- diffs ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_diffs_are_created_once_and_linked_to_their_block():
    report = run([
        block(),
        diff(status="conflict", conflict_reason="old text not found", reviewed_at=at(45),
             metadata={"v1": {"confidence": 0.8}}),
        diff(key="diff-2", label="missing-label", proposed_content=None),
    ])

    first = PendingDiff.objects.get(import_key="diff-1")
    target = Block.objects.get(label="student")
    assert first.block_id == target.id and first.base_version == 3
    assert (first.operation, first.arguments, first.status, first.conflict_reason) == (
        "append", {"text": "likes maths"}, "conflict", "old text not found",
    )
    assert (first.agent_key_name, first.agent_id, first.reasoning) == (
        "import:youlab_v1", "tutor-7", "seen in chat",
    )
    assert first.proposed_content == "v3\nlikes maths"
    assert "+likes maths" in first.preview and first.preview.startswith("--- a/student")
    assert (first.created_at, first.reviewed_at, first.updated_at) == (at(30), at(45), at(45))
    assert first.metadata == {"v1": {"confidence": 0.8}}

    orphan = PendingDiff.objects.get(import_key="diff-2")
    assert orphan.block_id is None and orphan.base_version is None and orphan.preview == ""
    assert item(report, "diff", "diff-2").warnings[0].startswith("missing block:")
    assert report.count("diff", CREATED) == 2

    again = run([diff(), diff(key="diff-2", label="missing-label")])
    assert again.count("diff", UNCHANGED) == 2 and PendingDiff.objects.count() == 2


# --- bad records ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_invalid_records_are_reported_and_the_rest_imported():
    report = run([
        block(label="good"),
        block(label="a/b"),
        block(owner_id="x" * 300),
        block(label="dupkeys", versions=[version("v", "k" * 300)], content="v"),
        block(label="meta", metadata={"when": datetime(2025, 1, 1)}),
        diff(key="diff-bad", operation="explode"),
        block(label="good-too"),
    ])

    assert sorted(Block.objects.values_list("label", flat=True)) == ["good", "good-too"]
    skipped = {i.key: i.reason for i in report.items if i.action == SKIPPED}
    assert skipped["learner-1/a/b"].startswith("invalid: label may not contain '/'")
    assert skipped["x" * 300 + "/student"].startswith("invalid: owner id is too long")
    assert "import_key is longer than 255" in skipped["learner-1/dupkeys"]
    assert "metadata is not JSON-serializable" in skipped["learner-1/meta"]
    assert skipped["learner-1/student"].startswith("invalid: operation must be one of")
    assert report.count("block", SKIPPED) == 4 and report.count("diff", SKIPPED) == 1


@pytest.mark.django_db
def test_records_whose_owner_id_the_validator_refuses_are_skipped_with_the_reason_never_rewritten():
    records = [
        LearnerRecord(" learner-2", "letta:sqlite", display_name="Padded Pat"),
        block(owner_id=" learner-2"),
        block(owner_id="learner-3 "),
        block(owner_id="learner\u202e4"),
        block(owner_id="learner\x075"),
        diff(key="diff-padded", owner_id="learner-1 "),
        LearnerRecord("learner-1", "letta:sqlite", display_name="Lena"),
        block(owner_id="learner-1"),
    ]
    report = run(records)

    SPACES = "invalid: owner id may not begin or end with spaces"
    # The run went on: the good learner is imported.
    assert list(Block.objects.values_list("owner_id", flat=True)) == ["learner-1"]
    assert report.count("block", CREATED) == 1
    skipped = {(i.kind, i.key): i.reason for i in report.items if i.action == SKIPPED}
    assert skipped[("learner", " learner-2")] == skipped[("block", " learner-2/student")] == SPACES
    assert skipped[("block", "learner-3 /student")] == SPACES
    assert "U+202E" in skipped[("block", "learner\u202e4/student")]
    assert "U+0007" in skipped[("block", "learner\x075/student")]
    assert skipped[("diff", "learner-1 /student")] == SPACES
    assert report.count("block", SKIPPED) == 4 and report.count("diff", SKIPPED) == 1
    # Nothing was written under the id as given or as trimmed: not a block, diff or profile.
    assert not PendingDiff.objects.exists()
    assert not Learner.objects.filter(user_id__in=[" learner-2", "learner-2"]).exists()
    assert Learner.objects.get(user_id="learner-1").display_name == "Lena"
    assert [i.key for i in report.items if i.kind == "learner" and i.action != SKIPPED] == ["learner-1"]


@pytest.mark.django_db
def test_an_item_the_database_refuses_fails_alone_and_leaves_nothing_half_written():
    too_long_actor = "agent:" + "x" * 300  # block_history.actor is varchar(255)
    records = [
        block(label="first"),
        block(label="bad", versions=[version("a", "bad:1", 0),
                                     version("b", "bad:2", 1, actor=too_long_actor)], content="b"),
        block(label="last"),
    ]

    report = run(records, batch_size=10)

    assert sorted(Block.objects.values_list("label", flat=True)) == ["first", "last"]
    assert not HistoricalBlock.objects.filter(label="bad").exists()
    assert HistoricalBlock.objects.count() == 6
    bad = item(report, "block", "learner-1/bad")
    assert bad.action == FAILED and bad.reason
    assert report.count("block", CREATED) == 2 and report.count("block", FAILED) == 1


@pytest.mark.django_db
def test_labels_and_owners_spelled_differently_are_different_blocks():
    # v1 kept "Café"/"cafe" (and NFC/NFD spellings) as different files; so do we.
    make_block(owner_id="learner-1", label="Café", content="accented")
    report = run([block(label="cafe", content="plain"), block(label="cafe\u0301", content="nfd")])
    assert item(report, "block", "learner-1/cafe").action == CREATED
    assert item(report, "block", "learner-1/cafe\u0301").action == CREATED
    make_block(owner_id="Learner-9", label="student", content="upper")
    report = run([block(owner_id="learner-9", content="lower")])
    assert item(report, "block", "learner-9/student").action == CREATED
    assert Block.objects.get(owner_id="learner-1", label="Café").content == "accented"
    assert Block.objects.count() == 5


@pytest.mark.django_db
def test_progress_is_reported_per_batch_and_at_the_end():
    seen = []
    report = run([block(label=f"l{n}") for n in range(5)], batch_size=2,
                 progress=lambda r: seen.append((r.records_seen, r.finished_at is not None)))
    assert seen == [(2, False), (4, False), (5, False), (5, True)]
    assert report.records_seen == 5


@pytest.mark.django_db
def test_the_same_block_twice_in_one_run_is_planned_against_the_first():
    report = run([block(), block(content="v4", versions=[version("v4", "again:4", 30)])])
    current = Block.objects.get(label="student")
    assert [r.content for r in history(current)] == ["v1", "v2", "v3", "v4"]
    assert [i.action for i in report.items if i.kind == "block"] == [CREATED, UPDATED]


@pytest.mark.django_db
def test_a_reader_that_breaks_off_keeps_what_was_imported_and_says_so():
    def records():
        yield block(label="before")
        raise OSError("disk went away")

    report = run(records())
    assert report.aborted == "reading the source failed: OSError: disk went away"
    assert Block.objects.filter(label="before").exists()


# --- learners, skipped records, scope -----------------------------------------------------------


@pytest.mark.django_db
def test_learners_are_counted_and_one_without_blocks_is_reported():
    make_block(owner_id="learner-old", label="persona")
    report = run([
        LearnerRecord("learner-1", "youlab_v1"), block(),
        LearnerRecord("learner-empty", "youlab_v1"),
        LearnerRecord("learner-old", "youlab_v1"), block(owner_id="learner-old"),
        SkippedRecord("agent", "agent-xyz", "not a YouLab agent", "letta:sqlite"),
        SkippedRecord("note", "learner-1/x.md", "frontmatter block differs", "youlab_v1"),
    ])
    learners = {i.key: (i.action, i.reason) for i in report.items if i.kind == "learner"}
    assert learners == {
        "learner-1": (CREATED, "new learner"),
        "learner-empty": (UNCHANGED, "no blocks in the source"),
        "learner-old": (UPDATED, "new or changed blocks"),
    }
    assert item(report, "agent", "agent-xyz").action == SKIPPED
    assert item(report, "note", "learner-1/x.md").action == NOTED
    assert report.reasons(SKIPPED) == {"not a YouLab agent (agent)": 1}


@pytest.mark.django_db
def test_only_user_keeps_that_learner_and_shared_blocks():
    report = run([
        block(owner_id="learner-1"), block(owner_id="learner-2"),
        block(owner_id="course", owner_type=OWNER_SHARED, label="course"),
        diff(owner_id="learner-2"), LearnerRecord("learner-2", "x"),
    ], only_user="learner-1")
    assert sorted(Block.objects.values_list("owner_id", flat=True)) == ["course", "learner-1"]
    assert PendingDiff.objects.count() == 0
    assert [i.key for i in report.items if i.kind == "learner"] == ["learner-1"]


# --- dry run ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_dry_run_writes_nothing_but_reports_what_the_real_run_does():
    make_block(owner_id="learner-1", label="student", content="v3")
    dolt.commit("base")
    records = [
        block(),  # existing, same current content: unchanged
        block(label="persona"),  # new
        # The same block again, in a later batch:
        block(label="persona", content="v4", versions=[version("v4", "p4", 30)]),
        diff(label="persona", proposed_content="x"),  # for a block "created" in an earlier batch
        diff(),
        block(label="a/b"),
    ]
    commits, rows = dolt.log_count(), row_counts()

    dry = import_records(records, source="test", dry_run=True, batch_size=1)

    assert dolt.log_count() == commits and row_counts() == rows and dolt.status() == []
    assert dry.dry_run and dry.commit_hash is None

    real = import_records(records, source="test", batch_size=1)

    def summary(report):
        return [
            (i.kind, i.key, i.action, i.versions_added, i.versions_unchanged) for i in report.items
        ]

    assert summary(dry) == summary(real)
    block_actions = [i.action for i in dry.items if i.kind == "block"]
    assert block_actions == [UNCHANGED, CREATED, UPDATED, SKIPPED]
    assert dolt.log_count() == commits + 1


# --- branches -------------------------------------------------------------------------------------


@pytest.fixture
def branch_name(transactional_db):
    name = "import/test-core"
    yield name
    connection.close()
    if name in dolt.branches():
        dolt.delete_branch(name, force=True)


@pytest.mark.django_db(transaction=True)
def test_a_branch_import_leaves_main_untouched_until_merged(branch_name):
    make_block(owner_id="learner-0", label="kept")
    dolt.commit("base")
    main_commits = dolt.log_count()

    report = import_records([block(), diff()], source="letta:sqlite (b.db)", branch=branch_name)

    assert not Block.objects.filter(label="student").exists()
    assert dolt.log_count() == main_commits and report.commit_hash and not report.merged
    tables = {d["table"]: d for d in report.diff_summary}
    assert tables["blocks"]["added"] == 1 and tables["block_history"]["added"] == 3
    assert tables["pending_diffs"]["added"] == 1
    with dolt.use_branch(branch_name):
        assert Block.objects.filter(label="student").exists()
        assert dolt.log(limit=1)[0].message.startswith("Import letta:sqlite (b.db): 1 created")

    # Re-running with --merge on the existing branch: nothing new to import, but it merges.
    merged = import_records([block(), diff()], source="letta:sqlite (b.db)", branch=branch_name,
                            merge=True)

    assert merged.merged and merged.merge_hash and merged.commit_hash is None
    assert merged.count("block", UNCHANGED) == 1
    assert Block.objects.get(label="student").version == 3
    assert PendingDiff.objects.filter(import_key="diff-1").exists()
    entry = dolt.log(limit=1)[0]
    assert entry.message == f"Merge {branch_name}: import letta:sqlite (b.db)"
    assert f"{entry.author} <{entry.email}>" == IMPORT_AUTHOR


@pytest.mark.django_db(transaction=True)
def test_a_database_error_on_a_new_branch_removes_it_and_says_so(branch_name):
    dolt.commit("base")
    branches = dolt.branches()

    def failing_progress(report):
        with connection.cursor() as cursor:  # a real error from Dolt mid-run: 1146
            cursor.execute("SELECT * FROM no_such_table")

    with pytest.raises(dolt.DoltError) as failed:
        import_records([block(), diff()], source="t", branch=branch_name, batch_size=1,
                       progress=failing_progress)
    assert str(failed.value).startswith(
        f"the import on branch {branch_name!r} failed and the branch was removed: (1146")
    assert dolt.branches() == branches


@pytest.fixture
def migration_without_commit(transactional_db):
    """A migration recorded but not committed, as `migrate` left every one before issue 19."""
    dolt.commit("base")
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO django_migrations (app, name, applied) "
                       "VALUES ('legacy', '0001_uncommitted', NOW())")
    yield "legacy.0001_uncommitted"
    connection.close()  # off the branch, if the test left the connection there
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'legacy'")
    dolt.commit_migrations()  # later tests start from a committed schema again


@pytest.mark.django_db(transaction=True)
def test_a_branch_starts_from_main_once_mains_schema_is_committed(branch_name,
                                                                  migration_without_commit):
    make_block(owner_id="learner-0", label="kept")  # rows no service left uncommitted: raw SQL
    before = dolt.log_count()

    with pytest.raises(dolt.DoltError, match="uncommitted changes in block_history, blocks"):
        import_records([block()], source="t", branch=branch_name)
    assert branch_name not in dolt.branches() and dolt.log_count() == before

    with connection.cursor() as cursor:  # discarded, as the refusal suggests
        cursor.execute("CALL DOLT_CHECKOUT('blocks', 'block_history')")
    report = import_records([block()], source="t", branch=branch_name)

    schema_commit = dolt.log(limit=1)[0]
    assert schema_commit.message == f"Migrate: 1 applied\n\napplied {migration_without_commit}"
    assert schema_commit.author == "YouLab System"
    assert report.notes[0].startswith("main's schema was not in a Dolt commit (1 migration(s)")
    assert dolt.uncommitted_migrations() == []
    with dolt.use_branch(branch_name):
        assert Block.objects.filter(label="student").exists()


@pytest.mark.django_db(transaction=True)
def test_a_dry_run_on_a_missing_branch_creates_nothing(branch_name):
    report = import_records([block()], source="t", branch=branch_name, dry_run=True)
    assert branch_name not in dolt.branches()
    assert report.notes == [f"branch {branch_name!r} does not exist yet; planned against main"]
    assert report.count("block", CREATED) == 1 and Block.objects.count() == 0


def test_merge_without_a_branch_is_refused():
    with pytest.raises(ValueError):
        import_records([], source="t", merge=True)
    with pytest.raises(ValueError):
        import_records([], source="t", branch="main")
