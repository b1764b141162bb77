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


class IdempotencyKeyInUse(ServiceError):
    """Another request with this Idempotency-Key is still running (and kept running too long)."""

    code = "idempotency_key_in_use"
    status = 409


class TooManyOpenProposals(ServiceError):
    """The agent key already has the maximum of pending proposals for this block."""

    code = "too_many_open_proposals"
    status = 409


class RepeatedRefusal(ServiceError):
    """The refusal another request with the same Idempotency-Key and body met a moment ago."""

    def __init__(self, refusal: dict):
        super().__init__(refusal["message"], details=refusal.get("details") or {})
        self.code = refusal["code"]
        self.status = refusal["status"]
class BaseVersionMoved(ServiceError):
    """Approval was asked only if the block is still at the proposal's base version."""

    code = "base_version_moved"
    status = 409
