"""A learner's blocks: every block file on disk or anywhere in history, read in its era."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from ..records import BlockRecord, SkippedRecord
from .git import fsencode
from .markdown_era import md_block
from .source import MD_DIR, SOURCE, TOML_DIR, LearnerRepo, why
from .toml_era import toml_block


def read_blocks(learner: LearnerRepo, head: str | None) -> list[BlockRecord]:
    learner.history_entries = learner.git.paths_in_history(MD_DIR, TOML_DIR) if head else {}
    history = set(learner.history_entries)
    md = block_files(learner, MD_DIR, ".md", history)
    toml = block_files(learner, TOML_DIR, ".toml", history)
    blocks = []
    for label in sorted(md.keys() | toml.keys()):
        try:
            if label in md:
                blocks.append(md_block(learner, label, md[label], toml.get(label), head))
            else:
                blocks.append(toml_block(learner, label, toml[label], head))
        except Exception as exc:  # one bad block is reported, never the end of the run
            learner.report("block", md.get(label) or toml[label], f"not imported: {why(exc)}")
    _report_collisions(learner, blocks)
    return blocks


def block_files(
    learner: LearnerRepo, dirname: str, suffix: str, history: set[str]
) -> dict[str, str]:
    """label -> relative path of every block file, on disk or anywhere in history.

    Only files directly in the folder count, as v1 only globbed ``{dir}/*{suffix}``.
    """
    found: dict[str, str] = {}
    rels = {p for p in history if p.startswith(dirname + "/")}
    on_disk = learner.folder(dirname) or []
    learner.count_files(len(rels - {f"{dirname}/{e.name}" for e in on_disk}), dirname + "/")
    for entry in on_disk:
        rel = f"{dirname}/{entry.name}"
        if entry.is_symlink():  # could point outside the learner's folder
            if rel not in history:
                learner.report("file", rel, "symbolic link; not followed")
        elif entry.name.endswith(suffix) and entry.is_file(follow_symlinks=False):
            rels.add(rel)
        elif rel not in history:
            learner.report("file", rel, f"not a *{suffix} block file; v1 ignored it")
    for rel in sorted(rels):
        name = rel[len(dirname) + 1 :]
        if "/" in name or not name.endswith(suffix):
            learner.report("file", rel, f"not directly in {dirname}/ as *{suffix}; v1 ignored it")
            continue
        label = name[: -len(suffix)]
        if not label:
            learner.report("block", rel, "empty label")
        elif fsencode(label).decode("utf-8", "replace") != label:
            learner.report("block", rel, "file name is not valid UTF-8")
        else:
            found[label] = rel
    return found


def collation_key(label: str) -> str:
    """Labels a person would read as the same: no case, no accents, NFC = NFD."""
    decomposed = unicodedata.normalize("NFKD", label)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _report_collisions(learner: LearnerRepo, blocks: Iterable[BlockRecord]) -> None:
    groups: dict[str, list[BlockRecord]] = {}
    for block in blocks:
        groups.setdefault(collation_key(block.label), []).append(block)
    for same in groups.values():
        if len(same) > 1:
            shown = ", ".join(repr(b.label) for b in same)
            learner.notes.append(SkippedRecord(
                "note",
                same[0].source_key,
                f"labels {shown} differ only by case, accents or Unicode normalisation; "
                "they stay separate blocks, as they were separate files in v1",
                SOURCE,
            ))
