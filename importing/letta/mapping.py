"""Mapping: a Letta snapshot → import records (design.md §7), the same for every source.

:func:`map_letta` runs these steps on one snapshot:

1. **Links**: each YouLab agent's learner and each block's agents (:mod:`ownership
   <importing.letta.ownership>`, which also holds the learner and owner rules). Agents that are
   not YouLab agents and links to unknown rows are reported. Each agent's learner is stored
   beside it in the snapshot's spill store; a block's agents are read from there when needed.
2. **Grouping**: every block gets its owner; the blocks of one (owner, label) form one group,
   written to the spill store and read back one group at a time, in key order. A block without
   an owner is reported and skipped.
3. **Learners**: one LearnerRecord per learner, with their agents, identity, name and email.
4. **Blocks**: one BlockRecord per group, with every version:

   * Several Letta blocks for one (owner, label): the live YouLab-managed one (YouLab template
     name or metadata) is current over an agent's own inline block whatever their timestamps;
     among equals the one updated last, then Letta's ``version`` counter, then the id. The
     others become earlier versions and are reported as ``SkippedRecord(kind="note")``.
   * block_history rows become versions in sequence order, undone ones (beyond
     ``current_history_entry_id``) included and marked. Actors: ``letta_agent`` → ``agent:<agent
     name>`` (the id when the agent is unknown); anything else → ``import:letta``; the raw actor
     is kept in the version's metadata.
   * Import keys: ``letta:history:<block_history id>`` for checkpoints; a block VALUE, current
     or merged in as an earlier version, is
     ``letta:<owner_type>:<owner_id>:<label>:value:<sha256[:16]>`` (:func:`value_key`; owner and
     label hashed when the key would not fit the column). Value keys name no source-specific
     block id and do not say current/earlier (which depends on what else the source holds), so
     the same content read from SQLite, Postgres, REST or an Agent File (whose ids are
     file-local) gets the same key, and the core recognises a value it already has: e.g. the
     background agent's inline persona, an earlier version after a database import, is not
     re-applied as current by that agent's Agent File.

5. **Reports**: the snapshot's own (about the source as a whole), then the mapping's, each with
   the learners it concerns so that ``user_id`` keeps the ones about that learner.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from ..digests import bounded_key, sha256_hex
from ..records import (
    OWNER_USER,
    BlockRecord,
    ImportRecord,
    LearnerRecord,
    SkippedRecord,
    VersionRecord,
)
from .ownership import Links, Owner, agent_course, agent_learner, agent_type, is_youlab_block
from .snapshot import BlockFacts, LettaAgent, LettaBlock, LettaIdentity, LettaSnapshot
from .spill import key

IMPORT_ACTOR = "import:letta"
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)

def map_letta(snap: LettaSnapshot, *, user_id: str | None = None) -> Iterator[ImportRecord]:
    """Yield LearnerRecords, then BlockRecords, then SkippedRecords for one snapshot.

    ``user_id`` restricts the output to one learner: their blocks, the shared blocks their
    agents use, reports about them, and reports about the source as a whole.

    The grouping is kept in the snapshot's spill store, and learners and groups are read back
    one at a time in order, so memory does not grow with the source.
    """
    store = snap.store
    store.index()
    store.set_learners(agent_learner, LettaAgent)
    links = Links(snap)
    reports = _Reports(snap.source)
    _report_skipped_agents_and_links(snap, reports)
    _group_blocks(snap, links, reports)

    identities: dict[str, LettaIdentity] = {}
    for identity in snap.identities:
        identities.setdefault(identity.identifier_key, identity)
    for uid in store.learners(OWNER_USER):
        if user_id is None or uid == user_id:
            agents = list(store.agents(LettaAgent, "WHERE learner = ?", (key(uid),),
                                       order="ref, rowid"))
            yield _learner_record(snap, uid, agents, identities.get(uid))

    for (owner_type, owner_id, label), blocks, shared_reasons in store.groups():
        if user_id is None or _concerns(owner_type, owner_id, blocks, links, user_id):
            owner = Owner(owner_type, owner_id, "; ".join(sorted(shared_reasons - {""})))
            yield _block_record(snap, links, reports, owner, label, blocks)

    yield from snap.reports  # about the source as a whole: kept under a --user filter too
    yield from reports.about(user_id)


class _Reports:
    """Reports made while mapping, each with the learners it concerns (for ``--user``)."""

    def __init__(self, source: str):
        self.source = source
        self.made: list[tuple[frozenset[str], SkippedRecord]] = []

    def add(self, learners: Iterable[str], kind: str, key: str, reason: str) -> None:
        record = SkippedRecord(kind=kind, key=key, reason=reason, source=self.source)
        self.made.append((frozenset(learners), record))

    def about(self, user_id: str | None) -> Iterator[SkippedRecord]:
        for learners, record in self.made:
            if user_id is None or user_id in learners:
                yield record


# --- steps -----------------------------------------------------------------------------------


def _report_skipped_agents_and_links(snap: LettaSnapshot, reports: _Reports) -> None:
    """Agents that are not YouLab agents, and links to unknown agents or blocks."""
    for agent in snap.store.agents(LettaAgent, "WHERE learner IS NULL", order="ref, rowid"):
        reports.add((), "agent", agent.ref, (
            f"not a YouLab agent: {agent.name or '(no name)'!r} has no metadata.youlab_user_id "
            "and its name is not youlab_<user>_<tutor|background>"))
    for agent_id, block_id in snap.store.links(
            "WHERE agent NOT IN (SELECT id FROM agent) OR block NOT IN (SELECT id FROM fact)"):
        reports.add((), "row", f"blocks_agents/{agent_id}/{block_id}",
                    "link to an unknown agent or block; ignored")


def _group_blocks(snap: LettaSnapshot, links: Links, reports: _Reports) -> None:
    """Every owned block into its (owner, label) group, with why it is shared (if it is)."""
    snap.store.clear_groups()  # a snapshot mapped a second time is grouped afresh
    for block in snap.blocks.values():  # by id
        owner = links.owner(block)
        if owner is None:
            reports.add((), "block", block.ref, links.why_unowned(block))
            continue
        snap.store.add_to_group(owner.owner_type, owner.owner_id, block.label, block.id,
                                owner.shared_reason)


def _concerns(owner_type: str, owner_id: str, blocks: list[BlockFacts], links: Links,
              user_id: str) -> bool:
    """Whether a group is the learner's own block, or a shared block their agents use."""
    if owner_type == OWNER_USER:
        return owner_id == user_id
    return user_id in frozenset().union(*(links.learners_using(BlockFacts(*b)) for b in blocks))


