"""The allocator interface the master calls: events in, offer decisions out.

This mirrors Mesos's allocator module.  The master tells the allocator about
agents and frameworks coming and going, resources coming back (a declined
offer, a finished task) and frameworks suppressing or reviving; on each
allocation round it asks :meth:`Allocator.allocate` for offer decisions.

An allocator is pure: it never reads a clock (``now`` is passed in), sleeps,
or does I/O, so the live master and the discrete-event simulator share it.
Resources handed out in an :class:`OfferDecision` count as allocated to that
framework until the master calls :meth:`Allocator.recover` for them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..resources import Resources

__all__ = ["Allocator", "OfferDecision", "Revocation"]


@dataclass
class OfferDecision:
    """Offer ``resources`` of ``agent_id`` to ``framework_id``, and why."""

    framework_id: str
    agent_id: str
    resources: Resources
    #: one sentence a student can read: "agent-3 went to B: lowest dominant share 0.22; A filtered until 12.4 s"
    explanation: str = ""
    #: machine-readable detail: the sorter order and shares at that moment, frameworks skipped and why
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Revocation:
    """Ask the master to take ``resources`` back from ``framework_id`` on ``agent_id`` (kill tasks)."""

    framework_id: str
    agent_id: str
    resources: Resources
    reason: str = ""


class Allocator(ABC):
    """What the master needs from an allocation module.  See ``jmesos.core.allocator`` for policies."""

    # -- frameworks ----------------------------------------------------------------------
    @abstractmethod
    def add_framework(
        self,
        framework_id: str,
        role: str = "*",
        used: Mapping[str, Resources] | None = None,
        active: bool = True,
        now: float = 0.0,
    ) -> None:
        """A framework registered; ``used`` maps agent id → resources its tasks already hold."""

    @abstractmethod
    def remove_framework(self, framework_id: str) -> None:
        """The framework is gone; the master recovers its resources separately before calling this."""

    @abstractmethod
    def activate_framework(self, framework_id: str) -> None:
        """The framework (re)connected: offer to it again."""

    @abstractmethod
    def deactivate_framework(self, framework_id: str) -> None:
        """The framework disconnected: make no offers to it (its tasks keep their resources)."""

    # -- agents ----------------------------------------------------------------------------
    @abstractmethod
    def add_agent(
        self,
        agent_id: str,
        total: Resources,
        attributes: Mapping[str, str] | None = None,
        used: Mapping[str, Resources] | None = None,
        now: float = 0.0,
    ) -> None:
        """An agent registered with ``total`` resources; ``used`` maps framework id → resources in use."""

    @abstractmethod
    def remove_agent(self, agent_id: str) -> None:
        """The agent is gone, and every allocation on it with it."""

    # -- resources -------------------------------------------------------------------------
    @abstractmethod
    def recover(
        self,
        framework_id: str,
        agent_id: str,
        resources: Resources,
        refuse_seconds: float | None = None,
        now: float = 0.0,
    ) -> None:
        """``resources`` allocated to the framework on the agent are free again.

        With ``refuse_seconds`` (a decline's filter), do not offer this agent to
        this framework again before ``now + refuse_seconds``.
        """

    @abstractmethod
    def suppress(self, framework_id: str) -> None:
        """Stop offering to the framework until :meth:`revive`."""

    @abstractmethod
    def revive(self, framework_id: str, now: float = 0.0) -> None:
        """Resume offers to the framework and clear its filters."""

    @abstractmethod
    def allocate(self, now: float, agent_ids: Iterable[str] | None = None) -> list[OfferDecision]:
        """One allocation round over ``agent_ids`` (all agents if None): the offers to make."""

    # -- optional --------------------------------------------------------------------------
    def update_weights(self, weights: Mapping[str, float]) -> None:  # noqa: B027 - optional, a no-op by default
        """Set role weights (a role with weight 2 is entitled to twice the share)."""

    def revocations(self, now: float) -> list[Revocation]:
        """Resources the master should take back (kill tasks) to honour guarantees."""
        return []

    def tick(self, now: float) -> list[Revocation]:
        """Time passes without a round: expire what is due; returns :meth:`revocations` now due."""
        return self.revocations(now)

    def next_deadline(self) -> float | None:
        """The earliest time a filter expires or a revocation grace period ends (None: nothing pending)."""
        return None

    def shares(self) -> dict[str, float]:
        """Each framework's current dominant share of the cluster."""
        return {}

    def drain_errors(self) -> list[str]:
        """Problems caught since the last call (e.g. a policy's bad answer); the master logs each as ``error``."""
        return []

    #: a summary of the last round (time, policy, offers, order and shares, skipped agents, errors), or {}
    last_round: dict[str, Any] = {}
