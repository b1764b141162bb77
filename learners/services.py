"""The one writer of `learners` and its search words: agents, staff, imports and restores.

A change is one unit of work (`dolt.atomic()`, retried on Dolt's 1213) that saves the profile
(simple-history adds the learner_history row; `updated_by` names the actor, `by`), rewrites the
learner's search words, and ends in one Dolt commit by the actor. Setting what is already
there writes nothing. Imports call `import_learner_profiles` inside their own transaction and
make their own Dolt commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from youlab import dolt
from youlab.actors import Actor
from youlab.unset import UNSET
from youlab.validators import validate_owner_id

from . import names
from .exceptions import InvalidProfile
from .models import HistoricalLearner, Learner, LearnerNameWord

MAX_DISPLAY_NAME_LENGTH = Learner._meta.get_field("display_name").max_length
MAX_EMAIL_LENGTH = Learner._meta.get_field("email").max_length
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _profile_text(value, field: str) -> str:
    """A profile field as text, surrounding spaces dropped ("" for none)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidProfile(f"{field} must be a string", details={"field": field})
    return value.strip()


def _clean_display_name(value) -> str:
    """A display name: text without control characters."""
    value = _profile_text(value, "display_name")
    if len(value) > MAX_DISPLAY_NAME_LENGTH or _CONTROL.search(value):
        raise InvalidProfile(
            f"display_name must be at most {MAX_DISPLAY_NAME_LENGTH} characters without control "
            "characters", details={"field": "display_name"},
        )
    return value


def _clean_email(value) -> str:
    """An email address (or "" for none)."""
    value = _profile_text(value, "email")
    if not value:
        return ""
    try:
        if len(value) > MAX_EMAIL_LENGTH:
            raise ValidationError("too long")
        validate_email(value)
    except ValidationError:
        raise InvalidProfile(f"email {value[:100]!r} is not an email address", details={"field": "email"}) from None
    return value


def _replace_words(learner: Learner) -> None:
    LearnerNameWord.objects.filter(user_id=learner.user_id).delete()
    words = names.name_words(learner.display_name, learner.email)
    LearnerNameWord.objects.bulk_create(
        [LearnerNameWord(user_id=learner.user_id, word=word) for word in sorted(words)]
    )


def _save(learner: Learner, *, created: bool, by: Actor, reason: str, date=None) -> Learner:
    now = date or timezone.now()
    learner.updated_by = by.history_actor
    learner.updated_at = now
    learner._change_reason = reason
    learner._history_user = by.user  # never the request's user: for agents that is not a Django user
    if date is not None:
        learner._history_date = date
    if created:
        learner.created_at = now
        with transaction.atomic():
            learner.save(force_insert=True)
    else:
        learner.save()
    _replace_words(learner)
    return learner


class _RowTaken(Exception):
    """A concurrent writer created this learner's row after our snapshot began."""


def set_learner_profile(
    *,
    user_id: str,
    display_name=UNSET,
    email=UNSET,
    by: Actor,
) -> tuple[Learner, bool]:
    """Set the learner's display name and/or email; a field left UNSET keeps its value, "" clears
    it. Returns (learner, changed)."""
    validate_owner_id(user_id)
    wanted = {}
    if display_name is not UNSET:
        wanted["display_name"] = _clean_display_name(display_name)
    if email is not UNSET:
        wanted["email"] = _clean_email(email)

    def unit():
        with dolt.atomic():
            learner = Learner.objects.filter(user_id=user_id).first()
            created = learner is None
            if created:
                learner = Learner(user_id=user_id)
            changes = {k: v for k, v in wanted.items() if getattr(learner, k) != v}
            if not changes:
                return learner, False
            for name, value in changes.items():
                setattr(learner, name, value)
            reason = "Set " + " and ".join(name.replace("_", " ") for name in changes)
            try:
                _save(learner, created=created, by=by, reason=reason)
            except IntegrityError as exc:
                raise _RowTaken from exc
            dolt.commit_on_success(f"{reason} of learner {user_id} ({by})", by.author)
            return learner, True

    for _ in range(2):
        try:
            return dolt.retry_on_conflict(unit)
        except _RowTaken:
            continue  # the re-run's snapshot sees the other writer's row and updates it
    return dolt.retry_on_conflict(unit)


@dataclass(frozen=True)
class ImportedProfile:
    """What an import source knows about a learner's name."""

    user_id: str
    display_name: str = ""
    email: str = ""


def import_learner_profiles(
    *, profiles: Iterable[ImportedProfile], by: Actor, dry_run: bool = False,
) -> dict[str, str]:
    """Fill learners' profiles from an import, inside the caller's transaction (the import makes
    the Dolt commit). Returns {user_id: what changed} for the learners whose profile changed.

    Imports only fill empty fields: a name already there (set by an agent, staff or an earlier
    import) is never overwritten, so re-runs change nothing and an agent's correction stays.
    Values the source does not have ("") never clear anything; invalid ones are ignored.
    """
    wanted: dict[str, dict[str, str]] = {}
    for profile in profiles:
        fields = {}
        for name, clean in (("display_name", _clean_display_name), ("email", _clean_email)):
            try:
                value = clean(getattr(profile, name))
            except InvalidProfile:
                continue
            if value:
                fields[name] = value
        if fields:
            wanted.setdefault(profile.user_id, {}).update(fields)
    if not wanted:
        return {}
    existing = {l.user_id: l for l in Learner.objects.filter(user_id__in=list(wanted))}
    changed: dict[str, str] = {}
    for user_id, fields in wanted.items():
        learner = existing.get(user_id)
        created = learner is None
        if created:
            learner = Learner(user_id=user_id)
        changes = {name: value for name, value in fields.items() if not getattr(learner, name)}
        if not changes:
            continue
        what = " and ".join(name.replace("_", " ") for name in changes)
        changed[user_id] = f"{what} set"
        if dry_run:
            continue
        for name, value in changes.items():
            setattr(learner, name, value)
        _save(learner, created=created, by=by, reason=f"Imported {what}")
    return changed


def restore_learner_profile(*, profile: Learner, history: list) -> Learner:
    """Write a profile and its history rows as an export carried them (same dates, actors and
    reasons), inside the caller's transaction; the search words follow from the profile."""
    Learner.objects.bulk_create([profile])  # no signal: no history row is invented
    profile = Learner.objects.get(user_id=profile.user_id)  # MySQL returns no id from bulk_create
    for row in history:
        row.id = profile.pk
    HistoricalLearner.objects.bulk_create(history, batch_size=200)
    _replace_words(profile)
    return profile
