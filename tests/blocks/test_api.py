"""Block routes: list, read (ETag / 304), history (paginated, newest first), staff revert, shared
blocks, free-text labels, auth."""

import pytest

from blocks import services as block_services
from blocks.models import HistoricalBlock, OwnerType
from tests.factories import make_agent_key, make_block
from tests.support import api, assert_error, snapshot
from youlab.actors import Actor

pytestmark = pytest.mark.django_db

STUDENT = "# Student\nName: Maya\nGoal: write about the bakery\n"


@pytest.fixture
def maya():
    return {
        "student": make_block(owner_id="maya", label="student", content=STUDENT, char_limit=500,
                              description="What we know"),
        "goal": make_block(owner_id="maya", label="目标", content="写一篇关于面包店的文章"),
        "reading": make_block(owner_id="maya", label="reading-list", content="- Salt, Fat, Acid, Heat"),
        "spaced": make_block(owner_id="maya", label="study plan", content="week 1"),
    }


def edit(block, content, by=Actor("staff", "rita")):
    return block_services.update_block_content(block=block, content=content, by=by, reason=f"set to {content!r}",
                                               dolt_commit=False)


# --- list -------------------------------------------------------------------------------------


def test_list_returns_the_learners_live_blocks_by_label(agent, maya):
    make_block(owner_id="sam", label="student")
    deleted = make_block(owner_id="maya", label="old")
    block_services.set_block_deleted(block=deleted, deleted=True, by=Actor.system(), dolt_commit=False)

    response = agent.get(api("users", "maya", "blocks"))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4 and body["previous"] is None and body["next"] is None
    labels = [b["label"] for b in body["results"]]
    assert sorted(labels) == sorted(["student", "目标", "reading-list", "study plan"])
    student = next(b for b in body["results"] if b["label"] == "student")
    assert student == {
        "id": str(maya["student"].pk), "owner_type": "user", "owner_id": "maya", "label": "student",
        "content": STUDENT, "description": "What we know", "char_limit": 500, "read_only": False,
        "metadata": {}, "version": 1, "created_at": student["created_at"], "updated_at": student["updated_at"],
    }


def test_unknown_learner_has_an_empty_list_not_404(agent):
    response = agent.get(api("users", "nobody-yet", "blocks"))
    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_list_is_paginated_with_limit_and_offset(agent):
    for i in range(5):
        make_block(owner_id="maya", label=f"b{i}")
    first = agent.get(api("users", "maya", "blocks", query="limit=2")).json()
    assert first["count"] == 5 and [b["label"] for b in first["results"]] == ["b0", "b1"]
    assert "offset=2" in first["next"]
    last = agent.get(api("users", "maya", "blocks", query="limit=2&offset=4")).json()
    assert [b["label"] for b in last["results"]] == ["b4"] and last["next"] is None


def test_a_malformed_learner_id_is_400(agent):
    assert_error(agent.get(api("users", "a\x01b", "blocks")), 400, "invalid_input")


# --- one block --------------------------------------------------------------------------------


@pytest.mark.parametrize("key,label", [("student", "student"), ("goal", "目标"), ("reading", "reading-list"),
                                       ("spaced", "study plan")])
def test_read_one_block_by_free_text_label_with_etag(agent, maya, key, label):
    response = agent.get(api("users", "maya", "blocks", label))
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert response.json()["label"] == label
    assert response.json()["content"] == maya[key].content


def test_unencoded_unicode_paths_route_too(agent, maya):
    response = agent.get("/api/v1/users/maya/blocks/目标/")
    assert response.status_code == 200 and response.json()["label"] == "目标"


def test_etag_follows_the_version_and_if_none_match_gives_304(agent, maya):
    url = api("users", "maya", "blocks", "student")
    assert agent.get(url)["ETag"] == '"1"'
    not_modified = agent.get(url, HTTP_IF_NONE_MATCH='"1"')
    assert not_modified.status_code == 304 and not_modified["ETag"] == '"1"' and not not_modified.content
    assert agent.get(url, HTTP_IF_NONE_MATCH='W/"1"').status_code == 304
    assert agent.get(url, HTTP_IF_NONE_MATCH='"7", "1"').status_code == 304
    assert agent.get(url, HTTP_IF_NONE_MATCH="*").status_code == 304

    edit(maya["student"], STUDENT + "Likes chess\n")
    changed = agent.get(url, HTTP_IF_NONE_MATCH='"1"')
    assert changed.status_code == 200 and changed["ETag"] == '"2"'
    assert changed.json()["version"] == 2
    assert agent.get(url, HTTP_IF_NONE_MATCH="garbage").status_code == 200


