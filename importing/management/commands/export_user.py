import json

from django.core.management.base import BaseCommand, CommandError

from importing.export import build_user_export
from youlab.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Write everything about a learner except secrets as one youlab-export JSON document "
        "(blocks with every version, diffs, module chats): restore it with import_export."
    )

    def add_arguments(self, parser):
        parser.add_argument("user_id", help="The learner's id (their OpenWebUI user id).")
        parser.add_argument("-o", "--output", help="File to write (default: standard output).")

    def handle(self, *args, user_id, output=None, **options):
        try:
            document = build_user_export(user_id)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
        if output and output != "-":
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
        else:
            self.stdout.write(text, ending="")

        versions = sum(len(b["history"]) for b in document["blocks"])
        summary = (
            f"learner {user_id}: {len(document['blocks'])} block(s), {versions} version(s), "
            f"{len(document['diffs'])} diff(s), {len(document['module_chats'])} module chat(s)"
        )
        # The summary goes to stderr so that stdout stays a clean JSON document.
        if not (document["blocks"] or document["diffs"] or document["module_chats"]):
            self.stderr.write(self.style.WARNING(f"learner {user_id} has no data: the export is empty"))
        else:
            where = f" to {output}" if output and output != "-" else ""
            self.stderr.write(f"exported {summary}{where}")
