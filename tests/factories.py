"""Small factories for test data, all going through the services (the one write path)."""

import itertools

from blocks import services as block_services
from blocks.models import OwnerType
from diffs import services as diff_services
from youlab.actors import Actor

_seq = itertools.count(1)


def make_block(owner_id=None, label=None, content="hello", **kwargs):
    n = next(_seq)
    return block_services.create_block(
        owner_id=f"learner-{n}" if owner_id is None else owner_id,
        label=f"label-{n}" if label is None else label,
        content=content,
        owner_type=kwargs.pop("owner_type", OwnerType.USER),
        dolt_commit=kwargs.pop("dolt_commit", False),
        **kwargs,
    )


def propose(block, operation, reasoning="because", agent="tutor", **arguments):
    """A pending proposal by the agent key `agent` for `block`."""
    diff, _ = diff_services.propose_diff(
        owner_type=block.owner_type,
        owner_id=block.owner_id,
        label=block.label,
        operation=operation,
        arguments=arguments,
        reasoning=reasoning,
        by=Actor.agent(agent),
        agent_id=f"agent-{agent}",
    )
    return diff


def make_agent_key(name="tutor", scopes=None, **kwargs):
    """(AgentKey, secret). Every scope unless `scopes` is given: most tests exercise routes, not
    scopes (tests/youlab/test_api_scopes.py does that)."""
    from youlab.models import ALL_SCOPES, AgentKey

    return AgentKey.objects.create_key(name=name, scopes=list(ALL_SCOPES if scopes is None else scopes), **kwargs)
