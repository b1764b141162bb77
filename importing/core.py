"""The one importer: plain records (``records.py``) in; blocks, history and pending diffs out.

Every reader (Letta SQLite/Postgres/REST/Agent File, YouLab v1 git) yields the same records and
calls ``import_records``; idempotency, reporting, transactions and Dolt behaviour live here only.

Rules (design.md §7; the issue's brief):

* Identity of a block is (owner_type, owner_id, label), compared the way the database does
  (utf8mb4_0900_ai_ci: case- and accent-insensitive). A record that matches an existing block
  spelled differently is skipped and reported, never merged silently.
* A new block gets one history row per source version, numbered 1..n in source order, with the
  source's dates, actors, reasons and import keys; the newest version always equals the current
  content (an extra version is added when the source's history stops short of it).
* An existing block (a re-run, or a second source) is history-append-only: the source versions
  after the last one the block already has (same import key, or the block's current content)
  are appended after the current version; the block then takes the last appended content and
  the record's fields and metadata. Nothing new: "unchanged", except that metadata keys the
  block lacks are filled in (without a version); keys it has are never overwritten then.
* Char limits are reported, not enforced: an import is lossless.
* Writes are batched (``batch_size`` blocks per transaction, retried on Dolt's 1213); a batch
  the database refuses is redone item by item so only the bad item fails, and each item (a
  block with all its versions, or a diff) is all-or-nothing. The run ends with ONE Dolt commit.
* ``dry_run`` plans against the current state and writes nothing (no rows, no Dolt commit).
* ``branch`` runs the import connected to ``<db>/<branch>`` (created from main if missing),
  commits there and reports the diff against main; ``merge`` then merges it into main.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone as dt_timezone
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from blocks.models import Block, HistoricalBlock, OwnerType
from diffs.edits import unified_diff
from diffs.models import DiffStatus, Operation, PendingDiff
from learners.services import ImportedProfile, import_learner_profiles
from youlab import dolt
from youlab.actors import Actor
from youlab.errors import InvalidInput as InvalidBlockInput
from youlab.validators import validate_label, validate_owner_id

from .records import (
    MAX_IMPORT_KEY_LENGTH,
    BlockRecord,
    DiffRecord,
    ImportRecord,
    LearnerRecord,
    SkippedRecord,
    VersionRecord,
)
from .report import (
    CREATED,
    FAILED,
    NOTE_KIND,
    NOTED,
    SKIPPED,
    UNCHANGED,
    UPDATED,
    ImportReport,
    ReportItem,
)

logger = logging.getLogger(__name__)

IMPORT_AUTHOR = "YouLab import <import@youlab.local>"
MAIN_BRANCH = "main"
DEFAULT_BATCH_SIZE = 200  # blocks (with all their versions) per transaction
MAX_BATCH_CHARS = 32_000_000  # ... or fewer, when their contents add up to this much
_INSERT_ROWS = 500  # rows per INSERT statement
_INSERT_CHARS = 8_000_000  # ... or fewer, for big contents (290 KB v1 blocks)
_MAX_CHAR_LIMIT = 2**31 - 1
_MOVED_ON_ATTEMPTS = 3
_LOOKUP_OWNERS = 500  # owners per lookup query (and learner profiles per transaction)
_PROFILE_NOTE = "profile: "  # in a learner's reason: what the import filled in of their profile
_PROGRESS_EVERY = 1000  # records between progress calls when no batch is written

ProgressCallback = Callable[[ImportReport], None]


def import_records(
    records: Iterable[ImportRecord],
    *,
    source: str,
    dry_run: bool = False,
    history: bool = True,
    branch: str | None = None,
    merge: bool = False,
    only_user: str | None = None,
    author: str = IMPORT_AUTHOR,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
    dolt_commit: bool = True,
) -> ImportReport:
    """Write `records` into the database and return what happened, item by item.

    `source` names the run in the Dolt commit and the report (e.g. "letta:sqlite (/data/x.db)").
    `history=False` imports only current values. `only_user` drops other learners' records
    (shared blocks are kept). `dolt_commit=False` leaves the Dolt commit to the caller.
    """
    if merge and not branch:
        raise ValueError("merge needs a branch")
    if branch == MAIN_BRANCH:
        raise ValueError("importing on main needs no branch")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = ImportReport(
        source=source, dry_run=dry_run, history=history, branch=branch, only_user=only_user
    )
    importer = _Importer(
        report, dry_run=dry_run, history=history, only_user=only_user,
        batch_size=batch_size, progress=progress,
    )

    def run_and_commit():
        importer.run(records)
        if not dry_run and dolt_commit and _wrote_anything(report):
            report.commit_hash = dolt.commit(_commit_message(report), author)

    with _gc_frozen():
        if branch is None:
            run_and_commit()
        else:
            _on_branch(report, branch, run_and_commit, merge=merge and not dry_run, author=author)
    report.finished_at = timezone.now()
    if progress:
        progress(report)
    return report


@contextlib.contextmanager
def _gc_frozen():
    """Keep the cyclic GC off what exists when the run starts, for the run's duration.

    A reader that loads its whole source first (Letta: every agent, block and history row) has
    millions of live objects by now, and they live until the run ends; without this every full
    collection walks them again (15% of a 10,000-learner import). Unfrozen afterwards, so they
    are collected as usual once the caller drops them.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _on_branch(report: ImportReport, branch: str, run: Callable[[], None], *, merge: bool,
               author: str) -> None:
    """Run the import connected to `<db>/<branch>`, report its diff to main, maybe merge it.

    A missing branch is created from main's last commit (never its working set), once main's
    schema is committed; a branch this run created is removed again if the run fails.
    """
    dolt.validate_branch_name(branch)
    exists = branch in dolt.branches()
    if report.dry_run and not exists:
        # Creating the branch would be a write; main is what it would start from.
        report.notes.append(f"branch {branch!r} does not exist yet; planned against main")
        run()
        return
    if not exists:
        _prepare_main_for_branch(report)
        dolt.create_branch(branch, MAIN_BRANCH)
    try:
        with dolt.use_branch(branch):
            run()
            report.diff_summary = dolt.diff_summary(MAIN_BRANCH, branch)
    except BaseException as exc:
        if exists:
            raise
        _remove_branch(branch)
        if isinstance(exc, DatabaseError):
            raise dolt.DoltError(
                f"the import on branch {branch!r} failed and the branch was removed: {exc}"
            ) from exc
        raise
    if report.users_not_found and not exists:
        _remove_branch(branch)  # nothing of the asked-for learner to keep
        report.notes.append(f"branch {branch!r} removed again: --user matched nobody")
        return
    if merge:
        _merge(report, branch, author)


