"""Block settings (service and staff PATCH) and reading a block as it was (`?as_of=`)."""

import datetime as dt
from datetime import timedelta

import pytest
from django.utils import timezone

from blocks import selectors
from blocks import services as block_services
from blocks.exceptions import BlockConflict, BlockNotFound, OverCharLimit
from blocks.models import Block, HistoricalBlock, OwnerType
from diffs import services as diff_services
from tests.factories import make_block
from tests.support import api, assert_error, snapshot
from youlab import dolt
from youlab.actors import Actor
from youlab.errors import InvalidInput

STUDENT = "# Student\nName: Maya\nGoal: write about the bakery\n"  # 50 characters


def student(**kwargs):
    return make_block(owner_id="maya", label="student", content=STUDENT, char_limit=500,
                      description="What we know", **kwargs)


# --- the settings service ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_settings_change_is_a_version_with_a_history_row_and_a_dolt_commit_by_the_member_of_staff(staff_user):
    block = student()
    dolt.commit("fixture")
    updated = block_services.update_block_settings(
        block=block, char_limit=800, read_only=True, metadata={"course_id": "college-essay", "tags": ["a"]},
        description="What we know about her", by=Actor.staff(staff_user), reason="she outgrew 500",
    )
    assert (updated.version, updated.char_limit, updated.read_only) == (2, 800, True)
    assert updated.content == STUDENT and updated.metadata == {"course_id": "college-essay", "tags": ["a"]}
    row = HistoricalBlock.objects.get(id=block.pk, version=2)
    assert row.actor == "staff:rita" and row.history_user_id == staff_user.pk
    assert row.history_change_reason == (
        "Settings: description, char_limit 500 → 800, read_only off → on, metadata: she outgrew 500")
    entry = dolt.log(limit=1)[0]
    assert (entry.author, entry.email) == ("Rita Reviewer", "rita@example.org")
    assert entry.message.startswith("Change settings of maya/student v2 (staff:rita): description, char_limit 500 → 800")

    # The same values again: no version, no commit.
    commits = dolt.log_count()
    again = block_services.update_block_settings(block=block, char_limit=800, read_only=True, by=Actor("staff", "rita"))
    assert again.version == 2 and dolt.log_count() == commits


@pytest.mark.django_db
def test_a_limit_below_the_content_is_refused_and_writes_nothing():
    block = student()
    with pytest.raises(OverCharLimit) as refused:
        block_services.update_block_settings(block=block, char_limit=49, by=Actor("staff", "rita"))
    assert refused.value.details == {"length": 50, "char_limit": 49}
    assert block_services.update_block_settings(block=block, char_limit=50, by=Actor("staff", "rita")).char_limit == 50
    assert block_services.update_block_settings(block=block, char_limit=None, by=Actor("staff", "rita")).char_limit is None
    assert Block.objects.get(pk=block.pk).version == 3


@pytest.mark.django_db
@pytest.mark.parametrize("settings", [
    {"char_limit": 0}, {"char_limit": -5}, {"char_limit": "800"}, {"char_limit": True}, {"char_limit": 2**31},
    {"read_only": "yes"}, {"metadata": ["a"]}, {"metadata": {"x": float("nan")}}, {"description": 5},
    {"metadata": {"deep": eval("[" * 40 + "]" * 40)}},
])
def test_invalid_settings_are_refused(settings):
    block = student()
    with pytest.raises(InvalidInput):
        block_services.update_block_settings(block=block, by=Actor("staff", "rita"), **settings)
    assert Block.objects.get(pk=block.pk).version == 1


@pytest.mark.django_db
def test_settings_of_a_moved_or_deleted_block_are_refused():
    block = student()
    with pytest.raises(BlockConflict):
        block_services.update_block_settings(block=block, read_only=True, expected_version=7, by=Actor("staff", "rita"))
    block_services.set_block_deleted(block=block, deleted=True, by=Actor("staff", "rita"), dolt_commit=False)
    with pytest.raises(InvalidInput, match="restore it"):
        block_services.update_block_settings(block=block, read_only=True, by=Actor("staff", "rita"))


