"""What the allocator remembers about frameworks, roles and agents.

These records are the allocator's own bookkeeping; policies read them (they
are what :meth:`Policy.framework_key` and :meth:`Policy.role_key` receive) but
must never change them.  Scalars are kept as fixed-point ints (thousandths,
like :class:`~jmesos.core.resources.Resources`) so that the hot loop of an
allocation round adds integers instead of building ``Resources`` objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..resources import Resources

__all__ = ["FrameworkState", "RoleState", "AgentState", "to_resources"]

_SCALE = 1000
_EMPTY = Resources()


def to_resources(scalars: Mapping[str, int]) -> Resources:
    """Fixed-point scalars (thousandths) back into a :class:`Resources`."""
    return Resources._raw(dict(scalars), frozenset())


class FrameworkState:
    """One framework as the allocator sees it.

    ``share`` is the policy's measure of its allocation (DRF: dominant share of
    the cluster), kept up to date incrementally; ``count`` is how many offers
    it has been given, which breaks ties between equal shares so that equal
    frameworks take turns (as Mesos's sorter does).
    """

    __slots__ = ("id", "role", "slot", "bit", "active", "suppressed", "alloc", "share", "count", "info")

    def __init__(self, framework_id: str, role: str, slot: int, active: bool) -> None:
        self.id = framework_id
        self.role = role
        self.slot = slot
        self.bit = 1 << slot
        self.active = active
        self.suppressed = False
        #: allocated scalars, fixed point (thousandths)
        self.alloc: dict[str, int] = {}
        self.share = 0.0
        self.count = 0
        #: free-form information a policy may read (e.g. a priority)
        self.info: dict[str, Any] = {}

    @property
    def allocation(self) -> Resources:
        """Scalar resources allocated to the framework (offers outstanding plus tasks running)."""
        return to_resources(self.alloc)

    def __repr__(self) -> str:
        return f"<framework {self.id} role={self.role!r} share={self.share:.3f}>"


class RoleState:
    """A role: the frameworks in it, their summed allocation and its weight."""

    __slots__ = ("name", "weight", "members", "frameworks", "alloc", "share", "count", "sorter")

    def __init__(self, name: str, weight: float) -> None:
        self.name = name
        self.weight = weight
        #: bitmask of member framework slots
        self.members = 0
        self.frameworks: dict[str, FrameworkState] = {}
        self.alloc: dict[str, int] = {}
        self.share = 0.0
        self.count = 0
        self.sorter: Any = None

    @property
    def allocation(self) -> Resources:
        return to_resources(self.alloc)

    def __repr__(self) -> str:
        return f"<role {self.name!r} weight={self.weight:g} share={self.share:.3f}>"


class AgentState:
    """An agent: its total, what is free (unreserved and per reserved role) and who holds the rest."""

    __slots__ = (
        "id",
        "total",
        "attributes",
        "free",
        "reserved",
        "rfree",
        "alloc",
        "filters",
        "filtered",
        "refused",
        "offerable",
        "owners",
    )

    def __init__(self, agent_id: str, total: Resources, attributes: Mapping[str, str]) -> None:
        self.id = agent_id
        self.total = total
        self.attributes = dict(attributes)
        #: unreserved resources nobody holds
        self.free: Resources = total
        #: role -> resources statically reserved for it on this agent
        self.reserved: dict[str, Resources] = {}
        #: role -> reserved resources nobody holds
        self.rfree: dict[str, Resources] = {}
        #: framework id -> the pieces of resources it holds here (each offer or ``used`` entry), kept
        #: apart because merging port sets costs more than the rest of an offer; see :meth:`held`
        self.alloc: dict[str, list[Resources]] = {}
        #: filter expiry time -> bitmask of the framework slots filtered until then
        self.filters: dict[float, int] = {}
        #: union of ``filters`` values: frameworks that must not be offered this agent now
        self.filtered = 0
        #: resources refused here -> bitmask of the frameworks that refused them; such a filter only
        #: holds while what the agent has to offer fits inside them (Mesos's RefusedOfferFilter)
        self.refused: dict[Resources, int] = {}
        #: whether any free resources here reach the minimum offer size
        self.offerable = False
        #: frameworks' bitmask this agent is pinned to (static partitioning), or -1 for anyone
        self.owners = -1

    def held(self, framework_id: str) -> Resources:
        """Everything ``framework_id`` holds on this agent (empty if nothing)."""
        pieces = self.alloc.get(framework_id)
        if not pieces:
            return _EMPTY
        out = pieces[0]
        for p in pieces[1:]:
            out = out + p
        return out

    def available_for(self, role: str) -> Resources:
        """What a framework of ``role`` could be offered here: unreserved free plus its role's reserved free."""
        r = self.rfree.get(role)
        if r:
            return self.free + r if self.free else r
        return self.free

    def filter_until(self, bit: int) -> float | None:
        """When the framework with slot bit ``bit`` is filtered here until (None: not filtered)."""
        until = None
        for expiry, mask in self.filters.items():
            if mask & bit and (until is None or expiry > until):
                until = expiry
        return until

    def __repr__(self) -> str:
        return f"<agent {self.id} free={self.free}>"
