"""Proposal routes: propose (flattened / nested / aliases, every error code, If-Match,
Idempotency-Key), list and poll, staff approve (rebase, conflict, edit) and reject."""

import json

import pytest
from rest_framework.test import APIClient

from blocks import services as block_services
from blocks.models import Block, HistoricalBlock, OwnerType
from diffs.models import DiffStatus, PendingDiff
from tests.factories import make_block, propose
from tests.support import api, assert_error, snapshot
from youlab.actors import Actor

pytestmark = pytest.mark.django_db

STUDENT = "# Student\nName: Maya\nGoal: write about the bakery\n"


@pytest.fixture
def block():
    return make_block(owner_id="maya", label="student", content=STUDENT, char_limit=200)


def post(client, url, body, **headers):
    return client.post(url, body, format="json", **headers)


def diffs_url(label="student", owner="maya", kind="users"):
    return api(kind, owner, "blocks", label, "diffs")


# --- propose: happy paths ---------------------------------------------------------------------


def test_propose_flattened_str_replace(agent, block):
    response = post(agent, diffs_url(), {
        "operation": "str_replace", "old_str": "Name: Maya", "new_str": "Name: Maya Tran",
        "reasoning": "She told me her family name.", "agent_id": "agent-42",
    })
    assert response.status_code == 201, response.json()
    body = response.json()
    diff = PendingDiff.objects.get()
    assert body["id"] == str(diff.pk)
    assert response["Location"] == f"/api/v1/diffs/{diff.pk}/"
    assert "Idempotent-Replayed" not in response
    assert body["status"] == "pending" and body["operation"] == "str_replace"
    assert body["arguments"] == {"old_str": "Name: Maya", "new_str": "Name: Maya Tran"}
    assert body["base_version"] == 1 and body["block_id"] == str(block.pk)
    assert body["proposed_content"] == STUDENT.replace("Name: Maya", "Name: Maya Tran")
    assert body["preview"].startswith("--- a/student\n+++ b/student\n")
    assert "-Name: Maya\n+Name: Maya Tran\n" in body["preview"]
    assert body["agent"] == "tutor" and body["agent_id"] == "agent-42"
    assert body["reasoning"] == "She told me her family name."
    assert body["is_stale"] is False and body["reviewer"] is None
    block.refresh_from_db()
    assert block.content == STUDENT and block.version == 1  # proposing changes nothing
    assert diff.response_body is None  # kept for replays only when an Idempotency-Key was sent


def test_propose_with_nested_arguments(agent, block):
    response = post(agent, diffs_url(), {"operation": "append", "arguments": {"text": "Likes chess"}})
    assert response.status_code == 201
    assert response.json()["proposed_content"] == STUDENT + "Likes chess"
    assert response.json()["reasoning"] == "" and response.json()["agent_id"] == ""


def test_flattened_and_nested_arguments_together_are_refused(agent, block):
    before = snapshot()
    error = assert_error(post(agent, diffs_url(), {
        "operation": "append", "text": "a", "arguments": {"text": "b"},
    }), 400, "invalid_arguments")
    assert error["details"]["flattened"] == ["text"]
    assert snapshot() == before


