"""Run git on a repository someone else wrote, without letting the repository choose anything.

Git obeys a repository's own config: ``core.sshCommand`` with a promisor remote runs a program as
soon as an object is missing, ``core.fsmonitor`` and ``core.pager`` run programs, attribute
drivers run filters and textconv, ``include.path`` pulls in other files, hooks run on some
commands. So the learner's ``.git`` is never given to git as a repository:

1. :func:`inspect_git_dir` checks it with plain file reads (no link followed anywhere, sizes
   capped): ``.git`` must be a real folder (a ``gitdir:`` file or a link points elsewhere), no
   ``commondir`` or ``objects/info/alternates`` (objects from elsewhere), no partial clone or
   promisor remote (missing objects would be fetched), no unknown repository extension. Its
   config is parsed with ``git config --file … --no-includes`` only to find these refusals; git
   never uses it. HEAD and the refs are resolved here, in Python.
2. :class:`GitSandbox` builds a private, bare ``GIT_DIR`` in a temporary folder: our own config,
   ``HEAD`` = the resolved commit, the learner's objects reached through
   ``objects/info/alternates``. Git runs with that ``GIT_DIR``, an environment without any
   ``GIT_*`` variable of the caller, no system or global config or attributes, no pager,
   ``protocol.allow=never`` (every ``protocol.<name>.allow`` too), no lazy fetch, an empty
   hooks path, and commit-graph / multi-pack-index files ignored (they would be trusted).
3. :meth:`GitSandbox.verify` lists every object reachable from HEAD (``rev-list --objects
   --missing=print``): a missing object refuses the repository, and so do a commit or tree over
   the size cap and a history bigger than the learner's budget.

Everything refused raises :class:`RepositoryRefused` with a sentence saying why.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .safety import SourceLimitExceeded, format_size, read_file_inside

# Small metadata files of a repository (HEAD, a loose ref, config, shallow, packed-refs).
_MAX_REF_FILE = 4096
_MAX_CONFIG = 1 << 20
_MAX_PACKED_REFS = 64 << 20
_MAX_SYMREF_HOPS = 5

_HEX = {"sha1": re.compile(r"[0-9a-f]{40}"), "sha256": re.compile(r"[0-9a-f]{64}")}
# A ref name we are willing to look up (a subset of git check-ref-format).
_REF_NAME = re.compile(r"refs/(?:[A-Za-z0-9_.+@=,-]+/)*[A-Za-z0-9_.+@=,-]+")
# Extensions that change nothing about how objects and refs are read.
_HARMLESS_EXTENSIONS = {"noop", "noop-v1", "preciousobjects", "worktreeconfig"}
_PROTOCOLS = ("file", "git", "ssh", "http", "https", "ext", "fd", "ftp", "ftps")

# Given to every git call (command line config wins over every config file).
SAFE_CONFIG = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "core.attributesFile=/dev/null",
    "core.commitGraph=false",
    "core.multiPackIndex=false",
    "core.quotepath=false",
    "core.askPass=",
    "credential.helper=",
    "diff.external=",
    "gc.auto=0",
    "maintenance.auto=false",
    "fetch.recurseSubmodules=false",
    "protocol.allow=never",
    *(f"protocol.{name}.allow=never" for name in _PROTOCOLS),
    "log.follow=false",
    "log.showSignature=false",
    "i18n.logOutputEncoding=UTF-8",
)


class RepositoryRefused(Exception):
    """The repository is not read: the message says why."""


class GitError(RuntimeError):
    pass


@dataclass(frozen=True)
class RepoFacts:
    git_dir: Path
    head: str | None  # the commit HEAD names; None for an unborn branch
    branch: str | None  # short branch name when HEAD is a branch, else None
    object_format: str  # "sha1" or "sha256"
    shallow: tuple[str, ...]  # commits whose parents the repository does not hold


def _read(git_dir: Path, rel: str, cap: int) -> bytes | None:
    try:
        return read_file_inside(git_dir, rel, cap)
    except SourceLimitExceeded as exc:
        raise RepositoryRefused(f".git/{exc}") from None
    except OSError as exc:
        raise RepositoryRefused(f"cannot read .git/{rel}: {exc.strerror or exc}") from None


def _check_no_links(git_dir: Path, rel: str) -> None:
    """Refuse a link or special file anywhere under .git/rel (git would follow or open it)."""
    top = git_dir / rel
    try:
        info = top.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise RepositoryRefused(f".git/{rel} is a symbolic link; not followed")
    if not stat.S_ISDIR(info.st_mode):
        if not stat.S_ISREG(info.st_mode):
            raise RepositoryRefused(f".git/{rel} is not a regular file")
        return
    stack = [top]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    shown = Path(entry.path).relative_to(git_dir)
                    raise RepositoryRefused(f".git/{shown} is a symbolic link; not followed")
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif not entry.is_file(follow_symlinks=False):
                    shown = Path(entry.path).relative_to(git_dir)
                    raise RepositoryRefused(f".git/{shown} is not a regular file")


def check_git_entry(worktree: Path) -> Path:
    """The learner's .git folder; refused when it is a link, a ``gitdir:`` file or not a folder."""
    git_dir = worktree / ".git"
    info = git_dir.lstat()  # FileNotFoundError: no repository at all (the caller reports it)
    if stat.S_ISLNK(info.st_mode):
        raise RepositoryRefused(
            f".git is a symbolic link (to {os.readlink(git_dir)!r}); another repository is "
            "not read"
        )
    if stat.S_ISREG(info.st_mode):
        first = (_read(worktree, ".git", _MAX_REF_FILE) or b"").split(b"\n", 1)[0]
        raise RepositoryRefused(
            f".git is a file ({first.decode('utf-8', 'replace')[:200]!r}) naming a repository "
            "elsewhere; not followed"
        )
    if not stat.S_ISDIR(info.st_mode):
        raise RepositoryRefused(".git is not a folder")
    return git_dir


