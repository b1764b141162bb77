"""youlab.api.middleware: an agent's API request skips the browser's middleware; nothing else does."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from diffs.models import DiffStatus, PendingDiff
from tests.factories import make_block, propose
from tests.support import api
from youlab.api.middleware import AuthenticationMiddleware, MessageMiddleware, SessionMiddleware

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


def test_only_api_requests_naming_an_agent_key_skip_sessions_users_and_messages():
    skipped = {"session": False, "user": False, "messages": False}
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
