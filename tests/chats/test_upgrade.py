"""Upgrading a database made before scopes and before the key ciphertexts left versioned history:
keys made with djangorestframework-api-key keep working with every scope, learners' keys keep
decrypting, their ciphertexts move to user_api_key_secrets (kept out of Dolt's commits from then
on), and the migrations run backwards too."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework_api_key.crypto import KeyGenerator, concatenate

from chats import crypto, services
from tests.support import api, client_for_key
from tests.support import use_database as database
from youlab import dolt
from youlab.actors import Actor
from youlab.models import ALL_SCOPES, AgentKey

pytestmark = pytest.mark.django_db(transaction=True)

OWUI_KEY = "sk-made-before-0123456789abcdefOLD1"


@pytest.fixture
def old_database(fresh_database):
    """A migrated database taken back to the schema before this work: no agent_keys, the
    ciphertexts in user_api_keys."""
    with database(fresh_database):
        call_command("migrate", "youlab", "zero", verbosity=0)
        call_command("migrate", "chats", "0003", verbosity=0)
        call_command("migrate", "diffs", "0004", verbosity=0)
    return fresh_database


def test_keys_and_secrets_made_before_survive_the_upgrade(old_database):
    key, prefix, hashed = KeyGenerator().generate()
    with database(old_database), connection.cursor() as cursor:
        assert "ciphertext" in {c.name for c in connection.introspection.get_table_description(cursor, "user_api_keys")}
        assert "agent_keys" not in connection.introspection.table_names(cursor)
        cursor.execute("SELECT COUNT(*) FROM dolt_ignore WHERE pattern = 'user_api_key_secrets'")
        assert cursor.fetchone()[0] == 0  # the downgrade took it out again
        cursor.execute(
            "INSERT INTO rest_framework_api_key_apikey (id, prefix, hashed_key, created, name, revoked) "
            "VALUES (%s, %s, %s, %s, 'veteran', 0)",
            [concatenate(prefix, hashed), prefix, hashed, timezone.now()],
        )
        cursor.execute(
            "INSERT INTO user_api_keys (user_id, ciphertext, fingerprint, last4, created_at, updated_at) "
            "VALUES ('maya', %s, %s, %s, %s, %s)",
            [crypto.encrypt(OWUI_KEY), crypto.fingerprint(OWUI_KEY), OWUI_KEY[-4:], timezone.now(), timezone.now()],
        )
        dolt.commit("before the upgrade")

        call_command("migrate", verbosity=0)

        veteran = AgentKey.objects.get(name="veteran")
        assert veteran.scopes == list(ALL_SCOPES) and veteran.prefix == prefix
        cursor.execute("SELECT COUNT(*) FROM rest_framework_api_key_apikey")
        assert cursor.fetchone()[0] == 0  # one place to revoke it
        response = client_for_key(key).get(api("users", "maya", "owui-key"))
        assert response.status_code == 200 and response.json()["key"] == OWUI_KEY
        assert services.read_user_key(user_id="maya", by=Actor.agent("test"))[1] == OWUI_KEY
        assert dolt.is_ignored("user_api_key_secrets")
        columns = {c.name for c in connection.introspection.get_table_description(cursor, "user_api_keys")}
        assert "ciphertext" not in columns
        cursor.execute("SELECT name FROM auth_group")
        assert [row[0] for row in cursor.fetchall()] == ["Reviewers"]
