"""What importing one record means for the block (or diff) as it is: new, new versions, or
nothing. Pure planning: the rows come from ``importing.writer`` and are written by it.

Rules (design.md §3 and §7, docs/imports.md):

* A new block gets one history row per source version, numbered 1..n in source order, with the
  source's dates, actors, reasons and import keys; the newest version always equals the current
  content (an extra version is added when the source's history stops short of it).
* An existing block (a re-run, or a second source) is history-append-only: the source versions
  after the last one the block already has (same import key, or the block's current content)
  are appended after the current version; the block then takes the last appended content and
  the record's fields and metadata.
* Nothing new but metadata keys the block lacks: they are filled in as a version of their own
  (version +1, a history row with the same content), like any other change; keys the block has
  are never overwritten then. Nothing new at all: "unchanged".
* Char limits are reported, not enforced: an import is lossless.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from blocks.models import Block, HistoricalBlock
from diffs.edits import unified_diff
from diffs.models import PendingDiff

from .digests import bounded_key, sha256_hex
from .records import BlockRecord, DiffRecord, VersionRecord
from .report import CREATED, UNCHANGED, UPDATED, ReportItem
from .validation import aware, display, json_normalized
from .writer import BlockUpdate, Version, diff_row, history_row, new_block


sha = sha256_hex  # content hashes compare with what earlier imports stored: one helper for all


@dataclass
class BlockState:
    """What planning needs to know about a block as it is (or, in a dry run, would be)."""

    id: uuid.UUID
    owner_type: str
    owner_id: str
    label: str
    content: str | None  # None in the dry-run overlay, which keeps only the hash
    content_hash: str
    version: int
    description: str
    char_limit: int | None
    read_only: bool
    metadata: dict
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    import_keys: set[str] = field(default_factory=set)
    import_deleted: bool = False  # an imported version already showed it deleted

    @classmethod
    def from_block(cls, block: Block) -> BlockState:
        return cls(
            id=block.id, owner_type=block.owner_type, owner_id=block.owner_id, label=block.label,
            content=block.content, content_hash=sha(block.content), version=block.version,
            description=block.description, char_limit=block.char_limit,
            read_only=block.read_only, metadata=block.metadata, deleted_at=block.deleted_at,
            created_at=block.created_at, updated_at=block.updated_at,
        )


@dataclass
class Outcome:
    """One item's plan: the report entry plus the rows to write (nothing to write = no-op)."""

    item: ReportItem
    identity: tuple | None = None
    create: Block | None = None
    update: BlockUpdate | None = None
    history: list[HistoricalBlock] = field(default_factory=list)
    diff: PendingDiff | None = None
    new_state: BlockState | None = None
    owner: tuple[str, str] | None = None  # (owner_type, owner_id) of a block item


def derived_key(record: BlockRecord, suffix: str) -> str:
    """An import key of the importer's own: "<source>:<source_key>:<suffix>", hashed if too long."""
    # Source names are short fixed words ("letta:agent-file" at most), so the key is the one
    # earlier imports stored (tests/importing/test_digests.py pins them).
    return bounded_key(f"{record.source}:", record.source_key, f":{suffix}", digest_chars=32, tag="")


def _current_version_record(record: BlockRecord) -> VersionRecord:
    return VersionRecord(
        content=record.content,
        import_key=record.current_key or derived_key(record, f"current:{sha(record.content)[:16]}"),
        actor=record.current_actor,
        reason=record.current_reason,
        date=record.updated_at,
    )


def source_versions(record: BlockRecord, *, history: bool, now: datetime) -> list[Version]:
    """The record's versions, oldest first, ending with the current content, dates resolved."""
    versions = list(record.versions)
    if not history:
        # Only the current value; keep the source's own key for it when it has one.
        versions = versions[-1:] if versions and versions[-1].content == record.content else []
    if not versions or versions[-1].content != record.content:
        versions.append(_current_version_record(record))

    created, updated = aware(record.created_at), aware(record.updated_at)
    resolved: list[Version] = []
    previous: datetime | None = None
    last = len(versions) - 1
    for index, version in enumerate(versions):
        fallbacks = [updated] if index == last else []
        fallbacks += [created] if index == 0 else []
        fallbacks += [previous, created, updated, now]
        date = aware(version.date) or next(d for d in fallbacks if d is not None)
        resolved.append(Version(
            content=version.content,
            import_key=version.import_key,
            actor=version.actor or "system",
            reason=version.reason or f"Imported from {record.source}",
            date=date,
            metadata=json_normalized(version.metadata, "a version's metadata"),
        ))
        previous = date
    return resolved