# --- PATCH users/{id}/blocks/{label}/ ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_staff_patch_changes_settings_and_then_agents_proposals_are_refused(staff, agent):
    block = student()
    dolt.commit("fixture")
    url = api("users", "maya", "blocks", "student")
    response = staff.patch(url, {"char_limit": 800, "read_only": True, "reason": "locked for the exam"}, format="json")
    assert response.status_code == 200 and response["ETag"] == '"2"'
    body = response.json()
    assert (body["char_limit"], body["read_only"], body["version"], body["content"]) == (800, True, 2, STUDENT)
    assert dolt.log(limit=1)[0].author == "Rita Reviewer"
    assert "locked for the exam" in HistoricalBlock.objects.get(id=block.pk, version=2).history_change_reason

    proposal = agent.post(api("users", "maya", "blocks", "student", "diffs"),
                          {"operation": "append", "text": "Likes chess"}, format="json")
    assert_error(proposal, 409, "block_read_only")
    assert agent.get(url).json()["read_only"] is True

    unlocked = staff.patch(url, {"read_only": False, "metadata": {"course_id": "college-essay"}}, format="json")
    assert unlocked.json()["metadata"] == {"course_id": "college-essay"} and unlocked.json()["version"] == 3
    assert agent.post(api("users", "maya", "blocks", "student", "diffs"),
                      {"operation": "append", "text": "Likes chess"}, format="json").status_code == 201


@pytest.mark.django_db
def test_patch_below_the_content_length_is_400_over_char_limit(staff):
    student()
    before = snapshot()
    error = assert_error(staff.patch(api("users", "maya", "blocks", "student"), {"char_limit": 10}, format="json"),
                         400, "over_char_limit")
    assert error["details"] == {"length": 50, "char_limit": 10}
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("body", [
    {}, {"reason": "only a reason"}, {"char_limit": "800"}, {"read_only": 1}, {"metadata": "{}"},
    {"charLimit": 800}, {"content": "sneaky"}, {"char_limit": 0}, [1],
])
def test_patch_with_an_invalid_body_is_400_and_changes_nothing(staff, body):
    student()
    before = snapshot()
    assert_error(staff.patch(api("users", "maya", "blocks", "student"), body, format="json"), 400, "invalid_input")
    assert snapshot() == before


@pytest.mark.django_db
def test_patch_is_for_staff_with_the_change_permission_only(agent, anon, db, django_user_model):
    from django.contrib.auth.models import Permission
    from rest_framework.test import APIClient

    student()
    url = api("users", "maya", "blocks", "student")
    before = snapshot()
    assert_error(agent.patch(url, {"read_only": True}, format="json"), 403, "permission_denied")
    assert_error(anon.patch(url, {"read_only": True}, format="json"), 401, "not_authenticated")
    viewer = django_user_model.objects.create_user("vic", password="pw-vic-12345", is_staff=True)
    client = APIClient()
    client.force_login(viewer)
    assert_error(client.patch(url, {"read_only": True}, format="json"), 403, "permission_denied")
    assert snapshot() == before
    viewer.user_permissions.add(Permission.objects.get(codename="change_block"))
    client.force_login(django_user_model.objects.get(pk=viewer.pk))
    assert client.patch(url, {"read_only": True}, format="json").status_code == 200


@pytest.mark.django_db
def test_patch_of_a_shared_block_and_of_an_unknown_one(staff):
    make_block(owner_id="college-essay", label="course", owner_type=OwnerType.SHARED, content="x")
    response = staff.patch(api("shared", "college-essay", "blocks", "course"), {"description": "The course"},
                           format="json")
    assert response.status_code == 200 and response.json()["description"] == "The course"
    assert_error(staff.patch(api("users", "maya", "blocks", "nope"), {"read_only": True}, format="json"),
                 404, "block_not_found")


# --- GET …/blocks/{label}/?as_of= ----------------------------------------------------------------


def _dated(block, version, when):
    HistoricalBlock.objects.filter(id=block.pk, version=version).update(history_date=when)


