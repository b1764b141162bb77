from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import ModuleChat, UserApiKey


@admin.register(ModuleChat)
class ModuleChatAdmin(SimpleHistoryAdmin):
    list_display = ("user_id", "agent_id", "module_id", "chat_id", "updated_at")
    search_fields = ("=user_id", "agent_id", "module_id", "chat_id")
    show_full_result_count = False


@admin.register(UserApiKey)
class UserApiKeyAdmin(admin.ModelAdmin):
    # The ciphertext is never shown; fingerprint + last 4 identify a key.
    list_display = ("user_id", "masked", "updated_at")
    fields = ("user_id", "fingerprint", "last4", "created_at", "updated_at")
    readonly_fields = fields
    search_fields = ("=user_id",)

    def has_add_permission(self, request):
        return False
