"""Restoring a learner from a youlab-export document (``importing.export``; docs/export.md).

One writer per table: blocks, their history rows and diffs go through ``importing.writer`` (the
one bulk writer of those tables), the profile through ``learners.services``, module chats through
``chats.services``; this module checks the document against the database, links users and makes
the one Dolt commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import DataError, IntegrityError, transaction

from blocks.models import Block, HistoricalBlock
from chats.exceptions import ConcurrentWrite
from chats.services import restore_module_chats
from diffs.models import PendingDiff
from learners.services import restore_learner_profile
from youlab import dolt

from . import export, writer
from .exceptions import InvalidExportDocument, LearnerExists


@dataclass
class ImportResult:
    user_id: str
    status: str  # "imported", "dry_run", or "unchanged" (this document was imported before)
    blocks: int = 0
    versions: int = 0
    diffs: int = 0
    module_chats: int = 0
    module_chat_versions: int = 0
    profile: bool = False
    warnings: list[str] = field(default_factory=list)


def import_user_export(
    *, document: dict, actor: str = "import:export", author: str = dolt.SYSTEM_AUTHOR,
    dry_run: bool = False,
) -> ImportResult:
    """Restore a learner from `export.build_user_export`'s document, as one Dolt commit.

    Same block and diff ids, versions and history rows (original dates, actors, reasons).
    Refuses (LearnerExists) when the database already holds any of the learner's data, unless
    it is exactly this document (then nothing happens: re-running an import is safe).
    Historical rows are written directly; the original rows keep their own actors, `actor` only
    names the importer in the Dolt commit.
    """
    parsed = export.parse_export_document(document)  # InvalidExportDocument on any problem
    user_id = parsed.user_id

    def unit():  # returns (status, warnings); re-run from scratch on a conflict
        with dolt.atomic():
            if export.learner_has_data(user_id):
                if export.matches_current_data(document):
                    return "unchanged", []
                raise LearnerExists(
                    f"learner {user_id!r} already has data in this database; import refuses to "
                    "merge into it (export the learner and compare, or remove their data first)"
                )
            _refuse_taken_ids(parsed)
            warnings = _link_users(parsed.user_links)
            if dry_run:
                return "dry_run", warnings
            try:
                with transaction.atomic():
                    _write(parsed)
            except (IntegrityError, DataError) as exc:
                # An export holds no secrets, so the database's own words can be shown.
                raise InvalidExportDocument(f"the database refused the document: {exc.args[-1]}") from exc
            dolt.commit_on_success(
                f"Import learner {user_id} from a youlab-export document: {len(parsed.blocks)} "
                f"block(s), {len(parsed.block_history)} version(s), {len(parsed.diffs)} diff(s), "
                f"{len(parsed.chats)} module chat(s) ({actor})",
                author,
            )
            return "imported", warnings

    try:
        status, warnings = dolt.retry_on_conflict(unit)
    except dolt.SerializationFailure as exc:
        raise ConcurrentWrite(str(exc)) from exc
    result = ImportResult(user_id=user_id, status=status, warnings=[*parsed.warnings, *warnings])
    if status != "unchanged":
        result.blocks, result.versions = len(parsed.blocks), len(parsed.block_history)
        result.diffs, result.module_chats = len(parsed.diffs), len(parsed.chats)
        result.module_chat_versions = sum(len(rows) for rows in parsed.chat_history)
        result.profile = parsed.profile is not None
    return result


def _refuse_taken_ids(parsed):
    """Block and diff ids are global: another owner may hold one (a document edited by hand)."""
    taken = list(Block.objects.filter(pk__in=parsed.block_ids).values_list("pk", flat=True)[:5])
    taken += list(
        HistoricalBlock.objects.filter(id__in=parsed.block_ids).values_list("id", flat=True).distinct()[:5]
    )
    taken += list(PendingDiff.objects.filter(pk__in=parsed.diff_ids).values_list("pk", flat=True)[:5])
    taken = list(dict.fromkeys(taken))
    if taken:
        raise LearnerExists(
            "ids in the document already exist in this database: "
            + ", ".join(str(pk) for pk in taken)
        )


def _link_users(user_links) -> list[str]:
    """Point history_user / reviewer at the local user with the same username, if any."""
    usernames = {username for _, _, username in user_links}
    User = get_user_model()
    ids = dict(
        User.objects.filter(**{f"{User.USERNAME_FIELD}__in": usernames})
        .values_list(User.USERNAME_FIELD, "pk")
    )
    for instance, attname, username in user_links:
        setattr(instance, attname, ids.get(username))
    missing = sorted(usernames - ids.keys())
    if missing:
        return [
            "no local user for " + ", ".join(missing)
            + ": their history rows and reviews keep the actor but no user link"
        ]
    return []


def _write(parsed):
    if parsed.profile is not None:
        restore_learner_profile(profile=parsed.profile, history=parsed.profile_history)
    writer.write(blocks=parsed.blocks, diffs=parsed.diffs, history=parsed.block_history)
    restore_module_chats(user_id=parsed.user_id, chats=parsed.chats, history=parsed.chat_history)
