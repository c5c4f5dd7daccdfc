"""Allocation policies: who is offered each agent.  Write your own by subclassing :class:`Policy`.

Mesos splits allocation into *mechanics* (offer filters, suppress/revive,
reservations, quota, revocation: :class:`~.hierarchical.HierarchicalAllocator`)
and *policy* (the fair-share order: who comes first).  A policy here is a small
class; the allocator asks it, for each agent with free resources, which of the
frameworks that may be offered the agent should get it.

The one hook a student overrides is :meth:`Policy.order`::

    from jmesos.core.allocator import Policy, register_policy

    class FewestCpus(Policy):
        '''Offer each agent to the framework holding the fewest cpus.'''
        def order(self, agent, candidates, view):
            return sorted(candidates, key=lambda f: view.allocation(f).cpus)

    register_policy("fewest-cpus", FewestCpus)

``candidates`` are framework ids, already in DRF order; return them in the
order they should be offered ``agent`` (the allocator offers the whole agent
to the first one; an empty list offers the agent to nobody this round).

Two more hooks exist for those who outgrow ``order``:

- :meth:`Policy.framework_key` / :meth:`Policy.role_key`: a sort key per
  framework / role.  The allocator keeps frameworks sorted by it
  incrementally, so a key-based policy runs at the paper's scale (50,000
  agents) where ``order`` — called once per agent — would not.  The built-in
  policies are all key based.
- :meth:`Policy.decide`: return explicit ``(framework_id, agent_id,
  resources)`` decisions for the whole round, e.g. to split an agent.

Whatever a policy returns is checked: an unknown framework or agent, a
framework that may not be offered the agent, more resources than are free, a
duplicate, a wrong type or an exception is recorded in
``allocator.errors`` and the allocator falls back to DRF for that round and
after, so a buggy policy never stops the master.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from ..resources import SCALARS, Resources
from .state import AgentState, FrameworkState, RoleState, to_resources

if TYPE_CHECKING:  # pragma: no cover
    from .hierarchical import HierarchicalAllocator

__all__ = [
    "Policy",
    "DRF",
    "Priority",
    "FairShare",
    "Lottery",
    "StaticPartition",
    "AgentView",
    "ClusterView",
    "Decision",
]

#: what :meth:`Policy.decide` may return per offer
Decision = tuple[str, str, Union[Resources, Mapping[str, Any], str]]


class AgentView:
    """A read-only look at one agent, for :meth:`Policy.order`."""

    __slots__ = ("_agent",)

    def __init__(self, agent: AgentState) -> None:
        self._agent = agent

    @property
    def id(self) -> str:
        return self._agent.id

    @property
    def total(self) -> Resources:
        """Everything the agent has."""
        return self._agent.total

    @property
    def available(self) -> Resources:
        """Its unreserved resources nobody holds (what the offer will contain, plus the role's reservation)."""
        return self._agent.free

    def available_for(self, role: str) -> Resources:
        """What a framework of ``role`` would be offered: unreserved plus the role's reserved free resources."""
        return self._agent.available_for(role)

    @property
    def attributes(self) -> dict[str, str]:
        return dict(self._agent.attributes)

    @property
    def allocated(self) -> dict[str, Resources]:
        """Framework id → what it holds on this agent."""
        return {fid: self._agent.held(fid) for fid in self._agent.alloc}

    def __repr__(self) -> str:
        return f"AgentView({self.id!r}, available={self.available})"


class ClusterView:
    """A read-only look at the cluster for a policy: shares, roles, weights, allocations, the time."""

    __slots__ = ("_alloc", "now")

    def __init__(self, allocator: HierarchicalAllocator, now: float) -> None:
        self._alloc = allocator
        #: the time of this allocation round (seconds)
        self.now = now

    @property
    def frameworks(self) -> list[str]:
        """Every framework id the allocator knows."""
        return list(self._alloc._frameworks)

    @property
    def agents(self) -> list[str]:
        return list(self._alloc._agents)

    @property
    def total(self) -> Resources:
        """The cluster's total scalar resources."""
        return to_resources(self._alloc._total)

    def share(self, framework_id: str) -> float:
        """The framework's dominant share of the cluster (whatever the policy's own measure)."""
        fw = self._fw(framework_id)
        return _dominant(fw.alloc, self._alloc._total)

    def role(self, framework_id: str) -> str:
        return self._fw(framework_id).role

    def weight(self, role: str) -> float:
        """The role's weight (1.0 unless set with ``update_weights``)."""
        return self._alloc._weights.get(role, 1.0)

    def role_share(self, role: str) -> float:
        """The dominant share of everything the role's frameworks hold."""
        r = self._alloc._roles.get(role)
        return _dominant(r.alloc, self._alloc._total) if r else 0.0

    def allocation(self, framework_id: str) -> Resources:
        """The scalar resources the framework holds (outstanding offers plus running tasks)."""
        return to_resources(self._fw(framework_id).alloc)

    def offers_made(self, framework_id: str) -> int:
        """How many offers the framework has been given so far."""
        return self._fw(framework_id).count

    def _fw(self, framework_id: str) -> FrameworkState:
        try:
            return self._alloc._frameworks[framework_id]
        except KeyError:
            raise KeyError(f"no framework {framework_id!r}; known: {', '.join(self._alloc._frameworks)}") from None


def _dominant(alloc: Mapping[str, int], total: Mapping[str, int]) -> float:
    """The largest share of any resource: DRF's dominant share (division keeps exact ties exact)."""
    best = 0.0
    for k, v in alloc.items():
        t = total.get(k)
        if t:
            s = v / t
            if s > best:
                best = s
    return best


class Policy:
    """Base class of allocation policies.  The default behaviour is weighted, hierarchical DRF.

    Override :meth:`order` (simple, per agent), or :meth:`framework_key` /
    :meth:`role_key` (fast, sorted), or :meth:`decide` (explicit offers).
    Class attributes:

    - ``name``: what errors and explanations call the policy;
    - ``hierarchical``: order roles first, then frameworks within the role
      (Mesos's hierarchical DRF); when False, frameworks are ordered directly;
    - ``measure``: how explanations name the share (``"dominant share"``).
    """

    name: str = "custom"
    hierarchical: bool = True
    measure: str = "dominant share"

    # -- the simple hook ----------------------------------------------------------------
    def order(self, agent: AgentView, candidates: list[str], view: ClusterView) -> list[str]:
        """Return ``candidates`` (framework ids, given in DRF order) in the order to offer them ``agent``.

        The agent's whole free resources go to the first framework returned.
        Return ``[]`` to offer the agent to nobody this round.  Every id
        returned must be one of ``candidates``, at most once.
        """
        return list(candidates)

    # -- the explicit hook --------------------------------------------------------------
    def decide(self, agents: list[AgentView], view: ClusterView) -> Iterable[Decision] | None:
        """Return explicit ``(framework_id, agent_id, resources)`` offers for this round, or None.

        None (the default) means: use :meth:`order`.  ``agents`` are the agents
        this round may offer; each decision's resources must be free on the
        agent (unreserved, or reserved for the framework's role) and the
        framework must be allowed there (active, not suppressed, not filtered).
        """
        return None

    # -- the fast hooks -----------------------------------------------------------------
    def share(self, allocation: Mapping[str, int], total: Mapping[str, int]) -> float:
        """The measure frameworks and roles are compared by (DRF: the dominant share).

        Both arguments map resource names to fixed-point quantities (thousandths).
        """
        return _dominant(allocation, total)

    def role_key(self, role: RoleState) -> Any:
        """Sort key of a role (smallest first): weighted share, then offers received, then name."""
        return (role.share / role.weight, role.count, role.name)

    def framework_key(self, framework: FrameworkState) -> Any:
        """Sort key of a framework within its role: share, then offers received, then registration slot."""
        return (framework.share, framework.count, framework.slot)

    def reason(self, framework: FrameworkState, role: RoleState, roles: int) -> str:
        """Why ``framework`` came first, in words, e.g. ``"its dominant share 0.22 was the lowest"``."""
        text = f"its {self.measure} {framework.share:.2f} was the lowest"
        if self.hierarchical and roles > 1:
            w = f" / weight {role.weight:g}" if role.weight != 1 else ""
            text += f" in role {role.name!r}, whose {self.measure} {role.share:.2f}{w} was the lowest"
        return text

    # -- static partitioning ------------------------------------------------------------
    #: set True in a policy that pins agents to frameworks (see :meth:`owners`)
    partitions: bool = False

    def owners(self, agents: Sequence[AgentState], frameworks: Sequence[FrameworkState]) -> dict[str, set[str]]:
        """For a partitioning policy: agent id → the framework ids allowed on it (absent: anyone)."""
        return {}

    # -- lottery ------------------------------------------------------------------------
    #: set True in a policy that draws the winner at random (see :meth:`draw`)
    draws: bool = False

    def draw(self, candidates: Sequence[FrameworkState], weights: Sequence[float]) -> FrameworkState:
        """For a drawing policy: pick one of ``candidates`` (``weights`` are their tickets)."""
        return candidates[0]

    def __repr__(self) -> str:
        return f"<policy {self.name}>"


class DRF(Policy):
    """Dominant Resource Fairness, weighted by role, hierarchical like Mesos (the default).

    Roles are ordered by dominant share ÷ weight; within a role, frameworks by
    dominant share.  Ties go to whoever has received fewer offers, then to the
    earlier-registered, so equal frameworks take turns.
    """

    name = "drf"


class FairShare(Policy):
    """Weighted fair sharing of ONE resource (``cpus`` by default), to contrast with DRF.

    Like Hadoop's fair scheduler counting slots: a framework's share is its
    fraction of that resource alone, whatever else it holds, so a
    memory-hungry framework can take all the memory while looking "small".
    """

    name = "fair"

    def __init__(self, resource: str = "cpus") -> None:
        if resource not in SCALARS:
            raise ValueError(f"resource={resource!r} is not a scalar resource; use one of {', '.join(SCALARS)}")
        self.resource = resource
        self.measure = f"{resource} share"

    def share(self, allocation: Mapping[str, int], total: Mapping[str, int]) -> float:
        t = total.get(self.resource)
        return allocation.get(self.resource, 0) / t if t else 0.0


class Priority(Policy):
    """Strict priority: a framework of higher priority is always offered first; DRF among equals.

    ``priorities`` maps a framework id or a role to a number (higher goes
    first; a framework's own entry wins over its role's; default 0).  As the
    paper notes, strict priority can starve the low-priority frameworks.
    """

    name = "priority"
    hierarchical = False

    def __init__(self, priorities: Mapping[str, float] | None = None) -> None:
        priorities = dict(priorities or {})
        for key, value in priorities.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"priorities[{key!r}]={value!r} must be a number, e.g. priorities={{'prod': 10}}")
        self.priorities = priorities

    def priority_of(self, framework: FrameworkState) -> float:
        p = self.priorities.get(framework.id)
        if p is None:
            p = self.priorities.get(framework.role, 0)
        return p

    def framework_key(self, framework: FrameworkState) -> Any:
        return (-self.priority_of(framework), framework.share, framework.count, framework.slot)

    def reason(self, framework: FrameworkState, role: RoleState, roles: int) -> str:
        return (
            f"its priority {self.priority_of(framework):g} was the highest (then {self.measure} {framework.share:.2f})"
        )


