"""The Markdown era (``memory-blocks/{label}.md``): YAML frontmatter, then the block's body.

The label is the FILE NAME, as v1's listing, API and history all addressed the block by file
name; a differing frontmatter ``block:`` key is kept in metadata and reported. Content is the
BODY, byte for byte; the parsed frontmatter goes to ``metadata["v1"]["frontmatter"]``.
"""

from __future__ import annotations

import re
from datetime import timezone
from typing import Any

import yaml

from ..records import BlockRecord, VersionRecord
from ..safety import bounded_plain
from .history import FileVersion, block_record, current_text, file_history, version_record
from .source import LearnerRepo
from .toml_era import toml_versions
from .values import aware_utc, json_safe

_FRONTMATTER = re.compile(r"---\n(.*?)\n---\n", re.DOTALL)  # v1: first fence, non-greedy


def split_frontmatter(text: str) -> tuple[dict[str, Any], str]:
    """Split a v1 Markdown block file into (frontmatter, body) the way v1 read it (spec §2a).

    The frontmatter is the first ``---\\n…\\n---\\n`` at the very start; the body is the rest with
    leading newlines stripped. No fence, invalid YAML or YAML that is not a mapping: ``{}`` and
    the whole text is the body.
    """
    frontmatter, body, _ = _parse_frontmatter(text)
    return frontmatter, body


def _parse_frontmatter(text: str) -> tuple[dict[str, Any], str, bool]:
    """Like split_frontmatter, plus whether a fence was there but did not hold a YAML mapping."""
    match = _FRONTMATTER.match(text)
    if not match:
        return {}, text, False
    try:
        data = yaml.safe_load(match.group(1))
    except Exception:  # YAMLError, but also ValueError for impossible dates like 2026-02-30
        return {}, text, True  # RecursionError too: YAML nested too deeply to parse
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return {}, text, True
    bounded_plain(data, what="the frontmatter")  # aliases can expand a few lines to billions
    return data, text[match.end() :].lstrip("\n"), False


def v1_written_body(content: str) -> str:
    """The body a v1 md-era write of ``content`` leaves on disk, as read back.

    A write merges the content's own frontmatter (if valid) into the file's and stores the rest;
    reading strips the newlines that follow the fence.
    """
    return split_frontmatter(content)[1].lstrip("\n")


def _md_version(fv: FileVersion, rel: str) -> VersionRecord:
    frontmatter, body = split_frontmatter(fv.text)
    return version_record(fv, rel, body, {"frontmatter": json_safe(frontmatter)})


def md_block(
    learner: LearnerRepo, label: str, rel: str, toml_rel: str | None, head: str | None
) -> BlockRecord:
    """A Markdown block; ``toml_rel`` is the TOML file of the same label, if there is one."""
    history = file_history(learner, rel, head)
    versions = [_md_version(fv, rel) for fv in history]
    text, deleted = current_text(learner, rel, history)
    frontmatter, body, invalid = _parse_frontmatter(text)
    if invalid:
        learner.report("note", rel, "frontmatter is not a YAML mapping; whole file kept as body")
    v1: dict[str, Any] = {"era": "md", "path": rel, "frontmatter": json_safe(frontmatter)}
    block_key = frontmatter.get("block")
    if block_key is not None and str(block_key) != label:
        # v1 listed, served and versioned the block under its file name.
        learner.report(
            "note", rel, f"frontmatter block: {block_key!r} differs from the file name; "
            f"imported as label {label!r}",
        )

    if toml_rel is not None:
        # The learner's own record from before the format switch: its earlier versions.
        toml_history = file_history(learner, toml_rel, head)
        order = learner.order
        versions = sorted(
            toml_versions(learner, toml_history, toml_rel) + versions,
            key=lambda v: order.get(v.metadata["v1"]["commit"], len(order)),
        )
        v1["superseded_toml"] = {"path": toml_rel, "text": learner.worktree_text(toml_rel)}
        learner.report(
            "note", toml_rel, f"superseded by {rel} (v1's md era ignored TOML files); its "
            f"{len(toml_history)} versions imported as earlier versions of {label!r}",
        )

    committed = history[-1].text if history else None
    # For an uncommitted change, the frontmatter v1 wrote says when it happened.
    written_at = aware_utc(frontmatter.get("updated_at"), timezone.utc)
    return block_record(learner, label=label, rel=rel, content=body, versions=versions, v1=v1,
                        text=text, committed=committed, written_at=written_at, deleted=deleted)
