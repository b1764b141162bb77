"""``manage.py import_youlab_v1 PATH``: YouLab v1's per-learner git repositories (issue 6).

Thin on purpose: it checks the data root and the timezone, then hands the reader's records to the
importer core (importing.core) through BaseImportCommand, which owns every other option.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.management.base import CommandError

from importing import youlab_v1
from importing.command import BaseImportCommand
from importing.records import ImportRecord
from importing.safety import DEFAULT_LIMITS, Limits, format_size, size_argument

HELP = """\
Import a YouLab v1 data root (one git repository per learner) into YouLab.

PATH is the folder holding the learners' repositories (v1's user_storage / users folder); each
sub-folder with a .git is one learner, named by its folder. Git is read with the git CLI (it
must be installed); nothing in PATH is changed.

Mapping (docs/youlab-v1-format.md, design.md §7):
  Blocks         memory-blocks/<label>.md: the label is the FILE NAME (a differing frontmatter
                 block: key is kept in metadata and reported); the content is the body, byte for
                 byte; the frontmatter (title, schema, updated_at ...) goes to metadata["v1"].
  Versions       every commit that touched the file is one version, in order, dated with the
                 commit's time, actor = the message's last "Author:" trailer (user, system,
                 agent:<id>; anything else "unknown"), reason = the commit subject. An
                 uncommitted work-tree change becomes one more, current, version.
  TOML era       blocks/<label>.toml is converted to Markdown sections when no Markdown block of
                 that label exists (the TOML kept in metadata), else it becomes the Markdown
                 block's earlier versions; invalid or empty TOML is imported verbatim, reported.
  Pending diffs  pending_diffs/*.json keep status, agent, reasoning, confidence, timestamps and
                 the original operation; proposals v1 itself could not apply become "conflict"
                 with the reason; diffs for missing blocks are kept (as "create") and reported.
  Learners       an empty repository is a learner with no blocks; folders without .git are
                 reported and skipped.

Untrusted data (design.md §7): git runs on a private GIT_DIR with our own config, so nothing in
a learner's repository (its config, hooks, attributes, remotes) can choose a program or a host.
Refused and reported, the rest imported: a .git that is a link or a "gitdir:" file, a partial
clone or promisor remote, borrowed (alternates) or missing objects, symbolic links anywhere
(learner folder, memory-blocks/, block files, pending diffs; links committed to history are not
versions), and anything over the caps below.

Timestamps: git dates carry their own UTC offset. Pending diffs' created_at / reviewed_at were
written as naive server-local times: --timezone names the v1 server's zone (default UTC; the
shared fixture's server ran Asia/Bangkok).

Examples:
  manage.py import_youlab_v1 /srv/youlab/user_storage --timezone Asia/Bangkok --dry-run
  manage.py import_youlab_v1 /srv/youlab/user_storage --timezone Asia/Bangkok \\
      --branch import/v1 --report v1-import.json
  manage.py import_youlab_v1 /srv/youlab/user_storage --user 3f6c1b9e-8a2d-4c1e-9b7a-5d2e8f4a1c01
"""


class Command(BaseImportCommand):
    help = HELP
    source_name = "youlab_v1"

    def add_source_arguments(self, parser) -> None:
        parser.add_argument("path", metavar="PATH", help="The v1 data root.")
        parser.add_argument(
            "--timezone", metavar="ZONE", default="UTC",
            help="IANA zone of the v1 server, for pending diffs' naive timestamps "
                 "(default UTC; e.g. Asia/Bangkok).",
        )
        parser.add_argument(
            "--max-file-size", metavar="SIZE", type=size_argument,
            default=DEFAULT_LIMITS.max_file_bytes,
            help="Largest block file, pending diff or version read (default "
                 f"{format_size(DEFAULT_LIMITS.max_file_bytes)}; e.g. 300K, 4M). Larger ones are "
                 "reported and skipped.",
        )
        parser.add_argument(
            "--max-files", metavar="N", type=_count, default=DEFAULT_LIMITS.max_files,
            help="Most files per learner in memory-blocks/, blocks/ and pending_diffs/ (history "
                 f"included; default {DEFAULT_LIMITS.max_files:,}). A learner with more is "
                 "reported and skipped.",
        )
        parser.add_argument(
            "--max-learner-size", metavar="SIZE", type=size_argument,
            default=DEFAULT_LIMITS.max_learner_bytes,
            help="Most bytes per learner: the uncompressed git history plus the files read "
                 f"(default {format_size(DEFAULT_LIMITS.max_learner_bytes)}). A learner over it "
                 "is reported and skipped.",
        )

    def check_source_options(self, options: dict) -> None:
        if not Path(options["path"]).is_dir():
            raise CommandError(f"v1 data root not found (not a folder): {options['path']}")
        if shutil.which("git") is None:
            raise CommandError("the git command line tool is needed to read v1 repositories")
        try:
            ZoneInfo(options["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CommandError(f"--timezone: unknown time zone {options['timezone']!r}") from exc

    def read_records(self, options: dict) -> Iterator[ImportRecord]:
        # A generator: one learner's repository is read at a time, so memory stays flat.
        limits = Limits(
            max_file_bytes=options["max_file_size"],
            max_files=options["max_files"],
            max_learner_bytes=options["max_learner_size"],
        )
        return youlab_v1.read_data_root(
            options["path"], user_id=options["user"], tz=options["timezone"], limits=limits
        )

    def describe_source(self, options: dict) -> str:
        return f"{youlab_v1.SOURCE} ({options['path']})"


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)
