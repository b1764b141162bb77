"""Fixtures for the chats tests: agent keys, API clients, Fernet keys, a fresh database."""

import contextlib

import pytest
from django.core.management import call_command
from django.db import connection, connections
from rest_framework.test import APIClient

from tests.conftest import raw_connect
from tests.factories import make_agent_key


@pytest.fixture
def agent_key(db):
    """(AgentKey, plaintext key) of an agent called 'tutor' (every scope)."""
    return make_agent_key(name="tutor")


@pytest.fixture
def agent_client(agent_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {agent_key[1]}")
    return client


@pytest.fixture
def staff_client(staff_user):
    client = APIClient()
    client.force_login(staff_user)
    return client


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def revoked_client(db):
    _, key = make_agent_key(name="retired", revoked=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def expired_client(db):
    from datetime import timedelta

    from django.utils import timezone

    _, key = make_agent_key(name="lapsed", expiry_date=timezone.now() - timedelta(days=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def bad_key_client(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Api-Key abcdefgh.not-a-real-key")
    return client


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


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


@pytest.fixture
def fresh_database(transactional_db):
    """A brand-new, migrated Dolt database (not the test database), dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_fresh"
    admin = raw_connect(database="")
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci")
        with use_database(name):
            call_command("migrate", verbosity=0)
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