def _import_tables() -> set[str]:
    """Tables whose uncommitted rows an import on a branch would miss and then clash with."""
    return {Block._meta.db_table, HistoricalBlock._meta.db_table}


def _prepare_main_for_branch(report: ImportReport) -> None:
    """Make sure main's last commit is what a branch should start from, or refuse.

    * main's schema not committed (migrations an older `migrate` applied without a Dolt commit):
      committed now, as `migrate` does, or the branch would start with no tables.
    * uncommitted changes to blocks or their history (no service leaves them; raw SQL does):
      refused, naming the tables. The branch would not carry them and merging it back would
      clash with them.
    * other uncommitted rows (sessions, logins, agents' proposals since the last approval): not
      import data; they stay on main, unchanged, and the report says so.
    """
    changes = dolt.uncommitted_changes()
    blocking = sorted(c.table for c in changes if c.data_change and c.table in _import_tables())
    if blocking:
        raise dolt.DoltError(
            f"main has uncommitted changes in {', '.join(blocking)} that a branch would not "
            "carry (a branch starts from main's last Dolt commit). Commit them on main "
            "(CALL DOLT_COMMIT('-A', '-m', '...')) or discard them, then retry; nothing was "
            "imported and no branch was created."
        )
    commit_hash, migrations = dolt.commit_migrations(dolt.SYSTEM_AUTHOR)
    if commit_hash:
        report.notes.append(
            f"main's schema was not in a Dolt commit ({len(migrations)} migration(s) applied "
            f"without one); committed it first ({commit_hash})"
        )
        changes = dolt.uncommitted_changes()
    schema = sorted(c.table for c in changes if c.schema_change)
    if schema:
        raise dolt.DoltError(
            f"main has uncommitted schema changes in {', '.join(schema)} that no migration "
            "records; a branch would not carry them. Commit or discard them, then retry; "
            "nothing was imported and no branch was created."
        )
    if changes:
        report.notes.append(
            "main has uncommitted rows in " + ", ".join(c.table for c in changes)
            + "; they are not import data and stay on main (the branch starts from main's last "
              "commit)"
        )


def _remove_branch(branch: str) -> None:
    try:
        dolt.delete_branch(branch, force=True)
    except (dolt.DoltError, DatabaseError):
        logger.exception("could not remove branch %r after a failed import", branch)


def _wrote_anything(report: ImportReport) -> bool:
    # A run that changed nothing makes no Dolt commit, even if others left the working set dirty.
    return any(report.count(kind, action) for kind in ("block", "diff", "learner")
               for action in (CREATED, UPDATED))


def _profiles_set(report: ImportReport) -> int:
    return sum(1 for item in report.items if item.kind == "learner" and _PROFILE_NOTE in item.reason)


def _commit_message(report: ImportReport) -> str:
    message = (
        f"Import {report.source}: {report.count('block', CREATED)} created, "
        f"{report.count('block', UPDATED)} updated"
    )
    if report.count("diff", CREATED):
        message += f", {report.count('diff', CREATED)} diffs"
    if profiles := _profiles_set(report):
        message += f", {profiles} learner name(s)"
    return message


def _merge(report: ImportReport, branch: str, author: str) -> None:
    try:
        result = dolt.merge(branch, f"Merge {branch}: import {report.source}", author)
    except (dolt.DoltError, DatabaseError) as exc:
        # The import itself is safe on its branch; the caller reports the failed merge.
        report.merge_error = str(exc)
        return
    report.merged = True
    report.merge_hash = result.get("hash") or None


