"""The review workflow: agents propose, staff approve (maybe after editing) or reject.

Every decision is one unit of work (`dolt.atomic()`, retried on Dolt's 1213 by
`dolt.retry_on_conflict`) that writes the block through blocks.services (one version, one
block_history row linked to the diff), marks the diff, and ends in one Dolt commit authored by
the reviewer (`by`, youlab.actors). What approving writes, or why it conflicts, is
diffs.edits.plan_approval (the review page previews the same plan). Proposals make no Dolt commit
of their own: they are drafts until decided.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from blocks import selectors as block_selectors
from blocks import services as block_services
from blocks.exceptions import BlockExists, BlockNotFound, BlockReadOnly
from blocks.models import Block, OwnerType
from youlab import dolt, webhooks
from youlab.actors import Actor
from youlab.errors import InvalidInput, ServiceError
from youlab.validators import validate_identifier, validate_label, validate_owner_id

from . import edits, selectors
from .exceptions import (
    BaseVersionMoved,
    DiffNotFound,
    DiffNotPending,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    ReasonRequired,
    RepeatedRefusal,
    TooManyOpenProposals,
    VersionMismatch,
)
from .models import DiffStatus, Operation, PendingDiff, ProposalClaim
from .signals import diff_decided

MAX_REASONING_LENGTH = 20_000
MAX_AGENT_ID_LENGTH = 255
DECIDABLE = (DiffStatus.PENDING,)


def request_fingerprint(*, payload: dict) -> str:
    """A stable hash of a proposal request, to tell an idempotent replay from key reuse."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- propose ------------------------------------------------------------------------------------


def propose_diff(
    *,
    owner_id: str,
    label: str,
    operation: str,
    arguments: dict,
    owner_type: str = OwnerType.USER,
    reasoning: str = "",
    by: Actor,
    agent_id: str = "",
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    fingerprint: str = "",
    render_response=None,
    callback_url: str = "",
) -> tuple[PendingDiff, bool]:
    """Validate an agent's proposed edit and store it as a pending diff.

    `operation`/`arguments` are canonical (the API edge maps aliases with
    edits.normalize_operation). `by` proposes (an agent key, or staff: `Actor.proposer`).
    Returns (diff, created): with an `idempotency_key` already used
    by this agent key for the same request, the first diff is returned with created=False,
    whatever the interleaving of the two requests (a ProposalClaim serialises them).
    `render_response(diff)`, if given with an `idempotency_key`, makes the answer kept for
    replays; it is stored in the same INSERT as the diff (one write, not an INSERT and an UPDATE).
    `callback_url`, if given, must pass youlab.webhooks.check_callback_url (else
    CallbackNotAllowed, nothing stored); the decision is POSTed there (callbacks app).
    """
    validate_owner_id(owner_id)
    validate_label(label)
    if not isinstance(reasoning, str) or len(reasoning) > MAX_REASONING_LENGTH:
        raise InvalidInput(f"reasoning must be text of at most {MAX_REASONING_LENGTH} characters",
                           details={"field": "reasoning"})
    # The same rule as every other agent id (module chats'): youlab.validators.
    validate_identifier(agent_id, "agent_id", max_length=MAX_AGENT_ID_LENGTH, allow_empty=True)
    agent_key_name = by.proposer
    if callback_url:
        webhooks.check_callback_url(callback_url)

    def store() -> tuple[PendingDiff, bool]:
        return _store_proposal(
            owner_type=owner_type, owner_id=owner_id, label=label, operation=operation,
            arguments=arguments, reasoning=reasoning, agent_key_name=agent_key_name,
            agent_id=agent_id, expected_version=expected_version,
            idempotency_key=idempotency_key or None, fingerprint=fingerprint,
            render_response=render_response if idempotency_key else None,
            callback_url=callback_url,
        )

    if not idempotency_key:
        return store()
    return _with_idempotency_claim(agent_key_name, idempotency_key, fingerprint, store)


