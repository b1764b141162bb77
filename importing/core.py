"""The one importer: plain records (``records.py``) in; blocks, history and pending diffs out.

Every reader (Letta SQLite/Postgres/REST/Agent File, YouLab v1 git) yields the same records and
calls ``import_records``. The parts (design.md §7; docs/imports.md):

* ``importing.validation``: a record's checks (a refused one is reported as skipped, the run goes on);
* ``importing.planning``: what a record means for the block as it is (new, new versions, nothing);
* ``importing.writer``: the rows, and the one bulk writer of blocks, history rows and diffs;
* ``importing.importer``: the run (batches, retries, item-by-item fallback, learners, report);
* here: the run's frame. The run ends with ONE Dolt commit; ``branch`` runs the import
  connected to ``<db>/<branch>`` (created from main if missing), commits there and reports the
  diff against main; ``merge`` then merges it into main. ``dry_run`` writes nothing (no rows,
  no Dolt commit).
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Callable, Iterable

from django.db import DatabaseError
from django.utils import timezone

from blocks.models import Block, HistoricalBlock
from youlab import dolt

from .importer import PROFILE_NOTE, Importer, ProgressCallback
from .records import ImportRecord
from .report import CREATED, UPDATED, ImportReport

logger = logging.getLogger(__name__)

IMPORT_AUTHOR = "YouLab import <import@youlab.local>"
MAIN_BRANCH = "main"
DEFAULT_BATCH_SIZE = 200  # blocks (with all their versions) per transaction


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
    importer = Importer(
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
    return sum(1 for item in report.items if item.kind == "learner" and PROFILE_NOTE in item.reason)


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
