"""A learner's data as one JSON document ("youlab-export", docs/export.md).

`build_user_export` (a read, used by the API route and `export_user`) and
`parse_export_document` (validation for `import_export`; the writing is
`importing.restore.import_user_export`).

Rows are written out column by column from the models' own fields, so a column added to a table
appears in the export (and is restored by the import) without code here changing. Surrogate
integer ids (history_id, module chat id) are left out: they mean nothing in another database.
Users appear by username.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from blocks.models import Block, HistoricalBlock, OwnerType
from chats.models import HistoricalModuleChat, ModuleChat, UserApiKey
from diffs.models import PendingDiff
from learners.models import HistoricalLearner, Learner
from youlab.errors import ServiceError
from youlab.validators import validate_identifier as validate_id

from .exceptions import InvalidExportDocument

FORMAT = "youlab-export"
FORMAT_VERSION = 2  # 2 added `profile`; version 1 documents (without it) are still read
READABLE_VERSIONS = (1, 2)
TOP_LEVEL_KEYS = (
    "format", "format_version", "exported_at", "user_id", "profile", "blocks", "diffs",
    "module_chats", "owui_key",
)
KEYS_ADDED = {"profile": 2}  # key: the format version that added it
# Keys that describe the export itself, not the learner's data.
EXPORT_ONLY_KEYS = {"exported_at"}


@cache
def _fields(model) -> list[models.Field]:
    excluded = {
        Block: set(),
        HistoricalBlock: {"id", "history_id"},  # id is the enclosing block's
        # Idempotency internals: the first answer replayed for a retried proposal.
        PendingDiff: {"idempotency_key", "request_fingerprint", "response_body",
                      # An agent's own address (a token in it stays that agent's; design: never shown).
                      "callback_url"},
        ModuleChat: {"id"},
        HistoricalModuleChat: {"id", "history_id"},
        Learner: {"id"},
        HistoricalLearner: {"id", "history_id"},
    }[model]
    return [f for f in model._meta.concrete_fields if f.name not in excluded]


def _is_user_fk(f: models.Field) -> bool:
    return f.is_relation and f.related_model._meta.label == settings.AUTH_USER_MODEL


def _key(f: models.Field) -> str:
    """Document key of a column: its name; `<name>_id` for links to other rows."""
    return f.attname if f.is_relation and not _is_user_fk(f) else f.name


# --- writing -------------------------------------------------------------------------------------


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _plain(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return _iso(value)
    return value


def _dump(instance, model) -> dict:
    row = {}
    for f in _fields(model):
        if _is_user_fk(f):
            user = getattr(instance, f.name)
            row[f.name] = user.get_username() if user is not None else None
        else:
            row[_key(f)] = _plain(getattr(instance, f.attname))
    return row


def build_user_export(user_id: str) -> dict:
    """Everything about a learner except secrets, read from one snapshot."""
    validate_id(user_id, "user_id")
    # One transaction = one snapshot (Dolt is REPEATABLE READ): the parts agree with each other.
    with transaction.atomic():
        blocks = list(
            Block.objects.filter(owner_type=OwnerType.USER, owner_id=user_id).order_by("label", "id")
        )
        block_history = defaultdict(list)
        for row in (
            HistoricalBlock.objects.filter(id__in=[b.pk for b in blocks])
            .select_related("history_user")
            .order_by("version", "history_date", "history_id")
        ):
            block_history[row.id].append(_dump(row, HistoricalBlock))
        diffs = list(
            PendingDiff.objects.filter(owner_type=OwnerType.USER, owner_id=user_id)
            .select_related("reviewer")
            .order_by("created_at", "id")
        )
        chats = {(c.agent_id, c.module_id): c for c in ModuleChat.objects.filter(user_id=user_id)}
        chat_history = defaultdict(list)
        for row in (
            HistoricalModuleChat.objects.filter(user_id=user_id)
            .select_related("history_user")
            .order_by("history_date", "history_id")
        ):
            if row.user_id == user_id:  # the history column compares case-insensitively
                chat_history[(row.agent_id, row.module_id)].append(row)
        profile = Learner.objects.filter(user_id=user_id).first()
        # By the row's id: learner_history.user_id compares case- and accent-insensitively
        # (simple-history does not copy the binary collation), so "Maya" would match "maya".
        profile_history = list(
            HistoricalLearner.objects.filter(id=profile.pk).select_related("history_user")
            .order_by("history_date", "history_id")
        ) if profile is not None else []
        # Only the display columns: the ciphertext is never even read.
        key = (
            UserApiKey.objects.filter(user_id=user_id)
            .values("fingerprint", "last4", "created_at", "updated_at")
            .first()
        )

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": _iso(timezone.now()),
        "user_id": user_id,
        "profile": (
            {**_dump(profile, Learner), "history": [_dump(r, HistoricalLearner) for r in profile_history]}
            if profile is not None else None
        ),
        "blocks": [{**_dump(b, Block), "history": block_history[b.pk]} for b in blocks],
        "diffs": [_dump(d, PendingDiff) for d in diffs],
        "module_chats": [
            {**_dump_chat(chats.get(triple), chat_history[triple], user_id),
             "history": [_dump(r, HistoricalModuleChat) for r in chat_history[triple]]}
            for triple in sorted(chats.keys() | chat_history.keys())
        ],
        "owui_key": {
            "present": key is not None,
            **{name: _plain(key[name]) if key else None
               for name in ("fingerprint", "last4", "created_at", "updated_at")},
        },
    }


def _dump_chat(chat, history, user_id) -> dict:
    if chat is not None:
        return _dump(chat, ModuleChat)
    # History without a row (deleted outside the services): written as a cleared chat, which is
    # what it means to callers, so the import restores it as one.
    return {
        **_dump(history[-1], ModuleChat),
        "user_id": user_id,
        "chat_id": "",
        "created_at": _iso(history[0].created_at),
    }


# --- reading -------------------------------------------------------------------------------------


@dataclass
class ParsedExport:
    """Unsaved model instances ready for bulk_create, in the order they must be written."""

    user_id: str
    blocks: list = field(default_factory=list)
    block_history: list = field(default_factory=list)
    diffs: list = field(default_factory=list)
    chats: list = field(default_factory=list)
    chat_history: list = field(default_factory=list)  # one list per chat, same order as chats
    profile: Learner | None = None
    profile_history: list = field(default_factory=list)
    # (instance, attname, username): filled with the local user's id at import time.
    user_links: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    @property
    def block_ids(self):
        return [b.pk for b in self.blocks]

    @property
    def diff_ids(self):
        return [d.pk for d in self.diffs]


_POSITIVE_INTEGER_FIELDS = (
    models.PositiveIntegerField, models.PositiveSmallIntegerField, models.PositiveBigIntegerField,
)


def _invalid(path: str, problem: str):
    return InvalidExportDocument(f"{path}: {problem}", details={"path": path})


def _not_theirs(path, row, user_id):
    return _invalid(path, f"belongs to {row.owner_type}:{row.owner_id}, not learner {user_id}")


def _list_of_objects(value, path) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _invalid(path, "expected a list of objects")
    return value


def _parse_value(f: models.Field, value, path: str):
    if value is None:
        if f.null:
            return None
        raise _invalid(path, "may not be null")
    target = f.target_field if f.is_relation else f
    if isinstance(target, models.UUIDField):
        try:
            return uuid.UUID(value)
        except (AttributeError, ValueError, TypeError):
            raise _invalid(path, "expected a UUID") from None
    if isinstance(target, models.DateTimeField):
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None or parsed.tzinfo is None:
            raise _invalid(path, "expected an ISO 8601 date-time with a time zone")
        return parsed
    if isinstance(target, models.BooleanField):
        if not isinstance(value, bool):
            raise _invalid(path, "expected true or false")
        return value
    if isinstance(target, (models.IntegerField, models.AutoField)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid(path, "expected an integer")
        if isinstance(target, _POSITIVE_INTEGER_FIELDS) and value < 0:
            raise _invalid(path, "expected a non-negative integer")
        return value
    if isinstance(target, (models.CharField, models.TextField)):
        if not isinstance(value, str):
            raise _invalid(path, "expected a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid(path, "holds a lone surrogate (not valid Unicode)") from None
        if target.max_length is not None and len(value) > target.max_length:
            raise _invalid(path, f"longer than {target.max_length} characters")
    if f.choices and value not in {choice for choice, _ in f.flatchoices}:
        raise _invalid(path, f"must be one of {', '.join(str(c) for c, _ in f.flatchoices)}")
    return value  # JSON columns take any JSON value


def _load(model, data: dict, path: str, parsed: ParsedExport, *, ignore=()):
    """One row of the document → an unsaved instance; user links are noted for later."""
    fields = _fields(model)
    unknown = set(data) - {_key(f) for f in fields} - set(ignore)
    if unknown:
        raise _invalid(path, f"unknown field(s) {', '.join(sorted(unknown))}")
    values, links = {}, []
    for f in fields:
        key = _key(f)
        if key not in data:
            if f.has_default() or f.null:
                continue  # an older document: the column's default
            raise _invalid(f"{path}.{key}", "missing")
        if _is_user_fk(f):
            username = data[key]
            if username is not None and not isinstance(username, str):
                raise _invalid(f"{path}.{key}", "expected a username or null")
            if username:
                links.append((f.attname, username))
            continue
        values[f.attname] = _parse_value(f, data[key], f"{path}.{key}")
    instance = model(**values)
    parsed.user_links.extend((instance, attname, username) for attname, username in links)
    return instance


def parse_export_document(document) -> ParsedExport:
    """Validate a youlab-export document; InvalidExportDocument says what and where."""
    if not isinstance(document, dict):
        raise InvalidExportDocument("the document must be a JSON object")
    if document.get("format") != FORMAT:
        raise InvalidExportDocument(f"not a {FORMAT} document (format is {document.get('format')!r})")
    version = document.get("format_version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise InvalidExportDocument(
            f"unsupported format_version {version!r}: this version of YouLab reads "
            + " and ".join(map(str, READABLE_VERSIONS))
        )
    keys = [k for k in TOP_LEVEL_KEYS if KEYS_ADDED.get(k, 1) <= version]
    missing = [k for k in keys if k not in document]
    if missing:
        raise InvalidExportDocument(f"missing key(s): {', '.join(missing)}")
    unknown = set(document) - set(keys)
    if unknown:
        raise InvalidExportDocument(f"unknown key(s): {', '.join(sorted(unknown))}")
    try:
        user_id = validate_id(document["user_id"], "user_id")
    except ServiceError as exc:
        raise InvalidExportDocument(exc.message) from None
    parsed = ParsedExport(user_id=user_id)

    for i, data in enumerate(_list_of_objects(document["blocks"], "blocks")):
        path = f"blocks[{i}]"
        block = _load(Block, data, path, parsed, ignore={"history"})
        if (block.owner_type, block.owner_id) != (OwnerType.USER, user_id):
            raise _not_theirs(path, block, user_id)
        parsed.blocks.append(block)
        versions = set()
        for j, row in enumerate(_list_of_objects(data.get("history"), f"{path}.history")):
            version = _load(HistoricalBlock, row, f"{path}.history[{j}]", parsed)
            if version.version in versions:
                raise _invalid(f"{path}.history[{j}]", f"version {version.version} appears twice")
            versions.add(version.version)
            version.id = block.pk
            parsed.block_history.append(version)
    if len(set(parsed.block_ids)) != len(parsed.blocks):
        raise InvalidExportDocument("blocks: the same block id appears twice")

    block_ids = set(parsed.block_ids)
    for i, data in enumerate(_list_of_objects(document["diffs"], "diffs")):
        diff = _load(PendingDiff, data, f"diffs[{i}]", parsed)
        if (diff.owner_type, diff.owner_id) != (OwnerType.USER, user_id):
            raise _not_theirs(f"diffs[{i}]", diff, user_id)
        if diff.block_id is not None and diff.block_id not in block_ids:
            raise _invalid(f"diffs[{i}].block_id", "is not one of the document's blocks")
        parsed.diffs.append(diff)
    if len(set(parsed.diff_ids)) != len(parsed.diffs):
        raise InvalidExportDocument("diffs: the same diff id appears twice")

    triples = set()
    for i, data in enumerate(_list_of_objects(document["module_chats"], "module_chats")):
        path = f"module_chats[{i}]"
        chat = _load(ModuleChat, data, path, parsed, ignore={"history"})
        if chat.user_id != user_id:
            raise _invalid(path, f"belongs to learner {chat.user_id}, not {user_id}")
        if (chat.agent_id, chat.module_id) in triples:
            raise _invalid(path, "the same agent and module appear twice")
        triples.add((chat.agent_id, chat.module_id))
        parsed.chats.append(chat)
        parsed.chat_history.append([
            _load(HistoricalModuleChat, row, f"{path}.history[{j}]", parsed)
            for j, row in enumerate(_list_of_objects(data.get("history"), f"{path}.history"))
        ])

    profile = document.get("profile")
    if profile is not None:
        if not isinstance(profile, dict):
            raise InvalidExportDocument("profile: expected an object or null")
        parsed.profile = _load(Learner, profile, "profile", parsed, ignore={"history"})
        if parsed.profile.user_id != user_id:
            raise _invalid("profile", f"belongs to learner {parsed.profile.user_id}, not {user_id}")
        for j, row in enumerate(_list_of_objects(profile.get("history"), "profile.history")):
            version = _load(HistoricalLearner, row, f"profile.history[{j}]", parsed)
            if version.user_id != user_id:
                raise _invalid(f"profile.history[{j}]", f"belongs to learner {version.user_id}, not {user_id}")
            parsed.profile_history.append(version)

    key = document["owui_key"]
    if not isinstance(key, dict) or not isinstance(key.get("present"), bool):
        raise InvalidExportDocument("owui_key: expected an object with a boolean 'present'")
    if key["present"]:
        parsed.warnings.append(
            f"the learner had an OpenWebUI key (…{key.get('last4')}, fingerprint "
            f"{key.get('fingerprint')}); exports never contain keys, so they must set it again"
        )
    return parsed


# --- comparing -----------------------------------------------------------------------------------


def learner_has_data(user_id: str) -> bool:
    """Any of the learner's rows (a key alone does not count: exports never carry one)."""
    return (
        Learner.objects.filter(user_id=user_id).exists()
        or Block.objects.filter(owner_type=OwnerType.USER, owner_id=user_id).exists()
        or PendingDiff.objects.filter(owner_type=OwnerType.USER, owner_id=user_id).exists()
        or ModuleChat.objects.filter(user_id=user_id).exists()
        or HistoricalModuleChat.objects.filter(user_id=user_id).exists()
    )


def comparable(document: dict) -> dict:
    """The learner's data in a document, without what describes the export itself.

    The key section is left out too: a key is never exported, so it cannot be restored. A
    version 1 document (no profile) compares as one whose learner has no profile.
    """
    data = {k: v for k, v in document.items() if k not in EXPORT_ONLY_KEYS | {"owui_key", "format_version"}}
    data.setdefault("profile", None)
    return data


def matches_current_data(document: dict) -> bool:
    return comparable(build_user_export(document["user_id"])) == comparable(document)
