"""The MCP transport's rules and the key's scopes and rate limit, through Django's test client."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.test import Client
from youlab.models import DEFAULT_SCOPES, AgentKey

from diffs.models import PendingDiff
from tests.factories import make_block

pytestmark = pytest.mark.django_db
URL = "/mcp/users/maya/"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


@pytest.fixture
def key():
    return AgentKey.objects.create_key(name="tutor", scopes=list(DEFAULT_SCOPES))[1]


class Mcp:
    def __init__(self, key, url=URL):
        self.client, self.key, self.url, self.session = Client(), key, url, None

    def post(self, message, **headers):
        extra = {"HTTP_AUTHORIZATION": f"Api-Key {self.key}"}
        if self.session:
            extra["HTTP_MCP_SESSION_ID"] = self.session
        extra.update(headers)
        return self.client.post(self.url, json.dumps(message), content_type="application/json", **extra)

    def initialize(self):
        response = self.post(INIT)
        assert response.status_code == 200, response.content
        self.session = response["Mcp-Session-Id"]
        return response.json()

    def call(self, method, params=None, id=2):
        response = self.post({"jsonrpc": "2.0", "id": id, "method": method, "params": params or {}})
        return response.status_code, response.json()


def test_initialize_negotiates_the_clients_version_or_offers_ours(key):
    mcp = Mcp(key)
    assert mcp.initialize()["result"]["protocolVersion"] == "2025-06-18"
    newer = mcp.post({**INIT, "params": {**INIT["params"], "protocolVersion": "2099-01-01"}})
    assert newer.json()["result"]["protocolVersion"] == "2025-11-25"
    status, body = mcp.call("ping")
    assert status == 200 and body == {"jsonrpc": "2.0", "id": 2, "result": {}}


def test_transport_rules(key):
    mcp = Mcp(key)
    mcp.initialize()
    note = mcp.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert note.status_code == 202 and note.content == b""
    assert mcp.call("no/such/method")[1]["error"]["code"] == -32601
    assert mcp.call("tools/call", {"name": "memory_delete_everything"})[1]["error"]["code"] == -32602
    assert mcp.call("tools/call", {"arguments": {}})[1]["error"]["code"] == -32602
    batch = mcp.post([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
    assert batch.status_code == 400 and "batches" in batch.json()["error"]["message"]
    assert mcp.post({"hello": "world"}).status_code == 400
    broken = mcp.client.post(URL, "{nope", content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert broken.status_code == 400 and broken.json()["error"]["code"] == -32700
    modern = mcp.post({"jsonrpc": "2.0", "id": 5, "method": "server/discover"}, HTTP_MCP_PROTOCOL_VERSION="2026-07-28")
    assert modern.status_code == 400 and modern.json()["error"]["code"] == -32022
    assert "2025-11-25" in modern.json()["error"]["data"]["supported"]
    other_version = mcp.post({"jsonrpc": "2.0", "id": 6, "method": "ping"}, HTTP_MCP_PROTOCOL_VERSION="2025-03-26")
    assert other_version.status_code == 400  # the session negotiated 2025-06-18
    evil = mcp.post({"jsonrpc": "2.0", "id": 7, "method": "ping"}, HTTP_ORIGIN="http://evil.example")
    assert evil.status_code == 403
    assert mcp.post({"jsonrpc": "2.0", "id": 8, "method": "ping"}, HTTP_ORIGIN="http://localhost:3000").status_code == 200
    bad_learner = Mcp(key, "/mcp/users/a%5Cb/").post(INIT)
    assert bad_learner.status_code == 400 and bad_learner.json()["error"]["data"]["error"]["code"] == "invalid_input"


def test_a_key_outside_the_tools_scopes_is_refused():
    make_block(owner_id="maya", label="student", content="# Student\n")
    reader = AgentKey.objects.create_key(name="reader", scopes=["memory:read"])[1]
    mcp = Mcp(reader)
    mcp.initialize()
    listed = [t["name"] for t in mcp.call("tools/list")[1]["result"]["tools"]]
    assert listed == ["memory_view", "memory_list_proposals"]
    result = mcp.call("tools/call", {"name": "memory_append", "arguments": {"label": "student", "text": "x"}})[1]
    assert result["result"]["isError"] is True
    assert result["result"]["structuredContent"]["error"]["code"] == "scope_required"
    assert result["result"]["structuredContent"]["error"]["details"] == {"scope": "memory:propose"}
    assert not PendingDiff.objects.exists()
    assert mcp.call("tools/call", {"name": "memory_view", "arguments": {"label": "student"}})[1]["result"][
        "isError"] is False

    chats_only = Mcp(AgentKey.objects.create_key(name="chatter", scopes=["chats"])[1])
    chats_only.initialize()
    assert chats_only.call("tools/list")[1]["result"]["tools"] == []
    view = chats_only.call("tools/call", {"name": "memory_view", "arguments": {"label": "student"}})[1]["result"]
    assert view["structuredContent"]["error"]["details"] == {"scope": "memory:read"}
    resources = chats_only.call("resources/list")[1]
    assert resources["error"]["data"]["error"]["code"] == "scope_required"


def test_the_keys_rate_limit_holds_for_mcp_as_for_rest(key, settings):
    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"agent": "4/minute"}}
    mcp = Mcp(key)
    mcp.initialize()
    rest = mcp.client.get("/api/v1/users/maya/blocks/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert rest.status_code == 200  # one bucket per key, both doors
    assert mcp.call("ping")[0] == 200
    assert mcp.call("ping")[0] == 200
    status, body = mcp.call("ping")
    assert status == 429 and body["error"]["data"]["error"]["code"] == "throttled"
    cache.clear()
