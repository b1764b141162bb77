"""The review queue: staff approve, edit-and-approve or reject agents' proposals.

Thin on purpose: reads come from staff.selectors, every decision is a call to diffs.services
(one transaction, one history row, one Dolt commit by the reviewer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import unquote
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from blocks.models import OwnerType
from diffs import services
from diffs.exceptions import BaseVersionMoved, DiffNotPending
from diffs.models import DiffStatus, PendingDiff
from learners import selectors as learner_selectors
from staff import selectors
from staff.adminkit import (
    CappedCountPaginator,
    DefaultChoiceFilter,
    IndexOrderedChangeList,
    InputFilter,
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

MAX_BULK = 200  # diffs decided by one bulk action (each is its own transaction and Dolt commit)
MAX_REPORTED = 50  # per-diff messages after a bulk action (a summary line counts them all)


# --- filters -----------------------------------------------------------------------------------


class StatusFilter(DefaultChoiceFilter):
    """Status, defaulting to pending: the queue opens on what needs a decision."""

    title = "status"
    parameter_name = "status"
    default = DiffStatus.PENDING.value
    ALL = "all"

    def lookups(self, request, model_admin):
        return [(s.value, s.label) for s in selectors.STATUS_ORDER] + [(self.ALL, "all")]

    @classmethod
    def selected(cls, query: QueryDict) -> str | None:
        """The one status the list shows (None for all), from a request's query string."""
        value = query.get(cls.parameter_name) or cls.default
        return None if value == cls.ALL else value

    def queryset(self, request, queryset):
        value = self.value()
        return queryset if value == self.ALL else queryset.filter(status=value)


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}

    def lookups(self, request, model_admin):
        return [
            ("1h", "less than 1 hour"),
            ("24h", "less than 24 hours"),
            ("7d", "less than 7 days"),
            ("older", "older than 7 days"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        now = timezone.now()
        if value in self.WINDOWS:
            return queryset.filter(created_at__gte=now - self.WINDOWS[value])
        if value == "older":
            return queryset.filter(created_at__lt=now - self.WINDOWS["7d"])
        return queryset


class LabelFilter(InputFilter):
    title = parameter_name = field = "label"
    placeholder = "e.g. student"


class AgentFilter(InputFilter):
    title = parameter_name = "agent"
    field = "agent_key_name"
    placeholder = "agent key name"


# --- forms -------------------------------------------------------------------------------------


def _text_field(**kwargs):
    return forms.CharField(strip=False, widget=forms.Textarea(attrs={"rows": 3}), **kwargs)


class ApproveForm(forms.Form):
    note = _text_field(required=False, label="Note (optional)")


class EditApproveForm(forms.Form):
    edited_content = forms.CharField(
        strip=False, required=False, label="Content to approve",
        widget=forms.Textarea(attrs={"rows": 14, "class": "staff-editor", "spellcheck": "true"}),
    )
    note = _text_field(required=False, label="Note (optional)")


class RejectForm(forms.Form):
    reason = _text_field(label="Reason", help_text="Required. The agent can read it.")

    def clean_reason(self):
        reason = self.cleaned_data["reason"]
        if not reason.strip():
            raise forms.ValidationError("A reason is required to reject a diff.")
        return reason


# --- outcomes of decisions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    diff_id: object
    owner: str
    label: str
    kind: str  # approved | rejected | conflict | skipped | error
    detail: str = ""
    rebased: str = ""  # approved onto a newer version: "rebased onto v3 (proposed against v1)"

    LEVELS = {
        "approved": messages.SUCCESS,
        "rejected": messages.SUCCESS,
        "conflict": messages.WARNING,
        "skipped": messages.WARNING,
        "error": messages.ERROR,
    }


def _owner_display(owner_type, owner_id, names=None):
    if owner_type == OwnerType.SHARED:
        return f"shared:{owner_id}"
    name = (names or {}).get(owner_id)
    return f"{name} ({owner_id})" if name else owner_id


@admin.register(PendingDiff)
class PendingDiffAdmin(admin.ModelAdmin):
    list_display = (
        "proposed", "review_state", "label_link", "learner", "operation", "agent", "versions",
        "reasoning_short",
    )
    list_display_links = ("label_link",)
    list_filter = (StatusFilter, AgeFilter, OwnerFilter, LabelFilter, AgentFilter, "operation")
    search_fields = ("label", "agent_key_name", "agent_id", "reasoning")
    search_help_text = ("A learner's name (the start of each word) or id, a shared namespace (exact), "
                        "or part of a label, agent, agent id or reasoning.")
    ordering = ("created_at",)  # first in, first out: the oldest proposal waits longest
    sortable_by = ("proposed",)
    list_per_page = 50
    list_select_related = False  # related rows are prefetched: a JOIN defeats Dolt's index scan
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    actions = ("approve_selected", "approve_selected_on_base", "reject_selected")
    change_list_template = "admin/diffs/pendingdiff/change_list.html"
    review_template = "admin/diffs/pendingdiff/review.html"
    reject_selected_template = "admin/diffs/pendingdiff/reject_selected.html"

    # -- permissions: agents propose through the API; diffs are records, never deleted here.

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # -- the list

    def get_changelist(self, request, **kwargs):
        return IndexOrderedChangeList

    def slim_changelist_queryset(self, queryset):
        return selectors.slim_diff_list(queryset)

    def get_search_results(self, request, queryset, search_term):
        owned = search_exact_owner(queryset, PendingDiff, search_term)
        if owned is None:
            owned = search_learners_by_name(queryset, search_term, request)
        if owned is not None:
            return owned, False
        return text_search(queryset, search_term, fields=("agent_key_name", "agent_id", "reasoning"),
                           binary_fields=("label",)), False

    def annotate_results(self, diffs):
        attach_learner_names(diffs)

    def index_ordering(self, request, ordering):
        """With one status selected, order by (status, created_at): the index's own order."""
        status = StatusFilter.selected(request.GET)
        if status and ordering and ordering[0] in ("created_at", "-created_at"):
            sign = "-" if ordering[0].startswith("-") else ""
            return [f"{sign}status", *ordering]
        return ordering

    def changelist_view(self, request, extra_context=None):
        selected = StatusFilter.selected(request.GET)
        tabs = []
        for count in selectors.status_counts():
            tabs.append({
                "label": count.label, "count": count.count, "capped": count.capped,
                "status": count.status, "selected": selected == count.status,
                "query": self._query_with_status(request, count.status),
            })
        extra_context = {
            "title": "Review queue",
            **(extra_context or {}),
            "status_tabs": tabs,
            "all_tab": {"selected": selected is None, "query": self._query_with_status(request, StatusFilter.ALL)},
        }
        return super().changelist_view(request, extra_context)

    @staticmethod
    def _query_with_status(request, status):
        query = request.GET.copy()
        query.pop("p", None)
        query[StatusFilter.parameter_name] = status
        return "?" + query.urlencode()

    @admin.display(description="proposed", ordering="created_at")
    def proposed(self, diff):
        return format_html('<span title="{}">{}</span>', diff.created_at.isoformat(timespec="seconds"),
                           naturaltime(diff.created_at))

    @admin.display(description="state")
    def review_state(self, diff):
        return _state_badge(diff)

    @admin.display(description="label")
    def label_link(self, diff):
        return diff.label

    @admin.display(description="learner")
    def learner(self, diff):
        return owner_link(diff.owner_type, diff.owner_id, getattr(diff, "learner_name", ""))

    @admin.display(description="agent")
    def agent(self, diff):
        if diff.agent_id:
            return format_html('{}<br><small class="quiet">{}</small>', diff.agent_key_name, diff.agent_id)
        return diff.agent_key_name

    @admin.display(description="version")
    def versions(self, diff):
        if diff.base_version is None:
            return "new"
        current = diff.block.version if diff.block_id and diff.block else None
        if current is None or current == diff.base_version:
            return f"v{diff.base_version}"
        return format_html('v{} <span class="staff-stale">→ now v{}</span>', diff.base_version, current)

    @admin.display(description="reasoning")
    def reasoning_short(self, diff):
        return Truncator(diff.reasoning).chars(90)

    # -- the review page (replaces the change form)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        request.current_app = self.admin_site.name
        diff = selectors.diff_for_review(unquote(object_id))
        if diff is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, diff):
            raise PermissionDenied
        can_decide = diff.status == DiffStatus.PENDING and self.has_change_permission(request, diff)
        preview = selectors.review_preview(diff)
        forms_ = {
            "approve": ApproveForm(prefix="approve"),
            "edit": EditApproveForm(prefix="edit", initial={"edited_content": preview.effective_content}),
            "reject": RejectForm(prefix="reject"),
        }
        if request.method == "POST":
            if not self.has_change_permission(request, diff):
                raise PermissionDenied
            action = request.POST.get("_action", "")
            response = self._decide(request, diff, action, preview, forms_)
            if response is not None:
                return response
        learner_name = ""
        if diff.owner_type == OwnerType.USER:
            learner_name = learner_selectors.labels_for([diff.owner_id]).get(diff.owner_id, "")
        owner = _owner_display(diff.owner_type, diff.owner_id)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Review: {diff.label} of {f'{learner_name} ({owner})' if learner_name else owner}",
            "learner_name": learner_name,
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "original": diff,
            "diff": diff,
            "preview": preview,
            "forms": forms_,
            "can_decide": can_decide,
            "arguments_json": json.dumps(diff.arguments, indent=2, ensure_ascii=False),
            "state_badge": _state_badge(diff, preview.current_version),
            "links": _diff_links(diff),
            "others": selectors.other_open_proposals(diff),
            "rebased": diff.is_rebase,
            "neighbours": _neighbour_links(diff),
            "preserved_filters": self.get_preserved_filters(request),
            "changelist_url": self._changelist_url(request),
            "has_view_permission": True,
            "is_popup": False,
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.review_template, context)

    def _changelist_url(self, request):
        url = reverse("admin:diffs_pendingdiff_changelist", current_app=self.admin_site.name)
        return add_preserved_filters(
            {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}, url
        )

    def _decide(self, request, diff, action, preview, forms_):
        """Run one decision from the review page; a redirect on success, None to re-render."""
        if action == "approve":
            form = forms_["approve"] = ApproveForm(request.POST, prefix="approve")
            if form.is_valid():
                return self._apply(request, diff, lambda: services.approve_diff(
                    diff_id=diff.pk, by=Actor.staff(request.user), note=form.cleaned_data["note"]))
        elif action == "edit":
            form = forms_["edit"] = EditApproveForm(request.POST, prefix="edit")
            if form.is_valid():
                text = text_from_textarea(form.cleaned_data["edited_content"], preview.effective_content)
                return self._apply(request, diff, lambda: services.approve_diff(
                    diff_id=diff.pk, by=Actor.staff(request.user), edited_content=text,
                    note=form.cleaned_data["note"]))
        elif action == "reject":
            form = forms_["reject"] = RejectForm(request.POST, prefix="reject")
            if form.is_valid():
                return self._apply(request, diff, lambda: services.reject_diff(
                    diff_id=diff.pk, by=Actor.staff(request.user), reason=form.cleaned_data["reason"]))
        else:
            messages.error(request, "Unknown action.")
            return None
        messages.error(request, "Please correct the errors below.")
        return None

    def _apply(self, request, diff, decide):
        outcome = _run(diff.pk, _owner_display(diff.owner_type, diff.owner_id), diff.label, decide)
        _report_one(request, outcome, link=False)
        if outcome.kind in ("approved", "rejected"):
            return HttpResponseRedirect(self._changelist_url(request))
        if outcome.kind == "error":
            return None  # nothing was written; the page keeps what the reviewer typed
        return HttpResponseRedirect(request.get_full_path())  # conflict / already decided

    # -- bulk actions

    def _selected(self, request, queryset):
        """[(pk, owner as staff read it, label)] of the selection, oldest first."""
        rows = list(
            queryset.order_by("created_at").values_list("pk", "owner_type", "owner_id", "label")[: MAX_BULK + 1]
        )
        if len(rows) > MAX_BULK:
            self.message_user(request, f"Select at most {MAX_BULK} diffs at once.", messages.ERROR)
            return None
        names = learner_selectors.labels_for(o for _, t, o, _ in rows if t == OwnerType.USER)
        return [(pk, _owner_display(owner_type, owner_id, names), label)
                for pk, owner_type, owner_id, label in rows]

    def _approve_each(self, request, queryset, *, only_on_base_version=False):
        rows = self._selected(request, queryset)
        if rows is None:
            return None
        by = Actor.staff(request.user)
        outcomes = [
            _run(pk, owner, label, lambda pk=pk: services.approve_diff(
                diff_id=pk, by=by, only_on_base_version=only_on_base_version))
            for pk, owner, label in rows  # oldest first: later ones rebase onto earlier ones
        ]
        _report_many(request, outcomes)
        return None

    @admin.action(description="Approve selected diffs (rebasing stale ones)", permissions=["change"])
    def approve_selected(self, request, queryset):
        return self._approve_each(request, queryset)

    @admin.action(description="Approve selected diffs still on their base version", permissions=["change"])
    def approve_selected_on_base(self, request, queryset):
        return self._approve_each(request, queryset, only_on_base_version=True)

    @admin.action(description="Reject selected diffs…", permissions=["change"])
    def reject_selected(self, request, queryset):
        rows = self._selected(request, queryset)
        if rows is None:
            return None
        confirmed = request.POST.get("post") == "yes"
        form = RejectForm(request.POST if confirmed else None, prefix="reject")
        if confirmed and form.is_valid():
            reason = form.cleaned_data["reason"]
            by = Actor.staff(request.user)
            outcomes = [
                _run(pk, owner, label, lambda pk=pk: services.reject_diff(diff_id=pk, by=by, reason=reason))
                for pk, owner, label in rows
            ]
            _report_many(request, outcomes)
            return None
        diffs = list(selectors.slim_diff_list(PendingDiff.objects.filter(pk__in=[r[0] for r in rows]))
                     .order_by("created_at"))
        attach_learner_names(diffs)
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject diffs",
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "diffs": diffs,
            "pending": sum(1 for d in diffs if d.status == DiffStatus.PENDING),
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.reject_selected_template, context)


