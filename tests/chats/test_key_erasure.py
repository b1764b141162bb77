"""Deleted means gone (design.md §3 `user_api_keys`): after set → replace → rotate_secrets →
delete, nothing stored in the database or in any of Dolt's history (every commit made meanwhile,
on every branch, dolt_history_* and dolt_diff_* of the key tables) decrypts to either key with the
app's Fernet keys, old and new. The ciphertext lives in user_api_key_secrets, which dolt_ignore
keeps out of every commit (docs/security.md)."""

from __future__ import annotations

import datetime
import io

import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.core.management import call_command
from django.db import connection

from chats import services
from chats.models import SECRET_TABLE
from tests.factories import make_agent_key, make_block
from tests.support import client_for_key
from youlab import dolt
from youlab.actors import Actor

KEY_A = "sk-first-key-0123456789abcdefAAAA"
KEY_B = "sk-second-key-9876543210fedcbaBBBB"
URL = "/api/v1/users/maya/owui-key/"


def _cells(rows):
    for row in rows:
        for value in row:
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str):
                yield value


class Scanner:
    """Reads every text cell it can reach through SQL and tries to decrypt it."""

    def __init__(self, fernet_keys):
        self.fernet = MultiFernet([Fernet(k.encode()) for k in fernet_keys])
        self.cells = 0
        self.places: set[str] = set()

    def recovers(self, value: str) -> str | None:
        for candidate in {value, value.strip()}:
            try:
                return self.fernet.decrypt(candidate.encode()).decode()
            except (InvalidToken, ValueError, TypeError):
                continue
        return None

    def scan(self, where: str, sql: str, params=None) -> list[tuple[str, str]]:
        """(where, plaintext) for each cell that decrypts, or holds a key in the clear."""
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        found = []
        for value in _cells(rows):
            self.cells += 1
            plaintext = self.recovers(value)
            if plaintext is not None:
                found.append((where, plaintext))
            for key in (KEY_A, KEY_B):
                if key in value:
                    found.append((where, key))
        if rows:
            self.places.add(where)
        return found


def _tables(as_of: str | None) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SHOW TABLES AS OF %s" if as_of else "SHOW TABLES", [as_of] if as_of else None)
        return [row[0] for row in cursor.fetchall()]


def _commits_since(start) -> list[str]:
    """Every commit made since `start` in this database, on any branch (dolt_commits)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT commit_hash FROM dolt_commits WHERE date >= %s ORDER BY date", [start])
        return [row[0] for row in cursor.fetchall()]


def scan_everything(scanner: Scanner, start) -> list[tuple[str, str]]:
    found = []
    for table in _tables(None):  # the live tables (the working set)
        found += scanner.scan(f"{table} (working set)", f"SELECT * FROM `{table}`")
    commits = _commits_since(start)
    for commit in commits:
        for table in _tables(commit):
            found += scanner.scan(f"{table} AS OF {commit[:8]}", f"SELECT * FROM `{table}` AS OF %s", [commit])
    for table in ("user_api_keys", SECRET_TABLE):
        found += scanner.scan(f"dolt_history_{table}", f"SELECT * FROM `dolt_history_{table}`")
        found += scanner.scan(f"dolt_diff_{table}", f"SELECT * FROM `dolt_diff_{table}`")
    return found


@pytest.mark.django_db(transaction=True)
def test_a_replaced_rotated_and_deleted_key_is_in_no_table_and_no_commit(settings):
    start = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0) - datetime.timedelta(seconds=1)
    old_fernet, new_fernet = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.YOULAB_FERNET_KEYS = [old_fernet]
    writer = client_for_key(make_agent_key("bridge", scopes=["owui-key:read", "owui-key:write"])[1])
    make_block(owner_id="maya", label="student", content="likes maths", dolt_commit=True)

    assert writer.put(URL, {"key": KEY_A}, format="json").status_code == 201
    assert writer.get(URL).json()["key"] == KEY_A
    dolt.create_branch("import-while-key-a")  # a branch made for an import, from main's head
    assert writer.put(URL, {"key": KEY_B}, format="json").status_code == 200  # replace
    make_block(owner_id="maya", label="journey", content="week 1", dolt_commit=True)  # more history
    settings.YOULAB_FERNET_KEYS = [new_fernet, old_fernet]
    call_command("rotate_secrets", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert writer.get(URL).json()["key"] == KEY_B

    # The scanner can find a key: while KEY_B is stored, it decrypts it from its table (and from
    # dolt_diff's WORKING row, which is that table's uncommitted state), and from nowhere else:
    # not from any commit, history table or the import branch.
    live = scan_everything(Scanner(settings.YOULAB_FERNET_KEYS), start)
    assert sorted(live) == [(f"dolt_diff_{SECRET_TABLE}", KEY_B), (f"{SECRET_TABLE} (working set)", KEY_B)]

    assert writer.delete(URL).status_code == 204
    scanner = Scanner(settings.YOULAB_FERNET_KEYS)
    assert scan_everything(scanner, start) == []
    # It looked where the key's traces are: the key's rows in committed history (fingerprints,
    # last 4), several commits, the branch.
    assert "dolt_history_user_api_keys" in scanner.places and "dolt_diff_user_api_keys" in scanner.places
    assert len(_commits_since(start)) >= 5 and scanner.cells > 100
    assert f"dolt_history_{SECRET_TABLE}" not in scanner.places  # never committed: empty
    assert SECRET_TABLE not in _tables("import-while-key-a")
    assert dolt.is_ignored(SECRET_TABLE)
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name FROM dolt_status")
        assert SECRET_TABLE not in {row[0] for row in cursor.fetchall()}
    dolt.delete_branch("import-while-key-a", force=True)


@pytest.mark.django_db(transaction=True)
def test_an_import_on_a_branch_and_its_merge_work_while_main_holds_keys():
    """The secrets table is in main's working set only: `--branch` must not take it for an
    uncommitted schema change, and merging the branch back keeps main's keys."""
    from pathlib import Path

    services.set_user_key(user_id="maya", key=KEY_A, by=Actor.system())
    sqlite = Path(__file__).resolve().parents[1] / "fixtures" / "letta" / "letta-0.11.7.sqlite3"
    out = io.StringIO()
    call_command("import_letta", "--sqlite", str(sqlite), "--branch", "import-with-keys", "--merge",
                 stdout=out, stderr=io.StringIO())
    assert "Merged import-with-keys into main" in out.getvalue()
    assert services.read_user_key(user_id="maya", by=Actor.agent("test"))[1] == KEY_A
    assert SECRET_TABLE not in _tables("HEAD") and dolt.is_ignored(SECRET_TABLE)
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name FROM dolt_status")
        assert SECRET_TABLE not in {row[0] for row in cursor.fetchall()}
    if "import-with-keys" in dolt.branches():
        dolt.delete_branch("import-with-keys", force=True)
