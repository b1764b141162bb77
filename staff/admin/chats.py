"""Staff views of module chats and learners' keys. Writes go through chats.services, so each
leaves a history row with the staff actor and a Dolt commit by the staff member."""

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from simple_history.admin import SimpleHistoryAdmin

from chats import services
from chats.models import ModuleChat, UserApiKey
from staff.adminkit import (
    AnnotatedChangeList,
    ReadOnlyHistoryFormMixin,
    attach_learner_names,
    learner_link,
)
from youlab.actors import Actor
from youlab.errors import ServiceError


class LearnerColumnMixin:
    """The learner column: their name beside the id (one query per page)."""

    def get_changelist(self, request, **kwargs):
        return AnnotatedChangeList

    def annotate_results(self, rows):
        attach_learner_names(rows, owner_type_attr=None, owner_id_attr="user_id")

    @admin.display(description="learner", ordering="user_id")
    def learner(self, obj):
        return learner_link(obj.user_id, getattr(obj, "learner_name", ""))


@admin.register(ModuleChat)
class ModuleChatAdmin(ReadOnlyHistoryFormMixin, LearnerColumnMixin, SimpleHistoryAdmin):
    list_display = ("learner", "agent_id", "module_id", "chat_display", "updated_at")
    search_fields = ("=user_id", "agent_id", "module_id", "chat_id")
    show_full_result_count = False
    history_list_display = ("chat_id", "actor", "history_change_reason")
    actions = ["clear_chats"]

    # Read-only: a chat id is set by the agents through the API, and cleared with the action
    # below (a raw edit or delete here would skip the actor and the Dolt commit).
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_clear_permission(self, request, obj=None):
        """Clearing goes through chats.services; it is a change to the row."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    @admin.display(description="chat id", ordering="chat_id")
    def chat_display(self, obj):
        return obj.chat_id or "(cleared)"

    @admin.action(description="Clear the selected module chats (the next request starts a new chat)",
                  permissions=["clear"])
    def clear_chats(self, request, queryset):
        cleared = 0
        by = Actor.staff(request.user)
        for chat in queryset.exclude(chat_id=""):
            services.clear_module_chat(user_id=chat.user_id, agent_id=chat.agent_id, module_id=chat.module_id, by=by)
            cleared += 1
        self.message_user(request, f"Cleared {cleared} module chat(s).", messages.SUCCESS)


@admin.register(UserApiKey)
class UserApiKeyAdmin(LearnerColumnMixin, admin.ModelAdmin):
    # Neither the key nor its ciphertext is ever shown: fingerprint + last 4 identify a key.
    list_display = ("learner", "masked", "updated_at")
    fields = ("user_id", "fingerprint", "last4", "created_at", "updated_at")
    readonly_fields = fields
    search_fields = ("=user_id",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # keys are set by the learner's side through the API

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        self._delete(request, [obj])

    def delete_queryset(self, request, queryset):
        self._delete(request, list(queryset))

    def _delete(self, request, records):
        by = Actor.staff(request.user)
        for record in records:
            try:
                services.delete_user_key(user_id=record.user_id, by=by)
            except ServiceError as exc:  # deleted meanwhile by someone else
                self.message_user(request, exc.message, messages.WARNING)
