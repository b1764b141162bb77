"""Small admin building blocks shared by the block and diff admins.

Dolt plans `ORDER BY <index columns> LIMIT n` as an index scan, but the same query with an extra
tie-breaker column (Django's automatic `-pk`), a LEFT JOIN, or a COUNT(*) over the whole filtered
table reads every row (measured at 100k rows: 2 ms versus 0.3-2.5 s). These helpers keep the
changelists on the index path: capped counts, no implicit pk ordering, text-input filters
instead of SELECT DISTINCT choice lists.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.paginator import Paginator
from django.db.models import Q
from django.db.models.functions import Lower
from django.http import HttpResponseNotAllowed
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from blocks.models import OwnerType
from diffs.edits import dominant_line_ending
from learners import selectors as learner_selectors
from youlab import dolt

COUNT_CAP = 10_000


class ReadOnlyHistoryFormMixin:
    """For every SimpleHistoryAdmin: its per-version form saves the posted form into the live row
    (no actor, no Dolt commit) and checks only the *view* permission. Writes go through the
    services, so the form is shown but never accepts a POST, for any user."""

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        return super().history_form_view(request, object_id, version_id, extra_context)


def capped_count(queryset, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(count, capped): counts at most cap+1 rows, so it costs the same at 1k or 1M rows."""
    n = queryset.order_by().values("pk")[: cap + 1].count()
    return min(n, cap), n > cap


class CappedCountPaginator(Paginator):
    """A paginator whose count stops at COUNT_CAP ("10000+"): no full COUNT(*) per page view."""

    cap = COUNT_CAP
    capped = False

    @cached_property
    def count(self):
        n, self.capped = capped_count(self.object_list, self.cap)
        return n

    def page(self, number):
        """Find the page's primary keys first, then load those rows (two small queries).

        When Dolt has to sort (a filter on another index than the ORDER BY's), it sorts whole
        rows; sorting only (pk, order columns) is up to ten times faster at 100k rows.
        """
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = min(bottom + self.per_page, self.count)
        if top + self.orphans >= self.count:
            top = self.count
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        by_pk = {obj.pk: obj for obj in self.object_list.filter(pk__in=ids)} if ids else {}
        return self._get_page([by_pk[pk] for pk in ids if pk in by_pk], number, self)


class AnnotatedChangeList(ChangeList):
    """A ChangeList whose page of results the admin may annotate in one go
    (`annotate_results(rows)`), e.g. with the learners' names: one query per page, not per row."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = self.read_results(self.result_list)
        annotate = getattr(self.model_admin, "annotate_results", None)
        if annotate:
            annotate(self.result_list)

    def read_results(self, result_list):
        return result_list


class IndexOrderedChangeList(AnnotatedChangeList):
    """A ChangeList without Django's automatic `-pk` tie-breaker.

    The model admins only offer orderings that an index serves; the tie-breaker would turn each
    of them into a sort of the whole table on Dolt. The admin may adjust the ordering further
    with `index_ordering(request, ordering)` (e.g. lead with an equality-filtered column).
    """

    def read_results(self, result_list):
        # One page goes through the paginator's two small queries too (Django reads it with one
        # plain query), so a list costs the same number of queries at any size.
        if not self.multi_page and not self.show_all and isinstance(self.paginator, CappedCountPaginator):
            return self.paginator.page(1).object_list
        return result_list

    def get_ordering(self, request, queryset):
        ordering = list(super().get_ordering(request, queryset))
        requested = set(queryset.query.order_by)
        while ordering and ordering[-1] in ("pk", "-pk") and ordering[-1] not in requested:
            ordering.pop()
        adjust = getattr(self.model_admin, "index_ordering", None)
        return adjust(request, ordering) if adjust else ordering

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        slim = getattr(self.model_admin, "slim_changelist_queryset", None)
        return slim(queryset) if slim else queryset


class DefaultChoiceFilter(admin.SimpleListFilter):
    """A list filter that always shows one of its choices selected: `default` when the query
    names none (so Django's own "All" entry is left out; a choice may mean all)."""

    default = ""

    def value(self):
        return super().value() or self.default

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }


class InputFilter(admin.SimpleListFilter):
    """A list filter with a text box instead of a list of choices (no SELECT DISTINCT).

    Subclasses set title, parameter_name, placeholder, and `field` (rows whose field equals the
    value) or filter_value(qs, value).
    """

    template = "staff/input_filter.html"
    placeholder = ""
    field = ""

    def lookups(self, request, model_admin):
        return ()

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        return self.filter_value(queryset, value) if value else queryset

    def filter_value(self, queryset, value):
        return queryset.filter(**{self.field: value})

    def choices(self, changelist):
        hidden = [
            (key, value)
            for key, values in sorted(changelist.filter_params.items())
            if key not in (self.parameter_name, PAGE_VAR)
            for value in values
        ]
        yield {
            "selected": self.value() is not None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "All",
            "hidden": hidden,
            "value": self.value() or "",
            "parameter_name": self.parameter_name,
            "placeholder": self.placeholder,
        }


