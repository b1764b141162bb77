"""The in-process cache of verified agent keys (youlab.api.auth) never outlives a revocation:
at once in the process that revokes, within YOULAB_API_KEY_CACHE_SECONDS elsewhere."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_agent_key, make_block
from tests.support import api, assert_error, client_for_key
from youlab.models import AgentKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def tutor():
    make_block(owner_id="maya", label="student")
    api_key, key = make_agent_key(name="tutor")
    return api_key, client_for_key(key)


def test_a_verified_key_is_not_looked_up_again(tutor):
    _, client = tutor
    assert client.get(api("users", "maya", "blocks", "student")).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(api("users", "maya", "blocks", "student")).status_code == 200
    assert not any("agent_keys" in q["sql"] for q in queries.captured_queries)


def test_revoking_in_this_process_takes_effect_at_once(tutor):
    _, client = tutor
    assert client.get(api("tools")).status_code == 200
    call_command("create_agent_key", "tutor", "--revoke", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert_error(client.get(api("tools")), 401, "authentication_failed")


def test_a_revocation_made_elsewhere_takes_effect_within_the_ttl(tutor, settings):
    settings.YOULAB_API_KEY_CACHE_SECONDS = 0.3
    api_key, client = tutor
    assert client.get(api("tools")).status_code == 200
    AgentKey.objects.filter(pk=api_key.pk).update(revoked=True)  # no signal: like another process
    time.sleep(0.4)
    assert_error(client.get(api("tools")), 401, "authentication_failed")


def test_expiry_is_checked_on_every_request_even_when_cached():
    from datetime import timedelta

    from django.utils import timezone

    make_block(owner_id="maya", label="student")
    _, key = make_agent_key(name="lapsing", expiry_date=timezone.now() + timedelta(seconds=0.5))
    client = client_for_key(key)
    assert client.get(api("tools")).status_code == 200  # verified and cached
    time.sleep(0.6)
    assert_error(client.get(api("tools")), 401, "authentication_failed")


def test_wrong_secrets_are_never_cached(tutor):
    api_key, _ = tutor
    wrong = client_for_key(f"{api_key.prefix}.{'x' * 32}")
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert_error(wrong.get(api("tools")), 401, "authentication_failed")
        assert any("agent_keys" in q["sql"] for q in queries.captured_queries)
