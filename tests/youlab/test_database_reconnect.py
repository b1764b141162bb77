"""A reused connection is checked by a request's first statement, not by a ping before it
(youlab.database): one the server dropped while idle is opened again and the request answers."""

from django.db import connection, transaction

from blocks.models import Block
from tests.conftest import raw_connect
from tests.factories import make_block
from tests.support import api


def connection_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        return cursor.fetchone()[0]


def drop_between_requests() -> int:
    """End a request as Django's handler does (the test client skips it), then have the server
    drop the connection that stays open for the next request; its id."""
    dropped = connection_id()
    connection.close_if_unusable_or_obsolete()
    admin = raw_connect()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"KILL {int(dropped)}")
    finally:
        admin.close()
    return dropped


def test_a_read_after_the_server_dropped_the_connection_answers(transactional_db, agent):
    make_block(owner_id="maya", label="student", content="likes chess")
    assert agent.get(api("users", "maya", "blocks", "student")).status_code == 200
    dropped = drop_between_requests()
    response = agent.get(api("users", "maya", "blocks", "student"))
    assert response.status_code == 200 and response.json()["content"] == "likes chess"
    assert connection_id() != dropped


def test_a_proposal_after_the_server_dropped_the_connection_is_stored_once(transactional_db, agent):
    make_block(owner_id="maya", label="student", content="likes chess")
    drop_between_requests()
    response = agent.post(api("users", "maya", "blocks", "student", "diffs"),
                          {"operation": "append", "text": "\nand go"}, format="json")
    assert response.status_code == 201, response.content[:300]
    assert agent.get(api("users", "maya", "diffs")).json()["count"] == 1


def test_a_transaction_opened_on_a_dropped_connection_runs_on_a_new_one(transactional_db):
    make_block(owner_id="maya", label="student")
    dropped = drop_between_requests()
    with transaction.atomic():
        assert Block.objects.filter(owner_id="maya").count() == 1
    assert connection_id() != dropped
