from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from youlab.fields import IDENTIFIER_COLLATION


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
    """A learner's OpenWebUI API key: what staff may see of it (fingerprint, last 4, dates).

    Versioned like every other table (who set which key when is in Dolt's history), but the
    ciphertext is not here: it lives in UserApiKeySecret, a table Dolt never commits, so a
    replaced or deleted key leaves nothing decryptable in any commit (docs/security.md).
    Deliberately without HistoricalRecords for the same reason.
    """

    user_id = models.CharField(max_length=255, unique=True, db_collation=IDENTIFIER_COLLATION)
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


# Listed in dolt_ignore by migration 0004 before the table is created: Dolt keeps it in the
# working set (so the live database, a sql-server cluster's standbys and `dolt backup` have it)
# but never in a commit, so no dolt_history_*, dolt_diff_*, AS OF or branch shows an old value.
SECRET_TABLE = "user_api_key_secrets"


class UserApiKeySecret(models.Model):
    """The ciphertext of a learner's OpenWebUI key (MultiFernet, chats.crypto), outside Dolt's
    versioned history. Replacing the key overwrites the row, deleting it deletes the row: the old
    ciphertext is then in no table and no commit."""

    # No database foreign key: the row lives outside versioned history, where a branch made for
    # an import does not have this table at all (chats.services keeps the two in step).
    key = models.OneToOneField(
        UserApiKey, primary_key=True, on_delete=models.CASCADE, db_constraint=False,
        related_name="secret",
    )
    ciphertext = models.TextField()

    class Meta:
        db_table = SECRET_TABLE


class OwuiKeyRead(models.Model):
    """One plaintext read of a learner's OpenWebUI key by an agent key (never the key itself)."""

    user_id = models.CharField(max_length=255, db_collation=IDENTIFIER_COLLATION)
    agent_key_name = models.CharField(max_length=255)
    agent_key_prefix = models.CharField(max_length=16, blank=True, default="")
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "owui_key_reads"
        ordering = ["-read_at", "-id"]
        indexes = [models.Index(fields=["user_id", "read_at"], name="owui_key_reads_user_read")]
        verbose_name = "OpenWebUI key read"

    def __str__(self):
        return f"{self.user_id}: read by {self.agent_key_name} at {self.read_at:%Y-%m-%d %H:%M:%S}"
