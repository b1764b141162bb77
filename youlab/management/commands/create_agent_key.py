"""`create_agent_key NAME [--scopes a,b]`: make an API key for an agent service and print it once."""

from django.core.management.base import BaseCommand, CommandError

from youlab import keys
from youlab.models import ALL_SCOPES, DEFAULT_SCOPES, AgentKey


class Command(BaseCommand):
    help = (
        "Create an API key for an agent service and print it once (only a hash is stored). "
        "The name is the agent's identity (history actor `agent:<name>`). With --revoke NAME, "
        "revoke every active key of that name instead; --list shows the keys and their scopes "
        "(never the secrets)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="the agent's name, e.g. tutor")
        parser.add_argument(
            "--scopes",
            help=f"comma separated, from {', '.join(ALL_SCOPES)} (default: {','.join(DEFAULT_SCOPES)}; "
            "a learner's OpenWebUI key only when owui-key:read / owui-key:write are named)",
        )
        parser.add_argument(
            "--allow-duplicate", action="store_true",
            help="create another key although an active key of this name exists (key rotation: "
            "create the new key, deploy it, then --revoke the old one by --prefix)",
        )
        parser.add_argument("--revoke", action="store_true", help="revoke the active keys of NAME")
        parser.add_argument("--prefix", help="with --revoke: only the key with this prefix")
        parser.add_argument("--list", action="store_true", help="list keys (name, prefix, state, scopes)")

    def handle(self, *args, **options):
        name, prefix = options["name"], options["prefix"]
        if options["list"]:
            return self._list()
        if not name:
            raise CommandError("give the agent's NAME")
        if options["revoke"]:
            if options["scopes"] is not None:
                raise CommandError("--scopes does not go with --revoke")
            count = keys.revoke_agent_keys(name=name, prefix=prefix)
            if not count:
                raise CommandError(f"no active key named {name!r}" + (f" with prefix {prefix!r}" if prefix else ""))
            self.stdout.write(f"revoked {count} key(s) named {name!r}")
            return None
        if prefix:
            raise CommandError("--prefix only goes with --revoke")
        try:
            api_key, key = keys.create_agent_key(
                name=name, scopes=keys.parse_scopes(options["scopes"]),
                allow_duplicate=options["allow_duplicate"],
            )
        except keys.AgentKeyError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"Created API key {name!r} (prefix {api_key.prefix}, scopes {','.join(api_key.scopes)}). "
            "This is the only time the key is shown; store it now, it cannot be shown again. "
            "Send it as 'Authorization: Api-Key <key>'."
        )
        self.stdout.write(key)
        return None

    def _list(self):
        for api_key in AgentKey.objects.order_by("name", "created"):
            state = "revoked" if api_key.revoked else ("expired" if api_key.has_expired else "active")
            used = f"{api_key.last_used_at:%Y-%m-%d %H:%M}" if api_key.last_used_at else "never used"
            self.stdout.write(
                f"{api_key.name}\t{api_key.prefix}\t{state}\t{','.join(api_key.scopes) or '-'}\t"
                f"{api_key.created:%Y-%m-%d %H:%M}\t{used}"
            )
