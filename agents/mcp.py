"""The Model Context Protocol, spoken for one learner: JSON-RPC messages in, results out.

Messages are parsed and answered with the `mcp` SDK's own types (mcp_types: the JSON-RPC
envelope, InitializeResult, Tool, CallToolResult, Resource …), so what goes on the wire is what
the SDK's clients validate. The transport (Streamable HTTP, sessions) is agents.views.

Sessions. `initialize` opens one: the Mcp-Session-Id is a signed token (django.core.signing with
the SECRET_KEY) naming the key, the learner and the negotiated protocol version, so every app
server and worker can check it without shared state. A token for another key or learner, a
forged, expired (SESSION_MAX_AGE) or ended (DELETE, remembered in the shared cache) one is 404.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import quote, unquote

import mcp_types as types
from django.core import signing
from django.core.cache import cache
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION
from pydantic import ValidationError as PydanticValidationError

from blocks import selectors as block_selectors
from blocks.models import OwnerType
from youlab.api.errors import exception_handler

from . import scopes, tools

logger = logging.getLogger(__name__)

SERVER_NAME = "youlab-memory"
SERVER_VERSION = "2.0"
SUPPORTED_VERSIONS = HANDSHAKE_PROTOCOL_VERSIONS  # the initialize-handshake revisions
DEFAULT_VERSION = types.DEFAULT_NEGOTIATED_VERSION  # assumed when a client sends no version header
SESSION_MAX_AGE = 12 * 3600
_SESSION_SALT = "youlab.agents.mcp.session"
_ENDED_PREFIX = "mcp:ended:"
IDEMPOTENCY_META_KEY = "youlab/idempotency-key"
RESOURCE_URI = "youlab://users/{owner_id}/blocks/{label}"
INSTRUCTIONS = (
    "Memory about one learner, kept in labelled blocks. Read a block with memory_view (or the "
    "resources). Changes are proposals: memory_append, memory_str_replace, memory_insert, "
    "memory_rethink and memory_create store a proposal that a staff member reviews before it is "
    "applied; memory_list_proposals shows what became of yours."
)


class ProtocolError(Exception):
    """A JSON-RPC error answer (an HTTP status too, for the transport)."""

    def __init__(self, code: int, message: str, *, http_status: int = 200, data=None):
        super().__init__(message)
        self.code, self.message, self.http_status, self.data = code, message, http_status, data


# --- sessions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    token: str
    version: str
    nonce: str


def open_session(*, agent, owner_id: str, version: str) -> Session:
    nonce = secrets.token_urlsafe(16)
    token = signing.dumps({"k": agent.api_key.prefix, "u": owner_id, "v": version, "n": nonce},
                          salt=_SESSION_SALT, compress=True)
    return Session(token, version, nonce)


def find_session(token: str, *, agent, owner_id: str) -> Session:
    """The session `token` names for this key and learner, or ProtocolError (404)."""
    try:
        data = signing.loads(token, salt=_SESSION_SALT, max_age=SESSION_MAX_AGE)
    except signing.BadSignature:
        data = None
    if (not isinstance(data, dict) or data.get("k") != agent.api_key.prefix or data.get("u") != owner_id
            or _ended(data.get("n", ""))):
        raise ProtocolError(types.INVALID_REQUEST, "unknown, ended or expired MCP session; initialize a new one",
                            http_status=404)
    return Session(token, data["v"], data["n"])


def end_session(session: Session) -> None:
    try:
        cache.set(_ENDED_PREFIX + session.nonce, 1, SESSION_MAX_AGE)
    except Exception:  # a cache outage must not turn a DELETE into a 500
        logger.warning("could not record an ended MCP session in the cache", exc_info=True)


def _ended(nonce: str) -> bool:
    try:
        return bool(cache.get(_ENDED_PREFIX + nonce))
    except Exception:
        return False


# --- messages ----------------------------------------------------------------------------------


def parse_message(data) -> types.JSONRPCRequest | types.JSONRPCNotification | types.JSONRPCResponse | types.JSONRPCError:
    if isinstance(data, list):
        raise ProtocolError(types.INVALID_REQUEST, "JSON-RPC batches are not supported: send one message per POST",
                            http_status=400)
    try:
        return types.jsonrpc_message_adapter.validate_python(data)
    except PydanticValidationError:
        raise ProtocolError(types.INVALID_REQUEST, "not a JSON-RPC 2.0 message", http_status=400) from None


def result_message(request_id, result: types.Result | dict) -> dict:
    body = result if isinstance(result, dict) else dump(result)
    return {"jsonrpc": "2.0", "id": request_id, "result": body}


def error_message(request_id, code: int, message: str, data=None) -> dict:
    error = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def dump(model) -> dict:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def _params(model, params):
    try:
        return model.model_validate(params or {})
    except PydanticValidationError as exc:
        raise ProtocolError(types.INVALID_PARAMS, f"invalid params: {exc.errors()[0]['msg']}") from None


def negotiate(requested: str) -> str:
    """The client's version when we speak it, else our newest (the client may then disconnect)."""
    return requested if requested in SUPPORTED_VERSIONS else LATEST_HANDSHAKE_VERSION


