"""Git access for the v1 reader: one learner's history read with the git CLI, never written.

Every call goes through ``safe_git.GitSandbox`` (a private GIT_DIR that sees the learner's
objects and none of its config). Output is NUL separated with explicit formats, so non-ASCII and
NFD/NFC file names round-trip as bytes (``fsdecode``/``fsencode``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ..safe_git import GitError, GitSandbox

# Tree entry modes that are not a file's content: a symbolic link (its blob is the link's target
# path, which is never followed) and a submodule commit.
LINK_MODE, GITLINK_MODE, DELETED_MODE = "120000", "160000", "000000"
FILE_MODES = ("100644", "100755")


@dataclass(frozen=True)
class Commit:
    sha: str
    committed: str  # strict ISO 8601 with the commit's own offset
    authored: str
    message: str

    @property
    def date(self) -> datetime:
        return datetime.fromisoformat(self.committed).astimezone(timezone.utc)

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]  # v1 showed the first line as the message


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    object_id: str


def fsdecode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def fsencode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class LearnerGit:
    """Read-only git CLI access to one learner's objects, through a private GIT_DIR."""

    def __init__(self, sandbox: GitSandbox):
        self.sandbox = sandbox

    def __call__(self, *args: str, stdin: bytes | None = None) -> bytes:
        return self.sandbox(*args, stdin=stdin)

    def commit_order(self) -> dict[str, int]:
        shas = self("rev-list", "--reverse", "--topo-order", "HEAD").decode().split()
        return {sha: i for i, sha in enumerate(shas)}

    def paths_in_history(self, *dirs: str) -> dict[str, dict[str, TreeEntry]]:
        """path -> {commit: the path's tree entry after that commit} for every change in dirs.

        ``git log --raw -z`` gives per commit ``\\x01<sha>`` then, per changed path, a
        ``:<old mode> <new mode> <old id> <new id> <status>`` field followed by the path field.
        """
        out = self("log", "-z", "--raw", "--no-abbrev", "--no-renames", "--no-ext-diff",
                   "--no-textconv", "--format=%x01%H", "HEAD", "--", *dirs)
        paths: dict[str, dict[str, TreeEntry]] = {}
        fields = iter(out.split(b"\0"))
        commit = ""
        for field in fields:
            field = field.lstrip(b"\n")
            if field.startswith(b"\x01"):
                commit = field[1:].decode("ascii", "replace")
            elif field.startswith(b":"):
                _, new_mode, _, new_id = field[1:].decode("ascii", "replace").split(" ")[:4]
                path = fsdecode(next(fields, b""))
                paths.setdefault(path, {})[commit] = TreeEntry(new_mode, new_id)
        return paths

    def entry_at(self, commit: str, path: str) -> TreeEntry:
        """The tree entry of path at commit (for commits --raw does not describe, e.g. merges)."""
        out = self("ls-tree", "-z", "--full-tree", commit, "--", path)
        for entry in out.split(b"\0"):
            meta, _, name = entry.partition(b"\t")
            if meta and fsdecode(name) == path:
                mode, _, object_id = meta.decode("ascii", "replace").split(" ")[:3]
                return TreeEntry(mode, object_id)
        return TreeEntry(DELETED_MODE, "")

    def commits_touching(self, path: str) -> list[Commit]:
        out = self(
            "log", "--reverse", "-z", "--format=%H%x00%cI%x00%aI%x00%B", "HEAD", "--", path
        )
        fields = out.split(b"\0")
        if fields and fields[-1] == b"":
            fields.pop()
        if len(fields) % 4:
            raise GitError(f"unexpected git log output for {path!r}")
        commits = []
        for i in range(0, len(fields), 4):
            sha, committed, authored, message = (
                f.decode("utf-8", "replace") for f in fields[i : i + 4]
            )
            commits.append(Commit(sha, committed, authored, message))
        return commits

    def blobs(self, object_ids: list[str]) -> dict[str, bytes]:
        """Blobs by object id, in one ``cat-file --batch``."""
        if not object_ids:
            return {}
        out = self("cat-file", "--batch", stdin="".join(f"{o}\n" for o in object_ids).encode())
        found, pos = {}, 0
        for object_id in object_ids:
            end = out.index(b"\n", pos)
            header = out[pos:end].split(b" ")
            pos = end + 1
            if len(header) != 3:  # "<id> missing": verify() refused such repositories already
                raise GitError(f"object {object_id} cannot be read")
            size = int(header[2])
            found[object_id] = out[pos : pos + size]
            pos += size + 1
        return found
