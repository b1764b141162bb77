from django.core.management.base import BaseCommand, CommandError

from chats import services
from youlab.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Re-encrypt every learner's OpenWebUI key with the newest key in YOULAB_FERNET_KEYS "
        "(the first). Safe to re-run: keys already on the newest key are left alone. Exits "
        "non-zero when a stored key cannot be decrypted with any configured key."
    )

    def handle(self, *args, **options):
        try:
            result = services.rotate_all_keys()
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"rotated: {result.rotated}  unchanged: {result.unchanged}  failed: {result.failed}"
        )
        if result.failed:
            raise CommandError(
                f"{result.failed} key(s) cannot be decrypted with any key in YOULAB_FERNET_KEYS "
                f"and were left as they are (learners: {', '.join(result.failed_user_ids)}). "
                "Add the old Fernet key back (after the new one), or have the learners set their "
                "keys again."
            )
        self.stdout.write(self.style.SUCCESS("every stored key is on the newest Fernet key"))
