"""staff.selectors: the review page's preview is what approving then does (one planner,
diffs.edits.plan_approval, for both)."""

import pytest

from blocks import services as block_services
from diffs import services as diff_services
from diffs.models import DiffStatus
from staff import selectors
from tests.factories import make_block, propose
from youlab.actors import Actor

pytestmark = pytest.mark.django_db

STUDENT = "Name: Maya\nGoal: essay\n"


def _moved(block, content):
    return block_services.update_block_content(block=block, content=content, by=Actor.system(), reason="moved on",
                                               dolt_commit=False)


@pytest.mark.parametrize("situation", ["at base", "rebased", "no longer applies", "deleted", "create", "create taken"])
def test_the_preview_says_what_approving_then_does(situation, staff_user):
    block = make_block(owner_id="maya", label="student", content=STUDENT)
    if situation.startswith("create"):
        diff = diff_services.propose_diff(owner_id="maya", label="books", operation="create",
                                          arguments={"content": "- a book\n"}, by=Actor.agent("tutor"))[0]
        if situation == "create taken":
            make_block(owner_id="maya", label="books", content="mine")
    else:
        diff = propose(block, "str_replace", old_str="Maya", new_str="Maya Tran")
        if situation == "rebased":
            _moved(block, "Goal: essay\n" + STUDENT)
        elif situation == "no longer applies":
            _moved(block, "Name: Sam\n")
        elif situation == "deleted":
            block_services.set_block_deleted(block=block, deleted=True, by=Actor.system(), dolt_commit=False)

    preview = selectors.review_preview(selectors.diff_for_review(diff.pk))
    decided = diff_services.approve_diff(diff_id=diff.pk, by=Actor.staff(staff_user))

    if preview.will_conflict:
        assert decided.status == DiffStatus.CONFLICT
        assert decided.conflict_reason == preview.will_conflict
    else:
        assert decided.status == DiffStatus.APPROVED
        assert decided.block.content == preview.effective_content == preview.right
    expected = {"at base": False, "rebased": False, "no longer applies": True, "deleted": True, "create": False,
                "create taken": True}
    assert bool(preview.will_conflict) is expected[situation]
    assert preview.stale is (situation in ("rebased", "no longer applies"))
