"""Errors of the block services, each with a stable code for the API's error shape."""


class BlockError(Exception):
    code = "block_error"
    status = 400

    def __init__(self, message, *, details=None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


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


class InvalidBlockInput(BlockError):
    code = "invalid_input"
    status = 400
