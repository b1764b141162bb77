"""The review workflow on Dolt: propose, approve (rebase / conflict), edit, reject, revert."""

import threading

import pytest
from django.db import connection

from blocks import services as block_services
from blocks.exceptions import BlockExists, BlockNotFound, BlockReadOnly, OverCharLimit, VersionNotFound
from blocks.models import Block, HistoricalBlock
from diffs import services
from diffs.edits import EditError
from diffs.exceptions import DiffNotPending, IdempotencyKeyReused, ReasonRequired, VersionMismatch
from diffs.models import DiffStatus, PendingDiff
from tests.factories import make_block, propose
from youlab import dolt
from youlab.actors import Actor

pytestmark = pytest.mark.django_db

STUDENT = "# Student\nName: Maya\nGoal: write about the bakery\n"


@pytest.fixture
def block():
    return make_block(owner_id="maya", label="student", content=STUDENT, char_limit=200)


@pytest.mark.parametrize(
    "operation,arguments,expected",
    [
        ("append", {"text": "Likes chess"}, STUDENT + "Likes chess"),
        ("str_replace", {"old_str": "Maya", "new_str": "Maya T."}, STUDENT.replace("Maya", "Maya T.")),
        ("insert", {"insert_line": 1, "text": "Age: 17"}, "# Student\nAge: 17\nName: Maya\nGoal: write about the bakery\n"),
        ("rethink", {"content": "all new"}, "all new"),
    ],
)
def test_propose_stores_the_operation_the_proposed_text_and_a_preview(block, operation, arguments, expected):
    diff = propose(block, operation, **arguments)
    assert diff.status == DiffStatus.PENDING
    assert diff.proposed_content == expected
    assert diff.base_version == 1 and diff.block == block
    assert diff.arguments == arguments
    assert diff.preview.startswith("--- a/student\n+++ b/student\n")
    block.refresh_from_db()
    assert block.content == STUDENT and block.version == 1  # proposing changes nothing


@pytest.mark.parametrize(
    "operation,arguments,code",
    [
        ("str_replace", {"old_str": "Nobody", "new_str": "x"}, "old_str_not_found"),
        ("str_replace", {"old_str": "a", "new_str": "x"}, "old_str_not_unique"),
        ("insert", {"insert_line": 99, "text": "x"}, "insert_line_out_of_range"),
        ("append", {"text": 5}, "invalid_arguments"),
        ("explode", {}, "unknown_operation"),
    ],
)
def test_invalid_proposals_are_refused_and_store_nothing(block, operation, arguments, code):
    with pytest.raises(EditError) as excinfo:
        propose(block, operation, **arguments)
    assert excinfo.value.code == code
    assert PendingDiff.objects.count() == 0


def test_not_unique_reports_line_numbers(block):
    with pytest.raises(EditError) as excinfo:
        propose(block, "str_replace", old_str="a", new_str="x")
    assert excinfo.value.details["lines"][:2] == [2, 3]


def test_proposals_respect_char_limit_read_only_and_existence(block):
    with pytest.raises(OverCharLimit):
        propose(block, "append", text="x" * 200)
    shared = make_block(owner_id="college-essay", label="course", owner_type="shared", read_only=True)
    with pytest.raises(BlockReadOnly):
        propose(shared, "append", text="x")
    with pytest.raises(BlockNotFound):
        services.propose_diff(owner_id="maya", label="nope", operation="append", arguments={"text": "x"},
                              by=Actor.agent("tutor"))
    with pytest.raises(BlockExists):
        services.propose_diff(owner_id="maya", label="student", operation="create", arguments={"content": "x"},
                              by=Actor.agent("tutor"))
    assert PendingDiff.objects.count() == 0


def test_if_match_version_must_be_current(block):
    with pytest.raises(VersionMismatch) as excinfo:
        services.propose_diff(owner_id="maya", label="student", operation="append",
                              arguments={"text": "x"}, expected_version=7, by=Actor.agent("tutor"))
    assert excinfo.value.status == 412
    diff, created = services.propose_diff(owner_id="maya", label="student", operation="append",
                                          arguments={"text": "x"}, expected_version=1, by=Actor.agent("tutor"))
    assert created and diff.base_version == 1