def _over_limit_warning(content_length: int, char_limit: int | None) -> list[str]:
    if char_limit is not None and content_length > char_limit:
        return [f"over char_limit: {content_length} characters, limit {char_limit} (kept)"]
    return []


def plan_new_block(record: BlockRecord, versions: list[Version], item: ReportItem) -> Outcome:
    first, last = versions[0], versions[-1]
    created_at = min(d for d in (aware(record.created_at), first.date) if d is not None)
    updated_at = max(d for d in (aware(record.updated_at), last.date) if d is not None)
    deleted_at = updated_at if record.deleted else None
    fields = dict(
        owner_type=record.owner_type, owner_id=record.owner_id, label=record.label,
        description=record.description, char_limit=record.char_limit,
        read_only=record.read_only, metadata=json_normalized(record.metadata, "metadata"),
        created_at=created_at,
    )
    block, rows = new_block(fields, versions, updated_at=updated_at, deleted_at=deleted_at)
    item.action = CREATED
    item.versions_added = len(rows)
    item.reason = f"new block, {len(rows)} version{'s' if len(rows) != 1 else ''}"
    if record.deleted:
        item.reason += ", deleted"
    item.warnings += _over_limit_warning(len(record.content), record.char_limit)
    state = BlockState.from_block(block)
    state.import_keys = {v.import_key for v in versions}
    state.import_deleted = record.deleted
    return Outcome(item=item, create=block, history=rows, new_state=state)


def plan_existing_block(
    record: BlockRecord, state: BlockState, versions: list[Version], item: ReportItem,
    now: datetime,
) -> Outcome:
    # History is append-only: whatever the source has up to the last version the block already
    # holds (same import key, or the same content as now) is present or superseded; only what
    # comes after it is new. So a second source holding the same current value adds nothing,
    # and a re-run of a source that moved on adds exactly its new versions.
    hashes = [sha(v.content) for v in versions]
    anchor = -1
    for index, (version, digest) in enumerate(zip(versions, hashes)):
        if version.import_key in state.import_keys or digest == state.content_hash:
            anchor = index
    missing_before = sum(
        1 for version, digest in zip(versions[: anchor + 1], hashes)
        if version.import_key not in state.import_keys and digest != state.content_hash
    )
    pending: list[Version] = []
    running = state.content_hash
    for version, digest in zip(versions[anchor + 1 :], hashes[anchor + 1 :]):
        if digest != running:  # a version must change something
            pending.append(version)
            running = digest
    item.versions_unchanged = len(versions) - len(pending)
    if missing_before:
        item.warnings.append(
            f"history not inserted: {missing_before} earlier source version(s) are not in the "
            "block's history; history is append-only"
        )

    existing = state.metadata if isinstance(state.metadata, dict) else {"metadata": state.metadata}
    # The source moved on (new versions, or deleted): the block follows it, metadata included.
    merged_metadata = json_normalized({**existing, **record.metadata}, "metadata")
    if pending:
        return _append_versions(record, state, pending, merged_metadata, item)
    if record.deleted and state.deleted_at is None and not state.import_deleted:
        # Deleted in the source since an earlier import. Deletion is a version of its own; a
        # staff restore after an imported deletion sticks (import_deleted), so re-runs are no-ops.
        deletion = Version(
            content=state.content, import_key=derived_key(record, "deleted"),
            actor=record.current_actor or "system",
            reason=record.current_reason or f"Deleted in {record.source}",
            date=aware(record.updated_at) or now, metadata={},
        )
        return _append_versions(record, state, [deletion], merged_metadata, item, only="deleted")
    # Nothing new. A source that is behind (its current value is an earlier version of the
    # block) describes that earlier value: it leaves the block alone. One that agrees with the
    # block only fills in metadata keys the block lacks; what the block has (staff edits, another
    # source's provenance, e.g. a database import's metadata["letta"] that an Agent File of the
    # same agent would replace with its file-local one) is kept. Either way a second source
    # holding values the block already has changes nothing and makes no Dolt commit.
    behind = hashes[-1] != state.content_hash
    filled_metadata = json_normalized({**record.metadata, **existing}, "metadata")
    if not behind and filled_metadata != state.metadata:
        # A change like any other: a version of its own, with a history row (same content).
        added = sorted(set(filled_metadata) - set(existing))
        filling = Version(
            content=state.content,
            import_key=derived_key(record, f"metadata:v{state.version + 1}:{sha(repr(added))[:16]}"),
            actor="import:" + record.source.split(":")[0],
            reason=f"Metadata filled in from {record.source}: {', '.join(added) or 'metadata'}",
            date=now, metadata={},
        )
        return _append_versions(record, state, [filling], filled_metadata, item, only="metadata")
    item.action = UNCHANGED
    if behind:
        item.reason = "nothing new: the source's current value is an earlier version of the block"
    else:
        item.reason = "already imported" if not missing_before else "nothing new to append"
    return Outcome(item=item)


