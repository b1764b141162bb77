"""youlab/dolt.py against the real server: identity, commits, branches, the 1213 retry."""

import pytest
from django.db import OperationalError, connection, transaction

from blocks.models import Block
from chats.models import SECRET_TABLE
from tests.conftest import raw_connect
from tests.factories import make_block
from youlab import dolt


@pytest.mark.django_db
def test_the_suite_talks_to_dolt_over_tcp():
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@version_comment")
        (comment,) = cursor.fetchone()
        cursor.execute("SELECT COUNT(*) FROM dolt_log")
        (commits,) = cursor.fetchone()
    assert "dolt" in comment.lower()
    assert commits >= 1
    assert connection.settings_dict["HOST"] == "127.0.0.1"
    assert connection.connection.get_host_info().lower().startswith("127.0.0.1 via tcp")


@pytest.mark.django_db
def test_database_collation_is_case_insensitive():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT default_character_set_name, default_collation_name "
            "FROM information_schema.schemata WHERE schema_name = DATABASE()"
        )
        assert cursor.fetchone() == ("utf8mb4", "utf8mb4_0900_ai_ci")


@pytest.mark.django_db(transaction=True)
def test_commit_records_author_and_message_in_dolt_log():
    make_block(owner_id="learner-a", label="student", content="first")
    before = dolt.head()

    commit_hash = dolt.commit("Approve diff 42 for learner-a/student", dolt.author("Rita Reviewer", "rita@example.org"))

    assert commit_hash and commit_hash != before
    entry = dolt.log(limit=1)[0]
    assert entry.commit_hash == commit_hash
    assert entry.author == "Rita Reviewer"
    assert entry.email == "rita@example.org"
    assert entry.message == "Approve diff 42 for learner-a/student"
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM dolt_status")
        assert cursor.fetchone()[0] == 0  # everything committed


@pytest.mark.django_db(transaction=True)
def test_commit_with_nothing_to_commit_is_skipped():
    make_block()
    dolt.commit("first")
    count = dolt.log_count()
    assert dolt.commit("nothing changed") is None
    assert dolt.log_count() == count


def _transaction_commit_flag():
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@dolt_transaction_commit")
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_a_unit_of_work_and_its_dolt_commit_land_together():
    count = dolt.log_count()
    with dolt.atomic():
        make_block(label="kept")
        dolt.commit_on_success("Create kept", dolt.author("Ops Person", "ops@example.org"))

    assert dolt.log_count() == count + 1
    entry = dolt.log(limit=1)[0]
    assert (entry.message, entry.author, entry.email) == ("Create kept", "Ops Person", "ops@example.org")
    assert dolt.status() == []  # the block is in the commit, nothing left in the working set
    # The connection is not left making Dolt commits for unrelated statements.
    assert _transaction_commit_flag() == 0
    Block.objects.filter(label="kept").update(description="autocommitted")
    assert dolt.log_count() == count + 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_unit_leaves_no_dolt_commit():
    count = dolt.log_count()
    with pytest.raises(RuntimeError):
        with dolt.atomic():
            make_block(label="rolled-back")
            dolt.commit_on_success("never")
            raise RuntimeError("boom")
    assert dolt.log_count() == count
    assert not Block.objects.filter(label="rolled-back").exists()
    assert _transaction_commit_flag() == 0


@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_the_dolt_commit_waits_for_its_commit():
    count = dolt.log_count()
    with transaction.atomic():
        with dolt.atomic():
            make_block(label="nested")
            dolt.commit_on_success("Nested unit")
        assert dolt.log_count() == count
    assert dolt.log_count() == count + 1
    assert dolt.log(limit=1)[0].message == "Nested unit"


@pytest.mark.django_db(transaction=True)
def test_a_unit_that_conflicts_at_commit_is_retried_and_committed_once():
    block = make_block(content="start")
    dolt.commit("base")
    count = dolt.log_count()
    calls = []

    def unit():
        with dolt.atomic():
            current = Block.objects.get(pk=block.pk)
            calls.append(current.content)
            if len(calls) == 1:
                other = raw_connect(connection.settings_dict["NAME"])
                with other.cursor() as cursor:
                    cursor.execute("UPDATE blocks SET content='other' WHERE id=%s", [block.pk.hex])
                other.close()
            Block.objects.filter(pk=block.pk).update(content=current.content + "+mine")
            dolt.commit_on_success("Append mine", dolt.author("Rita", "rita@example.org"))

    dolt.retry_on_conflict(unit)

    assert calls == ["start", "other"]
    assert _transaction_commit_flag() == 0
    # One Dolt commit for the unit; the other client's autocommitted write rides along in it.
    assert dolt.log_count() == count + 1
    assert dolt.log(limit=1)[0].message == "Append mine"
    block.refresh_from_db()
    assert block.content == "other+mine"


@pytest.mark.django_db(transaction=True)
def test_commit_refuses_to_run_inside_a_transaction():
    with transaction.atomic():
        with pytest.raises(dolt.DoltError):
            dolt.commit("inside")


