"""Reads for the staff pages: the review queue, one diff's preview, block versions, learners.

Nothing here writes. Every function runs a fixed number of queries, whatever the number of
diffs or history rows (the admin tests count them). On Dolt a LEFT JOIN under
`ORDER BY … LIMIT` makes the planner join the whole table before sorting, so list pages fetch
their related rows with prefetch (one `IN (…)` query per relation) instead of select_related.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch
from django.db.models.functions import Length

from blocks import selectors as block_selectors
from blocks.models import Block, HistoricalBlock, OwnerType
from chats.models import ModuleChat, OwuiKeyRead, UserApiKey
from diffs import edits, rendering
from diffs.models import DiffStatus, Operation, PendingDiff
from learners import selectors as learner_selectors
from learners.models import Learner

from .adminkit import capped_count

# The order of the status tabs above the queue: what needs a decision first.
STATUS_ORDER = (
    DiffStatus.PENDING,
    DiffStatus.CONFLICT,
    DiffStatus.APPROVED,
    DiffStatus.REJECTED,
    DiffStatus.SUPERSEDED,
)

# Columns a list page never shows: full texts and the agent's raw request.
_HEAVY_DIFF_FIELDS = ("proposed_content", "preview", "arguments", "response_body", "metadata")
_LIST_BLOCK_FIELDS = ("id", "owner_type", "owner_id", "label", "version", "deleted_at", "char_limit")


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int
    capped: bool


def status_counts() -> list[StatusCount]:
    """How many diffs are in each status (each count capped, so it stays cheap at any size)."""
    result = []
    for status in STATUS_ORDER:
        count, capped = capped_count(PendingDiff.objects.filter(status=status))
        result.append(StatusCount(status.value, status.label, count, capped))
    return result


def slim_diff_list(queryset):
    """A changelist queryset: no full texts, related rows prefetched (not joined)."""
    user_model = get_user_model()
    return queryset.defer(*_HEAVY_DIFF_FIELDS).prefetch_related(
        Prefetch("block", queryset=Block.objects.only(*_LIST_BLOCK_FIELDS)),
        Prefetch("reviewer", queryset=user_model.objects.only("pk", user_model.USERNAME_FIELD)),
    )


def diff_for_review(diff_id) -> PendingDiff | None:
    """One diff with its block and reviewer (a join on a primary key is cheap)."""
    try:
        return PendingDiff.objects.select_related("block", "reviewer").filter(pk=diff_id).first()
    except (ValidationError, ValueError):
        return None


def other_open_proposals(diff: PendingDiff, limit: int = 50) -> list[PendingDiff]:
    """The other pending proposals for the same block (learner/namespace and label), oldest
    first: approving one may rebase or conflict the others."""
    return list(
        PendingDiff.objects.filter(
            owner_type=diff.owner_type, owner_id=diff.owner_id, status=DiffStatus.PENDING, label=diff.label,
        ).exclude(pk=diff.pk)
        .only("id", "owner_type", "owner_id", "label", "operation", "base_version", "agent_key_name",
              "reasoning", "status", "created_at", "block_id")
        .order_by("created_at")[:limit]
    )


def queue_neighbours(diff: PendingDiff) -> tuple[object | None, object | None]:
    """(previous, next) pending proposal around this one in the queue's order (oldest first)."""
    pending = PendingDiff.objects.filter(status=DiffStatus.PENDING)
    previous = pending.filter(created_at__lt=diff.created_at).order_by("-status", "-created_at")
    following = pending.filter(created_at__gt=diff.created_at).order_by("status", "created_at")
    return (next(iter(previous.values_list("pk", flat=True)[:1]), None),
            next(iter(following.values_list("pk", flat=True)[:1]), None))


def version_contents(block_id, versions) -> dict[int, str]:
    """{version: content} of a block's history rows for the given versions."""
    wanted = {v for v in versions if v is not None}
    if not wanted:
        return {}
    rows = HistoricalBlock.objects.filter(id=block_id, version__in=wanted).values_list("version", "content")
    return dict(rows)


