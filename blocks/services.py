"""Every write to a block goes through here: create, change content, delete, restore.

Each public function is one unit of work: a transaction (retried on Dolt's serialization
failure) that writes the block, bumps `version` and leaves exactly one block_history row with the
actor and reason; after it commits, one Dolt commit by the given author.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from youlab import dolt
from youlab.validators import identifier_problem

from .exceptions import (
    BlockConflict,
    BlockExists,
    InvalidBlockInput,
    OverCharLimit,
    VersionNotFound,
)
from .models import Block, OwnerType

MAX_LABEL_LENGTH = 255
MAX_OWNER_LENGTH = 255
MAX_CHAR_LIMIT = 2**31 - 1
MAX_DESCRIPTION_LENGTH = 20_000
MAX_METADATA_CHARS = 100_000  # as compact JSON
MAX_METADATA_DEPTH = 32


class _Unset:
    def __repr__(self):
        return "UNSET"


UNSET = _Unset()  # a keyword argument left out: "leave it as it is" (None may be a value)


def validate_label(label: str) -> str:
    """Labels are free text (v1 had `目标` and `reading-list`) but never path-like, control or
    bidi characters (youlab.validators)."""
    problem = identifier_problem(label, "label", max_length=MAX_LABEL_LENGTH)
    if problem is not None:
        raise InvalidBlockInput(problem.message, details=problem.details)
    return label


def validate_owner_id(owner_id: str) -> str:
    """A learner id or shared namespace (surrounding spaces are tolerated: they predate the rule)."""
    problem = identifier_problem(owner_id, "owner id", field="owner_id", max_length=MAX_OWNER_LENGTH,
                                 trimmed=False, dot_names=True)
    if problem is not None:
        raise InvalidBlockInput(problem.message, details=problem.details)
    return owner_id


def check_char_limit(content: str, char_limit: int | None):
    if char_limit is not None and len(content) > char_limit:
        raise OverCharLimit(
            f"content has {len(content)} characters; the block's limit is {char_limit}",
            details={"length": len(content), "char_limit": char_limit},
        )


def staff_actor(user) -> str:
    """The block_history actor for a member of staff."""
    return f"staff:{user.get_username()}"


def _stamp_history(block: Block, *, actor: str, reason: str, diff_id=None, user=None,
                   date: datetime | None = None, import_key: str | None = None):
    """Tell simple-history (via blocks.signals) who, why and when for the next save."""
    block._history_actor = actor
    block._change_reason = reason
    block._history_diff_id = diff_id
    block._history_import_key = import_key
    # Always set: otherwise simple-history's middleware offers request.user, which for an
    # agent request is not a Django user.
    block._history_user = user
    if date is not None:
        block._history_date = date


def _commit_message(block: Block, what: str) -> str:
    return f"{what}: {block.owner_display}/{block.label} v{block.version}"


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
    actor: str = "system",
    reason: str = "Created",
    author: str = dolt.SYSTEM_AUTHOR,
    user=None,
    diff_id=None,
    dolt_commit: bool = True,
) -> Block:
    validate_owner_id(owner_id)
    validate_label(label)
    if owner_type not in OwnerType.values:
        raise InvalidBlockInput(f"owner type must be one of {', '.join(OwnerType.values)}")
    check_char_limit(content, char_limit)

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
            _stamp_history(block, actor=actor, reason=reason, diff_id=diff_id, user=user)
            try:
                with transaction.atomic():
                    block.save(force_insert=True)
            except IntegrityError as exc:
                raise BlockExists(f"block {label!r} already exists for {owner_id!r}") from exc
            if dolt_commit:
                dolt.commit_on_success(_commit_message(block, f"Create block ({actor})"), author)
            return block

    return dolt.retry_on_conflict(unit)


def update_block_content(
    block: Block,
    content: str,
    *,
    actor: str,
    reason: str,
    expected_version: int | None = None,
    author: str = dolt.SYSTEM_AUTHOR,
    user=None,
    diff_id=None,
    enforce_char_limit: bool = True,
    dolt_commit: bool = True,
    commit_summary: str | None = None,
    commit_detail: str = "",
) -> Block:
    """Replace a block's content as one new version.

    `expected_version` makes the write conditional: when the block moved on since the caller
    read it, BlockConflict is raised and nothing is written. The Dolt commit message is
    "<commit_summary or reason>: <owner>/<label> v<new version>[ — <commit_detail>]".
    """
    if enforce_char_limit:
        check_char_limit(content, block.char_limit)

    def unit():
        with dolt.atomic():
            current = Block.objects.get(pk=block.pk)
            if expected_version is not None and current.version != expected_version:
                raise BlockConflict(
                    f"block is at version {current.version}, not {expected_version}",
                    details={"current_version": current.version},
                )
            if enforce_char_limit:
                check_char_limit(content, current.char_limit)
            current.content = content
            current.version += 1
            current.updated_at = timezone.now()
            _stamp_history(current, actor=actor, reason=reason, diff_id=diff_id, user=user)
            current.save()
            if dolt_commit:
                message = _commit_message(current, commit_summary or reason or "Update block")
                dolt.commit_on_success(message + (f" — {commit_detail}" if commit_detail else ""), author)
            return current

    updated = dolt.retry_on_conflict(unit)
    block.__dict__.update({k: v for k, v in updated.__dict__.items() if not k.startswith("_")})
    return updated


def set_block_deleted(
    block: Block, deleted: bool, *, actor: str, reason: str = "",
    author: str = dolt.SYSTEM_AUTHOR, user=None, dolt_commit: bool = True,
) -> Block:
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
            _stamp_history(current, actor=actor, reason=why, user=user)
            current.save()
            if dolt_commit:
                dolt.commit_on_success(_commit_message(current, why), author)
            return current

    return dolt.retry_on_conflict(unit)



def revert_block(
    block: Block, version: int, *, actor: str, reason: str = "", by: str = "",
    author: str = dolt.SYSTEM_AUTHOR, user=None, dolt_commit: bool = True,
) -> Block:
    """Make a new version whose content equals version `version` of the block.

    Only the content is restored: label, limits and flags keep their current values, and the
    revert is itself a version, so it can be reverted too. The history row says
    "Revert to vN[ by <by>][: <reason>]", the Dolt commit
    "Revert to vN[ by <by>]: <owner>/<label> v<new>[ — <reason>]".
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
        raise InvalidBlockInput(f"the block is already at version {version}")
    what = f"Revert to v{version}" + (f" by {by}" if by else "")
    reason = reason.strip()
    return update_block_content(
        current,
        old.content,
        actor=actor,
        reason=what + (f": {reason}" if reason else ""),
        expected_version=current.version,
        author=author,
        user=user,
        enforce_char_limit=False,  # the old version was valid when it was written
        dolt_commit=dolt_commit,
        commit_summary=what,
        commit_detail=reason,
    )


