"""youlab.api.middleware: an agent's API request skips the browser's auth and messages middleware;
nothing else does, and Django's own session and CSRF middleware run for every request."""

import json

import pytest
from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from diffs.models import DiffStatus, PendingDiff
from learners.models import HistoricalLearner, Learner
from tests.factories import make_block, propose
from tests.support import api
from youlab.api.middleware import AuthenticationMiddleware, MessageMiddleware

pytestmark = pytest.mark.django_db


def seen_by_the_view(path, authorization=None):
    """What the browser middleware attached to the request before the view ran."""
    seen = {}

    def view(request):
        seen.update(session=hasattr(request, "session"), user=hasattr(request, "user"),
                    messages=hasattr(request, "_messages"))
        return None

    chain = SessionMiddleware(AuthenticationMiddleware(MessageMiddleware(view)))
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    chain(RequestFactory().get(path, **extra))
    return seen


def test_only_api_requests_naming_an_agent_key_skip_users_and_messages():
    skipped = {"session": True, "user": False, "messages": False}
    kept = {"session": True, "user": True, "messages": True}
    assert seen_by_the_view("/api/v1/users/maya/blocks/", "Api-Key abc.def") == skipped
    assert seen_by_the_view("/api/v1/users/maya/blocks/", "Api-Key ") == skipped  # refused by the API: 401
    assert seen_by_the_view("/api/v1/users/maya/blocks/") == kept  # a staff session
    assert seen_by_the_view("/api/v1/users/maya/blocks/", "Bearer abc.def") == kept
    assert seen_by_the_view("/api/v1/users/maya/blocks/", "Api-Keyabc.def") == kept
    assert seen_by_the_view("/admin/", "Api-Key abc.def") == kept  # outside the API
    assert seen_by_the_view("/apix/", "Api-Key abc.def") == kept


def test_a_staff_session_carrying_an_api_key_header_still_uses_the_admin(staff_user):
    client = Client(HTTP_AUTHORIZATION="Api-Key abc.def")
    client.force_login(staff_user)
    assert client.get(reverse("admin:diffs_pendingdiff_changelist")).status_code == 200


def test_admin_posts_carrying_an_api_key_header_still_need_the_csrf_token(staff_user):
    block = make_block(owner_id="maya", label="student")
    diff = propose(block, "append", text="Likes chess")
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION="Api-Key abc.def")
    client.force_login(staff_user)
    url = reverse("admin:diffs_pendingdiff_change", args=[diff.pk])
    assert client.post(url, {"_action": "approve"}).status_code == 403
    assert PendingDiff.objects.get(pk=diff.pk).status == DiffStatus.PENDING


def test_staff_sessions_on_the_api_still_need_the_csrf_token_and_agents_do_not(staff_user, agent):
    make_block(owner_id="maya", label="student")
    body = {"operation": "append", "text": "Likes chess", "reasoning": "said so"}
    staff = APIClient(enforce_csrf_checks=True)
    staff.force_login(staff_user)
    assert staff.post(api("users", "maya", "blocks", "student", "diffs"), body, format="json").status_code == 403
    assert staff.get(api("users", "maya", "blocks", "student")).status_code == 200
    agent.handler.enforce_csrf_checks = True
    assert agent.post(api("users", "maya", "blocks", "student", "diffs"), body, format="json").status_code == 201
    assert PendingDiff.objects.count() == 1


def test_a_wrong_agent_key_is_401_even_with_a_staff_session(staff_user):
    make_block(owner_id="maya", label="student")
    client = APIClient(HTTP_AUTHORIZATION="Api-Key abc.def")
    client.force_login(staff_user)
    assert client.get(api("users", "maya", "blocks", "student")).status_code == 401


# Django's own, as MIDDLEWARE named them before youlab.api.middleware.
DJANGOS_OWN = [
    name.replace("youlab.api.middleware.AuthenticationMiddleware", "django.contrib.auth.middleware.AuthenticationMiddleware")
    .replace("youlab.api.middleware.MessageMiddleware", "django.contrib.messages.middleware.MessageMiddleware")
    for name in settings.MIDDLEWARE
]