def test_a_304_reads_the_version_not_the_text(agent, maya, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = api("users", "maya", "blocks", "student")
    agent.get(url)  # the key is looked up (and cached) and marked used
    with CaptureQueriesContext(connection) as captured:
        assert agent.get(url, HTTP_IF_NONE_MATCH='"1"').status_code == 304
    assert len(captured) == 1 and "`content`" not in captured[0]["sql"]
    with django_assert_num_queries(2):  # a stale tag: the version, then the block
        assert agent.get(url, HTTP_IF_NONE_MATCH='"7"').json()["content"] == STUDENT
    with django_assert_num_queries(1):  # no tag: the block alone
        assert agent.get(url).status_code == 200
    block_services.set_block_deleted(block=maya["student"], deleted=True, by=Actor("staff", "rita"))
    assert_error(agent.get(url, HTTP_IF_NONE_MATCH="*"), 404, "block_not_found")
    assert_error(agent.get(url, HTTP_IF_NONE_MATCH='"2"'), 404, "block_not_found")
    assert_error(agent.get(api("users", "maya", "blocks", "nothing"), HTTP_IF_NONE_MATCH="*"), 404,
                 "block_not_found")


def test_unknown_block_is_404_block_not_found(agent, maya):
    error = assert_error(agent.get(api("users", "maya", "blocks", "goals")), 404, "block_not_found")
    assert error["details"]["label"] == "goals"
    assert_error(agent.get(api("users", "nobody", "blocks", "student")), 404, "block_not_found")


def test_a_soft_deleted_block_is_404(agent, maya):
    block_services.set_block_deleted(block=maya["reading"], deleted=True, by=Actor.system(), dolt_commit=False)
    assert_error(agent.get(api("users", "maya", "blocks", "reading-list")), 404, "block_not_found")
    assert_error(agent.get(api("users", "maya", "blocks", "reading-list", "history")), 404, "block_not_found")


@pytest.mark.parametrize("label", [" padded", "back\\slash", "tab\there", "x" * 256])
def test_labels_that_cannot_exist_are_400(agent, label):
    assert_error(agent.get(api("users", "maya", "blocks", label)), 400, "invalid_input")


def test_a_slash_is_never_part_of_a_label(agent, maya):
    # %2F decodes to '/', which no route accepts inside a label: the API's JSON 404.
    assert_error(agent.get("/api/v1/users/maya/blocks/a%2Fb/"), 404, "not_found")


def test_user_and_shared_blocks_with_one_label_are_different_blocks(agent, maya):
    make_block(owner_id="maya", label="course", owner_type=OwnerType.SHARED, content="shared maya")
    assert_error(agent.get(api("users", "maya", "blocks", "course")), 404, "block_not_found")
    assert agent.get(api("shared", "maya", "blocks", "course")).json()["content"] == "shared maya"


# --- history ----------------------------------------------------------------------------------


def test_history_lists_versions_newest_first_with_actor_reason_and_date(agent, maya):
    block = maya["student"]
    edit(block, "v2", by=Actor.agent("tutor"))
    edit(block, "v3")
    response = agent.get(api("users", "maya", "blocks", "student", "history"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [v["version"] for v in body["results"]] == [3, 2, 1]
    assert [v["content"] for v in body["results"]] == ["v3", "v2", STUDENT]
    newest = body["results"][0]
    assert set(newest) == {"version", "content", "actor", "reason", "date", "diff_id", "deleted"}
    assert newest["actor"] == "staff:rita" and newest["reason"] == "set to 'v3'"
    assert newest["diff_id"] is None and newest["deleted"] is False
    assert body["results"][1]["actor"] == "agent:tutor"


def test_history_is_paginated(agent, maya):
    for n in range(4):
        edit(maya["goal"], f"v{n + 2}")
    url = api("users", "maya", "blocks", "目标", "history")
    page = agent.get(url + "?limit=2&offset=2").json()
    assert page["count"] == 5 and [v["version"] for v in page["results"]] == [3, 2]
    assert page["next"] and page["previous"]


def test_history_of_an_unknown_block_is_404(agent):
    assert_error(agent.get(api("users", "maya", "blocks", "nope", "history")), 404, "block_not_found")


# --- shared blocks ----------------------------------------------------------------------------


def test_shared_blocks_list_read_and_history(agent):
    course = make_block(owner_id="college-essay", label="course", owner_type=OwnerType.SHARED,
                        content="Week 1: brainstorm", read_only=True)
    make_block(owner_id="college-essay", label="rubric", owner_type=OwnerType.SHARED)
    make_block(owner_id="college-essay", label="student")  # a learner called "college-essay"

    listing = agent.get(api("shared", "college-essay", "blocks")).json()
    assert sorted(b["label"] for b in listing["results"]) == ["course", "rubric"]
    assert {b["owner_type"] for b in listing["results"]} == {"shared"}

    one = agent.get(api("shared", "college-essay", "blocks", "course"))
    assert one.status_code == 200 and one["ETag"] == '"1"'
    assert one.json()["read_only"] is True and one.json()["id"] == str(course.pk)
    history = agent.get(api("shared", "college-essay", "blocks", "course", "history")).json()
    assert [v["version"] for v in history["results"]] == [1]
    assert agent.get(api("shared", "unknown-course", "blocks")).json()["count"] == 0
    assert_error(agent.get(api("shared", "college-essay", "blocks", "student")), 404, "block_not_found")


# --- revert (staff) ---------------------------------------------------------------------------


def test_staff_revert_makes_a_new_version_equal_to_an_old_one(staff, maya):
    block = maya["student"]
    edit(block, "v2")
    response = staff.post(api("users", "maya", "blocks", "student", "revert"), {"version": 1}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 3 and response.json()["content"] == STUDENT
    assert response["ETag"] == '"3"'
    row = HistoricalBlock.objects.get(id=block.pk, version=3)
    assert row.actor == "staff:rita" and row.history_change_reason == "Revert to v1 by rita"


def test_staff_revert_of_a_shared_block_with_a_reason(staff):
    course = make_block(owner_id="college-essay", label="course", owner_type=OwnerType.SHARED, content="one")
    edit(course, "two")
    response = staff.post(api("shared", "college-essay", "blocks", "course", "revert"),
                          {"version": 1, "reason": "undo"}, format="json")
    assert response.status_code == 200 and response.json()["content"] == "one"
    assert HistoricalBlock.objects.get(id=course.pk, version=3).history_change_reason == "Revert to v1 by rita: undo"


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"version": 9}, 404, "version_not_found"),
        ({"version": 1}, 400, "invalid_input"),  # already at version 1
        ({}, 400, "invalid_input"),
        ({"version": "two"}, 400, "invalid_input"),
        ({"version": 0}, 400, "invalid_input"),
        ({"version": 1, "reason": "x" * 20_001}, 400, "invalid_input"),
    ],
)
def test_revert_errors_change_nothing(staff, maya, body, status, code):
    before = snapshot()
    assert_error(staff.post(api("users", "maya", "blocks", "student", "revert"), body, format="json"), status, code)
    assert snapshot() == before


