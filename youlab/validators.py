"""The one rule for identifiers: learner ids and namespaces, labels, agent and module ids.

Identifiers end up in URL paths, Dolt commit messages and every staff page, so besides being
non-empty, bounded and free of path separators, they may not hold characters that change how
the text around them is displayed: C0 and C1 control characters (and DEL), Unicode bidi
controls (an RLO makes `evil\u202egnp.txt` read as `evil.txt.png`) and the line and paragraph
separators. Zero-width joiners stay allowed: emoji sequences need them.

`identifier_problem` only says what is wrong; each app raises its own error with the message and
details (`field`, and `code_point` / `character` for a forbidden character), so the API answers
400 `invalid_input` naming the offending code point.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

MAX_IDENTIFIER_LENGTH = 255

# Bidi_Control (Unicode PropList): ALM, LRM, RLM, LRE..RLO, LRI..PDI.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# C0, DEL, C1, the bidi controls, LINE SEPARATOR and PARAGRAPH SEPARATOR.
_INVISIBLE = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}\u2028\u2029]")
_SEPARATORS = re.compile(r"[/\\]")


@dataclass(frozen=True)
class IdentifierProblem:
    message: str
    details: dict = field(default_factory=dict)


def forbidden_character(value: str) -> str | None:
    """The first control, bidi or separator character in `value`, or None."""
    match = _INVISIBLE.search(value)
    return match.group() if match else None


def describe_code_point(char: str) -> dict:
    """{"code_point": "U+202E", "character": "RIGHT-TO-LEFT OVERRIDE"} for error details."""
    return {
        "code_point": f"U+{ord(char):04X}",
        "character": unicodedata.name(char, "") or f"control character U+{ord(char):04X}",
    }


def identifier_problem(value, name: str, *, field: str | None = None,
                       max_length: int = MAX_IDENTIFIER_LENGTH, allow_empty: bool = False,
                       trimmed: bool = True, dot_names: bool = False) -> IdentifierProblem | None:
    """What is wrong with `value` as the identifier `name` (in words; `field` in details, the
    name by default), or None when it is acceptable.

    `trimmed`: surrounding spaces are refused (owner ids predate this rule and keep them);
    `dot_names`: "." and ".." are acceptable (labels refuse them: they name files in v1).
    """
    details = {"field": field or name}
    if not isinstance(value, str):
        return IdentifierProblem(f"{name} must be a string", details)
    if not value:
        return None if allow_empty else IdentifierProblem(f"{name} must be a non-empty string", details)
    if len(value) > max_length:
        return IdentifierProblem(f"{name} is too long: more than {max_length} characters", details)
    char = forbidden_character(value)
    if char is not None:
        found = describe_code_point(char)
        return IdentifierProblem(
            f"{name} may not contain control, bidi or line separator characters "
            f"(found {found['code_point']} {found['character']})",
            {**details, **found},
        )
    if not value.strip():
        return IdentifierProblem(f"{name} must not be blank", details)
    if _SEPARATORS.search(value):
        return IdentifierProblem(f"{name} may not contain '/' or '\\'", details)
    if not dot_names and value in {".", ".."}:
        return IdentifierProblem(f"{name} may not be '.' or '..'", details)
    if trimmed and value != value.strip():
        return IdentifierProblem(f"{name} may not begin or end with spaces", details)
    return None