def history_choices(block_id, limit: int = 500) -> list[tuple[int, object, str]]:
    """(version, date, actor) of a block's newest `limit` versions, newest first."""
    return list(
        HistoricalBlock.objects.filter(id=block_id)
        .order_by("-version")
        .values_list("version", "history_date", "actor")[:limit]
    )


def side_by_side(old: str, new: str, context: int = 3) -> list[rendering.Row]:
    """The rendered rows for the admin: changed words marked, long unchanged runs folded, at
    most rendering.MAX_ROWS of them."""
    return rendering.truncate(rendering.collapse(rendering.side_by_side(old, new), context=context))


@dataclass
class ReviewPreview:
    """What the diff page shows: two texts, their titles, and what approving would do."""

    left_title: str
    right_title: str
    left: str
    right: str
    stale: bool = False
    current_version: int | None = None
    # Why approving now would end in `conflict` instead of a new version ("" if it would apply).
    will_conflict: str = ""
    # The text "Edit & approve" starts from: what approving unchanged would write.
    effective_content: str = ""
    char_limit: int | None = None
    rows: list = field(default_factory=list)

    @property
    def effective_length(self) -> int:
        return len(self.effective_content)

    @property
    def over_limit(self) -> bool:
        return self.char_limit is not None and self.effective_length > self.char_limit

    @property
    def unchanged(self) -> bool:
        return self.left == self.right

    @property
    def coarse_lines(self) -> int:
        """Changed lines marked as a whole, not word by word (diffs.rendering's work budget)."""
        return sum(1 for row in self.rows if row.coarse)


def review_preview(diff: PendingDiff) -> ReviewPreview:
    """Current vs proposed for a pending diff (rebased when the block moved on); for a decided
    diff, what it changed (approved) or would have changed (rejected, conflict, superseded)."""
    preview = (
        _pending_preview(diff) if diff.status == DiffStatus.PENDING else _decided_preview(diff)
    )
    if diff.status != DiffStatus.PENDING:
        preview.effective_content = preview.right  # what was applied, or would have been
    preview.rows = side_by_side(preview.left, preview.right)
    return preview


def _pending_preview(diff: PendingDiff) -> ReviewPreview:
    """What approving now would do: the same plan approve_diff applies (edits.plan_approval)."""
    if diff.operation == Operation.CREATE:
        block = block_selectors.find_live_block(diff.owner_type, diff.owner_id, diff.label)
    else:
        block = diff.block if diff.block is not None and not diff.block.is_deleted else None
    plan = edits.plan_approval(
        operation=diff.operation, arguments=diff.arguments or {}, proposed_content=diff.proposed_content,
        base_version=diff.base_version, block_version=block.version if block else None,
        block_content=block.content if block else "",
    )
    if diff.operation == Operation.CREATE:
        return ReviewPreview(
            "No block yet", "Proposed new block", "", diff.proposed_content, will_conflict=plan.conflict,
            effective_content=diff.proposed_content, char_limit=(diff.arguments or {}).get("char_limit"),
        )
    if plan.conflict:
        # Deleted since, or the edit no longer applies: show the proposal against its own base.
        base = version_contents(diff.block_id, [diff.base_version]).get(diff.base_version, "")
        current = diff.block
        return ReviewPreview(
            f"Version {diff.base_version} (proposal base)", "Proposed", base, diff.proposed_content,
            stale=block is not None, will_conflict=plan.conflict, effective_content=diff.proposed_content,
            current_version=current.version if current else None, char_limit=current.char_limit if current else None,
        )
    if not plan.rebased:
        return ReviewPreview(
            f"Current (version {block.version})", "Proposed", block.content, diff.proposed_content,
            current_version=block.version, effective_content=diff.proposed_content, char_limit=block.char_limit,
        )
    return ReviewPreview(
        f"Current (version {block.version})", f"Proposed, re-applied to version {block.version}",
        block.content, plan.content, stale=True, current_version=block.version, effective_content=plan.content,
        char_limit=block.char_limit,
    )


