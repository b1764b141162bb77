"""Fill block_history's extra columns from what the services put on the instance."""

from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record

from .models import HistoricalBlock


@receiver(pre_create_historical_record, sender=HistoricalBlock)
def fill_history_extras(sender, instance, history_instance, **kwargs):
    history_instance.actor = getattr(instance, "_history_actor", "system")
    history_instance.diff_id = getattr(instance, "_history_diff_id", None)
    history_instance.import_key = getattr(instance, "_history_import_key", None)
