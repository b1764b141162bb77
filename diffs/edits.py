"""The canonical edit operations on a block's text (design.md §4), as pure functions.

Proposal and approval both call `apply_operation`, so an operation is judged by the same rules
when an agent proposes it and when a reviewer applies it to the then-current content. Aliases
(Letta's argument and tool names) are accepted only through `normalize_operation`, at the API
edge; everything stored and applied afterwards uses the canonical vocabulary:

    append(text) · str_replace(old_str, new_str) · insert(insert_line, text) · rethink(content)
    create(content, [description], [char_limit])

Lines. A line ends with "\\n" (a CRLF line ends with "\\r\\n", which also ends with "\\n"); a lone
"\\r" is not a line break. The number of lines is what an editor shows: "" has 0 lines, "a" and
"a\\n" have 1, "a\\n\\n" has 2.

Line endings. Text an operation adds (append/insert `text`, str_replace `new_str`) is written
with the content's dominant line ending, so an LLM that sends "\\n" never leaves a CRLF block
with mixed endings; existing line endings are never touched. Content without any line break
imposes nothing. rethink and create take the given content verbatim.

Error codes (EditError.code): unknown_operation, invalid_arguments, old_str_not_found,
old_str_not_unique, insert_line_out_of_range, block_exists.

Approval. `plan_approval` says what approving a proposal now would write, or why it would end in
`conflict`: approve_diff applies the plan, the review page shows it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from youlab.errors import ServiceError

APPEND = "append"
STR_REPLACE = "str_replace"
INSERT = "insert"
RETHINK = "rethink"
CREATE = "create"
OPERATIONS = (APPEND, STR_REPLACE, INSERT, RETHINK, CREATE)

# The tool names agents already use (Letta, Anthropic's memory tool), mapped to canonical ops.
OPERATION_ALIASES = {
    "core_memory_append": APPEND,
    "core_memory_replace": STR_REPLACE,
    "memory_replace": STR_REPLACE,
    "memory_str_replace": STR_REPLACE,
    "memory_insert": INSERT,
    "memory_rethink": RETHINK,
    "memory_create": CREATE,
}

# Per canonical op: argument name -> (type, required). bool is excluded from int explicitly.
_SCHEMAS: dict[str, dict[str, tuple[type, bool]]] = {
    APPEND: {"text": (str, True)},
    STR_REPLACE: {"old_str": (str, True), "new_str": (str, True)},
    INSERT: {"insert_line": (int, True), "text": (str, True)},
    RETHINK: {"content": (str, True)},
    CREATE: {"content": (str, True), "description": (str, False), "char_limit": (int, False)},
}

# Per canonical op: alias argument name -> canonical name. Sources: Letta's
# core_memory_append(content), core_memory_replace(old_content, new_content),
# memory_insert(new_str, insert_line), memory_rethink(new_memory), and the memory tool's
# old_string/new_string/insert_text/file_text.
ARGUMENT_ALIASES: dict[str, dict[str, str]] = {
    APPEND: {"content": "text"},
    STR_REPLACE: {
        "old_string": "old_str",
        "old_content": "old_str",
        "new_string": "new_str",
        "new_content": "new_str",
    },
    INSERT: {"insert_text": "text", "new_str": "text"},
    RETHINK: {"new_memory": "content"},
    CREATE: {"file_text": "content"},
}

_DEFAULT_MESSAGES = {
    "unknown_operation": "unknown operation",
    "invalid_arguments": "invalid arguments",
    "old_str_not_found": "old_str does not occur in the block",
    "old_str_not_unique": "old_str occurs more than once in the block; make it unique",
    "insert_line_out_of_range": "insert_line is outside the block",
    "block_exists": "the block already has content; create is only for a new block",
}

# At most this many line numbers are reported for a non-unique old_str (`count` says how many).
MAX_REPORTED_LINES = 100


class EditError(ServiceError):
    """An operation that cannot be applied; `code` is stable and goes into the API's error."""

    def __init__(self, code: str, message: str | None = None, *, details: dict | None = None):
        super().__init__(message or _DEFAULT_MESSAGES.get(code, code), details=details, code=code,
                         status=409 if code == "block_exists" else 400)

    def __repr__(self) -> str:
        return f"EditError({self.code!r}, {self.message!r}, details={self.details!r})"


# --- lines ----------------------------------------------------------------------------------


