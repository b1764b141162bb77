"""A list's first page read another way (Pagination's `first_page`, BlockList's prepared
statement) answers what slicing the view's queryset answers: rows, order, count and `next`."""

import pytest
from django.utils import timezone

from blocks import selectors
from blocks.api.serializers import BlockSerializer
from blocks.models import Block, OwnerType
from tests.factories import make_block
from tests.support import api, assert_error

pytestmark = pytest.mark.django_db

OWNERS = ["a%b", "a_b", "aXb", "maya", "Maya", "m\u00e4ya", "\u76ee\u6807", "x" * 255]
LABELS = ["b", "A", "a", "\u00e4", "a%", "a_", "z z", "\U0001F600"]
PAGES = [(None, None), (1, None), (2, None), (8, None), (9, None), (500, None), (3, 1), (3, 8), (3, 9), (3, 100)]


def test_block_list_pages_are_the_querysets_slices(agent):
    for owner in OWNERS:
        for label in LABELS:
            make_block(owner_id=owner, label=label)
        make_block(owner_id=owner, label="gone")
    Block.objects.filter(label="gone").update(deleted_at=timezone.now())
    for label in ["s1", "s2"]:
        make_block(owner_id="maya", label=label, owner_type=OwnerType.SHARED)
    for label in ["t1", "t2"]:  # an owner id from before the no-surrounding-spaces rule
        Block.objects.create(owner_type=OwnerType.USER, owner_id="aXb ", label=label)

    for owner_type, route in [(OwnerType.USER, "users"), (OwnerType.SHARED, "shared")]:
        for owner in [*OWNERS, "aXb ", " aXb", "a%", "a_", "nobody"]:
            queryset = selectors.live_blocks(owner_type, owner)
            count = queryset.count()
            for limit, offset in PAGES:
                query = "&".join(f"{name}={value}" for name, value in [("limit", limit), ("offset", offset)]
                                 if value is not None)
                response = agent.get(api(route, owner, "blocks", query=query or None))
                assert response.status_code == 200, (owner, query, response.content)
                body = response.json()
                limit, offset = limit or 50, offset or 0
                rows = [BlockSerializer(block).data for block in queryset[offset:offset + limit]]
                assert body["results"] == rows, (owner_type, owner, query)
                assert body["count"] == count, (owner_type, owner, query)
                assert (body["next"] is not None) == (offset + limit < count), (owner_type, owner, query)


def test_a_refused_owner_id_is_400_on_every_page(agent):
    for query in [None, "limit=1", "offset=1"]:
        assert_error(agent.get(api("users", "a\\b", "blocks", query=query)), 400, "invalid_input")
