"""API plumbing on the agent routes: unknown paths, methods, throttling, strict pagination."""

import pytest
from django.core.cache import cache

from tests.factories import make_block
from tests.support import api, assert_error

pytestmark = pytest.mark.django_db


def test_unknown_api_paths_answer_the_json_error(agent, anon):
    assert_error(agent.get("/api/v1/nowhere/"), 404, "not_found")
    assert_error(anon.get("/api/v2/users/maya/blocks/"), 404, "not_found")
    error = assert_error(agent.get("/api/v1/users/maya/blocks"), 404, "not_found")
    assert "did you mean '/api/v1/users/maya/blocks/'" in error["message"]


def test_wrong_methods_are_405(agent):
    make_block(owner_id="maya", label="student")
    assert_error(agent.delete(api("users", "maya", "blocks", "student")), 405, "method_not_allowed")
    assert_error(agent.put(api("users", "maya", "blocks"), {}, format="json"), 405, "method_not_allowed")
    assert_error(agent.patch(api("diffs", "5c0e8d1a-0000-4000-8000-000000000001"), {}, format="json"), 405,
                 "method_not_allowed")


def test_keys_are_throttled_per_key(agent, agent_key, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"agent": "3/minute"}}
    cache.clear()
    for _ in range(3):
        assert agent.get(api("tools")).status_code == 200
    response = agent.get(api("tools"))
    error = assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0 and error["details"]["retry_after_seconds"] > 0
    cache.clear()


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=ten", "limit=-1", "offset=-1", "offset=x",
                                   "limit=1&limit=2", "offset=99999999999", "limit=1.5"])
def test_malformed_pagination_is_400(agent, query):
    error = assert_error(agent.get(api("users", "maya", "blocks", query=query)), 400, "invalid_input")
    assert set(error["details"]["fields"]) <= {"limit", "offset"}


def test_pagination_bounds(agent):
    for n in range(3):
        make_block(owner_id="maya", label=f"b{n}")
    assert len(agent.get(api("users", "maya", "blocks", query="limit=500")).json()["results"]) == 3
    assert agent.get(api("users", "maya", "blocks", query="offset=10")).json()["results"] == []
