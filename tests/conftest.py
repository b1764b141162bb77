"""Test-suite plumbing: every test talks to the real dolt sql-server over TCP.

`make test` starts the server (scripts/dolt.sh); pytest-django creates `test_<db>` on it with
utf8mb4_0900_ai_ci. If the server is not there the run fails at database setup: no test is
skipped for a missing Dolt.
"""

import secrets
from datetime import timedelta

import MySQLdb
import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import make_agent_key
from tests.support import client_for_key, use_database


def raw_connect(database=None, autocommit=True):
    """A connection of its own (not Django's), e.g. to play a concurrent client."""
    db = settings.DATABASES["default"]
    conn = MySQLdb.connect(
        host=db["HOST"],
        port=int(db["PORT"]),
        user=db["USER"],
        password=db["PASSWORD"],
        database=database if database is not None else db["NAME"],
        charset="utf8mb4",
    )
    conn.autocommit(autocommit)
    return conn


@pytest.fixture
def raw_connection(db):
    """A second client connection to the test database, closed after the test."""
    from django.db import connection

    conn = raw_connect(connection.settings_dict["NAME"])
    yield conn
    conn.close()


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_user(
        username="rita", password="pw-rita-123", email="rita@example.org",
        first_name="Rita", last_name="Reviewer", is_staff=True, is_superuser=True,
    )


# --- API clients: an agent key, a staff login, nobody -------------------------------------------


@pytest.fixture
def redis_cache(settings):
    """Django's default cache on the Redis that `make test` started, as with CACHE_URL in a
    deployment (youlab.cache.RedisCache), under a key prefix of this test's own."""
    from django.core.cache import cache

    from tests.servers import redis_url

    prefix = f"test-{secrets.token_hex(6)}"
    settings.CACHES = {"default": {
        "BACKEND": "youlab.cache.RedisCache", "LOCATION": redis_url(),
        "KEY_PREFIX": prefix, "OPTIONS": {"socket_timeout": 2},
    }}
    yield cache
    client = cache._cache.get_client(write=True)  # only this test's keys (clear() flushes the db)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)


@pytest.fixture
def agent_key(db):
    """(AgentKey, secret) of an agent service named `tutor` (every scope)."""
    return make_agent_key(name="tutor")


@pytest.fixture
def agent(agent_key) -> APIClient:
    return client_for_key(agent_key[1])


@pytest.fixture
def other_agent(db) -> APIClient:
    return client_for_key(make_agent_key(name="coach")[1])


@pytest.fixture
def staff(staff_user) -> APIClient:
    client = APIClient()
    client.force_login(staff_user)
    return client


@pytest.fixture
def anon(db) -> APIClient:
    return APIClient()


@pytest.fixture
def revoked(db) -> APIClient:
    return client_for_key(make_agent_key(name="retired", revoked=True)[1])


@pytest.fixture
def expired(db) -> APIClient:
    return client_for_key(make_agent_key(name="lapsed", expiry_date=timezone.now() - timedelta(days=1))[1])


@pytest.fixture
def bad_key(db) -> APIClient:
    return client_for_key("abcdefgh.not-a-real-key")


# --- databases -----------------------------------------------------------------------------------


@pytest.fixture
def fresh_database(transactional_db):
    """A brand-new, migrated Dolt database (not the test database), dropped afterwards."""
    from django.db import connection

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


def pytest_sessionfinish(session, exitstatus):
    # DROP DATABASE on Dolt keeps the database for dolt_undrop(); purge the dropped test DBs so
    # repeated runs do not pile them up on disk.
    try:
        conn = raw_connect(database="")
    except MySQLdb.Error:
        return
    try:
        with conn.cursor() as cursor:
            cursor.execute("CALL dolt_purge_dropped_databases()")
    except MySQLdb.Error:
        pass
    finally:
        conn.close()