# --- identity and validation ------------------------------------------------------------------


def _identity(owner_type: str, owner_id: str, label: str) -> tuple[str, str, str]:
    # Owner ids and labels use a binary collation (blocks.models.IDENTIFIER_COLLATION), so the
    # database and Python agree on what "the same block" is.
    return owner_type, owner_id, label


def _display(owner_type: str, owner_id: str, label: str) -> str:
    owner = f"shared:{owner_id}" if owner_type == OwnerType.SHARED else owner_id
    return f"{owner}/{label}"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _json_normalized(value: Any, what: str) -> Any:
    """The value as the JSON column will give it back (so re-runs compare equal)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidBlockInput(f"{what} is not JSON-serializable ({exc})") from exc


def _check_import_key(key: Any, what: str) -> None:
    if not isinstance(key, str) or not key:
        raise InvalidBlockInput(f"{what} must be a non-empty string")
    if len(key) > MAX_IMPORT_KEY_LENGTH:
        raise InvalidBlockInput(f"{what} is longer than {MAX_IMPORT_KEY_LENGTH} characters")


def _validate_target(owner_type: str, owner_id: str, label: str) -> None:
    if owner_type not in OwnerType.values:
        raise InvalidBlockInput(f"owner type must be one of {', '.join(OwnerType.values)}")
    validate_owner_id(owner_id)
    validate_label(label)


def _validate_block_record(record: BlockRecord) -> None:
    _validate_target(record.owner_type, record.owner_id, record.label)
    if not isinstance(record.content, str):
        raise InvalidBlockInput("content must be a string")
    limit = record.char_limit
    if limit is not None and (
        not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= _MAX_CHAR_LIMIT
    ):
        raise InvalidBlockInput("char_limit must be empty or a non-negative integer")
    _json_normalized(record.metadata, "metadata")
    if record.current_key:
        _check_import_key(record.current_key, "current_key")
    for version in record.versions:
        if not isinstance(version.content, str):
            raise InvalidBlockInput("a version's content must be a string")
        _check_import_key(version.import_key, "a version's import_key")
        _json_normalized(version.metadata, "a version's metadata")


def _validate_diff_record(record: DiffRecord) -> None:
    _validate_target(record.owner_type, record.owner_id, record.label)
    _check_import_key(record.import_key, "import_key")
    if record.operation not in Operation.values:
        raise InvalidBlockInput(f"operation must be one of {', '.join(Operation.values)}")
    if record.status not in DiffStatus.values:
        raise InvalidBlockInput(f"status must be one of {', '.join(DiffStatus.values)}")
    if record.proposed_content is not None and not isinstance(record.proposed_content, str):
        raise InvalidBlockInput("proposed_content must be a string")
    _json_normalized(record.arguments, "arguments")
    _json_normalized(record.metadata, "metadata")


def _aware(value: datetime | None) -> datetime | None:
    """Readers give aware datetimes; a naive one is taken as UTC rather than failing the block."""
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value, dt_timezone.utc)
    return value


# --- planning -----------------------------------------------------------------------------------


@dataclass
class _BlockState:
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
    def from_block(cls, block: Block) -> _BlockState:
        return cls(
            id=block.id, owner_type=block.owner_type, owner_id=block.owner_id, label=block.label,
            content=block.content, content_hash=_sha(block.content), version=block.version,
            description=block.description, char_limit=block.char_limit,
            read_only=block.read_only, metadata=block.metadata, deleted_at=block.deleted_at,
            created_at=block.created_at, updated_at=block.updated_at,
        )


@dataclass(frozen=True, slots=True)
class _Version:
    content: str
    import_key: str
    actor: str
    reason: str
    date: datetime
    metadata: dict


@dataclass
class _Outcome:
    """One item's plan: the report entry plus the rows to write (nothing to write = no-op)."""

    item: ReportItem
    identity: tuple | None = None
    create: Block | None = None
    update: tuple[uuid.UUID, int, dict] | None = None  # (block id, expected version, fields)
    history: list[HistoricalBlock] = field(default_factory=list)
    diff: PendingDiff | None = None
    new_state: _BlockState | None = None
    owner: tuple[str, str] | None = None  # (owner_type, owner_id) of a block item


def _derived_key(record: BlockRecord, suffix: str) -> str:
    """An import key of the core's own: "<source>:<source_key>:<suffix>", hashed if too long."""
    key = f"{record.source}:{record.source_key}:{suffix}"
    if len(key) > MAX_IMPORT_KEY_LENGTH:
        key = f"{record.source[:100]}:{_sha(record.source_key)[:32]}:{suffix}"
    return key


def _derived_current_key(record: BlockRecord) -> str:
    return _derived_key(record, f"current:{_sha(record.content)[:16]}")


