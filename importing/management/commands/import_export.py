import json
import sys

from django.core.management.base import BaseCommand, CommandError

from importing import restore
from youlab.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Restore a learner from a youlab-export document (export_user, or GET "
        "/api/v1/users/{id}/export/) into a database that does not have them yet: same block "
        "ids, versions, history (original dates, actors, reasons), diffs and module chats, in "
        "one Dolt commit. Re-running the same document changes nothing; a learner who already "
        "has other data is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The export's JSON file ('-' for standard input).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and check, write nothing."
        )

    def handle(self, *args, file, dry_run=False, **options):
        document = self._read(file)
        try:
            result = restore.import_user_export(document=document, dry_run=dry_run)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        if result.status == "unchanged":
            self.stdout.write(f"learner {result.user_id} is already exactly this export: nothing to do")
            return
        verb = "would import" if result.status == "dry_run" else "imported"
        self.stdout.write(self.style.SUCCESS(
            f"{verb} learner {result.user_id}: {result.blocks} block(s), {result.versions} "
            f"version(s), {result.diffs} diff(s), {result.module_chats} module chat(s) "
            f"({result.module_chat_versions} chat history row(s))"
            + (", their profile (name)" if result.profile else "")
        ))

    def _read(self, file):
        try:
            if file == "-":
                return json.load(sys.stdin)
            with open(file, encoding="utf-8") as fh:
                return json.load(fh)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file} is not a JSON document: {exc}") from None