def answer(middleware, user, method, path, authorization, body):
    """(status, error code or the body's keys, headers but cookies, Vary and per-response values)."""
    Learner.objects.all().delete()  # the profile PUT answers 201 each time
    with override_settings(MIDDLEWARE=middleware):
        client = APIClient(enforce_csrf_checks=True)
        if user is not None:
            client.force_login(user)
        extra = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
        response = getattr(client, method)(path, body, format="json", **extra) if body is not None \
            else getattr(client, method)(path, **extra)
    if response.get("Content-Type", "").startswith("application/json"):
        data = json.loads(response.content)
        if not isinstance(data, dict):
            shape = (type(data).__name__, len(data))
        else:
            shape = data["error"]["code"] if "error" in data else sorted(data)
    else:
        shape = (response.get("Content-Type"), len(response.content))
    volatile = {"Set-Cookie", "Vary", "Content-Length", "ETag", "Location"}
    return response.status_code, shape, {k: v for k, v in response.items() if k not in volatile}


def test_every_api_request_is_answered_as_djangos_own_middleware_answered_it(agent_key, staff_user,
                                                                             django_user_model):
    """Each route, credential and session, answered with the shortcut and without: the same
    status, error code (or body keys) and headers; never a 5xx."""
    block = make_block(owner_id="maya", label="student")
    diff = propose(block, "append", text="Likes chess")
    learner = django_user_model.objects.create_user(username="pat", password="pw-pat-12345")
    key = agent_key[1]
    authorizations = [None, f"Api-Key {key}", f"api-key {key}", f"Api-Key  {key}", f"Api-Key {key} ",
                      "Api-Key abc.def", "Api-Key ", "Api-Key \u00e9.\u00e9", "Api-Key " + "a" * 300,
                      f"Api-Key\t{key}", f"Bearer {key}"]
    propose_body = {"operation": "append", "text": "a", "reasoning": "r"}
    routes = [
        ("get", api("users", "maya", "blocks"), None),
        ("get", "/api/v1/users/maya/blocks", None),  # no APPEND_SLASH redirect: the JSON 404
        ("get", api("users", "maya", "blocks", "student"), None),
        ("post", api("users", "maya", "blocks", "student", "diffs"), propose_body),
        ("post", api("users", "maya", "blocks", "nope", "diffs"), propose_body),
        ("post", api("diffs", diff.pk, "reject"), {"reason": ""}),  # staff only
        ("patch", api("users", "maya", "blocks", "student"), {"content": "x"}),
        ("put", api("users", "maya", "profile"), {"display_name": "Maya"}),
        ("get", "/api/v1/nope/", None),
        ("post", "/api/v1/nope/", {}),  # not a DRF view, not CSRF-exempt
        ("get", "/api/docs/", None),
        ("get", "/api", None),
        ("get", "//api/v1/users/maya/blocks/", None),
        ("get", api("tools"), None),
    ]
    differences = []
    for method, path, body in routes:
        for authorization in authorizations:
            for user in [None, staff_user, learner]:
                before = answer(DJANGOS_OWN, user, method, path, authorization, body)
                now = answer(settings.MIDDLEWARE, user, method, path, authorization, body)
                if now != before or now[0] >= 500:
                    differences.append((method, path, authorization, user, before, now))
    assert differences == []


def test_an_agents_write_with_a_staff_session_records_the_agent_not_the_session(agent_key, staff_user):
    client = APIClient(HTTP_AUTHORIZATION=f"Api-Key {agent_key[1]}")
    client.force_login(staff_user)
    assert client.put(api("users", "maya", "profile"), {"display_name": "Maya"}, format="json").status_code == 201
    row = HistoricalLearner.objects.get(user_id="maya")
    assert (row.history_user_id, row.updated_by) == (None, "agent:tutor")


def test_djangos_own_csrf_and_session_middleware_run_for_every_request():
    # `check --deploy` looks for them by name (a subclass in their place made it warn, W003;
    # tests/deploy/test_serve.py runs the check with production settings).
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    assert "django.contrib.sessions.middleware.SessionMiddleware" in settings.MIDDLEWARE
