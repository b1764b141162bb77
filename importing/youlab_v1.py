"""Reader for a YouLab v1 data root: one git work tree per learner (docs/youlab-v1-format.md).

``read_data_root(path)`` yields plain records (``records.py``) and never touches the database.
Git is read with the ``git`` CLI only (``log``, ``cat-file --batch``, ``rev-list``), with NUL
separated output and explicit formats, so non-ASCII and NFD/NFC file names round-trip as bytes.

The data root is untrusted (design.md §7): git never sees a learner's own config, only its
objects, through a private GIT_DIR (``safe_git.py``); a repository that is a partial clone,
borrows or lacks objects, or has a ``.git`` link or file is refused. Work-tree files are read
with no symbolic link followed (``safety.read_file_inside``), symbolic links committed to
history are not versions, and sizes and counts are capped (``safety.Limits``). Each refusal is
one reported, skipped learner, block, version or diff.

Mapping decisions (each one is also tested):

* Learner: every folder of the root that has ``.git``; other folders are reported and skipped.
  An initialised repository without blocks still yields a ``LearnerRecord``.
* Markdown era (``memory-blocks/{label}.md``): the label is the FILE NAME, as v1's listing, API
  and history all addressed the block by file name; a differing frontmatter ``block:`` key is kept
  in metadata and reported. Content is the BODY, byte for byte; the parsed frontmatter goes to
  ``metadata["v1"]["frontmatter"]`` (JSON-safe).
* Every commit that touched the file (path-limited ``git log --reverse``, no ``--follow``) is
  one version, in order, dated with the commit time (its own offset, converted to UTC). Commits
  that changed nothing (toml-era rewrites of identical bytes, empty commits) never show up in a
  path-limited log, so they are not versions. The working-tree file is the current content; when
  it differs from the last commit, the core appends a version keyed ``worktree:<path>:<sha256>``.
* Actor: the LAST ``Author:`` trailer, i.e. the text after the last "\\n\\nAuthor: " that v1 itself
  appends to every message. (v1's history API took the first line starting with ``Author: ``,
  which a user's own message can fake.) ``user``/``system``/``agent:<id>`` are kept as they are;
  a missing or unrecognised trailer becomes ``unknown`` (the raw trailer stays in metadata).
* TOML era (``blocks/{label}.toml``): with no Markdown block of that label, the block and each of
  its versions are converted for display (keys become ``## Title Case`` sections, lists bullets);
  the original TOML is kept in metadata. Invalid or empty TOML is imported verbatim and reported.
  When a Markdown block of that label exists, the TOML history becomes its earlier versions
  (it is the learner's own record, written before the format switch) and this is reported.
* Pending diffs map to canonical operations: append -> append(text), full_replace ->
  rethink(content), replace -> str_replace(old_str=current_value, new_str=proposed_value), any
  other operation (llm_diff) -> append(text). append/full_replace on a block that does not exist
  become ``create``. A pending diff that v1 itself could not apply (replace, llm_diff) becomes
  ``conflict`` with the reason. Naive server-local timestamps are read in ``tz``.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import shutil
import stat
import tempfile
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from .records import (
    MAX_IMPORT_KEY_LENGTH,
    OWNER_USER,
    BlockRecord,
    DiffRecord,
    ImportRecord,
    LearnerRecord,
    SkippedRecord,
    VersionRecord,
)
from .safe_git import GitError, GitSandbox, RepositoryRefused
from .safety import (
    DEFAULT_LIMITS,
    Limits,
    SourceLimitExceeded,
    bounded_plain,
    format_size,
    loads_json,
    read_file_inside,
)

SOURCE = "youlab_v1"
IMPORT_ACTOR = "import:youlab_v1"
UNKNOWN_ACTOR = "unknown"

MD_DIR = "memory-blocks"
TOML_DIR = "blocks"
DIFF_DIR = "pending_diffs"

_TRAILER = "\n\nAuthor: "  # exactly what v1 appended to every commit message
_FRONTMATTER = re.compile(r"---\n(.*?)\n---\n", re.DOTALL)  # v1: first fence, non-greedy


# --------------------------------------------------------------------------- public entry point


def read_data_root(
    path: str | os.PathLike[str],
    user_id: str | None = None,
    tz: tzinfo | str = timezone.utc,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[ImportRecord]:
    """Yield the records of every learner repository under a v1 data root.

    ``user_id`` limits the run to one learner. ``tz`` is the v1 server's timezone, used for the
    naive local timestamps of pending diffs (git dates carry their own offset). ``limits`` caps
    file sizes, file counts and each learner's total (what is over is reported and skipped).

    A learner's records are collected before any is yielded, so a learner that cannot be read is
    one ``SkippedRecord`` instead of a half-written learner.
    """
    root = Path(path)
    if shutil.which("git") is None:
        raise RuntimeError("the git command line tool is needed to read v1 repositories")
    if not root.is_dir():
        raise FileNotFoundError(f"v1 data root not found: {root}")
    if isinstance(tz, str):
        tz = ZoneInfo(tz)

    if user_id is not None:
        entries = [root / user_id]
        # A plain folder name only: "../x" must not read outside the data root.
        if (Path(user_id).name != user_id or user_id in (".", "..")
                or not (entries[0].is_dir() or entries[0].is_symlink())):
            reason = "no such learner folder in the data root"
            yield SkippedRecord("learner", user_id, reason, SOURCE)
            return
    else:
        entries = sorted(root.iterdir(), key=lambda p: p.name)

    with tempfile.TemporaryDirectory(prefix="youlab-v1-git-") as workspace:
        yield from _read_learners(entries, tz, limits, Path(workspace))


def _read_learners(
    entries: list[Path], tz: tzinfo, limits: Limits, workspace: Path
) -> Iterator[ImportRecord]:
    for entry in entries:
        mode = entry.lstat().st_mode
        if stat.S_ISLNK(mode):  # another folder, maybe outside the data root
            yield SkippedRecord("learner", entry.name, "symbolic link; not followed", SOURCE)
        elif not stat.S_ISDIR(mode):
            yield SkippedRecord("file", entry.name, "not a learner folder", SOURCE)
        elif not os.path.lexists(entry / ".git"):
            yield SkippedRecord("learner", entry.name, "folder has no .git; v1 ignored it", SOURCE)
        else:
            yield from _LearnerReader(entry, tz, limits, workspace).read()


# --------------------------------------------------------------------------- format helpers


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


def _convert_toml(text: str) -> tuple[str, str]:
    """(content, status): status is "converted", "empty" or "invalid" (then content = text)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return text, "invalid"
    if not data:
        return text, "empty"
    return _render_table(data, level=2) + "\n", "converted"


