from django.apps import AppConfig


class CallbacksConfig(AppConfig):
    name = "callbacks"
    verbose_name = "Decision callbacks"

    def ready(self):
        from diffs.signals import diff_decided

        from . import services

        def on_decided(sender, diff, **kwargs):
            services.enqueue_decision(diff=diff)

        diff_decided.connect(on_decided, dispatch_uid="callbacks.enqueue_decision", weak=False)
