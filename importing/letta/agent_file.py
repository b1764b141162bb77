"""Letta Agent Files (``.af``): v2 (file-local ids, ``blocks[]`` + ``agents[].block_ids``) and
legacy v1 (one agent, ``core_memory[]`` blocks without ids), either of them JSON-encoded twice.

Several files are read into one snapshot, so a block shared by agents of several files maps once.
A file is read whole up to ``limits.max_response_bytes``; a broken or oversized one is reported
and skipped, the others are read.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..safety import DEFAULT_LIMITS, Limits, SourceLimitExceeded, format_size, loads_json
from .rows import _RowError, agent_from_row, as_text, block_from_row
from .snapshot import SOURCE_AGENT_FILE, ImportSourceError, LettaSnapshot


def load_agent_files(paths: Iterable[str | Path], *,
                     limits: Limits = DEFAULT_LIMITS) -> LettaSnapshot:
    """Read several Agent Files into one snapshot, so blocks shared across files map once.

    File-local ids (``agent-0``, ``block-0``) are prefixed with the file name. A file that does
    not exist raises ImportSourceError; a file that exists but is broken, over
    ``limits.max_response_bytes`` or nested too deeply is reported and skipped.
    """
    snap = LettaSnapshot(SOURCE_AGENT_FILE, "")
    names: set[str] = set()
    origins = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise ImportSourceError(f"Agent File not found: {p}")
        name = p.name
        n = 2
        while name in names:  # two files of the same name from different folders
            name, n = f"{p.name}#{n}", n + 1
        names.add(name)
        origins.append(str(p))
        try:
            with p.open("rb") as fh:
                raw = fh.read(limits.max_response_bytes + 1)
        except OSError as exc:
            raise ImportSourceError(f"cannot read Agent File {p}: {exc}") from exc
        if len(raw) > limits.max_response_bytes:
            snap.report("file", name, f"over the limit of {format_size(limits.max_response_bytes)}"
                        " (--max-response-size); not read")
            continue
        _load_agent_file(snap, name, raw)
    snap.origin = ", ".join(origins)
    return snap


def _load_agent_file(snap: LettaSnapshot, name: str, raw: bytes) -> None:
    try:
        doc: Any = loads_json(raw.decode("utf-8-sig"), what="the file")
        # Some published files are a JSON string holding the JSON document.
        for _ in range(3):
            if not isinstance(doc, str):
                break
            doc = loads_json(doc, what="the file")
    except SourceLimitExceeded as exc:
        snap.report("file", name, str(exc))
        return
    except (UnicodeDecodeError, ValueError) as exc:
        snap.report("file", name, f"not valid JSON: {exc}")
        return
    if isinstance(doc, dict) and isinstance(doc.get("agents"), list):
        _load_agent_file_v2(snap, name, doc)
    elif isinstance(doc, dict) and isinstance(doc.get("core_memory"), list):
        _load_agent_file_legacy(snap, name, doc)
    else:
        what = f"keys {sorted(doc)[:8]}" if isinstance(doc, dict) else type(doc).__name__
        snap.report("file", name, f"not a Letta Agent File (no agents[] or core_memory[]; {what})")


def _load_agent_file_v2(snap: LettaSnapshot, name: str, doc: dict[str, Any]) -> None:
    prefix = f"{name}:"
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    file_info = {"file": name, "file_format": "v2", "revision_id": meta.get("revision_id")}
    blocks = doc.get("blocks") if isinstance(doc.get("blocks"), list) else []
    if not isinstance(doc.get("blocks"), list):
        snap.report("file", name, "blocks is not a list; no blocks read")
    for i, item in enumerate(blocks):
        if not isinstance(item, dict):
            snap.report("row", f"{name}:blocks[{i}]", f"block is a {type(item).__name__}")
            continue
        try:
            local = as_text(item.get("id"), "id")
            block = block_from_row(item, block_id=prefix + local)
        except _RowError as exc:
            snap.report("row", f"{name}:blocks[{i}]", str(exc))
            continue
        block.ref = prefix + local
        block.extra.update(file_info, file_block_id=local)
        snap.add_block(block)
    for i, item in enumerate(doc["agents"]):
        if not isinstance(item, dict):
            snap.report("row", f"{name}:agents[{i}]", f"agent is a {type(item).__name__}")
            continue
        try:
            local = as_text(item.get("id") or f"agents[{i}]", "id")
            agent, problems = agent_from_row(item, agent_id=prefix + local)
        except _RowError as exc:
            snap.report("row", f"{name}:agents[{i}]", str(exc))
            continue
        agent.extra.update(file=name, file_agent_id=local)
        snap.add_agent(agent)
        for problem in problems:
            snap.report("note", f"agent {agent.ref}", problem)
        block_ids = item.get("block_ids") if isinstance(item.get("block_ids"), list) else []
        for local_block in block_ids:
            bid = prefix + str(local_block)
            if bid in snap.blocks:
                snap.links.add((agent.id, bid))
            else:
                snap.report("row", f"{agent.ref}.block_ids", f"unknown block id {local_block!r}")
        # Files from older exporters may carry block specs inline instead of blocks[].
        inline = item.get("memory_blocks") if isinstance(item.get("memory_blocks"), list) else []
        for j, spec in enumerate(inline):
            _add_inline_block(snap, spec, f"{agent.id}/memory_blocks[{j}]", agent.id, file_info)


def _load_agent_file_legacy(snap: LettaSnapshot, name: str, doc: dict[str, Any]) -> None:
    # One agent per file, blocks inline without ids (AgentManager.serialize, letta ≤0.11).
    file_info = {"file": name, "file_format": "legacy-v1", "letta_version": doc.get("version")}
    agent_id = f"{name}:agent"
    try:
        agent, problems = agent_from_row(doc, agent_id=agent_id)
    except _RowError as exc:
        snap.report("file", name, f"agent not read: {exc}")
        return
    agent.extra.update(file=name)
    snap.add_agent(agent)
    snap.report("note", name, "legacy Agent File: blocks have no ids and no read_only flag; "
                "every block is read as writable")
    for problem in problems:
        snap.report("note", f"agent {agent.ref}", problem)
    for i, item in enumerate(doc["core_memory"]):
        _add_inline_block(snap, item, f"{name}:core_memory[{i}]", agent_id, file_info)


def _add_inline_block(snap: LettaSnapshot, spec: Any, bid: str, agent_id: str,
                      file_info: dict[str, Any]) -> None:
    """A block given inline in an agent (no id of its own), linked to that agent."""
    try:
        if not isinstance(spec, dict):
            raise _RowError(f"block is a {type(spec).__name__}")
        block = block_from_row(spec, block_id=bid)
    except _RowError as exc:
        snap.report("row", bid, str(exc))
        return
    block.extra.update(file_info)
    snap.add_block(block)
    snap.links.add((agent_id, bid))
