"""Queries per request do not grow with the number of blocks, proposals or history rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from blocks import services as block_services
from diffs import services
from tests.factories import make_block, propose
from tests.support import api
from youlab.actors import Actor
from youlab.models import AgentKey

pytestmark = pytest.mark.django_db

SIZES = [2, 25]


def populate(size, reviewer, owner="maya"):
    """`size` blocks, `size` history rows on the first, `size` proposals (some decided)."""
    blocks = [make_block(owner_id=owner, label=f"label-{n:03}", content=f"c{n}") for n in range(size)]
    first = blocks[0]
    for n in range(size - 1):
        block_services.update_block_content(block=first, content=f"v{n}", by=Actor.system(), reason="r", dolt_commit=False)
    diffs = [propose(blocks[n % len(blocks)], "append", text=f"t{n}") for n in range(size + 2)]
    services.reject_diff(diff_id=diffs[0].pk, by=Actor.staff(reviewer), reason="no")
    return first, diffs


def used_just_now(agent_key):
    """A key's first request of the minute also writes its last_used_at; measure the others."""
    AgentKey.objects.filter(pk=agent_key[0].pk).update(last_used_at=timezone.now())


# (route, expected queries): 1 is the API key lookup; lists add their page, and a COUNT only when
# the page is full (youlab.api.pagination.Pagination: these pages are not).
AGENT_READS = [
    (lambda first, diffs: api("users", "maya", "blocks"), 2),
    (lambda first, diffs: api("users", "maya", "blocks", first.label), 2),
    # + 1: the page's text lengths, read before the rows (youlab.api.pagination.TextBudgetPagination)
    (lambda first, diffs: api("users", "maya", "blocks", first.label, "history"), 5),
    (lambda first, diffs: api("users", "maya", "diffs"), 2),
    (lambda first, diffs: api("users", "maya", "diffs", query="status=pending&mine=true"), 2),
    (lambda first, diffs: api("users", "maya", "blocks", first.label, "diffs"), 2),
    (lambda first, diffs: api("diffs", diffs[-1].pk), 2),
    (lambda first, diffs: api("tools"), 1),
]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("route,expected", AGENT_READS, ids=[
    "blocks", "block", "history", "diffs", "diffs-filtered", "block-diffs", "diff", "tools"])
def test_agent_reads_use_a_constant_number_of_queries(agent, agent_key, staff_user, django_assert_num_queries,
                                                      size, route, expected):
    first, diffs = populate(size, staff_user)
    url = route(first, diffs)
    used_just_now(agent_key)
    with django_assert_num_queries(expected):
        response = agent.get(url)
    assert response.status_code == 200
    if "results" in response.json():
        assert len(response.json()["results"]) >= 1


@pytest.mark.parametrize("size", SIZES)
def test_propose_uses_a_constant_number_of_queries(agent, agent_key, staff_user, django_assert_num_queries, size):
    first, _ = populate(size, staff_user)
    used_just_now(agent_key)
    with django_assert_num_queries(4):  # key, block, open proposals of this key (the cap), insert
        response = agent.post(api("users", "maya", "blocks", first.label, "diffs"),
                              {"operation": "append", "text": "x"}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize("cap", [20, 1001])  # ids through a prepared statement; past its limits, a COUNT
def test_the_open_proposal_cap_reads_one_blocks_pending_proposals_by_index(staff_user, settings, cap):
    """The cap's read must not walk every proposal the key ever made (it grows without end):
    Dolt's planner picked the idempotency key's index (agent_key_name first) until
    diffs_open_per_key gave it a longer match."""
    settings.YOULAB_MAX_OPEN_PROPOSALS = cap
    first, _ = populate(25, staff_user)
    with CaptureQueriesContext(connection) as captured:
        propose(first, "append", text="one more")
    (count,) = [q["sql"] for q in captured if "`pending_diffs`.`status` = 'pending'" in q["sql"]]
    assert f"LIMIT {cap}" in count  # the cap only asks whether it is reached
    assert "ORDER BY" not in count  # a count needs no order
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN FORMAT=TREE " + count)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert ("index: [pending_diffs.agent_key_name,pending_diffs.owner_type,pending_diffs.owner_id,"
            "pending_diffs.label,pending_diffs.status]") in plan, plan


def test_staff_decisions_use_a_constant_number_of_queries(staff, staff_user):
    def decide(diffs):
        with CaptureQueriesContext(connection) as approve:
            assert staff.post(api("diffs", diffs[-1].pk, "approve"), {}, format="json").status_code == 200
        with CaptureQueriesContext(connection) as reject:
            response = staff.post(api("diffs", diffs[-2].pk, "reject"), {"reason": "no"}, format="json")
            assert response.status_code == 200
        return len(approve), len(reject)

    _, small = populate(SIZES[0], staff_user)
    counts = decide(small)
    _, large = populate(SIZES[1], staff_user, owner="sam")
    assert decide(large) == counts
