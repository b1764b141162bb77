"""youlab.queries.PreparedQuery: the queryset's statement and instances, built once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from blocks.models import Block, OwnerType
from tests.factories import make_block
from youlab.queries import PreparedQuery

pytestmark = pytest.mark.django_db

FIELDS = [field.attname for field in Block._meta.concrete_fields]


def by_label(owner_type, owner_id, label):
    return Block.objects.filter(owner_type=owner_type, owner_id=owner_id, label=label).order_by()[:1]


def snapshot(block):
    return None if block is None else {name: getattr(block, name) for name in FIELDS}


def statements(run):
    with CaptureQueriesContext(connection) as captured:
        result = run()
    return result, [q["sql"] for q in captured]


@pytest.fixture
def blocks():
    made = [
        make_block(owner_id="maya", label="student", content="学习 🙂 café\n", char_limit=500,
                   metadata={"nested": {"list": [1, 2.5, None, True]}, "名": "x"}),
        make_block(owner_id="maya", label="journey", content="", description="where she is"),
        make_block(owner_id="maya_2", label="student", content="other learner"),
    ]
    Block.objects.filter(pk=made[1].pk).update(deleted_at=timezone.now() - timedelta(days=1))
    return made


def test_instances_equal_the_querysets_in_every_field_and_state(blocks):
    prepared = PreparedQuery(by_label)
    for owner_id, label in [("maya", "student"), ("maya", "journey"), ("maya_2", "student"),
                            ("maya", "nobody"), ("Maya", "student"), ("maya%", "student")]:
        expected = next(iter(by_label("user", owner_id, label)), None)
        for _ in range(2):  # the first call prepares, the second reuses the plan
            found = prepared.first("user", owner_id, label)
            assert snapshot(found) == snapshot(expected), (owner_id, label)
            if found is not None:
                assert found._state.adding is False and found._state.db == "default"
                assert found.created_at.tzinfo is not None
    student = prepared.first("user", "maya", "student")
    assert student.metadata == {"nested": {"list": [1, 2.5, None, True]}, "名": "x"}
    assert student.content == "学习 🙂 café\n"
    assert prepared.first("user", "maya", "journey").deleted_at is not None


def test_it_sends_the_querysets_own_statement_once(blocks):
    prepared = PreparedQuery(by_label)
    prepared.first("user", "maya", "student")
    found, sql = statements(lambda: prepared.first(OwnerType.USER, "maya", "student"))
    expected, expected_sql = statements(lambda: list(by_label("user", "maya", "student")))
    assert sql == expected_sql and len(sql) == 1
    assert snapshot(found) == snapshot(expected[0])


def test_a_limit_reads_the_querysets_first_rows_with_a_plan_per_limit(blocks):
    for n in range(4):
        make_block(owner_id="maya", label=f"b{n}")

    def owned(owner_type, owner_id):
        return Block.objects.filter(owner_type=owner_type, owner_id=owner_id, deleted_at__isnull=True).order_by("label", "id")

    prepared = PreparedQuery(owned)
    for limit in [1, 2, 5, 50, 1, 2]:  # plans made, then reused; each limit its own statement
        found, sql = statements(lambda: prepared.instances("user", "maya", limit=limit))
        expected, expected_sql = statements(lambda: list(owned("user", "maya")[:limit]))
        assert [snapshot(b) for b in found] == [snapshot(b) for b in expected], limit
        assert sql == expected_sql and len(sql) == 1, limit
    assert [b.label for b in prepared.instances("user", "maya", limit=3)] == ["b0", "b1", "b2"]
    assert [b.label for b in prepared.instances("user", "maya")] == ["b0", "b1", "b2", "b3", "student"]
    # Outside 1..MAX_LIMIT (or not an int) the queryset slices it, as it would.
    assert len(prepared.instances("user", "maya", limit=PreparedQuery.MAX_LIMIT + 1)) == 5
    assert prepared.instances("user", "maya", limit=0) == []
    with pytest.raises(ValueError):
        prepared.instances("user", "maya", limit=-1)


def test_uuid_arguments_take_a_uuid_or_its_text_and_run_the_querysets_statement(blocks):
    import uuid

    from django.core.exceptions import ValidationError

    def by_pk(pk):
        return Block.objects.filter(pk=pk)

    built = []
    prepared = PreparedQuery(lambda pk: built.append(pk) or by_pk(pk), uuid_args=("pk",))
    target = blocks[0].pk
    for value in [target, str(target), target.hex, str(target).upper(), f"{{{target}}}", f"urn:uuid:{target}"]:
        found, sql = statements(lambda: prepared.instances(value))
        expected, expected_sql = statements(lambda: list(by_pk(value)))
        assert [snapshot(b) for b in found] == [snapshot(b) for b in expected] and len(found) == 1, value
        assert sql == expected_sql and len(sql) == 1, value
    assert len(built) == 2  # learning the model and the plan: never again for new values
    assert prepared.first(uuid.uuid4()) is None
    assert prepared.first(None) is None  # the queryset's answer for pk=None
    with pytest.raises(ValidationError):  # as the queryset refuses it
        prepared.first("not-a-uuid")
    mixed = PreparedQuery(lambda pk, label: Block.objects.filter(pk=pk, label=label), uuid_args=("pk",))
    assert mixed.first(target, "student").pk == target
    assert mixed.first(target, "journey") is None


def test_values_the_lookup_would_change_take_the_queryset_path(blocks):
    # iexact escapes % and _ for LIKE: swapping a raw value in would match "maya_2" for "maya%2".
    prepared = PreparedQuery(lambda owner_id: Block.objects.filter(owner_id__iexact=owner_id).order_by("label", "id"))
    for owner_id in ["MAYA_2", "maya%", "may_", "maya"]:
        assert [b.pk for b in prepared.instances(owner_id)] == \
            [b.pk for b in Block.objects.filter(owner_id__iexact=owner_id).order_by("label", "id")], owner_id


def test_values_that_are_not_text_take_the_queryset_path(blocks):
    prepared = PreparedQuery(lambda char_limit: Block.objects.filter(char_limit=char_limit).order_by("id"))
    assert [b.pk for b in prepared.instances(500)] == [blocks[0].pk]
    assert {b.pk for b in prepared.instances(None)} == {blocks[1].pk, blocks[2].pk}  # IS NULL
    prepared = PreparedQuery(by_label)
    assert prepared.first("user", "maya", 7) is None  # the field converts it ("7")


def test_shapes_it_cannot_prepare_are_iterated_as_querysets(blocks):
    from django.db.models import F, Value
    from django.db.models.functions import Concat

    annotated = PreparedQuery(lambda owner_id: Block.objects.filter(owner_id=owner_id)
                              .annotate(path=Concat(F("owner_id"), Value("/"), F("label"))).order_by("label"))
    assert [b.path for b in annotated.instances("maya")] == ["maya/journey", "maya/student"]
    related = PreparedQuery(lambda owner_id: Block.objects.filter(owner_id=owner_id).values_list("label", flat=True)
                            .order_by("label"))
    assert related.instances("maya") == ["journey", "student"]
    empty = PreparedQuery(lambda owner_id: Block.objects.filter(owner_id=owner_id, label__in=[]))
    assert empty.instances("maya") == []
    by_pk = PreparedQuery(lambda pk: Block.objects.filter(pk=pk))  # a UUID field refuses the placeholder
    assert [b.label for b in by_pk.instances(str(blocks[0].pk))] == ["student"]
    assert [b.label for b in by_pk.instances(blocks[0].pk.hex)] == ["student"]


@pytest.mark.django_db(transaction=True)
def test_each_thread_runs_it_on_its_own_connection():
    make_block(owner_id="maya", label="student", content="committed")
    prepared = PreparedQuery(by_label)
    assert prepared.first("user", "maya", "student").content == "committed"
    seen = {}

    def other_thread():
        try:
            with CaptureQueriesContext(connections["default"]) as captured:
                seen["content"] = prepared.first("user", "maya", "student").content
            seen["statements"] = len(captured)
            seen["connection"] = connections["default"]
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen["content"] == "committed" and seen["statements"] == 1
    assert seen["connection"] is not connection
