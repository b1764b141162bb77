"""Learners' OpenWebUI keys: encrypted at rest, rotatable, and never anywhere in plaintext."""

import logging

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from chats import crypto, services
from chats.exceptions import InvalidKey, KeyNotFound, SecretsNotConfigured, SecretUndecryptable
from chats.models import UserApiKey
from tests.factories import make_block
from tests.support import assert_error, table_count
from youlab import dolt
from youlab.actors import Actor

KEY = "sk-9c1e0b7a4f2d4e6b8a3c5d7e9f1a2b3c"
OTHER_KEY = "sk-0000111122223333444455556666beef"
URL = "/api/v1/users/learner-1/owui-key/"


def _raw_ciphertexts():
    with connection.cursor() as cursor:
        cursor.execute("SELECT k.user_id, s.ciphertext FROM user_api_keys AS k "
                       "JOIN user_api_key_secrets AS s ON s.key_id = k.id ORDER BY k.user_id")
        return dict(cursor.fetchall())


def _plaintext(user_id):
    return services.read_user_key(user_id=user_id, by=Actor.agent("test"))[1]


def _new_fernet_key():
    return Fernet.generate_key().decode()


# --- services ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_round_trip_and_only_ciphertext_is_stored():
    record, created = services.set_user_key(user_id="learner-1", key=KEY, by=Actor.agent("tutor"))
    assert created
    assert _plaintext("learner-1") == KEY
    assert (record.fingerprint, record.last4) == (crypto.fingerprint(KEY), "2b3c")
    assert record.masked == f"…2b3c ({crypto.fingerprint(KEY)})"

    stored = _raw_ciphertexts()["learner-1"]
    assert KEY not in stored
    assert Fernet(settings.YOULAB_FERNET_KEYS[0].encode()).decrypt(stored.encode()).decode() == KEY


@pytest.mark.django_db
def test_setting_the_same_key_writes_nothing_and_another_key_replaces_it():
    record, _ = services.set_user_key(user_id="learner-1", key=KEY, by=Actor.agent("tutor"))
    ciphertext = _raw_ciphertexts()["learner-1"]

    same, created = services.set_user_key(user_id="learner-1", key=KEY, by=Actor.agent("tutor"))
    assert not created and same.updated_at == record.updated_at
    assert _raw_ciphertexts()["learner-1"] == ciphertext  # Fernet tokens differ per encryption

    replaced, created = services.set_user_key(user_id="learner-1", key=OTHER_KEY, by=Actor.agent("tutor"))
    assert not created and replaced.last4 == "beef"
    assert _plaintext("learner-1") == OTHER_KEY
    assert UserApiKey.objects.count() == 1


@pytest.mark.django_db
def test_delete_and_missing_keys():
    services.set_user_key(user_id="learner-1", key=KEY, by=Actor.system())
    services.delete_user_key(user_id="learner-1", by=Actor.system())
    with pytest.raises(KeyNotFound):
        _plaintext("learner-1")
    with pytest.raises(KeyNotFound):
        services.delete_user_key(user_id="learner-1", by=Actor.system())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad",
    ["", "short12", " sk-padded-key", "sk-padded-key ", "sk-with space", "sk-tab\tkey123",
     "sk-newline\nkey", "sk-nul\x00key123", "sk-ключ-12345", "x" * 4097, None, 12345678],
)
def test_keys_are_validated_and_never_quoted(bad):
    with pytest.raises(InvalidKey) as excinfo:
        services.set_user_key(user_id="learner-1", key=bad, by=Actor.system())
    if isinstance(bad, str) and len(bad) > 3:
        assert bad not in excinfo.value.message and bad not in str(excinfo.value)
    assert UserApiKey.objects.count() == 0


@pytest.mark.django_db
def test_longest_allowed_key_round_trips():
    key = "k" * 4096
    services.set_user_key(user_id="learner-1", key=key, by=Actor.system())
    assert _plaintext("learner-1") == key


# --- rotation and key configuration --------------------------------------------------------------


