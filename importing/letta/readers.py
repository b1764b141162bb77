"""The Letta readers: one source → import records, through its snapshot and the mapping."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ..records import ImportRecord
from ..safety import DEFAULT_LIMITS, Limits
from .agent_file import load_agent_files
from .mapping import map_letta
from .postgres import load_postgres
from .rest import load_api
from .snapshot import LettaSnapshot
from .sqlite import load_sqlite


def _records(snap: LettaSnapshot, user_id: str | None) -> Iterator[ImportRecord]:
    try:
        yield from map_letta(snap, user_id=user_id)
    finally:
        snap.close()  # deletes the spill file now rather than whenever the snapshot is collected


def read_sqlite(path: str | Path, *, user_id: str | None = None) -> Iterator[ImportRecord]:
    """Records from a Letta ≤0.11 SQLite file. Raises ImportSourceError if it cannot be read."""
    return _records(load_sqlite(path), user_id)


def read_postgres(url: str, *, user_id: str | None = None) -> Iterator[ImportRecord]:
    """Records from a Letta ≥0.12 PostgreSQL database (``postgresql://…``)."""
    return _records(load_postgres(url), user_id)


def read_api(base_url: str, token: str | None = None, *, user_id: str | None = None,
             timeout: float = 30.0, limits: Limits = DEFAULT_LIMITS) -> Iterator[ImportRecord]:
    """Records from a running Letta server's REST API (token sent as ``Bearer``, to that server
    only: redirects elsewhere are refused)."""
    return _records(load_api(base_url, token, timeout=timeout, limits=limits), user_id)


def read_agent_file(path: str | Path, *, user_id: str | None = None) -> Iterator[ImportRecord]:
    """Records from one Agent File (v2, legacy v1, or either JSON-encoded twice)."""
    return read_agent_files([path], user_id=user_id)


def read_agent_files(paths: Iterable[str | Path], *, user_id: str | None = None,
                     limits: Limits = DEFAULT_LIMITS) -> Iterator[ImportRecord]:
    """Records from several Agent Files read together (``--agent-file`` repeated)."""
    return _records(load_agent_files(paths, limits=limits), user_id)