@pytest.mark.django_db(transaction=True)
def test_branches_diff_summary_and_merge():
    make_block(label="on-main")
    dolt.commit("base")
    dolt.create_branch("import-test")
    assert "import-test" in dolt.branches()

    with dolt.use_branch("import-test"):
        assert dolt.active_branch() == "import-test"
        make_block(label="on-branch")
        dolt.commit("branch work")
        summary = dolt.diff_summary("main", "import-test")

    # main is untouched until the merge
    assert not Block.objects.filter(label="on-branch").exists()
    blocks = [s for s in summary if s["table"] == "blocks"][0]
    assert blocks["added"] == 1 and blocks["modified"] == 0

    result = dolt.merge("import-test", "Merge import-test", dolt.author("Ops", "ops@example.org"))
    assert result["conflicts"] == 0
    assert Block.objects.filter(label="on-branch").exists()
    dolt.delete_branch("import-test")
    assert "import-test" not in dolt.branches()


def test_branch_names_are_validated():
    for bad in ["", "../x", "a b", "x;DROP", "-D"]:
        with pytest.raises(dolt.DoltError):
            dolt.validate_branch_name(bad)
    assert dolt.validate_branch_name("import/letta-2026") == "import/letta-2026"


def test_author_strips_characters_that_break_the_format():
    assert dolt.author("Eve <x>\n", "e ve@ex>ample.org") == "Eve x <eve@example.org>"


@pytest.mark.django_db(transaction=True)
def test_a_real_concurrent_conflict_raises_1213():
    block = make_block(content="start")
    other = raw_connect(connection.settings_dict["NAME"], autocommit=False)
    try:
        with pytest.raises(OperationalError) as excinfo:
            with transaction.atomic():
                Block.objects.filter(pk=block.pk).update(content="from django")
                with other.cursor() as cursor:
                    cursor.execute("UPDATE blocks SET content='from other' WHERE id=%s", [block.pk.hex])
                other.commit()
        assert dolt.is_serialization_failure(excinfo.value)
    finally:
        other.close()
    block.refresh_from_db()
    assert block.content == "from other"


@pytest.mark.django_db(transaction=True)
def test_retry_on_conflict_reruns_the_unit_after_a_real_conflict():
    block = make_block(content="start")
    attempts = []

    def unit():
        with transaction.atomic():
            current = Block.objects.get(pk=block.pk)
            attempts.append(current.content)
            if len(attempts) == 1:
                # Another client commits a change to the same cell while we hold a snapshot.
                other = raw_connect(connection.settings_dict["NAME"])
                with other.cursor() as cursor:
                    cursor.execute("UPDATE blocks SET content='other' WHERE id=%s", [block.pk.hex])
                other.close()
            new = current.content + "+mine"
            Block.objects.filter(pk=block.pk).update(content=new)
        return new

    result = dolt.retry_on_conflict(unit)

    assert attempts == ["start", "other"]  # the second attempt saw the other client's write
    assert result == "other+mine"
    block.refresh_from_db()
    assert block.content == "other+mine"


@pytest.mark.django_db(transaction=True)
def test_retry_on_conflict_gives_up_with_a_clear_error():
    block = make_block(content="start")

    def always_conflicting():
        with transaction.atomic():
            Block.objects.filter(pk=block.pk).update(content="mine")
            other = raw_connect(connection.settings_dict["NAME"])
            with other.cursor() as cursor:
                cursor.execute(
                    "UPDATE blocks SET content=CONCAT(content, 'x') WHERE id=%s", [block.pk.hex]
                )
            other.close()

    with pytest.raises(dolt.SerializationFailure):
        dolt.retry_on_conflict(always_conflicting, attempts=3, base_delay=0.001)


@pytest.mark.django_db
def test_the_test_database_schema_is_in_its_dolt_history():
    """pytest-django migrates the test database with our `migrate`: it ends committed too."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT commit_hash, message FROM dolt_log WHERE message LIKE 'Migrate:%%' "
                       "ORDER BY commit_order")
        (commit_hash, message), *_ = cursor.fetchall()
        cursor.execute("SELECT CONCAT(app, '.', name) FROM django_migrations AS OF %s",
                       [commit_hash])
        recorded = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT to_table_name FROM dolt_schema_diff(%s, 'WORKING')",
                       [commit_hash])
        changed_since = cursor.fetchall()
    assert {line.removeprefix("applied ") for line in message.splitlines()[2:]} == recorded
    assert "blocks.0001_initial" in recorded
    # Every table as the migrate commit made it: nothing uncommitted, but for the tables Dolt never
    # commits by design (dolt_ignore: learners' key ciphertexts, docs/security.md, and the
    # callback outbox, docs/agents.md), which are new for ever.
    assert set(changed_since) <= {(SECRET_TABLE,), ("callback_deliveries",)}
    assert dolt.is_ignored(SECRET_TABLE) and dolt.is_ignored("callback_deliveries")
    assert dolt.ignored_tables() == ["callback_deliveries", SECRET_TABLE]
