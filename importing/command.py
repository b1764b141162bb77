"""The management-command base shared by ``import_letta`` and ``import_youlab_v1``.

A subclass adds its source options and turns them into records::

    class Command(BaseImportCommand):
        help = "Import Letta agents' memory blocks ..."
        source_name = "letta"

        def add_source_arguments(self, parser):
            parser.add_argument("--sqlite", metavar="PATH")

        def read_records(self, options):
            return letta.read_sqlite(options["sqlite"], user_id=options["user"])

        def describe_source(self, options):
            return f"letta:sqlite ({options['sqlite']})"

Everything else is here: the common options, their checks, the progress display, the summary
table, the ``--report`` file and the call into the one importer core.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterable, Sized
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from youlab import dolt
from youlab.errors import InvalidInput as InvalidBlockInput
from youlab.validators import validate_owner_id

from .core import DEFAULT_BATCH_SIZE, MAIN_BRANCH, import_records
from .records import ImportRecord
from .report import CREATED, FAILED, NOTED, SKIPPED, UNCHANGED, UPDATED, ImportReport, format_summary

COMMON_HELP = """\
How an import behaves:
  Idempotent     Re-running the same import changes nothing: versions are recognised by their
                 import key, blocks by (owner, label). A source that changed since the last run
                 adds only its new versions, after the block's current version.
  Append-only    An existing block (staff edits, an earlier import, another source) keeps its
                 history; source versions up to the block's current content are not repeated.
                 New versions bring the source's metadata; without them, only metadata keys
                 the block lacks are filled in. Content over char_limit is kept, reported.
  One commit     Each block with all its versions is written whole or not at all. One bad item
                 is reported and skipped; it never stops the run. The run ends with one Dolt
                 commit naming the source (none if nothing changed).
  --dry-run      Reads the source and reports what would be created / updated / unchanged /
                 skipped, writing nothing (no rows, no Dolt commit).
  --branch NAME  Imports on the Dolt branch NAME and prints the branch's diff against main;
                 main is untouched. A missing branch starts from main's last Dolt commit
                 (main's schema is committed first if it is not yet); it is refused while main
                 has uncommitted changes to blocks or their history, and removed again if the
                 import fails. Add --merge to merge the branch into main afterwards, with a
                 merge commit by the importer.
  --user ID      Imports one learner (and the shared blocks their agents use). An id the
                 source does not have is reported by id and the command exits non-zero.
  --report FILE  Writes JSON listing every learner, block, diff and skipped item, what happened
                 to it and why, plus the counts.
On a live server prefer --branch for big imports: the import's transactions land on main as it
goes, so a reviewer's Dolt commit made meanwhile would also carry part of the import.
"""


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, with the description and epilog kept as written."""


class BaseImportCommand(BaseCommand):
    source_name = "import"  # short name for messages; subclasses set "letta", "youlab_v1"
    progress_interval = 10.0  # seconds between progress lines when stderr is not a terminal
    redraw_interval = 0.2  # seconds between redraws of the progress line on a terminal

    # --- for subclasses ------------------------------------------------------------------------

    def add_source_arguments(self, parser) -> None:
        """Add the arguments that say what to read (paths, URLs ...).

        `parser` is the "source" argument group: add_argument and
        add_mutually_exclusive_group work on it as on the parser.
        """
        raise NotImplementedError

    def read_records(self, options: dict) -> Iterable[ImportRecord]:
        """Return the records to import (a generator is best: memory stays flat).

        `options["user"]` is the one learner to import, or None. Raise CommandError for a source
        that cannot be opened at all; report a bad item inside it as a SkippedRecord.
        """
        raise NotImplementedError

    def describe_source(self, options: dict) -> str:
        """The source as named in the Dolt commit and the report, e.g. "letta:sqlite (/x.db)"."""
        return self.source_name

    def check_source_options(self, options: dict) -> None:
        """Refuse bad combinations of source options (raise CommandError); called first."""

    # --- the command ---------------------------------------------------------------------------

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = _HelpFormatter
        parser.epilog = COMMON_HELP
        return parser

    def add_arguments(self, parser):
        self.add_source_arguments(parser.add_argument_group("source"))
        group = parser.add_argument_group("import options")
        group.add_argument(
            "--dry-run", action="store_true",
            help="Read and report what would happen; write nothing (no rows, no Dolt commit).",
        )
        group.add_argument(
            "--branch", metavar="NAME",
            help="Import on this Dolt branch (created from main's last commit if missing); "
                 "main is untouched unless --merge is given.",
        )
        group.add_argument(
            "--merge", action="store_true",
            help="After importing on --branch, merge the branch into main (needs --branch).",
        )
        group.add_argument(
            "--user", metavar="ID",
            help="Import only this learner (their blocks and diffs; shared blocks are kept). "
                 "An id the source lacks is reported and the command exits non-zero.",
        )
        group.add_argument(
            "--report", metavar="FILE",
            help="Write a JSON report of every created, updated, unchanged and skipped item.",
        )
        group.add_argument(
            "--no-history", action="store_true",
            help="Import only each block's current value, not its earlier versions.",
        )
        group.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
            help=f"Blocks written per transaction (default {DEFAULT_BATCH_SIZE}).",
        )

    def handle(self, *args, **options):
        self._check_options(options)
        self.check_source_options(options)
        records = self.read_records(options)
        verbosity = options.get("verbosity", 1)
        progress = _Progress(
            self.stderr, label=self.describe_source(options), enabled=verbosity > 0,
            total=len(records) if isinstance(records, Sized) else None,
            interval=self.progress_interval, redraw=self.redraw_interval,
        )
        try:
            report = import_records(
                records,
                source=self.describe_source(options),
                dry_run=options["dry_run"],
                history=not options["no_history"],
                branch=options["branch"],
                merge=options["merge"],
                only_user=options["user"],
                batch_size=options["batch_size"],
                progress=progress,
            )
        except dolt.DoltError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            progress.close()

        if options["report"]:
            report.write_json(options["report"])
        if verbosity > 0:
            self.stdout.write(format_summary(report, report_path=options["report"]))
        if verbosity > 1:
            self._list_items(report, everything=verbosity > 2)
        if options["report"] and verbosity > 0:
            self.stdout.write(f"Report written to {options['report']}")
        if report.users_not_found:
            raise CommandError("; ".join(
                f"--user {uid}: {report.learner_reason(uid)}, nothing imported for it"
                for uid in report.users_not_found))
        if report.aborted:
            raise CommandError(f"import stopped early: {report.aborted}")
        if report.merge_error:
            raise CommandError(
                f"imported on branch {report.branch}, but merging into main failed: "
                f"{report.merge_error}"
            )

    def _check_options(self, options: dict) -> None:
        if options["merge"] and not options["branch"]:
            raise CommandError("--merge needs --branch NAME (the branch to merge into main)")
        if options["merge"] and options["dry_run"]:
            raise CommandError(
                "--merge cannot be combined with --dry-run (a dry run writes nothing)"
            )
        if options["branch"]:
            if options["branch"] == MAIN_BRANCH:
                raise CommandError(
                    "--branch main is the default; leave --branch out to import on main"
                )
            try:
                dolt.validate_branch_name(options["branch"])
            except dolt.DoltError as exc:
                raise CommandError(str(exc)) from exc
        if options["user"] is not None:
            try:
                validate_owner_id(options["user"])
            except InvalidBlockInput as exc:
                raise CommandError(f"--user: {exc.message}") from exc
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        if options["report"]:
            # Found out now, not after an hour of importing.
            path = Path(options["report"])
            if path.is_dir():
                raise CommandError(f"--report {path} is a directory")
            folder = path.parent if str(path.parent) else Path(".")
            if not folder.is_dir() or not os.access(folder, os.W_OK):
                raise CommandError(f"--report: cannot write into {folder}")

    def _list_items(self, report: ImportReport, *, everything: bool) -> None:
        shown = (CREATED, UPDATED, SKIPPED, FAILED, NOTED) + ((UNCHANGED,) if everything else ())
        for item in report.items:
            if item.action in shown:
                line = f"{item.action:>9} {item.kind} {item.key}"
                if item.reason:
                    line += f": {item.reason}"
                for warning in item.warnings:
                    line += f" [{warning}]"
                self.stdout.write(line)


