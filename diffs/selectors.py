"""Reads of proposals for the API (writes go through diffs.services)."""

from __future__ import annotations

import uuid

from django.db.models import F, QuerySet

from youlab.queries import PreparedQuery

from .exceptions import DiffNotFound
from .models import DiffStatus, PendingDiff


def parse_diff_id(diff_id) -> uuid.UUID:
    """The diff's UUID, or DiffNotFound (404) for anything that is not one."""
    try:
        return uuid.UUID(str(diff_id))
    except (ValueError, TypeError, AttributeError):
        raise DiffNotFound(f"no diff {diff_id}") from None


def _with_display_columns(queryset: QuerySet[PendingDiff]) -> QuerySet[PendingDiff]:
    # What DiffSerializer shows besides the diff's own columns, read in the same query.
    return queryset.annotate(
        reviewer_username=F("reviewer__username"),
        current_block_version=F("block__version"),
    )


def find_diff(diff_id) -> PendingDiff | None:
    """The diff with this id (a UUID or its text), its own columns only; None if there is none.
    Every decision starts here (its SQL is built once: youlab.queries)."""
    return _diff_by_id.first(diff_id)


_diff_by_id = PreparedQuery(lambda diff_id: PendingDiff.objects.filter(pk=diff_id), uuid_args=("diff_id",))


def count_open_proposals(*, owner_type: str, owner_id: str, label: str, agent_key_name: str,
                         up_to: int) -> int:
    """How many proposals `agent_key_name` has pending on this block, counting no further than
    `up_to` (the cap only asks whether it is reached). Read by the diffs_open_per_key index; for
    caps a prepared statement takes, the ids of up to `up_to` of them (SQL built once)."""
    if up_to > PreparedQuery.MAX_LIMIT:
        return _open_proposals(owner_type, owner_id, label, agent_key_name)[:up_to].count()
    return len(_open_proposals_prepared.instances(owner_type, owner_id, label, agent_key_name, limit=up_to))


def _open_proposals(owner_type, owner_id, label, agent_key_name) -> QuerySet[PendingDiff]:
    return PendingDiff.objects.filter(
        agent_key_name=agent_key_name, owner_type=owner_type, owner_id=owner_id, label=label,
        status=DiffStatus.PENDING,
    ).only("id").order_by()


_open_proposals_prepared = PreparedQuery(_open_proposals)


def get_diff(diff_id) -> PendingDiff:
    pk = parse_diff_id(diff_id)
    diff = _with_display_columns(PendingDiff.objects.filter(pk=pk)).first()
    if diff is None:
        raise DiffNotFound(f"no diff {diff_id}")
    return diff


def diffs_for_owner(
    owner_type: str,
    owner_id: str,
    *,
    status: str | None = None,
    label: str | None = None,
    agent_key_name: str | None = None,
) -> QuerySet[PendingDiff]:
    """An owner's proposals, newest first, optionally by status, label and agent key."""
    queryset = PendingDiff.objects.filter(owner_type=owner_type, owner_id=owner_id)
    if status:
        queryset = queryset.filter(status=status)
    if label is not None:
        queryset = queryset.filter(label=label)
    if agent_key_name is not None:
        queryset = queryset.filter(agent_key_name=agent_key_name)
    # List rows show no texts (diffs.api.serializers.DiffListItemSerializer): don't read them.
    queryset = queryset.defer("arguments", "proposed_content", "preview", "response_body", "metadata")
    return _with_display_columns(queryset).order_by("-created_at", "-id")
