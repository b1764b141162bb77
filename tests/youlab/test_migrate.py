"""Schema history is Dolt history (issue 19): `migrate` on an empty data directory, and after it.

These run `manage.py` as an operator does, in child processes, against a private dolt
sql-server started by scripts/dolt.sh on an empty data directory (`own_dolt`, the hardening
tests' server, reused), never the shared server. scripts/dolt.sh bootstrapped its one database,
DATABASE, exactly as `make run` bootstraps `youlab`.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.hardening.conftest import ROOT, own_dolt  # noqa: F401 (own_dolt: the fixture)

DATABASE = "hardening"  # the name the own_dolt server bootstraps (scripts/dolt.sh start)

SQLITE = ROOT / "tests" / "fixtures" / "letta" / "letta-0.11.7.sqlite3"
LETTA_BLOCKS = 33  # the 0.11.7 fixture: 6 learners x 5 labels, 2 shared blocks, 1 soft-deleted
DJANGOS_OWN_MIGRATE = (
    "import django; django.setup(); from django.core.management import call_command; "
    "from django.core.management.commands.migrate import Command; "
    "call_command(Command(), interactive=False, verbosity=0)"
)


def manage(own_dolt, database: str, *args: str, check: bool = True,
           **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=300,
                            env=own_dolt.env(database, DJANGO_DEBUG="1", **env))
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def status(own_dolt, database: str) -> list[tuple]:
    return own_dolt.query(database, "SELECT table_name, status FROM dolt_status")


def log(own_dolt, database: str) -> list[tuple]:
    return own_dolt.query(database, "SELECT commit_hash, author, author_email, message "
                                    "FROM dolt_log ORDER BY commit_order DESC")


@pytest.fixture(scope="module")
def migrated(own_dolt):
    """The empty data directory's database after one `manage.py migrate` (as `make run`)."""
    database = DATABASE
    assert status(own_dolt, database) == [] and own_dolt.query(database, "SHOW TABLES") == []
    out = manage(own_dolt, database, "migrate", "--noinput").stdout
    return database, out


def test_migrate_on_an_empty_data_directory_ends_in_one_commit(own_dolt, migrated):
    database, out = migrated
    assert status(own_dolt, database) == []  # nothing left in the working set

    (head_hash, author, email, message), *_ = log(own_dolt, database)
    assert (author, email) == ("YouLab System", "system@youlab.local")
    recorded = [f"{app}.{name}" for app, name in own_dolt.query(
        database, "SELECT app, name FROM django_migrations ORDER BY id")]
    assert message == "\n".join([f"Migrate: {len(recorded)} applied", ""]
                                + [f"applied {name}" for name in recorded])
    assert "blocks.0001_initial" in recorded and "sessions.0001_initial" in recorded
    assert f"Dolt commit {head_hash}: {len(recorded)} migration(s)" in out

    # The schema is in main's history: readable as of main, and as of that very commit.
    assert own_dolt.query(database, "SELECT COUNT(*) FROM blocks AS OF 'main'") == [(0,)]
    assert own_dolt.query(database, f"SELECT COUNT(*) FROM pending_diffs AS OF '{head_hash}'") == [
        (0,)]


def test_migrate_again_changes_nothing_and_commits_nothing(own_dolt, migrated):
    database, _ = migrated
    before = log(own_dolt, database)
    out = manage(own_dolt, database, "migrate", "--noinput").stdout
    assert "No migrations to apply." in out and "Dolt commit" not in out
    assert log(own_dolt, database) == before and status(own_dolt, database) == []


def test_make_run_superuser_leaves_the_working_set_clean_too(own_dolt, migrated):
    database, _ = migrated
    manage(own_dolt, database, "ensure_superuser", DJANGO_SUPERUSER_USERNAME="admin",
           DJANGO_SUPERUSER_PASSWORD="a-dev-password")  # what `make run SUPERUSER=1` runs
    assert own_dolt.query(database, "SELECT username, is_superuser FROM auth_user") == [
        ("admin", 1)]
    assert status(own_dolt, database) == []
    assert log(own_dolt, database)[0][3] == "Create development superuser admin"


