"""Staff pages outside the model admins: landing, learners, the Dolt log.

Each view is wrapped in admin.site.admin_view (see urls.py): anonymous and non-staff users are
sent to the admin login, like every other admin page.
"""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from learners import selectors as learner_selectors
from learners import services as learner_services
from youlab import dolt
from youlab.actors import Actor
from youlab.dates import parse_moment
from youlab.errors import ServiceError

from . import selectors

LOG_PAGE_SIZE = 50
_DIFF_ID = re.compile(r"\b(diff )([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")
# What could be a learner id in a commit message ("maya/student v3", "learner maya (agent:x)").
_MESSAGE_TOKEN = re.compile(r"[^\s/:(),]+")
_MAX_MESSAGE_TOKENS = 5_000  # per log page: the names are looked up in one query


def _context(request, title, **extra):
    request.current_app = admin.site.name
    return {**admin.site.each_context(request), "title": title, "subtitle": None, "is_popup": False, **extra}


def home(request):
    """The staff landing page is the review queue (pending diffs first), for those who may see
    it; the list of models they may see otherwise."""
    if not request.user.has_perm("diffs.view_pendingdiff"):
        return redirect("staff:apps")
    return redirect("admin:diffs_pendingdiff_changelist")


def learner_list(request):
    query = request.GET.get("q", "").strip()
    after = request.GET.get("after", "")
    rows, next_after = selectors.search_learners(query, after)
    next_url = ""
    if next_after:
        params = QueryDict(mutable=True)
        if query:
            params["q"] = query
        params["after"] = next_after
        next_url = "?" + params.urlencode()
    return TemplateResponse(request, "staff/learner_list.html", _context(
        request, "Learners", query=query, rows=rows, next_url=next_url, after=after,
    ))


def _url(name, *args, **params):
    query = QueryDict(mutable=True)
    query.update(params)
    return reverse(name, args=args) + ("?" + query.urlencode() if params else "")


class ProfileForm(forms.Form):
    display_name = forms.CharField(required=False, max_length=learner_services.MAX_DISPLAY_NAME_LENGTH)
    email = forms.CharField(required=False, max_length=learner_services.MAX_EMAIL_LENGTH)


def learner_title(user_id: str, name: str) -> str:
    return f"{name} ({user_id})" if name else f"Learner {user_id}"


def learner_detail(request, user_id):
    can_edit_profile = request.user.has_perm("learners.change_learner")
    profile_form = None
    if request.method == "POST":
        if not can_edit_profile:
            raise PermissionDenied
        profile_form = ProfileForm(request.POST)
        if profile_form.is_valid():
            try:
                _, changed = learner_services.set_learner_profile(
                    user_id=user_id, **profile_form.cleaned_data, by=Actor.staff(request.user),
                )
            except ServiceError as exc:
                profile_form.add_error(None, exc.message)
            else:
                messages.success(request, "Profile saved." if changed else "Nothing changed.")
                return HttpResponseRedirect(request.get_full_path())
    overview = selectors.learner_overview(user_id)
    if profile_form is None and can_edit_profile:
        profile = overview.profile
        profile_form = ProfileForm(initial={"display_name": profile.display_name if profile else "",
                                            "email": profile.email if profile else ""})
    as_of_text = request.GET.get("as_of", "").strip()
    as_of = parse_moment(as_of_text) if as_of_text else None
    if as_of_text and as_of is None:
        messages.error(request, f"“{as_of_text[:64]}” is not a date and time (e.g. 2026-03-03T18:00).")
    queue = "admin:diffs_pendingdiff_changelist"
    return TemplateResponse(request, "staff/learner_detail.html", _context(
        request, learner_title(user_id, overview.name), learner=overview, profile_form=profile_form,
        as_of=as_of, as_of_value=as_of.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M") if as_of else "",
        blocks_as_of=selectors.learner_blocks_as_of(user_id, as_of) if as_of else None,
        queue_url=_url(queue, learner=user_id, status="all"),
        pending_url=_url(queue, learner=user_id, status="pending"),
        blocks_url=_url("admin:blocks_block_changelist", learner=user_id, state="all"),
        chats_url=_url("admin:chats_modulechat_changelist", q=user_id),
        key_url=_url("admin:chats_userapikey_changelist", q=user_id),
    ))


class _DoltLog:
    """dolt_log as a sequence Django's Paginator can page through (count + slices)."""

    def count(self):
        return dolt.log_count()

    def __len__(self):
        return self.count()

    def __getitem__(self, window):
        start = window.start or 0
        return dolt.log(limit=max(window.stop - start, 0), offset=start)


def _message_tokens(messages_) -> set[str]:
    tokens: set[str] = set()
    for message in messages_:
        for match in _MESSAGE_TOKEN.finditer(message):
            tokens.add(match.group())
            if len(tokens) >= _MAX_MESSAGE_TOKENS:
                return tokens
    return tokens


def _render_message(message: str, names: dict[str, str]):
    """The commit message, escaped, with each `diff <uuid>` linked to its review page and each
    learner id that has a name linked to the learner, the name beside it."""
    parts, last = [], 0
    for match in _DIFF_ID.finditer(message):
        parts.append(_name_learners(message[last:match.start()], names))
        url = reverse("admin:diffs_pendingdiff_change", args=[match.group(2)])
        parts.append(format_html('{}<a href="{}">{}</a>', match.group(1), url, match.group(2)))
        last = match.end()
    parts.append(_name_learners(message[last:], names))
    return mark_safe("".join(parts))  # every part was escaped


def _name_learners(text: str, names: dict[str, str]) -> str:
    if not names:
        return escape(text)
    parts, last = [], 0
    for match in _MESSAGE_TOKEN.finditer(text):
        name = names.get(match.group())
        if name:
            parts.append(escape(text[last:match.start()]))
            url = reverse("staff:learner", args=[match.group()])
            parts.append(format_html('<a href="{}">{}</a> <span class="staff-learner-name">({})</span>',
                                     url, match.group(), name))
            last = match.end()
    parts.append(escape(text[last:]))
    return "".join(parts)


def dolt_log(request):
    paginator = Paginator(_DoltLog(), LOG_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("p"))
    log_entries = list(page.object_list)
    names = learner_selectors.labels_for(_message_tokens(e.message for e in log_entries))
    entries = [
        {"entry": e, "message": _render_message(e.message, names), "short_hash": e.commit_hash[:10]}
        for e in log_entries
    ]
    return TemplateResponse(request, "staff/dolt_log.html", _context(
        request, "Dolt log", page=page, entries=entries,
        page_range=paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        branch=dolt.active_branch(),
    ))
