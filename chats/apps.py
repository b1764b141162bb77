from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"
    verbose_name = "Module chats and learner keys"

    def ready(self):
        from . import signals  # noqa: F401  (module_chat_history.actor)
