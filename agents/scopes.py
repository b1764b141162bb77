"""Which scope each agent tool needs (design.md §5 "Least privilege"), declared in one place.

The MCP server asks `require_scope(agent, tool_name)` before it runs a tool (and lists only the
tools a key may call). `granted_scopes` is the single hook to the key model: while keys carry
no scopes it grants everything (what every key could do before scopes); when API keys gain
scopes it reads them, so the REST routes and the MCP tools refuse the same keys.
"""

from __future__ import annotations

from youlab.errors import ServiceError

MEMORY_READ = "memory:read"
MEMORY_PROPOSE = "memory:propose"

TOOL_SCOPES = {
    "memory_view": MEMORY_READ,
    "memory_list_proposals": MEMORY_READ,
    "memory_append": MEMORY_PROPOSE,
    "memory_str_replace": MEMORY_PROPOSE,
    "memory_insert": MEMORY_PROPOSE,
    "memory_rethink": MEMORY_PROPOSE,
    "memory_create": MEMORY_PROPOSE,
}
RESOURCES_SCOPE = MEMORY_READ  # the memory blocks as MCP resources


class ScopeRequired(ServiceError):
    code = "scope_required"
    status = 403


def granted_scopes(api_key) -> frozenset[str] | None:
    """The scopes an agent key carries, or None when it is unrestricted (no scopes on the model)."""
    scopes = getattr(api_key, "scopes", None)
    if scopes is None:
        return None
    if isinstance(scopes, str):
        scopes = [s.strip() for s in scopes.split(",")]
    return frozenset(s for s in scopes if s)


def has_scope(agent, scope: str) -> bool:
    granted = granted_scopes(agent.api_key)
    return granted is None or scope in granted


def require_scope(agent, scope: str) -> None:
    if not has_scope(agent, scope):
        raise ScopeRequired(f"this API key lacks the scope {scope!r}", details={"scope": scope})


def tool_scope(tool_name: str) -> str:
    return TOOL_SCOPES[tool_name]
