from youlab.errors import ServiceError


class DiffNotFound(ServiceError):
    code = "diff_not_found"
    status = 404


class DiffNotPending(ServiceError):
    """Only a pending diff can be approved, edited-and-approved or rejected."""

    code = "diff_not_pending"
    status = 409


class VersionMismatch(ServiceError):
    """If-Match named a version the block is no longer at."""

    code = "version_mismatch"
    status = 412


class IdempotencyKeyReused(ServiceError):
    """The same Idempotency-Key came with a different request body."""

    code = "idempotency_key_reused"
    status = 409


class ReasonRequired(ServiceError):
    code = "reason_required"
    status = 400


class BaseVersionMoved(ServiceError):
    """Approval was asked only if the block is still at the proposal's base version."""

    code = "base_version_moved"
    status = 409