# --- helpers -----------------------------------------------------------------------------------


def _run(diff_id, owner, label, decide) -> Outcome:
    """Call one service decision and say what happened; a refused decision writes nothing."""
    try:
        diff = decide()
    except DiffNotPending as exc:
        return Outcome(diff_id, owner, label, "skipped", f"not decided: {exc.message}")
    except BaseVersionMoved as exc:
        return Outcome(diff_id, owner, label, "skipped", f"not approved: {exc.message}")
    except ServiceError as exc:  # the edit operations' errors too (diffs.edits.EditError)
        return Outcome(diff_id, owner, label, "error", exc.message)
    if diff.status == DiffStatus.APPROVED:
        version = diff.applied_version
        rebased = ""
        if diff.base_version is None:
            how = "block created"
        elif diff.is_rebase:
            how = rebased = f"rebased onto v{version - 1} (proposed against v{diff.base_version})"
        else:
            how = "applied as proposed"
        return Outcome(diff_id, owner, label, "approved", f"approved: {how}, now version {version}",
                       rebased=rebased)
    if diff.status == DiffStatus.REJECTED:
        return Outcome(diff_id, owner, label, "rejected", "rejected")
    return Outcome(diff_id, owner, label, "conflict", f"conflict: {diff.conflict_reason}")