# --- block records ---------------------------------------------------------------------------


def _block_record(snap: LettaSnapshot, links: Links, reports: _Reports, owner: Owner,
                  label: str, group: list[tuple]) -> BlockRecord:
    blocks = _current_last([snap.block(facts[0]) for facts in group])
    *earlier, current = blocks
    concerned = frozenset().union(*(links.learners_using(b) for b in blocks))
    if owner.owner_type == OWNER_USER:
        concerned |= {owner.owner_id}

    versions: list[VersionRecord] = []
    merged = []
    for block in earlier:
        versions.extend(_checkpoints(snap, block)[0])
        if block.value not in (versions[-1].content if versions else None, current.value):
            versions.append(_merged_value(snap, links, owner, label, block))
        merged.append(_block_info(snap, links, block, full=True))
        reports.add(concerned, "note", block.ref, (
            f"merged into {owner.owner_type}:{owner.owner_id}/{label} as an earlier version: "
            f"{len(blocks)} Letta blocks map there and {current.ref} is the newest"))
    checkpoints, pointer = _checkpoints(snap, current)
    versions.extend(checkpoints)

    return BlockRecord(
        owner_type=owner.owner_type,
        owner_id=owner.owner_id,
        label=label,
        content=current.value,
        source=snap.source,
        source_key=current.ref,
        current_key=value_key(owner.owner_type, owner.owner_id, label, current.value),
        versions=versions,
        description=current.description or "",
        char_limit=current.limit,
        read_only=current.read_only,
        metadata=_block_metadata(snap, links, owner, current, merged),
        deleted=current.deleted,
        created_at=current.created_at,
        updated_at=current.updated_at,
        current_actor=IMPORT_ACTOR,
        current_reason=_current_reason(current, checkpoints, pointer),
    )


