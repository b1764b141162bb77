"""Plumbing shared by the API views: the strict parser, conditional-request headers, and the
JSON 404 for paths that match no route."""

import re

from django.http import JsonResponse
from django.urls import Resolver404, resolve
from django.utils.functional import SimpleLazyObject
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .errors import ApiError
from .parsers import StrictJSONParser

MAX_VERSION = 2**31 - 1
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_ETAG_RE = re.compile(r'^(?:W/)?"(\d{1,10})"$|^(\d{1,10})$')
_IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$")


class ApiViewMixin:
    """Mixed into every API view (before APIView/GenericAPIView)."""

    parser_classes = [StrictJSONParser]


_shared_serializers: dict[type, object] = {}


def _shared_serializer(serializer_class):
    """One instance per serializer class and process, its fields built once.

    A serializer builds its fields on every instantiation (a ModelSerializer from the model: 0.7
    ms per response on the project machine, bench/api_reads.py); output-only serializers and
    query-parameter lists read no context, so one instance serves every request.
    """
    serializer = _shared_serializers.get(serializer_class)
    if serializer is None:
        serializer = serializer_class()
        serializer.fields  # noqa: B018 (build them now, once)
        _shared_serializers[serializer_class] = serializer
    return serializer


def represent(serializer_class, instance) -> dict:
    """`serializer_class(instance).data` without building the serializer's fields per call."""
    return _shared_serializer(serializer_class).to_representation(instance)


class RepresentedListMixin:
    """A ListAPIView whose page rows go through represent() (same output, fields built once)."""

    def list(self, request, *args, **kwargs):
        # Built when the pagination first uses it: a view with first_page() (Pagination) answers
        # a short first page without it.
        queryset = SimpleLazyObject(lambda: self.filter_queryset(self.get_queryset()))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([represent(self.serializer_class, item) for item in page])


def put_response(data, *, created: bool) -> Response:
    """The answer to a PUT: 201 when it made the resource, 200 when it replaced or kept it."""
    return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def etag(version: int) -> str:
    return f'"{version}"'


def _invalid_header(name, message):
    return ApiError("invalid_header", f"{name}: {message}", details={"header": name})


def _parse_tag(value: str):
    match = _ETAG_RE.match(value.strip())
    if not match:
        return None
    version = int(match.group(1) or match.group(2))
    return version if 0 < version <= MAX_VERSION else None


def if_match_version(request) -> int | None:
    """The version named by `If-Match: "<version>"` (None when absent or `*`).

    A bare number and a weak tag are tolerated (agents write them); a list is refused, since a
    proposal is written against exactly one version.
    """
    value = request.headers.get("If-Match")
    if value is None or value.strip() == "*":
        return None
    version = _parse_tag(value)
    if version is None:
        raise _invalid_header("If-Match", 'expected one entity tag with the block\'s version, like "3"')
    return version


def if_none_match(request, version: int) -> bool:
    """True when `If-None-Match` names the current version (or `*`): answer 304."""
    value = request.headers.get("If-None-Match")
    if not value:
        return False
    tags = [tag.strip() for tag in value.split(",")]
    return any(tag == "*" or _parse_tag(tag) == version for tag in tags)


def idempotency_key(request) -> str | None:
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    if len(value) > MAX_IDEMPOTENCY_KEY_LENGTH or not _IDEMPOTENCY_KEY_RE.match(value):
        raise _invalid_header(
            "Idempotency-Key",
            f"expected 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters",
        )
    return value


def query_params(request, serializer_class) -> dict:
    """The query parameters a serializer reads, as plain values (so `?status=` is an empty
    string, not "absent" as DRF's form semantics would have it); repeating one is 400."""
    params = {}
    for name in _shared_serializer(serializer_class).fields:
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise ValidationError({name: ["give this parameter once"]})
        if values:
            params[name] = values[0]
    return params


def api_not_found(request, *args, **kwargs):
    """Paths under /api/ that match no route: the API's JSON error, not Django's HTML page."""
    path = request.path_info
    message = f"no API route matches {path!r}"
    if not path.endswith("/"):
        try:
            resolved = resolve(path + "/")
        except Resolver404:
            resolved = None
        if resolved is not None and resolved.func is not api_not_found:
            message += f"; did you mean {path + '/'!r}? (API paths end with '/')"
    return JsonResponse(
        {"error": {"code": "not_found", "message": message, "details": {}}},
        status=status.HTTP_404_NOT_FOUND,
    )
