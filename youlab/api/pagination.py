from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=`; every list answers {count, next, previous, results}."""

    default_limit = 50
    max_limit = 500
