"""`create_agent_key NAME`: make an API key for an agent service and print it once."""

import re

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework_api_key.models import APIKey

# The name becomes the actor `agent:<name>` in block history and scopes Idempotency-Keys.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:+-]*$")
NAME_MAX = APIKey._meta.get_field("name").max_length


class Command(BaseCommand):
    help = (
        "Create an API key for an agent service and print it once (only a hash is stored). "
        "The name is the agent's identity (history actor `agent:<name>`). With --revoke NAME, "
        "revoke every active key of that name instead; --list shows the keys (never the secrets)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="the agent's name, e.g. tutor")
        parser.add_argument(
            "--allow-duplicate", action="store_true",
            help="create another key although an active key of this name exists (key rotation: "
            "create the new key, deploy it, then --revoke the old one by --prefix)",
        )
        parser.add_argument("--revoke", action="store_true", help="revoke the active keys of NAME")
        parser.add_argument("--prefix", help="with --revoke: only the key with this prefix")
        parser.add_argument("--list", action="store_true", help="list keys (name, prefix, state)")

    def handle(self, *args, **options):
        name, prefix = options["name"], options["prefix"]
        revoke, allow_duplicate = options["revoke"], options["allow_duplicate"]
        if options["list"]:
            return self._list()
        if not name:
            raise CommandError("give the agent's NAME")
        if revoke:
            return self._revoke(name, prefix)
        if prefix:
            raise CommandError("--prefix only goes with --revoke")
        if len(name) > NAME_MAX or not NAME_RE.match(name):
            raise CommandError(
                f"invalid name {name!r}: 1 to {NAME_MAX} characters, letters, digits and . _ @ : + - "
                "(starting with a letter or digit)"
            )
        with transaction.atomic():
            active = APIKey.objects.filter(name=name, revoked=False)
            if active.exists() and not allow_duplicate:
                raise CommandError(
                    f"an active key named {name!r} exists (prefix {active.first().prefix}); "
                    "use --allow-duplicate to rotate, or --revoke first"
                )
            api_key, key = APIKey.objects.create_key(name=name)
        self.stderr.write(
            f"Created API key {name!r} (prefix {api_key.prefix}). This is the only time the key is "
            "shown; store it now, it cannot be shown again. Send it as 'Authorization: Api-Key <key>'."
        )
        self.stdout.write(key)

    def _revoke(self, name, prefix):
        keys = APIKey.objects.filter(name=name, revoked=False)
        if prefix:
            keys = keys.filter(prefix=prefix)
        count = 0
        for api_key in keys:
            api_key.revoked = True
            api_key.save(update_fields=["revoked"])
            count += 1
        if not count:
            raise CommandError(f"no active key named {name!r}" + (f" with prefix {prefix!r}" if prefix else ""))
        self.stdout.write(f"revoked {count} key(s) named {name!r}")

    def _list(self):
        for api_key in APIKey.objects.order_by("name", "created"):
            state = "revoked" if api_key.revoked else ("expired" if api_key.has_expired else "active")
            self.stdout.write(f"{api_key.name}\t{api_key.prefix}\t{state}\t{api_key.created:%Y-%m-%d %H:%M}")