def split_lines(content: str) -> list[str]:
    """Lines with their endings kept; unlike str.splitlines, only "\\n" ends a line."""
    lines = [line + "\n" for line in content.split("\n")]
    lines[-1] = lines[-1][:-1]
    if not lines[-1]:
        lines.pop()
    return lines


def dominant_line_ending(content: str) -> str | None:
    """The line ending used by most lines ("\\n" on a tie), or None if there is no line break."""
    crlf = content.count("\r\n")
    lf = content.count("\n") - crlf
    if crlf == lf == 0:
        return None
    return "\r\n" if crlf > lf else "\n"


def _adapt_line_endings(text: str, eol: str | None) -> str:
    if eol is None:
        return text
    text = text.replace("\r\n", "\n")
    return text.replace("\n", eol) if eol != "\n" else text


def _line_numbers(content: str, positions: list[int]) -> list[int]:
    """1-based line numbers of sorted positions, each line once; counted incrementally."""
    numbers, line, last = [], 1, 0
    for position in positions:
        line += content.count("\n", last, position)
        last = position
        if not numbers or numbers[-1] != line:
            numbers.append(line)
    return numbers


# --- the operations ---------------------------------------------------------------------------


def append(content: str, text: str) -> str:
    """Add `text` as new line(s) at the end.

    One line ending separates old and new, and none is added when the content already ends with
    one (so appending to "a\\n" gives "a\\nb", not "a\\n\\nb"); an empty block becomes `text`.
    """
    eol = dominant_line_ending(content)
    text = _adapt_line_endings(text, eol)
    if not content:
        return text
    if content.endswith("\n"):
        return content + text
    return content + (eol or dominant_line_ending(text) or "\n") + text


def str_replace(content: str, old_str: str, new_str: str) -> str:
    """Replace the one occurrence of `old_str`.

    Overlapping matches count ("aa" occurs twice in "aaa"): an anchor that could mean two places
    is ambiguous. If `old_str` is not found verbatim, it is tried once more with the content's
    line ending, since agents routinely lose the "\\r" of CRLF text.
    """
    if not old_str:
        raise EditError("invalid_arguments", "old_str must not be empty",
                        details={"field": "old_str"})
    eol = dominant_line_ending(content)
    positions = _occurrences(content, old_str)
    if not positions:
        adapted = _adapt_line_endings(old_str, eol)
        if adapted != old_str:
            old_str, positions = adapted, _occurrences(content, adapted)
    if not positions:
        raise EditError("old_str_not_found")
    if len(positions) > 1:
        lines = _line_numbers(content, positions)
        raise EditError(
            "old_str_not_unique",
            f"old_str occurs {len(positions)} times (lines {_format_lines(lines)}); "
            "include more surrounding text to make it unique",
            details={"lines": lines[:MAX_REPORTED_LINES], "count": len(positions)},
        )
    start = positions[0]
    return content[:start] + _adapt_line_endings(new_str, eol) + content[start + len(old_str):]


def _occurrences(content: str, needle: str, limit: int = 10_000) -> list[int]:
    """Start indexes of `needle`, overlapping ones included; at most `limit` (so a one-letter
    anchor in a 290 KB block stays cheap, and `count` in the error is capped there)."""
    found = []
    start = content.find(needle)
    while start != -1 and len(found) < limit:
        found.append(start)
        start = content.find(needle, start + 1)
    return found


def _format_lines(lines: list[int]) -> str:
    shown = ", ".join(map(str, lines[:10]))
    return shown + (", …" if len(lines) > 10 else "")


def insert(content: str, insert_line: int, text: str) -> str:
    """Insert `text` as whole line(s) after line `insert_line` (0 = top, line count = end).

    The inserted text is terminated with a line ending when something follows it or the content
    ended with one; inserting at the end of content without a final newline first ends the last
    line, and leaves the result without a final newline too.
    """
    lines = split_lines(content)
    if not 0 <= insert_line <= len(lines):
        raise EditError(
            "insert_line_out_of_range",
            f"insert_line must be between 0 and {len(lines)} (the number of lines)",
            details={"insert_line": insert_line, "line_count": len(lines)},
        )
    eol = dominant_line_ending(content)
    text = _adapt_line_endings(text, eol)
    eol = eol or dominant_line_ending(text) or "\n"
    before, after = lines[:insert_line], lines[insert_line:]
    if before and not before[-1].endswith("\n"):
        before[-1] += eol
    if not text.endswith("\n") and (after or content.endswith("\n")):
        text += eol
    return "".join(before) + text + "".join(after)


