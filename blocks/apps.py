from django.apps import AppConfig


class BlocksConfig(AppConfig):
    name = "blocks"
    verbose_name = "Memory blocks"

    def ready(self):
        from . import signals  # noqa: F401  (history row extras)