def _run_git_config(sandbox_env: dict[str, str], cwd: Path, config: Path) -> list[tuple[str, str]]:
    proc = subprocess.run(
        ["git", "--no-pager", *_config_args(), "config", "--file", str(config), "--no-includes",
         "--list", "-z"],
        capture_output=True, env=sandbox_env, cwd=cwd, check=False,
    )
    if proc.returncode:
        why = proc.stderr.decode("utf-8", "replace").strip()[:300]
        raise RepositoryRefused(f"its git config cannot be parsed: {why}")
    pairs = []
    for item in proc.stdout.split(b"\0"):
        if item:
            key, _, value = item.decode("utf-8", "replace").partition("\n")
            pairs.append((key, value))
    return pairs


def _config_refusals(pairs: list[tuple[str, str]]) -> tuple[str, int]:
    """(object format, repositoryformatversion); RepositoryRefused for what we cannot allow."""
    version, object_format = 0, "sha1"
    for key, value in pairs:
        lower = key.lower()
        section, _, name = lower.partition(".")
        name = name.rsplit(".", 1)[-1]
        if lower == "core.repositoryformatversion":
            if value.strip() not in ("0", "1"):
                raise RepositoryRefused(f"unknown repository format version {value!r}")
            version = int(value.strip())
        elif section == "extensions":
            if name == "partialclone":
                raise RepositoryRefused(
                    f"it declares itself a partial clone (extensions.partialClone={value!r}): "
                    "git would fetch missing objects from another repository; not read"
                )
            if name == "objectformat":
                if value.strip().lower() not in _HEX:
                    raise RepositoryRefused(f"unknown object format {value!r}")
                object_format = value.strip().lower()
            elif name not in _HARMLESS_EXTENSIONS:
                raise RepositoryRefused(f"repository extension {key}={value!r} is not supported")
        elif section == "remote" and name in ("promisor", "partialclonefilter"):
            raise RepositoryRefused(
                f"it has a promisor remote ({key}={value!r}): git would fetch missing objects "
                "from another repository; not read"
            )
    return object_format, version


