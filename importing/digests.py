"""The one way the importers hash text and bound an import key (issue 16 item 5).

``sha256_hex(text)`` is the SHA-256 of the text's UTF-8 bytes, in hex. Text is hashed exactly as
given: no Unicode normalisation, since NFC "é" and NFD "e" + U+0301 are two file names in a v1
repository and two different contents of a block. A lone surrogate (which JSON's ``"\\ud800"``
can produce, and which UTF-8 cannot encode) is encoded as its three "surrogatepass" bytes, so
hashing never fails; for every valid string that is plain UTF-8. The three helpers this replaces
agreed on valid text and differed only on lone surrogates (strict UTF-8 raised, "surrogateescape"
raised or hashed a different byte): no key any of them ever stored changes.

``bounded_key(prefix, identifier, suffix)`` is how a source identifier of any length (a file
path, an owner id and label) becomes an import key that fits ``MAX_IMPORT_KEY_LENGTH`` and stays
the same on every run: readable while it fits, the identifier replaced by its digest when not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from .records import MAX_IMPORT_KEY_LENGTH

HASHED_TAG = "sha256:"  # marks the place of an identifier that was too long to keep


def sha256_hex(text: str) -> str:
    """The SHA-256 of ``text`` as 64 hex digits (UTF-8, no normalisation, never raises)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def bounded_key(
    prefix: str,
    identifier: str | Sequence[str],
    suffix: str = "",
    *,
    digest_chars: int = 64,
    tag: str = HASHED_TAG,
) -> str:
    """``prefix + identifier + suffix`` when that fits ``MAX_IMPORT_KEY_LENGTH``, else
    ``prefix + tag + sha256_hex(identifier)[:digest_chars] + suffix``.

    An identifier of several parts (an owner id and a label) reads joined with ":" and is hashed
    joined with "\\n", which no owner id or label holds, so two different pairs never share a
    digest's input. Prefix and suffix are the caller's own short, fixed-size parts; they are kept
    as they are in both forms.
    """
    parts = (identifier,) if isinstance(identifier, str) else tuple(identifier)
    key = f"{prefix}{':'.join(parts)}{suffix}"
    if len(key) > MAX_IMPORT_KEY_LENGTH:
        digest = sha256_hex("\n".join(parts))[:digest_chars]
        key = f"{prefix}{tag}{digest}{suffix}"
    return key