def _store_proposal(*, owner_type, owner_id, label, operation, arguments, reasoning, agent_key_name,
                    agent_id, expected_version, idempotency_key, fingerprint, render_response,
                    callback_url):
    block = block_selectors.find_live_block(owner_type, owner_id, label)
    if operation == Operation.CREATE:
        if block is not None:
            raise BlockExists(
                f"block {label!r} already exists; propose a change to it instead",
                details={"version": block.version},
            )
        deleted = block_selectors.find_block(owner_type, owner_id, label)
        if deleted is not None:
            # A create needs the label free of deleted rows too; approval could only fail: say it now.
            raise BlockExists(
                f"block {label!r} was deleted; staff can restore it (then propose a change to it)",
                details={"version": deleted.version, "deleted": True},
            )
        current = ""
    else:
        if block is None:
            raise BlockNotFound(f"no block {label!r} for {owner_id!r}")
        if block.read_only:
            raise BlockReadOnly(f"block {label!r} is read-only")
        if expected_version is not None and block.version != expected_version:
            raise VersionMismatch(
                f"block is at version {block.version}, not {expected_version}",
                details={"current_version": block.version},
            )
        current = block.content

    proposed = edits.apply_operation(current if block else None, operation, arguments)
    char_limit = arguments.get("char_limit") if operation == Operation.CREATE else block.char_limit
    block_services.check_char_limit(content=proposed, char_limit=char_limit)
    _check_open_proposals(owner_type, owner_id, label, agent_key_name)

    diff = PendingDiff(
        owner_type=owner_type,
        owner_id=owner_id,
        label=label,
        block=block,
        operation=operation,
        arguments=arguments,
        proposed_content=proposed,
        preview=edits.unified_diff(current, proposed, label),
        base_version=block.version if block else None,
        reasoning=reasoning,
        agent_key_name=agent_key_name,
        agent_id=agent_id,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        callback_url=callback_url,
    )
    if render_response is not None:
        diff.response_body = render_response(diff)
    try:
        dolt.retry_on_conflict(diff.save, force_insert=True)
    except IntegrityError:
        # Only reachable without a claim (a key stored by an import, or a claim taken over after
        # it went stale): the diff already stored under this key answers.
        if idempotency_key:
            replay = _idempotent_replay(agent_key_name, idempotency_key, fingerprint)
            if replay is not None:
                return replay, False
        raise
    return diff, True


def max_open_proposals() -> int:
    return int(getattr(settings, "YOULAB_MAX_OPEN_PROPOSALS", 0) or 0)


def _check_open_proposals(owner_type, owner_id, label, agent_key_name) -> None:
    """At most YOULAB_MAX_OPEN_PROPOSALS pending proposals per (agent key, block): an agent in a
    loop cannot bury a block's review under thousands of proposals. (Concurrent proposals of one
    key may pass together: the cap is a bound on runaway clients, not an exact count.)"""
    limit = max_open_proposals()
    if limit <= 0:
        return
    open_count = selectors.count_open_proposals(
        owner_type=owner_type, owner_id=owner_id, label=label, agent_key_name=agent_key_name, up_to=limit,
    )
    if open_count >= limit:
        raise TooManyOpenProposals(
            f"{agent_key_name or 'this caller'} already has {open_count} pending proposals for "
            f"{label!r}; wait for a reviewer to decide some (poll the diffs) before proposing more",
            details={"open": open_count, "limit": limit},
        )


def _idempotent_replay(agent_key_name, idempotency_key, fingerprint) -> PendingDiff | None:
    existing = PendingDiff.objects.filter(
        agent_key_name=agent_key_name, idempotency_key=idempotency_key
    ).first()
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request",
            details={"diff_id": str(existing.pk)},
        )
    return existing


# --- Idempotency-Key claims -------------------------------------------------------------------
#
# Two requests with one key may arrive together (a client's retry racing its first attempt).
# Each first looks for a stored diff, then claims the key. The winner re-checks and proposes. A
# stored diff answers everyone after it (the replay); a refusal stays on the claim for
# REFUSAL_MEMO_SECONDS, so requests that were waiting meet the same refusal, after which the key is
# free again (a refused request stores nothing). The losers poll with fresh snapshots (autocommit)
# until one of those happens. So whatever the interleaving, requests with one key and one body
# in flight together answer alike.

CLAIM_WAIT_SECONDS = 15.0  # how long a request waits for another one holding its key
CLAIM_STALE_SECONDS = 60.0  # a claim this old belongs to a process that died: take it over
REFUSAL_MEMO_SECONDS = 2.0  # waiters poll every 0.2 s at most, so they all see it in time


def _claim_id(agent_key_name: str, idempotency_key: str) -> str:
    return hashlib.sha256(f"{agent_key_name}\0{idempotency_key}".encode()).hexdigest()


def _try_claim(claim_id: str, fingerprint: str) -> uuid.UUID | None:
    """Our token when we now hold the claim; None when another request does."""
    token = uuid.uuid4()
    try:
        # Its own short transaction (a savepoint inside a caller's): committed before we read
        # anything else, so a concurrent claimer meets it at its INSERT or at its COMMIT.
        with transaction.atomic():
            ProposalClaim.objects.create(id=claim_id, token=token, fingerprint=fingerprint)
    except IntegrityError:
        return None  # the other claim was committed before our INSERT
    except OperationalError as exc:
        if dolt.is_serialization_failure(exc):
            return None  # both inserted; Dolt refused our COMMIT (1213)
        raise
    return token


