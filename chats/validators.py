"""The rule for learners' OpenWebUI keys. Messages never quote a key. (Ids follow the one
identifier rule, youlab.validators.)"""

import re

from .exceptions import InvalidKey

KEY_MIN_LENGTH = 8  # shorter, and "last 4" would give away half of it
KEY_MAX_LENGTH = 4096  # OpenWebUI API keys are ~35 characters, its JWTs a few hundred
_KEY_ALLOWED = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces


def validate_owui_key(key) -> str:
    """Refuse what cannot be an OpenWebUI API key."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("key must be a non-empty string")
    if len(key) > KEY_MAX_LENGTH:
        raise InvalidKey(f"key is longer than {KEY_MAX_LENGTH} characters")
    if not _KEY_ALLOWED.fullmatch(key):
        raise InvalidKey(
            "key may only contain printable ASCII characters: no spaces or control characters"
        )
    if len(key) < KEY_MIN_LENGTH:
        raise InvalidKey(f"key is shorter than {KEY_MIN_LENGTH} characters")
    return key
