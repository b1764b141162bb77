"""Who may call which route: agent keys by scope, staff by Django model permission.

Every API view declares `access`, one rule per HTTP method it implements:

    access = {"GET": agents_and_staff(Scope.MEMORY_READ, "blocks.view_block"),
              "POST": staff_only("blocks.change_block")}

An agent key needs the rule's scope (else 403 `scope_required`, `details.scope`); a staff
session needs every Django permission the rule names, the same ones the admin checks (else 403
`permission_denied`, `details.permission`); a route without an agent scope refuses agent keys.
A method a view implements without a rule is refused (fail closed). The OpenAPI schema and
/api/v1/tools/ read the same declarations (`scope_for`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import exceptions, permissions, status

from youlab.models import Scope

from .auth import is_agent
from .exceptions import ApiError

ANY_SCOPE = "*"  # any valid agent key (e.g. the tool definitions)


@dataclass(frozen=True)
class Access:
    # The agent-key scope the route needs: a Scope value, ANY_SCOPE, or None (agents refused).
    scope: str | None
    # The Django permissions ("app_label.codename") a staff session needs, all of them.
    permissions: tuple[str, ...] = ()


def agents_and_staff(scope: str, *staff_permissions: str) -> Access:
    return Access(scope=str(scope), permissions=staff_permissions)  # str(): the value, not the enum


def staff_only(*staff_permissions: str) -> Access:
    return Access(scope=None, permissions=staff_permissions)


ANYONE_SIGNED_IN = Access(scope=ANY_SCOPE)


def access_rule(view, method: str) -> Access | None:
    rules = getattr(view, "access", {})
    method = method.upper()
    if method == "HEAD":
        method = "GET"
    return rules.get(method)


def scope_for(view, method: str) -> str | None:
    """The agent scope a route's method needs (None: staff only) — for the schema and tools."""
    rule = access_rule(view, method)
    return rule.scope if rule is not None else None


class RouteAccess(permissions.BasePermission):
    """The API's one permission class (REST_FRAMEWORK DEFAULT_PERMISSION_CLASSES)."""

    message = "an agent API key or a staff login is required"

    def has_permission(self, request, view):
        user = request.user
        agent = is_agent(request)
        if not agent and not (user and user.is_authenticated and user.is_staff):
            return False  # DRF answers 401 without credentials, 403 for a non-staff session
        if request.method == "OPTIONS":
            return True  # metadata only; the method the caller then uses is checked
        rule = access_rule(view, request.method)
        if rule is None:
            if hasattr(view, request.method.lower()):
                raise exceptions.PermissionDenied("this route declares no access rule for this method")
            return True  # DRF answers 405
        if agent:
            return self._agent_may(user, rule)
        return self._staff_may(user, rule)

    @staticmethod
    def _agent_may(agent, rule: Access) -> bool:
        if rule.scope is None:
            raise exceptions.PermissionDenied("staff only: agent API keys may not do this")
        if rule.scope != ANY_SCOPE and not agent.has_scope(rule.scope):
            raise ApiError(
                "scope_required",
                f"this API key lacks the scope {rule.scope!r} ({Scope(rule.scope).label})",
                status.HTTP_403_FORBIDDEN,
                details={"scope": rule.scope},
            )
        return True

    @staticmethod
    def _staff_may(user, rule: Access) -> bool:
        for permission in rule.permissions:
            if not user.has_perm(permission):
                raise ApiError(
                    "permission_denied",
                    f"your account lacks the permission {permission!r}",
                    status.HTTP_403_FORBIDDEN,
                    details={"permission": permission},
                )
        return True