def _quietly(write) -> None:
    """A claim bookkeeping write; if it fails, the row goes stale and is taken over later."""
    try:
        dolt.retry_on_conflict(write)
    except (OperationalError, dolt.SerializationFailure):
        pass


def _release_claim(claim_id: str, token: uuid.UUID) -> None:
    _quietly(ProposalClaim.objects.filter(id=claim_id, token=token).delete)


def _memo_refusal(claim_id: str, token: uuid.UUID, exc) -> None:
    now = timezone.now()
    refusal = {"status": exc.status, "code": exc.code, "message": exc.message, "details": exc.details}
    _quietly(lambda: ProposalClaim.objects.filter(id=claim_id, token=token).update(refusal=refusal, refused_at=now))
    # Memos nobody needs any more (keys never retried).
    expired = now - timedelta(seconds=max(CLAIM_STALE_SECONDS, REFUSAL_MEMO_SECONDS))
    _quietly(ProposalClaim.objects.filter(refused_at__lt=expired).delete)


def _is_refusal(exc) -> bool:
    return isinstance(exc, ServiceError) and exc.status < 500


def _with_idempotency_claim(agent_key_name, idempotency_key, fingerprint, store):
    claim_id = _claim_id(agent_key_name, idempotency_key)
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    delay = 0.01
    while True:
        replay = _idempotent_replay(agent_key_name, idempotency_key, fingerprint)
        if replay is not None:
            return replay, False
        token = _try_claim(claim_id, fingerprint)
        if token is not None:
            break
        if time.monotonic() > deadline:
            raise IdempotencyKeyInUse(
                "another request with this Idempotency-Key is still being processed; "
                "retry the same request shortly",
                details={"retry_after_seconds": 1},
            )
        claim = ProposalClaim.objects.filter(id=claim_id).first()
        if claim is None:
            continue  # released between our INSERT and this read: claim again
        now = timezone.now()
        if claim.refused_at is not None:
            fresh = (now - claim.refused_at).total_seconds() <= REFUSAL_MEMO_SECONDS
            if fresh and claim.fingerprint == fingerprint:
                raise RepeatedRefusal(claim.refusal)
            _quietly(ProposalClaim.objects.filter(id=claim_id, token=claim.token).delete)  # not ours to repeat
            continue
        if (now - claim.claimed_at).total_seconds() > CLAIM_STALE_SECONDS:
            _quietly(ProposalClaim.objects.filter(id=claim_id, token=claim.token).delete)
            continue
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    try:
        # A request that finished between our first look and our claim stored its diff.
        replay = _idempotent_replay(agent_key_name, idempotency_key, fingerprint)
        result = (replay, False) if replay is not None else store()
    except Exception as exc:
        if _is_refusal(exc) and not isinstance(exc, IdempotencyKeyReused):
            _memo_refusal(claim_id, token, exc)
        else:
            _release_claim(claim_id, token)
        raise
    _release_claim(claim_id, token)
    return result


# --- decide -------------------------------------------------------------------------------------


def _get_for_decision(diff_id) -> PendingDiff:
    # No select_related("block"): approve_diff reads the block on its own, and on Dolt the JOIN
    # made this the slowest statement of an approval (bench/approvals.py).
    diff = selectors.find_diff(diff_id)
    if diff is None:
        raise DiffNotFound(f"no diff {diff_id}")
    if diff.status not in DECIDABLE:
        raise DiffNotPending(
            f"diff is {diff.status}; only pending diffs can be decided",
            details={"status": diff.status},
        )
    return diff


def _mark_conflict(diff: PendingDiff, reason: str, by: Actor) -> PendingDiff:
    diff.status = DiffStatus.CONFLICT
    diff.conflict_reason = reason
    diff.reviewer = by.user
    diff.reviewed_at = timezone.now()
    diff.updated_at = diff.reviewed_at
    diff.save(update_fields=["status", "conflict_reason", "reviewer", "reviewed_at", "updated_at"])
    diff_decided.send(sender=PendingDiff, diff=diff)
    dolt.commit_on_success(f"Conflict on diff {diff.pk}: {diff.owner_id}/{diff.label}: {reason}", by.author)
    return diff


