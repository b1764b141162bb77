"""`manage.py create_agent_key`: create (printed once), refuse duplicates, revoke, list."""

import io

import pytest
from django.core.management import CommandError, call_command

from tests.factories import make_block
from tests.support import api, assert_error, client_for_key
from youlab.models import AgentKey

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_agent_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_the_key_once_and_it_works():
    make_block(owner_id="maya", label="student")
    out, err = run("tutor")
    key = out.strip()
    assert "\n" not in key and "." in key  # only the key on stdout, for KEY=$(…)
    assert "cannot be shown again" in err and "tutor" in err
    api_key = AgentKey.objects.get(name="tutor")
    assert api_key.hashed_key != key and key not in api_key.hashed_key  # stored hashed
    assert key.startswith(api_key.prefix) and api_key.prefix in err
    response = client_for_key(key).get(api("users", "maya", "blocks"))
    assert response.status_code == 200 and response.json()["count"] == 1


def test_duplicate_names_are_refused_unless_rotating():
    run("tutor")
    with pytest.raises(CommandError, match="already|exists"):
        run("tutor")
    out, _ = run("tutor", "--allow-duplicate")
    assert AgentKey.objects.filter(name="tutor", revoked=False).count() == 2
    assert out.strip()


@pytest.mark.parametrize("name", ["", "has space", "x" * 51, "-dash-first", "slash/name", "ünïcode"])
def test_invalid_names_are_refused(name):
    with pytest.raises(CommandError):
        run(name)
    assert AgentKey.objects.count() == 0


def test_revoke_makes_the_key_useless():
    key = run("tutor")[0].strip()
    out, _ = run("tutor", "--revoke")
    assert "revoked 1" in out
    assert_error(client_for_key(key).get(api("users", "maya", "blocks")), 401, "authentication_failed")
    with pytest.raises(CommandError, match="no active key"):
        run("tutor", "--revoke")
    # The name is free again.
    assert run("tutor")[0].strip()


def test_revoke_one_key_by_prefix_when_rotating():
    old = run("tutor")[0].strip()
    new = run("tutor", "--allow-duplicate")[0].strip()
    run("tutor", "--revoke", "--prefix", old.split(".")[0])
    assert_error(client_for_key(old).get(api("tools")), 401, "authentication_failed")
    assert client_for_key(new).get(api("tools")).status_code == 200


def test_list_shows_names_and_states_never_secrets():
    key = run("tutor")[0].strip()
    run("coach")
    run("coach", "--revoke")
    out, _ = run("--list")
    assert "tutor" in out and "active" in out and "coach" in out and "revoked" in out
    assert key not in out and key.split(".")[1] not in out
