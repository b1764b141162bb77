"""Encryption of learners' OpenWebUI keys at rest (MultiFernet, keys from YOULAB_FERNET_KEYS).

Error messages here never include a token or a plaintext.
"""

import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from .exceptions import SecretsNotConfigured, SecretUndecryptable

__all__ = [
    "SecretUndecryptable", "SecretsNotConfigured", "check_configured", "decrypt", "encrypt", "fingerprint",
    "is_current", "rotate",
]

_UNDECRYPTABLE = "the stored key cannot be decrypted with any key in YOULAB_FERNET_KEYS"


def _fernets() -> list[Fernet]:
    keys = list(settings.YOULAB_FERNET_KEYS)
    if not keys:
        raise SecretsNotConfigured(
            "YOULAB_FERNET_KEYS is not set; generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
        )
    try:
        return [Fernet(k.encode()) for k in keys]
    except (ValueError, TypeError):
        # `from None`: a chained error could quote the bad key in a traceback.
        raise SecretsNotConfigured(
            "YOULAB_FERNET_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)"
        ) from None


def _fernet() -> MultiFernet:
    return MultiFernet(_fernets())


def check_configured() -> None:
    """Raise SecretsNotConfigured unless YOULAB_FERNET_KEYS holds usable keys."""
    _fernets()


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUndecryptable(_UNDECRYPTABLE) from None


def is_current(token: str) -> bool:
    """True when the token was made with the newest key (rotation would not change it)."""
    try:
        _fernets()[0].decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """Re-encrypt with the newest key (MultiFernet.rotate)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUndecryptable(_UNDECRYPTABLE) from None


def fingerprint(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()[:16]
