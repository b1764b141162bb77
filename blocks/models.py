import functools
import uuid


from django.db import models
from django.utils import timezone
from simple_history.manager import HistoryManager
from simple_history.models import HistoricalRecords

from youlab.fields import IDENTIFIER_COLLATION, JSONField


class OwnerType(models.TextChoices):
    USER = "user", "Learner"
    SHARED = "shared", "Shared namespace"


class BlockHistoryBase(models.Model):
    """Columns block_history has beyond simple-history's own."""

    # Who made the change: "staff:<username>", "agent:<key name>", "import:letta",
    # "import:youlab_v1" or "system". history_user stays set for staff changes too.
    actor = models.CharField(max_length=255, default="system")
    diff = models.ForeignKey(
        "diffs.PendingDiff",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,  # history outlives whatever it points at
        help_text="The pending diff whose approval made this version.",
    )
    # The version's id in an import source (Letta block_history id, git commit); a re-run of an
    # import skips versions whose key is already here.
    import_key = models.CharField(max_length=255, null=True, blank=True, db_index=True)

    class Meta:
        abstract = True


class BlockHistoryManager(HistoryManager):
    """simple-history's manager, its class made once per queryset class: simple-history makes a
    new one (Django's from_queryset: dir() and inspect over the queryset) on every
    `Block.history` access, and every block write makes one (0.1 ms of an approval)."""

    @classmethod
    @functools.cache
    def from_queryset(cls, queryset_class, class_name=None):
        return super().from_queryset(queryset_class, class_name)


class BlockHistoricalRecords(HistoricalRecords):
    """simple-history for blocks, with one history row per version, never two."""

    def get_meta_options(self, model):
        meta = super().get_meta_options(model)
        meta["constraints"] = [
            models.UniqueConstraint(fields=["id", "version"], name="block_history_unique_version"),
        ]
        meta["ordering"] = ("-history_date", "-history_id")
        return meta


class Block(models.Model):
    """One memory block, owned by a learner or by a shared namespace (e.g. a course)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner_type = models.CharField(max_length=16, choices=OwnerType.choices, default=OwnerType.USER)
    owner_id = models.CharField(
        max_length=255,
        db_collation=IDENTIFIER_COLLATION,
        help_text="The learner's OpenWebUI user id, or the shared namespace.",
    )
    label = models.CharField(max_length=255, db_collation=IDENTIFIER_COLLATION)
    content = models.TextField(blank=True, default="")  # LONGTEXT on MySQL/Dolt
    description = models.TextField(blank=True, default="")
    char_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Maximum length in characters; empty means no limit."
    )
    read_only = models.BooleanField(default=False, help_text="Agents may not propose changes.")
    metadata = JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    history = BlockHistoricalRecords(
        table_name="block_history",
        bases=[BlockHistoryBase],
        history_change_reason_field=models.TextField(null=True),
        user_related_name="+",
        cascade_delete_history=True,
        history_manager=BlockHistoryManager,
    )

    class Meta:
        db_table = "blocks"
        ordering = ["owner_type", "owner_id", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner_type", "owner_id", "label"], name="blocks_unique_owner_label"
            ),
        ]
        indexes = [
            models.Index(fields=["updated_at"], name="blocks_updated_at"),
            models.Index(fields=["deleted_at"], name="blocks_deleted_at"),
        ]

    def __str__(self):
        return f"{self.owner_display}/{self.label}"

    @property
    def owner_display(self):
        if self.owner_type == OwnerType.SHARED:
            return f"shared:{self.owner_id}"
        return self.owner_id

    @property
    def is_deleted(self):
        return self.deleted_at is not None

    @property
    def is_shared(self):
        return self.owner_type == OwnerType.SHARED


HistoricalBlock = Block.history.model


