"""Encryption of learners' OpenWebUI keys at rest (MultiFernet, keys from YOULAB_FERNET_KEYS)."""

import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretsNotConfigured(Exception):
    """YOULAB_FERNET_KEYS is empty or holds something that is not a Fernet key."""


class SecretUndecryptable(Exception):
    """A stored token was not made with any configured key (or was tampered with)."""


def _fernet():
    keys = list(settings.YOULAB_FERNET_KEYS)
    if not keys:
        raise SecretsNotConfigured(
            "YOULAB_FERNET_KEYS is not set; generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
        )
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise SecretsNotConfigured(
            "YOULAB_FERNET_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)"
        ) from exc


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUndecryptable(
            "the stored key cannot be decrypted with any key in YOULAB_FERNET_KEYS"
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt with the newest key (MultiFernet.rotate)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUndecryptable(
            "the stored key cannot be decrypted with any key in YOULAB_FERNET_KEYS"
        ) from exc


def fingerprint(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()[:16]
