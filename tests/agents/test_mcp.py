"""The MCP server through the `mcp` SDK's client against gunicorn: tools, errors, learners, keys."""

from __future__ import annotations

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from blocks.models import Block, HistoricalBlock
from diffs.models import PendingDiff
from tests.factories import make_block
from tests.support import client_for_key, snapshot
from diffs.api.tools import tool_definitions
from youlab.models import DEFAULT_SCOPES, AgentKey

from .conftest import mcp_url, with_client

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STUDENT = "# Student\nName: Maya\nGoal: write about the bakery\n"


@pytest.fixture
def key():
    return AgentKey.objects.create_key(name="tutor", scopes=list(DEFAULT_SCOPES))[1]


@pytest.fixture
def maya():
    make_block(owner_id="maya", label="student", content=STUDENT, char_limit=200, dolt_commit=True)
    make_block(owner_id="maya", label="course", content="Baking 101", read_only=True, dolt_commit=True)
    make_block(owner_id="bob", label="secrets", content="Bob's own notes", dolt_commit=True)


def mcp_error_of(fn) -> MCPError:
    """The MCPError `fn` raised (the client's task groups wrap it in exception groups)."""
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001
        pending = [exc]
        while pending:
            error = pending.pop()
            if isinstance(error, MCPError):
                return error
            pending += list(getattr(error, "exceptions", ()))
        raise
    raise AssertionError("no MCPError raised")


def structured(result):
    return result.structured_content


def test_tools_list_offers_the_rest_tools_with_the_same_schemas(mcp_server, key, maya):
    async def body(client):
        return (await client.list_tools()).tools, client.session.initialize_result

    listed, initialized = with_client(mcp_url(mcp_server), key, body)
    rest = {d["function"]["name"]: d["function"] for d in tool_definitions()}
    assert [t.name for t in listed] == list(rest)
    for tool in listed:
        assert tool.input_schema == rest[tool.name]["parameters"]
        assert tool.description == rest[tool.name]["description"]
        assert tool.annotations.read_only_hint is (tool.name in ("memory_view", "memory_list_proposals"))
    assert initialized.protocol_version == "2025-11-25"
    assert initialized.server_info.name == "youlab-memory"


def test_each_operation_goes_through_the_proposal_service(mcp_server, key, maya):
    async def body(client):
        calls = [
            ("memory_view", {"label": "student"}),
            ("memory_append", {"label": "student", "text": "Likes chess", "reasoning": "Said so twice."}),
            ("memory_str_replace", {"label": "student", "old_str": "Name: Maya", "new_str": "Name: Maya Tran"}),
            ("memory_insert", {"label": "student", "insert_line": 1, "text": "Age: 15"}),
            ("memory_rethink", {"label": "student", "content": "# Student\nMaya, 15, bakery essay\n"}),
            ("memory_create", {"label": "reading-list", "content": "- Salt, Fat, Acid, Heat", "char_limit": 500}),
            # Letta's argument names are accepted as on the REST route.
            ("memory_list_proposals", {"status": "pending"}),
        ]
        return [await client.call_tool(name, args) for name, args in calls]

    before_history = HistoricalBlock.objects.count()
    view, append, replace, insert, rethink, create, listed = with_client(mcp_url(mcp_server), key, body)
    assert not any(r.is_error for r in (view, append, replace, insert, rethink, create, listed))
    assert structured(view)["content"] == STUDENT and structured(view)["version"] == 1
    diffs = {str(d.pk): d for d in PendingDiff.objects.all()}
    assert len(diffs) == 5
    for result, operation in ((append, "append"), (replace, "str_replace"), (insert, "insert"),
                              (rethink, "rethink"), (create, "create")):
        diff = diffs[structured(result)["id"]]
        assert diff.operation == operation and diff.owner_id == "maya" and diff.status == "pending"
        assert diff.agent_key_name == "tutor"
        # The same body the REST route answers for the proposal.
        assert structured(result) == client_for_key(key).get(f"/api/v1/diffs/{diff.pk}/").json()
    assert diffs[structured(append)["id"]].reasoning == "Said so twice."
    assert diffs[structured(replace)["id"]].proposed_content == STUDENT.replace("Name: Maya", "Name: Maya Tran")
    assert diffs[structured(create)["id"]].arguments == {"content": "- Salt, Fat, Acid, Heat", "char_limit": 500}
    assert structured(listed)["count"] == 5
    assert {d["id"] for d in structured(listed)["results"]} == set(diffs)
    # Proposing changes no block.
    assert Block.objects.get(owner_id="maya", label="student").version == 1
    assert HistoricalBlock.objects.count() == before_history