def approve_diff(
    *, diff_id, by: Actor, edited_content: str | None = None, note: str = "",
    only_on_base_version: bool = False,
) -> PendingDiff:
    """Apply a pending diff to the block's current content, as the reviewer `by`.

    When the block moved on since the proposal, the operation is re-applied to the new content
    (a rebase) if it still applies; otherwise the diff becomes `conflict` with the reason and
    the block is untouched (edits.plan_approval). `edited_content` (edit-and-approve) replaces
    the proposed text. `only_on_base_version` refuses (BaseVersionMoved, nothing written, the
    diff stays pending) instead of rebasing. Raises OverCharLimit (nothing written) when the
    result does not fit. `diff.is_rebase` tells afterwards whether an approval was applied as
    proposed.
    """

    def unit():
        with dolt.atomic():
            diff = _get_for_decision(diff_id)
            if diff.operation == Operation.CREATE:
                block = block_selectors.find_live_block(diff.owner_type, diff.owner_id, diff.label)
            else:
                block = block_selectors.find_block_by_id(diff.block_id)
                if only_on_base_version and (block is None or block.version != diff.base_version):
                    now = f"at version {block.version}" if block is not None else "gone"
                    raise BaseVersionMoved(
                        f"the block moved on from version {diff.base_version} (now {now}); "
                        "approve it on its own to rebase it",
                        details={"base_version": diff.base_version,
                                 "current_version": block.version if block is not None else None},
                    )
                if block is not None and block.is_deleted:
                    block = None
            plan = edits.plan_approval(
                operation=diff.operation, arguments=diff.arguments, proposed_content=diff.proposed_content,
                base_version=diff.base_version, block_version=block.version if block else None,
                block_content=block.content if block else "", edited_content=edited_content,
            )
            if plan.conflict:
                return _mark_conflict(diff, plan.conflict, by)
            reason = _approval_reason(diff, by, edited_content is not None, block.version if block else None)
            if diff.operation == Operation.CREATE:
                block = block_services.create_block(
                    owner_type=diff.owner_type, owner_id=diff.owner_id, label=diff.label, content=plan.content,
                    description=diff.arguments.get("description", ""), char_limit=diff.arguments.get("char_limit"),
                    by=by, reason=reason, diff_id=diff.pk, dolt_commit=False,
                )
            else:
                block = block_services.update_block_content(
                    block=block, content=plan.content, by=by, reason=reason, expected_version=block.version,
                    diff_id=diff.pk, dolt_commit=False, read_in_this_transaction=True,
                )
            return _mark_approved(diff, block, by, note)

    return dolt.retry_on_conflict(unit)


def _approval_reason(diff, by: Actor, edited: bool, from_version) -> str:
    how = "edited and approved" if edited else "approved"
    rebased = (
        f", rebased from v{diff.base_version}"
        if not edited and diff.base_version is not None and diff.base_version != from_version
        else ""
    )
    return f"Diff {diff.pk} ({diff.operation}) {how} by {by.name or by}{rebased}"


def _mark_approved(diff, block, by: Actor, note) -> PendingDiff:
    now = timezone.now()
    diff.status = DiffStatus.APPROVED
    diff.block = block
    diff.reviewer = by.user
    diff.reviewed_at = now
    diff.updated_at = now
    diff.review_note = note
    diff.applied_version = block.version
    diff.save(update_fields=[
        "status", "block", "reviewer", "reviewed_at", "updated_at", "review_note", "applied_version",
    ])
    diff_decided.send(sender=PendingDiff, diff=diff)
    dolt.commit_on_success(
        f"Approve diff {diff.pk}: {block.owner_display}/{block.label} v{block.version}", by.author,
    )
    return diff


def reject_diff(*, diff_id, by: Actor, reason: str) -> PendingDiff:
    """Reject a pending diff with the reviewer's (`by`) reason; the block is untouched."""
    if not isinstance(reason, str) or not reason.strip():
        raise ReasonRequired("a reason is required to reject a diff")

    def unit():
        with dolt.atomic():
            diff = _get_for_decision(diff_id)
            now = timezone.now()
            diff.status = DiffStatus.REJECTED
            diff.reviewer = by.user
            diff.reviewed_at = now
            diff.updated_at = now
            diff.review_note = reason.strip()
            diff.save(update_fields=["status", "reviewer", "reviewed_at", "updated_at", "review_note"])
            diff_decided.send(sender=PendingDiff, diff=diff)
            dolt.commit_on_success(
                f"Reject diff {diff.pk}: {diff.owner_id}/{diff.label}: {diff.review_note}", by.author,
            )
            return diff

    return dolt.retry_on_conflict(unit)
