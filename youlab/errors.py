"""The one base of every error a user sees (an API client, a member of staff, an operator).

A `ServiceError` carries a stable `code`, a `message` in words, `details` (a JSON object) and the
HTTP `status` the API answers with; the API's one exception handler
(youlab.api.errors.exception_handler) turns it into `{"error": {"code", "message", "details"}}`,
the admin shows its message, the commands print it. Each domain subclasses it with its own codes
(blocks.exceptions, diffs.exceptions, diffs.edits.EditError, chats.exceptions,
learners.exceptions, youlab.api.errors.ApiError); Dolt's own failures (youlab.dolt.DoltError)
are the only other root.
"""


class ServiceError(Exception):
    code = "error"
    status = 400

    def __init__(self, message, *, details=None, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        # A class states its code and status; an error whose code is only known at run time
        # (ApiError, a refusal replayed for an Idempotency-Key) gives them here.
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def as_dict(self) -> dict:
        """The error as the API shows it (`{"code", "message", "details"}`)."""
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInput(ServiceError):
    """Malformed input: an identifier, a field, a setting. Names the field in `details.field`."""

    code = "invalid_input"
    status = 400