@pytest.mark.parametrize("name, arguments, code", [
    ("memory_str_replace", {"label": "student", "old_str": "a", "new_str": "b"}, "old_str_not_unique"),
    ("memory_str_replace", {"label": "student", "old_str": "Klaus", "new_str": "b"}, "old_str_not_found"),
    ("memory_append", {"label": "student", "text": "x" * 300}, "over_char_limit"),
    ("memory_append", {"label": "course", "text": "x"}, "block_read_only"),
    ("memory_append", {"label": "nothing-here", "text": "x"}, "block_not_found"),
    ("memory_create", {"label": "student", "content": "again"}, "block_exists"),
    ("memory_insert", {"label": "student", "insert_line": 99, "text": "x"}, "insert_line_out_of_range"),
    ("memory_append", {"label": "student"}, "invalid_arguments"),
    ("memory_append", {"label": "student", "text": "x", "operation": "rethink"}, "invalid_arguments"),
    ("memory_view", {"label": "a/b"}, "invalid_input"),
    ("memory_list_proposals", {"status": "lost"}, "invalid_input"),
])
def test_our_error_codes_come_back_as_tool_errors_and_nothing_is_stored(mcp_server, key, maya, name, arguments,
                                                                        code):
    before = snapshot()

    async def body(client):
        return await client.call_tool(name, arguments)

    result = with_client(mcp_url(mcp_server), key, body)
    assert result.is_error
    error = structured(result)["error"]
    assert error["code"] == code and error["message"]
    assert code in result.content[0].text  # what the model reads
    if code == "old_str_not_unique":
        assert error["details"]["count"] >= 2 and error["details"]["lines"]
    assert snapshot() == before


def test_no_argument_reaches_another_learner(mcp_server, key, maya):
    async def body(client):
        return [
            await client.call_tool("memory_view", {"label": "secrets"}),  # bob's label, asked as maya
            await client.call_tool("memory_view", {"label": "secrets", "user_id": "bob"}),
            await client.call_tool("memory_append", {"label": "secrets", "text": "x", "owner_id": "bob"}),
            await client.call_tool("memory_list_proposals", {}),
            (await client.list_resources()).resources,
        ]

    not_found, with_user, with_owner, listed, resources = with_client(mcp_url(mcp_server), key, body)
    assert structured(not_found)["error"]["code"] == "block_not_found"
    for result in (with_user, with_owner):
        assert structured(result)["error"]["code"] == "invalid_arguments"
        assert set(structured(result)["error"]["details"]["unexpected"]) & {"user_id", "owner_id"}
    assert structured(listed)["results"] == []
    assert sorted(r.name for r in resources) == ["course", "student"]
    assert not PendingDiff.objects.exists()