@pytest.mark.django_db
def test_rotation_with_two_keys_then_removing_the_old_key_still_decrypts(settings):
    old, new = _new_fernet_key(), _new_fernet_key()
    settings.YOULAB_FERNET_KEYS = [old]
    for n in range(3):
        services.set_user_key(user_id=f"learner-{n}", key=f"{KEY}{n}", by=Actor.system())
    before = _raw_ciphertexts()

    settings.YOULAB_FERNET_KEYS = [new, old]  # newest first
    result = services.rotate_all_keys()
    assert (result.rotated, result.unchanged, result.failed) == (3, 0, 0)
    after = _raw_ciphertexts()
    assert all(after[u] != before[u] for u in before)

    again = services.rotate_all_keys()  # idempotent
    assert (again.rotated, again.unchanged, again.failed) == (0, 3, 0)
    assert _raw_ciphertexts() == after

    settings.YOULAB_FERNET_KEYS = [new]  # the old key is gone
    assert [_plaintext(f"learner-{n}") for n in range(3)] == [f"{KEY}{n}" for n in range(3)]


@pytest.mark.django_db
def test_rotate_secrets_command_reports_counts_and_fails_on_undecryptable_rows(settings, capsys):
    old, new, lost = _new_fernet_key(), _new_fernet_key(), _new_fernet_key()
    settings.YOULAB_FERNET_KEYS = [old]
    services.set_user_key(user_id="learner-a", key=KEY, by=Actor.system())
    settings.YOULAB_FERNET_KEYS = [lost]
    services.set_user_key(user_id="learner-b", key=OTHER_KEY, by=Actor.system())
    settings.YOULAB_FERNET_KEYS = [new]
    services.set_user_key(user_id="learner-c", key=KEY, by=Actor.system())

    settings.YOULAB_FERNET_KEYS = [new, old]  # `lost` is not configured any more
    with pytest.raises(CommandError) as excinfo:
        call_command("rotate_secrets")
    out = capsys.readouterr().out
    assert "rotated: 1  unchanged: 1  failed: 1" in out
    assert "learner-b" in str(excinfo.value)
    assert _plaintext("learner-a") == KEY

    services.delete_user_key(user_id="learner-b", by=Actor.system())
    call_command("rotate_secrets")
    assert "rotated: 0  unchanged: 2  failed: 0" in capsys.readouterr().out


@pytest.mark.django_db
def test_a_wrong_key_set_gives_a_clear_error_and_never_the_ciphertext(settings, agent, staff):
    services.set_user_key(user_id="learner-1", key=KEY, by=Actor.system())
    ciphertext = _raw_ciphertexts()["learner-1"]
    settings.YOULAB_FERNET_KEYS = [_new_fernet_key()]

    with pytest.raises(SecretUndecryptable) as excinfo:
        _plaintext("learner-1")
    assert "YOULAB_FERNET_KEYS" in excinfo.value.message
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__

    error = assert_error(agent.get(URL), 409, "secret_undecryptable")
    assert ciphertext not in str(error) and KEY not in str(error)
    # Staff never get the key, so the masked form does not need to decrypt it.
    assert staff.get(URL).json()["last4"] == "2b3c"
    # Setting the key again repairs it.
    assert agent.put(URL, {"key": KEY}, format="json").status_code == 200
    assert agent.get(URL).json()["key"] == KEY


@pytest.mark.django_db
@pytest.mark.parametrize("configured", [[], ["not-a-fernet-key"]])
def test_missing_or_malformed_fernet_keys(settings, agent, configured):
    settings.YOULAB_FERNET_KEYS = configured
    with pytest.raises(SecretsNotConfigured) as excinfo:
        services.set_user_key(user_id="learner-1", key=KEY, by=Actor.system())
    assert "YOULAB_FERNET_KEYS" in excinfo.value.message
    assert "not-a-fernet-key" not in excinfo.value.message

    error = assert_error(agent.put(URL, {"key": KEY}, format="json"), 503, "secrets_not_configured")
    assert KEY not in str(error)
    assert table_count("user_api_keys") == 0
    with pytest.raises(CommandError, match="YOULAB_FERNET_KEYS"):
        call_command("rotate_secrets")


# --- API -----------------------------------------------------------------------------------------

