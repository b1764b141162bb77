"""Fixtures and helpers shared by the API tests (imported by tests/*/test_api*.py; no tests here)."""

from urllib.parse import quote

import pytest
from rest_framework.test import APIClient

from blocks.models import Block, HistoricalBlock
from diffs.models import PendingDiff
from tests.factories import make_agent_key


def api(*parts, query=None) -> str:
    """/api/v1/<parts…>/ with every part URL-encoded as a real client would send it."""
    path = "/api/v1/" + "".join(quote(str(part), safe="") + "/" for part in parts)
    return path + (f"?{query}" if query else "")


def client_for_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def agent_key(db):
    """(AgentKey, secret) of an agent service named `tutor` (every scope)."""
    return make_agent_key(name="tutor")


@pytest.fixture
def agent(agent_key) -> APIClient:
    return client_for_key(agent_key[1])


@pytest.fixture
def other_agent(db) -> APIClient:
    return client_for_key(make_agent_key(name="coach")[1])


@pytest.fixture
def staff(staff_user) -> APIClient:
    client = APIClient()
    client.force_login(staff_user)
    return client


@pytest.fixture
def anon(db) -> APIClient:
    return APIClient()


@pytest.fixture
def revoked(db) -> APIClient:
    api_key, key = make_agent_key(name="retired")
    api_key.revoked = True
    api_key.save()
    return client_for_key(key)


def snapshot():
    """Everything an API call could change, to assert that a refused call changed nothing."""
    return (
        list(Block.objects.order_by("id").values_list("id", "version", "content", "deleted_at", "updated_at")),
        list(HistoricalBlock.objects.order_by("history_id").values_list("history_id", "version")),
        list(PendingDiff.objects.order_by("id").values_list("id", "status", "updated_at", "response_body")),
    )


def assert_error(response, status, code):
    assert response.status_code == status, (response.status_code, getattr(response, "data", response.content))
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


def api_routes():
    """Every route under /api/v1/ with its access rules: [(route name, path template, {METHOD: Access})].

    Read from the URLconf, so a route added later is covered by the tests that use this.
    """
    from django.urls import URLPattern, URLResolver, get_resolver

    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "view_class", None)
                if view is not None and getattr(view, "access", None):
                    found.append((pattern.name, "/" + prefix + str(pattern.pattern), dict(view.access)))

    walk(get_resolver().url_patterns, "")
    return [route for route in found if route[1].startswith("/api/v1/")]


ROUTE_ARGUMENTS = {"user_id": "maya", "namespace": "course", "label": "student", "agent_id": "tutor",
                   "module_id": "m1"}


def route_path(template: str, **values) -> str:
    """A concrete, URL-encoded path for a route template like `users/<str:user_id>/…`."""
    import re

    def fill(match):
        return quote(str(values.get(match.group(1), ROUTE_ARGUMENTS.get(match.group(1)))), safe="")

    return re.sub(r"<(?:\w+:)?(\w+)>", fill, template)
