"""One learner's repository as the reader sees it: bounded file access, its git history, notes.

The work tree is read with no symbolic link followed (``safety.read_file_inside``) and every byte
read is spent from the learner's budget (``--max-learner-size``); folders are counted against
``--max-files``. What cannot be read is a note (a ``SkippedRecord``) kept with the learner.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from ..records import SkippedRecord
from ..safe_git import GitError, RepositoryRefused
from ..safety import Limits, SourceLimitExceeded, format_size, read_file_inside
from .git import LearnerGit, TreeEntry

SOURCE = "youlab_v1"
IMPORT_ACTOR = "import:youlab_v1"

MD_DIR = "memory-blocks"
TOML_DIR = "blocks"
DIFF_DIR = "pending_diffs"


# Private to this package: raised and caught inside the reader, each one a note in the report.


class _SkipBlock(Exception):
    """This block cannot be read; the message says why (the learner's other blocks still are)."""


class _BadDiff(Exception):
    """This pending diff cannot be read; the message says why."""


def why(exc: Exception) -> str:
    """The reason a note gives: our own refusals say it in words, anything else is shown whole."""
    known = (GitError, RepositoryRefused, SourceLimitExceeded, _SkipBlock, _BadDiff)
    return str(exc) if isinstance(exc, known) else repr(exc)


@dataclass
class LearnerRepo:
    repo: Path
    tz: tzinfo
    limits: Limits
    git: LearnerGit
    budget: int = field(init=False)  # bytes this learner may still have read
    files_seen: int = 0
    history_entries: dict[str, dict[str, TreeEntry]] = field(default_factory=dict)
    object_sizes: dict[str, int] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)  # commit -> its place in HEAD's history
    notes: list[SkippedRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.budget = self.limits.max_learner_bytes

    @property
    def user_id(self) -> str:
        return self.repo.name

    # -- reporting

    def key(self, rel: str) -> str:
        return f"{self.user_id}/{rel}"

    def report(self, kind: str, rel: str, reason: str) -> None:
        self.notes.append(SkippedRecord(kind, self.key(rel), reason, SOURCE))

    # -- limits

    def spend(self, n: int, what: str) -> None:
        self.budget -= n
        if self.budget < 0:
            raise RepositoryRefused(
                f"reading {what} takes it over the learner limit of "
                f"{format_size(self.limits.max_learner_bytes)} (--max-learner-size)"
            )

    def read_file(self, rel: str) -> bytes | None:
        """A work-tree file: no link followed, size capped; None when there is no such file."""
        raw = read_file_inside(self.repo, rel, self.limits.max_file_bytes)
        if raw is not None:
            self.spend(len(raw), rel)
        return raw

    def folder(self, dirname: str) -> list[os.DirEntry] | None:
        """Entries of a work-tree folder (None: no folder); a linked folder refuses the learner."""
        try:
            mode = (self.repo / dirname).lstat().st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(mode):
            raise RepositoryRefused(f"{dirname}/ is a symbolic link; not followed")
        if not stat.S_ISDIR(mode):
            return None
        entries = []
        with os.scandir(self.repo / dirname) as it:
            for entry in it:
                entries.append(entry)
                if len(entries) > self.limits.max_files:
                    break
        self.count_files(len(entries), dirname + "/")
        return entries

    def count_files(self, n: int, where: str) -> None:
        self.files_seen += n
        if self.files_seen > self.limits.max_files:
            raise RepositoryRefused(
                f"more than {self.limits.max_files:,} files (counted up to {where}), over the "
                "limit (--max-files)"
            )

    # -- text

    def decode(self, raw: bytes, where: str) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.report("note", where, "not valid UTF-8; undecodable bytes replaced with U+FFFD")
            return raw.decode("utf-8", "replace")

    def worktree_text(self, rel: str) -> str | None:
        try:
            raw = self.read_file(rel)
        except SourceLimitExceeded as exc:  # a link, a FIFO, too big: the block is not read
            raise _SkipBlock(f"{exc} (--max-file-size)" if "over the limit" in str(exc)
                            else str(exc)) from None
        if raw is None:
            return None
        return self.decode(raw, rel)  # bytes: no newline translation
