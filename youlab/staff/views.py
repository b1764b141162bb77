"""Staff pages outside the model admins: landing, learners, the Dolt log.

Each view is wrapped in admin.site.admin_view (see urls.py): anonymous and non-staff users are
sent to the admin login, like every other admin page.
"""

from __future__ import annotations

import re

from django.contrib import admin
from django.core.paginator import Paginator
from django.http import QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from youlab import dolt

from . import selectors

LOG_PAGE_SIZE = 50
_DIFF_ID = re.compile(r"\b(diff )([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")


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


def learner_detail(request, user_id):
    overview = selectors.learner_overview(user_id)
    queue = "admin:diffs_pendingdiff_changelist"
    return TemplateResponse(request, "staff/learner_detail.html", _context(
        request, f"Learner {user_id}", learner=overview,
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


def _linkify_diffs(message: str):
    """The commit message, escaped, with each `diff <uuid>` linked to its review page."""
    parts, last = [], 0
    for match in _DIFF_ID.finditer(message):
        parts.append(escape(message[last:match.start()]))
        url = reverse("admin:diffs_pendingdiff_change", args=[match.group(2)])
        parts.append(format_html('{}<a href="{}">{}</a>', match.group(1), url, match.group(2)))
        last = match.end()
    parts.append(escape(message[last:]))
    return mark_safe("".join(parts))  # every part was escaped above


def dolt_log(request):
    paginator = Paginator(_DoltLog(), LOG_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("p"))
    entries = [
        {"entry": e, "message": _linkify_diffs(e.message), "short_hash": e.commit_hash[:10]}
        for e in page.object_list
    ]
    return TemplateResponse(request, "staff/dolt_log.html", _context(
        request, "Dolt log", page=page, entries=entries,
        page_range=paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        branch=dolt.active_branch(),
    ))