@pytest.mark.parametrize(
    "body,operation,arguments,proposed",
    [
        ({"operation": "core_memory_append", "content": "Likes chess"}, "append", {"text": "Likes chess"},
         STUDENT + "Likes chess"),
        ({"operation": "append", "content": "Likes chess"}, "append", {"text": "Likes chess"},
         STUDENT + "Likes chess"),
        ({"operation": "core_memory_replace", "old_content": "Maya", "new_content": "Mia"}, "str_replace",
         {"old_str": "Maya", "new_str": "Mia"}, STUDENT.replace("Maya", "Mia")),
        ({"operation": "memory_replace", "old_string": "Maya", "new_string": "Mia"}, "str_replace",
         {"old_str": "Maya", "new_str": "Mia"}, STUDENT.replace("Maya", "Mia")),
        ({"operation": "memory_str_replace", "arguments": {"old_str": "Maya", "new_str": "Mia"}}, "str_replace",
         {"old_str": "Maya", "new_str": "Mia"}, STUDENT.replace("Maya", "Mia")),
        ({"operation": "memory_insert", "insert_line": 1, "new_str": "Age: 17"}, "insert",
         {"insert_line": 1, "text": "Age: 17"}, "# Student\nAge: 17\nName: Maya\nGoal: write about the bakery\n"),
        ({"operation": "insert", "insert_line": 0, "insert_text": "TOP"}, "insert",
         {"insert_line": 0, "text": "TOP"}, "TOP\n" + STUDENT),
        ({"operation": "memory_insert", "new_str": "At the end"}, "append", {"text": "At the end"},
         STUDENT + "At the end"),
        ({"operation": "memory_insert", "insert_line": -1, "new_str": "At the end"}, "append",
         {"text": "At the end"}, STUDENT + "At the end"),
        ({"operation": "memory_rethink", "new_memory": "all new"}, "rethink", {"content": "all new"}, "all new"),
    ],
)
def test_letta_and_memory_tool_aliases(agent, block, body, operation, arguments, proposed):
    response = post(agent, diffs_url(), body)
    assert response.status_code == 201, response.json()
    assert response.json()["operation"] == operation
    assert response.json()["arguments"] == arguments
    assert response.json()["proposed_content"] == proposed
    assert PendingDiff.objects.get().arguments == arguments  # stored canonical


def test_create_proposal_for_a_learner_who_has_nothing_yet(agent, staff):
    before = Block.objects.count()
    response = post(agent, diffs_url("目标", owner="newbie"), {
        "operation": "memory_create", "file_text": "写一篇文章", "description": "goals", "char_limit": 100,
    })
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["operation"] == "create" and body["block_id"] is None and body["base_version"] is None
    assert body["label"] == "目标" and body["owner_id"] == "newbie"
    assert Block.objects.count() == before
    assert agent.get(api("users", "newbie", "blocks")).json()["count"] == 0

    approved = staff.post(api("diffs", body["id"], "approve"), {}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    created = agent.get(api("users", "newbie", "blocks", "目标")).json()
    assert created["content"] == "写一篇文章" and created["char_limit"] == 100 and created["description"] == "goals"
    assert approved.json()["block_id"] == created["id"] and approved.json()["applied_version"] == 1


def test_propose_to_a_writable_shared_block(agent, staff):
    course = make_block(owner_id="college-essay", label="rubric", owner_type=OwnerType.SHARED, content="A: great")
    response = post(agent, diffs_url("rubric", owner="college-essay", kind="shared"),
                    {"operation": "append", "text": "B: good"})
    assert response.status_code == 201
    assert response.json()["owner_type"] == "shared" and response.json()["block_id"] == str(course.pk)
    listed = agent.get(api("shared", "college-essay", "diffs")).json()
    assert [d["id"] for d in listed["results"]] == [response.json()["id"]]
    per_label = agent.get(diffs_url("rubric", owner="college-essay", kind="shared")).json()
    assert per_label["count"] == 1
    assert agent.get(api("users", "college-essay", "diffs")).json()["count"] == 0


def test_staff_may_propose_too(staff, block):
    response = post(staff, diffs_url(), {"operation": "append", "text": "x"})
    assert response.status_code == 201 and response.json()["agent"] == "staff:rita"


# --- propose: every refusal is a 4xx with a code and changes nothing -------------------------


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"operation": "explode", "text": "x"}, 400, "unknown_operation"),
        ({"operation": ["append"], "text": "x"}, 400, "invalid_input"),
        ({"text": "x"}, 400, "invalid_input"),
        ({"operation": "append"}, 400, "invalid_arguments"),
        ({"operation": "append", "text": 5}, 400, "invalid_arguments"),
        ({"operation": "append", "text": ""}, 400, "invalid_arguments"),
        ({"operation": "append", "text": "x", "colour": "red"}, 400, "invalid_arguments"),
        ({"operation": "append", "text": "x", "content": "y"}, 400, "invalid_arguments"),
        ({"operation": "append", "arguments": "text=x"}, 400, "invalid_input"),
        ({"operation": "insert", "insert_line": "1", "text": "x"}, 400, "invalid_arguments"),
        ({"operation": "insert", "insert_line": True, "text": "x"}, 400, "invalid_arguments"),
        ({"operation": "insert", "insert_line": -3, "text": "x"}, 400, "invalid_arguments"),
        ({"operation": "insert", "insert_line": 99, "text": "x"}, 400, "insert_line_out_of_range"),
        ({"operation": "str_replace", "old_str": "Nobody", "new_str": "x"}, 400, "old_str_not_found"),
        ({"operation": "str_replace", "old_str": "a", "new_str": "x"}, 400, "old_str_not_unique"),
        ({"operation": "append", "text": "x" * 300}, 400, "over_char_limit"),
        ({"operation": "rethink", "content": "x" * 1_000_001}, 400, "invalid_arguments"),
        ({"operation": "append", "text": "x", "reasoning": "r" * 20_001}, 400, "invalid_input"),
        ({"operation": "append", "text": "x", "agent_id": "a" * 256}, 400, "invalid_input"),
        ({"operation": "append", "text": "x", "reasoning": 7}, 400, "invalid_input"),  # no coercion
        ({"operation": "append", "text": "x", "agent_id": 42}, 400, "invalid_input"),
        ({"operation": "create", "content": "x"}, 409, "block_exists"),
        ([{"operation": "append", "text": "x"}], 400, "invalid_input"),
        ("append", 400, "invalid_input"),
    ],
)
def test_refused_proposals_change_nothing(agent, block, body, status, code):
    before = snapshot()
    assert_error(post(agent, diffs_url(), body), status, code)
    assert snapshot() == before