class OwnerFilter(InputFilter):
    """A learner id, or `shared:<namespace>` (exact, so the owner index answers it)."""

    title = "learner"
    parameter_name = "learner"
    placeholder = "learner id or shared:namespace"

    def filter_value(self, queryset, value):
        if value.startswith("shared:"):
            return queryset.filter(owner_type=OwnerType.SHARED, owner_id=value[len("shared:"):])
        return queryset.filter(owner_type=OwnerType.USER, owner_id=value)


# --- learners' names ------------------------------------------------------------------------


def attach_learner_names(rows, *, owner_type_attr="owner_type", owner_id_attr="owner_id") -> None:
    """Set `learner_name` on each row (a learner's display name, "" if none): one query."""
    rows = list(rows)

    def is_learner(row):
        return owner_type_attr is None or getattr(row, owner_type_attr) == OwnerType.USER

    names = learner_selectors.labels_for(getattr(r, owner_id_attr) for r in rows if is_learner(r))
    for row in rows:
        row.learner_name = names.get(getattr(row, owner_id_attr), "") if is_learner(row) else ""


def learner_link(user_id: str, name: str = ""):
    """A learner as staff see them everywhere: the name (if known) beside the id, linked to
    their page."""
    url = reverse("staff:learner", args=[user_id])
    if name:
        return format_html('<a href="{}" class="staff-learner">{}</a> <small class="quiet">{}</small>',
                           url, name, user_id)
    return format_html('<a href="{}" class="staff-learner">{}</a>', url, user_id)


def owner_link(owner_type: str, owner_id: str, name: str = ""):
    if owner_type == OwnerType.SHARED:
        return f"shared:{owner_id}"
    return learner_link(owner_id, name)


def search_learners_by_name(queryset, term: str, request=None):
    """The rows of the learners whose name matches `term` (learners.selectors.user_ids_named:
    every word starts a word of the name or email), or None when no learner's name matches.

    The names are found on their own index; the rows through the (owner_type, owner_id, …) index
    (a lookup join from the ids, see dolt.in_values). With `request`, a search that matches more
    learners than a search returns says so.
    """
    user_ids = learner_selectors.user_ids_named(term)
    if not user_ids:
        return None
    if request is not None and len(user_ids) >= learner_selectors.MAX_NAME_MATCHES:
        messages.warning(request, f"More than {learner_selectors.MAX_NAME_MATCHES} learners have a name like "
                                  f"“{term}”: only theirs are shown. Type more of the name.")
    return queryset.filter(owner_type=OwnerType.USER, owner_id__in=dolt.in_values(user_ids))


def search_exact_owner(queryset, model, term: str):
    """If `term` is exactly an owner id (learner or namespace), that owner's rows, else None.

    Searching for a learner is the common case; answered through the (owner_type, owner_id, …)
    index it costs milliseconds, where Django's OR of LIKEs reads every row of the table.
    """
    from blocks.models import OwnerType

    term = term.strip()
    if not term:
        return None
    owner_types = [t for t in OwnerType.values if model.objects.filter(owner_type=t, owner_id=term).exists()]
    if not owner_types:
        return None
    if len(owner_types) == 1:  # equality: Dolt turns it into an index prefix lookup
        return queryset.filter(owner_type=owner_types[0], owner_id=term)
    return queryset.filter(owner_type__in=owner_types, owner_id=term)


def text_search(queryset, term: str, fields=(), binary_fields=()):
    """Django-admin-style search (every word must match some field), case-insensitive also in
    columns with a binary collation (owner ids and labels compare exactly since migration 0003)."""
    if not term.strip():
        return queryset
    aliases = {f"_ci_{name}": Lower(name) for name in binary_fields}
    if aliases:
        queryset = queryset.alias(**aliases)
    for word in smart_split(term):
        word = unescape_string_literal(word) if word[0] in "\"'" and word[-1] == word[0] else word
        if not word:
            continue
        match = Q()
        for name in fields:
            match |= Q(**{f"{name}__icontains": word})
        for name in binary_fields:
            match |= Q(**{f"_ci_{name}__contains": word.lower()})
        queryset = queryset.filter(match)
    return queryset


def text_from_textarea(submitted: str, like: str) -> str:
    """Undo the browser's CRLF: forms submit every textarea line break as "\\r\\n".

    The text keeps the line ending that `like` (the text being edited) mostly uses.
    """
    text = submitted.replace("\r\n", "\n")
    if dominant_line_ending(like) == "\r\n":
        text = text.replace("\n", "\r\n")
    return text
