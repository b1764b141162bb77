"""GET /api/v1/tools/: OpenAI function-calling definitions of the agent operations.

Each tool's `parameters` is generated, with drf-spectacular's own serializer-to-schema mapping,
from the serializers the routes validate with (the block label, the operation's argument
serializer, the proposal's reasoning, the proposal list's filters). A field added to a route's
serializer appears in the tool too; they cannot drift.

How an agent runtime carries out a tool call (the learner's id comes from the runtime, never
from the model):

* `memory_view(label)` → `GET users/{user_id}/blocks/{label}/`
* `memory_<op>(label, …)` for op in append, str_replace, insert, rethink, create →
  `POST users/{user_id}/blocks/{label}/diffs/` with `{"operation": "<op>", …the other arguments}`
* `memory_list_proposals(status?, label?)` → `GET users/{user_id}/diffs/?mine=true&…`
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache

from django.urls import resolve

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ComponentRegistry
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from blocks.api.serializers import BlockLabelSerializer
from diffs.models import Operation
from youlab.api import openapi
from youlab.api.permissions import ANYONE_SIGNED_IN, scope_for
from youlab.api.views import ApiViewMixin

from .serializers import OPERATION_ARGUMENTS, DiffListFilterSerializer, ProposalReasoningSerializer

TOOL_PREFIX = "memory_"


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    serializers: tuple  # the route serializers whose fields make up the parameters
    method: str
    path: str
    operation: str | None = None  # for proposals: the canonical operation


_PROPOSE_PATH = "/api/v1/users/{user_id}/blocks/{label}/diffs/"
_REVIEW = (
    " This proposes the change: a staff member reviews it before it is applied; check with "
    "memory_list_proposals."
)

# What each proposal tool does, in the model's words; every one proposes for staff review.
_PROPOSALS = {
    Operation.APPEND: "Add text at the end of a memory block, on a new line.",
    Operation.STR_REPLACE: "Replace text in a memory block. old_str must occur exactly once in the block: copy "
    "it verbatim, with enough context to be unique.",
    Operation.INSERT: "Insert lines into a memory block after a given line (0 inserts at the top).",
    Operation.RETHINK: "Rewrite a memory block completely: the new content replaces all of it. Prefer the "
    "smaller edits when they suffice.",
    Operation.CREATE: "Create a new memory block under a label the learner does not have yet.",
}


def _proposal_tool(operation: str, description: str) -> Tool:
    return Tool(
        f"{TOOL_PREFIX}{operation}", description + _REVIEW,
        (BlockLabelSerializer, OPERATION_ARGUMENTS[operation], ProposalReasoningSerializer),
        "POST", _PROPOSE_PATH, operation,
    )


TOOLS = (
    Tool(
        "memory_view",
        "Read one of the learner's memory blocks: its current content, description, character "
        "limit and version.",
        (BlockLabelSerializer,), "GET", "/api/v1/users/{user_id}/blocks/{label}/",
    ),
    *(_proposal_tool(operation, description) for operation, description in _PROPOSALS.items()),
    Tool(
        "memory_list_proposals",
        "List the memory changes you proposed for this learner, newest first, with their status "
        "(pending, approved, rejected, conflict, superseded) and the reviewer's note.",
        (DiffListFilterSerializer,), "GET", "/api/v1/users/{user_id}/diffs/?mine=true",
    ),
)


def serializer_json_schema(serializer_class) -> dict:
    """The JSON Schema of a serializer's request body, as drf-spectacular maps it for /api/schema/."""
    auto = AutoSchema()
    auto.registry = ComponentRegistry()
    auto.method = "POST"
    auto.path = "/api/v1/tools/"
    auto.view = None
    # A non-empty context keeps spectacular from asking the (absent) view for one.
    return auto._map_basic_serializer(serializer_class(context={"tools": True}), "request")


def _without_extensions(schema):
    """Drop drf-spectacular's private `x-…` keys (e.g. x-spec-enum-id): not JSON Schema."""
    if isinstance(schema, dict):
        return {k: _without_extensions(v) for k, v in schema.items() if not k.startswith("x-")}
    if isinstance(schema, list):
        return [_without_extensions(v) for v in schema]
    return schema


def tool_parameters(tool: Tool) -> dict:
    properties, required = {}, []
    for serializer_class in tool.serializers:
        schema = serializer_json_schema(serializer_class)
        for name, field_schema in schema.get("properties", {}).items():
            if name in properties:
                raise ValueError(f"tool {tool.name}: field {name!r} comes from two serializers")
            properties[name] = _without_extensions(field_schema)
        required += [name for name in schema.get("required", []) if name not in required]
    parameters = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        parameters["required"] = required
    return parameters


def tool_scope(tool: Tool) -> str | None:
    """The agent-key scope of the route a tool call goes to, read from that route's own access
    declaration (youlab.api.permissions), so the two cannot disagree."""
    sample = tool.path.split("?")[0].replace("{user_id}", "learner").replace("{label}", "label")
    return scope_for(resolve(sample).func.view_class, tool.method)


def tool_description(tool: Tool) -> str:
    """What the model reads about a tool, ending with the scope its key needs (REST and MCP)."""
    return f"{tool.description} (Needs the API key scope `{tool_scope(tool)}`.)"


@lru_cache(maxsize=1)
def _definitions() -> tuple:
    return tuple(
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool_description(tool),
                "parameters": tool_parameters(tool),
            },
        }
        for tool in TOOLS
    )


def tool_definitions() -> list[dict]:
    return copy.deepcopy(list(_definitions()))


class ToolFunctionSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    parameters = serializers.DictField(help_text="JSON Schema of the function's arguments.")


class ToolSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["function"])
    function = ToolFunctionSerializer()


class ToolList(ApiViewMixin, generics.GenericAPIView):
    serializer_class = ToolSerializer
    pagination_class = None
    access = {"GET": ANYONE_SIGNED_IN}

    @extend_schema(
        summary="OpenAI function-calling definitions of the agent operations",
        description=(
            "Ready to pass as `tools` to an OpenAI-compatible chat API. Generated from the same "
            "serializers the routes validate with. Each description ends with the API key scope "
            "the call needs (`memory:read` to view and list, `memory:propose` to propose); a key "
            "without it gets 403 `scope_required`. The runtime fills in the learner's id and maps "
            "`memory_view` → GET users/{user_id}/blocks/{label}/, `memory_<op>` → POST "
            "users/{user_id}/blocks/{label}/diffs/ with `operation=<op>` and the remaining "
            "arguments, `memory_list_proposals` → GET users/{user_id}/diffs/?mine=true."
        ),
        tags=["tools"],
        responses={200: ToolSerializer(many=True), **openapi.error_responses()},
        examples=[
            OpenApiExample(
                "memory_append",
                value=[{
                    "type": "function",
                    "function": {
                        "name": "memory_append",
                        "description": "Add text at the end of a memory block, on a new line.",
                        "parameters": {
                            "type": "object",
                            "properties": {"label": {"type": "string"}, "text": {"type": "string"},
                                           "reasoning": {"type": "string"}},
                            "required": ["label", "text"],
                            "additionalProperties": False,
                        },
                    },
                }],
                response_only=True,
                status_codes=["200"],
            )
        ],
    )
    def get(self, request):
        return Response(tool_definitions())