def test_revert_of_an_unknown_block_is_404(staff):
    assert_error(staff.post(api("users", "maya", "blocks", "nope", "revert"), {"version": 1}, format="json"),
                 404, "block_not_found")


def test_revert_refuses_agent_keys_and_anonymous_callers(agent, anon, revoked, maya):
    edit(maya["student"], "v2")
    before = snapshot()
    url = api("users", "maya", "blocks", "student", "revert")
    assert_error(agent.post(url, {"version": 1}, format="json"), 403, "permission_denied")
    response = anon.post(url, {"version": 1}, format="json")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"
    assert_error(revoked.post(url, {"version": 1}, format="json"), 401, "authentication_failed")
    assert snapshot() == before


# --- auth on the read routes ------------------------------------------------------------------


READ_ROUTES = [
    ("users", "maya", "blocks"),
    ("users", "maya", "blocks", "student"),
    ("users", "maya", "blocks", "student", "history"),
    ("shared", "college-essay", "blocks"),
    ("shared", "college-essay", "blocks", "course"),
    ("shared", "college-essay", "blocks", "course", "history"),
]


@pytest.mark.parametrize("route", READ_ROUTES)
def test_read_routes_need_a_valid_key(anon, revoked, maya, route):
    response = anon.get(api(*route))
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"
    assert_error(revoked.get(api(*route)), 401, "authentication_failed")
    bogus = anon.get(api(*route), HTTP_AUTHORIZATION="Api-Key not.a-key")
    assert_error(bogus, 401, "authentication_failed")


def test_an_expired_key_is_refused(db, maya):
    from datetime import timedelta

    from django.utils import timezone
    
    from tests.support import client_for_key

    _, key = make_agent_key(name="old", expiry_date=timezone.now() - timedelta(days=1))
    assert_error(client_for_key(key).get(api("users", "maya", "blocks")), 401, "authentication_failed")


def test_staff_sessions_can_read_and_non_staff_sessions_cannot(staff, maya, django_user_model):
    assert staff.get(api("users", "maya", "blocks", "student")).status_code == 200
    from rest_framework.test import APIClient

    learner = django_user_model.objects.create_user("lena", password="pw-lena-123")
    client = APIClient()
    client.force_login(learner)
    assert_error(client.get(api("users", "maya", "blocks")), 403, "permission_denied")