@pytest.mark.django_db
def test_as_of_reads_the_block_as_it_was_between_versions_after_and_before_creation(agent, staff_user):
    block = student()
    block_services.update_block_content(block=block, content=STUDENT + "Likes chess\n", by=Actor("staff", "rita"), reason="v2",
                                        dolt_commit=False)
    block_services.update_block_settings(block=block, read_only=True, by=Actor("staff", "rita"))
    march, april, may = (timezone.now() - timedelta(days=d) for d in (90, 60, 30))
    _dated(block, 1, march)
    _dated(block, 2, april)
    _dated(block, 3, may)
    url = api("users", "maya", "blocks", "student")

    between = agent.get(url, {"as_of": (april - timedelta(days=1)).isoformat()})
    assert between.status_code == 200 and between["ETag"] == '"1"'
    assert (between.json()["version"], between.json()["content"], between.json()["read_only"]) == (1, STUDENT, False)
    assert agent.get(url, {"as_of": april.isoformat()}).json()["content"] == STUDENT + "Likes chess\n"
    after = agent.get(url, {"as_of": (timezone.now() + timedelta(days=1)).isoformat()}).json()
    assert (after["version"], after["read_only"]) == (3, True)
    assert after == agent.get(url).json()  # the same shape as a plain read

    error = assert_error(agent.get(url, {"as_of": (march - timedelta(days=1)).isoformat()}), 404, "block_not_found")
    assert "did not exist" in error["message"]
    # A date alone is the end of that day (UTC); no offset means UTC.
    assert agent.get(url, {"as_of": march.date().isoformat()}).json()["version"] == 1
    naive = (april + timedelta(hours=1)).astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat()
    assert agent.get(url, {"as_of": naive}).json()["version"] == 2


@pytest.mark.django_db
def test_as_of_a_time_the_block_was_soft_deleted_is_404_and_a_deleted_block_reads_as_it_was(agent):
    block = student()
    block_services.set_block_deleted(block=block, deleted=True, by=Actor("staff", "rita"), dolt_commit=False)
    long_ago, yesterday = timezone.now() - timedelta(days=10), timezone.now() - timedelta(days=1)
    _dated(block, 1, long_ago)
    _dated(block, 2, yesterday)
    url = api("users", "maya", "blocks", "student")
    assert_error(agent.get(url), 404, "block_not_found")  # deleted now
    assert agent.get(url, {"as_of": (long_ago + timedelta(hours=1)).isoformat()}).json()["content"] == STUDENT
    error = assert_error(agent.get(url, {"as_of": timezone.now().isoformat()}), 404, "block_not_found")
    assert "soft-deleted" in error["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["yesterday", "2026-02-30", "2026-13-01T00:00:00Z", "", "1" * 100])
def test_a_malformed_as_of_is_400(agent, value):
    student()
    assert_error(agent.get(api("users", "maya", "blocks", "student"), {"as_of": value}), 400, "invalid_input")


@pytest.mark.django_db
def test_as_of_of_imported_history_uses_the_original_dates(agent, staff_user):
    block = student()
    first = diff_services.propose_diff(owner_id="maya", label="student", operation="append",
                                       arguments={"text": "x"}, by=Actor.agent("tutor"))[0]
    diff_services.approve_diff(diff_id=first.pk, by=Actor.staff(staff_user))
    _dated(block, 1, timezone.now() - timedelta(days=400))
    version = selectors.block_as_of(OwnerType.USER, "maya", "student", timezone.now() - timedelta(days=200))
    assert version.version == 1
    with pytest.raises(BlockNotFound):
        selectors.block_as_of(OwnerType.USER, "maya", "student", timezone.now() - timedelta(days=500))


@pytest.mark.django_db(transaction=True)
def test_a_revert_with_a_reason_says_it_was_a_revert_in_history_and_in_dolt(staff_user):
    block = student()
    block_services.update_block_content(block=block, content="agent went off track", by=Actor.agent("tutor"), reason="v2",
                                        dolt_commit=False)
    dolt.commit("fixture")
    block_services.revert_block(block=block, version=1, by=Actor.staff(staff_user), reason="go back to the imported text.")
    row = HistoricalBlock.objects.get(id=block.pk, version=3)
    assert row.history_change_reason == "Revert to v1 by rita: go back to the imported text."
    assert dolt.log(limit=1)[0].message == "Revert to v1 by rita: maya/student v3 — go back to the imported text."