def test_idempotency_key_replays_the_same_request_and_refuses_another(block):
    kwargs = dict(owner_id="maya", label="student", operation="append", by=Actor.agent("tutor"),
                  idempotency_key="k-1")
    first, created = services.propose_diff(arguments={"text": "x"}, fingerprint="f1", **kwargs)
    again, created_again = services.propose_diff(arguments={"text": "x"}, fingerprint="f1", **kwargs)
    assert created and not created_again and again.pk == first.pk
    with pytest.raises(IdempotencyKeyReused):
        services.propose_diff(arguments={"text": "y"}, fingerprint="f2", **kwargs)
    # Another agent key may use the same key string.
    _, other_created = services.propose_diff(
        **{**kwargs, "by": Actor.agent("background")}, arguments={"text": "y"}, fingerprint="f2"
    )
    assert other_created
    assert PendingDiff.objects.count() == 2


def test_approve_applies_the_diff_with_one_history_row(block, staff_user):
    diff = propose(block, "append", text="Likes chess")
    approved = services.approve_diff(diff_id=diff.pk, by=Actor.staff(staff_user), note="good")

    block.refresh_from_db()
    assert block.content == STUDENT + "Likes chess" and block.version == 2
    assert (approved.status, approved.applied_version, approved.reviewer) == (DiffStatus.APPROVED, 2, staff_user)
    row = HistoricalBlock.objects.get(id=block.pk, version=2)
    assert row.actor == "staff:rita" and row.diff_id == diff.pk and row.history_user == staff_user
    assert str(diff.pk) in row.history_change_reason
    assert HistoricalBlock.objects.filter(id=block.pk).count() == 2


def test_approve_rebases_when_another_diff_was_approved_first(block, staff_user):
    first = propose(block, "str_replace", old_str="Name: Maya", new_str="Name: Maya Thompson")
    second = propose(block, "str_replace", old_str="bakery", new_str="family bakery")
    services.approve_diff(diff_id=first.pk, by=Actor.staff(staff_user))
    services.approve_diff(diff_id=second.pk, by=Actor.staff(staff_user))

    block.refresh_from_db()
    assert block.content == "# Student\nName: Maya Thompson\nGoal: write about the family bakery\n"
    assert block.version == 3
    assert "rebased from v1" in HistoricalBlock.objects.get(id=block.pk, version=3).history_change_reason


def test_approve_turns_into_conflict_when_the_anchor_is_gone(block, staff_user):
    first = propose(block, "str_replace", old_str="bakery", new_str="bike shop")
    second = propose(block, "str_replace", old_str="bakery", new_str="library")
    services.approve_diff(diff_id=first.pk, by=Actor.staff(staff_user))
    result = services.approve_diff(diff_id=second.pk, by=Actor.staff(staff_user))

    assert result.status == DiffStatus.CONFLICT
    assert "no longer applies" in result.conflict_reason and "old_str" in result.conflict_reason
    block.refresh_from_db()
    assert block.version == 2 and "bike shop" in block.content
    with pytest.raises(DiffNotPending):
        services.approve_diff(diff_id=second.pk, by=Actor.staff(staff_user))


def test_edit_and_approve_uses_the_reviewers_text_within_the_limit(block, staff_user):
    diff = propose(block, "append", text="Likes chses")
    with pytest.raises(OverCharLimit):
        services.approve_diff(diff_id=diff.pk, by=Actor.staff(staff_user), edited_content="x" * 201)
    assert PendingDiff.objects.get(pk=diff.pk).status == DiffStatus.PENDING

    services.approve_diff(diff_id=diff.pk, by=Actor.staff(staff_user), edited_content=STUDENT + "Likes chess")
    block.refresh_from_db()
    assert block.content == STUDENT + "Likes chess"
    assert "edited and approved" in HistoricalBlock.objects.get(id=block.pk, version=2).history_change_reason


def test_char_limit_is_enforced_when_a_rebase_grows_the_block(block, staff_user):
    small = propose(block, "append", text="y" * 100)
    services.approve_diff(diff_id=propose(block, "append", text="x" * 100).pk, by=Actor.staff(staff_user))
    with pytest.raises(OverCharLimit):
        services.approve_diff(diff_id=small.pk, by=Actor.staff(staff_user))
    assert Block.objects.get(pk=block.pk).version == 2


