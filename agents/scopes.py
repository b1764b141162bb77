"""Which scope each agent tool needs (design.md §5 "Least privilege"), declared in one place.

The MCP server asks `require_scope(agent, tool_name)` before it runs a tool (and lists only the
tools a key may call). The scopes are the agent keys' own (youlab.models.AgentKey), so the REST
routes (youlab.api.permissions) and the MCP tools refuse the same keys with the same error.
"""

from __future__ import annotations

from youlab.errors import ServiceError
from youlab.models import Scope

TOOL_SCOPES = {
    "memory_view": Scope.MEMORY_READ,
    "memory_list_proposals": Scope.MEMORY_READ,
    "memory_append": Scope.MEMORY_PROPOSE,
    "memory_str_replace": Scope.MEMORY_PROPOSE,
    "memory_insert": Scope.MEMORY_PROPOSE,
    "memory_rethink": Scope.MEMORY_PROPOSE,
    "memory_create": Scope.MEMORY_PROPOSE,
}
RESOURCES_SCOPE = Scope.MEMORY_READ  # the memory blocks as MCP resources


class ScopeRequired(ServiceError):
    code = "scope_required"
    status = 403


def has_scope(agent, scope: str) -> bool:
    return agent.has_scope(str(scope))


def require_scope(agent, scope: str) -> None:
    if not has_scope(agent, scope):
        raise ScopeRequired(
            f"this API key lacks the scope {str(scope)!r} ({Scope(scope).label})",
            details={"scope": str(scope)},
        )


def tool_scope(tool_name: str) -> str:
    return TOOL_SCOPES[tool_name]