def _decided_preview(diff: PendingDiff) -> ReviewPreview:
    block = diff.block
    current_version = block.version if block else None
    if diff.status == DiffStatus.APPROVED and diff.applied_version and diff.block_id:
        before = diff.applied_version - 1
        contents = version_contents(diff.block_id, [before or None, diff.applied_version])
        if diff.applied_version in contents:
            return ReviewPreview(
                f"Version {before}" if before else "No block yet",
                f"Version {diff.applied_version} (applied)",
                contents.get(before, ""), contents[diff.applied_version],
                current_version=current_version,
            )
    base = ""
    if diff.base_version is not None and diff.block_id:
        base = version_contents(diff.block_id, [diff.base_version]).get(diff.base_version, "")
    return ReviewPreview(
        f"Version {diff.base_version} (proposal base)" if diff.base_version else "No block yet",
        "Proposed", base, diff.proposed_content, current_version=current_version,
    )


# --- learners ----------------------------------------------------------------------------------

LEARNER_ROWS_LIMIT = 500  # per section of the overview page
_LEARNER_SCAN_ROWS = 5_000  # block rows read (in index order) to list one page of learners


@dataclass
class LearnerOverview:
    user_id: str
    blocks: list
    open_diffs: list
    recent_decisions: list
    module_chats: list
    api_key: UserApiKey | None
    key_reads: list = field(default_factory=list)  # the newest plaintext reads of the OpenWebUI key
    key_read_count: int = 0
    profile: Learner | None = None

    @property
    def known(self) -> bool:
        """A learner exists once they own something (design.md §5)."""
        return bool(self.blocks or self.open_diffs or self.recent_decisions
                    or self.module_chats or self.api_key or self.profile)

    @property
    def name(self) -> str:
        return self.profile.label if self.profile else ""


KEY_READS_SHOWN = 20


def learner_overview(user_id: str, recent: int = 10) -> LearnerOverview:
    """Everything staff look at for one learner, in nine queries; never the key's ciphertext."""
    blocks = list(
        Block.objects.filter(owner_type=OwnerType.USER, owner_id=user_id)
        .only("id", "owner_type", "owner_id", "label", "version", "read_only", "char_limit",
              "deleted_at", "updated_at")
        .annotate(content_chars=Length("content"))
        .order_by("owner_type", "owner_id", "label")[:LEARNER_ROWS_LIMIT]
    )
    diffs = slim_diff_list(PendingDiff.objects.filter(owner_type=OwnerType.USER, owner_id=user_id))
    open_diffs = list(diffs.filter(status=DiffStatus.PENDING).order_by("-created_at")[:LEARNER_ROWS_LIMIT])
    decided = list(
        diffs.exclude(status=DiffStatus.PENDING).order_by("-reviewed_at", "-created_at")[:recent]
    )
    chats = list(ModuleChat.objects.filter(user_id=user_id).order_by("agent_id", "module_id")[:LEARNER_ROWS_LIMIT])
    key = (
        UserApiKey.objects.filter(user_id=user_id)
        .only("id", "user_id", "fingerprint", "last4", "created_at", "updated_at")
        .first()
    )
    profile = learner_selectors.get_profile(user_id)
    reads = OwuiKeyRead.objects.filter(user_id=user_id)
    key_reads = list(reads.order_by("-read_at", "-id")[:KEY_READS_SHOWN])
    return LearnerOverview(user_id, blocks, open_diffs, decided, chats, key, key_reads=key_reads,
                           key_read_count=capped_count(reads)[0], profile=profile)


@dataclass(frozen=True)
class LearnerRow:
    user_id: str
    blocks: int
    pending: int
    name: str = ""


