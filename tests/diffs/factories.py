from diffs import services
from youlab.actors import Actor


def propose(block, operation, reasoning="because", agent="tutor", **arguments):
    diff, _ = services.propose_diff(
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
