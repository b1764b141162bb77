"""What an import did (or, in a dry run, would do): per-item entries, counts and a summary table.

The importer core fills an ``ImportReport``; the management commands print ``format_summary``
and write ``to_dict()`` as the ``--report`` JSON. In a dry run the actions mean "would be"
(the report's ``dry_run`` says so); they are not renamed, so a dry run and the real run that
follows produce comparable reports.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.utils import timezone

CREATED = "created"
UPDATED = "updated"  # an existing block got new versions (or merged metadata)
UNCHANGED = "unchanged"
SKIPPED = "skipped"  # the reader or the core would not import it (invalid, out of scope ...)
FAILED = "failed"  # the database refused it; the rest of the run went on
NOTED = "noted"  # a reader's remark about something it did import (SkippedRecord kind "note")
ACTIONS = (CREATED, UPDATED, UNCHANGED, SKIPPED, FAILED)

# Kinds the summary table always shows, in this order; any other kind (agent, file, row ...)
# comes after them.
MAIN_KINDS = ("learner", "block", "version", "diff")
NOTE_KIND = "note"


@dataclass
class ReportItem:
    """One learner, block, diff or skipped source item, and what happened to it."""

    kind: str
    key: str
    action: str
    reason: str = ""
    source: str = ""
    source_key: str = ""
    versions_added: int = 0  # blocks: history rows written (or, in a dry run, to be written)
    versions_unchanged: int = 0  # blocks: source versions already present
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ItemLog:
    """The report's items in a temporary file, one JSON line each, in the order they came.

    A run's memory must not grow with its source (10,000 learners are 60,000 items); the items are
    read back only for the summary and the --report file. Appending while a reader iterates is
    safe: each read seeks to where that reader stopped.
    """

    def __init__(self) -> None:
        self._file = None
        self._count = 0

    def append(self, item: ReportItem) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # deleted when closed or collected
        self._file.seek(0, os.SEEK_END)
        self._file.write(json.dumps(item.to_dict(), ensure_ascii=False, default=str).encode() + b"\n")
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[ReportItem]:
        for line in self.lines():
            yield ReportItem(**json.loads(line))

    def lines(self) -> Iterator[bytes]:
        """Each item as its JSON line (without the newline)."""
        if self._file is None:
            return
        position = 0
        while True:
            self._file.seek(position)
            line = self._file.readline()
            if not line:
                return
            position = self._file.tell()
            yield line.rstrip(b"\n")

    def __repr__(self) -> str:
        return f"<ItemLog of {self._count} items>"


@dataclass
class ImportReport:
    source: str
    dry_run: bool = False
    history: bool = True
    branch: str | None = None
    only_user: str | None = None
    users_not_found: list[str] = field(default_factory=list)  # --user ids the source lacks
    records_seen: int = 0
    items: ItemLog = field(default_factory=ItemLog)
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    commit_hash: str | None = None
    diff_summary: list[dict] | None = None
    merged: bool = False
    merge_hash: str | None = None
    merge_error: str | None = None
    aborted: str | None = None  # why the run stopped early (the source could not be read on)
    notes: list[str] = field(default_factory=list)  # run-level remarks (branch planned on main ...)
    started_at: datetime = field(default_factory=timezone.now)
    finished_at: datetime | None = None
    # Kept as items come, so the summary needs no pass over the items.
    _reasons: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter), repr=False)
    _warnings: Counter = field(default_factory=Counter, repr=False)

    def add(self, item: ReportItem) -> None:
        self.items.append(item)
        self.counts[item.kind][item.action] += 1
        self._reasons[item.action][f"{item.reason} ({item.kind})"] += 1
        # Warnings read "<category>: <details>"; grouped by category.
        self._warnings.update(w.split(":", 1)[0] for w in item.warnings)
        if item.kind == "block":
            self.counts["version"][CREATED] += item.versions_added
            self.counts["version"][UNCHANGED] += item.versions_unchanged

    def count(self, kind: str, action: str) -> int:
        return self.counts.get(kind, Counter())[action]

    def items_with(self, action: str, kind: str | None = None) -> list[ReportItem]:
        return [i for i in self.items if i.action == action and (kind is None or i.kind == kind)]

    def learner_reason(self, user_id: str) -> str:
        """Why a learner ended as it did (e.g. a --user id the source lacks)."""
        return next((i.reason for i in self.items if i.kind == "learner" and i.key == user_id),
                    "")

    @property
    def failed(self) -> list[ReportItem]:
        return self.items_with(FAILED)

    def reasons(self, action: str) -> Counter:
        """How many items had each reason, for one action (skipped reasons grouped)."""
        return Counter(self._reasons.get(action, Counter()))

    def warning_counts(self) -> Counter:
        return Counter(self._warnings)

    def to_dict(self, *, items: bool = True) -> dict[str, Any]:
        def iso(value):
            return value.isoformat() if value else None

        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "history": self.history,
            "branch": self.branch,
            "only_user": self.only_user,
            "users_not_found": self.users_not_found,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "records": self.records_seen,
            "counts": {kind: dict(c) for kind, c in self.counts.items()},
            "skipped_reasons": dict(self.reasons(SKIPPED)),
            "warnings": dict(self.warning_counts()),
            "commit": self.commit_hash,
            "diff_summary": self.diff_summary,
            "merged": self.merged,
            "merge_commit": self.merge_hash,
            "merge_error": self.merge_error,
            "aborted": self.aborted,
            "notes": self.notes,
            **({"items": [i.to_dict() for i in self.items]} if items else {}),
        }

    def write_json(self, path: str | Path) -> None:
        """The --report file: the run's figures, then every item, one per line, streamed from the
        item log (never the whole list in memory)."""
        head = json.dumps(self.to_dict(items=False), indent=2, ensure_ascii=False, default=str)
        with open(path, "wb") as out:
            out.write(head[:-2].encode())  # the object without its closing "\n}"
            out.write(b',\n  "items": [')
            for n, line in enumerate(self.items.lines()):
                out.write(b"\n    " if n == 0 else b",\n    ")
                out.write(line)
            out.write(b"\n  ]\n}\n" if len(self.items) else b"]\n}\n")


# --- the summary table ---------------------------------------------------------------------


def _plural(kind: str) -> str:
    return kind if kind.endswith("s") else f"{kind}s"


def _more(n: int, report_path) -> str:
    where = f"see {report_path}" if report_path else "-v 2 lists them all"
    return f"  +{n} more, {where}"


def format_summary(report: ImportReport, *, max_reasons: int = 20, report_path=None) -> str:
    """A plain-text summary: counts per kind and action, skipped/failed reasons grouped, and the
    reader's notes (the first `max_reasons`; `report_path`, the --report file, has them all)."""
    title = f"Import {report.source}"
    if report.branch:
        title += f" on branch {report.branch}"
    if report.dry_run:
        title += " (dry run: nothing was written; counts say what would happen)"
    lines = [title, ""]

    others = sorted(k for k in report.counts if k not in MAIN_KINDS + (NOTE_KIND,))
    kinds = list(MAIN_KINDS) + others
    # Not every action applies to every kind: versions and diffs are never "updated", and an
    # agent or file the reader passed over is only ever skipped.
    header = f"{'':<12}" + "".join(f"{a:>11}" for a in ACTIONS)
    lines.append(header)
    for kind in kinds:
        counts = report.counts.get(kind, Counter())
        cells = []
        for action in ACTIONS:
            applies = (
                (kind in ("learner", "block"))
                or (kind == "diff" and action != UPDATED)
                or (kind == "version" and action in (CREATED, UNCHANGED))
                or (kind not in MAIN_KINDS and action == SKIPPED)
            )
            cells.append(f"{counts[action] if applies else '-':>11}")
        lines.append(f"{_plural(kind):<12}" + "".join(cells))

    for action, heading in ((SKIPPED, "Skipped, by reason"), (FAILED, "Failed, by reason")):
        reasons = report.reasons(action)
        if reasons:
            lines += ["", f"{heading}:"]
            for reason, n in reasons.most_common(max_reasons):
                lines.append(f"  {n:>6}  {reason}")
            if len(reasons) > max_reasons:
                lines.append(_more(len(reasons) - max_reasons, report_path))
    warnings = report.warning_counts()
    if warnings:
        lines += ["", "Warnings (kept as imported):"]
        for category, n in warnings.most_common():
            lines.append(f"  {n:>6}  {category}")
    notes = report.items_with(NOTED, NOTE_KIND)
    if notes:
        lines += ["", f"Reader notes ({len(notes)}):"]
        lines += [f"  {note.key}: {note.reason}" for note in notes[:max_reasons]]
        if len(notes) > max_reasons:
            lines.append(_more(len(notes) - max_reasons, report_path))
    for note in report.notes:
        lines.append(f"Note: {note}")

    lines.append("")
    for uid in report.users_not_found:
        lines.append(f"NOT FOUND: --user {uid}: {report.learner_reason(uid)}")
    if report.aborted:
        lines.append(f"ABORTED: {report.aborted}")
    if report.dry_run:
        lines.append("Dolt: dry run, no commit.")
    elif report.commit_hash:
        lines.append(f"Dolt commit {report.commit_hash} on {report.branch or 'main'}.")
    else:
        lines.append("Dolt: nothing new to commit.")
    if report.diff_summary is not None:
        changes = ", ".join(
            f"{d['table']} +{d.get('added', 0)} ~{d.get('modified', 0)} -{d.get('removed', 0)}"
            for d in report.diff_summary
        ) or "no differences"
        lines.append(f"Branch {report.branch} vs main: {changes}.")
    if report.merged:
        merge = report.merge_hash or "already up to date"
        lines.append(f"Merged {report.branch} into main ({merge}).")
    if report.merge_error:
        lines.append(f"MERGE FAILED: {report.merge_error}")
    return "\n".join(lines)