MASKED_FIELDS = {"user_id", "present", "fingerprint", "last4", "masked", "created_at", "updated_at"}


@pytest.mark.django_db
def test_api_agent_round_trip(agent):
    assert_error(agent.get(URL), 404, "key_not_found")

    response = agent.put(URL, {"key": KEY}, format="json")
    assert response.status_code == 201
    assert set(response.json()) == MASKED_FIELDS and KEY not in response.content.decode()
    assert agent.put(URL, {"key": KEY}, format="json").status_code == 200

    response = agent.get(URL)
    assert response.status_code == 200
    assert response.json()["key"] == KEY  # the one route that returns it, to an agent key
    assert response["Cache-Control"] == "no-store"

    assert agent.delete(URL).status_code == 204
    assert_error(agent.get(URL), 404, "key_not_found")
    assert_error(agent.delete(URL), 404, "key_not_found")


@pytest.mark.django_db
def test_api_staff_only_ever_see_the_masked_form(staff):
    response = staff.put(URL, {"key": KEY}, format="json")
    assert response.status_code == 201
    response = staff.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == MASKED_FIELDS and "key" not in body
    assert body["last4"] == "2b3c" and body["present"] is True
    assert KEY not in response.content.decode()
    assert staff.delete(URL).status_code == 204


@pytest.mark.django_db
@pytest.mark.parametrize("client_name", ["anon", "revoked", "expired", "bad_key"])
def test_api_refuses_callers_without_a_valid_key(request, client_name):
    services.set_user_key(user_id="learner-1", key=KEY, by=Actor.system())
    client = request.getfixturevalue(client_name)
    for response in [client.get(URL), client.delete(URL), client.put(URL, {"key": OTHER_KEY}, format="json")]:
        assert response.status_code in (401, 403)
        assert KEY not in response.content.decode()
    assert _plaintext("learner-1") == KEY


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, code",
    [
        ({}, "invalid_input"),
        ({"key": None}, "invalid_input"),
        ({"key": ""}, "invalid_key"),
        ({"key": "sk-has space-1234"}, "invalid_key"),
        ({"key": " sk-0000111122223333"}, "invalid_key"),
        ({"key": "sk-ctrl\x01-0000111122223333"}, "invalid_key"),
        ({"key": "k" * 5000}, "invalid_key"),
    ],
)
def test_api_bad_keys_are_400_never_echoed_and_write_nothing(agent, body, code):
    services.set_user_key(user_id="learner-1", key=KEY, by=Actor.system())
    response = agent.put(URL, body, format="json")
    assert_error(response, 400, code)
    if body.get("key"):
        assert body["key"].strip() not in response.content.decode()
    assert _plaintext("learner-1") == KEY


@pytest.mark.django_db
def test_api_bad_user_id_is_400(agent):
    assert_error(agent.put("/api/v1/users/a%0Ab/owui-key/", {"key": KEY}, format="json"), 400, "invalid_input")
    assert table_count("user_api_keys") == 0


# --- never in plaintext anywhere -----------------------------------------------------------------

TEXT_TYPES = ("char", "varchar", "text", "tinytext", "mediumtext", "longtext", "json", "blob", "longblob")


def _tables_and_text_columns():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND data_type IN (" + ", ".join(["%s"] * len(TEXT_TYPES)) + ")",
            list(TEXT_TYPES),
        )
        return cursor.fetchall()


def _occurrences(needle):
    found = []
    with connection.cursor() as cursor:
        for table, column in _tables_and_text_columns():
            cursor.execute(
                f"SELECT COUNT(*) FROM `{table}` WHERE CAST(`{column}` AS CHAR) LIKE %s",
                [f"%{needle}%"],
            )
            if cursor.fetchone()[0]:
                found.append(f"{table}.{column}")
        cursor.execute("SELECT COUNT(*) FROM dolt_log WHERE message LIKE %s", [f"%{needle}%"])
        if cursor.fetchone()[0]:
            found.append("dolt_log.message")
        # Every committed version of the keys tables (Dolt's own history of them) too.
        cursor.execute(
            "SELECT COUNT(*) FROM dolt_history_user_api_keys WHERE fingerprint LIKE %s OR last4 LIKE %s",
            [f"%{needle}%"] * 2,
        )
        if cursor.fetchone()[0]:
            found.append("dolt_history_user_api_keys")
        cursor.execute("SELECT COUNT(*) FROM dolt_history_user_api_key_secrets WHERE ciphertext LIKE %s",
                       [f"%{needle}%"])
        if cursor.fetchone()[0]:
            found.append("dolt_history_user_api_key_secrets")
    return found


