"""The offer mechanics around every policy: Mesos's hierarchical allocator, in pure Python.

:class:`HierarchicalAllocator` implements the :class:`~.base.Allocator`
interface the master calls.  It owns everything that is *not* a matter of
policy — offer filters from declines, suppress/revive, active/inactive
frameworks, the minimum offer size, static reservations, quota (a role's
guarantee and limit), revocation, the explanation of every decision, and
checking what a policy returns — and asks its :class:`~.policies.Policy` only
*who comes first*.

How a round works (``allocate(now, agent_ids)``), like Mesos:

1. filters whose time is up are dropped;
2. for each agent with free resources of at least the minimum offer size,
   the frameworks that may be offered it are those active, not suppressed,
   not filtered on it (and, with static partitioning, owning it; with
   reservations, of a role that can use what is free; under their role's
   quota limit);
3. the first of them in the policy's order gets the agent's whole available
   resources (unreserved plus its role's reservation) as one offer; its
   share grows at once, so the next agent may go to someone else (DRF's
   progressive filling).  The framework keeps what it uses and the master
   gives the rest back with :meth:`recover`.

Quota (guarantees first, limits cut offers, revocation after
``revocation_grace``) is explained in :mod:`.quota`.

The concepts around the round live in their own modules; this one keeps the
allocator's state, its event handlers and the round itself:

- :mod:`.filters` — decline filters (expiry heap, revive, refused resources);
- :mod:`.reservations` — an agent's free pools, unreserved and reserved per role;
- :mod:`.quota` — guarantees, limits and the revocations that restore a guarantee;
- :mod:`.explain` — the sentence and JSON details of every decision, the round summary.

The allocator is pure: ``now`` comes in, nothing reads a clock.  It is fast
because it never builds a ``Resources`` in the hot loop, keeps shares
incrementally, keeps frameworks sorted in a :class:`~.sorter.Sorter`, and
keeps per agent a bitmask of filtered frameworks so an agent every framework
has declined is skipped with one integer operation.
"""

from __future__ import annotations

import gc
import heapq
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Union

from ..resources import Resources, ResourcesLike
from .base import Allocator, OfferDecision, Revocation
from .explain import HEAD, explain_offer, round_summary
from .filters import FOREVER, DeclineFilters
from .policies import DRF, AgentView, ClusterView, Policy, _dominant
from .quota import Quota, below_guarantee, plan_revocations
from .reservations import apply_reservation, give_back, take_available, take_exact
from .sorter import Sorter
from .state import AgentState, FrameworkState, RoleState, to_resources

__all__ = ["HierarchicalAllocator", "FOREVER"]

_EMPTY = Resources()
#: Mesos's smallest useful offer: at least this many cpus or this much memory (MiB), in thousandths
_MIN_CPUS = 10
_MIN_MEM = 32_000
#: how many errors the allocator remembers
_MAX_ERRORS = 200

PolicyLike = Union[str, Policy, type]


def _positive_number(field: str, value: Any, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{field}={value!r} must be a finite number, e.g. {field}=1")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{field}={value!r} must be {'>= 0' if allow_zero else '> 0'}, e.g. {field}=1")
    return float(value)


