"""Errors of the chats services, each with a stable code and HTTP status for the API
(youlab.errors.ServiceError; a malformed id is youlab.errors.InvalidInput, as everywhere).

Messages never contain a learner's key or its ciphertext.
"""

from youlab.errors import ServiceError


class ChatsError(ServiceError):
    code = "chats_error"
    status = 400


class ModuleChatNotFound(ChatsError):
    code = "module_chat_not_found"
    status = 404


class InvalidKey(ChatsError):
    code = "invalid_key"
    status = 400


class KeyNotFound(ChatsError):
    code = "key_not_found"
    status = 404


class SecretsNotConfigured(ChatsError):
    """YOULAB_FERNET_KEYS is empty or holds something that is not a Fernet key."""

    code = "secrets_not_configured"
    status = 503


class SecretUndecryptable(ChatsError):
    """A stored token was not made with any configured key (or was tampered with).

    409, not 5xx: the stored key is unusable as it stands; an operator can restore the old
    Fernet key, or the key can be replaced with PUT.
    """

    code = "secret_undecryptable"
    status = 409


class ConcurrentWrite(ChatsError):
    """Other writers kept changing the same row; the caller may simply try again."""

    code = "concurrent_write"
    status = 409