def _source_versions(record: BlockRecord, *, history: bool, now: datetime) -> list[_Version]:
    """The record's versions, oldest first, ending with the current content, dates resolved."""
    versions = list(record.versions)
    if not history:
        # Only the current value; keep the source's own key for it when it has one.
        versions = versions[-1:] if versions and versions[-1].content == record.content else []
    if not versions or versions[-1].content != record.content:
        versions.append(_current_version_record(record))

    created, updated = _aware(record.created_at), _aware(record.updated_at)
    resolved: list[_Version] = []
    previous: datetime | None = None
    last = len(versions) - 1
    for index, version in enumerate(versions):
        fallbacks = [updated] if index == last else []
        fallbacks += [created] if index == 0 else []
        fallbacks += [previous, created, updated, now]
        date = _aware(version.date) or next(d for d in fallbacks if d is not None)
        resolved.append(_Version(
            content=version.content,
            import_key=version.import_key,
            actor=version.actor or "system",
            reason=version.reason or f"Imported from {record.source}",
            date=date,
            metadata=_json_normalized(version.metadata, "a version's metadata"),
        ))
        previous = date
    return resolved


def _current_version_record(record: BlockRecord) -> VersionRecord:
    return VersionRecord(
        content=record.content,
        import_key=record.current_key or _derived_current_key(record),
        actor=record.current_actor,
        reason=record.current_reason,
        date=record.updated_at,
    )


def _history_row(
    block_id: uuid.UUID, fields: dict, version: _Version, number: int, deleted_at
) -> HistoricalBlock:
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


def _over_limit_warning(content_length: int, char_limit: int | None) -> list[str]:
    if char_limit is not None and content_length > char_limit:
        return [f"over char_limit: {content_length} characters, limit {char_limit} (kept)"]
    return []


def _plan_new_block(record: BlockRecord, versions: list[_Version], item: ReportItem) -> _Outcome:
    first, last = versions[0], versions[-1]
    created_at = min(d for d in (_aware(record.created_at), first.date) if d is not None)
    updated_at = max(d for d in (_aware(record.updated_at), last.date) if d is not None)
    deleted_at = updated_at if record.deleted else None
    metadata = _json_normalized(record.metadata, "metadata")
    fields = dict(
        owner_type=record.owner_type, owner_id=record.owner_id, label=record.label,
        description=record.description, char_limit=record.char_limit,
        read_only=record.read_only, metadata=metadata, created_at=created_at,
    )
    block_id = uuid.uuid4()
    block = Block(
        id=block_id, content=record.content, version=len(versions), deleted_at=deleted_at,
        updated_at=updated_at, **fields,
    )
    rows = [
        _history_row(block_id, fields, v, n, deleted_at if n == len(versions) else None)
        for n, v in enumerate(versions, start=1)
    ]
    item.action = CREATED
    item.versions_added = len(rows)
    item.reason = f"new block, {len(rows)} version{'s' if len(rows) != 1 else ''}"
    if record.deleted:
        item.reason += ", deleted"
    item.warnings += _over_limit_warning(len(record.content), record.char_limit)
    state = _BlockState.from_block(block)
    state.import_keys = {v.import_key for v in versions}
    state.import_deleted = record.deleted
    return _Outcome(item=item, create=block, history=rows, new_state=state)


def _plan_existing_block(
    record: BlockRecord, state: _BlockState, versions: list[_Version], item: ReportItem,
    now: datetime,
) -> _Outcome:
    # History is append-only: whatever the source has up to the last version the block already
    # holds (same import key, or the same content as now) is present or superseded; only what
    # comes after it is new. So a second source holding the same current value adds nothing,
    # and a re-run of a source that moved on adds exactly its new versions.
    hashes = [_sha(v.content) for v in versions]
    anchor = -1
    for index, (version, digest) in enumerate(zip(versions, hashes)):
        if version.import_key in state.import_keys or digest == state.content_hash:
            anchor = index
    missing_before = sum(
        1 for version, digest in zip(versions[: anchor + 1], hashes)
        if version.import_key not in state.import_keys and digest != state.content_hash
    )
    pending: list[_Version] = []
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
    merged_metadata = _json_normalized({**existing, **record.metadata}, "metadata")
    if pending:
        return _append_versions(record, state, pending, merged_metadata, item)
    if record.deleted and state.deleted_at is None and not state.import_deleted:
        # Deleted in the source since an earlier import. Deletion is a version of its own; a
        # staff restore after an imported deletion sticks (import_deleted), so re-runs are no-ops.
        deletion = _Version(
            content=state.content, import_key=_derived_key(record, "deleted"),
            actor=record.current_actor or "system",
            reason=record.current_reason or f"Deleted in {record.source}",
            date=_aware(record.updated_at) or now, metadata={},
        )
        return _append_versions(
            record, state, [deletion], merged_metadata, item, deletion_only=True
        )
    # Nothing new. A source that is behind (its current value is an earlier version of the
    # block) describes that earlier value: it leaves the block alone. One that agrees with the
    # block only fills in metadata keys the block lacks; what the block has (staff edits, another
    # source's provenance, e.g. a database import's metadata["letta"] that an Agent File of the
    # same agent would replace with its file-local one) is kept. Either way a second source
    # holding values the block already has changes nothing and makes no Dolt commit.
    behind = hashes[-1] != state.content_hash
    filled_metadata = _json_normalized({**record.metadata, **existing}, "metadata")
    if not behind and filled_metadata != state.metadata:
        item.action = UPDATED
        item.reason = "metadata merged (no new version)"
        new_state = replace(state, metadata=filled_metadata)
        return _Outcome(
            item=item, update=(state.id, state.version, {"metadata": filled_metadata}),
            new_state=new_state,
        )
    item.action = UNCHANGED
    if behind:
        item.reason = "nothing new: the source's current value is an earlier version of the block"
    else:
        item.reason = "already imported" if not missing_before else "nothing new to append"
    return _Outcome(item=item)


