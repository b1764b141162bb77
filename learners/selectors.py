"""Reads of learner profiles: names beside ids, and finding learners by name.

Each function runs a fixed number of queries whatever the number of learners (the search: one
bounded index range per query word, at most names.search_terms' limit).
"""

from __future__ import annotations

from collections.abc import Iterable

from youlab import dolt

from . import names
from .models import Learner, LearnerNameWord

MAX_NAME_MATCHES = 2000  # learners a name search returns at most


def get_profile(user_id: str) -> Learner | None:
    return Learner.objects.filter(user_id=user_id).first()


def labels_for(user_ids: Iterable[str]) -> dict[str, str]:
    """{user_id: display name (or email)} for those of the ids that have one; one query."""
    ids = sorted({i for i in user_ids if i})
    if not ids:
        return {}
    rows = Learner.objects.filter(user_id__in=dolt.in_values(ids)).values_list("user_id", "display_name", "email")
    return {user_id: name or email for user_id, name, email in rows if name or email}


def user_ids_named(query: str, *, limit: int = MAX_NAME_MATCHES) -> list[str]:
    """Learners whose display name or email has a word starting with each word of `query`
    (case and accents ignored), by id; at most `limit`."""
    terms = names.search_terms(query)
    if not terms:
        return []
    ids: list[str] | None = None
    for term in terms:  # longest first: the first narrows the most
        rows = LearnerNameWord.objects.filter(word__gte=term, word__lt=term + names.TOP)
        if ids is not None:
            if not ids:
                return []
            rows = rows.filter(user_id__in=dolt.in_values(ids))
        ids = sorted(set(rows.values_list("user_id", flat=True)[: limit * 4]))[:limit]
    return ids or []
