import re

from django.db.models.functions import Length
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.utils.urls import replace_query_param

_INT_RE = re.compile(r"^\d{1,10}$")


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=`; every list answers {count, next, previous, results}.

    Unlike DRF's default, a malformed or out-of-range `limit`/`offset` is 400 `invalid_input`
    rather than silently replaced (an agent that asked for 1000 rows should know it got 500).
    """

    default_limit = 50
    max_limit = 500
    max_offset = 2**31 - 1

    def _param(self, request, name, minimum, maximum, default):
        values = request.query_params.getlist(name)
        if not values:
            return default
        value = values[0].strip()
        if len(values) > 1 or not _INT_RE.match(value) or not minimum <= int(value) <= maximum:
            raise ValidationError({name: [f"must be one integer from {minimum} to {maximum}"]})
        return int(value)

    def get_limit(self, request):
        return self._param(request, self.limit_query_param, 1, self.max_limit, self.default_limit)

    def get_offset(self, request):
        return self._param(request, self.offset_query_param, 0, self.max_offset, 0)

    def paginate_queryset(self, queryset, request, view=None):
        """The first page before any COUNT; later pages after it.

        A first page with fewer rows than `limit` is the whole list, so `count` is its length
        and the COUNT statement is not sent: most lists (a learner's blocks, a block's
        proposals) fit one page, and they then cost one statement instead of two. A later page
        is read only when the COUNT says its offset is inside the list: Dolt makes room for
        offset + limit rows before it reads any, and `?offset=2147483647` sent to it exhausted
        the server's memory (tests/youlab/test_api_fuzz.py found it).

        A view may define `first_page(limit)`, returning `list(queryset[:limit])` by a faster
        way (BlockList: a prepared statement, youlab.queries).
        """
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        if self.offset == 0:
            # (Not with filter backends: first_page reads the unfiltered first page.)
            first_page = None if getattr(view, "filter_backends", None) else getattr(view, "first_page", None)
            rows = first_page(self.limit) if first_page is not None else list(queryset[:self.limit])
            self.count = len(rows) if len(rows) < self.limit else self.get_count(queryset)
        else:
            self.count = self.get_count(queryset)
            rows = list(queryset[self.offset:self.offset + self.limit]) if self.offset < self.count else []
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        return rows

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            self.offset_query_param: {"minimum": 0, "maximum": self.max_offset, "default": 0},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


class TextBudgetPagination(Pagination):
    """Pagination for lists whose rows carry whole texts (a block's versions): a page also ends
    before its texts pass `text_budget` characters, keeping at least one row, so one request
    answers megabytes, not the 500 MB that 500 versions of a 1,000,000-character block would be.
    `next` continues where the page ended. The view names its text columns in `text_fields`.

    The window's text lengths are read first (the database counts, nothing is sent), then only
    the rows that fit.
    """

    text_budget = 4_000_000

    def paginate_queryset(self, queryset, request, view=None):
        fields = getattr(view, "text_fields", ())
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        self.count = self.get_count(queryset)
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        if self.count == 0 or self.offset > self.count:
            self.returned = 0
            return []
        window = queryset[self.offset:self.offset + self.limit]
        if not fields:
            rows = list(window)
        else:
            lengths = {f"_chars_{name}": Length(name) for name in fields}
            keep, total = [], 0
            for pk, *chars in window.annotate(**lengths).values_list("pk", *lengths):
                total += sum(n or 0 for n in chars)
                if keep and total > self.text_budget:
                    break
                keep.append(pk)
            rows = list(queryset.filter(pk__in=keep))
        self.returned = len(rows)
        return rows

    def get_next_link(self):
        if self.offset + self.returned >= self.count:
            return None
        url = self.request.build_absolute_uri()
        url = replace_query_param(url, self.limit_query_param, self.limit)
        return replace_query_param(url, self.offset_query_param, self.offset + self.returned)
