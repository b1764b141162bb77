"""Agent keys in the admin: created (the secret shown once, on the page that made it), listed with
their scopes and last use, and revoked, all through `youlab.keys`, the same service as
`create_agent_key` (so names stay unique among active keys). Creating needs
`youlab.add_agentkey`; revoking is a change (`youlab.change_agentkey`).

djangorestframework-api-key registers its own APIKey model too; YouLab's keys are
youlab.models.AgentKey, so that page would only make keys that open nothing: it is taken away.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from rest_framework_api_key.models import APIKey

from . import keys
from .actors import Actor
from .models import ALL_SCOPES, DEFAULT_SCOPES, AgentKey, Scope

if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


class AgentKeyCreationForm(forms.Form):
    name = forms.CharField(
        max_length=keys.NAME_MAX,
        help_text="The agent service's name, e.g. tutor. It becomes the history actor "
        "agent:<name>; letters, digits and . _ @ + - only (no colon: `staff:<user>` is how staff proposals are named).",
    )
    scopes = forms.MultipleChoiceField(
        choices=[(scope.value, f"{scope.value} — {scope.label}") for scope in Scope],
        initial=list(DEFAULT_SCOPES),
        widget=forms.CheckboxSelectMultiple,
        help_text="A learner's OpenWebUI key only when an agent really needs it.",
    )
    allow_duplicate = forms.BooleanField(
        required=False,
        label="Rotate",
        help_text="Create it although an active key has this name (then revoke the old one).",
    )


@admin.register(AgentKey)
class AgentKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "scope_list", "state", "expiry_date", "created", "last_used_at")
    list_filter = ("revoked",)
    search_fields = ("name", "=prefix")
    fields = ("name", "prefix", "scopes", "created", "last_used_at", "revoked", "expiry_date")
    actions = ("revoke_selected",)
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        readonly = ["name", "prefix", "scopes", "created", "last_used_at", "expiry_date"]
        if obj is not None and obj.revoked:
            readonly.append("revoked")  # revocation is for good
        return readonly

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the name stays in history rows and proposals

    @admin.display(description="scopes")
    def scope_list(self, key):
        return ", ".join(key.scopes or ()) or "—"

    @admin.display(description="state")
    def state(self, key):
        if key.revoked:
            return "revoked"
        return "expired" if key.has_expired else "active"

    # --- create: the secret is on the answer to the POST that made it, and nowhere else

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AgentKeyCreationForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                api_key, secret = keys.create_agent_key(
                    name=form.cleaned_data["name"],
                    scopes=[s for s in ALL_SCOPES if s in form.cleaned_data["scopes"]],
                    allow_duplicate=form.cleaned_data["allow_duplicate"],
                    by=Actor.staff(request.user),
                )
            except keys.AgentKeyError as exc:
                form.add_error(None, exc.message)
            else:
                self.log_addition(request, api_key, [{"added": {}}])
                response = TemplateResponse(request, "admin/youlab/agentkey/created.html", {
                    **self.admin_site.each_context(request),
                    "title": f"Agent key {api_key.name!r} created",
                    "opts": self.model._meta,
                    "api_key": api_key,
                    "secret": secret,
                })
                add_never_cache_headers(response)  # nobody's back button or proxy keeps it
                return response
        return TemplateResponse(request, "admin/youlab/agentkey/add.html", {
            **self.admin_site.each_context(request),
            "title": "Create agent key",
            "opts": self.model._meta,
            "form": form,
            **(extra_context or {}),
        })

    # --- revoke

    def save_model(self, request, obj, form, change):
        # The change form's one editable field is `revoked`; it goes through the service.
        if change and "revoked" in form.changed_data and obj.revoked:
            keys.revoke_agent_keys(name=obj.name, prefix=obj.prefix,
                                   by=Actor.staff(request.user))

    @admin.action(description="Revoke selected agent keys", permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = [
            key for key in queryset.filter(revoked=False)
            if keys.revoke_agent_keys(name=key.name, prefix=key.prefix,
                                      by=Actor.staff(request.user))
        ]
        if revoked:
            names = ", ".join(f"{k.name} ({k.prefix})" for k in revoked)
            self.message_user(request, f"Revoked {len(revoked)} key(s): {names}. "
                              "They stop working on every app server at once.", messages.SUCCESS)
        else:
            self.message_user(request, "Nothing to revoke: the selected keys were revoked already.",
                              messages.WARNING)