class _Progress:
    """Progress on stderr: one redrawn line on a terminal, a plain line now and then otherwise.

    The reader's total is rarely known up front, so the line counts records read and what became
    of them; with a known total it also shows a bar.
    """

    def __init__(self, stream, *, label: str, enabled: bool, total: int | None,
                 interval: float, redraw: float):
        self.stream = stream
        self.label = label
        self.enabled = enabled
        self.total = total
        self.tty = enabled and stream.isatty()
        self.every = redraw if self.tty else interval
        self.started = time.monotonic()
        self.last = self.started
        self.drawn = False

    def __call__(self, report: ImportReport) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < self.every and report.finished_at is None:
            return
        self.last = now
        line = self._line(report, now)
        if self.tty:
            self._write("\r" + line[:160].ljust(80))
            self.drawn = True
        elif report.finished_at is None:
            self._write(line + "\n")

    def close(self) -> None:
        if self.tty and self.drawn:
            self._write("\n")
            self.drawn = False

    def _write(self, text: str) -> None:
        # Plain text: Django would colour everything on stderr as an error.
        self.stream.write(text, style_func=lambda s: s, ending="")
        self.stream.flush()

    def _line(self, report: ImportReport, now: float) -> str:
        seen = report.records_seen
        rate = seen / max(now - self.started, 1e-6)
        done = ""
        if self.total:
            fraction = min(seen / self.total, 1.0)
            filled = int(fraction * 20)
            done = f"[{'#' * filled}{'.' * (20 - filled)}] {fraction:4.0%} "
        blocks = (
            f"blocks {report.count('block', CREATED)} new, {report.count('block', UPDATED)} "
            f"updated, {report.count('block', UNCHANGED)} unchanged"
        )
        problems = sum(report.count(k, SKIPPED) + report.count(k, FAILED) for k in report.counts)
        return (
            f"{self.label}: {done}{seen} records · {blocks} · "
            f"diffs {report.count('diff', CREATED)} new · {problems} skipped/failed · {rate:.0f}/s"
        )
