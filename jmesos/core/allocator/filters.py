"""Decline filters: which frameworks must not be offered which agents, and until when.

A framework that declines an offer with ``refuse_seconds`` is not offered that
agent again before the time is up, or before it revives (Mesos's offer
filters).  The bookkeeping is split in two on purpose:

- on each :class:`~.state.AgentState`: ``filters`` (expiry -> bitmask of
  framework slots), ``filtered`` (their union) and ``refused`` (refused
  resources -> bitmask), because the round's hot loop asks "who may be offered
  this agent?" with one integer operation on ``agent.filtered``;
- here, in :class:`DeclineFilters`, the cluster-wide indexes that make the
  rarer operations cheap: a heap of expiry times with the agents each one
  touches (expiry costs nothing until a filter is due), and the set of agents
  with any filter (revive visits only those, not every agent).

The allocator owns one :class:`DeclineFilters` and calls it; nothing here
reads a clock: ``now`` comes in.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from ..resources import Resources
from .state import AgentState, FrameworkState

__all__ = ["DeclineFilters", "FOREVER"]

_INF = math.inf
#: a decline filter at least this long (about 31.7 years) never expires; only revive clears it
FOREVER = 1e9
#: a short filter outlives the next full round by this much (seconds)
_EPSILON = 1e-6


class DeclineFilters:
    """The cluster-wide index of decline filters; the per-agent masks live on the agents.

    ``agents`` and ``slots`` are the allocator's own dicts (agent id -> agent,
    slot -> framework), shared rather than copied so that they never go out
    of date.
    """

    __slots__ = ("heap", "_expiring", "_agents", "_slots", "agent_ids")

    def __init__(self, agents: dict[str, AgentState], slots: dict[int, FrameworkState]) -> None:
        #: expiry times with a filter that may still be live (a min-heap; infinite filters are not in it)
        self.heap: list[float] = []
        #: expiry time -> ids of agents with a filter ending then
        # dicts used as sets, here and below: their order is the order things happened, where a set's
        # order follows string hashes, which differ from one Python process to the next
        self._expiring: dict[float, dict[str, None]] = {}
        self._agents = agents
        self._slots = slots
        #: ids of agents with at least one filter
        self.agent_ids: dict[str, None] = {}

    def next_expiry(self) -> float | None:
        """When the next filter ends (None: no filter will end by itself)."""
        return self.heap[0] if self.heap else None

    def add(
        self,
        fw: FrameworkState,
        agent: AgentState,
        refuse: float,
        now: float,
        interval: float,
        refused: Resources | None = None,
    ) -> None:
        """Do not offer ``agent`` to ``fw`` before ``now + refuse`` (a filter is active while ``now < expiry``).

        As in Mesos, the filter is about the ``refused`` resources: once the
        agent has more to offer than what was refused (a task ended there), the
        filter is lifted (see :meth:`lift_outgrown`), so a framework that
        declined the leftovers of an agent still hears about it when the agent
        frees up.

        A filter no longer than the allocation ``interval`` lasts until just
        after the next full round, so that round still honours it: otherwise a
        short filter could vanish before any round had applied it (Mesos's
        MESOS-4302).
        """
        if refuse >= FOREVER:
            expiry = _INF
        elif refuse > interval:
            expiry = now + refuse
        else:
            expiry = now + interval + _EPSILON
        bit = fw.bit
        agent.filters[expiry] = agent.filters.get(expiry, 0) | bit
        agent.filtered |= bit
        if agent.refused:  # a framework's latest refusal on an agent replaces its earlier one
            _clear_bits(agent.refused, bit)
        if refused is not None:
            # grouped by value: in a busy cluster many frameworks refuse the same leftovers of an agent
            agent.refused[refused] = agent.refused.get(refused, 0) | bit
        self.agent_ids[agent.id] = None
        if expiry != _INF:
            ids = self._expiring.get(expiry)
            if ids is None:
                ids = self._expiring[expiry] = {}
                heapq.heappush(self.heap, expiry)
            ids[agent.id] = None

    def expire(self, now: float) -> None:
        """Drop the filters whose time is up (cheap when none is: one look at the heap's top)."""
        heap = self.heap
        if not heap or heap[0] > now:
            return
        agents = self._agents
        while heap and heap[0] <= now:
            expiry = heapq.heappop(heap)
            for agent_id in self._expiring.pop(expiry, ()):
                agent = agents.get(agent_id)
                if agent is None or agent.filters.pop(expiry, None) is None:
                    continue  # the agent left, or revive already lifted this filter
                m = 0
                for v in agent.filters.values():
                    m |= v
                agent.filtered = m
                if not agent.filters:
                    self.agent_ids.pop(agent_id, None)
                    agent.refused.clear()

    def clear(self, bit: int) -> None:
        """Lift every filter of the framework with slot bit ``bit`` (it revived or left)."""
        agents = self._agents
        for agent_id in list(self.agent_ids):
            agent = agents.get(agent_id)
            if agent is None:
                self.agent_ids.pop(agent_id, None)
            elif agent.filtered & bit:
                self.drop(agent, bit)

    def forget_agent(self, agent_id: str) -> None:
        """The agent left; its heap entries are skipped when they come due."""
        self.agent_ids.pop(agent_id, None)

    def drop(self, agent: AgentState, bits: int) -> None:
        """Lift every filter of the frameworks in the bitmask ``bits`` on ``agent``.

        The heap keeps the expiry times; :meth:`expire` skips entries that are
        no longer on the agent, which is cheaper than searching the heap now.
        """
        _clear_bits(agent.filters, bits)
        agent.filtered &= ~bits
        if agent.refused:
            _clear_bits(agent.refused, bits)
        if not agent.filters:
            self.agent_ids.pop(agent.id, None)

    def lift_outgrown(self, agent: AgentState) -> None:
        """Lift the filters whose refused resources no longer hold all the agent has to offer.

        Costs one comparison per distinct refused value (not per framework), so
        an agent a thousand frameworks have declined is checked in one step.
        """
        for res, mask in list(agent.refused.items()):
            live = mask & agent.filtered  # filters that expired or were revived leave stale bits
            if not live:
                del agent.refused[res]
                continue
            if live != mask:
                agent.refused[res] = live
            if not agent.rfree:
                if not agent.free <= res:
                    self.drop(agent, live)
                continue
            outgrown = 0  # with reservations, what a framework could be offered depends on its role
            m = live
            while m:
                low = m & -m
                m ^= low
                fw = self._slots.get(low.bit_length() - 1)
                if fw is None or not agent.available_for(fw.role) <= res:
                    outgrown |= low
            if outgrown:
                self.drop(agent, outgrown)

    def listing(self, framework_id: str | None = None) -> dict[str, dict[str, float]]:
        """Active filters: framework id -> {agent id -> until (inf: until revive)}; one framework if given."""
        out: dict[str, dict[str, float]] = {}
        slots = self._slots
        for agent_id in self.agent_ids:
            agent = self._agents.get(agent_id)
            if agent is None:
                continue
            for expiry, mask in agent.filters.items():
                while mask:
                    low = mask & -mask
                    mask ^= low
                    fw = slots.get(low.bit_length() - 1)
                    if fw is None or (framework_id is not None and fw.id != framework_id):
                        continue
                    d = out.setdefault(fw.id, {})
                    d[agent_id] = max(d.get(agent_id, expiry), expiry)
        return out


def _clear_bits(masks: dict[Any, int], bits: int) -> None:
    """Remove the frameworks in ``bits`` from a table of framework bitmasks, dropping emptied entries."""
    keep = ~bits
    for key, mask in list(masks.items()):
        if mask & bits:
            mask &= keep
            if mask:
                masks[key] = mask
            else:
                del masks[key]
