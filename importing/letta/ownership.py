"""Whom a Letta agent works for, and who owns a Letta block (design.md §7).

* Learner of an agent: ``metadata.youlab_user_id``, else its name
  ``youlab_{user}_{tutor|background}`` (greedy, so user ids may contain underscores). Agents
  with neither are not YouLab agents: the mapping reports and skips them, and so blocks attached
  only to them.
* Owner of a block: ``youlab_shared_{course}_{label}`` template name or ``metadata.youlab_shared``
  → shared, owner id = the course id; attached to YouLab agents of several learners → shared
  (owner id = the block's/agents' single course id, else ``letta-shared``); attached to one
  learner's agents → that learner; attached to none → ``youlab_user_{user}_{label}`` template
  name, else ``metadata.youlab_user_id``; otherwise it has no owner (reported and skipped).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..records import OWNER_SHARED, OWNER_USER
from .snapshot import BlockFacts, LettaAgent, LettaBlock, LettaSnapshot

# Owner of blocks shared by several learners when no single course id can be found.
FALLBACK_SHARED_NAMESPACE = "letta-shared"

_AGENT_NAME = re.compile(r"youlab_(?P<user>.+)_(?P<type>tutor|background)")
_USER_TEMPLATE_PREFIX = "youlab_user_"
_SHARED_TEMPLATE_PREFIX = "youlab_shared_"


def agent_learner(agent: LettaAgent) -> str | None:
    """The YouLab learner an agent works for, or None for a non-YouLab agent."""
    uid = agent.metadata.get("youlab_user_id")
    if isinstance(uid, int) and not isinstance(uid, bool):
        uid = str(uid)
    if isinstance(uid, str) and uid.strip():
        return uid.strip()
    match = _AGENT_NAME.fullmatch(agent.name or "")
    return match.group("user") if match else None


def agent_type(agent: LettaAgent) -> str | None:
    """``tutor`` or ``background`` (or what ``metadata.youlab_agent_type`` says)."""
    kind = agent.metadata.get("youlab_agent_type")
    if isinstance(kind, str) and kind:
        return kind
    match = _AGENT_NAME.fullmatch(agent.name or "")
    return match.group("type") if match else None


def agent_course(agent: LettaAgent) -> str | None:
    """The course an agent teaches: ``metadata.course_id``, else a ``course:<id>`` tag."""
    course = agent.metadata.get("course_id")
    if isinstance(course, str) and course:
        return course
    for tag in agent.tags:
        if tag.startswith("course:") and len(tag) > 7:
            return tag[7:]
    return None


def _template_part(template: str | None, prefix: str, label: str) -> str | None:
    """``{prefix}{middle}_{label}`` → middle. The known label makes underscores unambiguous."""
    if not template or not template.startswith(prefix):
        return None
    rest = template[len(prefix):]
    suffix = f"_{label}"
    if rest.endswith(suffix) and len(rest) > len(suffix):
        return rest[: -len(suffix)]
    return None


def is_youlab_block(block: LettaBlock) -> bool:
    """A block YouLab created (template name or metadata), not an agent's own inline block."""
    return bool(
        (block.template_name or "").startswith((_USER_TEMPLATE_PREFIX, _SHARED_TEMPLATE_PREFIX))
        or block.metadata.get("youlab_user_id") or block.metadata.get("youlab_shared"))


@dataclass(frozen=True)
class Owner:
    owner_type: str  # OWNER_USER or OWNER_SHARED
    owner_id: str
    shared_reason: str = ""  # why a block is shared, kept in its metadata


class Links:
    """Who works with what in one snapshot: each block's agents, each YouLab agent's learner.

    The links stay in the snapshot's spill store; a block's agents are read when asked for (the
    last block's are kept, as the rules ask for them several times in a row).
    """

    def __init__(self, snap: LettaSnapshot):
        self.snap = snap

    def agents_of(self, block_id: str) -> Iterator[LettaAgent]:
        """The known agents linked to the block, by agent id, streamed (a course block may have
        one per learner)."""
        return self.snap.store.agents_of(block_id, LettaAgent)

    def learners_using(self, block: BlockFacts | LettaBlock) -> frozenset[str]:
        # A soft-deleted agent counts only when no live one uses the block, so a deleted agent
        # left linked to another learner's block does not turn that block into a shared one.
        live: set[str] = set()
        every: set[str] = set()
        for agent in self.agents_of(block.id):
            learner = agent_learner(agent)
            if learner is not None:
                every.add(learner)
                if not agent.deleted:
                    live.add(learner)
        return frozenset(live or every)

    def owner(self, block: BlockFacts) -> Owner | None:
        """The block's owner by the rules above; None when it has none (see why_unowned)."""
        learners = self.learners_using(block)
        template = block.template_name or ""
        if template.startswith(_SHARED_TEMPLATE_PREFIX) or block.metadata.get("youlab_shared"):
            course = (_template_part(template, _SHARED_TEMPLATE_PREFIX, block.label)
                      or self.shared_namespace(block))
            return Owner(OWNER_SHARED, course, "youlab_shared template name or metadata")
        if len(learners) > 1:
            return Owner(OWNER_SHARED, self.shared_namespace(block),
                         f"attached to agents of {len(learners)} learners")
        if learners:
            return Owner(OWNER_USER, next(iter(learners)))
        uid = _template_part(template, _USER_TEMPLATE_PREFIX, block.label)
        if uid is None:
            meta_uid = block.metadata.get("youlab_user_id")
            if isinstance(meta_uid, (str, int)) and not isinstance(meta_uid, bool):
                uid = str(meta_uid).strip() or None
        return Owner(OWNER_USER, uid) if uid is not None else None

    def why_unowned(self, block: BlockFacts) -> str:
        agents = list(self.agents_of(block.id))
        if agents:
            names = ", ".join(sorted(a.name or a.ref for a in agents))
            return f"{block.label!r} belongs only to non-YouLab agent(s): {names}"
        return (f"{block.label!r} has no owner: attached to no known YouLab agent, and no "
                "youlab_user_/youlab_shared_ template name or youlab metadata")

    def shared_namespace(self, block: BlockFacts) -> str:
        """Owner id of a shared block: its course id, else its YouLab agents' single course."""
        course = block.metadata.get("course_id")
        if isinstance(course, str) and course:
            return course
        agents = self.agents_of(block.id)
        courses = {c for a in agents if agent_learner(a) is not None if (c := agent_course(a))}
        return next(iter(courses)) if len(courses) == 1 else FALLBACK_SHARED_NAMESPACE