def test_not_unique_reports_line_numbers(agent, block):
    error = assert_error(post(agent, diffs_url(), {"operation": "str_replace", "old_str": "a", "new_str": "x"}),
                         400, "old_str_not_unique")
    assert error["details"]["lines"][:2] == [2, 3] and error["details"]["count"] >= 2


def test_over_char_limit_says_the_limit(agent, block):
    error = assert_error(post(agent, diffs_url(), {"operation": "append", "text": "x" * 300}), 400, "over_char_limit")
    assert error["details"]["char_limit"] == 200


def test_create_with_a_huge_char_limit_is_refused(agent):
    before = snapshot()
    assert_error(post(agent, diffs_url("new", owner="newbie"),
                      {"operation": "create", "content": "x", "char_limit": 2**40}), 400, "invalid_arguments")
    assert snapshot() == before


def test_read_only_blocks_refuse_proposals(agent):
    make_block(owner_id="college-essay", label="course", owner_type=OwnerType.SHARED, read_only=True)
    before = snapshot()
    assert_error(post(agent, diffs_url("course", owner="college-essay", kind="shared"),
                      {"operation": "append", "text": "x"}), 409, "block_read_only")
    assert snapshot() == before


def test_unknown_block_is_404_and_stores_nothing(agent, block):
    before = snapshot()
    assert_error(post(agent, diffs_url("goals"), {"operation": "append", "text": "x"}), 404, "block_not_found")
    assert_error(post(agent, diffs_url("student", owner="nobody"), {"operation": "append", "text": "x"}),
                 404, "block_not_found")
    assert snapshot() == before