class HierarchicalAllocator(Allocator):
    """Offer mechanics (filters, suppress/revive, reservations, quota, revocation) around a :class:`Policy`.

    Options:

    - ``policy``: a registered name (``"drf"``, ``"priority"``, ``"fair"``,
      ``"lottery"``, ``"static"``, or your own), a :class:`Policy` subclass or
      an instance.  Default DRF.
    - ``allocation_interval``: seconds between the master's full rounds
      (Mesos default 1 s).  A decline filter lasts at least this long so that
      a short filter is not dropped before the next round (MESOS-4302).
    - ``min_offer``: the smallest free resources worth offering (the paper's
      remedy for fragmentation), e.g. ``Resources(cpus=1, mem="1GiB")``:
      an agent is offered only if its free resources contain all of it.
      Default: at least 0.01 cpus or 32 MiB of memory, as Mesos.
    - ``weights``: ``{role: weight}`` (see :meth:`update_weights`).
    - ``reservations``: ``{agent_id: {role: resources}}`` statically reserved
      for a role when the agent registers (see :meth:`reserve`).
    - ``quota``: ``{role: {"guarantee": resources or fraction, "limit": resources}}``
      (see :meth:`set_quota`).
    - ``revocation_grace``: seconds a role may stay below its guarantee with
      no free resources to offer it before :meth:`revocations` asks the
      master to kill tasks of roles above theirs.  None disables revocation.
    """

    def __init__(
        self,
        policy: PolicyLike = "drf",
        *,
        allocation_interval: float = 1.0,
        min_offer: ResourcesLike = None,
        weights: Mapping[str, float] | None = None,
        reservations: Mapping[str, Mapping[str, ResourcesLike]] | None = None,
        quota: Mapping[str, Mapping[str, Any]] | None = None,
        revocation_grace: float | None = None,
    ) -> None:
        self.allocation_interval = _positive_number("allocation_interval", allocation_interval, allow_zero=True)
        self._min_offer: dict[str, int] | None = None
        if min_offer is not None:
            try:
                mo = Resources.coerce(min_offer, "min_offer")
            except ValueError as exc:
                raise ValueError(f"min_offer: {exc}") from None
            self._min_offer = dict(mo._scalars) or None
        self.revocation_grace = (
            None
            if revocation_grace is None
            else _positive_number("revocation_grace", revocation_grace, allow_zero=True)
        )
        self._frameworks: dict[str, FrameworkState] = {}
        self._roles: dict[str, RoleState] = {}
        self._agents: dict[str, AgentState] = {}
        self._weights: dict[str, float] = {}
        self._total: dict[str, int] = {}
        self._slots: dict[int, FrameworkState] = {}
        self._free_slots: list[int] = []
        self._next_slot = 0
        #: bitmask of frameworks that are active and not suppressed
        self._eligible = 0
        #: the decline filters' cluster-wide index (the per-agent masks are on the agents)
        self._filters = DeclineFilters(self._agents, self._slots)
        #: framework id -> agents whose ``used`` named it before it registered
        # framework id -> agents holding its resources before it registered (a dict as an ordered set:
        # adding them up in a set's hash order could round differently in another process)
        self._orphans: dict[str, dict[str, None]] = {}
        self._reservations: dict[str, dict[str, Resources]] = {}
        #: role -> its quota; a plain dict because the round tests ``quota and fw.role in quota`` per offer
        self._quota: dict[str, Quota] = {}
        #: role -> since when it has been below its guarantee with nothing it could be offered
        self._starving: dict[str, float] = {}
        self._dirty_shares = False
        self._dirty_owners = True
        self._round = 0
        #: how many times the orders were rebuilt (a round re-reads them when this changes)
        self._rebuilds = 0
        #: problems caught and not yet reported (a policy's bad answer, a recover of resources not held),
        #: oldest first; the master logs each as an ``error`` event and clears the list (or calls drain_errors)
        self.errors: list[str] = []
        self._round_errors: list[str] = []
        #: a summary of the last round: time, policy, offers, order and shares, skipped agents, errors
        self.last_round: dict[str, Any] = {}
        self._role_sorter = Sorter()
        self._flat: Sorter | None = None
        self._default = DRF()
        self._policy: Policy = self._default
        self._active: Policy = self._default
        self._fell_back = False
        self.set_policy(policy)
        if weights:
            self.update_weights(weights)
        for agent_id, by_role in (reservations or {}).items():
            for role, res in by_role.items():
                self._reservations.setdefault(agent_id, {})[role] = self._coerce(
                    res, f"reservations[{agent_id!r}][{role!r}]"
                )
        for role, q in (quota or {}).items():
            if not isinstance(q, Mapping):
                raise ValueError(f"quota[{role!r}]={q!r} must be a dict, e.g. {{'guarantee': 'cpus:4;mem:8GiB'}}")
            unknown = set(q) - {"guarantee", "limit"}
            if unknown:
                raise ValueError(f"quota[{role!r}] has unknown key {sorted(unknown)[0]!r}; use 'guarantee' and 'limit'")
            self.set_quota(role, guarantee=q.get("guarantee"), limit=q.get("limit"))

    # ======================================================================================
    # policy
    # ======================================================================================
    @property
    def policy(self) -> Policy:
        """The policy in use (DRF after a fallback)."""
        return self._active

    @property
    def configured_policy(self) -> Policy:
        """The policy asked for, even if it failed and DRF took over."""
        return self._policy

    def set_policy(self, policy: PolicyLike) -> None:
        """Switch to another policy (a name, a class or an instance); clears an earlier fallback."""
        from .registry import resolve_policy

        self._policy = resolve_policy(policy)
        self._active = self._policy
        self._fell_back = False
        self._rebuild_order()
        self._dirty_owners = True

    def _policy_failed(self, message: str) -> None:
        """Record a policy's bad answer and fall back to DRF for the rest of this round and after."""
        text = f"policy {_label(self._policy)} {message}; falling back to drf for this round and after"
        self._error(text)
        self._active = self._default
        self._fell_back = True
        self._rebuild_order()
        self._dirty_owners = True

    def _hook_failed(self, exc: Exception, where: str) -> None:
        """A policy hook raised (or returned keys that cannot be compared) while the books were being sorted.

        Falling back rebuilds every order from scratch with DRF, so whatever the
        failed update left half done is replaced.  DRF itself failing is a bug
        in the allocator: that is raised.
        """
        if self._active is self._default:
            raise exc
        hook = {"_compute_owners": "owners()"}.get(where, "share(), framework_key() or role_key()")
        self._policy_failed(f"raised {type(exc).__name__}: {exc} in {hook}")

    def _error(self, text: str) -> None:
        self.errors.append(text)
        self._round_errors.append(text)
        if len(self.errors) > _MAX_ERRORS:  # nobody is reading them: keep the newest
            del self.errors[: len(self.errors) - _MAX_ERRORS]

    def drain_errors(self) -> list[str]:
        """Errors recorded and not yet reported, oldest first; the list is emptied."""
        out = list(self.errors)
        self.errors.clear()
        return out

    # ======================================================================================
    # frameworks
    # ======================================================================================
    def add_framework(
        self,
        framework_id: str,
        role: str = "*",
        used: Mapping[str, Resources] | None = None,
        active: bool = True,
        now: float = 0.0,
    ) -> None:
        if not isinstance(framework_id, str) or not framework_id:
            raise ValueError(f"framework_id={framework_id!r} must be a non-empty string, e.g. 'fw-1'")
        if not isinstance(role, str) or not role:
            raise ValueError(f"role={role!r} must be a non-empty string, e.g. role='*'")
        if framework_id in self._frameworks:
            raise ValueError(f"framework {framework_id!r} is already added; call remove_framework() first")
        if self._free_slots:
            slot = heapq.heappop(self._free_slots)
        else:
            slot = self._next_slot
            self._next_slot += 1
        fw = FrameworkState(framework_id, role, slot, bool(active))
        self._frameworks[framework_id] = fw
        self._slots[slot] = fw
        r = self._roles.get(role)
        if r is None:
            r = self._roles[role] = RoleState(role, self._weights.get(role, 1.0))
            r.sorter = Sorter()
        r.frameworks[framework_id] = fw
        r.members |= fw.bit
        # adopt resources agents reported for this framework before it registered
        for agent_id in self._orphans.pop(framework_id, ()):
            agent = self._agents.get(agent_id)
            for piece in agent.alloc.get(framework_id, ()) if agent else ():
                self._add_vectors(fw, r, piece._scalars, 1)
        for agent_id, res in (used or {}).items():
            agent = self._agents.get(agent_id)
            if agent is None or framework_id in agent.alloc:
                continue
            res = self._coerce(res, f"used[{agent_id!r}]")
            taken = take_available(agent, role, res)
            if taken:
                agent.alloc[framework_id] = [taken]
                self._add_vectors(fw, r, taken._scalars, 1)
                self._update_offerable(agent)
        self._insert_order(fw, r)
        if fw.active:
            self._eligible |= fw.bit
        self._dirty_owners = True

    def remove_framework(self, framework_id: str) -> None:
        fw = self._frameworks.pop(framework_id, None)
        if fw is None:
            return
        role = self._roles[fw.role]
        if fw.alloc:  # the master should have recovered these; free them anyway
            for agent in self._agents.values():
                for piece in agent.alloc.pop(framework_id, ()):
                    give_back(agent, fw.role, piece)
                    self._add_vectors(fw, role, piece._scalars, -1)
                    self._update_offerable(agent)
        self._filters.clear(fw.bit)
        self._eligible &= ~fw.bit
        self._remove_order(fw, role)
        del role.frameworks[framework_id]
        role.members &= ~fw.bit
        if not role.frameworks:
            del self._roles[fw.role]
            self._starving.pop(fw.role, None)
        else:
            self._resort_role(role)
        del self._slots[fw.slot]
        heapq.heappush(self._free_slots, fw.slot)
        self._dirty_owners = True

    def activate_framework(self, framework_id: str) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is not None:
            fw.active = True
            if not fw.suppressed:
                self._eligible |= fw.bit

    def deactivate_framework(self, framework_id: str) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is not None:
            fw.active = False
            self._eligible &= ~fw.bit

    def suppress(self, framework_id: str) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is not None:
            fw.suppressed = True
            self._eligible &= ~fw.bit

    def revive(self, framework_id: str, now: float = 0.0) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is not None:
            fw.suppressed = False
            self._filters.clear(fw.bit)
            if fw.active:
                self._eligible |= fw.bit

    def update_weights(self, weights: Mapping[str, float]) -> None:
        """Set role weights: a role with weight 2 is entitled to twice the share of a role with weight 1."""
        if not isinstance(weights, Mapping):
            raise ValueError(f"weights={weights!r} must be a dict of role -> weight, e.g. {{'prod': 2}}")
        checked = {}
        for role, w in weights.items():
            if not isinstance(role, str) or not role:
                raise ValueError(f"weights has role {role!r}; roles are non-empty strings")
            checked[role] = _positive_number(f"weights[{role!r}]", w)
        self._weights.update(checked)
        for role, w in checked.items():
            r = self._roles.get(role)
            if r is not None:
                r.weight = w
                self._resort_role(r)

    # ======================================================================================
    # agents
    # ======================================================================================
    def add_agent(
        self,
        agent_id: str,
        total: Resources,
        attributes: Mapping[str, str] | None = None,
        used: Mapping[str, Resources] | None = None,
        now: float = 0.0,
    ) -> None:
        if not isinstance(agent_id, str) or not agent_id:
            raise ValueError(f"agent_id={agent_id!r} must be a non-empty string, e.g. 'agent-1'")
        if agent_id in self._agents:
            raise ValueError(f"agent {agent_id!r} is already added; call remove_agent() first")
        total = self._coerce(total, "total")
        agent = AgentState(agent_id, total, attributes or {})
        self._agents[agent_id] = agent
        for role, res in self._reservations.get(agent_id, {}).items():
            try:
                apply_reservation(agent, role, res)
            except ValueError as exc:  # a configuration mistake must not stop the agent joining
                self._error(f"reservation ignored: {exc}")
        for framework_id, res in (used or {}).items():
            res = self._coerce(res, f"used[{framework_id!r}]")
            fw = self._frameworks.get(framework_id)
            taken = take_available(agent, fw.role if fw else "*", res)
            if not taken:
                continue
            agent.alloc[framework_id] = [taken]
            if fw is not None:
                self._add_vectors(fw, self._roles[fw.role], taken._scalars, 1)
            else:
                self._orphans.setdefault(framework_id, {})[agent_id] = None
        tot = self._total
        for k, v in total._scalars.items():
            tot[k] = tot.get(k, 0) + v
        self._update_offerable(agent)
        self._dirty_shares = True
        self._dirty_owners = True

    def remove_agent(self, agent_id: str) -> None:
        agent = self._agents.pop(agent_id, None)
        if agent is None:
            return
        for framework_id, pieces in agent.alloc.items():
            fw = self._frameworks.get(framework_id)
            if fw is not None:
                for piece in pieces:
                    self._add_vectors(fw, self._roles[fw.role], piece._scalars, -1)
            else:
                orphans = self._orphans.get(framework_id)
                if orphans:
                    orphans.pop(agent_id, None)
        tot = self._total
        for k, v in agent.total._scalars.items():
            left = tot.get(k, 0) - v
            if left > 0:
                tot[k] = left
            else:
                tot.pop(k, None)
        self._filters.forget_agent(agent_id)
        self._dirty_shares = True
        self._dirty_owners = True

    def update_agent(
        self,
        agent_id: str,
        total: ResourcesLike = None,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        """The agent's resources or attributes changed (e.g. it was resized).

        Growth becomes free at once; a shrink takes from what is free first, and
        if tasks hold more than the new total, the agent simply has nothing free
        until they finish (the allocator never revokes for a resize).
        """
        agent = self._agents.get(agent_id)
        if agent is None:
            raise ValueError(f"no agent {agent_id!r}; add it with add_agent() first")
        if attributes is not None:
            agent.attributes = dict(attributes)
            self._dirty_owners = True
        if total is None:
            return
        new = self._coerce(total, "total")
        old = agent.total
        grown = new.subtract_available(old)
        shrunk = old.subtract_available(new)
        if grown:
            agent.free = agent.free + grown if agent.free else grown
        if shrunk:
            agent.free = agent.free.subtract_available(shrunk)
        agent.total = new
        tot = self._total
        for k in set(old._scalars) | set(new._scalars):
            v = tot.get(k, 0) - old._scalars.get(k, 0) + new._scalars.get(k, 0)
            if v > 0:
                tot[k] = v
            else:
                tot.pop(k, None)
        self._update_offerable(agent)
        self._dirty_shares = True

    # -- reservations -----------------------------------------------------------------------
    def reserve(self, agent_id: str, role: str, resources: ResourcesLike) -> None:
        """Statically reserve ``resources`` of the agent for ``role``: only its frameworks are offered them.

        Applies now if the agent is registered (the resources must be free) and
        again whenever an agent of that id registers.
        """
        if not isinstance(role, str) or not role:
            raise ValueError(f"role={role!r} must be a non-empty string, e.g. role='prod'")
        res = self._coerce(resources, "resources")
        self._reservations.setdefault(agent_id, {})[role] = res
        agent = self._agents.get(agent_id)
        if agent is not None:
            apply_reservation(agent, role, res)
            self._update_offerable(agent)

    # ======================================================================================
    # quota
    # ======================================================================================
    def set_quota(
        self,
        role: str,
        guarantee: Union[ResourcesLike, float] = None,
        limit: ResourcesLike = None,
    ) -> None:
        """Give ``role`` a guarantee and/or a limit (both None: remove its quota).

        ``guarantee`` is resources (``"cpus:8;mem:16GiB"``) or a fraction of
        the cluster (``0.5``).  Roles below their guarantee are offered first;
        with ``revocation_grace`` set, they may also get tasks of other roles
        revoked for them.  ``limit`` caps what the role's frameworks hold:
        offers are cut to fit and stop once it is reached.
        """
        q = Quota.parse(role, guarantee, limit)
        if q is None:
            self._quota.pop(role, None)
            self._starving.pop(role, None)
        else:
            self._quota[role] = q
        self._rebuild_order()

    def quota(self) -> dict[str, dict[str, Any]]:
        """Each role's quota, as given."""
        return {role: q.as_given() for role, q in self._quota.items()}

    def _below_guarantee(self, role: RoleState) -> bool:
        """Whether ``role`` is below its guarantee (then the order puts it first)."""
        return below_guarantee(self._quota, role, self._total)

    # ======================================================================================
    # revocation
    # ======================================================================================
    def _track_starvation(self, now: float) -> None:
        """Note since when each role with quota has been below its guarantee with nothing to be offered.

        A role that could be offered something is not starving, only waiting
        for its turn; revoking for it would kill tasks for nothing.
        """
        if self.revocation_grace is None:
            return
        for role_name in self._quota:
            role = self._roles.get(role_name)
            hungry = (
                role is not None
                and role.members & self._eligible
                and self._below_guarantee(role)
                and not self._can_be_offered(role)
            )
            if hungry:
                self._starving.setdefault(role_name, now)
            else:
                self._starving.pop(role_name, None)

    def _can_be_offered(self, role: RoleState) -> bool:
        """Whether some offerable agent is open to an eligible framework of ``role`` (then it is not starving)."""
        members = role.members & self._eligible
        for agent in self._agents.values():
            if agent.offerable and members & ~agent.filtered:
                if not agent.rfree or self._reservation_mask(agent) & members:
                    return True
        return False

    def revocations(self, now: float) -> list[Revocation]:
        """Tasks to kill so a role below its guarantee gets it, once it has starved for ``revocation_grace``.

        Victims are the frameworks of roles above their own guarantee (no
        quota: a guarantee of nothing), most over-served first; a victim is
        never taken below its own guarantee.  After asking, the role's grace
        period starts again.
        """
        if self.revocation_grace is None or not self._starving:
            return []
        return plan_revocations(
            now, self.revocation_grace, self._starving, self._quota, self._roles, self._agents, self._total
        )

    def next_deadline(self) -> float | None:
        """The next time something changes by itself: a filter expires or a role's grace period ends."""
        best = self._filters.next_expiry()
        if self.revocation_grace is not None:
            for since in self._starving.values():
                t = since + self.revocation_grace
                if best is None or t < best:
                    best = t
        return best

    # ======================================================================================
    # resources
    # ======================================================================================
    def recover(
        self,
        framework_id: str,
        agent_id: str,
        resources: Resources,
        refuse_seconds: float | None = None,
        now: float = 0.0,
    ) -> None:
        agent = self._agents.get(agent_id)
        if agent is None:
            return  # the agent is gone, and its allocations with it
        if not isinstance(resources, Resources):
            resources = self._coerce(resources, "resources")
        fw = self._frameworks.get(framework_id)
        pieces = agent.alloc.get(framework_id)
        if pieces and resources:
            back = None
            # usually the master gives back exactly what one offer held (a decline): drop that piece
            for i, piece in enumerate(pieces):
                if piece is resources:
                    back = pieces.pop(i)
                    break
            else:
                for i, piece in enumerate(pieces):
                    if piece == resources:
                        back = pieces.pop(i)
                        break
            held = None if back is not None else agent.held(framework_id)
            if back is not None:
                if not pieces:
                    del agent.alloc[framework_id]
            elif resources <= held:
                back = resources
                left = held - resources
                if left:
                    agent.alloc[framework_id] = [left]
                else:
                    del agent.alloc[framework_id]
            else:
                back = Resources._raw(
                    {k: min(v, held._scalars.get(k, 0)) for k, v in resources._scalars.items()},
                    resources.ports & held.ports,
                )
                self._error(
                    f"recover: framework {framework_id!r} gave back {resources} on agent {agent_id!r} "
                    f"but held only {held}; recovered {back}"
                )
                left = held.subtract_available(back)
                if left:
                    agent.alloc[framework_id] = [left]
                else:
                    del agent.alloc[framework_id]
            role_name = fw.role if fw is not None else "*"
            give_back(agent, role_name, back)
            if fw is not None:
                self._add_vectors(fw, self._roles[fw.role], back._scalars, -1)
            self._update_offerable(agent)
            if agent.filtered:
                self._filters.lift_outgrown(agent)
        elif resources and fw is not None:
            self._error(f"recover: framework {framework_id!r} holds nothing on agent {agent_id!r}; ignored {resources}")
        if fw is not None and refuse_seconds is not None and refuse_seconds > 0:
            # a refusal of nothing in particular is a plain filter, not one about resources
            self._filters.add(fw, agent, float(refuse_seconds), now, self.allocation_interval, resources or None)

    def filters(self, framework_id: str | None = None) -> dict[str, dict[str, float]]:
        """Active decline filters: framework id → {agent id → until (inf: until revive)}."""
        return self._filters.listing(framework_id)

    # ======================================================================================
    # allocation
    # ======================================================================================
    def tick(self, now: float) -> list[Revocation]:
        """A clock tick without a round: drop expired filters and return the revocations now due."""
        self._filters.expire(now)
        return self.revocations(now)

    def allocate(self, now: float, agent_ids: Iterable[str] | None = None) -> list[OfferDecision]:
        # A round creates tens of thousands of short-lived objects and no reference cycles; letting the
        # cyclic garbage collector rescan the whole (large) heap during it doubles the round's time.
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            return self._allocate(now, agent_ids)
        finally:
            if paused:
                gc.enable()

    def _allocate(self, now: float, agent_ids: Iterable[str] | None) -> list[OfferDecision]:
        self._filters.expire(now)
        if self._dirty_shares:
            self._refresh_shares()
        if self._dirty_owners:
            self._compute_owners()
        self._round += 1
        self._round_errors = []
        if agent_ids is None:
            agents: list[AgentState] = [a for a in self._agents.values() if a.offerable]
        else:
            if isinstance(agent_ids, str):
                agent_ids = [agent_ids]
            got = self._agents
            agents = [got[a] for a in dict.fromkeys(agent_ids) if a in got and got[a].offerable]
        decisions: list[OfferDecision] = []
        stats = {"agents": len(agents), "filtered": 0, "no_candidate": 0}
        if agents and self._eligible:
            policy = self._active
            kind = type(policy)
            todo: Iterator[AgentState] = iter(agents)
            if kind.decide is not Policy.decide:
                todo = self._round_decide(agents, now, decisions, stats)
            elif kind.order is not Policy.order:
                todo = self._round_order(todo, now, decisions, stats)
            self._round_fast(todo, now, decisions, stats)
        if self._quota:
            self._track_starvation(now)
        self.last_round = round_summary(self, now, len(decisions), stats, self._round_errors)
        return decisions

    # -- the fast path: policies expressed as sort keys ---------------------------------------
    def _round_fast(
        self, agents: Iterable[AgentState], now: float, decisions: list[OfferDecision], stats: dict[str, int]
    ) -> None:
        eligible = self._eligible
        quota = self._quota
        filtered = no_candidate = 0
        seen = -1
        for agent in agents:
            if seen != self._rebuilds:  # first agent, or the policy failed and DRF rebuilt the order
                seen = self._rebuilds
                flat = self._flat
                role_sorter = self._role_sorter
                restricted = self._active.partitions
                draws = self._active.draws
            while agent.offerable:
                avail = eligible & ~agent.filtered
                if not avail:
                    filtered += 1
                    break
                if restricted:
                    avail &= agent.owners
                if agent.rfree:
                    avail &= self._reservation_mask(agent)
                fw = None
                offered = None
                while avail:
                    if draws:
                        fw = self._draw(avail)
                    elif flat is not None:
                        fw = flat.first(avail)
                    else:
                        role = role_sorter.first(avail)
                        fw = None if role is None else role.sorter.first(avail & role.members)
                    if fw is None:
                        break
                    if quota and fw.role in quota:
                        offered = self._fit_quota(agent, fw)
                        if offered is None:
                            avail &= ~self._roles[fw.role].members
                            fw = None
                            continue
                    break
                if fw is None:
                    no_candidate += 1
                    break
                decisions.append(self._offer(fw, agent, offered, avail, now))
        stats["filtered"] += filtered
        stats["no_candidate"] += no_candidate

    def _offer(
        self,
        fw: FrameworkState,
        agent: AgentState,
        offered: Resources | None,
        avail: int,
        now: float,
        reason: str | None = None,
    ) -> OfferDecision:
        """Give ``offered`` (None: everything available to the framework) of ``agent`` to ``fw``; explain it."""
        role = self._roles[fw.role]
        if offered is None:
            rf = agent.rfree.get(fw.role) if agent.rfree else None
            if rf:
                offered = agent.free + rf if agent.free else rf
                agent.rfree[fw.role] = _EMPTY
            else:
                offered = agent.free
            agent.free = _EMPTY
        else:
            take_exact(agent, fw.role, offered)
        pieces = agent.alloc.get(fw.id)
        if pieces is None:
            agent.alloc[fw.id] = [offered]
        else:
            pieces.append(offered)
        # share before the offer, for the explanation
        share_before = fw.share
        role_share_before = role.share
        fa = fw.alloc
        ra = role.alloc
        for k, v in offered._scalars.items():
            fa[k] = fa.get(k, 0) + v
            ra[k] = ra.get(k, 0) + v
        fw.count += 1
        role.count += 1
        decision = explain_offer(self, fw, role, agent, offered, avail, now, share_before, role_share_before, reason)
        self._resort(fw, role)
        self._update_offerable(agent)
        return decision

    def _fit_quota(self, agent: AgentState, fw: FrameworkState) -> Resources | None:
        """What of the agent fits under the role's quota limit (None: nothing worth offering)."""
        available = agent.available_for(fw.role)
        fits = self._quota[fw.role].fit(available, self._roles[fw.role].alloc)
        return fits if fits is available or self._is_offerable(fits) else None

    def _reservation_mask(self, agent: AgentState) -> int:
        """Frameworks that can use what is free on an agent with reservations."""
        if self._is_offerable(agent.free):
            return -1
        mask = 0
        for role_name, rf in agent.rfree.items():
            role = self._roles.get(role_name)
            if role is not None and rf and self._is_offerable(rf + agent.free if agent.free else rf):
                mask |= role.members
        return mask

    def _draw(self, avail: int) -> FrameworkState:
        cands = []
        weights = []
        slots = self._slots
        w = self._weights
        m = avail & self._eligible
        while m:
            low = m & -m
            m ^= low
            fw = slots[low.bit_length() - 1]
            cands.append(fw)
            weights.append(w.get(fw.role, 1.0))
        try:
            won = self._active.draw(cands, weights)
            if not any(won is c for c in cands):
                raise ValueError(f"draw() returned {won!r:.60}, not one of its candidates")
            return won
        except Exception as exc:
            self._policy_failed(f"raised {type(exc).__name__}: {exc} in draw()")
            if self._flat is not None:
                return self._flat.first(avail)
            role = self._role_sorter.first(avail)
            return role.sorter.first(avail & role.members)

    # -- the order() path: a student's policy, one call per agent --------------------------------
    def _round_order(
        self, agents: Iterator[AgentState], now: float, decisions: list[OfferDecision], stats: dict[str, int]
    ) -> Iterator[AgentState]:
        """Offer agents as ``policy.order`` says; on a bad answer, hand the rest to DRF (returns what is left)."""
        policy = self._active
        view = ClusterView(self, now)
        for agent in agents:
            while agent.offerable:
                avail = self._eligible & ~agent.filtered
                if self._active.partitions:
                    avail &= agent.owners
                if agent.rfree:
                    avail &= self._reservation_mask(agent)
                if not avail:
                    stats["filtered"] += 1
                    break
                cands = [fw.id for fw in self._iter_order() if fw.bit & avail]
                try:
                    ranked = policy.order(AgentView(agent), list(cands), view)
                    problem = self._check_order(ranked, cands)
                except Exception as exc:  # a student's bug must not stop the master
                    problem = f"raised {type(exc).__name__}: {exc} in order() for agent {agent.id!r}"
                    ranked = None
                if problem:
                    if not problem.startswith("raised"):
                        problem = f"returned {problem} from order() for agent {agent.id!r}"
                    self._policy_failed(problem)
                    return _chain([agent], agents)
                if not ranked:
                    stats["no_candidate"] += 1
                    break
                fw = self._frameworks[ranked[0]]
                offered = None
                if self._quota and fw.role in self._quota:
                    offered = self._fit_quota(agent, fw)
                    if offered is None:
                        stats["no_candidate"] += 1
                        break
                shown = ", ".join(ranked[:HEAD]) + (", ..." if len(ranked) > HEAD else "")
                why = f"policy {policy.name!r} ranked it first of {len(cands)} candidates ({shown})"
                decisions.append(self._offer(fw, agent, offered, avail, now, why))
        return iter(())

    @staticmethod
    def _check_order(ranked: Any, candidates: list[str]) -> str | None:
        if not isinstance(ranked, (list, tuple)):
            return f"{type(ranked).__name__} {ranked!r:.80} (expected a list of framework ids)"
        allowed = set(candidates)
        seen = set()
        for f in ranked:
            if not isinstance(f, str):
                return f"{f!r:.60} in its list (expected framework id strings such as {candidates[0]!r})"
            if f not in allowed:
                return f"{f!r}, which is not a candidate (candidates: {', '.join(candidates[:HEAD])})"
            if f in seen:
                return f"{f!r} twice"
            seen.add(f)
        return None

    # -- the decide() path: explicit offers ----------------------------------------------------
    def _round_decide(
        self, agents: list[AgentState], now: float, decisions: list[OfferDecision], stats: dict[str, int]
    ) -> Iterator[AgentState]:
        """Offer what ``policy.decide`` plans, all or nothing; returns the agents left for the other paths."""
        policy = self._active
        view = ClusterView(self, now)
        try:
            result = policy.decide([AgentView(a) for a in agents], view)
            if result is None:
                if type(policy).order is Policy.order:
                    return iter(agents)
                return self._round_order(iter(agents), now, decisions, stats)
            plan = self._check_decisions(result, agents)
        except Exception as exc:
            self._policy_failed(f"raised {type(exc).__name__}: {exc} in decide()")
            return iter(agents)
        if isinstance(plan, str):
            self._policy_failed(f"returned {plan} from decide()")
            return iter(agents)
        for fw, agent, res in plan:
            why = f"policy {policy.name!r} chose it in decide()"
            decisions.append(self._offer(fw, agent, res, -1, now, why))
        return iter(())

    def _check_decisions(
        self, result: Any, agents: list[AgentState]
    ) -> Union[str, list[tuple[FrameworkState, AgentState, Resources]]]:
        """Validate a decide() answer against a simulation of the agents' free pools; a str says what is wrong."""
        in_round = {a.id: a for a in agents}
        pools: dict[str, tuple[Resources, dict[str, Resources]]] = {}
        plan = []
        for item in result:
            if not isinstance(item, (tuple, list)) or len(item) != 3:
                return f"{item!r:.80} (expected (framework_id, agent_id, resources))"
            fid, aid, res = item
            fw = self._frameworks.get(fid) if isinstance(fid, str) else None
            if fw is None:
                return f"unknown framework {fid!r}"
            agent = in_round.get(aid) if isinstance(aid, str) else None
            if agent is None:
                what = "an agent not in this round" if aid in self._agents else "an unknown agent"
                return f"{what} {aid!r} for framework {fid!r}"
            if not (fw.bit & self._eligible):
                return f"framework {fid!r}, which is {'suppressed' if fw.suppressed else 'inactive'}"
            if agent.filtered & fw.bit:
                return f"framework {fid!r} on agent {aid!r}, where it is filtered"
            if self._active.partitions and not agent.owners & fw.bit:
                return f"framework {fid!r} on agent {aid!r}, outside its partition"
            try:
                res = Resources.coerce(res, "resources")
            except ValueError as exc:
                return f"bad resources for {fid!r} on {aid!r} ({exc})"
            if not res:
                return f"empty resources for {fid!r} on {aid!r}"
            free, rfree = pools.get(aid) or (agent.free, dict(agent.rfree))
            avail_here = free + rfree.get(fw.role, _EMPTY)
            if not res <= avail_here:
                return f"{res} of agent {aid!r} for {fid!r}, more than the {avail_here} free (offered twice?)"
            r = rfree.get(fw.role)
            if r:
                part = Resources._raw(
                    {k: min(v, r._scalars.get(k, 0)) for k, v in res._scalars.items()}, res.ports & r.ports
                )
                rfree[fw.role] = r - part
                free = free - res.subtract_available(part)
            else:
                free = free - res
            pools[aid] = (free, rfree)
            plan.append((fw, agent, res))
        return plan

    # ======================================================================================
    # order bookkeeping
    # ======================================================================================
    def _add_vectors(self, fw: FrameworkState, role: RoleState, scalars: Mapping[str, int], sign: int) -> None:
        fa, ra = fw.alloc, role.alloc
        for k, v in scalars.items():
            n = fa.get(k, 0) + sign * v
            if n > 0:
                fa[k] = n
            else:
                fa.pop(k, None)
            n = ra.get(k, 0) + sign * v
            if n > 0:
                ra[k] = n
            else:
                ra.pop(k, None)
        if not self._dirty_shares:
            self._resort(fw, role)

    def _role_key(self, role: RoleState) -> Any:
        key = self._active.role_key(role)
        if self._quota:
            return (0 if self._below_guarantee(role) else 1, key)
        return key

    def _fw_key(self, fw: FrameworkState) -> Any:
        key = self._active.framework_key(fw)
        if self._quota and self._flat is not None:
            return (0 if self._below_guarantee(self._roles[fw.role]) else 1, key)
        return key

    def _resort(self, fw: FrameworkState, role: RoleState) -> None:
        try:
            self._resort_unguarded(fw, role)
        except Exception as exc:  # a policy's key, share or owners hook failed
            self._hook_failed(exc, "_resort")

    def _resort_unguarded(self, fw: FrameworkState, role: RoleState) -> None:
        policy = self._active
        total = self._total
        fw.share = _share(policy, fw.alloc, total)
        role.share = _share(policy, role.alloc, total)
        if self._flat is not None:
            if fw in self._flat:
                self._flat.update(fw, self._fw_key(fw))
        else:
            if fw in role.sorter:
                role.sorter.update(fw, self._fw_key(fw))
            # a lone role's place cannot change; its key is brought up to date when a second role arrives
            if len(self._role_sorter) > 1 and role in self._role_sorter:
                self._role_sorter.update(role, self._role_key(role))

    def _resort_role(self, role: RoleState) -> None:
        try:
            self._resort_role_unguarded(role)
        except Exception as exc:  # a policy's key, share or owners hook failed
            self._hook_failed(exc, "_resort_role")

    def _resort_role_unguarded(self, role: RoleState) -> None:
        role.share = _share(self._active, role.alloc, self._total)
        if self._flat is None and role in self._role_sorter:
            self._role_sorter.set_mask(role, role.members)
            self._role_sorter.update(role, self._role_key(role))
        elif self._flat is not None and self._quota:
            for fw in role.frameworks.values():
                self._flat.update(fw, self._fw_key(fw))

    def _insert_order(self, fw: FrameworkState, role: RoleState) -> None:
        try:
            self._insert_order_unguarded(fw, role)
        except Exception as exc:  # a policy's key, share or owners hook failed
            self._hook_failed(exc, "_insert_order")

    def _insert_order_unguarded(self, fw: FrameworkState, role: RoleState) -> None:
        policy = self._active
        fw.share = _share(policy, fw.alloc, self._total)
        role.share = _share(policy, role.alloc, self._total)
        if self._flat is not None:
            self._flat.add(fw, self._fw_key(fw), fw.bit)
            return
        role.sorter.add(fw, self._fw_key(fw), fw.bit)
        if role in self._role_sorter:
            self._role_sorter.set_mask(role, role.members)
            self._role_sorter.update(role, self._role_key(role))
        else:
            for lone in list(self._role_sorter) if len(self._role_sorter) == 1 else ():
                self._role_sorter.update(lone, self._role_key(lone))
            self._role_sorter.add(role, self._role_key(role), role.members)

    def _remove_order(self, fw: FrameworkState, role: RoleState) -> None:
        if self._flat is not None:
            self._flat.remove(fw)
            return
        role.sorter.remove(fw)
        if len(role.sorter) == 0:
            self._role_sorter.remove(role)

    def _rebuild_order(self) -> None:
        try:
            self._rebuild_order_unguarded()
        except Exception as exc:  # a policy's key, share or owners hook failed
            self._hook_failed(exc, "_rebuild_order")

    def _rebuild_order_unguarded(self) -> None:
        """Re-key everything (policy switched, totals changed, quota changed)."""
        self._rebuilds += 1
        policy = self._active
        total = self._total
        for role in self._roles.values():
            role.share = _share(policy, role.alloc, total)
            for fw in role.frameworks.values():
                fw.share = _share(policy, fw.alloc, total)
        self._role_sorter = Sorter()
        if not policy.hierarchical:
            self._flat = Sorter()
            for fw in self._frameworks.values():
                self._flat.add(fw, self._fw_key(fw), fw.bit)
            return
        self._flat = None
        for role in self._roles.values():
            role.sorter = Sorter()
            for fw in role.frameworks.values():
                role.sorter.add(fw, self._fw_key(fw), fw.bit)
            if role.frameworks:
                self._role_sorter.add(role, self._role_key(role), role.members)

    def _refresh_shares(self) -> None:
        self._dirty_shares = False
        self._rebuild_order()

    def _iter_order(self) -> Iterator[FrameworkState]:
        """Every framework in the policy's order (roles first when hierarchical)."""
        if self._flat is not None:
            yield from self._flat
            return
        for role in self._role_sorter:
            yield from role.sorter

    def _head(self, n: int) -> list[FrameworkState]:
        """The first ``n`` frameworks of the order."""
        if self._flat is not None:
            return self._flat.head(n)
        if len(self._role_sorter) == 1:
            return self._role_sorter._blocks[0][0][1].sorter.head(n)
        out: list[FrameworkState] = []
        for role in self._role_sorter.head(n):
            out.extend(role.sorter.head(n - len(out)))
            if len(out) >= n:
                break
        return out

    def _position(self, fw: FrameworkState) -> int:
        if self._flat is not None:
            return self._flat.position(fw)
        pos = 0
        role = self._roles[fw.role]
        for r in self._role_sorter:
            if r is role:
                return pos + role.sorter.position(fw)
            pos += len(r.sorter)
        return pos

    def _compute_owners(self) -> None:
        try:
            self._compute_owners_unguarded()
        except Exception as exc:  # a policy's key, share or owners hook failed
            self._hook_failed(exc, "_compute_owners")

    def _compute_owners_unguarded(self) -> None:
        self._dirty_owners = False
        policy = self._active
        if not policy.partitions:
            return
        owners = policy.owners(list(self._agents.values()), list(self._frameworks.values()))
        fws = self._frameworks
        roles = self._roles
        for agent in self._agents.values():
            ids = owners.get(agent.id)
            if ids is None:
                agent.owners = -1
                continue
            mask = 0
            for i in ids:
                fw = fws.get(i)
                if fw is not None:
                    mask |= fw.bit
                else:
                    role = roles.get(i)
                    if role is not None:
                        mask |= role.members
            agent.owners = mask

    # ======================================================================================
    # offerability
    # ======================================================================================
    def _is_offerable(self, res: Resources) -> bool:
        s = res._scalars
        m = self._min_offer
        if m is None:
            return s.get("cpus", 0) >= _MIN_CPUS or s.get("mem", 0) >= _MIN_MEM
        for k, v in m.items():
            if s.get(k, 0) < v:
                return False
        return True

    def _update_offerable(self, agent: AgentState) -> None:
        if self._is_offerable(agent.free):
            agent.offerable = True
            return
        for rf in agent.rfree.values():
            if rf and self._is_offerable(agent.free + rf if agent.free else rf):
                agent.offerable = True
                return
        agent.offerable = False

    # ======================================================================================
    # reading
    # ======================================================================================
    def shares(self) -> dict[str, float]:
        """Each framework's current dominant share of the cluster (DRF's measure, whatever the policy)."""
        total = self._total
        return {fid: _dominant(fw.alloc, total) for fid, fw in self._frameworks.items()}

    def role_shares(self) -> dict[str, float]:
        """Each role's dominant share (what hierarchical DRF orders roles by, before weights)."""
        total = self._total
        return {name: _dominant(r.alloc, total) for name, r in self._roles.items()}

    def allocation(self, framework_id: str) -> Resources:
        """The scalar resources a framework holds (outstanding offers plus tasks)."""
        fw = self._frameworks.get(framework_id)
        if fw is None:
            raise ValueError(f"no framework {framework_id!r}; known: {', '.join(self._frameworks) or 'none'}")
        return to_resources(fw.alloc)

    def available(self, agent_id: str) -> Resources:
        """What is free on an agent (unreserved plus every role's reserved free)."""
        agent = self._agents.get(agent_id)
        if agent is None:
            raise ValueError(f"no agent {agent_id!r}; known: {len(self._agents)} agents")
        out = agent.free
        for rf in agent.rfree.values():
            if rf:
                out = out + rf
        return out

    def allocated(self, agent_id: str) -> dict[str, Resources]:
        """Framework id → what it holds on the agent."""
        agent = self._agents.get(agent_id)
        return {fid: agent.held(fid) for fid in agent.alloc} if agent else {}

    def total(self) -> Resources:
        """The cluster's total scalar resources."""
        return to_resources(self._total)

    def order(self) -> list[str]:
        """Framework ids in the policy's current order (first is offered first)."""
        return [fw.id for fw in self._iter_order()]

    @staticmethod
    def _coerce(value: Any, field: str) -> Resources:
        try:
            return Resources.coerce(value, field)
        except ValueError as exc:
            raise ValueError(str(exc)) from None

    def __repr__(self) -> str:
        return (
            f"<HierarchicalAllocator policy={self._active.name} agents={len(self._agents)} "
            f"frameworks={len(self._frameworks)}>"
        )


def _chain(first: Iterable[AgentState], rest: Iterator[AgentState]) -> Iterator[AgentState]:
    yield from first
    yield from rest


def _label(policy: Policy) -> str:
    """How errors name a policy: its registered name, or its class for one never registered."""
    name = policy.name
    if name in ("custom", Policy.name):
        return f"{type(policy).__name__!r}"
    return f"{name!r}"


def _share(policy: Policy, allocation: Any, total: Any) -> float:
    """``policy.share(...)``, refused unless a number other than NaN: a NaN compares false with
    everything, so it would quietly starve frameworks where a wrong type at least fails to sort."""
    value = policy.share(allocation, total)
    if value != value or isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"share() returned {value!r}; it must be a number, such as a dominant share of 0.25")
    return value