class Lottery(Policy):
    """Lottery scheduling: each agent goes to a framework drawn at random, with tickets ∝ its role's weight.

    Reproducible: ``seed`` seeds the policy's own :class:`random.Random`.
    Fair only in expectation — the lesson's point when comparing with DRF.
    """

    name = "lottery"
    hierarchical = False
    draws = True

    def __init__(self, seed: int | None = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    def draw(self, candidates: Sequence[FrameworkState], weights: Sequence[float]) -> FrameworkState:
        return self.rng.choices(candidates, weights=weights, k=1)[0]

    def reason(self, framework: FrameworkState, role: RoleState, roles: int) -> str:
        return f"it won the lottery draw (seed {self.seed})"


class StaticPartition(Policy):
    """Static partitioning, the paper's baseline: each framework only ever gets its own agents.

    ``partitions`` maps a framework id (or a role) to the agent ids it owns.
    Without it, agents are split evenly among the frameworks registered so far,
    in contiguous blocks (agent and framework registration order).  Agents in
    no partition are offered to nobody.  Within a partition, DRF decides.
    """

    name = "static"
    partitions = True

    def __init__(self, partitions: Mapping[str, Iterable[str]] | None = None) -> None:
        if partitions is not None:
            if not isinstance(partitions, Mapping):
                raise ValueError(
                    f"partitions={partitions!r} must map framework ids or roles to agent ids, "
                    "e.g. partitions={'fw-1': ['agent-1', 'agent-2']}"
                )
            fixed: dict[str, list[str]] = {}
            for owner, agents in partitions.items():
                if isinstance(agents, str):
                    agents = [agents]
                fixed[owner] = list(agents)
            partitions = fixed
        self.fixed = partitions

    def owners(self, agents: Sequence[AgentState], frameworks: Sequence[FrameworkState]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        if self.fixed is not None:
            by_role: dict[str, list[str]] = {}
            for fw in frameworks:
                by_role.setdefault(fw.role, []).append(fw.id)
            for owner, agent_ids in self.fixed.items():
                members = {owner} | set(by_role.get(owner, ()))
                for a in agent_ids:
                    out.setdefault(a, set()).update(members)
            for agent in agents:
                out.setdefault(agent.id, set())
            return out
        n, k = len(agents), len(frameworks)
        for i, agent in enumerate(agents):
            out[agent.id] = {frameworks[i * k // n].id} if k else set()
        return out

    def reason(self, framework: FrameworkState, role: RoleState, roles: int) -> str:
        return "the agent is in its static partition"
