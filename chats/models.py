from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from blocks.models import IDENTIFIER_COLLATION


class ModuleChatHistoryBase(models.Model):
    """Columns module_chat_history has beyond simple-history's own."""

    # Who set or cleared the chat: "agent:<key name>", "staff:<username>", "system", ...
    # Agents are not Django users, so history_user alone cannot say which agent it was.
    actor = models.CharField(max_length=255, default="system")

    class Meta:
        abstract = True


class ModuleChat(models.Model):
    """Which OpenWebUI chat belongs to a (learner, agent, module).

    One row per triple, for good: clearing sets `chat_id` to "" (the next GET answers 404 and the
    caller starts a new chat), so every chat id the triple ever had stays in its history.
    """

    user_id = models.CharField(max_length=255, db_collation=IDENTIFIER_COLLATION)
    agent_id = models.CharField(max_length=255, db_collation=IDENTIFIER_COLLATION)
    module_id = models.CharField(max_length=255, db_collation=IDENTIFIER_COLLATION)
    chat_id = models.CharField(max_length=255, blank=True, help_text="Empty when cleared.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    # Past chat ids, who changed or cleared them, and when.
    history = HistoricalRecords(
        table_name="module_chat_history",
        user_related_name="+",
        bases=[ModuleChatHistoryBase],
    )

    class Meta:
        db_table = "module_chats"
        ordering = ["user_id", "agent_id", "module_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "agent_id", "module_id"], name="module_chats_unique_triple"
            ),
        ]

    def __str__(self):
        return f"{self.user_id} · {self.agent_id} · {self.module_id} → {self.chat_id or '(cleared)'}"

    @property
    def is_cleared(self):
        return not self.chat_id


HistoricalModuleChat = ModuleChat.history.model


class UserApiKey(models.Model):
    """A learner's OpenWebUI API key. Only ciphertext is stored (see chats.crypto).

    Deliberately without HistoricalRecords: a history table would keep every key forever.
    """

    user_id = models.CharField(max_length=255, unique=True, db_collation=IDENTIFIER_COLLATION)
    ciphertext = models.TextField()
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the key, first 16 hex.")
    last4 = models.CharField(max_length=4)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "user_api_keys"
        ordering = ["user_id"]
        verbose_name = "learner OpenWebUI key"

    def __str__(self):
        return f"{self.user_id}: …{self.last4}"

    @property
    def masked(self):
        return f"…{self.last4} ({self.fingerprint})"
