"""Pending diffs (``pending_diffs/*.json``) as canonical proposals.

append -> append(text), full_replace -> rethink(content), replace -> str_replace(old_str=
current_value, new_str=proposed_value), any other operation (llm_diff) -> append(text).
append/full_replace on a block that does not exist become ``create``. A pending diff that v1
itself could not apply (replace, llm_diff) becomes ``conflict`` with the reason. Naive
server-local timestamps are read in the learner's ``tz``.
"""

from __future__ import annotations

from typing import Any

from ..records import OWNER_USER, BlockRecord, DiffRecord
from ..safety import loads_json
from .markdown_era import split_frontmatter, v1_written_body
from .source import DIFF_DIR, SOURCE, LearnerRepo, _BadDiff, why
from .values import aware_utc, as_text, json_safe


def read_diffs(learner: LearnerRepo, blocks: dict[str, BlockRecord]) -> list[DiffRecord]:
    """The learner's pending_diffs/*.json; ``blocks`` are its live blocks by label."""
    diffs = []
    for entry in sorted(learner.folder(DIFF_DIR) or [], key=lambda p: p.name):
        rel = f"{DIFF_DIR}/{entry.name}"
        if entry.is_symlink():  # could point outside the learner's folder
            learner.report("file", rel, "symbolic link; not followed")
            continue
        if not (entry.name.endswith(".json") and entry.is_file(follow_symlinks=False)):
            learner.report("file", rel, "not a pending-diff JSON file; v1 ignored it")
            continue
        try:
            raw = learner.read_file(rel)
            if raw is None:
                continue  # removed while we read
            data = loads_json(raw.decode("utf-8"), what=rel)
            if not isinstance(data, dict):
                raise _BadDiff("not a JSON object")
            diffs.append(_diff(learner, entry.name[: -len(".json")], rel, data, blocks))
        except Exception as exc:  # v1's listing skipped files it could not parse, too
            learner.report("diff", rel, f"unreadable pending diff: {why(exc)}")
    return diffs


def _diff(
    learner: LearnerRepo, stem: str, rel: str, data: dict, blocks: dict[str, BlockRecord]
) -> DiffRecord:
    def text(field: str, required: bool = True) -> str:
        value = data.get(field)
        if value is None and not required:
            return ""
        if not isinstance(value, str):
            raise _BadDiff(f"field {field!r} missing or not a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _BadDiff(f"field {field!r} holds a lone surrogate") from None
        return value

    label = text("block_label")
    operation = text("operation")
    proposed = text("proposed_value")
    snapshot = text("current_value", required=False)
    status = data.get("status")
    diff_id = data.get("id") if isinstance(data.get("id"), str) and data.get("id") else stem
    if diff_id != stem:
        learner.report("note", rel, f"diff id {diff_id!r} differs from its file name")
    if data.get("user_id") not in (None, learner.user_id):
        learner.report("note", rel, f"user_id {data.get('user_id')!r} differs from the folder")

    target = blocks.get(label)
    if target is None:
        learner.report("note", rel, f"diff targets block {label!r}, which does not exist")

    op, args, proposed_content, unappliable = map_operation(
        operation, snapshot, proposed, target
    )
    metadata: dict[str, Any] = {
        "v1": json_safe(data),
        "confidence": data.get("confidence"),
        "field": data.get("field"),
        "source_query": data.get("source_query"),
        "original_operation": operation,
        "original_status": status,
        "timezone": str(learner.tz),
    }
    conflict_reason = ""
    if status == "pending":
        mapped = "pending"
        if unappliable:
            mapped, conflict_reason = "conflict", unappliable
    elif status in ("approved", "rejected", "superseded"):
        mapped = status
    elif status == "expired":  # declared by v1, never set; closest is "withdrawn"
        mapped = "superseded"
    else:
        mapped, conflict_reason = "conflict", f"unknown v1 status {status!r}"
    if status == "rejected" and data.get("applied_commit"):
        # v1's reject never checked the status: this diff was applied, then "rejected".
        metadata["approved_then_rejected"] = True
        metadata["applied_commit"] = data["applied_commit"]

    return DiffRecord(
        owner_type=OWNER_USER,
        owner_id=learner.user_id,
        label=label,
        operation=op,
        arguments=args,
        status=mapped,
        source=SOURCE,
        import_key=diff_id,
        proposed_content=proposed_content,
        reasoning=as_text(data.get("reasoning")),
        agent_id=as_text(data.get("agent_id")),
        conflict_reason=conflict_reason,
        created_at=aware_utc(data.get("created_at"), learner.tz),
        reviewed_at=aware_utc(data.get("reviewed_at"), learner.tz),
        metadata=metadata,
    )


def map_operation(
    operation: str, snapshot: str, proposed: str, target: BlockRecord | None
) -> tuple[str, dict[str, Any], str | None, str]:
    """(canonical op, arguments, proposed content, why v1 could not apply it or "").

    The proposed content is what v1's approval would have written, computed from the block
    snapshot the diff carries (``current_value`` is the whole file at proposal time).
    """
    snapshot_body = split_frontmatter(snapshot)[1]
    if operation == "append":
        content = v1_written_body(snapshot_body.rstrip() + "\n\n" + proposed)
        if target is None:
            return "create", {"content": content}, content, ""
        return "append", {"text": proposed}, content, ""
    if operation == "full_replace":
        content = v1_written_body(proposed)
        if target is None:
            return "create", {"content": content}, content, ""
        return "rethink", {"content": content}, content, ""
    if operation == "replace":
        args = {"old_str": snapshot, "new_str": proposed}
        content = None
        if snapshot and snapshot in snapshot_body:
            content = v1_written_body(snapshot_body.replace(snapshot, proposed, 1))
        if target is not None and snapshot and snapshot in target.content:
            return "str_replace", args, content, ""
        return "str_replace", args, content, (
            "v1 could not apply this 'replace' diff: its current_value is a snapshot of the "
            "whole block file (frontmatter included), not text found in the block"
        )
    return "append", {"text": proposed}, None, (
        f"v1 could not apply operation {operation!r} (approving it answered "
        "'Unknown diff operation')"
    )
