"""`/mcp/users/{user_id}/`: the MCP Streamable HTTP transport, as a DRF view.

Why a Django view and not the SDK's server app: the SDK's Streamable HTTP server is an ASGI
(Starlette) app whose handlers are coroutines, and YouLab runs on WSGI (gunicorn gthread
workers) with a synchronous ORM; bridging would put every tool call on a fresh event loop and a
thread of its own with its own database connection. The protocol is small enough to speak
directly, with the SDK's types (agents.mcp), and a DRF view gives the MCP door the very same
key authentication, per-key throttle and error mapping as the REST API.

Transport rules (MCP 2025-11-25, Streamable HTTP), JSON responses only:

* POST one JSON-RPC message. A request → 200 `application/json` with its response; a
  notification or response → 202 with no body. Batches → 400.
* `initialize` opens a session (`Mcp-Session-Id` on the answer); every later POST and DELETE
  must send it: without → 400, unknown / ended / another key's or learner's → 404.
* `MCP-Protocol-Version`: a version we do not speak → 400 with JSON-RPC error -32022 naming the
  ones we do (the SDK client then falls back to the initialize handshake); one that contradicts
  the session's → 400.
* GET (a server-to-client stream) → 405: this server never sends requests or notifications.
* DELETE ends the session (204).
* `Origin`, when a browser sends one, must name a host in ALLOWED_HOSTS (DNS rebinding).
* No key, a bad key, a throttled key: the REST API's 401 / 429, its error in a JSON-RPC error's
  `data`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import mcp_types as types
from django.conf import settings
from django.http.request import validate_host
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from youlab.api.auth import AgentKeyAuthentication
from youlab.api.errors import ApiError
from youlab.api.parsers import StrictJSONParser
from youlab.api.permissions import ANYONE_SIGNED_IN
from youlab.api.views import idempotency_key
from youlab.validators import validate_owner_id

from . import mcp

SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "MCP-Protocol-Version"


class _HeaderView:
    """Lets youlab.api.views.idempotency_key check a value from `_meta` like the header."""

    def __init__(self, value):
        self.headers = {"Idempotency-Key": value}


# Not in the OpenAPI schema: JSON-RPC over one route is described by MCP, not by OpenAPI
# (docs/agents.md); the same operations are documented there as REST routes.
@extend_schema_view(get=extend_schema(exclude=True), post=extend_schema(exclude=True),
                    delete=extend_schema(exclude=True))
class McpEndpoint(APIView):
    authentication_classes = [AgentKeyAuthentication]
    # Agent keys only (the one authentication class); which tool a key may call is its scope,
    # checked per tool (agents.scopes), so the route itself asks for any valid key.
    access = {"GET": ANYONE_SIGNED_IN, "POST": ANYONE_SIGNED_IN, "DELETE": ANYONE_SIGNED_IN}
    parser_classes = [StrictJSONParser]

    def initial(self, request, *args, **kwargs):
        self._check_origin(request)
        super().initial(request, *args, **kwargs)

    # --- HTTP methods

    def post(self, request, user_id):
        owner_id = validate_owner_id(user_id)
        message = mcp.parse_message(request.data)
        try:
            return self._answer(request, message, owner_id)
        except mcp.ProtocolError as exc:
            request_id = message.id if isinstance(message, types.JSONRPCRequest) else None
            return Response(mcp.error_message(request_id, exc.code, exc.message, exc.data), status=exc.http_status)

    def _answer(self, request, message, owner_id):
        version = self._header_version(request)
        if isinstance(message, types.JSONRPCRequest) and message.method == "initialize":
            result = mcp.initialize_result(message.params)
            session = mcp.open_session(agent=request.user, owner_id=owner_id, version=result.protocol_version)
            return Response(mcp.result_message(message.id, result), headers={SESSION_HEADER: session.token})

        session = self._session(request, owner_id)
        if version is not None and version != session.version:
            raise mcp.ProtocolError(types.INVALID_REQUEST,
                                    f"{VERSION_HEADER} {version} differs from the session's {session.version}",
                                    http_status=400)
        if not isinstance(message, types.JSONRPCRequest):
            return Response(status=status.HTTP_202_ACCEPTED)  # notifications and responses
        call = mcp.Call(agent=request.user, owner_id=owner_id, idempotency_key=self._idempotency_key(request, message))
        return Response(mcp.handle(message, call))

    def get(self, request, user_id):
        return Response(mcp.error_message(None, types.INVALID_REQUEST, "this server offers no event stream; POST"),
                        status=status.HTTP_405_METHOD_NOT_ALLOWED, headers={"Allow": "POST, DELETE"})

    def delete(self, request, user_id):
        owner_id = validate_owner_id(user_id)
        mcp.end_session(self._session(request, owner_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- transport checks

    def _check_origin(self, request):
        origin = request.headers.get("Origin")
        if origin is None:
            return
        host = urlsplit(origin).hostname or ""
        if not validate_host(host, settings.ALLOWED_HOSTS):
            raise mcp.ProtocolError(types.INVALID_REQUEST, f"origin {origin!r} is not allowed", http_status=403)

    def _header_version(self, request) -> str | None:
        version = request.headers.get(VERSION_HEADER)
        if version is not None and version not in mcp.SUPPORTED_VERSIONS:
            data = types.UnsupportedProtocolVersionErrorData(supported=list(mcp.SUPPORTED_VERSIONS), requested=version)
            raise mcp.ProtocolError(types.UNSUPPORTED_PROTOCOL_VERSION, f"unsupported protocol version {version!r}",
                                    http_status=400, data=mcp.dump(data))
        return version

    def _session(self, request, owner_id) -> mcp.Session:
        token = request.headers.get(SESSION_HEADER)
        if not token:
            raise mcp.ProtocolError(types.INVALID_REQUEST, f"missing {SESSION_HEADER}: initialize first",
                                    http_status=400)
        return mcp.find_session(token, agent=request.user, owner_id=owner_id)

    def _idempotency_key(self, request, message) -> str | None:
        meta = (message.params or {}).get("_meta") or {}
        value = meta.get(mcp.IDEMPOTENCY_META_KEY) if isinstance(meta, dict) else None
        if value is not None:
            if not isinstance(value, str):
                raise mcp.ProtocolError(types.INVALID_PARAMS, f"_meta.{mcp.IDEMPOTENCY_META_KEY} must be a string")
            try:
                return idempotency_key(_HeaderView(value))
            except ApiError as exc:
                raise mcp.ProtocolError(types.INVALID_PARAMS, exc.message) from None
        return idempotency_key(request)

    # --- errors: JSON-RPC error objects, with the REST error in `data`

    def handle_exception(self, exc):
        if isinstance(exc, mcp.ProtocolError):
            return Response(mcp.error_message(None, exc.code, exc.message, exc.data), status=exc.http_status)
        response = super().handle_exception(exc)  # the REST API's mapping (status, code, headers)
        if response is None or not isinstance(response.data, dict) or "error" not in response.data:
            return response
        code = types.PARSE_ERROR if response.data["error"]["code"] == "parse_error" else types.INVALID_REQUEST
        response.data = mcp.error_message(None, code, response.data["error"]["message"], response.data)
        return response