def _v1_written_body(content: str) -> str:
    """The body a v1 md-era write of ``content`` leaves on disk, as read back.

    A write merges the content's own frontmatter (if valid) into the file's and stores the rest;
    reading strips the newlines that follow the fence.
    """
    return split_frontmatter(content)[1].lstrip("\n")


def json_safe(value: Any) -> Any:
    """Convert what YAML/TOML can produce into JSON-storable values (dates become ISO strings)."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((json_safe(v) for v in value), key=repr)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _aware_utc(value: Any, tz: tzinfo) -> datetime | None:
    """Parse an ISO timestamp; a naive one is local time in ``tz``. None if absent or invalid."""
    if isinstance(value, datetime):  # an unquoted YAML timestamp
        parsed = value
    elif not isinstance(value, str) or not value:
        return None
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(timezone.utc)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _import_key(sha: str, path: str) -> str:
    key = f"git:{sha}:{path}"
    if len(key) > MAX_IMPORT_KEY_LENGTH:  # long labels: keep the key stable and within the column
        key = f"git:{sha}:sha256:{_sha256(path)}"
    return key


def _current_key(path: str, content: str) -> str:
    key = f"worktree:{path}:{_sha256(content)}"
    if len(key) > MAX_IMPORT_KEY_LENGTH:
        key = f"worktree:sha256:{_sha256(path)}:{_sha256(content)}"
    return key


def _collation_key(label: str) -> str:
    """Labels a person would read as the same: no case, no accents, NFC = NFD."""
    decomposed = unicodedata.normalize("NFKD", label)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


# --------------------------------------------------------------------------- git


@dataclass(frozen=True)
class _Commit:
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


# Tree entry modes that are not a file's content: a symbolic link (its blob is the link's target
# path, which is never followed) and a submodule commit.
_LINK_MODE, _GITLINK_MODE, _DELETED_MODE = "120000", "160000", "000000"
_FILE_MODES = ("100644", "100755")


@dataclass(frozen=True)
class _TreeEntry:
    mode: str
    object_id: str


class _Git:
    """Read-only git CLI access to one learner's objects, through a private GIT_DIR."""

    def __init__(self, sandbox: GitSandbox):
        self.sandbox = sandbox

    def __call__(self, *args: str, stdin: bytes | None = None) -> bytes:
        return self.sandbox(*args, stdin=stdin)

    def commit_order(self) -> dict[str, int]:
        shas = self("rev-list", "--reverse", "--topo-order", "HEAD").decode().split()
        return {sha: i for i, sha in enumerate(shas)}

    def paths_in_history(self, *dirs: str) -> dict[str, dict[str, _TreeEntry]]:
        """path -> {commit: the path's tree entry after that commit} for every change in dirs.

        ``git log --raw -z`` gives per commit ``\\x01<sha>`` then, per changed path, a
        ``:<old mode> <new mode> <old id> <new id> <status>`` field followed by the path field.
        """
        out = self("log", "-z", "--raw", "--no-abbrev", "--no-renames", "--no-ext-diff",
                   "--no-textconv", "--format=%x01%H", "HEAD", "--", *dirs)
        paths: dict[str, dict[str, _TreeEntry]] = {}
        fields = iter(out.split(b"\0"))
        commit = ""
        for field in fields:
            field = field.lstrip(b"\n")
            if field.startswith(b"\x01"):
                commit = field[1:].decode("ascii", "replace")
            elif field.startswith(b":"):
                _, new_mode, _, new_id = field[1:].decode("ascii", "replace").split(" ")[:4]
                path = _fsdecode(next(fields, b""))
                paths.setdefault(path, {})[commit] = _TreeEntry(new_mode, new_id)
        return paths

    def entry_at(self, commit: str, path: str) -> _TreeEntry:
        """The tree entry of path at commit (for commits --raw does not describe, e.g. merges)."""
        out = self("ls-tree", "-z", "--full-tree", commit, "--", path)
        for entry in out.split(b"\0"):
            meta, _, name = entry.partition(b"\t")
            if meta and _fsdecode(name) == path:
                mode, _, object_id = meta.decode("ascii", "replace").split(" ")[:3]
                return _TreeEntry(mode, object_id)
        return _TreeEntry(_DELETED_MODE, "")

    def commits_touching(self, path: str) -> list[_Commit]:
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
            commits.append(_Commit(sha, committed, authored, message))
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


