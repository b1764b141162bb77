import uuid

from django.db import models
from django.utils import timezone


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"  # due now or retrying later (next_attempt_at)
    DELIVERED = "delivered", "delivered"
    FAILED = "failed", "failed"  # gave up (retry window over, or the URL is no longer allowed)


class CallbackDelivery(models.Model):
    """One decision to POST to an agent's callback_url: the transactional outbox.

    Written in the decision's own transaction (so a rolled-back decision leaves none), delivered
    by `manage.py deliver_callbacks` after it commits. The table is in `dolt_ignore`
    (migration 0001): attempts and errors are operational bookkeeping, not learner data, so no
    Dolt commit carries them (docs/agents.md).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False,
                          help_text="Sent as X-YouLab-Delivery; the same on every attempt.")
    # No database constraint: this table is outside Dolt's commits and must not tie them.
    diff = models.ForeignKey("diffs.PendingDiff", on_delete=models.CASCADE, db_constraint=False,
                             related_name="callback_deliveries")
    event = models.CharField(max_length=16, help_text="The decision: approved, rejected, conflict, superseded.")
    url = models.CharField(max_length=2000)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    give_up_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    # The exact bytes sent (rendered at the first attempt; every retry sends them again).
    body = models.TextField(blank=True, default="")
    # A worker's claim: claims are conflict-safe on Dolt (see callbacks.services.claim_due).
    lease_owner = models.CharField(max_length=100, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "callback_deliveries"
        ordering = ["-created_at"]
        verbose_name = "callback delivery"
        verbose_name_plural = "callback deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="callbacks_due")]
        permissions = [("retry_callbackdelivery", "Can retry callback deliveries now")]

    def __str__(self):
        return f"{self.event} of diff {self.diff_id} → {self.url} ({self.status})"