def test_a_session_is_bound_to_its_learner_and_key(mcp_server, key, maya):
    other_key = AgentKey.objects.create_key(name="coach", scopes=list(DEFAULT_SCOPES))[1]
    url = mcp_url(mcp_server)
    init = httpx2.post(url, headers={"Authorization": f"Api-Key {key}", "Accept": "application/json, text/event-stream"},
                       json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                           "protocolVersion": "2025-11-25", "capabilities": {},
                           "clientInfo": {"name": "t", "version": "1"}}})
    session = init.headers["mcp-session-id"]
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "memory_view", "arguments": {"label": "secrets"}}}

    def post(target, with_key, sid, body=call):
        headers = {"Authorization": f"Api-Key {with_key}", "Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
        return httpx2.post(target, headers=headers, json=body)

    assert post(url, key, session).status_code == 200
    assert post(mcp_url(mcp_server, "bob"), key, session).status_code == 404  # another learner's URL
    assert post(url, other_key, session).status_code == 404  # another key
    assert post(url, key, session[:-2] + "xx").status_code == 404  # forged
    missing = httpx2.post(url, headers={"Authorization": f"Api-Key {key}"}, json=call)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == -32600
    assert httpx2.get(url, headers={"Authorization": f"Api-Key {key}"}).status_code == 405
    ended = httpx2.request("DELETE", url, headers={"Authorization": f"Api-Key {key}", "Mcp-Session-Id": session})
    assert ended.status_code == 204
    assert post(url, key, session).status_code == 404


def test_without_a_valid_key_every_call_is_refused(mcp_server, maya):
    api_key, revoked = AgentKey.objects.create_key(name="retired", scopes=list(DEFAULT_SCOPES))
    api_key.revoked = True
    api_key.save()

    async def body(client):
        return await client.list_tools()

    for key, code in ((None, "not_authenticated"), ("nope.nope", "authentication_failed"),
                      (revoked, "authentication_failed")):
        refused = mcp_error_of(lambda: with_client(mcp_url(mcp_server), key, body, mode="legacy"))
        assert refused.error.data["error"]["code"] == code
    raw = httpx2.post(mcp_url(mcp_server), json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert raw.status_code == 401 and raw.headers["www-authenticate"] == "Api-Key"


def test_a_key_outside_a_tools_scope_is_refused_through_the_sdk(mcp_server, maya):
    reader = AgentKey.objects.create_key(name="reader", scopes=["memory:read"])[1]

    async def body(client):
        listed = (await client.list_tools()).tools
        return listed, await client.call_tool("memory_append", {"label": "student", "text": "x"})

    listed, result = with_client(mcp_url(mcp_server), reader, body)
    assert [t.name for t in listed] == ["memory_view", "memory_list_proposals"]
    assert result.is_error
    assert structured(result)["error"]["code"] == "scope_required"
    assert structured(result)["error"]["details"] == {"scope": "memory:propose"}
    assert not PendingDiff.objects.exists()


def test_idempotency_key_in_meta_replays_across_mcp_and_rest(mcp_server, key, maya):
    meta = {"youlab/idempotency-key": "6f1c2b5e-0b7e-4f7c-9d0e-1f2a3b4c5d6e"}

    async def body(client):
        first = await client.call_tool("memory_append", {"label": "student", "text": "Likes chess"}, meta=meta)
        again = await client.call_tool("memory_append", {"label": "student", "text": "Likes chess"}, meta=meta)
        other = await client.call_tool("memory_append", {"label": "student", "text": "Likes go"}, meta=meta)
        return first, again, other

    first, again, other = with_client(mcp_url(mcp_server), key, body)
    assert structured(first) == structured(again)
    assert structured(other)["error"]["code"] == "idempotency_key_reused"
    rest = client_for_key(key).post("/api/v1/users/maya/blocks/student/diffs/",
                                    {"operation": "append", "text": "Likes chess"}, format="json",
                                    HTTP_IDEMPOTENCY_KEY=meta["youlab/idempotency-key"])
    assert rest.status_code == 201 and rest["Idempotent-Replayed"] == "true"
    assert rest.json()["id"] == structured(first)["id"]
    assert PendingDiff.objects.count() == 1


def test_memory_blocks_are_read_only_resources(mcp_server, key, maya):
    async def body(client):
        listed = (await client.list_resources()).resources
        student = next(r for r in listed if r.name == "student")
        read = await client.read_resource(student.uri)
        with pytest.raises(MCPError) as foreign:
            await client.read_resource("youlab://users/bob/blocks/secrets")
        return student, read, foreign.value

    student, read, foreign = with_client(mcp_url(mcp_server), key, body)
    assert str(student.uri) == "youlab://users/maya/blocks/student"
    assert read.contents[0].text == STUDENT
    assert "no such resource" in foreign.error.message