def _resolve_head(git_dir: Path, object_format: str) -> tuple[str | None, str | None]:
    """(commit, branch) named by HEAD, following symbolic refs and packed-refs ourselves."""
    hex_re = _HEX[object_format]
    name, branch = "HEAD", None
    for _ in range(_MAX_SYMREF_HOPS):
        raw = _read(git_dir, name, _MAX_REF_FILE)
        if raw is None:
            if name == "HEAD":
                raise RepositoryRefused(".git/HEAD is missing")
            # Not a loose ref: packed, or a branch with no commit yet (unborn).
            return _packed_refs(git_dir, hex_re).get(name), branch
        text = raw.decode("utf-8", "replace").strip()
        if hex_re.fullmatch(text):
            return text, branch
        if not text.startswith("ref:"):
            raise RepositoryRefused(f".git/{name} holds neither a ref nor an object id")
        target = text[4:].strip()
        if not _REF_NAME.fullmatch(target) or ".." in target or target.endswith(".lock"):
            raise RepositoryRefused(f"HEAD names an unusable ref {target[:200]!r}")
        if branch is None and target.startswith("refs/heads/"):
            branch = target[len("refs/heads/"):]
        name = target
    raise RepositoryRefused(f"HEAD is a chain of more than {_MAX_SYMREF_HOPS} symbolic refs")


def _packed_refs(git_dir: Path, hex_re: re.Pattern) -> dict[str, str]:
    raw = _read(git_dir, "packed-refs", _MAX_PACKED_REFS) or b""
    refs = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line or line[0] in "#^":
            continue
        sha, _, ref = line.partition(" ")
        if hex_re.fullmatch(sha):
            refs[ref.strip()] = sha
    return refs


def inspect_git_dir(worktree: Path, env: dict[str, str], cwd: Path) -> RepoFacts:
    """Check a learner's .git with plain reads; RepositoryRefused for anything we do not read."""
    if "\n" in str(worktree) or "\r" in str(worktree):
        raise RepositoryRefused("its path contains a line break")
    git_dir = check_git_entry(worktree)
    for rel in ("HEAD", "config", "packed-refs", "shallow", "commondir", "refs", "objects"):
        _check_no_links(git_dir, rel)
    if (git_dir / "commondir").exists():
        raise RepositoryRefused(
            ".git/commondir: a linked work tree whose objects and refs live in another "
            "repository; not read"
        )
    if not (git_dir / "objects").is_dir():
        raise RepositoryRefused(".git has no objects folder")
    alternates = _read(git_dir, "objects/info/alternates", _MAX_CONFIG)
    if alternates and alternates.strip():
        raise RepositoryRefused(
            ".git/objects/info/alternates borrows objects from another repository "
            f"({alternates.strip().splitlines()[0].decode('utf-8', 'replace')[:200]!r}); not read"
        )
    config = _read(git_dir, "config", _MAX_CONFIG)
    object_format = "sha1"
    if config is not None:
        object_format, _ = _config_refusals(_run_git_config(env, cwd, git_dir / "config"))
    head, branch = _resolve_head(git_dir, object_format)
    shallow_raw = _read(git_dir, "shallow", _MAX_PACKED_REFS) or b""
    shallow = tuple(line for line in shallow_raw.decode("ascii", "replace").split() if line)
    if any(not _HEX[object_format].fullmatch(line) for line in shallow):
        raise RepositoryRefused(".git/shallow holds something other than object ids")
    return RepoFacts(git_dir.resolve(), head, branch, object_format, shallow)


def _config_args() -> list[str]:
    args = []
    for item in SAFE_CONFIG:
        args += ["-c", item]
    return args


def _sandbox_env(private: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("GIT_") and k not in ("SSH_ASKPASS", "PAGER", "LESS", "EDITOR",
                                                   "VISUAL", "XDG_CONFIG_HOME", "HOME")
    }
    env.update(
        GIT_DIR=str(private),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_ATTR_NOSYSTEM="1",
        GIT_NO_REPLACE_OBJECTS="1",
        GIT_NO_LAZY_FETCH="1",  # git >= 2.44; older gits have no lazy fetch without a promisor
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
        GIT_PROTOCOL_FROM_USER="0",
        GIT_PAGER="cat",
        PAGER="cat",
        HOME=str(private),  # no ~/.gitconfig, ~/.config/git/*
        XDG_CONFIG_HOME=str(private),
    )
    return env


