"""An agent's free pools: unreserved resources, and resources statically reserved per role.

An agent's free resources are kept apart by who may use them:
``agent.free`` (anyone) and ``agent.rfree[role]`` (only that role's
frameworks, up to ``agent.reserved[role]``).  These functions move resources
between the pools and the frameworks holding them, always preferring the
role's reservation, so that a role uses its reserved resources before it
competes for the shared ones and gets them back first.
"""

from __future__ import annotations

from ..resources import Resources
from .state import AgentState

__all__ = ["apply_reservation", "give_back", "take_available", "take_exact"]

_EMPTY = Resources()


def apply_reservation(agent: AgentState, role: str, res: Resources) -> None:
    """Reserve ``res`` of the agent for ``role``, replacing an earlier reservation; it must be free now."""
    had = agent.reserved.get(role, _EMPTY)
    if had:  # undo the old reservation's free part first
        agent.free = agent.free + agent.rfree.get(role, _EMPTY)
    if not res <= agent.free:
        raise ValueError(
            f"cannot reserve {res} of agent {agent.id!r} for role {role!r}: only {agent.free} is free and unreserved"
        )
    agent.free = agent.free - res
    agent.reserved[role] = res
    agent.rfree[role] = res


def give_back(agent: AgentState, role: str, res: Resources) -> None:
    """Return ``res`` to the agent's free pools: its role's reservation first, the rest unreserved."""
    reserved = agent.reserved.get(role)
    if reserved:
        rfree = agent.rfree[role]
        room = reserved.subtract_available(rfree)
        if room:
            part = Resources._raw(
                {k: min(v, room._scalars.get(k, 0)) for k, v in res._scalars.items()}, res.ports & room.ports
            )
            if part:
                agent.rfree[role] = rfree + part
                res = res.subtract_available(part)
    if res:
        agent.free = res if not agent.free else agent.free + res


def take_available(agent: AgentState, role: str, res: Resources) -> Resources:
    """Take up to ``res`` from the agent's free pools (role's reservation first); returns what was taken."""
    taken = _EMPTY
    r = agent.rfree.get(role)
    if r:
        part = Resources._raw({k: min(v, r._scalars.get(k, 0)) for k, v in res._scalars.items()}, res.ports & r.ports)
        if part:
            agent.rfree[role] = r - part
            res = res.subtract_available(part)
            taken = part
    if res:
        free = agent.free
        part = Resources._raw(
            {k: min(v, free._scalars.get(k, 0)) for k, v in res._scalars.items()}, res.ports & free.ports
        )
        if part:
            agent.free = free - part
            taken = taken + part if taken else part
    return taken


def take_exact(agent: AgentState, role: str, res: Resources) -> None:
    """Take exactly ``res`` (already checked to be free): anything less is a bookkeeping bug."""
    taken = take_available(agent, role, res)
    if taken != res:  # validated before; never expected
        raise AssertionError(f"allocator bookkeeping: could not take {res} from agent {agent.id!r}")
