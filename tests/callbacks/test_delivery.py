"""Decision callbacks end to end: a real receiver over HTTP, the real worker process, Dolt."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection
from rest_framework.test import APIClient

from blocks import services as block_services
from blocks.models import Block
from callbacks.models import CallbackDelivery, DeliveryStatus
from diffs import services as diff_services
from diffs.models import DiffStatus, PendingDiff
from diffs.signals import diff_decided
from tests.factories import make_block
from tests.support import api
from youlab import dolt
from youlab.actors import Actor

from .conftest import running_receiver

pytestmark = pytest.mark.slow

STUDENT = "# Student\nName: Maya\nGoal: write about the bakery\n"


def propose(agent_client, label, body, callback_url):
    response = agent_client.post(api("users", "maya", "blocks", label, "diffs"),
                                 {**body, "callback_url": callback_url}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def as_api_shows(diff_id) -> dict:
    client = APIClient()
    client.force_login(_reviewer())
    return client.get(api("diffs", diff_id)).json()


_reviewers = {}


def _reviewer():
    from django.contrib.auth import get_user_model

    if "rita" not in _reviewers or not get_user_model().objects.filter(pk=_reviewers["rita"].pk).exists():
        _reviewers["rita"] = get_user_model().objects.create_user(
            username="rita", password="pw-rita-123", email="rita@example.org", is_staff=True, is_superuser=True)
    return _reviewers["rita"]


def test_approve_reject_conflict_each_deliver_one_signed_callback_within_5_s(worker, receiver, agent):
    make_block(owner_id="maya", label="student", content=STUDENT, dolt_commit=True)
    make_block(owner_id="maya", label="goals", content="- bakery essay\n", dolt_commit=True)
    url = receiver.url("/hooks/tutor?run=7")
    approved = propose(agent, "student", {"operation": "append", "text": "Likes chess"}, url)
    rejected = propose(agent, "goals", {"operation": "append", "text": "- poem"}, url)
    conflicting = propose(agent, "student", {"operation": "str_replace", "old_str": "Name: Maya",
                                             "new_str": "Name: Maya Tran"}, url)
    reviewer = _reviewer()

    decided_at = {}
    diff_services.approve_diff(diff_id=approved, by=Actor.staff(reviewer))
    decided_at[approved] = time.monotonic()
    diff_services.reject_diff(diff_id=rejected, by=Actor.staff(reviewer), reason="Not what she said.")
    decided_at[rejected] = time.monotonic()
    block = Block.objects.get(owner_id="maya", label="student")
    block_services.update_block_content(block=block, content=block.content.replace("Name: Maya", "Name: M."),
                                        by=Actor.system(), reason="a staff edit in between")
    conflict = diff_services.approve_diff(diff_id=conflicting, by=Actor.staff(reviewer))
    decided_at[conflicting] = time.monotonic()
    assert conflict.status == DiffStatus.CONFLICT

    arrived = receiver.wait_for(3, timeout=5 + 1)
    time.sleep(1.0)  # nothing else comes: one callback per decision
    assert len(receiver.received) == 3
    by_diff = {r.json()["id"]: r for r in arrived}
    assert set(by_diff) == {approved, rejected, conflicting}
    for diff_id, status in ((approved, "approved"), (rejected, "rejected"), (conflicting, "conflict")):
        callback = by_diff[diff_id]
        assert callback.at - decided_at[diff_id] < 5.0
        assert callback.path == "/hooks/tutor?run=7"
        assert callback.signature_ok()
        assert callback.headers["content-type"] == "application/json"
        assert callback.headers["x-youlab-event"] == status
        assert abs(int(callback.headers["x-youlab-timestamp"]) - time.time()) < 30
        delivery = CallbackDelivery.objects.get(diff_id=diff_id)
        assert callback.headers["x-youlab-delivery"] == str(delivery.pk)
        assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
        assert delivery.event == status and delivery.last_status_code == 200
        # The diff exactly as GET diffs/{id}/ shows it.
        assert callback.json() == as_api_shows(diff_id)
        assert callback.json()["status"] == status
        # Nothing but the signatures derived from the secret travels.
        assert SECRET_NOT_IN(callback)
    assert by_diff[conflicting].json()["conflict_reason"]
    assert by_diff[rejected].json()["review_note"] == "Not what she said."


def SECRET_NOT_IN(callback) -> bool:  # noqa: N802
    from .conftest import SECRET

    return SECRET not in callback.body.decode() and all(SECRET not in v for v in callback.headers.values())


def test_a_receiver_failing_twice_gets_the_same_delivery_three_times_then_delivered(worker, agent):
    make_block(owner_id="maya", label="student", content=STUDENT, dolt_commit=True)
    with running_receiver(answers=[500, 503]) as flaky:
        diff_id = propose(agent, "student", {"operation": "append", "text": "Likes chess"}, flaky.url())
        diff_services.approve_diff(diff_id=diff_id, by=Actor.staff(_reviewer()))
        calls = flaky.wait_for(3, timeout=15)
        time.sleep(0.5)
        assert len(flaky.received) == 3
    delivery = CallbackDelivery.objects.get(diff_id=diff_id)
    assert [c.headers["x-youlab-delivery"] for c in calls] == [str(delivery.pk)] * 3
    assert len({c.body for c in calls}) == 1  # the exact same bytes every time
    assert all(c.signature_ok() for c in calls)
    assert calls[1].at - calls[0].at >= 0.9 and calls[2].at - calls[1].at >= 1.9  # backoff 1 s, 2 s
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 3
    assert delivery.last_error == "" and delivery.delivered_at is not None


def test_a_decision_whose_transaction_rolls_back_sends_nothing(worker, receiver, agent):
    make_block(owner_id="maya", label="student", content=STUDENT, dolt_commit=True)
    diff_id = propose(agent, "student", {"operation": "append", "text": "Likes chess"}, receiver.url())
    outbox_rows_seen = []

    def fail_after_the_outbox_row(sender, diff, **kwargs):
        # Runs after the callbacks receiver wrote its row, inside the decision's transaction.
        outbox_rows_seen.append(CallbackDelivery.objects.filter(diff_id=diff.pk).count())
        raise RuntimeError("the decision fails after its outbox row was written")

    diff_decided.connect(fail_after_the_outbox_row)
    try:
        with pytest.raises(RuntimeError):
            diff_services.approve_diff(diff_id=diff_id, by=Actor.staff(_reviewer()))
    finally:
        diff_decided.disconnect(fail_after_the_outbox_row)
    assert outbox_rows_seen == [1]  # it was written, in the same transaction…
    time.sleep(2.0)
    assert receiver.received == []  # …and rolled back with the decision: nothing is sent
    assert not CallbackDelivery.objects.exists()
    assert PendingDiff.objects.get(pk=diff_id).status == DiffStatus.PENDING


def test_deliveries_stay_out_of_dolt_commits(worker, receiver, agent):
    make_block(owner_id="maya", label="student", content=STUDENT, dolt_commit=True)
    diff_id = propose(agent, "student", {"operation": "append", "text": "Likes chess"}, receiver.url())
    diff_services.approve_diff(diff_id=diff_id, by=Actor.staff(_reviewer()))
    receiver.wait_for(1, timeout=5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT message FROM dolt_log LIMIT 1")
        assert cursor.fetchone()[0].startswith(f"Approve diff {diff_id}")
        cursor.execute("SHOW TABLES AS OF 'HEAD'")
        committed = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT COUNT(*) FROM callback_deliveries")
        assert cursor.fetchone()[0] == 1  # the row is there (working set) …
    assert "pending_diffs" in committed and "callback_deliveries" not in committed  # … never committed
    assert "callback_deliveries" not in {t for t, _, _ in dolt.status()}
    assert "callback_deliveries" not in {c.table for c in dolt.uncommitted_changes()}
