"""The one module that speaks Dolt SQL: commits, branches, merges, logs and diffs.

Everything here is parameterised (no string-built SQL with user data) and runs on a Django
connection. Dolt specifics we rely on (see ../shared/docs/dolt.md):

* A SQL COMMIT only updates the branch's working set; a Dolt commit is `CALL DOLT_COMMIT`.
* Concurrent transactions merge at COMMIT; a cell-level conflict fails the COMMIT with MySQL
  error 1213 (SQLSTATE 40001) and rolls the transaction back. `retry_on_conflict` is the single
  place that retries such a unit of work.
* There are no row locks: `select_for_update()` locks nothing.
* Branches are chosen by connecting to `<db>/<branch>`, never with DOLT_CHECKOUT on a pooled
  connection (`use_branch`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import OperationalError, connections, transaction
from django.db.models.expressions import RawSQL

logger = logging.getLogger(__name__)

SERIALIZATION_FAILURE = 1213  # ER_LOCK_DEADLOCK, what Dolt answers for a merge conflict
GENERIC_ERROR = 1105  # Dolt's "constraint violations ... transaction rolled back" arrives as this
BRANCH_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
SYSTEM_AUTHOR = "YouLab System <system@youlab.local>"


class DoltError(Exception):
    """A Dolt version-control operation failed."""


class SerializationFailure(DoltError):
    """A unit of work kept conflicting with concurrent writers after every retry."""


@dataclass(frozen=True)
class LogEntry:
    commit_hash: str
    author: str
    email: str
    date: datetime
    message: str


# --- long IN lists -----------------------------------------------------------------------------

# Dolt 2.2 plans `col IN (v1, …, vn)` in time that grows faster than n (at 100k blocks: 100 values
# 10 ms, 300 values 40-80 ms, 1000 values 700 ms per query), but `col IN (SELECT … FROM
# JSON_TABLE(…))` as a lookup join: 1,250 values in 15-100 ms (bench/admin.py, name searches).
SHORT_IN_LIST = 64


def in_values(values: Iterable[str]):
    """The right-hand side of a `field__in=` filter for many strings (≤ 255 characters each):
    the values themselves when there are few, else one JSON_TABLE of them."""
    values = list(dict.fromkeys(values))
    if len(values) <= SHORT_IN_LIST:
        return values
    return RawSQL(
        "SELECT j.v FROM JSON_TABLE(%s, '$[*]' COLUMNS (v VARCHAR(255) PATH '$')) AS j",
        [json.dumps(values, ensure_ascii=False)],
    )


# --- authors ---------------------------------------------------------------------------------


def author(name: str, email: str) -> str:
    """Format a Dolt author ("Name <email>"), stripping what would break the format."""
    clean_name = re.sub(r"[<>\n\r]", "", name).strip() or "unknown"
    clean_email = re.sub(r"[<>\s]", "", email) or "unknown@youlab.local"
    return f"{clean_name} <{clean_email}>"


# --- errors and retries ------------------------------------------------------------------------


def is_serialization_failure(exc: BaseException) -> bool:
    """True for Dolt's 'this transaction conflicts with a committed transaction' family."""
    if not isinstance(exc, OperationalError):
        return False
    args = getattr(exc, "args", ())
    code = args[0] if args else None
    message = str(args[1]) if len(args) > 1 else str(exc)
    if code == SERIALIZATION_FAILURE:
        return True
    # Unique/FK violations that only appear when Dolt merges concurrent transactions.
    return code == GENERIC_ERROR and "transaction rolled back" in message