def initialize_result(params) -> types.InitializeResult:
    initialize = _params(types.InitializeRequestParams, params)
    return types.InitializeResult(
        protocol_version=negotiate(initialize.protocol_version),
        capabilities=types.ServerCapabilities(
            tools=types.ToolsCapability(list_changed=False),
            resources=types.ResourcesCapability(subscribe=False, list_changed=False),
        ),
        server_info=types.Implementation(name=SERVER_NAME, version=SERVER_VERSION),
        instructions=INSTRUCTIONS,
    )


@dataclass
class Call:
    """One request's context: who calls, for which learner."""

    agent: object
    owner_id: str
    idempotency_key: str | None = None


def handle(request: types.JSONRPCRequest, call: Call) -> dict:
    """The JSON-RPC answer to one request (initialize is the transport's, for the session)."""
    method, params = request.method, request.params
    try:
        if method == "ping":
            result = {}
        elif method == "tools/list":
            result = dump(list_tools(call))
        elif method == "tools/call":
            result = dump(call_tool(_params(types.CallToolRequestParams, params), call))
        elif method == "resources/list":
            result = dump(list_resources(call))
        elif method == "resources/templates/list":
            result = dump(types.ListResourceTemplatesResult(resource_templates=[]))
        elif method == "resources/read":
            result = dump(read_resource(_params(types.ReadResourceRequestParams, params), call))
        else:
            raise ProtocolError(types.METHOD_NOT_FOUND, f"method not found: {method}")
    except ProtocolError as exc:
        return error_message(request.id, exc.code, exc.message, exc.data)
    return result_message(request.id, result)


# --- tools -------------------------------------------------------------------------------------


def _annotations(tool) -> types.ToolAnnotations:
    reads = tool.method == "GET"
    return types.ToolAnnotations(
        title=tool.name.removeprefix("memory_").replace("_", " ").capitalize(),
        read_only_hint=reads,
        # A proposal changes nothing until a person approves it.
        destructive_hint=None if reads else False,
        idempotent_hint=None if reads else False,
        open_world_hint=False,
    )


def list_tools(call: Call) -> types.ListToolsResult:
    """The tools this key may call (a tool outside its scopes is not offered)."""
    return types.ListToolsResult(tools=[
        types.Tool(name=tool.name, description=tools.description(tool), input_schema=tools.parameters(tool),
                   annotations=_annotations(tool))
        for tool in tools.TOOLS
        if scopes.has_scope(call.agent, scopes.tool_scope(tool.name))
    ])


def tool_error(error: dict) -> types.CallToolResult:
    """Our error shape as an MCP tool error: the model sees the code and can correct itself."""
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(error, ensure_ascii=False))],
        structured_content=error,
        is_error=True,
    )


def call_tool(params: types.CallToolRequestParams, call: Call) -> types.CallToolResult:
    if params.name not in tools.TOOLS_BY_NAME:
        raise ProtocolError(types.INVALID_PARAMS, f"unknown tool: {params.name}")
    try:
        result = tools.call(params.name, params.arguments or {}, agent=call.agent, owner_id=call.owner_id,
                            idempotency_key=call.idempotency_key)
    except Exception as exc:
        response = exception_handler(exc, {})  # the REST API's one mapping of errors to codes
        if response is None:
            raise
        return tool_error(response.data)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(result, ensure_ascii=False))],
        structured_content=result,
    )


# --- resources: the learner's live blocks, read-only --------------------------------------------


def _require_resources_scope(call: Call) -> None:
    try:
        scopes.require_scope(call.agent, scopes.RESOURCES_SCOPE)
    except scopes.ScopeRequired as exc:
        raise ProtocolError(types.INVALID_REQUEST, exc.message,
                            data={"error": {"code": exc.code, "message": exc.message, "details": exc.details}}) from None


def _uri(owner_id: str, label: str) -> str:
    return RESOURCE_URI.format(owner_id=quote(owner_id, safe=""), label=quote(label, safe=""))


def list_resources(call: Call) -> types.ListResourcesResult:
    _require_resources_scope(call)
    blocks = block_selectors.live_blocks(OwnerType.USER, call.owner_id)
    return types.ListResourcesResult(resources=[
        types.Resource(uri=_uri(call.owner_id, block.label), name=block.label,
                       description=block.description or None, mime_type="text/markdown",
                       size=len(block.content.encode("utf-8")))
        for block in blocks
    ])


def read_resource(params: types.ReadResourceRequestParams, call: Call) -> types.ReadResourceResult:
    _require_resources_scope(call)
    prefix = _uri(call.owner_id, "")
    uri = str(params.uri)
    if not uri.startswith(prefix) or "/" in uri[len(prefix):]:
        raise ProtocolError(types.INVALID_PARAMS, f"no such resource for this learner: {uri}")
    label = unquote(uri[len(prefix):])
    block = block_selectors.find_live_block(OwnerType.USER, call.owner_id, label)
    if block is None:
        raise ProtocolError(types.INVALID_PARAMS, f"resource not found: {uri}", data={"uri": uri})
    return types.ReadResourceResult(contents=[
        types.TextResourceContents(uri=uri, mime_type="text/markdown", text=block.content)
    ])
