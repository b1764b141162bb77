"""API plumbing on the agent routes: unknown paths, methods, throttling, strict pagination."""

import pytest
from django.core.cache import cache

from tests.factories import make_block
from tests.support import api, assert_error, client_for_key

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


@pytest.mark.parametrize("key_cache_seconds", [10, 0])
@pytest.mark.parametrize("backend", ["per-process", "redis"])
def test_each_authenticated_request_counts_once_a_scope_refusal_too(settings, request, backend,
                                                                     key_cache_seconds):
    """Authentication counts the request in its key's window (with Redis, a cached key in the same
    round trip as its read; a key read from the database right after); the rate limit does not
    count it again. A request then refused for its scopes has used the key: it counts."""
    from tests.factories import make_agent_key
    from tests.support import client_for_key

    if backend == "redis":
        request.getfixturevalue("redis_cache")
    else:
        cache.clear()
    settings.YOULAB_API_KEY_CACHE_SECONDS = key_cache_seconds
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"agent": "4/minute"}}
    make_block(owner_id="maya", label="student")
    reader = client_for_key(make_agent_key(name="reader", scopes=["memory:read"])[1])
    proposal = {"operation": "append", "text": "x"}
    assert reader.get(api("users", "maya", "blocks", "student")).status_code == 200
    assert_error(reader.post(api("users", "maya", "blocks", "student", "diffs"), proposal, format="json"),
                 403, "scope_required")
    assert [reader.get(api("users", "maya", "blocks", "student")).status_code for _ in range(3)] == [200, 200, 429]
    if backend != "redis":
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


def test_every_page_counts_the_whole_list_whether_or_not_it_sent_a_count(agent, django_assert_num_queries):
    """A first page shorter than `limit` is the whole list: no COUNT statement. A full first page
    and every later one ask the database, and a page past the end is not read (Dolt allocates
    room for offset + limit rows: ?offset=2147483647 exhausted its memory)."""
    for n in range(5):
        make_block(owner_id="maya", label=f"b{n}")
    agent.get(api("users", "maya", "blocks"))  # the key is looked up (and cached) and marked used
    cases = [  # query, labels, next offset, statements (the page [+ COUNT])
        ("limit=50", ["b0", "b1", "b2", "b3", "b4"], None, 1),
        ("limit=5", ["b0", "b1", "b2", "b3", "b4"], None, 2),
        ("limit=2", ["b0", "b1"], 2, 2),
        ("limit=2&offset=2", ["b2", "b3"], 4, 2),
        ("limit=2&offset=4", ["b4"], None, 2),
        ("limit=3&offset=5", [], None, 1),  # past the end: the COUNT says so, no page is read
        ("limit=500&offset=2147483647", [], None, 1),
    ]
    for query, labels, next_offset, statements in cases:
        with django_assert_num_queries(statements):
            page = agent.get(api("users", "maya", "blocks", query=query)).json()
        assert page["count"] == 5, query
        assert [row["label"] for row in page["results"]] == labels, query
        assert (page["next"] is None) == (next_offset is None), query
        if next_offset is not None:
            assert f"offset={next_offset}" in page["next"], query
    assert agent.get(api("users", "nobody", "blocks", query="offset=3")).json()["count"] == 0


def test_a_view_throttled_by_a_narrower_throttle_is_counted_in_its_window_only(agent_key, settings, request):
    """Authentication counts a request in the window of the throttle the view has: a subclass with
    a scope of its own counts there, once, and not also in the `agent` window it does not use."""
    from rest_framework.permissions import AllowAny
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory
    from rest_framework.views import APIView

    from youlab.api.auth import AgentKeyRateThrottle

    class BurstThrottle(AgentKeyRateThrottle):
        scope = "burst"

    class Burst(APIView):
        permission_classes = [AllowAny]
        throttle_classes = [BurstThrottle]

        def get(self, request):
            return Response({})

    request.getfixturevalue("redis_cache")
    settings.YOULAB_API_KEY_CACHE_SECONDS = 10
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"agent": "3/minute", "burst": "4/minute"}}
    view, factory = Burst.as_view(), APIRequestFactory()
    codes = [view(factory.get("/burst/", HTTP_AUTHORIZATION=f"Api-Key {agent_key[1]}")).status_code
             for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]  # its own window, each request once
    agent = client_for_key(agent_key[1])
    assert [agent.get(api("tools")).status_code for _ in range(4)] == [200, 200, 200, 429]  # `agent` untouched
