"""Concurrent, conflicting approvals and reverts on ONE block, from separate connections.

50 rounds; in each, three reviewers act on the same block at the same moment (threads, each
with its own database connection): two approve proposals that were made against the same
version (an append, and a str_replace whose anchor a revert may remove), one reverts the block
to an earlier version. Dolt merges concurrent transactions at COMMIT and fails the second
writer of a cell with 1213; the services retry whole units. Afterwards the history must tell one
consistent story: no lost update, versions 1..n each exactly once in commit order, one history
row per applied change (each derived from the version before it), every approved diff linked to
its row and its Dolt commit, and nothing for the refused ones.
"""

from __future__ import annotations

import logging
import random
import threading

import pytest
from django.db import connection

from blocks import services as block_services
from blocks.exceptions import BlockConflict
from blocks.models import Block, HistoricalBlock
from diffs import edits, services
from diffs.models import DiffStatus, PendingDiff
from tests.factories import make_block
from youlab import dolt
from youlab.actors import Actor
from youlab.dolt import SerializationFailure

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROUNDS = 50


def _run_round(block, reviewers, round_no, rng, outcomes, errors):
    current = Block.objects.get(pk=block.pk)
    anchor = f"line {round_no - 1}." if round_no else "Goal"
    appended, _ = services.propose_diff(
        owner_id=block.owner_id, label=block.label, operation="append",
        arguments={"text": f"line {round_no}."}, by=Actor.agent("tutor"))
    replaced = None
    if anchor in current.content and current.content.count(anchor) == 1:
        replaced, _ = services.propose_diff(
            owner_id=block.owner_id, label=block.label, operation="str_replace",
            arguments={"old_str": anchor, "new_str": anchor.upper()}, by=Actor.agent("coach"))
    target = rng.randint(1, current.version - 1)
    barrier = threading.Barrier(3)

    def approve(diff, reviewer):
        try:
            barrier.wait()
            if diff is None:
                return
            try:
                outcomes["diffs"].append((diff.pk, services.approve_diff(diff_id=diff.pk, by=Actor.staff(reviewer)).status))
            except SerializationFailure:
                outcomes["diffs"].append((diff.pk, "gave up"))
        except Exception as exc:  # reported by the test
            errors.append(repr(exc))
        finally:
            connection.close()

    def revert(reviewer):
        try:
            barrier.wait()
            try:
                result = block_services.revert_block(block=block, version=target, by=Actor.staff(reviewer))
                outcomes["reverts"].append((result.version, target))
            except (BlockConflict, SerializationFailure):
                outcomes["refused_reverts"] += 1  # the block moved under it: nothing written
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=approve, args=(appended, reviewers[0])),
        threading.Thread(target=approve, args=(replaced, reviewers[1])),
        threading.Thread(target=revert, args=(reviewers[2],)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a reviewer hung"


def test_concurrent_conflicting_approvals_and_reverts_lose_nothing(django_user_model, caplog):
    caplog.set_level(logging.INFO, logger="youlab.dolt")
    reviewers = [django_user_model.objects.create_user(name, email=f"{name}@example.org", is_staff=True)
                 for name in ("rita", "sam", "lee")]
    block = make_block(owner_id="maya", label="student", content="# Student\nGoal: write about the bakery\n")
    block_services.update_block_content(block=block, content=block.content + "Likes chess\n", by=Actor.system(), reason="seed",
                                        dolt_commit=False)
    dolt.commit("hardening: seed")
    log_before = dolt.log_count()
    rng = random.Random(8)
    outcomes = {"diffs": [], "reverts": [], "refused_reverts": 0}
    errors: list[str] = []
    for round_no in range(ROUNDS):
        _run_round(block, reviewers, round_no, rng, outcomes, errors)
    assert errors == []

    block.refresh_from_db()
    rows = list(HistoricalBlock.objects.filter(id=block.pk).order_by("history_id")
                .values_list("version", "content", "diff_id", "actor", "history_change_reason"))
    versions = [r[0] for r in rows]
    by_version = {r[0]: r for r in rows}
    # Versions strictly increasing in commit order, contiguous, one row each; the block is the last.
    assert versions == list(range(1, len(rows) + 1))
    assert block.version == versions[-1] and block.content == by_version[block.version][1]

    statuses = dict(outcomes["diffs"])
    diffs = {d.pk: d for d in PendingDiff.objects.filter(pk__in=list(statuses))}
    approved = [d for d in diffs.values() if d.status == DiffStatus.APPROVED]
    # One history row per applied change: seed (2) + approvals + successful reverts.
    assert len(rows) == 2 + len(approved) + len(outcomes["reverts"])
    for pk, status in statuses.items():
        assert diffs[pk].status == (DiffStatus.PENDING if status == "gave up" else status)

    # No lost update: every version is its change applied to the version just before it.
    linked = {r[2]: r for r in rows if r[2] is not None}
    assert set(linked) == {d.pk for d in approved}
    for diff in approved:
        version, content, _, actor, reason = by_version[diff.applied_version]
        assert linked[diff.pk][0] == diff.applied_version
        previous = by_version[diff.applied_version - 1][1]
        assert content == edits.apply_operation(previous, diff.operation, diff.arguments), diff.pk
        assert actor.startswith("staff:") and str(diff.pk) in reason
    for version, target in outcomes["reverts"]:
        row = by_version[version]
        assert row[2] is None and row[3] == "staff:lee" and row[4] == f"Revert to v{target} by lee"
        assert row[1] == by_version[target][1]
    # Refused decisions left nothing: conflicts and given-up diffs have no history row.
    for diff in diffs.values():
        if diff.status != DiffStatus.APPROVED:
            assert diff.pk not in linked and diff.applied_version is None

    # Every applied change and every conflict is one Dolt commit, by its reviewer.
    entries = dolt.log(limit=dolt.log_count() - log_before)
    messages = [e.message for e in entries]
    for diff in diffs.values():
        prefix = {DiffStatus.APPROVED: "Approve diff", DiffStatus.CONFLICT: "Conflict on diff"}.get(diff.status)
        found = [m for m in messages if str(diff.pk) in m]
        assert len(found) == (1 if prefix else 0) and (not prefix or found[0].startswith(f"{prefix} {diff.pk}"))
    assert sum(m.startswith("Revert to v") for m in messages) == len(outcomes["reverts"])
    assert len(messages) == len(approved) + len(outcomes["reverts"]) + sum(
        d.status == DiffStatus.CONFLICT for d in diffs.values())
    assert dolt.status() == []

    # The rounds really contended: approvals and reverts both landed, some reverts lost, and
    # Dolt refused concurrent COMMITs (1213) that the services then retried.
    assert len(approved) >= ROUNDS and outcomes["reverts"] and outcomes["refused_reverts"]
    assert any("serialization failure" in r.getMessage() for r in caplog.records)
