"""``manage.py import_letta``: Letta agents' memory blocks into YouLab (design.md §7, issue 5).

Thin on purpose: it opens the sources the options name and hands the readers' records to the
importer core (importing.core) through BaseImportCommand, which owns every other option.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import CommandError

from importing import letta
from importing.command import BaseImportCommand
from importing.records import ImportRecord
from importing.safety import DEFAULT_LIMITS, Limits, format_size, size_argument

TOKEN_ENV = "LETTA_API_TOKEN"

HELP = f"""\
Import Letta agents' memory blocks (values, history, shared blocks) into YouLab.

Sources (at least one; several in one run are read in the order below, each mapped on its own,
and end in ONE Dolt commit naming them all: a database first, then agent files, is the usual
migration):
  --sqlite PATH        Letta <=0.11 SQLite database (~/.letta/sqlite.db), opened read-only.
  --postgres URL       Letta >=0.12 PostgreSQL (postgresql://user@host/db; the password can
                       come from PGPASSWORD or ~/.pgpass), one read-only snapshot.
  --api URL            A running Letta server's REST API (token: --api-token, or
                       ${TOKEN_ENV}).
                       REST hides soft deletes, block history and hidden agents/blocks; the
                       run reports each blind spot. Prefer a database when you have one.
  --agent-file PATH    An Agent File (.af: v2, legacy, or JSON-encoded twice); repeat it to
                       read several files together (blocks shared across files map once).
Every source is opened and read before anything is written: an unreadable source stops the
run with nothing imported.

Untrusted data (design.md §7): the token goes to the --api server only (a redirect to any other
scheme, host or port is refused and reported), REST responses and Agent Files over
--max-response-size and JSON nested deeper than 64 levels are reported and skipped.

Mapping (design.md §7):
  Learner        agent metadata youlab_user_id, else the agent name youlab_<user>_<tutor|
                 background> (user ids may contain underscores), else the block's
                 youlab_user_<user>_<label> template name. Other agents: skipped, reported.
  Shared         youlab_shared_<course>_<label> blocks, and blocks attached to several
                 learners' agents, become ONE shared block of the course.
  One label,     several Letta blocks for one (learner, label), e.g. the background agent's
  many blocks    inline persona next to the tutor's: the newest is current, the others become
                 earlier versions (reported as notes).
  History        block_history rows become versions in sequence order (undone ones too,
                 marked); letta_agent actors become agent:<agent name>, others import:letta.
  Kept as is     soft-deleted blocks stay soft-deleted, hidden agents' and hidden blocks are
                 imported; limits, descriptions, read-only flags and metadata are kept, and the
                 Letta ids, template names, tags and agents go to metadata["letta"].
  Import keys    a value is keyed by (owner, label, content) only, never by a source's block id,
                 so the same value read from SQLite, Postgres, REST or an Agent File is the
                 same version: importing a database and then its agents' files adds nothing.
                 A source whose value differs from everything the block has appends it as the
                 new current version; a value the block already had is never re-applied.

Examples:
  manage.py import_letta --sqlite ~/.letta/sqlite.db --dry-run
  manage.py import_letta --postgres postgresql://letta@db/letta --branch import/letta \\
      --report letta-import.json
  manage.py import_letta --branch import/letta --merge --postgres postgresql://letta@db/letta
  manage.py import_letta --api https://letta.example.org --user demo_learner_6
  manage.py import_letta --agent-file maya_tutor.af --agent-file maya_background.af
"""


class Command(BaseImportCommand):
    help = HELP
    source_name = "letta"

    def add_source_arguments(self, parser) -> None:
        parser.add_argument(
            "--sqlite", metavar="PATH", help="Letta <=0.11 SQLite database file.",
        )
        parser.add_argument(
            "--postgres", metavar="URL", help="Letta >=0.12 PostgreSQL URL (postgresql://...).",
        )
        parser.add_argument(
            "--api", metavar="URL", help="Base URL of a running Letta server (REST API).",
        )
        parser.add_argument(
            "--api-token", metavar="T",
            help=f"Bearer token for --api (default: ${TOKEN_ENV}; the variable keeps it out of "
                 "the process list).",
        )
        parser.add_argument(
            "--agent-file", metavar="PATH", action="append", default=[], dest="agent_files",
            help="An Agent File (.af); repeat for several files.",
        )
        parser.add_argument(
            "--max-response-size", metavar="SIZE", type=size_argument,
            default=DEFAULT_LIMITS.max_response_bytes,
            help="Largest REST response or Agent File read (default "
                 f"{format_size(DEFAULT_LIMITS.max_response_bytes)}; e.g. 64M, 1G). Larger ones "
                 "are reported and skipped.",
        )

    def check_source_options(self, options: dict) -> None:
        if not any(options[name] for name in ("sqlite", "postgres", "api", "agent_files")):
            raise CommandError(
                "name a source: --sqlite PATH, --postgres URL, --api URL or --agent-file PATH"
            )
        if options["api_token"] and not options["api"]:
            raise CommandError("--api-token needs --api URL")

    def read_records(self, options: dict) -> Iterator[ImportRecord]:
        user = options["user"]
        limits = Limits(max_response_bytes=options["max_response_size"])
        # Each reader loads its whole source when called: every source is open and read (or
        # the run stops with a CommandError) before the core writes anything.
        readers = []
        try:
            if options["sqlite"]:
                readers.append(letta.read_sqlite(options["sqlite"], user_id=user))
            if options["postgres"]:
                readers.append(letta.read_postgres(options["postgres"], user_id=user))
            if options["api"]:
                token = options["api_token"] or os.environ.get(TOKEN_ENV) or None
                readers.append(letta.read_api(options["api"], token, user_id=user, limits=limits))
            if options["agent_files"]:
                readers.append(
                    letta.read_agent_files(options["agent_files"], user_id=user, limits=limits)
                )
        except letta.ImportSourceError as exc:
            raise CommandError(str(exc)) from exc
        return itertools.chain.from_iterable(readers)

    def describe_source(self, options: dict) -> str:
        parts = []
        if options["sqlite"]:
            parts.append(f"{letta.SOURCE_SQLITE} ({options['sqlite']})")
        if options["postgres"]:
            parts.append(f"{letta.SOURCE_POSTGRES} ({letta.redact_url(options['postgres'])})")
        if options["api"]:
            parts.append(f"{letta.SOURCE_API} ({letta.redact_url(options['api'])})")
        if options["agent_files"]:
            names = ", ".join(Path(p).name for p in options["agent_files"])
            parts.append(f"{letta.SOURCE_AGENT_FILE} ({names})")
        return " + ".join(parts) or self.source_name
