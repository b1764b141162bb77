import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from blocks.models import OwnerType
from youlab.fields import IDENTIFIER_COLLATION, JSONField


class Operation(models.TextChoices):
    APPEND = "append", "append"
    STR_REPLACE = "str_replace", "str_replace"
    INSERT = "insert", "insert"
    RETHINK = "rethink", "rethink"
    CREATE = "create", "create"


class DiffStatus(models.TextChoices):
    PENDING = "pending", "pending"
    APPROVED = "approved", "approved"
    REJECTED = "rejected", "rejected"
    CONFLICT = "conflict", "conflict"
    SUPERSEDED = "superseded", "superseded"


class PendingDiff(models.Model):
    """An agent's proposed change to one block, waiting for (or decided by) a reviewer."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The target. `block` is empty for a `create` proposal until it is approved.
    owner_type = models.CharField(max_length=16, choices=OwnerType.choices, default=OwnerType.USER)
    owner_id = models.CharField(max_length=255, db_collation=IDENTIFIER_COLLATION)
    label = models.CharField(max_length=255, db_collation=IDENTIFIER_COLLATION)
    block = models.ForeignKey(
        "blocks.Block", null=True, blank=True, on_delete=models.SET_NULL, related_name="diffs"
    )
    operation = models.CharField(max_length=32, choices=Operation.choices)
    arguments = JSONField(default=dict, blank=True, help_text="As sent by the agent.")
    proposed_content = models.TextField(
        blank=True, default="", help_text="The block's full text if applied at proposal time."
    )
    preview = models.TextField(blank=True, default="", help_text="Unified diff at proposal time.")
    base_version = models.PositiveIntegerField(null=True, blank=True)
    reasoning = models.TextField(blank=True, default="")
    agent_key_name = models.CharField(max_length=255, blank=True, default="")
    agent_id = models.CharField(max_length=255, blank=True, default="")
    # Indexed with created_at (diffs_status_created): a lone status index would tempt Dolt's
    # planner into slow sorts for the queue's filters.
    status = models.CharField(max_length=16, choices=DiffStatus.choices, default=DiffStatus.PENDING)
    conflict_reason = models.TextField(blank=True, default="")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reviewed_diffs",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True, default="")
    applied_version = models.PositiveIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    response_body = JSONField(null=True, blank=True, help_text="First answer, for replays.")
    metadata = JSONField(default=dict, blank=True)
    # Where the decision is POSTed (callbacks app), checked against YOULAB_WEBHOOK_HOSTS when proposed.
    callback_url = models.CharField(max_length=2000, blank=True, default="")
    import_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "pending_diffs"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent_key_name", "idempotency_key"],
                name="pending_diffs_unique_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["owner_type", "owner_id", "status"], name="diffs_owner_status"),
            models.Index(fields=["status", "created_at"], name="diffs_status_created"),
            models.Index(fields=["label"], name="diffs_label"),
            # The open-proposal cap (services._check_open_proposals) counts one key's pending
            # proposals for one block. Without this index Dolt's planner takes the idempotency
            # key's (agent_key_name first) and walks every diff the key ever made; with the same
            # first column and a longer match, it takes this one.
            models.Index(fields=["agent_key_name", "owner_type", "owner_id", "label", "status"],
                         name="diffs_open_per_key"),
        ]

    def __str__(self):
        return f"{self.operation} {self.owner_id}/{self.label} ({self.status})"

    @property
    def is_stale(self):
        """The block moved on since the proposal was made."""
        return (
            self.block_id is not None
            and self.base_version is not None
            and self.block.version != self.base_version
        )

    @property
    def is_rebase(self) -> bool:
        """Approved onto a newer version than the one it was proposed against."""
        return (
            self.status == DiffStatus.APPROVED
            and self.base_version is not None
            and self.applied_version is not None
            and self.applied_version - 1 != self.base_version
        )


class ProposalClaim(models.Model):
    """An Idempotency-Key being acted on right now, or just refused (diffs.services.propose_diff).

    Dolt has no row locks and merges concurrent transactions at COMMIT, so "look the key up, then
    insert the diff" lets two requests with the same key both miss the other one. The first
    request instead claims the key: one row per (agent key, Idempotency-Key), inserted in its own
    short transaction, with a random token so that two concurrent claims are different rows under
    one primary key (Dolt lets identical concurrent inserts both commit; different ones conflict).
    The others wait. A stored diff answers them (the replay); a refusal is kept here for a few
    seconds (`refusal`) so that requests already waiting get that same refusal; then the row goes.
    """

    id = models.CharField(primary_key=True, max_length=64, help_text="SHA-256 of agent key name and key.")
    token = models.UUIDField()
    fingerprint = models.CharField(max_length=64, blank=True, default="")
    claimed_at = models.DateTimeField(default=timezone.now)
    refusal = JSONField(null=True, blank=True, help_text="status, code, message, details of a refusal")
    refused_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "proposal_claims"