def _diff_link(outcome: Outcome):
    url = reverse("admin:diffs_pendingdiff_change", args=[outcome.diff_id])
    return format_html('<a href="{}">{} · {}</a>', url, outcome.owner, outcome.label)


def _report_one(request, outcome: Outcome, link=True):
    if link:
        text = format_html("{}: {}", _diff_link(outcome), outcome.detail)
    else:
        text = f"{outcome.owner} · {outcome.label}: {outcome.detail}"
    messages.add_message(request, Outcome.LEVELS[outcome.kind], text)


def _report_many(request, outcomes: list[Outcome]):
    """A summary line, the rebased approvals together (a reviewer should look at them), then
    one line per diff."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.kind] = counts.get(outcome.kind, 0) + 1
    rebased = [o for o in outcomes if o.rebased]
    parts = []
    for kind, n in counts.items():
        if kind == "approved":
            as_proposed = n - len(rebased)
            parts.append(f"{n} approved ({as_proposed} applied as proposed, {len(rebased)} rebased)")
        else:
            parts.append(f"{n} {kind}")
    messages.info(request, f"{len(outcomes)} diff(s): {', '.join(parts) or 'nothing selected'}.")
    if rebased:
        shown = rebased[:MAX_REPORTED]
        links = format_html_join(", ", "{} ({})", ((_diff_link(o), o.rebased) for o in shown))
        more = f" and {len(rebased) - len(shown)} more" if len(rebased) > len(shown) else ""
        messages.warning(request, format_html(
            "Rebased onto a newer version than they were proposed against — check {}: {}{}.",
            "it" if len(rebased) == 1 else "them", links, more))
    for outcome in outcomes[:MAX_REPORTED]:
        _report_one(request, outcome)
    if len(outcomes) > MAX_REPORTED:
        messages.info(request, f"… and {len(outcomes) - MAX_REPORTED} more (see the queue).")


def _state_badge(diff, current_version=None):
    """Status, plus `stale` when the block moved on since a pending proposal."""
    current = current_version
    if current is None and diff.block_id and diff.block is not None:
        current = diff.block.version
    parts = [format_html('<span class="staff-badge staff-{}">{}</span>', diff.status, diff.status)]
    if diff.status == DiffStatus.PENDING and diff.base_version is not None and current not in (None, diff.base_version):
        parts.append(format_html('<span class="staff-badge staff-stale" title="block is at v{} now">stale</span>', current))
    note = diff.conflict_reason if diff.status == DiffStatus.CONFLICT else diff.review_note
    if diff.status != DiffStatus.PENDING and note:  # why it was decided so: the reviewer's note
        return format_html('{} <span class="staff-reason" title="{}">{}</span>', parts[0], note,
                           Truncator(note).chars(60))
    return format_html(" ".join(["{}"] * len(parts)), *parts)


def _neighbour_links(diff):
    previous, following = selectors.queue_neighbours(diff)
    url = "admin:diffs_pendingdiff_change"
    return {
        "previous": reverse(url, args=[previous]) if previous else "",
        "next": reverse(url, args=[following]) if following else "",
    }


def _diff_links(diff):
    links = {}
    if diff.block_id:
        links["block"] = reverse("admin:blocks_block_change", args=[diff.block_id])
        links["history"] = reverse("admin:blocks_block_history", args=[diff.block_id])
    if diff.owner_type == OwnerType.USER:
        links["learner"] = reverse("staff:learner", args=[diff.owner_id])
    query = QueryDict(mutable=True)
    query["learner"] = _owner_display(diff.owner_type, diff.owner_id)
    query["status"] = StatusFilter.ALL
    links["queue_for_learner"] = reverse("admin:diffs_pendingdiff_changelist") + "?" + query.urlencode()
    return links