def revert_block_as_staff(block: Block, version: int, *, reviewer, reason: str = "") -> Block:
    """A reviewer's revert (admin and API): their actor, their Dolt authorship."""
    return revert_block(
        block,
        version,
        actor=staff_actor(reviewer),
        reason=reason,
        by=reviewer.get_username(),
        author=dolt.author_for_user(reviewer),
        user=reviewer,
    )


# --- settings ------------------------------------------------------------------------------------

SETTINGS = ("description", "char_limit", "read_only", "metadata")


def _depth(value, limit: int, level: int = 1) -> int:
    if level > limit:
        return level
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return max([level, *(_depth(child, limit, level + 1) for child in children)])


def validate_settings(*, description=UNSET, char_limit=UNSET, read_only=UNSET, metadata=UNSET) -> dict:
    """The given settings, checked; InvalidBlockInput names the first bad one."""
    settings = {}
    if description is not UNSET:
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH:
            raise InvalidBlockInput(f"description must be text of at most {MAX_DESCRIPTION_LENGTH} characters",
                                    details={"field": "description"})
        settings["description"] = description
    if char_limit is not UNSET:
        if char_limit is not None and (
            not isinstance(char_limit, int) or isinstance(char_limit, bool) or not 1 <= char_limit <= MAX_CHAR_LIMIT
        ):
            raise InvalidBlockInput(f"char_limit must be empty (no limit) or a whole number from 1 to {MAX_CHAR_LIMIT}",
                                    details={"field": "char_limit"})
        settings["char_limit"] = char_limit
    if read_only is not UNSET:
        if not isinstance(read_only, bool):
            raise InvalidBlockInput("read_only must be true or false", details={"field": "read_only"})
        settings["read_only"] = read_only
    if metadata is not UNSET:
        if not isinstance(metadata, dict):
            raise InvalidBlockInput("metadata must be a JSON object", details={"field": "metadata"})
        too_big = InvalidBlockInput(
            f"metadata may hold at most {MAX_METADATA_CHARS} characters of JSON, nested at most "
            f"{MAX_METADATA_DEPTH} deep", details={"field": "metadata"})
        if _depth(metadata, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH:  # first: json.dumps recurses
            raise too_big
        try:
            size = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise InvalidBlockInput(f"metadata is not JSON: {exc}", details={"field": "metadata"}) from None
        if size > MAX_METADATA_CHARS:
            raise too_big
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
    actor: str,
    reason: str = "",
    expected_version: int | None = None,
    author: str = dolt.SYSTEM_AUTHOR,
    user=None,
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
        raise InvalidBlockInput("reason is too long", details={"field": "reason"})

    def unit():
        with dolt.atomic():
            current = Block.objects.get(pk=block.pk)
            if current.is_deleted:
                raise InvalidBlockInput("the block is soft-deleted; restore it before changing its settings")
            if expected_version is not None and current.version != expected_version:
                raise BlockConflict(
                    f"block is at version {current.version}, not {expected_version}",
                    details={"current_version": current.version},
                )
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
            _stamp_history(current, actor=actor, reason=why, user=user)
            current.save()
            dolt.commit_on_success(
                f"Change settings of {current.owner_display}/{current.label} v{current.version} "
                f"({actor}): {summary}" + (f": {reason}" if reason else ""), author)
            return current

    return dolt.retry_on_conflict(unit)