def _append_versions(
    record: BlockRecord, state: BlockState, pending: list[Version], metadata: dict,
    item: ReportItem, *, only: str = "",
) -> Outcome:
    """`pending` as versions after the block's current one. `only`: "deleted" or "metadata"
    when that is all that changes (content and the block's other fields stay as they are)."""
    last = pending[-1]
    if only:
        field_values = dict(
            description=state.description, char_limit=state.char_limit,
            read_only=state.read_only,
        )
        deleted_at = last.date if only == "deleted" else state.deleted_at
    else:
        # The source moved on: the block follows it (fields and deleted state included).
        field_values = dict(
            description=record.description, char_limit=record.char_limit,
            read_only=record.read_only,
        )
        deleted_at = (state.deleted_at or last.date) if record.deleted else None
    fields = dict(
        owner_type=state.owner_type, owner_id=state.owner_id, label=state.label,
        metadata=metadata, created_at=state.created_at, **field_values,
    )
    rows = [
        history_row(
            state.id, fields, version, state.version + n,
            deleted_at if n == len(pending) else None,
        )
        for n, version in enumerate(pending, start=1)
    ]
    new_version = state.version + len(pending)
    updated_at = max(state.updated_at, last.date)
    update_fields = dict(
        version=new_version, updated_at=updated_at, deleted_at=deleted_at, metadata=metadata,
        **field_values,
    )
    if not only:
        update_fields["content"] = last.content
    item.action = UPDATED
    item.versions_added = len(rows)
    if only == "deleted":
        item.reason = "deleted in the source"
    elif only == "metadata":
        item.reason = f"metadata filled in: v{new_version} (same content)"
    else:
        plural = "s" if len(rows) != 1 else ""
        item.reason = f"{len(rows)} new version{plural} after v{state.version}"
        item.warnings += _over_limit_warning(len(last.content), record.char_limit)
    new_state = replace(
        state, version=new_version, metadata=metadata, deleted_at=deleted_at,
        updated_at=updated_at, import_keys=state.import_keys | {v.import_key for v in pending},
        import_deleted=state.import_deleted or deleted_at is not None,
        **field_values,
    )
    if not only:
        new_state.content, new_state.content_hash = last.content, sha(last.content)
    return Outcome(
        item=item, update=BlockUpdate(state.id, state.version, update_fields), history=rows,
        new_state=new_state,
    )


def plan_diff(record: DiffRecord, target: BlockState | None, exists: bool, now: datetime) -> Outcome:
    where = display(record.owner_type, record.owner_id, record.label)
    item = ReportItem(kind="diff", key=record.import_key, action=UNCHANGED, source=record.source,
                      source_key=record.import_key)
    if exists:
        item.reason = "already imported"
        return Outcome(item=item)
    item.action = CREATED
    item.reason = f"{record.status} {record.operation} on {where}"
    if target is None:
        item.warnings.append(f"missing block: {where} does not exist; the diff is kept unlinked")
    preview = ""
    if record.proposed_content is not None and (target is None or target.content is not None):
        current = target.content if target else ""
        preview = unified_diff(current, record.proposed_content, record.label)
    diff = diff_row(
        record, block_id=target.id if target else None,
        base_version=target.version if target else None, preview=preview, now=now,
    )
    return Outcome(item=item, diff=diff)
