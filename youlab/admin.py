"""Agent keys in the admin: listed with their scopes and last use, revocable (revocation is a
change permission, `youlab.change_agentkey`). They are made with `create_agent_key`, which shows
the secret once; the admin never can.

djangorestframework-api-key registers its own APIKey model too; YouLab's keys are
youlab.models.AgentKey, so that page would only make keys that open nothing: it is taken away.
"""

from django.contrib import admin
from rest_framework_api_key.models import APIKey

from .models import AgentKey

if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(AgentKey)
class AgentKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "scope_list", "revoked", "expiry_date", "created", "last_used_at")
    list_filter = ("revoked",)
    search_fields = ("name", "=prefix")
    fields = ("name", "prefix", "scopes", "created", "last_used_at", "revoked", "expiry_date")
    readonly_fields = ("name", "prefix", "scopes", "created", "last_used_at")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # `create_agent_key`: the secret is shown once, where it is made

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the name stays in history rows and proposals

    @admin.display(description="scopes")
    def scope_list(self, key):
        return ", ".join(key.scopes or ()) or "—"
