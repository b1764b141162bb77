"""Module chats and learners' OpenWebUI keys (and their part of restoring a learner's export).

Every write is one unit of work: a `dolt.atomic()` transaction (retried as a whole on Dolt's
serialization failure) that ends in one Dolt commit by the actor (`by`, youlab.actors). Nothing
here writes a learner's key in plaintext anywhere: not in a table, a history row, a Dolt commit
message, a log line or an error message. Reads are in chats.selectors.

Clearing a module chat sets its `chat_id` to "" instead of deleting the row: the triple keeps one
row (and one simple-history id) for good, so the history of every chat id it ever had, and who
cleared it when, reads as one story, and concurrent set/clear calls are plain cell-level
conflicts on one row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from youlab import dolt
from youlab.actors import Actor
from youlab.validators import validate_identifier

from . import crypto
from .exceptions import ConcurrentWrite, KeyNotFound, ModuleChatNotFound
from .models import HistoricalModuleChat, ModuleChat, OwuiKeyRead, UserApiKey, UserApiKeySecret
from .selectors import chat_triple, get_user_key_record
from .validators import validate_owui_key

logger = logging.getLogger(__name__)


class _RowTaken(Exception):
    """Our INSERT met a row a concurrent writer committed after our snapshot began."""


def _run_unit(unit):
    """Run a unit of work, retried as a whole when it loses a race with another writer.

    On Dolt, two transactions that insert the same unique key both succeed until COMMIT, where
    the second fails (1213, or 1105 "constraint violations") and `dolt.retry_on_conflict`
    re-runs it. An IntegrityError at the INSERT itself (`_RowTaken`) gets one more run too. Either
    way the re-run's fresh snapshot sees the other writer's row and updates it instead.
    """
    for _ in range(2):
        try:
            return dolt.retry_on_conflict(unit)
        except _RowTaken:
            if connection.in_atomic_block:
                break  # inside a caller's transaction our snapshot cannot move on
        except dolt.SerializationFailure as exc:
            raise ConcurrentWrite(str(exc)) from exc
    raise ConcurrentWrite("another client wrote the same row at the same time; try again")


def _insert(instance):
    try:
        with transaction.atomic():
            instance.save(force_insert=True)
    except IntegrityError as exc:
        raise _RowTaken from exc


def _stamp(instance, *, by: Actor, reason: str):
    """Who and why for the history row of the next save.

    `_history_user` is always set (None for agents) so simple-history never falls back to the
    request's user, which for API-key requests is an Agent, not a Django user.
    """
    instance._history_actor = by.history_actor
    instance._change_reason = reason
    instance._history_user = by.user


# --- module chats --------------------------------------------------------------------------------


def upsert_module_chat(
    *, user_id: str, agent_id: str, module_id: str, chat_id: str, by: Actor,
) -> tuple[ModuleChat, bool]:
    """Point the triple at `chat_id`. Returns (chat, created): created when no chat was set.

    Setting the chat it already has writes nothing.
    """
    triple = chat_triple(user_id=user_id, agent_id=agent_id, module_id=module_id)
    validate_identifier(chat_id, "chat_id")
    where = f"{triple['user_id']}/{triple['agent_id']}/{triple['module_id']}"

    def unit():
        with dolt.atomic():
            chat = ModuleChat.objects.filter(**triple).first()
            if chat is not None and chat.chat_id == chat_id:
                return chat, False
            now = timezone.now()
            created = chat is None or chat.is_cleared
            if chat is None:
                chat = ModuleChat(**triple, chat_id=chat_id, created_at=now, updated_at=now)
                _stamp(chat, by=by, reason="Set")
                _insert(chat)
            else:
                chat.chat_id = chat_id
                chat.updated_at = now
                _stamp(chat, by=by, reason="Set" if created else "Changed")
                chat.save(update_fields=["chat_id", "updated_at"])
            dolt.commit_on_success(f"Set module chat {where} -> {chat_id} ({by})", by.author)
            return chat, created

    return _run_unit(unit)


def clear_module_chat(*, user_id: str, agent_id: str, module_id: str, by: Actor) -> ModuleChat:
    """Forget the triple's chat: the next get answers ModuleChatNotFound (history keeps it)."""
    triple = chat_triple(user_id=user_id, agent_id=agent_id, module_id=module_id, lookup=True)
    where = f"{triple['user_id']}/{triple['agent_id']}/{triple['module_id']}"

    def unit():
        with dolt.atomic():
            chat = ModuleChat.objects.filter(**triple).first()
            if chat is None or chat.is_cleared:
                raise ModuleChatNotFound(f"no chat to clear for {where}")
            old_chat_id = chat.chat_id
            chat.chat_id = ""
            chat.updated_at = timezone.now()
            _stamp(chat, by=by, reason="Cleared")
            chat.save(update_fields=["chat_id", "updated_at"])
            dolt.commit_on_success(f"Clear module chat {where} (was {old_chat_id}) ({by})", by.author)
            return chat

    return _run_unit(unit)


# --- learners' OpenWebUI keys --------------------------------------------------------------------
#
# The metadata (user_api_keys) is versioned; the ciphertext (user_api_key_secrets) is kept out of
# Dolt's commits (chats.models.SECRET_TABLE). Replacing a key overwrites its ciphertext, deleting
# it deletes both rows: no commit, history table or branch ever held the old ciphertext.


