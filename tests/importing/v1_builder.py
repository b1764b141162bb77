"""Build YouLab v1-style learner repositories with the git CLI, for the v1 reader's tests.

Commits are made the way v1 made them (docs/youlab-v1-format.md §1, §3): repo-local user
"YouLab System <system@youlab.local>", one path per commit, message "{subject}\\n\\nAuthor: {who}"
stored verbatim, and controlled author/committer dates with an explicit UTC offset.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

BANGKOK = timezone(timedelta(hours=7))
GITIGNORE = "# YouLab user storage\n*.pyc\n__pycache__/\n"


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,  # no signing hooks or templates from the machine's config
        GIT_LITERAL_PATHSPECS="1",  # labels such as "notes[1]" are paths, not globs
    )
    return env


def run_git(cwd: Path, *args: str, stdin: str | None = None, env: dict | None = None) -> str:
    proc = subprocess.run(
        ["git", "-C", str(cwd), *args],
        input=stdin.encode("utf-8") if stdin is not None else None,
        capture_output=True,
        env={**_git_env(), **(env or {})},
        check=True,
    )
    return proc.stdout.decode("utf-8")


def git_date(when: datetime) -> str:
    """Git's raw date format "@<epoch> +hhmm", which keeps the given offset exactly."""
    offset = when.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"@{int(when.timestamp())} {sign}{minutes // 60:02d}{minutes % 60:02d}"


def frontmatter_file(meta: dict, body: str) -> str:
    """The bytes v1's md-era write puts on disk: PyYAML block style, no unicode, then the body."""
    dumped = yaml.dump(meta, default_flow_style=False, sort_keys=False, allow_unicode=False)
    return f"---\n{dumped}---\n\n{body}"


class V1Repo:
    """One learner's v1 work tree under ``root/user_id``, initialised like v1's ``init()``."""

    def __init__(
        self,
        root: Path,
        user_id: str,
        *,
        era: str = "md",
        start: datetime = datetime(2026, 1, 10, 9, 0, tzinfo=BANGKOK),
        step: timedelta = timedelta(minutes=7),
    ):
        self.path = Path(root) / user_id
        self.user_id = user_id
        self.clock = start
        self.step = step
        self.path.mkdir(parents=True)
        self.git("init", "-q", "-b", "master")
        self.git("config", "user.name", "YouLab System")
        self.git("config", "user.email", "system@youlab.local")
        (self.path / ("memory-blocks" if era == "md" else "blocks")).mkdir()
        (self.path / "pending_diffs").mkdir()
        self.write(".gitignore", GITIGNORE)
        self.commit(".gitignore", "Initialize user storage", who=None)

    def git(self, *args: str, stdin: str | None = None, env: dict | None = None) -> str:
        return run_git(self.path, *args, stdin=stdin, env=env)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def tick(self, when: datetime | None = None) -> datetime:
        if when is None:
            when, self.clock = self.clock, self.clock + self.step
        return when

    def write(self, rel: str, data: str | bytes) -> Path:
        """Write bytes to the work tree as they are (no newline translation)."""
        path = self.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    def commit(
        self,
        rel: str | None,
        subject: str,
        who: str | None = "user",
        when: datetime | None = None,
        allow_empty: bool = False,
    ) -> str:
        """Stage one path (as v1 did) and commit with the v1 message and trailer."""
        if rel is not None:
            self.git("add", "-A", "--", rel)
        message = subject if who is None else f"{subject}\n\nAuthor: {who}"
        stamp = git_date(self.tick(when))
        args = ["-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "--cleanup=verbatim"]
        if allow_empty:
            args.append("--allow-empty")
        self.git(*args, "-F", "-", stdin=message,
                 env={"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp})
        return self.head()

    # -- md era

    def md_text(self, label: str, body: str, *, meta: dict | None = None,
                when: datetime | None = None) -> str:
        updated = (when or self.clock).astimezone(timezone.utc).isoformat()
        full = {"block": label, **(meta or {})}
        full.setdefault("updated_at", updated)
        full.setdefault("title", label.replace("_", " ").title())
        return frontmatter_file(full, body)

    def write_md(self, label: str, body: str, *, who: str | None = "user",
                 subject: str | None = None, meta: dict | None = None,
                 when: datetime | None = None, commit: bool = True) -> str | None:
        """Write memory-blocks/{label}.md with frontmatter, then commit it (unless commit=False)."""
        rel = f"memory-blocks/{label}.md"
        self.write(rel, self.md_text(label, body, meta=meta, when=when))
        if not commit:
            return None
        return self.commit(rel, subject or f"Update {label}", who=who, when=when)

    # -- toml era

    def write_toml(self, label: str, text: str, *, who: str | None = "user",
                   subject: str | None = None, when: datetime | None = None) -> str:
        """Write blocks/{label}.toml verbatim and commit; identical bytes still make a commit."""
        rel = f"blocks/{label}.toml"
        self.write(rel, text)
        return self.commit(rel, subject or f"Update {label}", who=who, when=when, allow_empty=True)

    # -- pending diffs

    def write_diff(self, **fields) -> dict:
        """pending_diffs/{id}.json as v1 wrote it: json.dumps(asdict(diff), indent=2)."""
        diff = {
            "id": str(uuid.uuid4()),
            "user_id": self.user_id,
            "agent_id": "agent-00000000-0000-4000-8000-000000000001",
            "block_label": "student",
            "field": None,
            "operation": "append",
            "current_value": "",
            "proposed_value": "- something new",
            "reasoning": "No reasoning provided",
            "confidence": "medium",
            "source_query": None,
            "status": "pending",
            "created_at": "2026-01-12T10:00:00.123456",
            "reviewed_at": None,
            "applied_commit": None,
        }
        diff.update(fields)
        self.write(f"pending_diffs/{diff['id']}.json", json.dumps(diff, indent=2))
        return diff
