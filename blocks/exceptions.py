"""Errors of the block services, each with a stable code for the API's error shape (malformed
input is youlab.errors.InvalidInput, as in every app)."""

from youlab.errors import ServiceError


class BlockError(ServiceError):
    code = "block_error"
    status = 400


class BlockNotFound(BlockError):
    code = "block_not_found"
    status = 404


class BlockExists(BlockError):
    code = "block_exists"
    status = 409


class BlockConflict(BlockError):
    """The block changed since the caller read it (optimistic concurrency on `version`)."""

    code = "version_conflict"
    status = 409


class BlockReadOnly(BlockError):
    code = "block_read_only"
    status = 409


class OverCharLimit(BlockError):
    code = "over_char_limit"
    status = 400


class VersionNotFound(BlockError):
    code = "version_not_found"
    status = 404
