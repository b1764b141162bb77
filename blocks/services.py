"""Every write to a block goes through here: create, change content, delete, restore, revert,
settings.

Each public function is one unit of work: a transaction (retried on Dolt's serialization
failure) that writes the block, bumps `version` and leaves exactly one block_history row with the
actor (`by`, youlab.actors) and reason; after it commits, one Dolt commit by the actor. Each takes
keyword arguments only and returns the block as the change left it (the caller's instance is not
touched).
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from youlab import dolt
from youlab.actors import SYSTEM_ACTOR, Actor
from youlab.errors import InvalidInput
from youlab.unset import UNSET
from youlab.validators import validate_label, validate_owner_id

from .exceptions import (
    BlockConflict,
    BlockExists,
    OverCharLimit,
    VersionNotFound,
)
from .models import Block, OwnerType

MAX_CHAR_LIMIT = 2**31 - 1
MAX_DESCRIPTION_LENGTH = 20_000
MAX_METADATA_CHARS = 100_000  # as compact JSON
MAX_METADATA_DEPTH = 32


def check_char_limit(*, content: str, char_limit: int | None) -> None:
    if char_limit is not None and len(content) > char_limit:
        raise OverCharLimit(
            f"content has {len(content)} characters; the block's limit is {char_limit}",
            details={"length": len(content), "char_limit": char_limit},
        )


def _stamp_history(block: Block, *, by: Actor, reason: str, diff_id=None, date: datetime | None = None,
                   import_key: str | None = None):
    """Tell simple-history (via blocks.signals) who, why and when for the next save."""
    block._history_actor = by.history_actor
    block._change_reason = reason
    block._history_diff_id = diff_id
    block._history_import_key = import_key
    # Always set: otherwise simple-history's middleware offers request.user, which for an
    # agent request is not a Django user.
    block._history_user = by.user
    if date is not None:
        block._history_date = date


def _commit_message(block: Block, what: str) -> str:
    return f"{what}: {block.owner_display}/{block.label} v{block.version}"


def _check_version(current: Block, expected_version: int | None) -> None:
    """BlockConflict when the block moved on from the version the caller read."""
    if expected_version is not None and current.version != expected_version:
        raise BlockConflict(
            f"block is at version {current.version}, not {expected_version}",
            details={"current_version": current.version},
        )


def create_block(
    *,
    owner_id: str,
    label: str,
    content: str = "",
    owner_type: str = OwnerType.USER,
    description: str = "",
    char_limit: int | None = None,
    read_only: bool = False,
    metadata: dict | None = None,
    by: Actor = SYSTEM_ACTOR,
    reason: str = "Created",
    diff_id=None,
    dolt_commit: bool = True,
) -> Block:
    validate_owner_id(owner_id)
    validate_label(label)
    if owner_type not in OwnerType.values:
        raise InvalidInput(f"owner type must be one of {', '.join(OwnerType.values)}",
                           details={"field": "owner_type"})
    check_char_limit(content=content, char_limit=char_limit)

    def unit():
        with dolt.atomic():
            if Block.objects.filter(owner_type=owner_type, owner_id=owner_id, label=label).exists():
                raise BlockExists(f"block {label!r} already exists for {owner_id!r}")
            now = timezone.now()
            block = Block(
                owner_type=owner_type,
                owner_id=owner_id,
                label=label,
                content=content,
                description=description,
                char_limit=char_limit,
                read_only=read_only,
                metadata=metadata or {},
                version=1,
                created_at=now,
                updated_at=now,
            )
            _stamp_history(block, by=by, reason=reason, diff_id=diff_id)
            try:
                with transaction.atomic():
                    block.save(force_insert=True)
            except IntegrityError as exc:
                raise BlockExists(f"block {label!r} already exists for {owner_id!r}") from exc
            if dolt_commit:
                dolt.commit_on_success(_commit_message(block, f"Create block ({by})"), by.author)
            return block

    return dolt.retry_on_conflict(unit)


def update_block_content(
    *,
    block: Block,
    content: str,
    by: Actor,
    reason: str,
    expected_version: int | None = None,
    diff_id=None,
    enforce_char_limit: bool = True,
    dolt_commit: bool = True,
    commit_summary: str | None = None,
    commit_detail: str = "",
    read_in_this_transaction: bool = False,
) -> Block:
    """Replace a block's content as one new version; returns the block as it now is.

    `expected_version` makes the write conditional: when the block moved on since the caller
    read it, BlockConflict is raised and nothing is written. The Dolt commit message is
    "<commit_summary or reason>: <owner>/<label> v<new version>[ — <commit_detail>]".
    `read_in_this_transaction`: the caller read `block` inside the transaction this runs in
    (as approve_diff does), so it is the row this transaction sees: it is not read again, it is
    the instance written and returned, and this step has no savepoint of its own (its failure
    fails the caller's unit). Outside a transaction the flag is ignored.
    """
    if enforce_char_limit:
        check_char_limit(content=content, char_limit=block.char_limit)
    reuse = read_in_this_transaction and transaction.get_connection().in_atomic_block

    def unit():
        with dolt.atomic(savepoint=not reuse):
            current = block if reuse else Block.objects.get(pk=block.pk)
            _check_version(current, expected_version)
            if enforce_char_limit:
                check_char_limit(content=content, char_limit=current.char_limit)
            current.content = content
            current.version += 1
            current.updated_at = timezone.now()
            _stamp_history(current, by=by, reason=reason, diff_id=diff_id)
            current.save(update_fields=["content", "version", "updated_at"])
            if dolt_commit:
                message = _commit_message(current, commit_summary or reason or "Update block")
                dolt.commit_on_success(message + (f" — {commit_detail}" if commit_detail else ""), by.author)
            return current

    return dolt.retry_on_conflict(unit)


def set_block_deleted(*, block: Block, deleted: bool, by: Actor, reason: str = "", dolt_commit: bool = True) -> Block:
    """Soft delete (deleted=True) or restore a block; either is a new version."""

    def unit():
        with dolt.atomic():
            current = Block.objects.get(pk=block.pk)
            if current.is_deleted == deleted:
                return current
            now = timezone.now()
            current.deleted_at = now if deleted else None
            current.version += 1
            current.updated_at = now
            why = reason or ("Deleted" if deleted else "Restored")
            _stamp_history(current, by=by, reason=why)
            current.save()
            if dolt_commit:
                dolt.commit_on_success(_commit_message(current, why), by.author)
            return current

    return dolt.retry_on_conflict(unit)


def revert_block(*, block: Block, version: int, by: Actor, reason: str = "", dolt_commit: bool = True) -> Block:
    """Make a new version whose content equals version `version` of the block.

    Only the content is restored: label, limits and flags keep their current values, and the
    revert is itself a version, so it can be reverted too. The history row says
    "Revert to vN[ by <username>][: <reason>]" (the username when staff revert), the Dolt commit
    "Revert to vN[ by <username>]: <owner>/<label> v<new>[ — <reason>]".
    """
    old = (
        Block.history.filter(id=block.pk, version=version)
        .only("content", "version")
        .first()
    )
    if old is None:
        raise VersionNotFound(
            f"block {block.label!r} has no version {version}", details={"version": version}
        )
    current = Block.objects.get(pk=block.pk)
    if version == current.version:
        raise InvalidInput(f"the block is already at version {version}", details={"field": "version"})
    what = f"Revert to v{version}" + (f" by {by.name}" if by.is_staff else "")
    reason = reason.strip()
    return update_block_content(
        block=current,
        content=old.content,
        by=by,
        reason=what + (f": {reason}" if reason else ""),
        expected_version=current.version,
        enforce_char_limit=False,  # the old version was valid when it was written
        dolt_commit=dolt_commit,
        commit_summary=what,
        commit_detail=reason,
    )


# --- settings ------------------------------------------------------------------------------------

SETTINGS = ("description", "char_limit", "read_only", "metadata")


def _depth(value, limit: int, level: int = 1) -> int:
    if level > limit:
        return level
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return max([level, *(_depth(child, limit, level + 1) for child in children)])


# The whole numbers Dolt's JSON keeps (signed and unsigned 64-bit); JSON itself has no bound.
_JSON_INTEGERS = range(-(2**63), 2**64)


def _integers_fit(value) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return value in _JSON_INTEGERS
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return all(_integers_fit(child) for child in children)


def validate_settings(*, description=UNSET, char_limit=UNSET, read_only=UNSET, metadata=UNSET) -> dict:
    """The given settings, checked; InvalidInput names the first bad one (`details.field`)."""
    settings = {}
    if description is not UNSET:
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH:
            raise InvalidInput(f"description must be text of at most {MAX_DESCRIPTION_LENGTH} characters",
                               details={"field": "description"})
        settings["description"] = description
    if char_limit is not UNSET:
        if char_limit is not None and (
            not isinstance(char_limit, int) or isinstance(char_limit, bool) or not 1 <= char_limit <= MAX_CHAR_LIMIT
        ):
            raise InvalidInput(f"char_limit must be empty (no limit) or a whole number from 1 to {MAX_CHAR_LIMIT}",
                               details={"field": "char_limit"})
        settings["char_limit"] = char_limit
    if read_only is not UNSET:
        if not isinstance(read_only, bool):
            raise InvalidInput("read_only must be true or false", details={"field": "read_only"})
        settings["read_only"] = read_only
    if metadata is not UNSET:
        if not isinstance(metadata, dict):
            raise InvalidInput("metadata must be a JSON object", details={"field": "metadata"})
        too_big = InvalidInput(
            f"metadata may hold at most {MAX_METADATA_CHARS} characters of JSON, nested at most "
            f"{MAX_METADATA_DEPTH} deep", details={"field": "metadata"})
        if _depth(metadata, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH:  # first: json.dumps recurses
            raise too_big
        try:
            size = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"metadata is not JSON: {exc}", details={"field": "metadata"}) from None
        if size > MAX_METADATA_CHARS:
            raise too_big
        if not _integers_fit(metadata):
            raise InvalidInput(f"metadata numbers must be whole numbers from {_JSON_INTEGERS.start} to "
                               f"{_JSON_INTEGERS.stop - 1} or decimals", details={"field": "metadata"})
        settings["metadata"] = metadata
    return settings


def _describe(name: str, old, new) -> str:
    """One setting's change for history reasons and commit messages ("char_limit 500 → 800")."""
    if name in ("description", "metadata"):
        return name

    def shown(value):
        if name == "read_only":
            return "on" if value else "off"
        return "none" if value is None else str(value)

    return f"{name} {shown(old)} → {shown(new)}"


def update_block_settings(
    *,
    block: Block,
    description=UNSET,
    char_limit=UNSET,
    read_only=UNSET,
    metadata=UNSET,
    by: Actor,
    reason: str = "",
    expected_version: int | None = None,
) -> Block:
    """Change a block's description, char limit, read-only flag and/or metadata as one new
    version (the content stays), with a history row naming what changed and one Dolt commit.

    Settings left UNSET keep their value; settings equal to the current ones write nothing (the
    block is returned as it is). A char limit below the current content's length is refused
    (OverCharLimit): raise it, or shorten the content first. A soft-deleted block is refused.
    """
    wanted = validate_settings(description=description, char_limit=char_limit, read_only=read_only,
                               metadata=metadata)
    if len(reason) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput("reason is too long", details={"field": "reason"})

    def unit():
        with dolt.atomic():
            current = Block.objects.get(pk=block.pk)
            if current.is_deleted:
                raise InvalidInput("the block is soft-deleted; restore it before changing its settings")
            _check_version(current, expected_version)
            changes = {k: v for k, v in wanted.items() if getattr(current, k) != v}
            if not changes:
                return current
            if "char_limit" in changes and changes["char_limit"] is not None \
                    and len(current.content) > changes["char_limit"]:
                raise OverCharLimit(
                    f"the content has {len(current.content)} characters; a limit of "
                    f"{changes['char_limit']} is below that (shorten the content first)",
                    details={"length": len(current.content), "char_limit": changes["char_limit"]},
                )
            summary = ", ".join(_describe(k, getattr(current, k), v) for k, v in changes.items())
            for name, value in changes.items():
                setattr(current, name, value)
            current.version += 1
            current.updated_at = timezone.now()
            why = f"Settings: {summary}" + (f": {reason}" if reason else "")
            _stamp_history(current, by=by, reason=why)
            current.save()
            dolt.commit_on_success(
                f"Change settings of {current.owner_display}/{current.label} v{current.version} "
                f"({by}): {summary}" + (f": {reason}" if reason else ""), by.author)
            return current

    return dolt.retry_on_conflict(unit)
