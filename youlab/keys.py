"""Agent API keys: create, revoke, list, note their use. The one writer of `agent_keys`
(`create_agent_key` and, later, the admin call these)."""

from __future__ import annotations

import re
from datetime import timedelta

from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.utils import timezone

from youlab import dolt
from youlab.actors import Actor
from youlab.errors import ServiceError
from youlab.models import ALL_SCOPES, DEFAULT_SCOPES, AgentKey

# The name becomes the actor `agent:<name>` in block history and scopes Idempotency-Keys. No ':'
# in it: a proposal's key name column also holds staff proposals as `staff:<username>`, and a key
# named `staff:rita` would pass its proposals off as hers (her queue rows, her idempotency keys).
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
NAME_MAX = AgentKey._meta.get_field("name").max_length
# last_used_at is a hint for staff ("is this key still in use?"), not an audit log: writing it
# on every request would add a write to every read.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class AgentKeyError(ServiceError):
    code = "invalid_agent_key"
    status = 400


def parse_scopes(text: str | None) -> list[str]:
    """`memory:read,chats` → ["memory:read", "chats"] (in the canonical order); None → defaults."""
    if text is None:
        return list(DEFAULT_SCOPES)
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(wanted) - set(ALL_SCOPES))
    if unknown:
        raise AgentKeyError(
            f"unknown scope(s) {', '.join(unknown)}; the scopes are {', '.join(ALL_SCOPES)}",
            details={"unknown": unknown},
        )
    if not wanted:
        raise AgentKeyError(f"give at least one scope of {', '.join(ALL_SCOPES)}")
    return [scope for scope in ALL_SCOPES if scope in wanted]


def create_agent_key(*, name: str, scopes: list[str] | None = None,
                     allow_duplicate: bool = False,
                     by: Actor | None = None) -> tuple[AgentKey, str]:
    """A new key (row, secret). The secret exists only in the return value: store it now.

    One Dolt commit by `by` (default: the system) records who made which key (name, prefix, scopes; never the
    secret or its hash in the message)."""
    if len(name) > NAME_MAX or not NAME_RE.match(name):
        raise AgentKeyError(
            f"invalid name {name!r}: 1 to {NAME_MAX} characters, letters, digits and . _ @ + - "
            "(starting with a letter or digit)"
        )
    scopes = list(DEFAULT_SCOPES) if scopes is None else scopes
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown or not scopes:
        raise AgentKeyError(f"scopes must be some of {', '.join(ALL_SCOPES)}")
    with dolt.atomic():
        active = AgentKey.objects.filter(name=name, revoked=False)
        if not allow_duplicate and active.exists():
            raise AgentKeyError(
                f"an active key named {name!r} exists (prefix {active.first().prefix}); "
                "use --allow-duplicate to rotate, or --revoke first"
            )
        api_key, secret = AgentKey.objects.create_key(name=name, scopes=list(scopes))
        dolt.commit_on_success(
            f"Create agent key {name} ({api_key.prefix}), scopes {','.join(api_key.scopes)}",
            (by or Actor.system()).author,
        )
        return api_key, secret


def revoke_agent_keys(*, name: str, prefix: str | None = None, by: Actor | None = None) -> int:
    """Revoke the active keys of `name` (only the one with `prefix`, if given); how many.
    One Dolt commit by `by` (default: the system) when something was revoked."""
    with dolt.atomic():
        keys = AgentKey.objects.filter(name=name, revoked=False)
        if prefix:
            keys = keys.filter(prefix=prefix)
        revoked = []
        for api_key in keys:
            api_key.revoked = True
            api_key.save(update_fields=["revoked"])  # save(), not update(): caches hear of it
            revoked.append(api_key.prefix)
        if revoked:
            dolt.commit_on_success(f"Revoke agent key {name} ({', '.join(revoked)})",
                                   (by or Actor.system()).author)
    return len(revoked)


def note_key_use(api_key: AgentKey) -> bool:
    """Set last_used_at when it is more than LAST_USED_RESOLUTION old, once for all workers.
    Best effort: a concurrent request of the same key writing the same cell (Dolt's 1213) must
    not fail the request it serves. True when this call set it (on `api_key` too)."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return False
    # The instance may come from the verified-key cache, with an old last_used_at: the shared
    # cache (CACHE_URL) says whether some worker wrote it this minute already.
    try:
        if not cache.add(f"agentkey:used:{api_key.prefix}", 1, LAST_USED_RESOLUTION.total_seconds()):
            return False
    except Exception:  # noqa: BLE001 (no cache: the row's own value is the gate)
        pass
    api_key.last_used_at = now
    try:
        # update(), not save(): no post_save, so verified-key caches are not flushed. A savepoint
        # when a caller's transaction is open, so a refused write leaves that transaction usable.
        with transaction.atomic():
            AgentKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    except DatabaseError:
        return False
    return True
