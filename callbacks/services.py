"""The decision-callback outbox: enqueue inside the decision, claim, deliver, record, retry.

* `enqueue_decision` runs inside the decision's transaction (diffs.signals.diff_decided): the
  delivery row commits or rolls back with the decision. Nothing is sent from the request.
* `claim_due` hands due deliveries to one worker. Dolt has no row locks (select_for_update locks
  nothing), so a claim is one conditional UPDATE of the rows' leases: two workers claiming the
  same row both write its `lease_owner` cell, Dolt merges the two transactions at COMMIT and
  fails the second with 1213, and that worker looks again. A lease
  that runs out (a worker killed mid-delivery) makes the row claimable again: delivery is
  at-least-once, and receivers dedupe by the delivery id.
* `body_for` renders the body once (the diff as `GET diffs/{id}/` shows it), stored with the first
  attempt's outcome so every retry sends those exact bytes; `send` POSTs them signed
  (youlab.webhooks).
* `record_attempts` writes a round's outcomes in one transaction: marks delivered, schedules the next attempt (exponential backoff with jitter,
  1 s doubling up to 10 min) or gives up once YOULAB_WEBHOOK_RETRY_SECONDS have passed.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from diffs import selectors as diff_selectors
from diffs.api.serializers import DiffSerializer
from diffs.models import PendingDiff
from youlab import dolt, webhooks

from .models import CallbackDelivery, DeliveryStatus

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 600.0
# Longer than a claimed delivery can wait and take (two rounds of attempts of at most 2 x (5 s to
# connect + 10 s to answer) each), so a live worker's claim never runs out under it.
LEASE_SECONDS = 120


def _retry_window() -> timedelta:
    return timedelta(seconds=max(int(settings.YOULAB_WEBHOOK_RETRY_SECONDS), 0))


def _backoff_seconds(attempts: int) -> float:
    """Wait after the `attempts`-th failure: 1, 2, 4 … s (×1–1.25 jitter), at most 10 min."""
    delay = min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)
    return delay * (1 + random.random() / 4)


def enqueue_decision(*, diff: PendingDiff) -> CallbackDelivery | None:
    """The outbox row for a decided diff that asked for a callback (call inside the decision)."""
    if not diff.callback_url:
        return None
    now = timezone.now()
    return CallbackDelivery.objects.create(
        diff=diff, event=diff.status, url=diff.callback_url, status=DeliveryStatus.PENDING,
        next_attempt_at=now, give_up_at=now + _retry_window(), created_at=now,
    )


def _claimable(now):
    return Q(status=DeliveryStatus.PENDING) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))


def claim_due(*, worker: str, limit: int) -> list[CallbackDelivery]:
    """Up to `limit` due deliveries, now leased to `worker` (oldest due first).

    One conditional UPDATE claims the whole batch: if another worker's claim of any of these rows
    committed first, Dolt fails ours with 1213 and we look again (at most three times).
    """
    for _ in range(3):
        now = timezone.now()
        candidates = list(
            CallbackDelivery.objects.filter(_claimable(now), next_attempt_at__lte=now)
            .order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
        )
        if not candidates:
            return []
        lease_until = now + timedelta(seconds=LEASE_SECONDS)
        try:
            won = CallbackDelivery.objects.filter(_claimable(now), pk__in=candidates).update(
                lease_owner=worker, lease_until=lease_until
            )
        except OperationalError as exc:
            if dolt.is_serialization_failure(exc):
                continue  # another worker's claim committed first
            raise
        if not won:
            return []
        return list(CallbackDelivery.objects.filter(pk__in=candidates, lease_owner=worker, lease_until=lease_until)
                    .order_by("next_attempt_at"))
    return []


def _render_body(diff_id) -> bytes:
    """The diff exactly as `GET /api/v1/diffs/{id}/` answers it."""
    return JSONRenderer().render(DiffSerializer(diff_selectors.get_diff(diff_id)).data)


def body_for(*, delivery: CallbackDelivery) -> bytes:
    """The bytes to send: rendered at the first attempt and stored with its outcome
    (record_attempts), the same bytes on every retry."""
    if not delivery.body:
        delivery.body = _render_body(delivery.diff_id).decode("utf-8")
    return delivery.body.encode("utf-8")


def send(*, delivery: CallbackDelivery, body: bytes) -> webhooks.PostResult:
    """One attempt (no database access: safe in a worker thread)."""
    return webhooks.post_signed(delivery.url, body, delivery_id=str(delivery.pk), event=delivery.event)


def _outcome(delivery: CallbackDelivery, result: webhooks.PostResult, now) -> dict:
    changes = {
        "attempts": delivery.attempts + 1,
        "body": delivery.body,
        "last_attempt_at": now,
        "last_status_code": result.status,
        "last_error": result.error,
        "lease_owner": "",
        "lease_until": None,
    }
    if result.ok:
        changes.update(status=DeliveryStatus.DELIVERED, delivered_at=now)
    elif not result.retry or now >= delivery.give_up_at:
        changes.update(status=DeliveryStatus.FAILED)
    else:
        changes.update(next_attempt_at=min(now + timedelta(seconds=_backoff_seconds(changes["attempts"])),
                                           delivery.give_up_at))
    return changes


def record_attempts(*, attempts: list[tuple[CallbackDelivery, webhooks.PostResult]], worker: str) -> list[CallbackDelivery]:
    """Write what a round of attempts did, in one transaction (one COMMIT for the round)."""
    now = timezone.now()
    outcomes = [(delivery, _outcome(delivery, result, now)) for delivery, result in attempts]

    def unit():
        with transaction.atomic():
            for delivery, changes in outcomes:
                CallbackDelivery.objects.filter(pk=delivery.pk, lease_owner=worker).update(**changes)

    dolt.retry_on_conflict(unit)
    for delivery, changes in outcomes:
        for name, value in changes.items():
            setattr(delivery, name, value)
    return [delivery for delivery, _ in outcomes]


def record_attempt(*, delivery: CallbackDelivery, result: webhooks.PostResult, worker: str) -> CallbackDelivery:
    return record_attempts(attempts=[(delivery, result)], worker=worker)[0]


def deliver(*, delivery: CallbackDelivery, worker: str) -> CallbackDelivery:
    """Render (first time), send and record one attempt, in the calling thread."""
    return record_attempt(delivery=delivery, result=send(delivery=delivery, body=body_for(delivery=delivery)), worker=worker)


def retry_now(*, deliveries) -> int:
    """Staff's "retry now": pending or failed deliveries become due at once with a fresh retry
    window. Delivered ones are left alone. Returns how many were rescheduled."""
    now = timezone.now()
    pks = [d.pk for d in deliveries if d.status != DeliveryStatus.DELIVERED]
    if not pks:
        return 0
    return dolt.retry_on_conflict(
        lambda: CallbackDelivery.objects.filter(pk__in=pks).exclude(status=DeliveryStatus.DELIVERED).update(
            status=DeliveryStatus.PENDING, next_attempt_at=now, give_up_at=now + _retry_window(),
            lease_owner="", lease_until=None,
        )
    )
