"""The TOML era (``blocks/{label}.toml``): v1's first block format, converted for display.

Top-level keys become ``## Title Case`` sections, lists bullets (spec §2b); the original TOML is
kept in metadata. Invalid or empty TOML is imported verbatim and reported. A TOML block whose
label also has a Markdown block becomes that block's earlier versions (``markdown_era``).
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time
from typing import Any

from ..records import BlockRecord, VersionRecord
from .history import FileVersion, block_record, current_text, file_history, version_record
from .source import LearnerRepo

INIT_STUDENT_SUBJECT = "Initialize student block"


def name_given_at_init(blocks: list[BlockRecord]) -> str:
    """The name given to v1's `POST /users/init` ("" if none): the `student` block starts as the
    course's TOML defaults, `profile = "<name>"` (committed as "Initialize student block")."""
    for block in blocks:
        if block.label != "student":
            continue
        for version in block.versions:
            if version.reason != INIT_STUDENT_SUBJECT:
                continue
            text = version.metadata.get("v1", {}).get("toml") or version.content
            try:
                name = tomllib.loads(text).get("profile")
            except tomllib.TOMLDecodeError:
                return ""
            return name.strip() if isinstance(name, str) else ""
    return ""


def toml_to_markdown(text: str) -> str:
    """Render a TOML block for display, as the toml-era UI did (spec §2b).

    Top-level keys become ``## Title Case`` sections, arrays become bullets, booleans Yes/No;
    nested tables become deeper headings. Raises ``tomllib.TOMLDecodeError`` for invalid TOML.
    """
    return _render_table(tomllib.loads(text), level=2) + "\n"


def _render_table(table: dict[str, Any], level: int) -> str:
    sections = []
    for key, value in table.items():
        heading = f"{'#' * min(level, 6)} {key.replace('_', ' ').title()}"
        if isinstance(value, dict):
            inner = _render_table(value, level + 1)
        elif isinstance(value, list):
            inner = "\n".join("- " + _render_scalar(item).replace("\n", "\n  ") for item in value)
        else:
            inner = _render_scalar(value).rstrip("\n")
        sections.append(f"{heading}\n\n{inner}" if inner else heading)
    return "\n\n".join(sections)


def _render_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, dict):
        return ", ".join(f"{k} = {_render_scalar(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_render_scalar(v) for v in value) + "]"
    return str(value)


def convert_toml(text: str) -> tuple[str, str]:
    """(content, status): status is "converted", "empty" or "invalid" (then content = text)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return text, "invalid"
    if not data:
        return text, "empty"
    return _render_table(data, level=2) + "\n", "converted"


def toml_versions(
    learner: LearnerRepo, history: list[FileVersion], rel: str
) -> list[VersionRecord]:
    versions, verbatim = [], 0
    for fv in history:
        content, status = convert_toml(fv.text)
        if status == "converted":
            versions.append(version_record(fv, rel, content, {"toml": fv.text}))
        else:
            verbatim += 1
            versions.append(version_record(fv, rel, content, {"toml_status": status}))
    if verbatim:
        learner.report(
            "note", rel, f"{verbatim} of {len(history)} versions are invalid or empty TOML; "
            "imported verbatim",
        )
    return versions


def toml_block(learner: LearnerRepo, label: str, rel: str, head: str | None) -> BlockRecord:
    """A block that only ever was a TOML file."""
    history = file_history(learner, rel, head)
    versions = toml_versions(learner, history, rel)
    text, deleted = current_text(learner, rel, history)
    content, status = convert_toml(text)
    v1: dict[str, Any] = {"era": "toml", "path": rel, "toml_status": status}
    if status == "converted":
        v1["toml"] = text
    else:
        learner.report("note", rel, f"current content is {status} TOML; imported verbatim")
    committed = history[-1].text if history else None
    return block_record(learner, label=label, rel=rel, content=content, versions=versions, v1=v1,
                        text=text, committed=committed, written_at=None, deleted=deleted)
