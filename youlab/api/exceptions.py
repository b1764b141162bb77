"""The API's own error, apart from youlab.api.errors: the permission classes raise it, and DRF
imports those while rest_framework.views (which errors.py needs) is still being imported."""

from rest_framework import exceptions, status


class ApiError(exceptions.APIException):
    """An error with a stable code, raised by views (services raise their own errors)."""

    def __init__(self, code, message, status_code=status.HTTP_400_BAD_REQUEST, details=None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.details = details or {}
