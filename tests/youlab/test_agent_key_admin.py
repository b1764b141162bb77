"""Agent keys in the admin (issue 14 item 5): created through the same service as
`create_agent_key` (unique active names, scopes), the secret shown once on the page that made it,
listed with scopes and last use, revoked by action or on the key's page; the library's own add
page is gone."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from youlab import dolt
from youlab.models import AgentKey

pytestmark = pytest.mark.django_db

ADD = "admin:youlab_agentkey_add"
LIST = "admin:youlab_agentkey_changelist"


def _secret(page: str) -> str:
    match = re.search(r'id="agent-key-secret" type="text" readonly value="([^"]+)"', page)
    assert match, "the created page shows the key"
    return match.group(1)


def _blocks(client, secret):
    return client.get("/api/v1/users/maya/blocks/", HTTP_AUTHORIZATION=f"Api-Key {secret}")


def test_staff_create_a_key_see_it_once_and_it_works(client, staff_user):
    client.force_login(staff_user)
    response = client.post(reverse(ADD), {"name": "tutor", "scopes": ["memory:read", "chats"]})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    secret = _secret(page)
    assert "This is the only time it is shown" in page

    key = AgentKey.objects.get(name="tutor")
    assert key.scopes == ["memory:read", "chats"] and not key.revoked
    assert secret.startswith(key.prefix + ".")
    assert _blocks(client, secret).status_code == 200

    listing = client.get(reverse(LIST)).content.decode()
    assert "tutor" in listing and "memory:read, chats" in listing and secret not in listing
    assert secret not in client.get(reverse("admin:youlab_agentkey_change", args=[key.pk])).content.decode()


@pytest.mark.django_db(transaction=True)
def test_creating_and_revoking_are_dolt_commits_by_the_member_of_staff(client, staff_user):
    client.force_login(staff_user)
    secret = _secret(client.post(reverse(ADD), {"name": "tutor", "scopes": ["memory:read"]}).content.decode())
    key = AgentKey.objects.get(name="tutor")
    made = dolt.log(limit=1)[0]
    assert made.message == f"Create agent key tutor ({key.prefix}), scopes memory:read"
    assert (made.author, made.email) == ("Rita Reviewer", "rita@example.org")
    assert secret not in made.message and secret.split(".")[1] not in made.message

    client.post(reverse(LIST), {"action": "revoke_selected", "_selected_action": [key.pk]})
    revoked = dolt.log(limit=1)[0]
    assert revoked.message == f"Revoke agent key tutor ({key.prefix})"
    assert revoked.author == "Rita Reviewer"


def test_a_second_active_key_with_the_same_name_is_refused_unless_rotating(client, staff_user):
    client.force_login(staff_user)
    client.post(reverse(ADD), {"name": "tutor", "scopes": ["memory:read"]})
    refused = client.post(reverse(ADD), {"name": "tutor", "scopes": ["memory:read"]})
    assert refused.status_code == 200
    assert "an active key named &#x27;tutor&#x27; exists" in refused.content.decode()
    assert AgentKey.objects.filter(name="tutor").count() == 1

    rotated = client.post(reverse(ADD), {"name": "tutor", "scopes": ["memory:read"], "allow_duplicate": "on"})
    _secret(rotated.content.decode())
    assert AgentKey.objects.filter(name="tutor", revoked=False).count() == 2


@pytest.mark.parametrize("data, error", [
    ({"name": "tutor bot", "scopes": ["memory:read"]}, "invalid name"),
    ({"name": "tutor", "scopes": []}, "This field is required"),
    ({"name": "tutor", "scopes": ["root"]}, "Select a valid choice"),
])
def test_bad_input_is_a_form_error_and_makes_nothing(client, staff_user, data, error):
    client.force_login(staff_user)
    response = client.post(reverse(ADD), data)
    assert response.status_code == 200 and error in response.content.decode()
    assert 'id="agent-key-secret"' not in response.content.decode()
    assert not AgentKey.objects.exists()


def test_revoking_by_action_and_on_the_page_goes_through_the_service(client, staff_user):
    client.force_login(staff_user)
    first = _secret(client.post(reverse(ADD), {"name": "a1", "scopes": ["memory:read"]}).content.decode())
    second = _secret(client.post(reverse(ADD), {"name": "a2", "scopes": ["memory:read"]}).content.decode())
    a1, a2 = AgentKey.objects.get(name="a1"), AgentKey.objects.get(name="a2")

    response = client.post(reverse(LIST), {"action": "revoke_selected", "_selected_action": [a1.pk]}, follow=True)
    assert "Revoked 1 key(s): a1" in response.content.decode()
    assert _blocks(client, first).status_code in (401, 403)
    assert _blocks(client, second).status_code == 200

    change = reverse("admin:youlab_agentkey_change", args=[a2.pk])
    client.post(change, {"revoked": "on"})
    a2.refresh_from_db()
    assert a2.revoked and _blocks(client, second).status_code in (401, 403)
    assert 'name="revoked"' not in client.get(change).content.decode()  # revoked for good


def test_without_permissions_staff_can_neither_create_nor_revoke(client, django_user_model):
    viewer = django_user_model.objects.create_user(username="vic", password="pw-vic-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_agentkey"))
    client.force_login(viewer)
    assert client.get(reverse(ADD)).status_code == 403
    assert client.post(reverse(ADD), {"name": "tutor", "scopes": ["memory:read"]}).status_code == 403
    assert not AgentKey.objects.exists()

    key, _ = AgentKey.objects.create_key(name="old", scopes=["memory:read"])
    client.post(reverse(LIST), {"action": "revoke_selected", "_selected_action": [key.pk]})
    client.post(reverse("admin:youlab_agentkey_change", args=[key.pk]), {"revoked": "on"})
    key.refresh_from_db()
    assert not key.revoked


def test_the_librarys_own_key_pages_are_gone(client, staff_user):
    client.force_login(staff_user)
    assert client.get("/admin/rest_framework_api_key/apikey/add/").status_code == 404
