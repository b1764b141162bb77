"""The agent tools of /api/v1/tools/, executed for one learner (the MCP server's tools/call).

Same definitions (diffs.api.tools.TOOLS: names, descriptions, parameters generated from the
route serializers), same validation (the routes' serializers and diffs.api.views.parse_proposal,
aliases included), same services (blocks.selectors, diffs.selectors, diffs.services.propose_diff
with the REST route's idempotency fingerprint), same answers (the REST bodies). The learner is
the one the caller was bound to by the URL: no argument can name another.
"""

from __future__ import annotations

import json

from rest_framework.renderers import JSONRenderer

from blocks import selectors as block_selectors
from blocks.api.serializers import BlockLabelSerializer, BlockSerializer
from blocks.models import OwnerType
from diffs import selectors as diff_selectors
from diffs import services as diff_services
from diffs.api.serializers import DiffListFilterSerializer, DiffListItemSerializer, DiffSerializer
from diffs.api.tools import TOOLS, Tool, tool_description, tool_parameters
from diffs.api.views import parse_proposal
from youlab.actors import Actor
from youlab.api.errors import ApiError
from youlab.api.views import represent

from . import scopes

TOOLS_BY_NAME = {tool.name: tool for tool in TOOLS}
LIST_LIMIT = 50  # proposals returned by memory_list_proposals, newest first (the REST page size)


def parameters(tool: Tool) -> dict:
    return tool_parameters(tool)


def description(tool: Tool) -> str:
    return tool_description(tool)


def _check_argument_names(tool: Tool, arguments: dict) -> None:
    allowed = set(parameters(tool)["properties"])
    unexpected = sorted(set(arguments) - allowed)
    if unexpected:
        raise ApiError(
            "invalid_arguments", f"unexpected arguments for {tool.name}: {', '.join(unexpected)}",
            details={"unexpected": unexpected, "allowed": sorted(allowed)},
        )


def _label(arguments: dict) -> str:
    serializer = BlockLabelSerializer(data={"label": arguments.get("label")})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["label"]


def call(tool_name: str, arguments: dict, *, agent, owner_id: str, idempotency_key: str | None = None) -> dict:
    """Run one tool as `agent` for learner `owner_id`; the REST answer's body, or a ServiceError /
    ApiError / DRF ValidationError / EditError exactly as the REST route would raise it."""
    tool = TOOLS_BY_NAME[tool_name]
    scopes.require_scope(agent, scopes.tool_scope(tool_name))
    if not isinstance(arguments, dict):
        raise ApiError("invalid_arguments", "tool arguments must be a JSON object")
    _check_argument_names(tool, arguments)
    if tool.name == "memory_view":
        block = block_selectors.get_live_block(OwnerType.USER, owner_id, _label(arguments))
        return represent(BlockSerializer, block)
    if tool.name == "memory_list_proposals":
        filters = DiffListFilterSerializer(data=arguments)
        filters.is_valid(raise_exception=True)
        queryset = diff_selectors.diffs_for_owner(
            OwnerType.USER, owner_id, status=filters.validated_data.get("status"),
            label=filters.validated_data.get("label"), agent_key_name=agent.name,
        )
        results = [represent(DiffListItemSerializer, diff) for diff in queryset[:LIST_LIMIT]]
        return {"count": queryset.count() if len(results) == LIST_LIMIT else len(results), "results": results}
    return _propose(tool, arguments, agent=agent, owner_id=owner_id, idempotency_key=idempotency_key)


def _propose(tool: Tool, arguments: dict, *, agent, owner_id: str, idempotency_key: str | None) -> dict:
    label = _label(arguments)
    body = {"operation": tool.operation, **{k: v for k, v in arguments.items() if k != "label"}}
    envelope, operation, canonical = parse_proposal(body)
    # The REST route's fingerprint: the same Idempotency-Key and request replay across both doors.
    fingerprint = diff_services.request_fingerprint(payload={
        "owner_type": OwnerType.USER, "owner_id": owner_id, "label": label,
        "operation": operation, "arguments": canonical,
        "reasoning": envelope["reasoning"], "agent_id": envelope["agent_id"],
    })
    diff, _created = diff_services.propose_diff(
        owner_type=OwnerType.USER,
        owner_id=owner_id,
        label=label,
        operation=operation,
        arguments=canonical,
        reasoning=envelope["reasoning"],
        by=Actor.agent(agent.name),
        agent_id=envelope["agent_id"],
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        render_response=_rendered,
    )
    if diff.response_body is not None:
        return diff.response_body
    return represent(DiffSerializer, diff_selectors.get_diff(diff.pk))


def _rendered(diff) -> dict:
    # As the REST route stores it: the rendered JSON (UUIDs and dates as strings).
    return json.loads(JSONRenderer().render(represent(DiffSerializer, diff)))
