"""Every write to a block goes through here: create, change content, delete, restore.

Each public function is one unit of work: a transaction (retried on Dolt's serialization
failure) that writes the block, bumps `version` and leaves exactly one block_history row with the
actor and reason; after it commits, one Dolt commit by the given author.
"""

from __future__ import annotations

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
) -> Block:
    """Replace a block's content as one new version.

    `expected_version` makes the write conditional: when the block moved on since the caller
    read it, BlockConflict is raised and nothing is written.
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
                dolt.commit_on_success(_commit_message(current, reason or "Update block"), author)
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
    block: Block, version: int, *, actor: str, reason: str = "", author: str = dolt.SYSTEM_AUTHOR,
    user=None, dolt_commit: bool = True,
) -> Block:
    """Make a new version whose content equals version `version` of the block.

    Only the content is restored: label, limits and flags keep their current values, and the
    revert is itself a version, so it can be reverted too.
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
    return update_block_content(
        current,
        old.content,
        actor=actor,
        reason=reason or f"Reverted to version {version}",
        expected_version=current.version,
        author=author,
        user=user,
        enforce_char_limit=False,  # the old version was valid when it was written
        dolt_commit=dolt_commit,
    )


def revert_block_as_staff(block: Block, version: int, *, reviewer, reason: str = "") -> Block:
    """A reviewer's revert (admin and API): their actor, their Dolt authorship."""
    return revert_block(
        block,
        version,
        actor=staff_actor(reviewer),
        reason=reason or f"Reverted to version {version} by {reviewer.get_username()}",
        author=dolt.author_for_user(reviewer),
        user=reviewer,
    )