def _current_last(blocks: list[LettaBlock]) -> list[LettaBlock]:
    """The blocks of one group, the one that becomes current last.

    Live before soft-deleted, then the YouLab-managed block over an agent's own inline one
    whatever their timestamps (design.md §7: sources store them with different precision), then
    updated_at, then Letta's edit counter, then the id (deterministic whatever the source's order).
    """
    return sorted(blocks, key=lambda b: (
        not b.deleted, is_youlab_block(b), b.updated_at or b.created_at or _EPOCH,
        b.version or 0, b.id))


def _merged_value(snap: LettaSnapshot, links: Links, owner: Owner, label: str,
                  block: LettaBlock) -> VersionRecord:
    """An earlier block's value, as a version of the group's block."""
    return VersionRecord(
        content=block.value,
        # Same scheme as a current value: another source may hold it as current.
        import_key=value_key(owner.owner_type, owner.owner_id, label, block.value),
        actor=IMPORT_ACTOR,
        reason=f"Letta block {block.ref} merged as an earlier version",
        date=block.updated_at or block.created_at,
        metadata={"letta": _block_info(snap, links, block, full=True)},
    )


def _checkpoints(snap: LettaSnapshot, block: LettaBlock) -> tuple[list[VersionRecord], int | None]:
    """block_history rows as versions (undone ones too), and the current checkpoint's seq."""
    entries = sorted(snap.history_of(block.id), key=lambda e: (e.sequence_number, e.id))
    pointer = next((e.sequence_number for e in entries
                    if e.id == block.current_history_entry_id), None)
    versions = []
    for e in entries:
        undone = pointer is not None and e.sequence_number > pointer
        info = {
            "history_id": e.id, "block_id": block.id, "sequence_number": e.sequence_number,
            "actor_type": e.actor_type, "actor_id": e.actor_id, "label": e.label,
            "limit": e.limit, "description": e.description, "metadata": e.metadata,
            "undone": undone or None, "is_deleted": e.deleted or None,
        }
        versions.append(VersionRecord(
            content=e.value,
            import_key=f"letta:history:{e.id}",
            actor=_actor(snap, e.actor_type, e.actor_id),
            reason=f"Letta checkpoint {e.sequence_number}" + (" (undone)" if undone else ""),
            date=e.created_at,
            metadata={"letta": _compact(info)},
        ))
    return versions, pointer


def _actor(snap: LettaSnapshot, actor_type: str | None, actor_id: str | None) -> str:
    if actor_type == "letta_agent" and actor_id:
        agent = snap.agents.get(actor_id)
        return f"agent:{agent.name if agent is not None and agent.name else actor_id}"
    return IMPORT_ACTOR


def _current_reason(block: LettaBlock, checkpoints: list[VersionRecord],
                    pointer: int | None) -> str:
    """Why the current value is what it is (used if the core appends it as a version)."""
    if not checkpoints:
        return "Letta block value"
    at_pointer = next((v for v in checkpoints
                       if v.metadata["letta"]["sequence_number"] == pointer), None)
    if at_pointer is not None and at_pointer.content == block.value:
        if checkpoints[-1] is not at_pointer:
            return f"Letta undo to checkpoint {pointer}"
        return f"Letta checkpoint {pointer}"
    if pointer is None:
        return "Letta block value (after its checkpoints)"
    return f"Letta edit after checkpoint {pointer}"


def _block_metadata(snap: LettaSnapshot, links: Links, owner: Owner, current: LettaBlock,
                    merged: list[dict[str, Any]]) -> dict[str, Any]:
    """The current block's own metadata, with what Letta knew of it under ``letta``."""
    letta = _block_info(snap, links, current)
    if merged:
        letta["merged_blocks"] = merged
    if owner.shared_reason:
        letta["shared_reason"] = owner.shared_reason
    metadata = dict(current.metadata)
    if "letta" in metadata:  # a source key of that name is kept, not overwritten
        letta["source_metadata_letta"] = metadata.pop("letta")
    metadata["letta"] = letta
    return metadata


