"""Blocks on Dolt: constraints, content fidelity, versions and history."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from blocks import services
from blocks.exceptions import BlockConflict, BlockExists, OverCharLimit
from blocks.models import Block, HistoricalBlock, OwnerType
from tests.factories import make_block
from youlab.actors import Actor
from youlab.errors import InvalidInput

pytestmark = pytest.mark.django_db


def test_owner_and_label_are_unique():
    make_block(owner_id="learner-1", label="student")
    with pytest.raises(BlockExists):
        make_block(owner_id="learner-1", label="student")
    # The database itself refuses a duplicate too, whatever the caller does.
    with pytest.raises(IntegrityError), transaction.atomic():
        Block.objects.create(owner_id="learner-1", label="student")
    # The same label for another owner, or for a shared namespace of the same name, is fine.
    make_block(owner_id="learner-2", label="student")
    make_block(owner_id="learner-1", label="student", owner_type=OwnerType.SHARED)
    assert Block.objects.filter(label="student").count() == 3


def test_300kb_of_emoji_and_cjk_round_trips_exactly():
    unit = "学习🙂👩🏽‍🔬 naïve café 目标\r\n\t\"'\\ \U0001F4DA"
    content = (unit * (300_000 // len(unit.encode("utf-8")) + 1))
    assert len(content.encode("utf-8")) > 300_000
    block = make_block(content=content)

    fresh = Block.objects.get(pk=block.pk)
    assert fresh.content == content
    assert fresh.content.encode("utf-8") == content.encode("utf-8")
    with connection.cursor() as cursor:
        cursor.execute("SELECT LENGTH(content), CHAR_LENGTH(content) FROM blocks WHERE id=%s", [block.pk.hex])
        assert cursor.fetchone() == (len(content.encode("utf-8")), len(content))
    assert HistoricalBlock.objects.get(id=block.pk).content == content


def test_version_increments_and_each_change_leaves_one_history_row(staff_user):
    block = make_block(content="v1", by=Actor.importer("letta"), reason="Imported")
    services.update_block_content(block=block, content="v2", by=Actor.agent("tutor"), reason="Append a goal")
    services.update_block_content(block=block, content="v3", by=Actor.staff(staff_user), reason="Fix typo")
    services.set_block_deleted(block=block, deleted=True, by=Actor("staff", "rita"), reason="Obsolete")
    services.set_block_deleted(block=block, deleted=False, by=Actor("staff", "rita"))

    block.refresh_from_db()
    assert block.version == 5 and block.content == "v3" and not block.is_deleted
    rows = list(HistoricalBlock.objects.filter(id=block.pk).order_by("version"))
    assert [(r.version, r.content, r.actor, r.history_change_reason) for r in rows] == [
        (1, "v1", "import:letta", "Imported"),
        (2, "v2", "agent:tutor", "Append a goal"),
        (3, "v3", "staff:rita", "Fix typo"),
        (4, "v3", "staff:rita", "Obsolete"),
        (5, "v3", "staff:rita", "Restored"),
    ]
    assert rows[2].history_user == staff_user
    assert rows[3].deleted_at is not None and rows[4].deleted_at is None


def test_history_refuses_two_rows_for_one_version():
    block = make_block()
    row = HistoricalBlock.objects.get(id=block.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        HistoricalBlock.objects.create(
            id=block.pk, owner_type=row.owner_type, owner_id=row.owner_id, label=row.label,
            version=row.version, history_date=row.history_date, history_type="~",
        )


def test_expected_version_guards_against_stale_writes():
    block = make_block(content="a")
    services.update_block_content(block=block, content="b", by=Actor.system(), reason="x", expected_version=1)
    stale = Block.objects.get(pk=block.pk)
    stale.version = 1
    with pytest.raises(BlockConflict):
        services.update_block_content(block=stale, content="c", by=Actor.system(), reason="y", expected_version=1)
    assert Block.objects.get(pk=block.pk).content == "b"


def test_char_limit_is_enforced_on_create_and_update():
    with pytest.raises(OverCharLimit):
        make_block(content="x" * 11, char_limit=10)
    block = make_block(content="x" * 10, char_limit=10)
    with pytest.raises(OverCharLimit):
        services.update_block_content(block=block, content="y" * 11, by=Actor.system(), reason="too long")
    assert Block.objects.get(pk=block.pk).version == 1


@pytest.mark.parametrize("label", ["", " ", "a/b", "..", "a\x00b", "x" * 256, " lead"])
def test_bad_labels_are_refused(label):
    with pytest.raises(InvalidInput):
        make_block(label=label)
    assert Block.objects.count() == 0


def test_unusual_but_valid_labels_are_kept():
    for label in ["目标", "reading-list", "Engagement Strategy", "emoji🙂"]:
        assert make_block(owner_id="l", label=label).label == label


def test_icontains_is_case_insensitive_on_dolt():
    make_block(owner_id="learner-x", label="student", content="Loves ÉCRITURE and Chess")
    assert Block.objects.filter(content__icontains="chess").count() == 1
    assert Block.objects.filter(content__icontains="LOVES").count() == 1
    assert Block.objects.filter(content__icontains="écriture").count() == 1
    assert Block.objects.filter(description__icontains="").count() == 1


def test_identifiers_compare_exactly_not_by_collation():
    # v1 kept "Café"/"cafe" and NFC/NFD spellings as different files: they stay different blocks.
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    for label in ["cafe", "Cafe", nfc, nfd]:
        make_block(owner_id="learner-y", label=label)
    assert Block.objects.filter(owner_id="learner-y").count() == 4
    assert Block.objects.filter(label="cafe").count() == 1
    assert Block.objects.filter(label__in=["cafe"]).count() == 1
    assert Block.objects.filter(label__in=[nfd, "Cafe"]).count() == 2
    assert Block.objects.filter(owner_id="LEARNER-Y").count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_updates_through_the_services_lose_nothing():
    block = make_block(content="")
    errors = []

    def worker(name):
        try:
            for i in range(4):
                current = Block.objects.get(pk=block.pk)
                services.update_block_content(block=current, content="", by=Actor.agent(name), reason=f"{name}-{i}", dolt_commit=False
                )
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    block.refresh_from_db()
    assert block.version == 9
    versions = list(HistoricalBlock.objects.filter(id=block.pk).values_list("version", flat=True))
    assert sorted(versions) == list(range(1, 10))


@pytest.mark.django_db(transaction=True)
def test_each_service_change_makes_one_dolt_commit_by_its_author():
    from youlab import dolt

    start = dolt.log_count()
    reviewer = dolt.author("Rita Reviewer", "rita@example.org")
    block = services.create_block(owner_id="learner-9", label="journey", content="a", by=Actor.system(reviewer))
    services.update_block_content(block=block, content="b", by=Actor("staff", "rita", reviewer), reason="Fix")
    services.set_block_deleted(block=block, deleted=True, by=Actor("staff", "rita", reviewer))

    entries = dolt.log(limit=3)
    assert dolt.log_count() == start + 3
    assert {(e.author, e.email) for e in entries} == {("Rita Reviewer", "rita@example.org")}
    assert [e.message for e in entries] == [
        "Deleted: learner-9/journey v3",
        "Fix: learner-9/journey v2",
        "Create block (system): learner-9/journey v1",
    ]
    assert dolt.status() == []


def test_large_json_metadata_reads_back_on_every_query_shape():
    # Dolt 2.2.0 answers '' for JSON over ~2 KB on scans and pk IN lookups; youlab.fields fixes it.
    metadata = {"course": "x" * 5000, "nested": {"list": list(range(300))}}
    block = make_block(owner_id="learner-j", label="course", metadata=metadata)
    make_block(owner_id="learner-j", label="small", metadata={"a": 1})
    assert Block.objects.get(pk=block.pk).metadata == metadata
    assert [b.metadata for b in Block.objects.all() if b.pk == block.pk] == [metadata]
    assert Block.objects.filter(pk__in=[block.pk]).get().metadata == metadata
    assert list(Block.objects.filter(owner_id="learner-j").values_list("metadata", flat=True)).count(metadata) == 1
    assert HistoricalBlock.objects.filter(id__in=[block.pk]).get().metadata == metadata
