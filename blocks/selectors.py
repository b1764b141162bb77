"""Reads of blocks and their history (writes go through blocks.services)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from youlab.queries import PreparedQuery

from .exceptions import BlockNotFound
from .models import Block, HistoricalBlock


def live_blocks(owner_type: str, owner_id: str) -> QuerySet[Block]:
    """An owner's blocks that are not soft-deleted, by label (an unknown owner has none)."""
    return Block.objects.filter(
        owner_type=owner_type, owner_id=owner_id, deleted_at__isnull=True
    ).order_by("label", "id")


def live_blocks_page(owner_type: str, owner_id: str, *, limit: int) -> list[Block]:
    """`live_blocks(...)[:limit]` as a list (a list route's first page), its SQL built once."""
    return _live_blocks.instances(owner_type, owner_id, limit=limit)


_live_blocks = PreparedQuery(live_blocks)


def find_block(owner_type: str, owner_id: str, label: str) -> Block | None:
    """The owner's block with this label, soft-deleted or not; None if there is none.

    (owner, label) is unique, so the query needs no ORDER BY and the deleted check
    (find_live_block) can look at the one row. Every agent read and proposal starts here.
    """
    return _block_by_label.first(owner_type, owner_id, label)


# Its SQL is built once (youlab.queries): building it was half of a block read's time.
_block_by_label = PreparedQuery(
    lambda owner_type, owner_id, label: Block.objects.filter(
        owner_type=owner_type, owner_id=owner_id, label=label).order_by()[:1]
)


def find_live_block_version(owner_type: str, owner_id: str, label: str) -> int | None:
    """The version of the owner's live block with this label, None if there is none: a
    conditional read's check, which does not read the text (a v1 block can be 290 KB)."""
    block = _block_version_by_label.first(owner_type, owner_id, label)
    return block.version if block is not None and block.deleted_at is None else None


_block_version_by_label = PreparedQuery(
    lambda owner_type, owner_id, label: Block.objects.filter(
        owner_type=owner_type, owner_id=owner_id, label=label).only("id", "version", "deleted_at").order_by()[:1]
)


def find_block_by_id(block_id) -> Block | None:
    """The block with this id (a UUID or its text), soft-deleted or not; None if there is none."""
    return _block_by_id.first(block_id)


_block_by_id = PreparedQuery(lambda block_id: Block.objects.filter(pk=block_id), uuid_args=("block_id",))


def find_live_block(owner_type: str, owner_id: str, label: str) -> Block | None:
    """The owner's block with this label unless it is soft-deleted; None if there is none."""
    block = find_block(owner_type, owner_id, label)
    return block if block is not None and block.deleted_at is None else None


def get_live_block(owner_type: str, owner_id: str, label: str) -> Block:
    block = find_live_block(owner_type, owner_id, label)
    if block is None:
        what = "shared namespace" if owner_type == "shared" else "learner"
        raise BlockNotFound(
            f"no block {label!r} for {what} {owner_id!r}",
            details={"owner_type": owner_type, "owner_id": owner_id, "label": label},
        )
    return block


def block_history(block: Block) -> QuerySet[HistoricalBlock]:
    """The block's versions, newest first (one row per version)."""
    return (
        Block.history.filter(id=block.pk)
        .order_by("-version", "-history_id")
        .only(
            "history_id", "id", "version", "content", "actor", "history_change_reason",
            "history_date", "diff_id", "deleted_at",
        )
    )


def block_as_of(owner_type: str, owner_id: str, label: str, when: datetime) -> HistoricalBlock:
    """The block as it was at `when`: its newest version dated at or before then.

    BlockNotFound when it did not exist yet, or was soft-deleted at that time. Versions are
    block_history rows, which keep imported versions' original dates.
    """
    block = Block.objects.filter(owner_type=owner_type, owner_id=owner_id, label=label).only("id").order_by().first()
    version = None
    if block is not None:
        version = (
            Block.history.filter(id=block.pk, history_date__lte=when)
            .order_by("-history_date", "-version")
            .first()
        )
    if version is None or version.deleted_at is not None:
        what = "shared namespace" if owner_type == "shared" else "learner"
        state = "was soft-deleted" if version is not None else "did not exist"
        raise BlockNotFound(
            f"block {label!r} of {what} {owner_id!r} {state} at {when.isoformat()}",
            details={"owner_type": owner_type, "owner_id": owner_id, "label": label, "as_of": when.isoformat()},
        )
    return version