def rethink(content: str, new_content: str) -> str:
    """Replace the whole content; the old content only matters to the diff shown to reviewers."""
    return new_content


def create(content: str | None, new_content: str) -> str:
    """The content of a new block; the caller decides whether the block exists at all."""
    if content:
        raise EditError("block_exists")
    return new_content


_NON_EMPTY = {(APPEND, "text"), (INSERT, "text"), (STR_REPLACE, "old_str")}


def apply_operation(content: str | None, operation: str, arguments: Mapping[str, Any]) -> str:
    """The block's full text after a canonical operation (aliases are not accepted here).

    `content` may be None (no block yet) only for create.
    """
    if not isinstance(operation, str) or operation not in _SCHEMAS:
        raise _unknown_operation(operation)
    args = _validate(operation, arguments)
    if operation == CREATE:
        return create(content, args["content"])
    if operation == APPEND:
        return append(content, args["text"])
    if operation == STR_REPLACE:
        return str_replace(content, args["old_str"], args["new_str"])
    if operation == INSERT:
        return insert(content, args["insert_line"], args["text"])
    return rethink(content, args["content"])


def _validate(operation: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(arguments, Mapping):
        raise EditError("invalid_arguments", "arguments must be an object",
                        details={"field": "arguments"})
    schema = _SCHEMAS[operation]
    for name in arguments:
        if name not in schema:
            raise EditError("invalid_arguments",
                            f"unexpected argument {name!r} for {operation}; "
                            f"expected {', '.join(schema)}",
                            details={"field": name})
    args = {}
    for name, (kind, required) in schema.items():
        value = arguments.get(name)
        if value is None:
            if required:
                raise EditError("invalid_arguments", f"{operation} needs {name!r}",
                                details={"field": name})
            continue
        # bool is an int subclass, and True is never a line number.
        if not isinstance(value, kind) or isinstance(value, bool):
            raise EditError("invalid_arguments",
                            f"{name!r} must be {'an integer' if kind is int else 'a string'}",
                            details={"field": name})
        if (operation, name) in _NON_EMPTY and not value:
            raise EditError("invalid_arguments", f"{name!r} must not be empty",
                            details={"field": name})
        if name == "char_limit" and value < 1:
            raise EditError("invalid_arguments", "'char_limit' must be positive",
                            details={"field": name})
        args[name] = value
    return args


def normalize_operation(operation: str, arguments: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Map an operation as sent to the API to its canonical (operation, arguments), validated.

    Letta's memory_insert defaults `insert_line` to -1, meaning the end of the block; that
    becomes `append`, which also stays right when the block grows before approval.
    """
    if not isinstance(operation, str) or (
        operation not in _SCHEMAS and operation not in OPERATION_ALIASES
    ):
        raise _unknown_operation(operation)
    if not isinstance(arguments, Mapping):
        raise EditError("invalid_arguments", "arguments must be an object",
                        details={"field": "arguments"})
    canonical = OPERATION_ALIASES.get(operation, operation)
    aliases = ARGUMENT_ALIASES[canonical]
    args: dict[str, Any] = {}
    for name, value in arguments.items():
        target = aliases.get(name, name)
        if target in args:
            raise EditError("invalid_arguments",
                            f"{target!r} was given more than once (as {name!r} too)",
                            details={"field": target})
        args[target] = value
    if operation == "memory_insert":
        insert_line = args.pop("insert_line", None)
        if insert_line is None or (type(insert_line) is int and insert_line == -1):
            canonical = APPEND
        else:
            args["insert_line"] = insert_line
    return canonical, _validate(canonical, args)


def _unknown_operation(operation: object) -> EditError:
    return EditError(
        "unknown_operation",
        f"unknown operation {operation!r}; expected one of {', '.join(OPERATIONS)}",
        details={"operation": operation if isinstance(operation, str) else repr(operation)},
    )


UNIFIED_CONTEXT = 3  # lines of context around each change, as git and difflib show them
_CHUNK = 4096


def _shared_edges(old: str, new: str) -> tuple[int, int]:
    """(head, tail): how many characters of whole lines the texts share at the start and at
    the end (not overlapping)."""
    shortest = min(len(old), len(new))
    same = 0
    while same < shortest and old[same:same + _CHUNK] == new[same:same + _CHUNK]:
        same += _CHUNK
    while same < shortest and old[same] == new[same]:
        same += 1
    head = old.rfind("\n", 0, min(same, shortest)) + 1
    same, room = 0, shortest - head
    while same + _CHUNK <= room and (
        old[len(old) - same - _CHUNK:len(old) - same] == new[len(new) - same - _CHUNK:len(new) - same]
    ):
        same += _CHUNK
    while same < room and old[len(old) - same - 1] == new[len(new) - same - 1]:
        same += 1
    # The shared end starts after a line break inside it (the character before it differs).
    start = old.find("\n", len(old) - same)
    tail = len(old) - start - 1 if start != -1 and same else 0
    return head, tail


def _lines_before(text: str, end: int, count: int) -> int:
    """Where the `count` lines before position `end` (a line start) begin."""
    start = end
    for _ in range(count):
        if start == 0:
            break
        start = text.rfind("\n", 0, start - 1) + 1
    return start


def _lines_after(text: str, start: int, count: int) -> int:
    """Where the `count` lines from position `start` (a line start) end."""
    end = start
    for _ in range(count):
        if end == len(text):
            break
        found = text.find("\n", end)
        end = len(text) if found == -1 else found + 1
    return end


def unified_diff(old: str, new: str, label: str) -> str:
    """A git-style unified diff ("" when nothing changed), marking a missing final newline.

    Lines the texts share at the start and at the end are found by comparing the strings, and
    only the rest (with its context lines) is split and aligned by difflib: an append to a
    290 KB block is 4,000 equal lines and one new one, which splitting and difflib's matcher
    took ~10 ms over (bench/proposals.py). The change is placed after the longest shared start.
    """
    if old == new:
        return ""
    head, tail = _shared_edges(old, new)
    first = _lines_before(old, head, UNIFIED_CONTEXT)
    skipped = old.count("\n", 0, first)
    old_end = _lines_after(old, len(old) - tail, UNIFIED_CONTEXT)
    new_end = len(new) - (len(old) - old_end)
    a, b = split_lines(old[first:old_end]), split_lines(new[first:new_end])
    matcher = difflib.SequenceMatcher(None, a, b)
    out = [f"--- a/{label}\n", f"+++ b/{label}\n"]
    for group in matcher.get_grouped_opcodes(UNIFIED_CONTEXT):
        (_, i1, _, j1, _), (_, _, i2, _, j2) = group[0], group[-1]
        out.append(f"@@ -{_hunk_range(i1 + skipped, i2 + skipped)} +{_hunk_range(j1 + skipped, j2 + skipped)} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + line for line in a[i1:i2]]
                continue
            out += ["-" + line for line in a[i1:i2]]
            out += ["+" + line for line in b[j1:j2]]
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out)


def _hunk_range(start: int, stop: int) -> str:
    """A hunk's line range as unified diffs write it: "first,count", "first" when one line, and
    the line before the hunk with count 0 when it is empty."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


# --- approval -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalPlan:
    """What approving a proposal now would do: write `content`, or end in `conflict` (why)."""

    content: str | None = None
    conflict: str = ""
    # Re-applied to a newer version than the proposal was made against (the block moved on).
    rebased: bool = False


def plan_approval(*, operation: str, arguments: Mapping[str, Any], proposed_content: str,
                  base_version: int | None, block_version: int | None, block_content: str = "",
                  edited_content: str | None = None) -> ApprovalPlan:
    """The one statement of the approval rules (design.md §4), for approve_diff and for the
    review page's preview.

    `block_version`/`block_content` describe the live block the proposal applies to: for
    `create`, a live block that already holds the label; for the other operations, the block the
    proposal was made against. None: there is none (not created yet / deleted since).

    * create: applies unless a live block took the label in the meantime;
    * otherwise the block must still be live; edited text (edit & approve) is written as it is;
    * at the base version the proposed text is written; a block that moved on gets the operation
      re-applied to its current text (a rebase), unless it no longer applies.
    """
    if operation == CREATE:
        if block_version is not None:
            return ApprovalPlan(conflict="a block with this label was created in the meantime")
        return ApprovalPlan(content=proposed_content if edited_content is None else edited_content)
    if block_version is None:
        return ApprovalPlan(conflict="the block was deleted after the proposal")
    if edited_content is not None:
        return ApprovalPlan(content=edited_content)
    if block_version == base_version:
        return ApprovalPlan(content=proposed_content)
    try:
        rebased = apply_operation(block_content, operation, arguments)
    except EditError as exc:
        return ApprovalPlan(conflict=(
            f"block changed from version {base_version} to {block_version} "
            f"and the edit no longer applies: {exc.message}"
        ))
    return ApprovalPlan(content=rebased, rebased=True)
