"""Errors of the learner export's restore (``importing.restore``), each with a stable code and
HTTP status (youlab.errors.ServiceError). The commands print their message."""

from youlab.errors import ServiceError


class InvalidExportDocument(ServiceError):
    code = "invalid_export"
    status = 400


class LearnerExists(ServiceError):
    code = "learner_exists"
    status = 409
