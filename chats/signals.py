"""Fill module_chat_history's `actor` from what the services put on the instance."""

from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record

from .models import HistoricalModuleChat


@receiver(pre_create_historical_record, sender=HistoricalModuleChat)
def fill_history_actor(sender, instance, history_instance, **kwargs):
    history_instance.actor = getattr(instance, "_history_actor", "system")
