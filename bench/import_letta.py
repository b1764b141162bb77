"""Benchmark ``manage.py import_letta`` against a raw bulk INSERT of the same rows (issue 5).

Run by hand, never from the tests (a 10,000-learner run takes several minutes):

    .venv/bin/python bench/import_letta.py                  # 10,000 learners
    .venv/bin/python bench/import_letta.py --learners 1000  # a quick one

It needs the project's dolt sql-server (scripts/dolt.sh start); DOLT_HOST, DOLT_PORT,
DOLT_APP_USER and DOLT_APP_PASSWORD are read as manage.py reads them. Steps:

1. Generate a Letta-0.11.7-shaped SQLite database (bench/letta_generator.py): per learner one
   tutor agent, five blocks with ``--history-per-block`` checkpoints each, plus one shared course
   block (10,000 learners: 50,001 blocks, 200,000 block_history rows). Not timed.
2. Create two FRESH Dolt databases, ``bench_import_<ts>`` and ``bench_raw_<ts>``, and migrate both
   (``manage.py migrate`` with DOLT_DATABASE pointing at each). Not timed.
3. Import: ``manage.py import_letta --sqlite ...`` as a child process on bench_import, as an
   operator runs it. Wall time, and the child's peak RSS from os.wait4's rusage.
4. Raw baseline: the very rows the import wrote (blocks and block_history, read back from
   bench_import) inserted into bench_raw with MySQLdb: multi-row INSERT statements of
   ``--rows-per-insert`` rows, one transaction (COMMIT) each, then one DOLT_COMMIT, as the
   import ends. Only the INSERTs, COMMITs and the DOLT_COMMIT are timed, not the reading.
5. Print a table and one JSON line, then drop both databases and purge them
   (``CALL dolt_purge_dropped_databases()``) unless ``--keep``.

``--profile FILE`` runs the import under pyinstrument (``pip install pyinstrument`` into the venv;
it is not a project requirement) and writes its report (HTML for ``*.html``, else text); time and
RSS then include the profiler's overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import MySQLdb
import MySQLdb.cursors

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from letta_generator import generate  # noqa: E402 (the bench folder is not a package)

MANAGE = ROOT / "manage.py"
BLOCK_COLUMNS = [
    "id", "owner_type", "owner_id", "label", "content", "description", "char_limit", "read_only",
    "metadata", "version", "deleted_at", "created_at", "updated_at",
]
HISTORY_COLUMNS = [
    "history_id", "id", "owner_type", "owner_id", "label", "content", "description", "char_limit",
    "read_only", "metadata", "version", "deleted_at", "created_at", "updated_at",
    "history_change_reason", "history_date", "history_type", "diff_id", "history_user_id",
    "actor", "import_key",
]


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float | None = None


def connect(database: str | None = None, *, autocommit: bool = True) -> MySQLdb.Connection:
    conn = MySQLdb.connect(
        host=os.environ.get("DOLT_HOST", "127.0.0.1"),
        port=int(os.environ.get("DOLT_PORT", "3307")),
        user=os.environ.get("DOLT_APP_USER", "youlab"),
        password=os.environ.get("DOLT_APP_PASSWORD", "youlab-dev-password"),
        database=database or "",
        charset="utf8mb4",
    )
    conn.autocommit(autocommit)
    return conn


def child_env(database: str) -> dict[str, str]:
    env = dict(os.environ, DOLT_DATABASE=database)
    env.pop("DATABASE_URL", None)  # it would win over DOLT_DATABASE
    # DEBUG off, as in production: with DEBUG on Django keeps every query in memory.
    env.pop("DJANGO_DEBUG", None)
    env.setdefault("DJANGO_SECRET_KEY", f"bench-only-{secrets.token_hex(16)}")
    # With DEBUG off the settings want the password named (no development default).
    env.setdefault("DOLT_APP_PASSWORD", "youlab-dev-password")
    return env


def run_child(args: list[str], database: str, log: Path) -> Measured:
    """Run a child process to completion; its wall time and peak RSS (os.wait4's rusage)."""
    with log.open("wb") as out:
        started = time.perf_counter()
        child = subprocess.Popen(args, cwd=ROOT, env=child_env(database), stdout=out,
                                 stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.stderr.write(log.read_text(errors="replace")[-4000:])
        raise SystemExit(f"{' '.join(args[:4])} ... failed with exit code {child.returncode}")
    return Measured(seconds, usage.ru_maxrss / 1024)  # Linux: ru_maxrss is in KiB


def create_database(name: str, workdir: Path) -> None:
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                       "COLLATE utf8mb4_0900_ai_ci")
    run_child([sys.executable, str(MANAGE), "migrate", "--noinput", "-v", "0"], name,
              workdir / f"migrate-{name}.log")


def drop_databases(names: list[str]) -> None:
    with connect() as conn, conn.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute("CALL dolt_purge_dropped_databases()")


def table_count(database: str, table: str) -> int:
    with connect(database) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{table}`")
        return cursor.fetchone()[0]


def copy_rows_raw(source_db: str, target_db: str, rows_per_insert: int) -> tuple[Measured, int]:
    """Insert the rows the import wrote into `target_db`; time only the writes."""
    reader = connect(source_db)
    writer = connect(target_db, autocommit=False)
    spent, rows = 0.0, 0
    try:
        for table, columns in (("blocks", BLOCK_COLUMNS), ("block_history", HISTORY_COLUMNS)):
            # JSON read back as text: Dolt 2.2.0 returns '' for big JSON values on a plain scan.
            select = ", ".join(
                f"CAST(`{c}` AS CHAR)" if c == "metadata" else f"`{c}`" for c in columns)
            names = ", ".join(f"`{c}`" for c in columns)
            one_row = "(" + ", ".join(["%s"] * len(columns)) + ")"
            cursor = reader.cursor(MySQLdb.cursors.SSCursor)  # streamed, not held in memory
            cursor.execute(f"SELECT {select} FROM `{table}`")
            with writer.cursor() as out:
                while batch := cursor.fetchmany(rows_per_insert):
                    statement = (f"INSERT INTO `{table}` ({names}) VALUES "
                                 + ", ".join([one_row] * len(batch)))
                    params = [value for row in batch for value in row]
                    started = time.perf_counter()
                    out.execute(statement, params)
                    writer.commit()
                    spent += time.perf_counter() - started
                    rows += len(batch)
            cursor.close()
        started = time.perf_counter()
        with writer.cursor() as out:
            out.execute("CALL DOLT_COMMIT('-A', '-m', 'raw bulk insert (bench)')")
        spent += time.perf_counter() - started
    finally:
        reader.close()
        writer.close()
    return Measured(spent), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--history-per-block", type=int, default=4)
    parser.add_argument("--rows-per-insert", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="passed to import_letta --batch-size (default: the command's)")
    parser.add_argument("--profile", metavar="FILE",
                        help="pyinstrument report of the import (.html: HTML, else text)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and files")
    args = parser.parse_args()

    stamp = time.strftime("%Y%m%d_%H%M%S")
    import_db, raw_db = f"bench_import_{stamp}", f"bench_raw_{stamp}"
    workdir = Path(tempfile.mkdtemp(prefix="bench_import_letta_"))
    sqlite_path = workdir / "letta.sqlite3"

    print(f"Generating {args.learners} learners into {sqlite_path} ...", flush=True)
    started = time.perf_counter()
    generated = generate(sqlite_path, args.learners, args.history_per_block)
    print(f"  {generated} in {time.perf_counter() - started:.1f} s", flush=True)

    created: list[str] = []
    try:
        for name in (import_db, raw_db):
            print(f"Creating and migrating {name} ...", flush=True)
            created.append(name)
            create_database(name, workdir)

        command = [str(MANAGE), "import_letta", "--sqlite", str(sqlite_path),
                   "--report", str(workdir / "report.json")]
        if args.batch_size:
            command += ["--batch-size", str(args.batch_size)]
        if args.profile:
            renderer = "html" if args.profile.endswith(".html") else "text"
            command = ["-m", "pyinstrument", "--renderer", renderer, "-o", args.profile, *command]
        print("Importing with manage.py import_letta ...", flush=True)
        imported = run_child([sys.executable, *command], import_db, workdir / "import.log")
        blocks, history = table_count(import_db, "blocks"), table_count(import_db, "block_history")
        report = json.loads((workdir / "report.json").read_text())
        failed = sum(c.get("failed", 0) for c in report["counts"].values())
        if blocks != generated["blocks"] or failed:
            raise SystemExit(f"import incomplete: {blocks} blocks, {failed} failed (see "
                             f"{workdir / 'import.log'})")

        print("Raw bulk INSERT of the same rows ...", flush=True)
        raw, raw_rows = copy_rows_raw(import_db, raw_db, args.rows_per_insert)
        assert raw_rows == blocks + history, (raw_rows, blocks, history)
    finally:
        if args.keep:
            print(f"Kept: databases {', '.join(created)}; files in {workdir}")
        else:
            drop_databases(created)
            shutil.rmtree(workdir, ignore_errors=True)

    result = {
        "learners": args.learners,
        "blocks": blocks,
        "history_rows": history,
        "import_seconds": round(imported.seconds, 2),
        "import_blocks_per_s": round(blocks / imported.seconds, 1),
        "import_peak_rss_mb": round(imported.peak_rss_mb, 1),
        "raw_seconds": round(raw.seconds, 2),
        "raw_blocks_per_s": round(blocks / raw.seconds, 1),
        "ratio_import_to_raw": round(imported.seconds / raw.seconds, 2),
        "profiled": bool(args.profile),
    }
    print()
    print(f"{'':<22}{'blocks':>9}{'history':>10}{'seconds':>10}{'blocks/s':>11}{'peak RSS MB':>13}")
    print(f"{'import_letta':<22}{blocks:>9}{history:>10}{imported.seconds:>10.1f}"
          f"{blocks / imported.seconds:>11.0f}{imported.peak_rss_mb:>13.0f}")
    print(f"{'raw bulk INSERT':<22}{blocks:>9}{history:>10}{raw.seconds:>10.1f}"
          f"{blocks / raw.seconds:>11.0f}{'-':>13}")
    print(f"ratio import / raw: {imported.seconds / raw.seconds:.2f}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
