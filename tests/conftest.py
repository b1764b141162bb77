"""Test-suite plumbing: every test talks to the real dolt sql-server over TCP.

`make test` starts the server (scripts/dolt.sh); pytest-django creates `test_<db>` on it with
utf8mb4_0900_ai_ci. If the server is not there the run fails at database setup: no test is
skipped for a missing Dolt.
"""

import MySQLdb
import pytest
from django.conf import settings


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
