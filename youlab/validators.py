"""The one rule for identifiers: learner ids and namespaces, labels, agent and module ids.

Identifiers end up in URL paths, Dolt commit messages and every staff page, so besides being
non-empty, bounded and free of path separators, they may not hold characters that change how
the text around them is displayed: C0 and C1 control characters (and DEL), Unicode bidi
controls (an RLO makes `evil\u202egnp.txt` read as `evil.txt.png`) and the line and paragraph
separators. Zero-width joiners stay allowed: emoji sequences need them.

No identifier begins or ends with spaces. Some owner ids stored by v1 and Letta imports before
that rule do; they stay readable: lookups of existing rows (`lookup=True`: the read routes, a
decision on an existing block) accept them, but nothing new is written under such an id (a block,
a proposal, a module chat, a key, a profile).

`validate_identifier` is the one validator every app calls (directly, or through
`validate_owner_id` / `validate_label`): it raises youlab.errors.InvalidInput, so the API answers
400 `invalid_input` with the message and `details` (`field`, and `code_point` / `character` for
a forbidden character). `identifier_problem` says what is wrong without raising.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from youlab.errors import InvalidInput

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

    `trimmed`: surrounding spaces are refused (False only to look up rows written before the rule);
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


def validate_identifier(value, name: str, *, field: str | None = None, max_length: int = MAX_IDENTIFIER_LENGTH,
                        allow_empty: bool = False, dot_names: bool = True, lookup: bool = False) -> str:
    """`value` if it is acceptable as the identifier `name`, else InvalidInput (400
    `invalid_input`, `details.field` = `field` or `name`).

    `lookup=True`: the value only finds existing rows, which may predate the no-surrounding-spaces
    rule; everything else is checked the same.
    """
    problem = identifier_problem(value, name, field=field, max_length=max_length, allow_empty=allow_empty,
                                 trimmed=not lookup, dot_names=dot_names)
    if problem is not None:
        raise InvalidInput(problem.message, details=problem.details)
    return value


def validate_owner_id(owner_id, *, lookup: bool = False) -> str:
    """A learner id or shared namespace (`details.field` = "owner_id")."""
    return validate_identifier(owner_id, "owner id", field="owner_id", lookup=lookup)


def validate_label(label) -> str:
    """A block label: free text (v1 had `目标` and `reading-list`), never "." or ".." (they named
    files in v1)."""
    return validate_identifier(label, "label", dot_names=False)
