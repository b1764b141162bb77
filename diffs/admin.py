from django.contrib import admin

from .models import PendingDiff


@admin.register(PendingDiff)
class PendingDiffAdmin(admin.ModelAdmin):
    list_display = ("created_at", "status", "operation", "owner_id", "label", "agent_key_name", "agent_id")
    list_filter = ("status", "operation", "owner_type")
    search_fields = ("=owner_id", "label", "agent_id", "agent_key_name")
    list_select_related = ("block", "reviewer")
    show_full_result_count = False
    readonly_fields = [f.name for f in PendingDiff._meta.fields]

    def has_add_permission(self, request):
        return False  # agents propose through the API