def test_branch_import_then_merge_on_a_freshly_migrated_database(own_dolt, migrated):
    database, _ = migrated
    first = manage(own_dolt, database, "import_letta", "--sqlite", str(SQLITE), "--branch", "x")
    assert "on branch x" in first.stdout and f"blocks +{LETTA_BLOCKS} ~0 -0" in first.stdout
    assert own_dolt.query(database, "SELECT COUNT(*) FROM blocks") == [(0,)]  # main untouched
    assert own_dolt.query(f"{database}/x", "SELECT COUNT(*) FROM blocks") == [(LETTA_BLOCKS,)]

    merged = manage(own_dolt, database, "import_letta", "--sqlite", str(SQLITE), "--branch", "x",
                    "--merge")
    assert "Merged x into main" in merged.stdout
    assert own_dolt.query(database, "SELECT COUNT(*) FROM blocks") == [(LETTA_BLOCKS,)]
    assert status(own_dolt, database) == []
    assert log(own_dolt, database)[0][3].startswith("Merge x: import letta:sqlite")


@pytest.mark.parametrize("command", ["import_letta", "import_youlab_v1"])
def test_user_nobody_is_named_with_a_non_zero_exit(own_dolt, migrated, command, tmp_path):
    database, _ = migrated
    source = ["--sqlite", str(SQLITE)] if command == "import_letta" else [str(tmp_path)]
    before = log(own_dolt, database)

    result = manage(own_dolt, database, command, *source, "--user", "nobody", check=False)

    assert result.returncode == 1
    assert "CommandError: --user nobody: " in result.stderr and "Traceback" not in result.stderr
    assert "NOT FOUND: --user nobody" in result.stdout
    assert log(own_dolt, database) == before


def test_branch_is_refused_while_main_has_uncommitted_block_rows(own_dolt, migrated):
    database, _ = migrated
    own_dolt.query(database, "INSERT INTO blocks (id, owner_type, owner_id, label, content, "
                             "description, read_only, metadata, version, created_at, updated_at) "
                             "VALUES (REPLACE(UUID(), '-', ''), 'user', 'raw', 'notes', 'x', '', "
                             "0, '{}', 1, NOW(), NOW())")  # raw SQL: no Dolt commit
    before = own_dolt.query(database, "SELECT name FROM dolt_branches ORDER BY name")
    try:
        result = manage(own_dolt, database, "import_letta", "--sqlite", str(SQLITE),
                        "--branch", "y", check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "CommandError: main has uncommitted changes in blocks that a branch would not " \
               "carry" in result.stderr
        assert own_dolt.query(database, "SELECT name FROM dolt_branches ORDER BY name") == before
    finally:
        own_dolt.query(database, "CALL DOLT_CHECKOUT('blocks')")  # discarded again


def test_a_database_migrated_without_commits_is_committed_by_the_next_migrate(own_dolt):
    """Databases migrated before migrate made commits: the next `migrate` records the schema."""
    database = "migrated_earlier"
    with own_dolt.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 "
                       "COLLATE utf8mb4_0900_ai_ci")
    subprocess.run([sys.executable, "-c", DJANGOS_OWN_MIGRATE], cwd=ROOT, check=True,
                   env=own_dolt.env(database), timeout=300)
    assert ("blocks", "new table") in status(own_dolt, database)  # the gap issue 19 found
    recorded = own_dolt.query(database, "SELECT COUNT(*) FROM django_migrations")[0][0]

    out = manage(own_dolt, database, "migrate", "--noinput",
                 "--author", "Olga Operator <olga@example.org>").stdout

    assert "No migrations to apply." in out and f"{recorded} migration(s) recorded" in out
    (_, author, email, message), *_ = log(own_dolt, database)
    assert (author, email) == ("Olga Operator", "olga@example.org")
    assert message.startswith(f"Migrate: {recorded} applied\n\napplied ")
    assert status(own_dolt, database) == []


def test_branch_import_on_a_database_migrated_without_commits(own_dolt):
    """The crash issue 19 found: the branch started with no tables. Now main's schema is committed
    first (as `migrate` would) and the branch starts from that commit."""
    database = "migrated_by_django"
    with own_dolt.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 "
                       "COLLATE utf8mb4_0900_ai_ci")
    subprocess.run([sys.executable, "-c", DJANGOS_OWN_MIGRATE], cwd=ROOT, check=True,
                   env=own_dolt.env(database), timeout=300)

    result = manage(own_dolt, database, "import_letta", "--sqlite", str(SQLITE), "--branch", "x",
                    "--merge")

    assert "Note: main's schema was not in a Dolt commit" in result.stdout
    assert "Merged x into main" in result.stdout and "Traceback" not in result.stderr
    messages = [row[3].split("\n", 1)[0] for row in log(own_dolt, database)[:4]]
    assert messages[0].startswith("Merge x: import letta:sqlite")
    assert messages[1].startswith("Import letta:sqlite")  # on the branch
    assert messages[2].startswith("Migrate: ")
    assert own_dolt.query(database, "SELECT COUNT(*) FROM blocks") == [(LETTA_BLOCKS,)]
    assert status(own_dolt, database) == []
