"""Which scope each agent tool needs (design.md §5 "Least privilege").

A tool needs the scope of the REST route it stands for, read from that route's own `access`
declaration (diffs.api.tools.tool_scope), so the REST routes and the MCP tools cannot disagree.
The MCP server asks `require_scope` before it runs a tool and lists only the tools a key may call;
the scopes are the agent keys' own (youlab.models.AgentKey).
"""

from __future__ import annotations

from diffs.api.tools import TOOLS
from diffs.api.tools import tool_scope as route_scope
from youlab.errors import ServiceError
from youlab.models import Scope

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


_TOOLS_BY_NAME = {tool.name: tool for tool in TOOLS}


def tool_scope(tool_name: str) -> str:
    return route_scope(_TOOLS_BY_NAME[tool_name])