class GitSandbox:
    """A private GIT_DIR for reading one learner's repository; use as a context manager.

    ``workspace``: an empty folder of ours to build the GIT_DIR in, reused learner after learner
    (it is rebuilt each time and left for its owner to remove); by default a temporary folder
    made and removed here.
    """

    def __init__(self, worktree: Path, workspace: Path | None = None):
        self.owned = workspace is None
        self.private = Path(tempfile.mkdtemp(prefix="youlab-v1-git-")) if self.owned else workspace
        self.object_sizes: dict[str, int] = {}
        try:
            self.env = _sandbox_env(self.private)
            self.facts = inspect_git_dir(worktree, self.env, self.private)
            self._build()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> GitSandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.owned:
            shutil.rmtree(self.private, ignore_errors=True)

    def _build(self) -> None:
        facts = self.facts
        (self.private / "shallow").unlink(missing_ok=True)  # a reused workspace: the last learner's
        (self.private / "refs").mkdir(exist_ok=True)
        (self.private / "objects" / "info").mkdir(parents=True, exist_ok=True)
        (self.private / "objects" / "info" / "alternates").write_text(
            f"{facts.git_dir / 'objects'}\n", encoding="utf-8"
        )
        if facts.object_format == "sha1":
            config = "[core]\n\trepositoryformatversion = 0\n\tbare = true\n"
        else:
            config = ("[core]\n\trepositoryformatversion = 1\n\tbare = true\n"
                      f"[extensions]\n\tobjectformat = {facts.object_format}\n")
        (self.private / "config").write_text(config, encoding="utf-8")
        head = facts.head or "ref: refs/heads/unborn"
        (self.private / "HEAD").write_text(head + "\n", encoding="utf-8")
        if facts.shallow:
            (self.private / "shallow").write_text("\n".join(facts.shallow) + "\n", encoding="utf-8")

    def __call__(self, *args: str, stdin: bytes | None = None) -> bytes:
        cmd = ["git", "--no-pager", "--no-replace-objects", *_config_args(),
               "--literal-pathspecs", *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, env=self.env,
                              cwd=self.private, check=False)
        if proc.returncode:
            stderr = proc.stderr.decode("utf-8", "replace").strip()
            raise GitError(f"git {args[0]} failed ({proc.returncode}): {stderr[:500]}")
        return proc.stdout

    def verify(self, *, max_object_bytes: int, max_total_bytes: int) -> int:
        """Every object reachable from HEAD is present and within the caps; returns their size
        (each object's size is kept in ``object_sizes``).

        A missing object refuses the repository (git would have tried a promisor, a lazy fetch
        or an alternate for it); so does a commit or tree over ``max_object_bytes`` and a history
        whose objects together exceed ``max_total_bytes``.
        """
        if not self.facts.head:
            return 0
        listed = self("rev-list", "--objects", "--no-object-names", "--missing=print",
                      self.facts.head).split()
        missing = [o[1:].decode() for o in listed if o.startswith(b"?")]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise RepositoryRefused(
                f"objects are missing from its object store ({missing[0]}{more}); not read"
            )
        out = self("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)",
                   stdin=b"\n".join(listed) + b"\n")
        total = 0
        for line in out.splitlines():
            parts = line.split(b" ")
            if len(parts) != 3 or not parts[2].isdigit():
                raise RepositoryRefused(f"object unreadable: {line.decode('utf-8', 'replace')}")
            object_id, kind, size = parts[0].decode(), parts[1], int(parts[2])
            self.object_sizes[object_id] = size
            total += size
            if kind != b"blob" and size > max_object_bytes:
                raise RepositoryRefused(
                    f"a {kind.decode()} object of {format_size(size)} is over the limit of "
                    f"{format_size(max_object_bytes)}"
                )
        if total > max_total_bytes:
            raise RepositoryRefused(
                f"its history holds {format_size(total)}, over the learner limit of "
                f"{format_size(max_total_bytes)} (--max-learner-size)"
            )
        return total