def test_reject_keeps_the_content_and_needs_a_reason(block, staff_user):
    diff = propose(block, "rethink", content="wipe")
    with pytest.raises(ReasonRequired):
        services.reject_diff(diff_id=diff.pk, by=Actor.staff(staff_user), reason="  ")
    rejected = services.reject_diff(diff_id=diff.pk, by=Actor.staff(staff_user), reason="Not supported by the chat")
    assert (rejected.status, rejected.review_note) == (DiffStatus.REJECTED, "Not supported by the chat")
    block.refresh_from_db()
    assert block.content == STUDENT and block.version == 1


def test_create_proposal_makes_the_block_on_approval(staff_user):
    diff, _ = services.propose_diff(owner_id="new-learner", label="goals", operation="create",
                                    arguments={"content": "Finish draft", "char_limit": 500},
                                    by=Actor.agent("tutor"))
    assert diff.block is None
    services.approve_diff(diff_id=diff.pk, by=Actor.staff(staff_user))
    block = Block.objects.get(owner_id="new-learner", label="goals")
    assert (block.content, block.char_limit, block.version) == ("Finish draft", 500, 1)
    assert HistoricalBlock.objects.get(id=block.pk).diff_id == diff.pk


def test_revert_makes_a_new_version_equal_to_the_old_one(block, staff_user):
    services.approve_diff(diff_id=propose(block, "rethink", content="second").pk, by=Actor.staff(staff_user))
    services.approve_diff(diff_id=propose(block, "rethink", content="third").pk, by=Actor.staff(staff_user))
    block_services.revert_block(block=block, version=1, by=Actor.staff(staff_user))
    block.refresh_from_db()
    assert block.content == STUDENT and block.version == 4
    row = HistoricalBlock.objects.get(id=block.pk, version=4)
    assert row.actor == "staff:rita" and row.history_change_reason == "Revert to v1 by rita"
    with pytest.raises(VersionNotFound):
        block_services.revert_block(block=block, version=9, by=Actor.staff(staff_user))


@pytest.mark.django_db(transaction=True)
def test_every_decision_is_one_dolt_commit_by_the_reviewer(staff_user):
    block = make_block(owner_id="maya", label="student", content=STUDENT)
    dolt.commit("base")
    start = dolt.log_count()
    approved = propose(block, "append", text="one")
    rejected = propose(block, "append", text="two")
    services.approve_diff(diff_id=approved.pk, by=Actor.staff(staff_user))
    services.reject_diff(diff_id=rejected.pk, by=Actor.staff(staff_user), reason="no")
    block_services.revert_block(block=block, version=1, by=Actor.staff(staff_user))

    entries = dolt.log(limit=3)
    assert dolt.log_count() == start + 3
    assert {(e.author, e.email) for e in entries} == {("Rita Reviewer", "rita@example.org")}
    assert entries[2].message == f"Approve diff {approved.pk}: maya/student v2"
    assert entries[1].message.startswith(f"Reject diff {rejected.pk}")
    assert entries[0].message == "Revert to v1 by rita: maya/student v3"
    assert dolt.status() == []
    assert HistoricalBlock.objects.filter(id=block.pk).count() == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_conflicting_approvals_apply_exactly_one(staff_user, django_user_model):
    other_reviewer = django_user_model.objects.create_user("sam", is_staff=True)
    block = make_block(owner_id="maya", label="student", content=STUDENT)
    diffs = [
        propose(block, "str_replace", old_str="bakery", new_str="bike shop"),
        propose(block, "str_replace", old_str="bakery", new_str="library"),
    ]
    results, errors = {}, []
    barrier = threading.Barrier(2)

    def approve(diff, reviewer):
        try:
            barrier.wait()
            results[diff.pk] = services.approve_diff(diff_id=diff.pk, by=Actor.staff(reviewer)).status
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(d, r)) for d, r in zip(diffs, [staff_user, other_reviewer])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(results.values()) == [DiffStatus.APPROVED, DiffStatus.CONFLICT]
    block.refresh_from_db()
    assert block.version == 2
    winner = next(d for d in diffs if results[d.pk] == DiffStatus.APPROVED)
    assert block.content == winner.proposed_content
    history = list(HistoricalBlock.objects.filter(id=block.pk).order_by("version").values_list("version", "diff_id"))
    assert history == [(1, None), (2, winner.pk)]
