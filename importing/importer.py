"""The run of one import: records in, batches planned (``importing.planning``) and written
(``importing.writer``), every item reported. ``importing.core.import_records`` wraps it in a
Dolt branch and commit.

* Writes are batched (``batch_size`` blocks per transaction, retried on Dolt's 1213); a batch
  the database refuses is redone item by item so only the bad item fails, and each item (a
  block with all its versions, or a diff) is all-or-nothing.
* A record the checks refuse (``importing.validation``: an owner id with surrounding spaces or
  control characters, a bad label, …) is reported as skipped with the reason; the run goes on.
* ``dry_run`` plans against the current state and writes nothing.
* Identity of a block is (owner_type, owner_id, label), compared as the database does (binary
  collation). A record that matches an existing block spelled differently is a different block.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from django.db import DatabaseError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from blocks.models import Block, HistoricalBlock, OwnerType
from diffs.models import PendingDiff
from learners.services import ImportedProfile, import_learner_profiles
from youlab import dolt
from youlab.actors import Actor
from youlab.errors import InvalidInput

from . import writer
from .planning import BlockState, Outcome, plan_diff, plan_existing_block, plan_new_block, source_versions
from .records import BlockRecord, DiffRecord, ImportRecord, LearnerRecord, SkippedRecord
from .report import CREATED, FAILED, NOTE_KIND, NOTED, SKIPPED, UNCHANGED, UPDATED, ImportReport, ReportItem
from .validation import display, identity, validate_block_record, validate_diff_record, validate_learner_id

logger = logging.getLogger(__name__)

MAX_BATCH_CHARS = 32_000_000  # blocks per batch: fewer, when their contents add up to this much
PROFILE_NOTE = "profile: "  # in a learner's reason: what the import filled in of their profile
_MOVED_ON_ATTEMPTS = 3
_LOOKUP_OWNERS = 500  # owners per lookup query (and learner profiles per transaction)
_PROGRESS_EVERY = 1000  # records between progress calls when no batch is written

ProgressCallback = Callable[[ImportReport], None]


@dataclass(slots=True)  # one per learner of the source: kept small
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


class Importer:
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
        self.planned_blocks: dict[tuple, BlockState] = {}
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
            try:
                validate_learner_id(record.user_id)
            except InvalidInput as exc:
                self._skip_invalid("learner", record, exc)
                return batch
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
            validate_block_record(record)
        except InvalidInput as exc:
            self._skip_invalid("block", record, exc)
            return batch
        key = identity(record.owner_type, record.owner_id, record.label)
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
            validate_diff_record(record)
        except InvalidInput as exc:
            self._skip_invalid("diff", record, exc)
            return batch
        if record.import_key in batch.diff_keys:
            batch = self._flush(batch)
        batch.diffs.append(record)
        batch.diff_keys.add(record.import_key)
        batch.chars += len(record.proposed_content or "")
        return batch

    def _skip_invalid(self, kind: str, record, exc: InvalidInput) -> None:
        if isinstance(record, LearnerRecord):
            key = str(record.user_id)
        else:
            key = display(str(record.owner_type), str(record.owner_id), str(record.label))
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

    def _each_or_one_by_one(self, batch: _Batch, unit: Callable[[_Batch], list[Outcome]]):
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

    def _failed(self, single: _Batch, exc: Exception) -> Outcome:
        logger.warning("import item failed: %s", exc, exc_info=not isinstance(exc, DatabaseError))
        reason = f"{type(exc).__name__}: {exc}"
        if single.blocks:
            record, _ = single.blocks[0]
            item = ReportItem(
                kind="block", key=display(record.owner_type, record.owner_id, record.label),
                action=FAILED, reason=reason, source=record.source, source_key=record.source_key,
            )
        else:
            record = single.diffs[0]
            item = ReportItem(kind="diff", key=record.import_key, action=FAILED, reason=reason,
                              source=record.source, source_key=record.import_key)
        return Outcome(item=item)

    def _write_unit(self, batch: _Batch) -> list[Outcome]:
        def unit():
            with transaction.atomic():
                outcomes = self._plan(batch)  # planned inside: the snapshot we write against
                writer.write(
                    blocks=[o.create for o in outcomes if o.create],
                    updates=[o.update for o in outcomes if o.update],
                    history=[row for o in outcomes for row in o.history],
                    diffs=[o.diff for o in outcomes if o.diff],
                )
            return outcomes

        for attempt in range(1, _MOVED_ON_ATTEMPTS + 1):
            try:
                return dolt.retry_on_conflict(unit)
            except writer.BlockMovedOn:
                if attempt == _MOVED_ON_ATTEMPTS or connections["default"].in_atomic_block:
                    raise
        raise AssertionError("unreachable")

    def _plan_only(self, batch: _Batch) -> list[Outcome]:
        return self._plan(batch)

    def _plan(self, batch: _Batch) -> list[Outcome]:
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
            key = identity(record.owner_type, record.owner_id, record.label)
            exists = record.import_key in existing_diffs
            outcomes.append(plan_diff(record, states.get(key), exists, now))
        return outcomes

    def _plan_block(self, record: BlockRecord, state: BlockState | None, now) -> Outcome:
        item = ReportItem(
            kind="block", key=display(record.owner_type, record.owner_id, record.label),
            action=UNCHANGED, source=record.source, source_key=record.source_key,
        )
        owner = (record.owner_type, record.owner_id)
        versions = source_versions(record, history=self.history, now=now)
        if state is None:
            outcome = plan_new_block(record, versions, item)
        else:
            outcome = plan_existing_block(record, state, versions, item, now)
        outcome.owner = owner
        return outcome

    def _load_states(self, targets: list[tuple[str, str, str]], with_keys: set[tuple]) -> dict:
        """Current blocks for these (owner_type, owner_id, label), keyed by identity."""
        wanted = {identity(*t) for t in targets}
        states: dict[tuple, BlockState] = {}
        # Fetch the owners' blocks (the unique key's prefix) and keep the wanted labels.
        owners = sorted({(owner_type, owner_id) for owner_type, owner_id, _ in targets})
        for start in range(0, len(owners), _LOOKUP_OWNERS):
            chunk = owners[start : start + _LOOKUP_OWNERS]
            condition = Q(pk__in=[])
            for owner_type in {t for t, _ in chunk}:
                condition |= Q(owner_type=owner_type, owner_id__in=[o for t, o in chunk if t == owner_type])
            for block in Block.objects.filter(condition):
                key = identity(block.owner_type, block.owner_id, block.label)
                if key in wanted:
                    states[key] = BlockState.from_block(block)
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

    def _remember_planned(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.new_state is not None and outcome.identity is not None:
                # Keep the hash, not the text: a dry run over 50k blocks must stay small.
                self.planned_blocks[outcome.identity] = replace(outcome.new_state, content=None)
            if outcome.diff is not None:
                self.planned_diff_keys.add(outcome.diff.import_key)

    def _record(self, outcome: Outcome) -> None:
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
                    parts.append(f"{PROFILE_NOTE}{learner.profile_change}")
                reason = "; ".join(parts)
            else:
                action = UNCHANGED
                reason = "no blocks in the source" if not learner.blocks_seen else "nothing new"
            self.report.add(ReportItem(
                kind="learner", key=learner.user_id, action=action, reason=reason,
            ))
