"""The base of every service error: a stable code and an HTTP status for the API's error shape."""


class ServiceError(Exception):
    code = "error"
    status = 400

    def __init__(self, message, *, details=None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
