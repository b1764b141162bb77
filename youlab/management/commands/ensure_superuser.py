import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from youlab import dolt


class Command(BaseCommand):
    help = (
        "Create the development superuser from DJANGO_SUPERUSER_USERNAME / _EMAIL / _PASSWORD "
        "if it does not exist yet (never changes an existing user)."
    )

    def handle(self, *args, **options):
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"superuser {username!r} exists; left unchanged")
            return
        User.objects.create_superuser(
            username=username,
            email=os.environ.get("DJANGO_SUPERUSER_EMAIL", f"{username}@youlab.local"),
            password=os.environ["DJANGO_SUPERUSER_PASSWORD"],
        )
        # `make run SUPERUSER=1` then leaves main's working set as clean as `migrate` does.
        dolt.commit(f"Create development superuser {username}")
        self.stdout.write(self.style.SUCCESS(f"created superuser {username!r}"))
