"""The v1 reader's entry point: a data root's learner folders, each read in named steps.

``read_learner`` opens the learner's git sandbox, checks the whole history against the limits,
then reads the learner, its blocks (``blocks``, both eras) and its pending diffs
(``pending_diffs``). One learner that cannot be read is one ``SkippedRecord``, never the end of
the run and never half a learner.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from datetime import timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from ..records import ImportRecord, LearnerRecord, SkippedRecord
from ..safe_git import GitSandbox
from ..safety import DEFAULT_LIMITS, Limits
from .blocks import read_blocks
from .git import LearnerGit
from .pending_diffs import read_diffs
from .source import SOURCE, LearnerRepo, why
from .toml_era import name_given_at_init


def read_data_root(
    path: str | os.PathLike[str],
    user_id: str | None = None,
    tz: tzinfo | str = timezone.utc,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[ImportRecord]:
    """Yield the records of every learner repository under a v1 data root.

    ``user_id`` limits the run to one learner. ``tz`` is the v1 server's timezone, used for the
    naive local timestamps of pending diffs (git dates carry their own offset). ``limits`` caps
    file sizes, file counts and each learner's total (what is over is reported and skipped).

    A learner's records are collected before any is yielded, so a learner that cannot be read is
    one ``SkippedRecord`` instead of a half-written learner.
    """
    root = Path(path)
    if shutil.which("git") is None:
        raise RuntimeError("the git command line tool is needed to read v1 repositories")
    if not root.is_dir():
        raise FileNotFoundError(f"v1 data root not found: {root}")
    if isinstance(tz, str):
        tz = ZoneInfo(tz)

    if user_id is not None:
        entries = [root / user_id]
        # A plain folder name only: "../x" must not read outside the data root.
        if (Path(user_id).name != user_id or user_id in (".", "..")
                or not (entries[0].is_dir() or entries[0].is_symlink())):
            reason = "no such learner folder in the data root"
            yield SkippedRecord("learner", user_id, reason, SOURCE)
            return
    else:
        entries = sorted(root.iterdir(), key=lambda p: p.name)

    with tempfile.TemporaryDirectory(prefix="youlab-v1-git-") as workspace:
        yield from _read_learners(entries, tz, limits, Path(workspace))


def _read_learners(
    entries: list[Path], tz: tzinfo, limits: Limits, workspace: Path
) -> Iterator[ImportRecord]:
    for entry in entries:
        mode = entry.lstat().st_mode
        if stat.S_ISLNK(mode):  # another folder, maybe outside the data root
            yield SkippedRecord("learner", entry.name, "symbolic link; not followed", SOURCE)
        elif not stat.S_ISDIR(mode):
            yield SkippedRecord("file", entry.name, "not a learner folder", SOURCE)
        elif not os.path.lexists(entry / ".git"):
            yield SkippedRecord("learner", entry.name, "folder has no .git; v1 ignored it", SOURCE)
        else:
            yield from read_learner(entry, tz, limits, workspace)


def read_learner(repo: Path, tz: tzinfo, limits: Limits = DEFAULT_LIMITS,
                 workspace: Path | None = None) -> list[ImportRecord]:
    """One learner folder's records: the learner, its blocks, its diffs, then the notes."""
    try:
        with GitSandbox(repo, workspace) as sandbox:
            learner = LearnerRepo(repo, tz, limits, LearnerGit(sandbox))
            return _read_learner(learner, sandbox)
    except Exception as exc:  # one bad learner is reported, never the end of the run
        reason = f"unreadable v1 repository: {why(exc)}"
        return [SkippedRecord("learner", repo.name, reason, SOURCE)]


def _read_learner(learner: LearnerRepo, sandbox: GitSandbox) -> list[ImportRecord]:
    head, limits = sandbox.facts.head, learner.limits
    learner.spend(sandbox.verify(max_object_bytes=limits.max_file_bytes,
                                 max_total_bytes=limits.max_learner_bytes), "its history")
    learner.object_sizes = sandbox.object_sizes
    learner.order = learner.git.commit_order() if head else {}
    record = LearnerRecord(
        user_id=learner.user_id,
        source=SOURCE,
        source_key=learner.user_id,
        metadata={
            "v1": {"head": head, "branch": sandbox.facts.branch, "commits": len(learner.order)}
        },
    )
    if not head:
        learner.report("note", ".git", "repository has no commits; only files on disk read")
    if sandbox.facts.shallow:
        learner.report("note", ".git/shallow", "shallow repository: history before "
                       f"{len(sandbox.facts.shallow)} boundary commit(s) is not in it")
    blocks = read_blocks(learner, head)
    record.display_name = name_given_at_init(blocks)
    diffs = read_diffs(learner, {b.label: b for b in blocks if not b.deleted})
    return [record, *blocks, *diffs, *learner.notes]
