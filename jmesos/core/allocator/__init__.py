"""The allocation module: who is offered what (Mesos's allocator), pure and swappable.

- :class:`Allocator` — the interface the master calls (events in, offers out);
- :class:`HierarchicalAllocator` — the mechanics every policy shares: decline
  filters, suppress/revive, minimum offer size, reservations, quota,
  revocation, explanations, checking a policy's answers;
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
"""

from .base import Allocator, OfferDecision, Revocation
from .hierarchical import FOREVER, HierarchicalAllocator
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
