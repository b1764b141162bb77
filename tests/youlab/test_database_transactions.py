"""youlab.database: a transaction starts with START TRANSACTION and leaves the session in
autocommit mode, so no round trip switches autocommit off before it or on after it."""

import pytest
from django.db import connection, transaction

from blocks.models import Block
from tests.conftest import raw_connect
from tests.factories import make_block


def labels_seen_by_another_session() -> list[str]:
    other = raw_connect()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT label FROM blocks WHERE owner_id = 'maya' ORDER BY label")
            return [row[0] for row in cursor.fetchall()]
    finally:
        other.close()


@pytest.fixture
def autocommit_switches(transactional_db):
    """Every autocommit switch Django's connection sends from now on."""
    connection.ensure_connection()
    raw = connection.connection
    switches = []

    def spy(on, _switch=raw.autocommit):
        switches.append(on)
        return _switch(on)

    raw.autocommit = spy
    yield switches
    connection.close()  # the spied connection is not reused


def test_transactions_commit_and_roll_back_without_switching_autocommit(autocommit_switches):
    with transaction.atomic():
        make_block(owner_id="maya", label="student")
        assert labels_seen_by_another_session() == []  # inside the transaction: not yet
        assert Block.objects.filter(owner_id="maya").count() == 1
    assert labels_seen_by_another_session() == ["student"]

    with pytest.raises(RuntimeError), transaction.atomic():
        make_block(owner_id="maya", label="journey")
        raise RuntimeError("undo")
    assert labels_seen_by_another_session() == ["student"]

    make_block(owner_id="maya", label="persona")  # outside a transaction: committed at once
    assert labels_seen_by_another_session() == ["persona", "student"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@autocommit")
        assert cursor.fetchone()[0] == 1
    assert autocommit_switches == []


def test_autocommit_switched_off_by_hand_is_switched_back_on(autocommit_switches):
    connection.set_autocommit(False)
    make_block(owner_id="maya", label="student")
    connection.commit()
    connection.set_autocommit(True)
    assert autocommit_switches == [False, True]
    make_block(owner_id="maya", label="journey")
    assert labels_seen_by_another_session() == ["journey", "student"]
