"""``manage.py migrate``, ending in a Dolt commit: the schema's history is Dolt's history.

Django's own command does the migrating. Afterwards, when what django_migrations records differs
from the branch's last Dolt commit (migrations applied, faked or unapplied by this run, or
applied by an earlier run that made no commit), ONE Dolt commit records it on the branch the
database connection is on, authored by --author (default the system author), its message
listing every migration. A run that changes nothing makes no commit. Without it the schema
would stay in Dolt's working set: a branch, backup or clone taken then would have no tables.

Overriding the command (the `youlab` app comes after Django's apps, so its `migrate` is the
one `manage.py` and the test runner call) is what lets the commit follow the whole run, after
the post-migrate steps (content types, permissions) have written their rows too.
"""

from __future__ import annotations

import re

from django.core.management.base import CommandError
from django.core.management.commands import migrate as django_migrate
from django.db import DatabaseError

from youlab import dolt

AUTHOR_RE = re.compile(r"\s*([^<>\r\n]+?)\s*<([^<>\s]+)>\s*")


class Command(django_migrate.Command):
    help = (
        "Updates database schema. Manages both apps with migrations and those without. "
        "Ends with one Dolt commit listing the migrations applied (none when nothing changed)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--author", default=dolt.SYSTEM_AUTHOR, metavar='"NAME <EMAIL>"',
            help=f"Author of the Dolt commit that records the migrations (default "
                 f"{dolt.SYSTEM_AUTHOR!r}).",
        )

    def handle(self, *args, **options):
        match = AUTHOR_RE.fullmatch(options["author"])
        if not match:
            raise CommandError('--author must look like "Name <email>"')
        author = dolt.author(*match.groups())

        super().handle(*args, **options)

        if options["plan"] or options["check_unapplied"]:
            return  # they only report; nothing of theirs is committed
        try:
            commit_hash, changes = dolt.commit_migrations(author, using=options["database"])
        except DatabaseError as exc:
            raise CommandError(
                f"the migrations ran, but recording them in a Dolt commit failed: {exc}"
            ) from exc
        if commit_hash and options["verbosity"] >= 1:
            self.stdout.write(
                f"Dolt commit {commit_hash}: {len(changes)} migration(s) recorded in the schema's "
                "history."
            )
