"""A block file's history as records, the same for both eras: every commit that touched the file
is one version (actor from v1's ``Author:`` trailer), and the work-tree file is the current
content, one more version when it differs from the last commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..digests import bounded_key, sha256_hex
from ..records import OWNER_USER, BlockRecord, VersionRecord
from ..safety import format_size
from .git import FILE_MODES, GITLINK_MODE, LINK_MODE, Commit
from .source import IMPORT_ACTOR, SOURCE, LearnerRepo, _SkipBlock

UNKNOWN_ACTOR = "unknown"
_TRAILER = "\n\nAuthor: "  # exactly what v1 appended to every commit message


def split_author(message: str) -> tuple[str, str | None]:
    """Return (message without the trailer, the trailer's value or None).

    The trailer v1 appends is the last one; an ``Author:`` line typed by the user comes earlier.
    """
    text, sep, who = message.rpartition(_TRAILER)
    if not sep:
        return message, None
    return text, who.strip()


def map_actor(who: str | None) -> str:
    """Map a v1 ``Author:`` value to our actor vocabulary."""
    if who in ("user", "system"):
        return who
    if who and who.startswith("agent:") and len(who) > len("agent:"):
        return who
    return UNKNOWN_ACTOR


def commit_key(sha: str, path: str) -> str:
    """The import key of the file at ``path`` as commit ``sha`` left it (long paths hashed)."""
    return bounded_key(f"git:{sha}:", path)


def worktree_key(path: str, content: str) -> str:
    """The import key of a work-tree file's content that no commit holds (long paths hashed)."""
    return bounded_key("worktree:", path, f":{sha256_hex(content)}")


@dataclass
class FileVersion:
    commit: Commit
    text: str


def file_history(learner: LearnerRepo, rel: str, head: str | None) -> list[FileVersion]:
    """Each commit that touched the file, oldest first, with the file's text at that commit."""
    if not head:
        return []
    git = learner.git
    commits = git.commits_touching(rel)
    known = learner.history_entries.get(rel, {})
    entries = [known.get(c.sha) or git.entry_at(c.sha, rel) for c in commits]
    max_bytes = learner.limits.max_file_bytes
    wanted = []
    for commit, entry in zip(commits, entries, strict=True):
        where = f"{rel}@{commit.sha[:12]}"
        if entry.mode in (LINK_MODE, GITLINK_MODE):
            what = "a symbolic link" if entry.mode == LINK_MODE else "a submodule"
            learner.report("file", where, f"{what} in this commit (mode {entry.mode}); "
                           "not followed, not a version")
        elif entry.mode not in FILE_MODES:
            # the commit deleted the file; v1 never did, but a person could
            learner.report("note", rel, f"deleted in commit {commit.sha}; not a version")
        elif learner.object_sizes.get(entry.object_id, 0) > max_bytes:
            size = learner.object_sizes[entry.object_id]
            learner.report("file", where,
                           f"{format_size(size)}, over the file limit of "
                           f"{format_size(max_bytes)} (--max-file-size); not imported")
        else:
            wanted.append(entry.object_id)
    # (their bytes were counted with the whole history by GitSandbox.verify)
    blobs = git.blobs(sorted(set(wanted)))
    return [
        FileVersion(commit, learner.decode(blobs[entry.object_id], f"{rel}@{commit.sha[:12]}"))
        for commit, entry in zip(commits, entries, strict=True)
        if entry.object_id in blobs and entry.mode in FILE_MODES
    ]


def version_record(fv: FileVersion, rel: str, content: str, extra: dict) -> VersionRecord:
    text, who = split_author(fv.commit.message)
    meta: dict[str, Any] = {
        "commit": fv.commit.sha,
        "path": rel,
        "committed_at": fv.commit.committed,
        "author": who,
    }
    if fv.commit.authored != fv.commit.committed:
        meta["authored_at"] = fv.commit.authored
    if text != fv.commit.subject:
        meta["message"] = text  # the full message, beyond the subject used as the reason
    meta.update(extra)
    return VersionRecord(
        content=content,
        import_key=commit_key(fv.commit.sha, rel),
        actor=map_actor(who),
        reason=fv.commit.subject,
        date=fv.commit.date,
        metadata={"v1": meta},
    )


def current_text(learner: LearnerRepo, rel: str, history: list[FileVersion]) -> tuple[str, bool]:
    """(the file's text now, deleted): a file gone from the work tree is its last commit."""
    text = learner.worktree_text(rel)
    if text is not None:
        return text, False
    if not history:
        raise _SkipBlock("no content on disk or in history")
    learner.report("note", rel, "file missing from the work tree; imported as deleted")
    return history[-1].text, True


def block_record(
    learner: LearnerRepo,
    *,
    label: str,
    rel: str,
    content: str,
    versions: list[VersionRecord],
    v1: dict[str, Any],
    text: str,
    committed: str | None,
    written_at: datetime | None,
    deleted: bool,
) -> BlockRecord:
    """``text`` is the file as it is now, ``committed`` as of its last commit (or None)."""
    if text != committed:
        v1["uncommitted"] = True
        why = "was never committed" if committed is None else "differs from the last commit"
        learner.report("note", rel, f"work-tree file {why}; imported as the current version")
        actor = IMPORT_ACTOR
        reason = f"Work-tree content of {rel} {why} in v1"
        updated_at = written_at or datetime.fromtimestamp(
            (learner.repo / rel).lstat().st_mtime, timezone.utc
        )
    else:  # the file is as committed, so the newest version is the current content
        actor, reason, updated_at = versions[-1].actor, versions[-1].reason, versions[-1].date
    return BlockRecord(
        owner_type=OWNER_USER,
        owner_id=learner.user_id,
        label=label,
        content=content,
        source=SOURCE,
        source_key=learner.key(rel),
        current_key=worktree_key(rel, content),
        versions=versions,
        metadata={"v1": v1},
        deleted=deleted,
        created_at=versions[0].date if versions else updated_at,
        updated_at=updated_at,
        current_actor=actor,
        current_reason=reason,
    )