def search_learners(query: str = "", after: str = "", limit: int = 50) -> tuple[list[LearnerRow], str]:
    """Learners in id order, from `after`: those whose id starts with `query` (owners of blocks)
    and those whose name matches it (learners.selectors.user_ids_named), each with their name.

    Reads block rows along the (owner_type, owner_id, label) index and names along their own,
    so the cost does not grow with the number of blocks. Ids compare exactly (binary collation),
    so the prefix is case-sensitive; names do not. A query that names exactly a learner who only
    has diffs, chats, a key or a profile is found too. Returns (rows, the cursor for the next
    page or "").
    """
    query = query.strip()
    rows = Block.objects.filter(owner_type=OwnerType.USER)
    if after:
        rows = rows.filter(owner_id__gt=after)
    elif query:
        rows = rows.filter(owner_id__gte=query)
    ids: list[str] = []
    for owner_id in rows.order_by("owner_type", "owner_id", "label").values_list(
        "owner_id", flat=True
    )[:_LEARNER_SCAN_ROWS]:
        if query and not owner_id.startswith(query):
            break
        if not ids or ids[-1] != owner_id:
            ids.append(owner_id)
            if len(ids) > limit:
                break
    if query:
        named = [i for i in learner_selectors.user_ids_named(query) if i > after]
        ids = sorted(set(ids) | set(named))[: limit + 1]
    next_after = ids[limit - 1] if len(ids) > limit else ""
    ids = ids[:limit]
    if query and not after and query not in ids and _owns_something_besides_blocks(query):
        ids.insert(0, query)

    block_counts = dict(
        Block.objects.filter(owner_type=OwnerType.USER, owner_id__in=ids)
        .values("owner_id").annotate(n=Count("id")).values_list("owner_id", "n")
    ) if ids else {}
    pending_counts = dict(
        PendingDiff.objects.filter(owner_type=OwnerType.USER, owner_id__in=ids, status=DiffStatus.PENDING)
        .values("owner_id").annotate(n=Count("id")).values_list("owner_id", "n")
    ) if ids else {}
    names = learner_selectors.labels_for(ids)
    return [
        LearnerRow(i, block_counts.get(i, 0), pending_counts.get(i, 0), names.get(i, "")) for i in ids
    ], next_after


@dataclass
class BlockAsOf:
    """One of a learner's blocks at a past moment, and what changed since."""

    block: Block  # as it is now
    then: HistoricalBlock | None  # its version at that moment; None: the block did not exist yet
    rows: list = field(default_factory=list)  # side by side, then → now (when the text changed)

    @property
    def existed(self) -> bool:
        return self.then is not None

    @property
    def deleted_then(self) -> bool:
        return self.then is not None and self.then.deleted_at is not None

    @property
    def content_changed(self) -> bool:
        return self.then is None or self.then.content != self.block.content

    @property
    def changed(self) -> bool:
        return self.then is None or self.then.version != self.block.version


def learner_blocks_as_of(user_id: str, when) -> list[BlockAsOf]:
    """Every block of the learner as it was at `when` (its newest version dated at or before
    then), with a diff to now: three queries, whatever the length of the history."""
    blocks = list(
        Block.objects.filter(owner_type=OwnerType.USER, owner_id=user_id)
        .order_by("owner_type", "owner_id", "label")[:LEARNER_ROWS_LIMIT]
    )
    newest: dict = {}
    rows = (
        HistoricalBlock.objects.filter(id__in=[b.pk for b in blocks], history_date__lte=when)
        .values_list("id", "history_date", "version", "history_id")
    ) if blocks else []
    for block_id, date, version, history_id in rows:
        if block_id not in newest or (date, version) > newest[block_id][:2]:
            newest[block_id] = (date, version, history_id)
    versions = {
        v.id: v for v in HistoricalBlock.objects.filter(history_id__in=[h for _, _, h in newest.values()])
        .only("history_id", "id", "version", "content", "history_date", "actor", "history_change_reason",
              "deleted_at", "char_limit", "read_only")
    } if newest else {}
    result = []
    for block in blocks:
        entry = BlockAsOf(block, versions.get(block.pk))
        if entry.content_changed:
            entry.rows = side_by_side(entry.then.content if entry.then else "", block.content)
        result.append(entry)
    return result


def _owns_something_besides_blocks(user_id: str) -> bool:
    return (
        PendingDiff.objects.filter(owner_type=OwnerType.USER, owner_id=user_id).exists()
        or ModuleChat.objects.filter(user_id=user_id).exists()
        or UserApiKey.objects.filter(user_id=user_id).exists()
        or Learner.objects.filter(user_id=user_id).exists()
    )
