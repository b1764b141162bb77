"""Reading import sources as untrusted data (design.md §7 "Import sources are untrusted data").

A source (a v1 data root, a Letta server, an Agent File) is written by someone else. The readers
use these helpers so that what they read is bounded and stays where it was asked for:

* :class:`Limits`: the caps, with their documented defaults (docs/imports.md), overridable by
  command options.
* :func:`read_file_inside`: a regular file under a folder, every path component opened with
  ``O_NOFOLLOW`` (a symbolic link anywhere is refused, not followed), size-capped before reading.
* :func:`loads_json`: ``json.loads`` that refuses documents nested deeper than
  :data:`MAX_JSON_DEPTH` instead of raising ``RecursionError`` (or storing what Dolt refuses).
* :func:`bounded_plain`: the same depth cap, plus a node budget, for parsed YAML (whose aliases
  can expand one small file into billions of nodes).

Every refusal is a :class:`SourceLimitExceeded` (a ``ValueError``) whose message says what was
refused and why; the readers report it as one skipped item and go on.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30

# Letta's own documents nest about 10 levels (tool JSON schemas the deepest); 64 leaves room for
# any real one and keeps what is stored under MySQL's JSON depth limit of 100 (Dolt: unmeasured).
MAX_JSON_DEPTH = 64
# Parsed YAML frontmatter: nodes visited when it is turned into JSON (aliases count each time).
MAX_YAML_NODES = 100_000


@dataclass(frozen=True)
class Limits:
    """Caps on what one import reads; the defaults fit real v1/Letta data with room to spare."""

    # v1: one block file, blob in history, pending diff or git metadata object. v1's largest
    # real blocks are ~290 KB.
    max_file_bytes: int = 2 * MIB
    # v1: files per learner (memory-blocks/, blocks/, pending_diffs/ and block paths in history).
    max_files: int = 10_000
    # v1: a learner's git history (uncompressed size of every reachable object) plus the
    # work-tree files read. A learner's records are held in memory until they are written.
    max_learner_bytes: int = 512 * MIB
    # Letta: one REST response, or one Agent File.
    max_response_bytes: int = 256 * MIB


DEFAULT_LIMITS = Limits()


class SourceLimitExceeded(ValueError):
    """Something in an import source is refused: too big, too deep, or outside where it may be."""


def format_size(n: int) -> str:
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


_SIZE = re.compile(r"\s*(\d+)\s*([kmg]?)(?:i?b)?\s*", re.IGNORECASE)


def size_argument(text: str) -> int:
    """``parse_size`` for an argparse ``type=``: a bad size is a usage error."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_size(text: str) -> int:
    """``"2M"``, ``"512MiB"``, ``"300k"``, ``"1048576"`` -> bytes (binary units), or ValueError."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (e.g. 1048576, 300K, 2M, 1G)")
    number, unit = int(match.group(1)), match.group(2).lower()
    value = number * {"": 1, "k": KIB, "m": MIB, "g": GIB}[unit]
    if value < 1:
        raise ValueError("a size must be at least 1 byte")
    return value


# --------------------------------------------------------------------------- files


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted in the source must not hang the import.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _parts(rel: str) -> list[str]:
    parts = rel.split("/")
    if not rel or any(p in ("", ".", "..") for p in parts) or "\0" in rel:
        raise SourceLimitExceeded(f"{rel!r} is not a plain relative path")
    return parts


def _refusal(exc: OSError, shown: str) -> SourceLimitExceeded | None:
    if exc.errno in (errno.ELOOP, errno.EMLINK):  # what O_NOFOLLOW answers for a link
        return SourceLimitExceeded(f"{shown} is a symbolic link; not followed")
    if exc.errno == errno.ENOTDIR:
        return SourceLimitExceeded(f"{shown} is not a folder (or is a link to one); not followed")
    return None


def open_dir_inside(base: Path, rel: str = "") -> int:
    """An fd of ``base/rel`` (a real folder, no link on the way; ``base`` itself included)."""
    try:
        fd = os.open(base, _DIR_FLAGS)
    except OSError as exc:
        raise _refusal(exc, base.name or str(base)) or exc
    done: list[str] = []
    try:
        for part in _parts(rel) if rel else []:
            done.append(part)
            try:
                new = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise _refusal(exc, "/".join(done)) or exc
            os.close(fd)
            fd = new
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_file_inside(base: Path, rel: str, max_bytes: int) -> bytes | None:
    """The bytes of the regular file ``base/rel``, or None if there is no such entry.

    Refused (:class:`SourceLimitExceeded`): a symbolic link as any component (``base`` itself
    too), anything but a regular file (FIFO, socket, device, folder), a file over ``max_bytes``.
    """
    parts = _parts(rel)
    try:
        parent = open_dir_inside(base, "/".join(parts[:-1]))
    except FileNotFoundError:
        return None
    try:
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _refusal(exc, rel) or exc
    finally:
        os.close(parent)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SourceLimitExceeded(f"{rel} is not a regular file; not read")
        if info.st_size > max_bytes:
            raise SourceLimitExceeded(
                f"{rel} is {format_size(info.st_size)}, over the limit of {format_size(max_bytes)}"
            )
        chunks, total = [], 0
        while total <= max_bytes:  # the file may grow while it is read: never past the cap
            chunk = os.read(fd, min(max_bytes + 1 - total, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise SourceLimitExceeded(f"{rel} is over the limit of {format_size(max_bytes)}")
        return b"".join(chunks)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- JSON / YAML


def _too_deep(what: str) -> SourceLimitExceeded:
    return SourceLimitExceeded(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels; not read")


def loads_json(data: str | bytes, *, what: str = "JSON document") -> Any:
    """``json.loads`` with a nesting cap: deeper documents raise SourceLimitExceeded.

    ``json`` itself raises RecursionError at about 1,000 levels, an exception no reader expects;
    documents under that are measured after parsing, without recursion.
    """
    try:
        value = json.loads(data)
    except RecursionError:
        raise _too_deep(what) from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise _too_deep(what)
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of lists and dicts (a scalar is 0), measured without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def bounded_plain(value: Any, *, what: str) -> Any:
    """Check parsed YAML before it is walked: depth and node count (aliases included) capped.

    PyYAML shares aliased nodes, so ``a: &x [..]`` with ``b: [*x, *x]`` repeated is a few lines
    that expand to billions of values, and ``&x [*x]`` is a cycle.
    """
    seen = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            children = list(item)
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise SourceLimitExceeded(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
        seen += len(children)
        if seen > MAX_YAML_NODES:
            raise SourceLimitExceeded(
                f"{what} expands to more than {MAX_YAML_NODES:,} values (YAML aliases?)"
            )
        stack.extend((child, depth + 1) for child in children)
    return value
