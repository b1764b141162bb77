"""Blocks in the staff admin: read, edit content, compare and revert versions, delete / restore.

Every write goes through blocks.services (one new version, one history row with the staff
member's actor, one Dolt commit by them). The standard change form is therefore
view-only, and content is edited on its own page (`Edit content`), which calls
update_block_content with the version the editor started from. simple-history's own revert is
off (SIMPLE_HISTORY_REVERT_DISABLED) and its per-version form view never saves.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import BooleanField, F, Func
from django.db.models.functions import SHA1, Length
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from simple_history.admin import SimpleHistoryAdmin

from blocks import services
from blocks.exceptions import BlockConflict, OverCharLimit
from blocks.models import Block, HistoricalBlock, OwnerType
from learners import selectors as learner_selectors
from staff import selectors
from staff.adminkit import (
    CappedCountPaginator,
    DefaultChoiceFilter,
    IndexOrderedChangeList,
    OwnerFilter,
    attach_learner_names,
    owner_link,
    search_exact_owner,
    search_learners_by_name,
    text_from_textarea,
    text_search,
)
from youlab.actors import Actor
from youlab.errors import ServiceError

MAX_BULK = 200

# Fields whose changes the history page lists (content is summarised by length, not shown).
_DELTA_FIELDS = ("owner_type", "owner_id", "label", "description", "char_limit", "read_only",
                 "metadata", "deleted_at")


# --- filters -----------------------------------------------------------------------------------


class StateFilter(DefaultChoiceFilter):
    """Live blocks by default; soft-deleted ones one click away (and restorable)."""

    title = "state"
    parameter_name = "state"
    default = "live"
    CHOICES = (("live", "live"), ("deleted", "soft-deleted"), ("all", "all"))

    def lookups(self, request, model_admin):
        return self.CHOICES

    def queryset(self, request, queryset):
        value = self.value()
        if value == "live":
            # Not `deleted_at IS NULL`: Dolt 2.2 answers that with a lookup on blocks_deleted_at
            # (which nearly every row matches) and then sorts all of them for the list's ORDER BY,
            # 1.1 s per page at 100k blocks. ISNULL(deleted_at) stays a filter on the ordered index
            # scan that stops after one page: 1.5 ms (bench/admin.py).
            return queryset.filter(Func(F("deleted_at"), function="ISNULL", output_field=BooleanField()))
        if value == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


# --- forms -------------------------------------------------------------------------------------


class ContentForm(forms.Form):
    content = forms.CharField(
        strip=False, required=False,
        widget=forms.Textarea(attrs={"rows": 22, "class": "staff-editor", "spellcheck": "true"}),
    )
    reason = forms.CharField(
        required=False, max_length=1000, widget=forms.TextInput(attrs={"size": 80}),
        help_text="Kept in the block's history. Empty: “Edited in the admin by <you>”.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class PrettyJSONField(forms.JSONField):
    """A JSON editor that starts from readable, indented JSON (Django's writes one long line)."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except RecursionError:  # absurdly deep nesting: a form error, never a 500
            raise forms.ValidationError("This JSON is nested too deeply.") from None

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:  # shown back as typed
            return forms.fields.InvalidJSONInput(data)

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


class SettingsForm(forms.Form):
    description = forms.CharField(
        required=False, strip=False, max_length=services.MAX_DESCRIPTION_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}), help_text="What the block is for; agents read it.",
    )
    char_limit = forms.IntegerField(
        required=False, min_value=1, max_value=services.MAX_CHAR_LIMIT, label="Character limit",
        help_text="Empty: no limit. It cannot be below the current content's length.",
    )
    read_only = forms.BooleanField(required=False, label="Read-only for agents",
                                   help_text="Agents' proposals for this block are refused (staff can still edit).")
    metadata = PrettyJSONField(
        required=False, widget=forms.Textarea(attrs={"rows": 14, "class": "staff-editor", "spellcheck": "false"}),
        help_text="A JSON object. Empty: no metadata.",
    )
    reason = forms.CharField(
        required=False, max_length=1000, widget=forms.TextInput(attrs={"size": 80}),
        help_text="Optional; kept in the block's history and the Dolt commit message.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def clean_metadata(self):
        value = self.cleaned_data["metadata"]
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Metadata must be a JSON object ({…}).")
        return value


class ReasonForm(forms.Form):
    reason = forms.CharField(
        required=False, max_length=1000, widget=forms.TextInput(attrs={"size": 80}),
        help_text="Optional; kept in the block's history and the Dolt commit message.",
    )


@admin.register(Block)
class BlockAdmin(SimpleHistoryAdmin):
    list_display = ("label", "owner", "version", "chars", "flags", "updated_at")
    list_display_links = ("label",)
    list_filter = (StateFilter, OwnerFilter, "owner_type", "read_only")
    search_fields = ("label",)
    search_help_text = ("A learner's name (the start of each word) or id, a shared namespace (exact), "
                        "or part of a label.")
    # Only orders an index serves: the default (owner_type, owner_id, label) and updated_at.
    sortable_by = ("updated_at",)
    list_per_page = 50
    list_select_related = False
    show_full_result_count = False  # COUNT(*) over 100k rows on every page is wasted work
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    actions = ("soft_delete_selected", "restore_selected")
    fieldsets = (
        (None, {"fields": ("owner_type", "owner_id", "label", "description")}),
        ("Content", {"fields": ("content_display",)}),
        ("Settings", {"fields": ("char_limit", "read_only", "metadata_display")}),
        ("Version", {"fields": ("id", "version", "created_at", "updated_at", "deleted_at")}),
    )
    readonly_fields = ("content_display", "metadata_display")
    change_form_template = "admin/blocks/block/change_form.html"
    object_history_template = "admin/blocks/block/object_history.html"
    object_history_list_template = "admin/blocks/block/object_history_list.html"
    history_list_per_page = 50

    # -- permissions: the generic form never saves; writes happen on the pages below.

    def has_add_permission(self, request):
        return False  # blocks appear through approved `create` proposals and imports

    def has_delete_permission(self, request, obj=None):
        return False  # a hard delete would drop history; soft delete is an action

    def has_change_permission(self, request, obj=None):
        return False  # the generic form would bypass versioning; see "Edit content"

    def has_write_permission(self, request, obj=None):
        """May this user change blocks through the service-backed pages and actions?"""
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        raise PermissionDenied("blocks change through blocks.services only")

    # -- the list

    def get_changelist(self, request, **kwargs):
        return IndexOrderedChangeList

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Blocks", **(extra_context or {})})

    def get_search_results(self, request, queryset, search_term):
        owned = search_exact_owner(queryset, Block, search_term)
        if owned is None:
            owned = search_learners_by_name(queryset, search_term, request)
        if owned is not None:
            return owned, False
        return text_search(queryset, search_term, binary_fields=("label",)), False

    def annotate_results(self, blocks):
        attach_learner_names(blocks)

    def slim_changelist_queryset(self, queryset):
        return queryset.defer("content", "description", "metadata").annotate(
            content_chars=Length("content")
        )

    @admin.display(description="owner")
    def owner(self, block):
        return owner_link(block.owner_type, block.owner_id, getattr(block, "learner_name", ""))

    @admin.display(description="chars")
    def chars(self, block):
        n = getattr(block, "content_chars", None)
        if n is None:
            return "—"
        return f"{n:,} / {block.char_limit:,}" if block.char_limit else f"{n:,}"

    @admin.display(description="flags")
    def flags(self, block):
        parts = []
        if block.deleted_at:
            parts.append(mark_safe('<span class="staff-badge staff-deleted">deleted</span>'))
        if block.read_only:
            parts.append(mark_safe('<span class="staff-badge staff-readonly">read-only</span>'))
        return format_html(" ".join(["{}"] * len(parts)), *parts) if parts else ""

    @admin.display(description="content")
    def content_display(self, block):
        return format_html('<pre class="staff-content">{}</pre>', block.content)

    @admin.display(description="metadata")
    def metadata_display(self, block):
        return metadata_table(block.metadata)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self._block_links(request, obj))
            name = context["owner_name"]
            context["subtitle"] = f"{obj.label} · {name} ({obj.owner_display})" if name else str(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _block_links(self, request, block):
        pk = block.pk
        links = {
            "owner_name": _owner_name(block),
            "can_write": self.has_write_permission(request, block),
            "edit_url": reverse("admin:blocks_block_edit_content", args=[pk]),
            "settings_url": reverse("admin:blocks_block_settings", args=[pk]),
            "compare_url": reverse("admin:blocks_block_compare", args=[pk]),
            "history_url": reverse("admin:blocks_block_history", args=[pk]),
            "soft_delete_url": reverse("admin:blocks_block_soft_delete", args=[pk]),
            "restore_url": reverse("admin:blocks_block_restore", args=[pk]),
            "change_url": reverse("admin:blocks_block_change", args=[pk]),
            "queue_url": reverse("admin:diffs_pendingdiff_changelist") + "?" + _owner_query(block),
        }
        if block.owner_type == OwnerType.USER:
            links["learner_url"] = reverse("staff:learner", args=[block.owner_id])
        return links

    # -- custom pages

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/edit-content/", view(self.edit_content_view), name="blocks_block_edit_content"),
            path("<path:object_id>/settings/", view(self.settings_view), name="blocks_block_settings"),
            path("<path:object_id>/compare/", view(self.compare_view), name="blocks_block_compare"),
            path("<path:object_id>/revert/<int:version>/", view(self.revert_view), name="blocks_block_revert"),
            path("<path:object_id>/soft-delete/", view(self.soft_delete_view), name="blocks_block_soft_delete"),
            path("<path:object_id>/restore/", view(self.restore_view), name="blocks_block_restore"),
            *super().get_urls(),
        ]

    def _block_or_404(self, request, object_id, write=False):
        block = self.get_object(request, unquote(object_id))
        if block is None:
            return None, self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        allowed = self.has_write_permission(request, block) if write else self.has_view_permission(request, block)
        if not allowed:
            raise PermissionDenied
        return block, None

    def _live_block_to_write(self, request, object_id, doing: str):
        """(block, its page's URL, None), or a response that refuses: no such block, no write
        permission (403), or soft-deleted (back to its page, saying so)."""
        block, missing = self._block_or_404(request, object_id, write=True)
        if missing:
            return None, None, missing
        change_url = reverse("admin:blocks_block_change", args=[block.pk])
        if block.is_deleted:
            messages.error(request, f"This block is soft-deleted; restore it before {doing}.")
            return block, change_url, HttpResponseRedirect(change_url)
        return block, change_url, None

    def _render(self, request, template, block, title, **context):
        request.current_app = self.admin_site.name
        links = self._block_links(request, block)
        if links["owner_name"]:  # "Settings: student · Maya Thompson (3f6c…)" rather than the bare id
            title = title.replace(str(block), f"{block.label} · {links['owner_name']} ({block.owner_display})")
        return TemplateResponse(request, template, {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "original": block,  # templates say `original`: `block` is the template block tag's
            "has_view_permission": True,
            "is_popup": False,
            **links,
            **context,
        })

    def edit_content_view(self, request, object_id):
        block, change_url, refused = self._live_block_to_write(request, object_id, "editing")
        if refused:
            return refused
        form = ContentForm(initial={"content": block.content, "version": block.version})
        if request.method == "POST":
            form = ContentForm(request.POST)
            if form.is_valid():
                content = text_from_textarea(form.cleaned_data["content"], block.content)
                if content == block.content and form.cleaned_data["version"] == block.version:
                    messages.info(request, "Nothing changed.")
                    return HttpResponseRedirect(change_url)
                try:
                    updated = services.update_block_content(
                        block=block, content=content, by=Actor.staff(request.user),
                        reason=form.cleaned_data["reason"].strip()
                        or f"Edited in the admin by {request.user.get_username()}",
                        expected_version=form.cleaned_data["version"],
                    )
                except BlockConflict as exc:
                    form.add_error(None, f"The block changed while you were editing ({exc.message}). "
                                         "Your text is below; copy it, then reload to see the current version.")
                except OverCharLimit as exc:
                    form.add_error("content", exc.message)
                except ServiceError as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, f"Saved {updated}: now version {updated.version}.")
                    return HttpResponseRedirect(change_url)
        return self._render(request, "admin/blocks/block/edit_content.html", block,
                            f"Edit content: {block}", form=form)

    def settings_view(self, request, object_id):
        """Description, char limit, read-only and metadata, through services.update_block_settings
        (the same path as the API's PATCH): one new version, a history row, a Dolt commit."""
        block, change_url, refused = self._live_block_to_write(request, object_id, "changing its settings")
        if refused:
            return refused
        form = SettingsForm(initial={
            "description": block.description, "char_limit": block.char_limit, "read_only": block.read_only,
            "metadata": block.metadata, "version": block.version,
        })
        if request.method == "POST":
            form = SettingsForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    updated = services.update_block_settings(
                        block=block, description=text_from_textarea(data["description"], block.description),
                        char_limit=data["char_limit"], read_only=data["read_only"], metadata=data["metadata"],
                        by=Actor.staff(request.user), reason=data["reason"].strip(), expected_version=data["version"],
                    )
                except BlockConflict as exc:
                    form.add_error(None, f"The block changed while you were editing ({exc.message}). "
                                         "Reload to see its current settings.")
                except OverCharLimit as exc:
                    form.add_error("char_limit", exc.message)
                except ServiceError as exc:
                    field = exc.details.get("field")
                    form.add_error(field if field in form.fields else None, exc.message)
                else:
                    if updated.version == block.version:
                        messages.info(request, "Nothing changed.")
                    else:
                        messages.success(request, f"Saved the settings of {updated}: now version {updated.version}.")
                    return HttpResponseRedirect(change_url)
        return self._render(request, "admin/blocks/block/settings.html", block, f"Settings: {block}",
                            form=form, metadata_table=metadata_table(block.metadata),
                            content_length=len(block.content))

    def compare_view(self, request, object_id):
        block, missing = self._block_or_404(request, object_id)
        if missing:
            return missing
        choices = selectors.history_choices(block.pk)
        b = _int(request.GET.get("b"), block.version)
        a = _int(request.GET.get("a"), max(b - 1, 1))
        contents = selectors.version_contents(block.pk, [a, b])
        missing_versions = [v for v in (a, b) if v not in contents]
        if missing_versions:
            messages.error(request, f"No version {', '.join(map(str, missing_versions))} of this block.")
        rows = selectors.side_by_side(contents.get(a, ""), contents.get(b, "")) if not missing_versions else []
        return self._render(request, "admin/blocks/block/compare.html", block, f"Compare versions: {block}",
                            a=a, b=b, choices=choices, rows=rows, same=contents.get(a) == contents.get(b),
                            left_title=f"Version {a} (A)", right_title=f"Version {b} (B)",
                            revert_a_url=reverse("admin:blocks_block_revert", args=[block.pk, a]))

    def revert_view(self, request, object_id, version):
        block, missing = self._block_or_404(request, object_id, write=True)
        if missing:
            return missing
        history_url = reverse("admin:blocks_block_history", args=[block.pk])
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                updated = services.revert_block(
                    block=block, version=version, by=Actor.staff(request.user),
                    reason=form.cleaned_data["reason"].strip(),
                )
            except ServiceError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Reverted {updated} to version {version}: now version {updated.version}.")
            return HttpResponseRedirect(history_url)
        target = selectors.version_contents(block.pk, [version]).get(version)
        if target is None:
            messages.error(request, f"No version {version} of this block.")
            return HttpResponseRedirect(history_url)
        return self._render(request, "admin/blocks/block/revert.html", block, f"Revert {block} to version {version}",
                            form=form, version=version, rows=selectors.side_by_side(block.content, target),
                            submit_label=f"Revert to version {version}",
                            same=target == block.content)

    def soft_delete_view(self, request, object_id):
        return self._set_deleted_view(request, object_id, True)

    def restore_view(self, request, object_id):
        return self._set_deleted_view(request, object_id, False)

    def _set_deleted_view(self, request, object_id, deleted):
        block, missing = self._block_or_404(request, object_id, write=True)
        if missing:
            return missing
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            updated = self._set_deleted(request, block, deleted, form.cleaned_data["reason"])
            if updated is not None:
                messages.success(request, f"{'Soft-deleted' if deleted else 'Restored'} {updated}: "
                                          f"now version {updated.version}.")
            return HttpResponseRedirect(reverse("admin:blocks_block_change", args=[block.pk]))
        verb = "Soft-delete" if deleted else "Restore"
        attach_learner_names([block])
        return self._render(request, "admin/blocks/block/set_deleted.html", block, f"{verb} {block}",
                            form=form, deleted=deleted, verb=verb, blocks=[block])

    def _set_deleted(self, request, block, deleted, reason=""):
        try:
            return services.set_block_deleted(
                block=block, deleted=deleted, by=Actor.staff(request.user),
                reason=reason.strip() or f"{'Deleted' if deleted else 'Restored'} in the admin by "
                                         f"{request.user.get_username()}",
            )
        except ServiceError as exc:
            messages.error(request, f"{block}: {exc.message}")
            return None

    # -- actions

    @admin.action(description="Soft-delete selected blocks…", permissions=["write"])
    def soft_delete_selected(self, request, queryset):
        blocks = list(queryset.only("id", "owner_type", "owner_id", "label", "deleted_at", "version")[: MAX_BULK + 1])
        if len(blocks) > MAX_BULK:
            self.message_user(request, f"Select at most {MAX_BULK} blocks at once.", messages.ERROR)
            return None
        form = ReasonForm(request.POST if request.POST.get("post") == "yes" else None)
        if form.is_bound and form.is_valid():
            self._bulk_set_deleted(request, blocks, True, form.cleaned_data["reason"])
            return None
        attach_learner_names(blocks)
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/blocks/block/set_deleted.html", {
            **self.admin_site.each_context(request),
            "title": "Soft-delete blocks", "subtitle": None, "opts": self.opts,
            "app_label": self.opts.app_label, "form": form, "deleted": True, "verb": "Soft-delete",
            "blocks": blocks, "bulk": True, "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })

    @admin.action(description="Restore selected blocks", permissions=["write"])
    def restore_selected(self, request, queryset):
        blocks = list(queryset.only("id", "owner_type", "owner_id", "label", "deleted_at", "version")[: MAX_BULK + 1])
        if len(blocks) > MAX_BULK:
            self.message_user(request, f"Select at most {MAX_BULK} blocks at once.", messages.ERROR)
            return None
        self._bulk_set_deleted(request, blocks, False, "")
        return None

    def _bulk_set_deleted(self, request, blocks, deleted, reason):
        done = 0
        for block in blocks:
            if block.is_deleted == deleted:
                messages.warning(request, f"{block}: already {'deleted' if deleted else 'live'}.")
                continue
            updated = self._set_deleted(request, block, deleted, reason)
            if updated is not None:
                done += 1
                messages.success(request, f"{updated}: {'soft-deleted' if deleted else 'restored'}, "
                                          f"now version {updated.version}.")
        messages.info(request, f"{done} of {len(blocks)} block(s) {'soft-deleted' if deleted else 'restored'}.")

    # -- history (simple-history's page, with compare, revert and a content summary)

    def get_history_queryset(self, request, history_manager, pk_name, object_id):
        queryset = super().get_history_queryset(request, history_manager, pk_name, object_id)
        # simple-history's select_related() without names drops its own select_related of the
        # (nullable) history_user: name it again, or each row queries its user.
        # 290 KB blocks × 50 rows is too much to load for a list: length and hash tell changes.
        return queryset.select_related("history_user").defer("content").annotate(
            content_chars=Length("content"), content_sha=SHA1("content")
        )

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        newer = None
        for record in historical_records:  # newest first
            if newer is not None:
                newer.history_delta_changes = _delta(record, newer)
            newer = record

    def history_view(self, request, object_id, extra_context=None):
        obj_id = unquote(object_id)
        try:
            block = Block.objects.filter(pk=obj_id).only("owner_type", "owner_id").first()
        except (ValidationError, ValueError):
            block = None  # simple-history's view answers the unknown id
        context = {
            "owner_name": _owner_name(block) if block else "",
            "compare_url": reverse("admin:blocks_block_compare", args=[obj_id]),
            "can_write": self.has_write_permission(request),
            "change_url": reverse("admin:blocks_block_change", args=[obj_id]),
            **(extra_context or {}),
        }
        return super().history_view(request, object_id, context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        """simple-history's per-version form would save on POST: show a comparison instead."""
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        block_id = unquote(object_id)
        record = HistoricalBlock.objects.filter(id=block_id, history_id=version_id).only("version").first()
        url = reverse("admin:blocks_block_compare", args=[block_id])
        return HttpResponseRedirect(f"{url}?a={record.version}" if record else url)


def metadata_table(metadata):
    """Metadata as staff read it: one row per key, text as text, anything else as indented JSON."""
    if not metadata:
        return format_html('<span class="quiet">{}</span>', "none")
    if not isinstance(metadata, dict):
        return format_html("<pre>{}</pre>", json.dumps(metadata, indent=2, ensure_ascii=False))
    rows = []
    for key in sorted(metadata, key=str):
        value = metadata[key]
        if isinstance(value, str):
            shown = format_html("{}", value)
        elif isinstance(value, (bool, int, float)) or value is None:
            shown = format_html("<code>{}</code>", json.dumps(value))
        else:
            shown = format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))
        rows.append(format_html("<dt>{}</dt><dd>{}</dd>", key, shown))
    return format_html('<dl class="staff-kv staff-metadata">{}</dl>', mark_safe("".join(rows)))


def _int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _owner_name(block) -> str:
    """The learner's display name for a learner's block ("" for shared blocks and unnamed learners)."""
    if block.owner_type != OwnerType.USER:
        return ""
    return learner_selectors.labels_for([block.owner_id]).get(block.owner_id, "")


def _owner_query(block):
    query = QueryDict(mutable=True)
    query["learner"] = block.owner_display
    query["status"] = "all"
    return query.urlencode()


def _delta(older, newer):
    changes = []
    for name in _DELTA_FIELDS:
        old, new = getattr(older, name), getattr(newer, name)
        if old != new:
            changes.append({"field": name, "old": "—" if old in (None, "") else old,
                            "new": "—" if new in (None, "") else new})
    if older.content_sha != newer.content_sha:
        delta = newer.content_chars - older.content_chars
        changes.insert(0, {"field": "content", "old": f"{older.content_chars:,} chars",
                           "new": f"{newer.content_chars:,} chars ({delta:+,})"})
    return changes
