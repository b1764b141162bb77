from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import Block


@admin.register(Block)
class BlockAdmin(SimpleHistoryAdmin):
    list_display = ("label", "owner_type", "owner_id", "version", "read_only", "deleted_at", "updated_at")
    list_filter = ("owner_type", "read_only", ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("=owner_id", "label")
    readonly_fields = ("id", "version", "created_at", "updated_at", "deleted_at")
    show_full_result_count = False  # COUNT(*) over 100k rows on every page is wasted work
    history_list_display = ("version", "actor", "history_change_reason")

    def has_delete_permission(self, request, obj=None):
        # Blocks are soft-deleted through the services; a hard delete would drop history.
        return False