def _why(exc: Exception) -> str:
    known = (GitError, RepositoryRefused, SourceLimitExceeded, _SkipBlock, _BadDiff)
    return str(exc) if isinstance(exc, known) else repr(exc)


def _as_text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _fsdecode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _fsencode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------- one learner


@dataclass
class _FileVersion:
    commit: _Commit
    text: str


class _SkipBlock(Exception):
    pass


class _BadDiff(Exception):
    pass


class _LearnerReader:
    def __init__(self, repo: Path, tz: tzinfo, limits: Limits = DEFAULT_LIMITS,
                 workspace: Path | None = None):
        self.repo = repo
        self.workspace = workspace
        self.user_id = repo.name
        self.tz = tz
        self.limits = limits
        self.budget = limits.max_learner_bytes  # bytes this learner may still have read
        self.files_seen = 0
        self.git: _Git
        self.history_entries: dict[str, dict[str, _TreeEntry]] = {}
        self.object_sizes: dict[str, int] = {}
        self.order: dict[str, int] = {}
        self.notes: list[SkippedRecord] = []

    # -- reporting

    def _key(self, rel: str) -> str:
        return f"{self.user_id}/{rel}"

    def _report(self, kind: str, rel: str, reason: str) -> None:
        self.notes.append(SkippedRecord(kind, self._key(rel), reason, SOURCE))

    # -- driver

    def read(self) -> list[ImportRecord]:
        try:
            with GitSandbox(self.repo, self.workspace) as sandbox:
                self.git = _Git(sandbox)
                return self._read(sandbox)
        except Exception as exc:  # one bad learner is reported, never the end of the run
            reason = f"unreadable v1 repository: {_why(exc)}"
            return [SkippedRecord("learner", self.user_id, reason, SOURCE)]

    def _read(self, sandbox: GitSandbox) -> list[ImportRecord]:
        head, limits = sandbox.facts.head, self.limits
        self._spend(sandbox.verify(max_object_bytes=limits.max_file_bytes,
                                   max_total_bytes=limits.max_learner_bytes), "its history")
        self.object_sizes = sandbox.object_sizes
        self.order = self.git.commit_order() if head else {}
        learner = LearnerRecord(
            user_id=self.user_id,
            source=SOURCE,
            source_key=self.user_id,
            metadata={
                "v1": {"head": head, "branch": sandbox.facts.branch, "commits": len(self.order)}
            },
        )
        if not head:
            self._report("note", ".git", "repository has no commits; only files on disk read")
        if sandbox.facts.shallow:
            self._report("note", ".git/shallow", "shallow repository: history before "
                         f"{len(sandbox.facts.shallow)} boundary commit(s) is not in it")
        blocks = self._read_blocks(head)
        learner.display_name = name_given_at_init(blocks)
        diffs = self._read_diffs({b.label: b for b in blocks if not b.deleted})
        return [learner, *blocks, *diffs, *self.notes]

    # -- limits

    def _spend(self, n: int, what: str) -> None:
        self.budget -= n
        if self.budget < 0:
            raise RepositoryRefused(
                f"reading {what} takes it over the learner limit of "
                f"{format_size(self.limits.max_learner_bytes)} (--max-learner-size)"
            )

    def _read_file(self, rel: str) -> bytes | None:
        """A work-tree file: no link followed, size capped; None when there is no such file."""
        raw = read_file_inside(self.repo, rel, self.limits.max_file_bytes)
        if raw is not None:
            self._spend(len(raw), rel)
        return raw

    def _folder(self, dirname: str) -> list[os.DirEntry] | None:
        """Entries of a work-tree folder (None: no folder); a linked folder refuses the learner."""
        try:
            mode = (self.repo / dirname).lstat().st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(mode):
            raise RepositoryRefused(f"{dirname}/ is a symbolic link; not followed")
        if not stat.S_ISDIR(mode):
            return None
        entries = []
        with os.scandir(self.repo / dirname) as it:
            for entry in it:
                entries.append(entry)
                if len(entries) > self.limits.max_files:
                    break
        self._count_files(len(entries), dirname + "/")
        return entries

    def _count_files(self, n: int, where: str) -> None:
        self.files_seen += n
        if self.files_seen > self.limits.max_files:
            raise RepositoryRefused(
                f"more than {self.limits.max_files:,} files (counted up to {where}), over the "
                "limit (--max-files)"
            )

    # -- blocks

    def _block_files(self, dirname: str, suffix: str, history: set[str]) -> dict[str, str]:
        """label -> relative path of every block file, on disk or anywhere in history.

        Only files directly in the folder count, as v1 only globbed ``{dir}/*{suffix}``.
        """
        found: dict[str, str] = {}
        rels = {p for p in history if p.startswith(dirname + "/")}
        on_disk = self._folder(dirname) or []
        self._count_files(len(rels - {f"{dirname}/{e.name}" for e in on_disk}), dirname + "/")
        for entry in on_disk:
            rel = f"{dirname}/{entry.name}"
            if entry.is_symlink():  # could point outside the learner's folder
                if rel not in history:
                    self._report("file", rel, "symbolic link; not followed")
            elif entry.name.endswith(suffix) and entry.is_file(follow_symlinks=False):
                rels.add(rel)
            elif rel not in history:
                self._report("file", rel, f"not a *{suffix} block file; v1 ignored it")
        for rel in sorted(rels):
            name = rel[len(dirname) + 1 :]
            if "/" in name or not name.endswith(suffix):
                self._report("file", rel, f"not directly in {dirname}/ as *{suffix}; v1 ignored it")
                continue
            label = name[: -len(suffix)]
            if not label:
                self._report("block", rel, "empty label")
            elif _fsencode(label).decode("utf-8", "replace") != label:
                self._report("block", rel, "file name is not valid UTF-8")
            else:
                found[label] = rel
        return found

    def _read_blocks(self, head: str | None) -> list[BlockRecord]:
        self.history_entries = self.git.paths_in_history(MD_DIR, TOML_DIR) if head else {}
        history = set(self.history_entries)
        md = self._block_files(MD_DIR, ".md", history)
        toml = self._block_files(TOML_DIR, ".toml", history)
        blocks = []
        for label in sorted(md.keys() | toml.keys()):
            try:
                if label in md:
                    blocks.append(self._md_block(label, md[label], toml.get(label), head))
                else:
                    blocks.append(self._toml_block(label, toml[label], head))
            except Exception as exc:  # one bad block is reported, never the end of the run
                self._report("block", md.get(label) or toml[label], f"not imported: {_why(exc)}")
        self._report_collisions(blocks)
        return blocks

    def _report_collisions(self, blocks: Iterable[BlockRecord]) -> None:
        groups: dict[str, list[BlockRecord]] = {}
        for block in blocks:
            groups.setdefault(_collation_key(block.label), []).append(block)
        for same in groups.values():
            if len(same) > 1:
                shown = ", ".join(repr(b.label) for b in same)
                self.notes.append(SkippedRecord(
                    "note",
                    same[0].source_key,
                    f"labels {shown} differ only by case, accents or Unicode normalisation; "
                    "they stay separate blocks, as they were separate files in v1",
                    SOURCE,
                ))

    def _history(self, rel: str, head: str | None) -> list[_FileVersion]:
        """Each commit that touched the file, oldest first, with the file's text at that commit."""
        if not head:
            return []
        commits = self.git.commits_touching(rel)
        known = self.history_entries.get(rel, {})
        entries = [known.get(c.sha) or self.git.entry_at(c.sha, rel) for c in commits]
        wanted = []
        for commit, entry in zip(commits, entries, strict=True):
            where = f"{rel}@{commit.sha[:12]}"
            if entry.mode in (_LINK_MODE, _GITLINK_MODE):
                what = "a symbolic link" if entry.mode == _LINK_MODE else "a submodule"
                self._report("file", where, f"{what} in this commit (mode {entry.mode}); "
                             "not followed, not a version")
            elif entry.mode not in _FILE_MODES:
                # the commit deleted the file; v1 never did, but a person could
                self._report("note", rel, f"deleted in commit {commit.sha}; not a version")
            elif self.object_sizes.get(entry.object_id, 0) > self.limits.max_file_bytes:
                size = self.object_sizes[entry.object_id]
                self._report("file", where,
                             f"{format_size(size)}, over the file limit of "
                             f"{format_size(self.limits.max_file_bytes)} (--max-file-size); "
                             "not imported")
            else:
                wanted.append(entry.object_id)
        # (their bytes were counted with the whole history by GitSandbox.verify)
        blobs = self.git.blobs(sorted(set(wanted)))
        return [
            _FileVersion(commit, self._decode(blobs[entry.object_id], f"{rel}@{commit.sha[:12]}"))
            for commit, entry in zip(commits, entries, strict=True)
            if entry.object_id in blobs and entry.mode in _FILE_MODES
        ]

    def _decode(self, raw: bytes, where: str) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self._report("note", where, "not valid UTF-8; undecodable bytes replaced with U+FFFD")
            return raw.decode("utf-8", "replace")

    def _worktree_text(self, rel: str) -> str | None:
        try:
            raw = self._read_file(rel)
        except SourceLimitExceeded as exc:  # a link, a FIFO, too big: the block is not read
            raise _SkipBlock(f"{exc} (--max-file-size)" if "over the limit" in str(exc)
                             else str(exc)) from None
        if raw is None:
            return None
        return self._decode(raw, rel)  # bytes: no newline translation

    def _version(self, fv: _FileVersion, rel: str, content: str, extra: dict) -> VersionRecord:
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
            import_key=_import_key(fv.commit.sha, rel),
            actor=map_actor(who),
            reason=fv.commit.subject,
            date=fv.commit.date,
            metadata={"v1": meta},
        )

    def _md_version(self, fv: _FileVersion, rel: str) -> VersionRecord:
        frontmatter, body = split_frontmatter(fv.text)
        return self._version(fv, rel, body, {"frontmatter": json_safe(frontmatter)})

    def _toml_versions(self, history: list[_FileVersion], rel: str) -> list[VersionRecord]:
        versions, verbatim = [], 0
        for fv in history:
            content, status = _convert_toml(fv.text)
            if status == "converted":
                versions.append(self._version(fv, rel, content, {"toml": fv.text}))
            else:
                verbatim += 1
                versions.append(self._version(fv, rel, content, {"toml_status": status}))
        if verbatim:
            self._report(
                "note", rel, f"{verbatim} of {len(history)} versions are invalid or empty TOML; "
                "imported verbatim",
            )
        return versions

    def _md_block(
        self, label: str, rel: str, toml_rel: str | None, head: str | None
    ) -> BlockRecord:
        history = self._history(rel, head)
        versions = [self._md_version(fv, rel) for fv in history]
        text, deleted = self._current_text(rel, history)
        frontmatter, body, invalid = _parse_frontmatter(text)
        if invalid:
            self._report("note", rel, "frontmatter is not a YAML mapping; whole file kept as body")
        v1: dict[str, Any] = {"era": "md", "path": rel, "frontmatter": json_safe(frontmatter)}
        block_key = frontmatter.get("block")
        if block_key is not None and str(block_key) != label:
            # v1 listed, served and versioned the block under its file name.
            self._report(
                "note", rel, f"frontmatter block: {block_key!r} differs from the file name; "
                f"imported as label {label!r}",
            )

        if toml_rel is not None:
            toml_history = self._history(toml_rel, head)
            versions = sorted(
                self._toml_versions(toml_history, toml_rel) + versions,
                key=lambda v: self.order.get(v.metadata["v1"]["commit"], len(self.order)),
            )
            v1["superseded_toml"] = {"path": toml_rel, "text": self._worktree_text(toml_rel)}
            self._report(
                "note", toml_rel, f"superseded by {rel} (v1's md era ignored TOML files); its "
                f"{len(toml_history)} versions imported as earlier versions of {label!r}",
            )

        committed = history[-1].text if history else None
        # For an uncommitted change, the frontmatter v1 wrote says when it happened.
        written_at = _aware_utc(frontmatter.get("updated_at"), timezone.utc)
        return self._block(label, rel, body, versions, v1, text, committed, written_at, deleted)

    def _current_text(self, rel: str, history: list[_FileVersion]) -> tuple[str, bool]:
        """(the file's text now, deleted): a file gone from the work tree is its last commit."""
        text = self._worktree_text(rel)
        if text is not None:
            return text, False
        if not history:
            raise _SkipBlock("no content on disk or in history")
        self._report("note", rel, "file missing from the work tree; imported as deleted")
        return history[-1].text, True

    def _toml_block(self, label: str, rel: str, head: str | None) -> BlockRecord:
        history = self._history(rel, head)
        versions = self._toml_versions(history, rel)
        text, deleted = self._current_text(rel, history)
        content, status = _convert_toml(text)
        v1: dict[str, Any] = {"era": "toml", "path": rel, "toml_status": status}
        if status == "converted":
            v1["toml"] = text
        else:
            self._report("note", rel, f"current content is {status} TOML; imported verbatim")
        committed = history[-1].text if history else None
        return self._block(label, rel, content, versions, v1, text, committed, None, deleted)

    def _block(
        self,
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
            self._report("note", rel, f"work-tree file {why}; imported as the current version")
            actor = IMPORT_ACTOR
            reason = f"Work-tree content of {rel} {why} in v1"
            updated_at = written_at or datetime.fromtimestamp(
                (self.repo / rel).lstat().st_mtime, timezone.utc
            )
        else:  # the file is as committed, so the newest version is the current content
            actor, reason, updated_at = versions[-1].actor, versions[-1].reason, versions[-1].date
        return BlockRecord(
            owner_type=OWNER_USER,
            owner_id=self.user_id,
            label=label,
            content=content,
            source=SOURCE,
            source_key=self._key(rel),
            current_key=_current_key(rel, content),
            versions=versions,
            metadata={"v1": v1},
            deleted=deleted,
            created_at=versions[0].date if versions else updated_at,
            updated_at=updated_at,
            current_actor=actor,
            current_reason=reason,
        )

    # -- pending diffs

    def _read_diffs(self, blocks: dict[str, BlockRecord]) -> list[DiffRecord]:
        diffs = []
        for entry in sorted(self._folder(DIFF_DIR) or [], key=lambda p: p.name):
            rel = f"{DIFF_DIR}/{entry.name}"
            if entry.is_symlink():  # could point outside the learner's folder
                self._report("file", rel, "symbolic link; not followed")
                continue
            if not (entry.name.endswith(".json") and entry.is_file(follow_symlinks=False)):
                self._report("file", rel, "not a pending-diff JSON file; v1 ignored it")
                continue
            try:
                raw = self._read_file(rel)
                if raw is None:
                    continue  # removed while we read
                data = loads_json(raw.decode("utf-8"), what=rel)
                if not isinstance(data, dict):
                    raise _BadDiff("not a JSON object")
                diffs.append(self._diff(entry.name[: -len(".json")], rel, data, blocks))
            except Exception as exc:  # v1's listing skipped files it could not parse, too
                self._report("diff", rel, f"unreadable pending diff: {_why(exc)}")
        return diffs

    def _diff(self, stem: str, rel: str, data: dict, blocks: dict[str, BlockRecord]) -> DiffRecord:
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
            self._report("note", rel, f"diff id {diff_id!r} differs from its file name")
        if data.get("user_id") not in (None, self.user_id):
            self._report("note", rel, f"user_id {data.get('user_id')!r} differs from the folder")

        target = blocks.get(label)
        if target is None:
            self._report("note", rel, f"diff targets block {label!r}, which does not exist")

        op, args, proposed_content, unappliable = self._map_operation(
            operation, snapshot, proposed, target
        )
        metadata: dict[str, Any] = {
            "v1": json_safe(data),
            "confidence": data.get("confidence"),
            "field": data.get("field"),
            "source_query": data.get("source_query"),
            "original_operation": operation,
            "original_status": status,
            "timezone": str(self.tz),
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
            owner_id=self.user_id,
            label=label,
            operation=op,
            arguments=args,
            status=mapped,
            source=SOURCE,
            import_key=diff_id,
            proposed_content=proposed_content,
            reasoning=_as_text(data.get("reasoning")),
            agent_id=_as_text(data.get("agent_id")),
            conflict_reason=conflict_reason,
            created_at=_aware_utc(data.get("created_at"), self.tz),
            reviewed_at=_aware_utc(data.get("reviewed_at"), self.tz),
            metadata=metadata,
        )

    @staticmethod
    def _map_operation(
        operation: str, snapshot: str, proposed: str, target: BlockRecord | None
    ) -> tuple[str, dict[str, Any], str | None, str]:
        """(canonical op, arguments, proposed content, why v1 could not apply it or "").

        The proposed content is what v1's approval would have written, computed from the block
        snapshot the diff carries (``current_value`` is the whole file at proposal time).
        """
        snapshot_body = split_frontmatter(snapshot)[1]
        if operation == "append":
            content = _v1_written_body(snapshot_body.rstrip() + "\n\n" + proposed)
            if target is None:
                return "create", {"content": content}, content, ""
            return "append", {"text": proposed}, content, ""
        if operation == "full_replace":
            content = _v1_written_body(proposed)
            if target is None:
                return "create", {"content": content}, content, ""
            return "rethink", {"content": content}, content, ""
        if operation == "replace":
            args = {"old_str": snapshot, "new_str": proposed}
            content = None
            if snapshot and snapshot in snapshot_body:
                content = _v1_written_body(snapshot_body.replace(snapshot, proposed, 1))
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