def _append_versions(
    record: BlockRecord, state: _BlockState, pending: list[_Version], metadata: dict,
    item: ReportItem, *, deletion_only: bool = False,
) -> _Outcome:
    last = pending[-1]
    if deletion_only:
        # Only the deleted state changes; the block's other fields stay as they are.
        field_values = dict(
            description=state.description, char_limit=state.char_limit,
            read_only=state.read_only,
        )
        deleted_at = last.date
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
        _history_row(
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
    if not deletion_only:
        update_fields["content"] = last.content
    item.action = UPDATED
    item.versions_added = len(rows)
    if deletion_only:
        item.reason = "deleted in the source"
    else:
        plural = "s" if len(rows) != 1 else ""
        item.reason = f"{len(rows)} new version{plural} after v{state.version}"
        item.warnings += _over_limit_warning(len(last.content), record.char_limit)
    new_state = replace(
        state, version=new_version, metadata=metadata, deleted_at=deleted_at,
        updated_at=updated_at, import_keys=state.import_keys | {v.import_key for v in pending},
        import_deleted=state.import_deleted or deleted_at is not None, **field_values,
    )
    if not deletion_only:
        new_state.content, new_state.content_hash = last.content, _sha(last.content)
    return _Outcome(
        item=item, update=(state.id, state.version, update_fields), history=rows,
        new_state=new_state,
    )


def _plan_diff(
    record: DiffRecord, target: _BlockState | None, exists: bool, now: datetime
) -> _Outcome:
    where = _display(record.owner_type, record.owner_id, record.label)
    item = ReportItem(kind="diff", key=record.import_key, action=UNCHANGED, source=record.source,
                      source_key=record.import_key)
    if exists:
        item.reason = "already imported"
        return _Outcome(item=item)
    item.action = CREATED
    item.reason = f"{record.status} {record.operation} on {where}"
    if target is None:
        item.warnings.append(f"missing block: {where} does not exist; the diff is kept unlinked")
    preview = ""
    if record.proposed_content is not None and (target is None or target.content is not None):
        current = target.content if target else ""
        preview = unified_diff(current, record.proposed_content, record.label)
    created_at = _aware(record.created_at) or now
    diff = PendingDiff(
        owner_type=record.owner_type,
        owner_id=record.owner_id,
        label=record.label,
        block_id=target.id if target else None,
        operation=record.operation,
        arguments=_json_normalized(record.arguments, "arguments"),
        proposed_content=record.proposed_content or "",
        preview=preview,
        base_version=target.version if target else None,
        reasoning=record.reasoning or "",
        agent_key_name=f"import:{record.source}",
        agent_id=record.agent_id or "",
        status=record.status,
        conflict_reason=record.conflict_reason or "",
        reviewed_at=_aware(record.reviewed_at),
        metadata=_json_normalized(record.metadata, "metadata"),
        import_key=record.import_key,
        created_at=created_at,
        updated_at=_aware(record.reviewed_at) or created_at,
    )
    return _Outcome(item=item, diff=diff)


# --- writing ------------------------------------------------------------------------------------


class _BlockMovedOn(Exception):
    """An existing block changed between planning and writing; the unit is planned again."""


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
    for chunk in _chunks(rows, size_of):
        model.objects.bulk_create(chunk)


def _write(outcomes: list[_Outcome]) -> None:
    """Write planned outcomes (inside the caller's transaction): blocks, history, then diffs."""
    _bulk_insert(Block, [o.create for o in outcomes if o.create], lambda b: len(b.content))
    for outcome in outcomes:
        if outcome.update:
            block_id, expected_version, fields = outcome.update
            # Conditional on the version we planned against: a concurrent change is re-planned.
            changed = Block.objects.filter(pk=block_id, version=expected_version).update(**fields)
            if changed != 1:
                raise _BlockMovedOn(block_id)
    _bulk_insert(
        HistoricalBlock, [row for o in outcomes for row in o.history],
        lambda r: len(r.content or ""),
    )
    _bulk_insert(
        PendingDiff, [o.diff for o in outcomes if o.diff],
        lambda d: len(d.proposed_content) + len(d.preview),
    )


# --- the run ------------------------------------------------------------------------------------


@dataclass
class _Learner:
    user_id: str
    existed: bool | None = None  # had blocks before this run (None: not looked up yet)
    changed: bool = False
    blocks_seen: int = 0
    profile: ImportedProfile | None = None  # the name the source gives
    profile_actor: str = ""  # "import:letta", "import:youlab_v1"
    profile_change: str = ""  # what filling the profile changed ("display name set")


@dataclass
class _Batch:
    blocks: list[tuple[BlockRecord, tuple]] = field(default_factory=list)
    diffs: list[DiffRecord] = field(default_factory=list)
    block_keys: set[tuple] = field(default_factory=set)
    diff_keys: set[str] = field(default_factory=set)
    chars: int = 0

    def __len__(self):
        return len(self.blocks) + len(self.diffs)

    def singles(self) -> list[_Batch]:
        """One batch per item, for redoing a failed batch item by item."""
        blocks = [_Batch(blocks=[(r, key)], block_keys={key}) for r, key in self.blocks]
        diffs = [_Batch(diffs=[d], diff_keys={d.import_key}) for d in self.diffs]
        return blocks + diffs


class _Importer:
    def __init__(self, report: ImportReport, *, dry_run: bool, history: bool,
                 only_user: str | None, batch_size: int, progress: ProgressCallback | None):
        self.report = report
        self.dry_run = dry_run
        self.history = history
        self.only_user = only_user
        self.batch_size = batch_size
        self.progress = progress
        self.learners: dict[str, _Learner] = {}  # by folded user id
        # Dry run only: what earlier batches would have written, so later batches (a duplicate
        # block, a diff for a block "created" earlier) are planned as the real run would.
        self.planned_blocks: dict[tuple, _BlockState] = {}
        self.planned_diff_keys: set[str] = set()

    # -- reading

    def run(self, records: Iterable[ImportRecord]) -> None:
        batch = _Batch()
        iterator = iter(records)
        while True:
            try:
                record = next(iterator)
            except StopIteration:
                break
            except Exception as exc:
                # The reader broke off: keep what is imported (each item is whole) and say so.
                logger.exception("import source failed after %s records", self.report.records_seen)
                self.report.aborted = f"reading the source failed: {type(exc).__name__}: {exc}"
                break
            self.report.records_seen += 1
            batch = self._take(batch, record)
            if len(batch) >= self.batch_size or batch.chars >= MAX_BATCH_CHARS:
                batch = self._flush(batch)
            elif self.progress and self.report.records_seen % _PROGRESS_EVERY == 0:
                self.progress(self.report)
        self._flush(batch)
        self._fill_profiles()
        self._report_learners()
        self._report_missing_user()

    def _take(self, batch: _Batch, record) -> _Batch:
        if not self._wanted(record):
            return batch
        if isinstance(record, BlockRecord):
            return self._add_block(batch, record)
        if isinstance(record, DiffRecord):
            return self._add_diff(batch, record)
        if isinstance(record, LearnerRecord):
            learner = self._learner(record.user_id)
            if record.display_name or record.email:
                learner.profile = ImportedProfile(record.user_id, record.display_name, record.email)
                learner.profile_actor = "import:" + record.source.split(":")[0]
        elif isinstance(record, SkippedRecord):
            self._passed_through(record)
        else:
            self.report.add(ReportItem(
                kind="record", key=repr(record)[:200], action=SKIPPED,
                reason=f"not an import record ({type(record).__name__})",
            ))
        return batch

    def _wanted(self, record) -> bool:
        if self.only_user is None:
            return True
        if isinstance(record, LearnerRecord):
            return record.user_id == self.only_user
        if isinstance(record, (BlockRecord, DiffRecord)):
            return record.owner_type == OwnerType.SHARED or record.owner_id == self.only_user
        return True

    def _add_block(self, batch: _Batch, record: BlockRecord) -> _Batch:
        try:
            _validate_block_record(record)
        except InvalidBlockInput as exc:
            self._skip_invalid("block", record, exc)
            return batch
        key = _identity(record.owner_type, record.owner_id, record.label)
        if key in batch.block_keys:
            # The same block twice in a run: the second is planned against the first's result.
            batch = self._flush(batch)
        if record.owner_type == OwnerType.USER:
            self._learner(record.owner_id).blocks_seen += 1
        batch.blocks.append((record, key))
        batch.block_keys.add(key)
        batch.chars += len(record.content) + sum(len(v.content) for v in record.versions)
        return batch

    def _add_diff(self, batch: _Batch, record: DiffRecord) -> _Batch:
        try:
            _validate_diff_record(record)
        except InvalidBlockInput as exc:
            self._skip_invalid("diff", record, exc)
            return batch
        if record.import_key in batch.diff_keys:
            batch = self._flush(batch)
        batch.diffs.append(record)
        batch.diff_keys.add(record.import_key)
        batch.chars += len(record.proposed_content or "")
        return batch

    def _skip_invalid(self, kind: str, record, exc: InvalidBlockInput) -> None:
        label = getattr(record, "label", "")
        owner_id = getattr(record, "owner_id", "")
        key = _display(getattr(record, "owner_type", ""), str(owner_id), str(label))
        self.report.add(ReportItem(
            kind=kind, key=key[:500], action=SKIPPED, reason=f"invalid: {exc.message}",
            source=record.source,
            source_key=getattr(record, "source_key", "") or getattr(record, "import_key", ""),
        ))

    def _passed_through(self, record: SkippedRecord) -> None:
        # v1's reader reports remarks about imported items as SkippedRecord(kind="note").
        action = NOTED if record.kind == NOTE_KIND else SKIPPED
        self.report.add(ReportItem(
            kind=record.kind, key=record.key, action=action, reason=record.reason,
            source=record.source,
        ))

    def _learner(self, user_id: str) -> _Learner:
        key = user_id
        if key not in self.learners:
            self.learners[key] = _Learner(user_id=user_id)
        return self.learners[key]

    # -- writing a batch

    def _flush(self, batch: _Batch) -> _Batch:
        if len(batch):
            self._look_up_learners()
            if self.dry_run:
                outcomes = self._each_or_one_by_one(batch, self._plan_only)
                self._remember_planned(outcomes)
            else:
                outcomes = self._each_or_one_by_one(batch, self._write_unit)
            for outcome in outcomes:
                self._record(outcome)
            if self.progress:
                self.progress(self.report)
        return _Batch()

    def _each_or_one_by_one(self, batch: _Batch, unit: Callable[[_Batch], list[_Outcome]]):
        try:
            return unit(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [self._failed(batch, exc)]
            logger.info("import batch of %s failed (%s); redoing item by item", len(batch), exc)
        outcomes = []
        for single in batch.singles():
            try:
                outcomes += unit(single)
            except Exception as exc:  # only this item is lost; the database refused it whole
                outcomes.append(self._failed(single, exc))
        return outcomes

    def _failed(self, single: _Batch, exc: Exception) -> _Outcome:
        logger.warning("import item failed: %s", exc, exc_info=not isinstance(exc, DatabaseError))
        reason = f"{type(exc).__name__}: {exc}"
        if single.blocks:
            record, _ = single.blocks[0]
            item = ReportItem(
                kind="block", key=_display(record.owner_type, record.owner_id, record.label),
                action=FAILED, reason=reason, source=record.source, source_key=record.source_key,
            )
        else:
            record = single.diffs[0]
            item = ReportItem(kind="diff", key=record.import_key, action=FAILED, reason=reason,
                              source=record.source, source_key=record.import_key)
        return _Outcome(item=item)

    def _write_unit(self, batch: _Batch) -> list[_Outcome]:
        def unit():
            with transaction.atomic():
                outcomes = self._plan(batch)  # planned inside: the snapshot we write against
                _write(outcomes)
            return outcomes

        for attempt in range(1, _MOVED_ON_ATTEMPTS + 1):
            try:
                return dolt.retry_on_conflict(unit)
            except _BlockMovedOn:
                if attempt == _MOVED_ON_ATTEMPTS or connections["default"].in_atomic_block:
                    raise
        raise AssertionError("unreachable")

    def _plan_only(self, batch: _Batch) -> list[_Outcome]:
        return self._plan(batch)

    def _plan(self, batch: _Batch) -> list[_Outcome]:
        now = timezone.now()
        targets = [(r.owner_type, r.owner_id, r.label) for r, _ in batch.blocks]
        targets += [(d.owner_type, d.owner_id, d.label) for d in batch.diffs]
        states = self._load_states(targets, with_keys={key for _, key in batch.blocks})
        existing_diffs = set(
            PendingDiff.objects.filter(import_key__in=[d.import_key for d in batch.diffs])
            .values_list("import_key", flat=True)
        ) if batch.diffs else set()
        existing_diffs |= self.planned_diff_keys & batch.diff_keys

        outcomes = []
        for record, key in batch.blocks:
            outcome = self._plan_block(record, states.get(key), now)
            outcome.identity = key
            if outcome.new_state is not None:
                states[key] = outcome.new_state  # this batch's diffs see the block as written
            outcomes.append(outcome)
        for record in batch.diffs:
            key = _identity(record.owner_type, record.owner_id, record.label)
            exists = record.import_key in existing_diffs
            outcomes.append(_plan_diff(record, states.get(key), exists, now))
        return outcomes

    def _plan_block(self, record: BlockRecord, state: _BlockState | None, now) -> _Outcome:
        item = ReportItem(
            kind="block", key=_display(record.owner_type, record.owner_id, record.label),
            action=UNCHANGED, source=record.source, source_key=record.source_key,
        )
        owner = (record.owner_type, record.owner_id)
        versions = _source_versions(record, history=self.history, now=now)
        if state is None:
            outcome = _plan_new_block(record, versions, item)
        else:
            outcome = _plan_existing_block(record, state, versions, item, now)
        outcome.owner = owner
        return outcome

    def _load_states(self, targets: list[tuple[str, str, str]], with_keys: set[tuple]) -> dict:
        """Current blocks for these (owner_type, owner_id, label), keyed by identity."""
        wanted = {_identity(*t) for t in targets}
        states: dict[tuple, _BlockState] = {}
        # Fetch the owners' blocks (the unique key's prefix) and keep the wanted labels.
        owners = sorted({(owner_type, owner_id) for owner_type, owner_id, _ in targets})
        for start in range(0, len(owners), _LOOKUP_OWNERS):
            chunk = owners[start : start + _LOOKUP_OWNERS]
            condition = Q(pk__in=[])
            for owner_type in {t for t, _ in chunk}:
                condition |= Q(owner_type=owner_type, owner_id__in=[o for t, o in chunk if t == owner_type])
            for block in Block.objects.filter(condition):
                key = _identity(block.owner_type, block.owner_id, block.label)
                if key in wanted:
                    states[key] = _BlockState.from_block(block)
        by_id = {s.id: s for k, s in states.items() if k in with_keys}
        if by_id:
            rows = HistoricalBlock.objects.filter(
                id__in=list(by_id), import_key__isnull=False
            ).values_list("id", "import_key", "deleted_at")
            for block_id, import_key, deleted_at in rows:
                by_id[block_id].import_keys.add(import_key)
                if deleted_at is not None:
                    by_id[block_id].import_deleted = True
        for key in wanted & self.planned_blocks.keys():
            states[key] = self.planned_blocks[key]
        return states

    def _remember_planned(self, outcomes: list[_Outcome]) -> None:
        for outcome in outcomes:
            if outcome.new_state is not None and outcome.identity is not None:
                # Keep the hash, not the text: a dry run over 50k blocks must stay small.
                self.planned_blocks[outcome.identity] = replace(outcome.new_state, content=None)
            if outcome.diff is not None:
                self.planned_diff_keys.add(outcome.diff.import_key)

    def _record(self, outcome: _Outcome) -> None:
        self.report.add(outcome.item)
        changed = outcome.item.action in (CREATED, UPDATED)
        if changed and outcome.owner and outcome.owner[0] == OwnerType.USER:
            self._learner(outcome.owner[1]).changed = True

    # -- learners

    def _fill_profiles(self) -> None:
        """Fill the learners' names from the source (learners.services: only empty fields, so
        a re-run, or a name an agent set, changes nothing); a batch per transaction."""
        by_actor: dict[str, list[ImportedProfile]] = {}
        for learner in self.learners.values():
            if learner.profile is not None:
                by_actor.setdefault(learner.profile_actor, []).append(learner.profile)
        for actor, profiles in by_actor.items():
            for start in range(0, len(profiles), _LOOKUP_OWNERS):
                chunk = profiles[start : start + _LOOKUP_OWNERS]

                def unit(chunk=chunk, actor=actor):
                    with transaction.atomic():
                        return import_learner_profiles(profiles=chunk, by=Actor.importer(actor.removeprefix("import:")),
                                                       dry_run=self.dry_run)

                try:
                    changed = dolt.retry_on_conflict(unit)
                except Exception as exc:  # the names are lost, never the blocks: say so
                    logger.warning("learner profiles not written: %s", exc)
                    self.report.add(ReportItem(kind="learner", key=f"{len(chunk)} learner profile(s)",
                                               action=FAILED, reason=f"{type(exc).__name__}: {exc}"))
                    continue
                for user_id, what in changed.items():
                    self._learner(user_id).profile_change = what

    def _look_up_learners(self) -> None:
        """Note which learners already had blocks, before this batch writes any."""
        unknown = {l.user_id: l for l in self.learners.values() if l.existed is None}
        if not unknown:
            return
        user_ids = sorted(unknown)
        found = set()
        for start in range(0, len(user_ids), _LOOKUP_OWNERS):
            owner_ids = Block.objects.filter(
                owner_type=OwnerType.USER, owner_id__in=user_ids[start : start + _LOOKUP_OWNERS]
            ).values_list("owner_id", flat=True)
            found |= set(owner_ids.distinct())
        for learner in unknown.values():
            learner.existed = learner.user_id in found

    def _report_missing_user(self) -> None:
        """--user naming nobody the source knows: said once, by id (a reader may have already)."""
        uid = self.only_user
        if uid is None or uid in self.learners:
            return
        self.report.users_not_found.append(uid)
        if not any(i.kind == "learner" and i.key == uid for i in self.report.items):
            self.report.add(ReportItem(
                kind="learner", key=uid, action=SKIPPED, reason="not found in the source",
            ))

    def _report_learners(self) -> None:
        self._look_up_learners()
        for learner in self.learners.values():
            if learner.changed or learner.profile_change:
                action = UPDATED if learner.existed else CREATED
                parts = ["new learner" if action == CREATED else "new or changed blocks"]
                if action == UPDATED and not learner.changed:
                    parts = []
                if learner.profile_change:
                    parts.append(f"{_PROFILE_NOTE}{learner.profile_change}")
                reason = "; ".join(parts)
            else:
                action = UNCHANGED
                reason = "no blocks in the source" if not learner.blocks_seen else "nothing new"
            self.report.add(ReportItem(
                kind="learner", key=learner.user_id, action=action, reason=reason,
            ))
