"""Helpers shared by the tests (not fixtures: those are in tests/conftest.py)."""

import contextlib
import re
from urllib.parse import quote

from django.db import connection, connections
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from blocks.models import Block, HistoricalBlock
from diffs.models import PendingDiff


def api(*parts, query=None) -> str:
    """/api/v1/<parts…>/ with every part URL-encoded as a real client would send it."""
    path = "/api/v1/" + "".join(quote(str(part), safe="") + "/" for part in parts)
    return path + (f"?{query}" if query else "")


def client_for_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


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
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict), body
    return body["error"]


def api_routes():
    """Every route under /api/v1/ with its access rules: [(route name, path template, {METHOD: Access})].

    Read from the URLconf, so a route added later is covered by the tests that use this.
    """
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
    def fill(match):
        return quote(str(values.get(match.group(1), ROUTE_ARGUMENTS.get(match.group(1)))), safe="")

    return re.sub(r"<(?:\w+:)?(\w+)>", fill, template)


def table_count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{table}`")
        return cursor.fetchone()[0]


@contextlib.contextmanager
def use_database(name: str):
    """Point the default alias at another database on the same Dolt server, then back."""
    conn = connections["default"]
    original = conn.settings_dict["NAME"]
    conn.close()
    conn.settings_dict["NAME"] = name
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict["NAME"] = original
