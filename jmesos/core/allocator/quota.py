"""Quota: a role's guarantee and limit, and the revocations that restore a guarantee.

Quota follows the paper rather than Mesos 1.x: a role below its guarantee is
offered first (the allocator puts it ahead in the order), and if it still
starves for ``revocation_grace`` seconds, :func:`plan_revocations` picks tasks
of roles above their own guarantee for the master to kill.  Unused guarantees
are not held back from other roles (Mesos's "headroom"): sharing stays
elastic, and revocation restores the guarantee.  A limit is hard: offers are
cut to fit under it (:meth:`Quota.fit`).

The allocator keeps the quotas (role -> :class:`Quota`) and the starving
roles (role -> since when) as plain dicts, because the round checks
``if quota and fw.role in quota`` per offer; this module holds the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

from ..resources import Resources, ResourcesLike
from .base import Revocation
from .policies import _dominant
from .state import AgentState, RoleState

__all__ = ["Quota", "guarantee_of", "below_guarantee", "plan_revocations"]


def _coerce(value: Any, field: str) -> Resources:
    try:
        return Resources.coerce(value, field)
    except ValueError as exc:
        raise ValueError(str(exc)) from None


class Quota:
    """A role's quota: a guarantee (resources or a fraction of the cluster) and a limit."""

    __slots__ = ("guarantee", "fraction", "limit")

    def __init__(self, guarantee: Resources | None, fraction: float | None, limit: Resources | None):
        self.guarantee = guarantee
        self.fraction = fraction
        self.limit = limit

    @classmethod
    def parse(cls, role: str, guarantee: Union[ResourcesLike, float], limit: ResourcesLike) -> Quota | None:
        """Check what :meth:`~.hierarchical.HierarchicalAllocator.set_quota` was given; None: no quota."""
        if not isinstance(role, str) or not role:
            raise ValueError(f"role={role!r} must be a non-empty string, e.g. role='prod'")
        fraction: float | None = None
        g: Resources | None = None
        if isinstance(guarantee, (int, float)) and not isinstance(guarantee, bool):
            if not (0 < guarantee <= 1):
                raise ValueError(
                    f"quota guarantee={guarantee!r} for role {role!r}: a fraction must be in (0, 1], e.g. 0.5"
                )
            fraction = float(guarantee)
        elif guarantee is not None:
            g = _coerce(guarantee, f"quota[{role!r}].guarantee") or None
        lim = None if limit is None else _coerce(limit, f"quota[{role!r}].limit")
        if g is not None and lim is not None and not g <= lim:
            raise ValueError(f"quota for role {role!r}: guarantee {g} exceeds limit {lim}; raise the limit")
        if g is None and fraction is None and lim is None:
            return None
        return cls(g, fraction, lim)

    def as_given(self) -> dict[str, Any]:
        """The quota as the user wrote it (a fraction stays a fraction)."""
        return {"guarantee": self.fraction if self.fraction is not None else self.guarantee, "limit": self.limit}

    def guaranteed(self, total: Mapping[str, int]) -> dict[str, int] | None:
        """The guarantee in fixed-point scalars; a fraction is of the cluster's current ``total``."""
        if self.fraction is not None:
            return {k: int(v * self.fraction) for k, v in total.items()}
        return dict(self.guarantee._scalars) if self.guarantee else None

    def fit(self, available: Resources, role_alloc: Mapping[str, int]) -> Resources:
        """``available`` cut down to what fits under the limit given the role's allocation.

        Returns ``available`` itself when nothing was cut, so the caller can
        skip checking the minimum offer size in the common case.
        """
        if self.limit is None:
            return available
        lim = self.limit._scalars
        cut = {}
        clipped = False
        for k, v in available._scalars.items():
            if k in lim:
                room = max(0, lim[k] - role_alloc.get(k, 0))
                if room < v:
                    clipped = True
                    v = room
            cut[k] = v
        if not clipped:
            return available
        return Resources._raw(cut, available.ports)


def guarantee_of(quotas: Mapping[str, Quota], role: str, total: Mapping[str, int]) -> dict[str, int] | None:
    """A role's guarantee in fixed-point scalars (None: it has none)."""
    q = quotas.get(role)
    return None if q is None else q.guaranteed(total)


def below_guarantee(quotas: Mapping[str, Quota], role: RoleState, total: Mapping[str, int]) -> bool:
    """Whether the role holds less than its guarantee of some resource (then it is offered first)."""
    g = guarantee_of(quotas, role.name, total)
    if not g:
        return False
    alloc = role.alloc
    return any(alloc.get(k, 0) < v for k, v in g.items())


def plan_revocations(
    now: float,
    grace: float,
    starving: dict[str, float],
    quotas: Mapping[str, Quota],
    roles: Mapping[str, RoleState],
    agents: Mapping[str, AgentState],
    total: Mapping[str, int],
) -> list[Revocation]:
    """Tasks to kill so each role starving for ``grace`` seconds gets its guarantee back.

    Victims are the frameworks of roles above their own guarantee (no quota:
    a guarantee of nothing), most over-served first; a victim is never taken
    below its own guarantee.  After asking, the role's grace period starts
    again (``starving`` is updated in place).
    """
    out: list[Revocation] = []
    for role_name, since in list(starving.items()):
        if now < since + grace:
            continue
        role = roles.get(role_name)
        g = guarantee_of(quotas, role_name, total)
        if role is None or not g:
            continue
        deficit = {k: v - role.alloc.get(k, 0) for k, v in g.items() if v > role.alloc.get(k, 0)}
        victims = []
        for other in roles.values():
            if other is role:
                continue
            og = guarantee_of(quotas, other.name, total) or {}
            over = {k: v - og.get(k, 0) for k, v in other.alloc.items() if v > og.get(k, 0)}
            if over:
                victims.append((_dominant(over, total), other, og))
        victims.sort(key=lambda t: (-t[0], t[1].name))
        for _over, victim, og in victims:
            if not deficit:
                break
            valloc = dict(victim.alloc)
            fws = sorted(victim.frameworks.values(), key=lambda f: (-f.share, f.slot))
            for fw in fws:
                if not deficit:
                    break
                for agent in agents.values():
                    held = agent.held(fw.id)
                    if not held or not any(k in deficit for k in held._scalars):
                        continue
                    after = {k: valloc.get(k, 0) - held._scalars.get(k, 0) for k in og}
                    if any(after[k] < v for k, v in og.items()):
                        continue  # would take the victim below its own guarantee
                    out.append(
                        Revocation(
                            fw.id,
                            agent.id,
                            held,
                            f"role {role_name!r} is below its guarantee since t={since:.1f} s; "
                            f"{fw.id} (role {victim.name!r}) is above its own",
                        )
                    )
                    for k, v in held._scalars.items():
                        valloc[k] = valloc.get(k, 0) - v
                        if k in deficit:
                            deficit[k] -= v
                            if deficit[k] <= 0:
                                del deficit[k]
                    if not deficit:
                        break
        starving[role_name] = now
    return out