def read_user_key(*, user_id: str, by: Actor, key_prefix: str = "") -> tuple[UserApiKey, str]:
    """(metadata, plaintext) of the learner's key, for an agent (`by`, its key's `key_prefix`)
    to call OpenWebUI on the learner's behalf. Every call leaves an OwuiKeyRead row (who, which
    learner, when; never the key) before the key is returned: no read goes unrecorded.

    Raises KeyNotFound, SecretsNotConfigured or SecretUndecryptable (nothing recorded then).
    """
    record = get_user_key_record(user_id=user_id)
    secret = UserApiKeySecret.objects.filter(key=record).first()
    if secret is None:  # the key was deleted between the two reads
        raise KeyNotFound(f"learner {user_id!r} has no OpenWebUI key")
    key = crypto.decrypt(secret.ciphertext)
    # Its own short write, no Dolt commit (like a proposal): the next commit takes it along.
    OwuiKeyRead.objects.create(user_id=record.user_id, agent_key_name=by.name, agent_key_prefix=key_prefix)
    return record, key


def set_user_key(*, user_id: str, key: str, by: Actor) -> tuple[UserApiKey, bool]:
    """Store (or replace) the learner's key, encrypted. Returns (record, created).

    Setting the key already stored writes nothing (unless its ciphertext had become
    undecryptable, which this repairs).
    """
    validate_identifier(user_id, "user_id")
    validate_owui_key(key)
    ciphertext = crypto.encrypt(key)  # SecretsNotConfigured before anything is written
    key_fingerprint = crypto.fingerprint(key)

    def unit():
        with dolt.atomic():
            record = UserApiKey.objects.filter(user_id=user_id).first()
            secret = UserApiKeySecret.objects.filter(key=record).first() if record is not None else None
            if secret is not None and record.fingerprint == key_fingerprint and _decrypts_to(secret, key):
                return record, False
            now = timezone.now()
            created = record is None
            if created:
                record = UserApiKey(user_id=user_id, created_at=now)
            record.fingerprint = key_fingerprint
            record.last4 = key[-4:]
            record.updated_at = now
            if created:
                _insert(record)
            else:
                record.save()
            # Overwritten in place: the old ciphertext is in no table and, this table being
            # outside version control, in no commit.
            UserApiKeySecret.objects.update_or_create(key=record, defaults={"ciphertext": ciphertext})
            dolt.commit_on_success(
                f"Set OpenWebUI key for {user_id} (fingerprint {key_fingerprint}) ({by})", by.author
            )
            return record, created

    result = _run_unit(unit)
    logger.info("OpenWebUI key set for %s (fingerprint %s) by %s", user_id, key_fingerprint, by)
    return result


def _decrypts_to(secret: UserApiKeySecret, key: str) -> bool:
    try:
        return crypto.decrypt(secret.ciphertext) == key
    except crypto.SecretUndecryptable:
        return False


def delete_user_key(*, user_id: str, by: Actor) -> None:
    validate_identifier(user_id, "user_id", lookup=True)

    def unit():
        with dolt.atomic():
            record = UserApiKey.objects.filter(user_id=user_id).first()
            if record is None:
                raise KeyNotFound(f"learner {user_id!r} has no OpenWebUI key")
            UserApiKeySecret.objects.filter(key=record).delete()
            record.delete()
            dolt.commit_on_success(f"Delete OpenWebUI key of {user_id} ({by})", by.author)

    _run_unit(unit)
    logger.info("OpenWebUI key of %s deleted by %s", user_id, by)


@dataclass
class RotationResult:
    rotated: int = 0
    unchanged: int = 0
    failed: int = 0
    failed_user_ids: list[str] = field(default_factory=list)


def rotate_all_keys() -> RotationResult:
    """Re-encrypt every stored key with the newest Fernet key.

    Idempotent: tokens already made with the newest key are left alone. Tokens no configured
    key can decrypt are counted as failed and left as they are. Only user_api_key_secrets
    changes, a table outside version control, so there is no Dolt commit to make (and none of
    the old tokens is in one).
    """
    crypto.check_configured()  # SecretsNotConfigured up front, before reading anything

    def unit():
        result = RotationResult()
        with transaction.atomic():
            secrets = UserApiKeySecret.objects.select_related("key").only("key_id", "ciphertext", "key__user_id")
            for secret in secrets.order_by("key__user_id"):
                if crypto.is_current(secret.ciphertext):
                    result.unchanged += 1
                    continue
                try:
                    ciphertext = crypto.rotate(secret.ciphertext)
                except crypto.SecretUndecryptable:
                    result.failed += 1
                    result.failed_user_ids.append(secret.key.user_id)
                    continue
                UserApiKeySecret.objects.filter(pk=secret.pk).update(ciphertext=ciphertext)
                result.rotated += 1
        return result

    result = _run_unit(unit)
    logger.info(
        "secret rotation: %s rotated, %s unchanged, %s failed",
        result.rotated, result.unchanged, result.failed,
    )
    return result


# --- restoring an export -----------------------------------------------------------------------


def restore_module_chats(*, user_id: str, chats: list[ModuleChat], history: list[list]) -> None:
    """Write a learner's module chats and their history rows as an export carried them (same
    dates, actors and reasons; `history[i]` belongs to `chats[i]`), inside the caller's
    transaction (importing.restore, which makes the Dolt commit)."""
    # bulk_create does not send signals, so no history rows are invented along the way.
    ModuleChat.objects.bulk_create(chats, batch_size=200)
    # MySQL cannot return auto-increment ids from a bulk insert: read them back by triple.
    ids = {
        (agent_id, module_id): pk
        for pk, agent_id, module_id in ModuleChat.objects.filter(user_id=user_id)
        .values_list("pk", "agent_id", "module_id")
    }
    rows = []
    for chat, chat_rows in zip(chats, history):
        for row in chat_rows:
            row.id = ids[(chat.agent_id, chat.module_id)]
            rows.append(row)
    HistoricalModuleChat.objects.bulk_create(rows, batch_size=200)
