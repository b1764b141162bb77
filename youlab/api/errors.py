"""One JSON error shape for every API failure:

    {"error": {"code": "old_str_not_unique", "message": "...", "details": {...}}}
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from youlab.database.base import LOST_CONNECTION
from youlab.dolt import SerializationFailure
from youlab.errors import ServiceError

from .exceptions import ApiError

__all__ = ["ApiError", "error_response", "exception_handler"]


def error_response(code, message, status_code, details=None, headers=None):
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return Response(body, status=status_code, headers=headers)


_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
    exceptions.ValidationError: "invalid_input",
}


# mysqlclient's "cannot reach the server" family: can't connect (2002 socket, 2003 TCP), or a
# connection lost (the backend's list, the one its retry uses). A Dolt restart looks like this.
_CONNECTION_LOST = {2002, 2003} | LOST_CONNECTION


def _database_unreachable(exc) -> bool:
    if isinstance(exc, InterfaceError):
        return True  # a connection that was already closed under us
    return isinstance(exc, OperationalError) and bool(exc.args) and exc.args[0] in _CONNECTION_LOST


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER, the API's one: every known error in the shared shape.

    Every user-facing error is a youlab.errors.ServiceError (the services', the edit
    operations', the API's own ApiError); the rest are DRF's, Django's and the database's.
    """
    if isinstance(exc, SerializationFailure):
        return error_response(
            "concurrent_write", "other clients kept changing the same data; try again",
            status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, ServiceError):
        return error_response(exc.code, exc.message, exc.status, exc.details)
    if isinstance(exc, RequestDataTooBig):
        # DRF reads JSON bodies through request.body, where Django enforces the upload limit.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_response(
            "request_too_large", f"the request body is larger than {limit} bytes",
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, {"max_bytes": limit},
        )
    if _database_unreachable(exc):
        # Not a bug in the request: the database is restarting or down. Django drops the broken
        # connection at the end of this request (CONN_HEALTH_CHECKS), the next one reconnects.
        return error_response(
            "database_unavailable", "the database is not reachable right now; try again shortly",
            status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"},
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "permission denied")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django turn it into a 500 and log it
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        message = "request body is invalid"
        details = {"fields": exc.detail} if isinstance(exc.detail, dict) else {"errors": exc.detail}
    else:
        message = str(exc.detail) if hasattr(exc, "detail") else str(exc)
        details = {}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        details["retry_after_seconds"] = int(exc.wait)
    headers = {k: v for k, v in response.items()}
    return error_response(code, message, response.status_code, details, headers=headers)
