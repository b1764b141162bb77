from django.apps import AppConfig


class DiffsConfig(AppConfig):
    name = "diffs"
    verbose_name = "Pending diffs"
