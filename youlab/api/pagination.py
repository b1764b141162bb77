import re

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

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

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            self.offset_query_param: {"minimum": 0, "maximum": self.max_offset, "default": 0},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
