"""Staff see every callback delivery (filter by status: failed ones first to look at) and can
"retry now" (the declared permission callbacks.retry_callbackdelivery). Rows are written only
by the decision and the worker (callbacks.services): the admin never adds, edits or deletes."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from . import services
from .models import CallbackDelivery


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "event", "diff_link", "target", "status", "attempts", "last_status_code",
                    "last_error_short", "next_attempt_at", "created_at")
    list_filter = ("status", "event")
    search_fields = ("=id", "=diff__id", "url")
    ordering = ("-created_at",)
    actions = ["retry_now"]
    readonly_fields = [f.name for f in CallbackDelivery._meta.fields]
    list_select_related = False
    show_full_result_count = False

    @admin.display(description="diff")
    def diff_link(self, obj):
        url = reverse("admin:diffs_pendingdiff_change", args=[obj.diff_id])
        return format_html('<a href="{}">{}</a>', url, obj.diff_id)

    @admin.display(description="to")
    def target(self, obj):
        # The path and query can hold the agent's token; the list shows scheme and host only.
        return obj.url.split("/", 3)[2] if obj.url.count("/") >= 2 else obj.url

    @admin.display(description="last error")
    def last_error_short(self, obj):
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request, queryset):
        count = services.retry_now(deliveries=list(queryset))
        skipped = queryset.count() - count
        self.message_user(request, f"{count} deliver{'y' if count == 1 else 'ies'} scheduled now"
                          + (f"; {skipped} already delivered, left alone" if skipped > 0 else ""),
                          messages.SUCCESS if count else messages.WARNING)

    def has_retry_permission(self, request):
        return request.user.has_perm("callbacks.retry_callbackdelivery")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