@pytest.mark.django_db(transaction=True)
def test_the_plaintext_key_is_in_no_table_history_commit_message_or_log(
    agent, staff, caplog, settings,
):
    caplog.set_level(logging.DEBUG)
    # Fill the other tables, histories included, so the scan has something to look through.
    block = make_block(owner_id="learner-1", label="student", content="likes maths", dolt_commit=True)
    agent.put("/api/v1/users/learner-1/module-chats/tutor/m1/", {"chat_id": "c1"}, format="json")
    staff.put(URL, {"key": OTHER_KEY}, format="json")
    agent.put(URL, {"key": KEY}, format="json")  # replaces OTHER_KEY
    agent.get(URL)
    staff.get(URL)
    agent.get("/api/v1/users/learner-1/export/")
    settings.YOULAB_FERNET_KEYS = [_new_fernet_key(), *settings.YOULAB_FERNET_KEYS]
    assert services.rotate_all_keys().rotated == 1

    scanned = {table for table, _ in _tables_and_text_columns()}
    assert {"user_api_keys", "user_api_key_secrets", "module_chat_history", "block_history", "blocks",
            "django_admin_log", "owui_key_reads"} <= scanned
    ciphertext = _raw_ciphertexts()["learner-1"]
    # The scan does find things: the ciphertext is in its table, and only there (that table is
    # outside Dolt's versioned history: tests/chats/test_key_erasure.py).
    assert _occurrences(ciphertext[:40]) == ["user_api_key_secrets.ciphertext"]
    assert {"blocks.content", "block_history.content"} <= set(_occurrences(block.content))
    for secret in (KEY, OTHER_KEY):
        assert _occurrences(secret) == []
        assert secret not in caplog.text
    assert _plaintext("learner-1") == KEY
    messages = [e.message for e in dolt.log(limit=10)]
    assert any(crypto.fingerprint(KEY) in m for m in messages)


@pytest.mark.django_db(transaction=True)
def test_key_writes_are_dolt_commits_naming_the_fingerprint_only(agent):
    agent.put(URL, {"key": KEY}, format="json")
    entry = dolt.log(limit=1)[0]
    assert entry.message == f"Set OpenWebUI key for learner-1 (fingerprint {crypto.fingerprint(KEY)}) (agent:tutor)"
    assert (entry.author, entry.email) == ("agent:tutor", "agent@youlab.local")
    agent.delete(URL)
    assert dolt.log(limit=1)[0].message == "Delete OpenWebUI key of learner-1 (agent:tutor)"


# --- admin ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_never_shows_the_key_or_its_ciphertext(client, staff_user):
    record, _ = services.set_user_key(user_id="learner-1", key=KEY, by=Actor.system())
    ciphertext = _raw_ciphertexts()["learner-1"]
    client.force_login(staff_user)

    pages = [
        client.get("/admin/chats/userapikey/"),
        client.get("/admin/chats/userapikey/?q=learner-1"),
        client.get(f"/admin/chats/userapikey/{record.pk}/change/"),
        client.get(f"/admin/chats/userapikey/{record.pk}/delete/"),
    ]
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert KEY not in html and ciphertext not in html and ciphertext[:20] not in html
    assert "2b3c" in pages[0].content.decode() and record.fingerprint in pages[2].content.decode()
    assert client.get("/admin/chats/userapikey/add/").status_code == 403


@pytest.mark.django_db
def test_admin_delete_goes_through_the_service(client, staff_user):
    record, _ = services.set_user_key(user_id="learner-1", key=KEY, by=Actor.system())
    client.force_login(staff_user)
    response = client.post(f"/admin/chats/userapikey/{record.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not UserApiKey.objects.exists()