def retry_on_conflict(fn, *args, attempts=6, base_delay=0.02, using="default", **kwargs):
    """Run `fn` (a whole unit of work with its own atomic()) and retry it on Dolt's 1213.

    Must be called outside any transaction: a retry re-runs the whole unit, which is only
    possible when the failed attempt was fully rolled back.
    """
    if connections[using].in_atomic_block:
        # Inside an outer transaction there is nothing we could safely re-run.
        return fn(*args, **kwargs)
    for attempt in range(1, attempts + 1):
        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            if not is_serialization_failure(exc):
                raise
            if attempt == attempts:
                raise SerializationFailure(
                    f"gave up after {attempts} attempts: concurrent writers kept conflicting"
                ) from exc
            delay = base_delay * (2 ** (attempt - 1)) * (1 + random.random())
            logger.info("dolt serialization failure (attempt %s); retrying in %.3fs", attempt, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


# --- commits -----------------------------------------------------------------------------------


def _cursor(using):
    return connections[using].cursor()


def commit(message: str, author_str: str = SYSTEM_AUTHOR, *, using="default", allow_empty=False):
    """Make a Dolt commit of everything in the working set; return its hash (None if nothing).

    Call it after the SQL transaction has committed (DOLT_COMMIT commits the current SQL
    transaction too, so inside an atomic block it would break the caller's atomicity).
    """
    if connections[using].in_atomic_block:
        raise DoltError("dolt.commit() must run after the transaction commits")
    args = ["-A", "-m", message, "--author", author_str]
    args.append("--allow-empty" if allow_empty else "--skip-empty")
    placeholders = ", ".join(["%s"] * len(args))
    with _cursor(using) as cursor:
        cursor.execute(f"CALL DOLT_COMMIT({placeholders})", args)
        row = cursor.fetchone()
    commit_hash = row[0] if row else None
    return commit_hash or None


def _split_author(author_str: str) -> tuple[str, str]:
    match = re.match(r"^(.*?)\s*<([^<>]*)>\s*$", author_str)
    if not match:
        return author_str.strip() or "unknown", "unknown@youlab.local"
    return match.group(1) or "unknown", match.group(2)


def _arm_transaction_commit(conn, message: str, author_str: str):
    """Make the coming SQL COMMIT also a Dolt commit with this message and author.

    @@dolt_transaction_commit turns the COMMIT itself into the Dolt commit, so the data and its
    Dolt commit land together or not at all (a crash between the two cannot happen).
    """
    name, email = _split_author(author_str)
    with conn.cursor() as cursor:
        cursor.execute(
            "SET @@dolt_transaction_commit = 1, @@dolt_transaction_commit_message = %s, "
            "@@dolt_author_name = %s, @@dolt_author_email = %s",
            [message, name, email],
        )


def _disarm_transaction_commit(conn):
    try:
        with conn.cursor() as cursor:
            cursor.execute("SET @@dolt_transaction_commit = 0")
    except Exception:
        # A connection we cannot reset must not carry the setting into unrelated work.
        conn.close()


@contextlib.contextmanager
def atomic(using="default", *, savepoint=True):
    """transaction.atomic() for a unit of work that ends in a Dolt commit (commit_on_success).

    As the outermost transaction, its COMMIT is the Dolt commit. Nested in a caller's
    transaction, the Dolt commit is deferred until that transaction commits (on_commit).
    `savepoint=False` (nested only): no savepoint around it, for a step whose failure fails the
    caller's whole unit anyway (two statements fewer, SAVEPOINT and RELEASE).
    """
    conn = connections[using]
    outermost = not conn.in_atomic_block
    if outermost:
        conn.dolt_pending_commits = []
    armed = False
    try:
        with transaction.atomic(using=using, savepoint=savepoint):
            yield
            if outermost and conn.dolt_pending_commits:
                messages = [m for m, _ in conn.dolt_pending_commits]
                _arm_transaction_commit(conn, "\n".join(messages), conn.dolt_pending_commits[0][1])
                armed = True
    finally:
        if outermost:
            conn.dolt_pending_commits = None
            if armed:
                _disarm_transaction_commit(conn)


def commit_on_success(message: str, author_str: str = SYSTEM_AUTHOR, *, using="default"):
    """Ask for a Dolt commit when the current unit of work commits.

    Inside `dolt.atomic()` (the outermost transaction) the SQL COMMIT becomes the Dolt commit;
    inside some other transaction it is made right after that commits; outside any
    transaction, right away. A rolled-back unit leaves no Dolt commit.
    """
    conn = connections[using]
    pending = getattr(conn, "dolt_pending_commits", None)
    if pending is not None and conn.in_atomic_block:
        pending.append((message, author_str))
    elif conn.in_atomic_block:
        transaction.on_commit(lambda: commit(message, author_str, using=using), using=using)
    else:
        commit(message, author_str, using=using)


def head(using="default") -> str:
    with _cursor(using) as cursor:
        cursor.execute("SELECT HASHOF('HEAD')")
        return cursor.fetchone()[0]


def log(limit: int = 50, offset: int = 0, using="default") -> list[LogEntry]:
    with _cursor(using) as cursor:
        cursor.execute(
            "SELECT commit_hash, author, author_email, author_date, message FROM dolt_log "
            "ORDER BY commit_order DESC, date DESC LIMIT %s OFFSET %s",
            [limit, offset],
        )
        rows = cursor.fetchall()
    return [LogEntry(*row) for row in rows]


def log_count(using="default") -> int:
    with _cursor(using) as cursor:
        cursor.execute("SELECT COUNT(*) FROM dolt_log")
        return cursor.fetchone()[0]


def status(using="default") -> list[tuple[str, bool, str]]:
    with _cursor(using) as cursor:
        cursor.execute("SELECT table_name, staged, status FROM dolt_status")
        return [tuple(r) for r in cursor.fetchall()]


# --- tables kept out of version control ---------------------------------------------------------


def ignore_table(name: str, using="default") -> None:
    """Keep the table `name` out of every Dolt commit (a `dolt_ignore` row).

    Must run before the table is first committed (Dolt ignores only untracked tables). Measured
    on Dolt 2.2.0: an ignored table never appears in dolt_status, `DOLT_COMMIT('-A')` and
    @@dolt_transaction_commit commits leave it out (a transaction that only changed it makes no
    commit), dolt_history_<t> is empty, AS OF and new branches do not have it; it stays in the
    branch's working set, which a merge into that branch keeps, `dolt_backup('sync')` copies and
    a sql-server cluster replicates.
    """
    with _cursor(using) as cursor:
        cursor.execute(
            "INSERT INTO dolt_ignore (pattern, ignored) VALUES (%s, 1) "
            "ON DUPLICATE KEY UPDATE ignored = 1",
            [name],
        )


def unignore_table(name: str, using="default") -> None:
    with _cursor(using) as cursor:
        cursor.execute("DELETE FROM dolt_ignore WHERE pattern = %s", [name])


def is_ignored(name: str, using="default") -> bool:
    """True when `dolt_ignore` names the table exactly and no commit on this branch holds it."""
    with _cursor(using) as cursor:
        cursor.execute("SELECT ignored FROM dolt_ignore WHERE pattern = %s", [name])
        row = cursor.fetchone()
        if not row or not row[0]:
            return False
        # dolt_diff walks every commit: fine for a check, not for a request path.
        cursor.execute(
            "SELECT COUNT(*) FROM dolt_diff WHERE table_name = %s AND commit_hash NOT IN ('WORKING', 'STAGED')",
            [name],
        )
        return cursor.fetchone()[0] == 0


@dataclass(frozen=True)
class TableChange:
    """A table whose working set differs from the branch's last commit."""

    table: str
    data_change: bool
    schema_change: bool


def uncommitted_changes(using="default") -> list[TableChange]:
    """What the connection's branch holds that its last commit does not (working set vs HEAD).

    A schema change is a change of the table's definition (dolt_schema_diff): dolt_diff_summary
    also flags one for every INSERT that moves an AUTO_INCREMENT counter. Tables Dolt never
    commits (dolt_ignore: user_api_key_secrets) are left out: dolt_schema_diff lists them as new
    tables for ever, dolt_status (what a commit would take) never does.
    """
    table = "COALESCE(NULLIF(to_table_name, ''), from_table_name)"
    with _cursor(using) as cursor:
        cursor.execute(f"SELECT {table}, data_change FROM dolt_diff_summary('HEAD', 'WORKING')")
        data = {name: bool(changed) for name, changed in cursor.fetchall()}
        cursor.execute(f"SELECT {table} FROM dolt_schema_diff('HEAD', 'WORKING')")
        schema = {name for (name,) in cursor.fetchall()}
        cursor.execute("SELECT DISTINCT table_name FROM dolt_status")
        committable = {name for (name,) in cursor.fetchall()}
    return [TableChange(name, data.get(name, False), name in schema)
            for name in sorted((data.keys() | schema) & committable)]


def ignored_tables(using="default") -> list[str]:
    """The dolt_ignore patterns that ignore (Dolt's `*` / `?` wildcards)."""
    with _cursor(using) as cursor:
        cursor.execute("SELECT pattern FROM dolt_ignore WHERE ignored ORDER BY pattern")
        return [row[0] for row in cursor.fetchall()]


# --- the schema: migrations are Dolt commits ---------------------------------------------------

MIGRATIONS_TABLE = "django_migrations"  # Django's record of applied migrations


def uncommitted_migrations(using="default") -> list[tuple[str, str]]:
    """Migrations recorded (or unrecorded) since the last commit: [("applied"|"unapplied", "app.name")].

    Read from Dolt itself (django_migrations, working set vs HEAD), so it also finds migrations an
    earlier `migrate` applied without committing them.
    """
    if MIGRATIONS_TABLE not in {table for table, _, _ in status(using)}:
        return []
    with _cursor(using) as cursor:
        cursor.execute(
            "SELECT diff_type, COALESCE(to_app, from_app), COALESCE(to_name, from_name) "
            "FROM dolt_diff('HEAD', 'WORKING', %s) ORDER BY COALESCE(to_id, from_id)",
            [MIGRATIONS_TABLE],
        )
        rows = cursor.fetchall()
    return [("unapplied" if kind == "removed" else "applied", f"{app}.{name}")
            for kind, app, name in rows]


def migrations_message(changes: list[tuple[str, str]]) -> str:
    """The commit message for a schema change: a summary line, then every migration by name."""
    applied = [name for kind, name in changes if kind == "applied"]
    unapplied = [name for kind, name in changes if kind == "unapplied"]
    summary = []
    if applied:
        summary.append(f"{len(applied)} applied")
    if unapplied:
        summary.append(f"{len(unapplied)} unapplied")
    lines = [f"Migrate: {', '.join(summary)}", ""]
    lines += [f"applied {name}" for name in applied]
    lines += [f"unapplied {name}" for name in unapplied]
    return "\n".join(lines)


def commit_migrations(author_str: str = SYSTEM_AUTHOR, *, using="default"):
    """Commit the schema if migrations changed since the last commit; return (hash, changes).

    One Dolt commit of the whole working set (a migration's tables and the rows its post-migrate
    steps wrote), on the connection's branch, its message listing the migrations. Nothing to
    commit: (None, []).
    """
    changes = uncommitted_migrations(using)
    if not changes:
        return None, []
    return commit(migrations_message(changes), author_str, using=using), changes


# --- branches ----------------------------------------------------------------------------------


def validate_branch_name(name: str) -> str:
    if not BRANCH_NAME_RE.match(name) or ".." in name or name.endswith("/"):
        raise DoltError(
            f"invalid branch name {name!r}: use letters, digits, '.', '_', '-' and '/'"
        )
    return name


def branches(using="default") -> list[str]:
    with _cursor(using) as cursor:
        cursor.execute("SELECT name FROM dolt_branches ORDER BY name")
        return [r[0] for r in cursor.fetchall()]


def active_branch(using="default") -> str:
    with _cursor(using) as cursor:
        cursor.execute("SELECT active_branch()")
        return cursor.fetchone()[0]


def create_branch(name: str, start: str = "main", using="default"):
    validate_branch_name(name)
    with _cursor(using) as cursor:
        cursor.execute("CALL DOLT_BRANCH(%s, %s)", [name, start])


def delete_branch(name: str, force=False, using="default"):
    validate_branch_name(name)
    with _cursor(using) as cursor:
        cursor.execute("CALL DOLT_BRANCH(%s, %s)", ["-D" if force else "-d", name])


def merge(branch: str, message: str, author_str: str = SYSTEM_AUTHOR, using="default") -> dict:
    """Merge `branch` into the connection's branch with a merge commit; raise on conflicts."""
    validate_branch_name(branch)
    with _cursor(using) as cursor:
        cursor.execute(
            "CALL DOLT_MERGE(%s, '--no-ff', '-m', %s, '--author', %s)",
            [branch, message, author_str],
        )
        row = cursor.fetchone()
    result = {"hash": row[0], "fast_forward": bool(row[1]), "conflicts": int(row[2] or 0)}
    if len(row) > 3:
        result["message"] = row[3]
    if result["conflicts"]:
        raise DoltError(f"merging {branch!r} produced {result['conflicts']} conflict(s)")
    return result


def diff_summary(from_ref: str, to_ref: str, using="default") -> list[dict]:
    """Per table: rows added / modified / removed between two refs (dolt_diff_summary)."""
    with _cursor(using) as cursor:
        cursor.execute(
            "SELECT to_table_name, diff_type, data_change, schema_change "
            "FROM dolt_diff_summary(%s, %s)",
            [from_ref, to_ref],
        )
        summary = [
            {"table": r[0], "diff_type": r[1], "data_change": bool(r[2]), "schema_change": bool(r[3])}
            for r in cursor.fetchall()
        ]
        for item in summary:
            cursor.execute(
                "SELECT diff_type, COUNT(*) FROM dolt_diff(%s, %s, %s) GROUP BY diff_type",
                [from_ref, to_ref, item["table"]],
            )
            counts = dict(cursor.fetchall())
            item["added"] = counts.get("added", 0)
            item["modified"] = counts.get("modified", 0)
            item["removed"] = counts.get("removed", 0)
    return summary


def database_name(using="default") -> str:
    """The plain database name of an alias (without any /branch suffix)."""
    return connections[using].settings_dict["NAME"].split("/", 1)[0]


@contextlib.contextmanager
def use_branch(name: str, using="default"):
    """Point the `using` alias at `<db>/<name>` for the duration (management commands only).

    Each Dolt branch is its own revision database; connecting to it is how DoltHub recommends
    selecting a branch. The alias's connection is closed before and after, so no pooled
    connection ever carries the branch into unrelated work.
    """
    validate_branch_name(name)
    conn = connections[using]
    if conn.in_atomic_block:
        raise DoltError("cannot switch branches inside a transaction")
    original = conn.settings_dict["NAME"]
    conn.close()
    conn.settings_dict["NAME"] = f"{database_name(using)}/{name}"
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict["NAME"] = original


# --- cluster -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterRole:
    role: str  # "primary", "standby", "detected_broken_config", or "" outside a cluster
    epoch: int


def cluster_role(using="default") -> ClusterRole:
    """This server's role in a Dolt cluster (direct-to-standby replication), "" when standalone."""
    with _cursor(using) as cursor:
        # SHOW, not SELECT @@…: a standalone server does not define these variables at all.
        cursor.execute("SHOW VARIABLES LIKE %s", ["dolt\\_cluster\\_role%"])
        values = dict(cursor.fetchall())
    return ClusterRole(role=values.get("dolt_cluster_role") or "",
                       epoch=int(values.get("dolt_cluster_role_epoch") or 0))


def cluster_status(using="default") -> list[dict]:
    """Replication towards each standby, as the primary sees it (call it in a cluster only)."""
    with _cursor(using) as cursor:
        cursor.execute(
            "SELECT `database`, standby_remote, role, epoch, replication_lag_millis, current_error "
            "FROM dolt_cluster.dolt_cluster_status WHERE `database` = %s",
            [database_name(using)],
        )
        rows = cursor.fetchall()
    return [
        {"database": r[0], "standby": r[1], "role": r[2], "epoch": int(r[3]),
         "lag_ms": None if r[4] is None else int(r[4]), "error": r[5] or None}
        for r in rows
    ]
