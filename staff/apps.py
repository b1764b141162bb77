from django.apps import AppConfig


class StaffConfig(AppConfig):
    """The staff product: the model admins of blocks, diffs and chats, the review queue, learner
    pages and the Dolt log. The top floor: it reads and writes through the other apps' selectors
    and services; no app imports it."""

    name = "staff"
    verbose_name = "Staff"
