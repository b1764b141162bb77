"""Errors of the learner profile services (codes and statuses for the API's error shape)."""

from youlab.errors import ServiceError


class InvalidProfile(ServiceError):
    code = "invalid_input"
    status = 400