def test_malformed_json_is_400_parse_error(agent, block):
    before = snapshot()
    for raw in ['{"operation": "append", "text": ', "{'single': 'quotes'}", '{"text": NaN}', "[" * 100_000]:
        assert_error(agent.post(diffs_url(), raw, content_type="application/json"), 400, "parse_error")
    assert_error(agent.post(diffs_url(), b'{"text": "\xff"}', content_type="application/json"), 400, "parse_error")
    assert_error(agent.post(diffs_url(), '{"operation": "append", "text": "\\ud800"}',
                            content_type="application/json"), 400, "parse_error")
    assert snapshot() == before


def test_non_json_bodies_are_415(agent, block):
    before = snapshot()
    response = agent.post(diffs_url(), {"operation": "append", "text": "x"})  # multipart form
    assert_error(response, 415, "unsupported_media_type")
    assert snapshot() == before


def test_bodies_over_the_upload_limit_are_413(agent, block, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = snapshot()
    error = assert_error(post(agent, diffs_url(), {"operation": "append", "text": "x" * 2000}),
                         413, "request_too_large")
    assert error["details"]["max_bytes"] == 1000
    assert snapshot() == before


@pytest.mark.parametrize("label", [" padded", "back\\slash"])
def test_invalid_labels_are_400(agent, label):
    assert_error(post(agent, diffs_url(label), {"operation": "create", "content": "x"}), 400, "invalid_input")


# --- If-Match ---------------------------------------------------------------------------------


def test_if_match_current_version_is_accepted(agent, block):
    for tag in ['"1"', 'W/"1"', "1", "*"]:
        response = post(agent, diffs_url(), {"operation": "append", "text": "x"}, HTTP_IF_MATCH=tag)
        assert response.status_code == 201, (tag, response.json())


def test_if_match_stale_version_is_412_and_stores_nothing(agent, block):
    read = agent.get(api("users", "maya", "blocks", "student"))
    block_services.update_block_content(block=block, content=STUDENT + "Likes chess", by=Actor("staff", "rita"), reason="x",
                                        dolt_commit=False)
    before = snapshot()
    error = assert_error(post(agent, diffs_url(), {"operation": "append", "text": "y"}, HTTP_IF_MATCH=read["ETag"]),
                         412, "version_mismatch")
    assert error["details"]["current_version"] == 2
    assert snapshot() == before


@pytest.mark.parametrize("tag", ["abc", '"1", "2"', '"0"', '"99999999999"', '""'])
def test_malformed_if_match_is_400(agent, block, tag):
    before = snapshot()
    error = assert_error(post(agent, diffs_url(), {"operation": "append", "text": "x"}, HTTP_IF_MATCH=tag),
                         400, "invalid_header")
    assert error["details"] == {"header": "If-Match"}
    assert snapshot() == before


# --- Idempotency-Key --------------------------------------------------------------------------


def test_same_key_and_body_replays_the_first_answer(agent, staff, block):
    body = {"operation": "append", "text": "Likes chess", "reasoning": "twice"}
    first = post(agent, diffs_url(), body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    # The proposal is decided in between: the replay is still the first answer, unchanged.
    assert staff.post(api("diffs", first.json()["id"], "approve"), {}, format="json").status_code == 200
    second = post(agent, diffs_url(), body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert second["Location"] == first["Location"]
    assert json.loads(second.content) == json.loads(first.content)
    assert PendingDiff.objects.count() == 1
    assert PendingDiff.objects.get().response_body == first.json()  # kept for this replay


def test_alias_spellings_of_the_same_request_replay(agent, block):
    first = post(agent, diffs_url(), {"operation": "append", "text": "x"}, HTTP_IDEMPOTENCY_KEY="k-2")
    again = post(agent, diffs_url(), {"operation": "core_memory_append", "arguments": {"content": "x"}},
                 HTTP_IDEMPOTENCY_KEY="k-2")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


def test_same_key_with_another_body_is_409(agent, block):
    first = post(agent, diffs_url(), {"operation": "append", "text": "x"}, HTTP_IDEMPOTENCY_KEY="k-3")
    before = snapshot()
    for other_body, url in [
        ({"operation": "append", "text": "y"}, diffs_url()),
        ({"operation": "append", "text": "x", "reasoning": "r"}, diffs_url()),
        ({"operation": "create", "content": "x"}, diffs_url("other")),
    ]:
        error = assert_error(post(agent, url, other_body, HTTP_IDEMPOTENCY_KEY="k-3"), 409, "idempotency_key_reused")
        assert error["details"]["diff_id"] == first.json()["id"]
    assert snapshot() == before


def test_idempotency_keys_are_scoped_per_api_key(agent, other_agent, block):
    body = {"operation": "append", "text": "x"}
    one = post(agent, diffs_url(), body, HTTP_IDEMPOTENCY_KEY="shared-key")
    two = post(other_agent, diffs_url(), body, HTTP_IDEMPOTENCY_KEY="shared-key")
    assert one.status_code == two.status_code == 201 and "Idempotent-Replayed" not in two
    assert one.json()["id"] != two.json()["id"] and two.json()["agent"] == "coach"


def test_a_refused_request_does_not_use_up_its_key(agent, block):
    assert_error(post(agent, diffs_url(), {"operation": "str_replace", "old_str": "zzz", "new_str": "x"},
                      HTTP_IDEMPOTENCY_KEY="k-4"), 400, "old_str_not_found")
    ok = post(agent, diffs_url(), {"operation": "append", "text": "x"}, HTTP_IDEMPOTENCY_KEY="k-4")
    assert ok.status_code == 201 and "Idempotent-Replayed" not in ok


@pytest.mark.parametrize("key", ["", " padded ", "x" * 256, "tab\tkey"])
def test_malformed_idempotency_key_is_400(agent, block, key):
    assert_error(post(agent, diffs_url(), {"operation": "append", "text": "x"}, HTTP_IDEMPOTENCY_KEY=key),
                 400, "invalid_header")
    assert PendingDiff.objects.count() == 0


# --- list and poll ----------------------------------------------------------------------------


def test_learner_diff_list_newest_first_with_filters(agent, other_agent, staff, block):
    other = make_block(owner_id="maya", label="goals", content="essay")
    first = post(agent, diffs_url(), {"operation": "append", "text": "one"}).json()
    second = post(other_agent, diffs_url("goals"), {"operation": "append", "text": "two"}).json()
    third = post(agent, diffs_url(), {"operation": "append", "text": "three"}).json()
    staff.post(api("diffs", first["id"], "reject"), {"reason": "no"}, format="json")
    make_block(owner_id="sam", label="student")
    assert other.pk

    listing = agent.get(api("users", "maya", "diffs")).json()
    assert [d["id"] for d in listing["results"]] == [third["id"], second["id"], first["id"]]
    pending = agent.get(api("users", "maya", "diffs", query="status=pending")).json()
    assert [d["id"] for d in pending["results"]] == [third["id"], second["id"]]
    rejected = agent.get(api("users", "maya", "diffs", query="status=rejected")).json()["results"]
    assert [d["review_note"] for d in rejected] == ["no"] and rejected[0]["reviewer"] == "rita"
    by_label = agent.get(api("users", "maya", "diffs", query="label=goals")).json()
    assert [d["id"] for d in by_label["results"]] == [second["id"]]
    mine = agent.get(api("users", "maya", "diffs", query="mine=true")).json()
    assert {d["agent"] for d in mine["results"]} == {"tutor"} and mine["count"] == 2
    per_block = agent.get(diffs_url()).json()
    assert [d["id"] for d in per_block["results"]] == [third["id"], first["id"]]
    assert agent.get(api("users", "nobody", "diffs")).json()["count"] == 0
    assert agent.get(diffs_url("not-yet")).json()["count"] == 0


def test_diff_list_pagination(agent, block):
    for n in range(5):
        propose(block, "append", text=f"n{n}")
    page = agent.get(api("users", "maya", "diffs", query="limit=2&offset=2")).json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"] and page["previous"]


@pytest.mark.parametrize("query,field", [("status=lost", "status"), ("status=", "status"), ("label=", "label"),
                                         ("status=pending&status=approved", "status"), ("mine=perhaps", "mine")])
def test_bad_list_filters_are_400(agent, query, field):
    error = assert_error(agent.get(api("users", "maya", "diffs", query=query)), 400, "invalid_input")
    assert field in error["details"]["fields"]


def test_poll_a_diff_until_it_is_decided(agent, staff, block):
    proposed = post(agent, diffs_url(), {"operation": "append", "text": "Likes chess"}).json()
    polled = agent.get(api("diffs", proposed["id"]))
    assert polled.status_code == 200 and polled.json() == proposed
    staff.post(api("diffs", proposed["id"], "approve"), {"note": "ok"}, format="json")
    decided = agent.get(api("diffs", proposed["id"])).json()
    assert decided["status"] == "approved" and decided["reviewer"] == "rita"
    assert decided["applied_version"] == 2 and decided["review_note"] == "ok" and decided["reviewed_at"]


def test_stale_proposals_say_so(agent, block):
    proposed = post(agent, diffs_url(), {"operation": "append", "text": "x"}).json()
    block_services.update_block_content(block=block, content="moved on", by=Actor.system(), reason="x", dolt_commit=False)
    assert agent.get(api("diffs", proposed["id"])).json()["is_stale"] is True


def test_unknown_diffs_are_404_diff_not_found(agent, staff):
    assert_error(agent.get(api("diffs", "5c0e8d1a-0000-4000-8000-000000000001")), 404, "diff_not_found")
    assert_error(agent.get(api("diffs", "not-a-uuid")), 404, "diff_not_found")
    assert_error(staff.post(api("diffs", "not-a-uuid", "approve"), {}, format="json"), 404, "diff_not_found")
    assert_error(staff.post(api("diffs", "5c0e8d1a-0000-4000-8000-000000000001", "reject"), {"reason": "x"},
                            format="json"), 404, "diff_not_found")


# --- approve / reject (staff) -----------------------------------------------------------------


def test_approve_applies_the_diff(staff, block):
    diff = propose(block, "str_replace", old_str="Maya", new_str="Mia")
    response = staff.post(api("diffs", diff.pk, "approve"), {}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "approved" and response.json()["applied_version"] == 2
    block.refresh_from_db()
    assert block.content == STUDENT.replace("Maya", "Mia") and block.version == 2
    row = HistoricalBlock.objects.get(id=block.pk, version=2)
    assert row.diff_id == diff.pk and row.actor == "staff:rita"


def test_approve_rebases_onto_a_block_that_moved_on(staff, block):
    diff = propose(block, "str_replace", old_str="Maya", new_str="Mia")
    block_services.update_block_content(block=block, content=STUDENT + "Likes chess\n", by=Actor.system(), reason="x",
                                        dolt_commit=False)
    response = staff.post(api("diffs", diff.pk, "approve"), {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    block.refresh_from_db()
    assert block.content == STUDENT.replace("Maya", "Mia") + "Likes chess\n"


def test_approve_that_no_longer_applies_is_409_conflict_and_marks_the_diff(staff, block):
    diff = propose(block, "str_replace", old_str="bakery", new_str="bike shop")
    block_services.update_block_content(block=block, content="# Student\nName: Maya\n", by=Actor.system(), reason="x",
                                        dolt_commit=False)
    error = assert_error(staff.post(api("diffs", diff.pk, "approve"), {}, format="json"), 409, "conflict")
    assert "no longer applies" in error["message"] and "old_str" in error["message"]
    assert error["details"]["diff"]["status"] == "conflict"
    assert error["details"]["diff"]["conflict_reason"] == error["message"]
    diff.refresh_from_db()
    assert diff.status == DiffStatus.CONFLICT
    block.refresh_from_db()
    assert block.content == "# Student\nName: Maya\n" and block.version == 2


def test_edit_and_approve(staff, block):
    diff = propose(block, "append", text="Likes chess")
    response = staff.post(api("diffs", diff.pk, "approve"),
                          {"edited_content": "# Student\nName: Maya (chess)\n", "note": "tidied"}, format="json")
    assert response.status_code == 200 and response.json()["review_note"] == "tidied"
    block.refresh_from_db()
    assert block.content == "# Student\nName: Maya (chess)\n"
    assert "edited and approved" in HistoricalBlock.objects.get(id=block.pk, version=2).history_change_reason


def test_approve_errors_change_nothing(staff, block):
    diff = propose(block, "append", text="x")
    before = snapshot()
    assert_error(staff.post(api("diffs", diff.pk, "approve"), {"edited_content": "x" * 201}, format="json"),
                 400, "over_char_limit")
    assert_error(staff.post(api("diffs", diff.pk, "approve"), {"edited_content": ["x"]},
                            format="json"), 400, "invalid_input")
    assert_error(staff.post(api("diffs", diff.pk, "approve"), "{", content_type="application/json"),
                 400, "parse_error")
    assert snapshot() == before
    staff.post(api("diffs", diff.pk, "approve"), {}, format="json")
    before = snapshot()
    error = assert_error(staff.post(api("diffs", diff.pk, "approve"), {}, format="json"), 409, "diff_not_pending")
    assert error["details"]["status"] == "approved"
    assert_error(staff.post(api("diffs", diff.pk, "reject"), {"reason": "late"}, format="json"),
                 409, "diff_not_pending")
    assert snapshot() == before


def test_reject_with_a_reason(staff, agent, block):
    diff = propose(block, "append", text="x")
    response = staff.post(api("diffs", diff.pk, "reject"), {"reason": "Not what she said."}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "rejected" and response.json()["review_note"] == "Not what she said."
    assert agent.get(api("diffs", diff.pk)).json()["status"] == "rejected"
    block.refresh_from_db()
    assert block.version == 1


@pytest.mark.parametrize("body,code", [({}, "reason_required"), ({"reason": ""}, "reason_required"),
                                       ({"reason": "   "}, "reason_required"), ({"reason": None}, "reason_required"),
                                       ({"reason": "x" * 20_001}, "invalid_input"),
                                       ({"reason": {"a": 1}}, "invalid_input")])
def test_reject_needs_a_reason(staff, block, body, code):
    diff = propose(block, "append", text="x")
    before = snapshot()
    assert_error(staff.post(api("diffs", diff.pk, "reject"), body, format="json"), 400, code)
    assert snapshot() == before


@pytest.mark.parametrize("action,body", [("approve", {}), ("reject", {"reason": "no"})])
def test_decisions_refuse_agent_keys_and_anonymous_callers(agent, anon, revoked, block, action, body):
    diff = propose(block, "append", text="x")
    before = snapshot()
    url = api("diffs", diff.pk, action)
    assert_error(agent.post(url, body, format="json"), 403, "permission_denied")
    response = anon.post(url, body, format="json")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"
    assert_error(revoked.post(url, body, format="json"), 401, "authentication_failed")
    assert snapshot() == before


def test_non_staff_sessions_cannot_decide(block, django_user_model):
    diff = propose(block, "append", text="x")
    client = APIClient()
    client.force_login(django_user_model.objects.create_user("lena", password="pw-lena-123"))
    assert_error(client.post(api("diffs", diff.pk, "approve"), {}, format="json"), 403, "permission_denied")


@pytest.mark.parametrize("method,route", [
    ("post", ("users", "maya", "blocks", "student", "diffs")),
    ("get", ("users", "maya", "blocks", "student", "diffs")),
    ("get", ("users", "maya", "diffs")),
    ("post", ("shared", "college-essay", "blocks", "course", "diffs")),
    ("get", ("shared", "college-essay", "diffs")),
    ("get", ("diffs", "5c0e8d1a-0000-4000-8000-000000000001")),
])
def test_agent_routes_need_a_valid_key(anon, revoked, block, method, route):
    before = snapshot()
    response = getattr(anon, method)(api(*route), {"operation": "append", "text": "x"} if method == "post" else None,
                                     format="json")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"
    assert_error(getattr(revoked, method)(api(*route)), 401, "authentication_failed")
    assert snapshot() == before


# --- bounded work -------------------------------------------------------------------------------


def test_list_rows_leave_out_the_texts_the_diff_itself_has_them(agent, block):
    big = "x" * 150
    created = post(agent, diffs_url(), {"operation": "rethink", "content": big}).json()
    for url in (api("users", "maya", "diffs"), diffs_url(), api("users", "maya", "diffs", query="mine=true")):
        row = agent.get(url).json()["results"][0]
        assert row["id"] == created["id"] and row["operation"] == "rethink" and row["status"] == "pending"
        assert not {"arguments", "proposed_content", "preview"} & set(row), url
        assert big not in json.dumps(row)
    full = agent.get(api("diffs", created["id"])).json()
    assert full["proposed_content"] == big and full["arguments"] == {"content": big} and full["preview"]


def test_open_proposals_per_key_and_block_are_capped(agent, other_agent, staff, block, settings):
    settings.YOULAB_MAX_OPEN_PROPOSALS = 3
    ids = [post(agent, diffs_url(), {"operation": "append", "text": f"fact {n}"}).json()["id"] for n in range(3)]
    before = snapshot()
    error = assert_error(post(agent, diffs_url(), {"operation": "append", "text": "one more"}), 409,
                         "too_many_open_proposals")
    assert error["details"] == {"open": 3, "limit": 3}
    assert "tutor" in error["message"] and "student" in error["message"]
    assert snapshot() == before
    # Per key and per block: another agent, or another block, is not held back.
    assert post(other_agent, diffs_url(), {"operation": "append", "text": "coach's"}).status_code == 201
    make_block(owner_id="maya", label="goals", content="essay")
    assert post(agent, diffs_url("goals"), {"operation": "append", "text": "x"}).status_code == 201
    # A decision frees a place.
    assert staff.post(api("diffs", ids[0], "reject"), {"reason": "no"}, format="json").status_code == 200
    assert post(agent, diffs_url(), {"operation": "append", "text": "one more"}).status_code == 201
    settings.YOULAB_MAX_OPEN_PROPOSALS = 0  # no cap
    assert post(agent, diffs_url(), {"operation": "append", "text": "and more"}).status_code == 201


def test_a_proposal_without_an_idempotency_key_answers_what_rendering_it_twice_did(agent):
    # It used to be rendered, parsed and rendered again (as an Idempotency-Key's stored answer
    # still is); rendering once must give the same bytes.
    from rest_framework.renderers import JSONRenderer

    make_block(owner_id="m\u00e4ya", label="\u76ee\u6807", content="one\ntwo \u00e9\U0001F600\n")
    text = "\u00e9\U0001F600\u2028\u2029\u200b\ufeff\"\\/<>&'\t\r\n\u0085\u05d0\u0301 "
    bodies = [
        {"operation": "append", "text": text, "reasoning": text, "agent_id": "a\u00e9\U0001F600"},
        {"operation": "insert", "insert_line": 1, "new_str": text, "reasoning": "r"},
        {"operation": "memory_insert", "arguments": {"insert_line": 0, "new_str": "x"}, "reasoning": "r"},
        {"operation": "str_replace", "old_str": "one", "new_str": "\U0001F600" * 100, "reasoning": "r"},
        {"operation": "rethink", "new_memory": text * 50, "reasoning": "r"},
    ]
    for body in bodies:
        response = post(agent, diffs_url("\u76ee\u6807", "m\u00e4ya"), body)
        assert response.status_code == 201, response.content
        assert JSONRenderer().render(json.loads(response.content)) == response.content
