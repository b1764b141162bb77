"""The one writer of blocks, their history rows and pending diffs outside the live services.

The live services (blocks.services, diffs.services) write one change at a time through the ORM,
with simple-history making the history row. Imports (every reader through ``importing.core``, the
learner export's ``importing.restore``) and the benches write thousands of rows whose history is
already known (original dates, actors, reasons, import keys): they build the rows here and
bulk-insert them here, in chunks bounded by rows and by characters, inside the caller's
transaction. Nothing else inserts into ``blocks``, ``block_history`` or ``pending_diffs`` in bulk.

A version is what design.md §3 says: ``version`` +1 and one history row per change, whatever
changed (content, settings, metadata or the deleted state).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blocks.models import Block, HistoricalBlock
from diffs.models import PendingDiff
from youlab.errors import ServiceError

from .records import DiffRecord
from .validation import aware, json_normalized

_INSERT_ROWS = 500  # rows per INSERT statement
_INSERT_CHARS = 8_000_000  # ... or fewer, for big contents (290 KB v1 blocks)

# The columns a history row copies from its block (besides content, version and dates).
BLOCK_FIELDS = ("owner_type", "owner_id", "label", "description", "char_limit", "read_only",
                "metadata", "created_at")


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a block as it is to be written: content, who, why, when."""

    content: str
    import_key: str | None
    actor: str
    reason: str
    date: datetime
    metadata: dict  # this version's own keys, laid over the block's metadata on its row


@dataclass(frozen=True, slots=True)
class BlockUpdate:
    """Set `fields` on a block, provided it is still at `expected_version` (else BlockMovedOn)."""

    block_id: uuid.UUID
    expected_version: int
    fields: dict


class BlockMovedOn(ServiceError):
    """An existing block changed between planning and writing; the caller plans again (and
    reports the item as failed with this message when it keeps changing)."""

    code = "block_moved_on"
    status = 409


def history_row(
    block_id: uuid.UUID, fields: dict, version: Version, number: int, deleted_at: datetime | None,
) -> HistoricalBlock:
    """Version `number` of the block: `fields` (BLOCK_FIELDS) as of then, `version`'s content."""
    return HistoricalBlock(
        id=block_id,
        owner_type=fields["owner_type"],
        owner_id=fields["owner_id"],
        label=fields["label"],
        content=version.content,
        description=fields["description"],
        char_limit=fields["char_limit"],
        read_only=fields["read_only"],
        # The block's metadata as of this version: the block's, overlaid with the version's own.
        metadata={**fields["metadata"], **version.metadata},
        version=number,
        deleted_at=deleted_at,
        created_at=fields["created_at"],
        updated_at=version.date,
        history_date=version.date,
        history_type="+" if number == 1 else "~",
        history_change_reason=version.reason,
        history_user=None,
        actor=version.actor,
        import_key=version.import_key,
        diff=None,
    )


def new_block(
    fields: dict, versions: list[Version], *, updated_at: datetime, deleted_at: datetime | None,
    block_id: uuid.UUID | None = None,
) -> tuple[Block, list[HistoricalBlock]]:
    """A block that does not exist yet, at its last version, and one history row per version
    (numbered 1..n; only the last carries `deleted_at`)."""
    block_id = block_id or uuid.uuid4()
    block = Block(
        id=block_id, content=versions[-1].content, version=len(versions), deleted_at=deleted_at,
        updated_at=updated_at, **fields,
    )
    rows = [
        history_row(block_id, fields, v, n, deleted_at if n == len(versions) else None)
        for n, v in enumerate(versions, start=1)
    ]
    return block, rows


def diff_row(
    record: DiffRecord, *, block_id: uuid.UUID | None, base_version: int | None, preview: str,
    now: datetime,
) -> PendingDiff:
    """An imported proposal as a pending diff (its agent key name says which import made it)."""
    created_at = aware(record.created_at) or now
    return PendingDiff(
        owner_type=record.owner_type,
        owner_id=record.owner_id,
        label=record.label,
        block_id=block_id,
        operation=record.operation,
        arguments=json_normalized(record.arguments, "arguments"),
        proposed_content=record.proposed_content or "",
        preview=preview,
        base_version=base_version,
        reasoning=record.reasoning or "",
        agent_key_name=f"import:{record.source}",
        agent_id=record.agent_id or "",
        status=record.status,
        conflict_reason=record.conflict_reason or "",
        reviewed_at=aware(record.reviewed_at),
        metadata=json_normalized(record.metadata, "metadata"),
        import_key=record.import_key,
        created_at=created_at,
        updated_at=aware(record.reviewed_at) or created_at,
    )


def _chunks(rows: list, size_of: Callable[[Any], int]):
    chunk, chars = [], 0
    for row in rows:
        size = size_of(row)
        if chunk and (len(chunk) >= _INSERT_ROWS or chars + size > _INSERT_CHARS):
            yield chunk
            chunk, chars = [], 0
        chunk.append(row)
        chars += size
    if chunk:
        yield chunk


def _bulk_insert(model, rows: list, size_of: Callable[[Any], int]) -> None:
    # bulk_create sends no signals: no history row is invented besides the ones given.
    for chunk in _chunks(rows, size_of):
        model.objects.bulk_create(chunk)


def write(
    *, blocks: Iterable[Block] = (), updates: Iterable[BlockUpdate] = (),
    history: Iterable[HistoricalBlock] = (), diffs: Iterable[PendingDiff] = (),
) -> None:
    """Insert new blocks, apply updates, then insert diffs and history rows, inside the caller's
    transaction (the caller makes the Dolt commit). Diffs go before history rows, which may
    name the diff that made them (a restored export)."""
    _bulk_insert(Block, list(blocks), lambda b: len(b.content))
    for update in updates:
        # Conditional on the version planned against: a concurrent change is planned again.
        changed = Block.objects.filter(
            pk=update.block_id, version=update.expected_version
        ).update(**update.fields)
        if changed != 1:
            raise BlockMovedOn(f"block {update.block_id} changed while the import was writing it")
    _bulk_insert(
        PendingDiff, list(diffs), lambda d: len(d.proposed_content) + len(d.preview),
    )
    _bulk_insert(HistoricalBlock, list(history), lambda r: len(r.content or ""))
