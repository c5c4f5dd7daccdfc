"""The allocation module: who is offered what (Mesos's allocator), pure and swappable.

- :class:`Allocator` — the interface the master calls (events in, offers out);
- :class:`HierarchicalAllocator` — the mechanics every policy shares: decline
  filters, suppress/revive, minimum offer size, reservations, quota,
  revocation, explanations, checking a policy's answers (its parts in
  ``filters``, ``reservations``, ``quota`` and ``explain``);
- :class:`Policy` and the built-ins :class:`DRF` (default), :class:`Priority`,
  :class:`FairShare` (one resource), :class:`Lottery`,
  :class:`StaticPartition` — who comes first;
- :func:`register_policy` / :func:`make_allocator` — policies by name.

A student's policy in a notebook cell::

    from jmesos.core.allocator import Policy, register_policy, make_allocator

    class FewestCpus(Policy):
        def order(self, agent, candidates, view):
            return sorted(candidates, key=lambda f: view.allocation(f).cpus)

    register_policy("fewest-cpus", FewestCpus)
    allocator = make_allocator("fewest-cpus")

What every decision says (``OfferDecision``; the master copies both fields
into the ``offer`` event)::

    explanation: "agent-3 went to B because its dominant share 0.22 was the
                  lowest; A was filtered until t=12.4 s."
    details: {
        "round": 17, "time": 12.0, "policy": "drf",
        "agent_id": "agent-3", "framework_id": "B", "role": "*",
        "share": 0.22, "role_share": 0.22,     # B's share and its role's, when chosen
        "order": ["A", "B", "C"],              # the first 5 of the policy's order then
        "shares": {"A": 0.1, "B": 0.22, "C": 0.4},
        "skipped": [{"framework_id": "A", "reason": "filtered", "until": 12.4,
                     "text": "was filtered until t=12.4 s"}],
        "skipped_count": 1,                    # frameworks ahead of B that were passed over
        "fallback_from": "mine",               # only when a broken policy was replaced by DRF
    }

``reason`` is one of ``filtered`` (``until`` is None for a filter lasting
until revive), ``suppressed``, ``inactive``, ``partition``, ``reserved``,
``quota``.  After each round ``allocator.last_round`` summarises it (time,
policy, agents considered, offers, agents skipped because every framework
had filtered them, the order and shares, errors) — the master's
``allocation`` event — and ``allocator.errors`` holds what went wrong (a
policy's bad answer, a recover of resources not held) until the master logs
it as an ``error`` event and clears it.
"""

from .base import Allocator, OfferDecision, Revocation
from .filters import FOREVER
from .hierarchical import HierarchicalAllocator
from .policies import DRF, AgentView, ClusterView, FairShare, Lottery, Policy, Priority, StaticPartition
from .registry import BUILTIN_POLICIES, get_policy, make_allocator, policy_names, register_policy
from .sorter import Sorter
from .state import AgentState, FrameworkState, RoleState

__all__ = [
    "Allocator",
    "OfferDecision",
    "Revocation",
    "HierarchicalAllocator",
    "FOREVER",
    "Policy",
    "DRF",
    "Priority",
    "FairShare",
    "Lottery",
    "StaticPartition",
    "AgentView",
    "ClusterView",
    "FrameworkState",
    "RoleState",
    "AgentState",
    "Sorter",
    "register_policy",
    "BUILTIN_POLICIES",
    "get_policy",
    "policy_names",
    "make_allocator",
]