def _block_info(snap: LettaSnapshot, links: Links, block: LettaBlock, *,
                full: bool = False) -> dict[str, Any]:
    """Letta facts about a block that have no column (``full``: also those that do)."""
    from_file = "file" in block.extra  # ids in Agent Files are file-local: not kept as ids
    info: dict[str, Any] = {
        "block_id": None if from_file else block.id,
        "template_name": block.template_name,
        "is_template": block.is_template or None,
        "hidden": block.hidden,
        "is_deleted": block.deleted or None,
        "version": block.version,
        "current_history_entry_id": block.current_history_entry_id,
        "tags": block.tags or None,
        "agents": [_agent_ref(a) for a in links.agents_of(block.id)],
        "created_at": block.created_at.isoformat() if block.created_at else None,
        "updated_at": block.updated_at.isoformat() if block.updated_at else None,
        "letta_version": snap.info.get("letta_version"),
        **block.extra,
    }
    if full:
        info.update(label=block.label, limit=block.limit, description=block.description,
                    read_only=block.read_only, metadata=block.metadata or None)
    return _compact(info)


def _agent_ref(agent: LettaAgent) -> dict[str, Any]:
    return _compact({"id": None if "file" in agent.extra else agent.id, "name": agent.name,
                     "hidden": agent.hidden or None, **agent.extra})


def _digest(text: str) -> str:
    return sha256_hex(text)[:16]


def value_key(owner_type: str, owner_id: str, label: str, value: str) -> str:
    """The import key of a block value: owner, label and content only, the same from any source.

    Long owner ids or labels would overflow the column; the owner and label are hashed then.
    """
    return bounded_key(f"letta:{owner_type}:", (owner_id, label), f":value:{_digest(value)}", digest_chars=16)


# --- learner records -------------------------------------------------------------------------


def _learner_record(snap: LettaSnapshot, user_id: str, agents: list[LettaAgent],
                    identity: LettaIdentity | None) -> LearnerRecord:
    letta: dict[str, Any] = {"agents": [{
        **_agent_ref(a),
        **_compact({"type": agent_type(a), "course_id": agent_course(a),
                    "course_version": a.metadata.get("course_version"),
                    "tags": a.tags or None, "is_deleted": a.deleted or None}),
    } for a in agents]}
    if identity is not None:
        letta["identity"] = _compact({
            "id": identity.id, "name": identity.name, "identity_type": identity.identity_type,
            "properties": identity.properties})
    display_name, email = _learner_names(identity, agents)
    return LearnerRecord(user_id=user_id, source=snap.source,
                         source_key=",".join(a.ref for a in agents), metadata={"letta": letta},
                         display_name=display_name, email=email)


# Where a learner's name and email may sit, first found wins: the identity's name, the identity's
# properties, then the agents' metadata (never an agent's own `name`).
_NAME_KEYS = ("display_name", "youlab_user_name", "youlab_display_name", "user_name")
_EMAIL_KEYS = ("email", "youlab_user_email", "user_email")


def _learner_names(identity: LettaIdentity | None, agents: list[LettaAgent]) -> tuple[str, str]:
    """(display name, email) of a learner from their Letta identity and agents ("" if none)."""
    names: list[Any] = []
    emails: list[Any] = []
    if identity is not None:
        names.append(identity.name)
        properties = identity.properties if isinstance(identity.properties, list) else []
        found = {p["key"]: p.get("value") for p in properties
                 if isinstance(p, dict) and isinstance(p.get("key"), str)}
        names += [found.get(k) for k in ("name", *_NAME_KEYS)]
        emails += [found.get(k) for k in _EMAIL_KEYS]
    for agent in agents:
        metadata = agent.metadata if isinstance(agent.metadata, dict) else {}
        names += [metadata.get(k) for k in _NAME_KEYS]
        emails += [metadata.get(k) for k in _EMAIL_KEYS]

    def first(values):
        return next((v.strip() for v in values if isinstance(v, str) and v.strip()), "")

    return first(names), first(emails)


def _compact(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if v is not None}
