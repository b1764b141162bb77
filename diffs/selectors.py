"""Reads of proposals for the API (writes go through diffs.services)."""

from __future__ import annotations

import uuid

from django.db.models import F, QuerySet

from youlab.queries import PreparedQuery

from .exceptions import DiffNotFound
from .models import PendingDiff


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
