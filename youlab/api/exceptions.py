"""The API's own error, for what the views and permission classes refuse themselves (a header, a
scope, a body that is not a JSON object). Apart from youlab.api.errors: the permission classes
raise it, and DRF imports those while rest_framework.views (which errors.py needs) is still being
imported."""

from youlab.errors import ServiceError


class ApiError(ServiceError):
    """A ServiceError whose code and status are given where it is raised."""

    def __init__(self, code: str, message: str, status: int = 400, details=None):
        super().__init__(message, details=details, code=code, status=status)
