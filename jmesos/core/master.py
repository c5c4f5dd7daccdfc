"""The master's logic, pure: messages and clock ticks in, messages out.

Like etcd's raft ``Step``/``Tick``, :class:`Master` never opens a socket,
starts a thread, sleeps or reads a clock.  A driver feeds it:

- :meth:`Master.receive` ``(now, peer, message)`` for each message that arrives
  from a connection ``peer`` (an opaque string the driver chooses);
- :meth:`Master.disconnected` ``(now, peer)`` when a connection closes;
- :meth:`Master.tick` ``(now)`` whenever :meth:`Master.next_deadline` has come;

and each returns the list of ``(peer, message)`` pairs to send.  The live
runtime drives it with sockets and the wall clock; the simulator with a
priority queue and virtual time.  Everything that happens is recorded through
the ``record`` callback as :class:`~jmesos.core.events.Event`.

The master keeps only soft state (agents, frameworks, tasks, offers), as in
Mesos: it can be rebuilt from agents and schedulers re-registering.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import messages as m
from .allocator.base import Allocator, OfferDecision
from .events import Event
from .model import AgentInfo, Filters, FrameworkInfo, Offer, TaskInfo, TaskStatus
from .resources import Resources
from .states import LIFE_STEP, Reason, TaskState

__all__ = ["Master", "MasterConfig"]

Outbox = list[tuple[str, m.Message]]
_EMPTY = Resources()


@dataclass
class MasterConfig:
    """How the master behaves; every time is in seconds.

    Defaults follow Mesos except health checks, which are quicker so a class
    sees a killed agent detected in a few seconds (Mesos: 15 s × 5).
    """

    allocation_interval: float = 1.0
    #: rescind offers not answered within this time (None: offers never time out, as in Mesos)
    offer_timeout: float | None = None
    ping_interval: float = 1.0
    max_missed_pings: int = 3
    #: at most this often (virtual seconds) a ``shares`` event is recorded, except at a framework's first offer and launch
    shares_interval: float = 0.1
    #: record every protocol message as a ``message`` event (the message-trace view needs it)
    trace_messages: bool = True
    #: completed tasks remembered for reconciliation and views
    completed_tasks: int = 10_000

    def __post_init__(self) -> None:
        for name in ("allocation_interval", "ping_interval", "shares_interval"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not value > 0
                or not math.isfinite(value)
            ):
                raise ValueError(f"{name}={value!r} must be a positive number of seconds, e.g. {name}=1.0")
        if self.offer_timeout is not None and (
            isinstance(self.offer_timeout, bool)
            or not isinstance(self.offer_timeout, (int, float))
            or not self.offer_timeout > 0
        ):
            raise ValueError(f"offer_timeout={self.offer_timeout!r} must be None or a positive number of seconds")
        if (
            isinstance(self.max_missed_pings, bool)
            or not isinstance(self.max_missed_pings, int)
            or self.max_missed_pings < 1
        ):
            raise ValueError(f"max_missed_pings={self.max_missed_pings!r} must be an int >= 1, e.g. 3")


@dataclass
class _Task:
    info_name: str
    task_id: str
    framework_id: str
    agent_id: str
    resources: Resources
    locality: tuple[str, ...] = ()
    state: TaskState = TaskState.TASK_STAGING
    reason: Reason = Reason.REASON_NONE
    message: str = ""


@dataclass
class _Agent:
    id: str
    info: AgentInfo
    peer: str | None
    total: Resources
    tasks: dict[tuple[str, str], _Task] = field(default_factory=dict)
    offers: dict[str, None] = field(default_factory=dict)  # ids, in the order made
    next_ping: float = 0.0
    awaiting_pong: bool = False
    missed: int = 0
    #: registration order: agents due for a health check at the same instant are checked in it
    order: int = 0
    #: why the operator asked this agent to shut down (None: nobody did); told again if it reconnects
    shutdown_reason: str | None = None


@dataclass
class _Framework:
    id: str
    info: FrameworkInfo
    peer: str | None
    tasks: dict[str, _Task] = field(default_factory=dict)
    offers: dict[str, None] = field(default_factory=dict)  # ids, in the order made
    failover_deadline: float | None = None
    charted: bool = False  # its first offer has been sampled in a ``shares`` event
    tasks_charted: bool = False  # and its first launch


@dataclass
class _Offer:
    offer: Offer
    created: float


class Master:
    """The Mesos master's logic.  See the module docstring for how to drive it."""

    def __init__(
        self,
        allocator: Allocator,
        config: MasterConfig | None = None,
        record: Callable[[Event], None] | None = None,
        name: str = "master",
    ) -> None:
        self.config = config or MasterConfig()
        self.allocator = allocator
        self.name = name
        self._record_sink = record or (lambda event: None)
        self.agents: dict[str, _Agent] = {}
        self.frameworks: dict[str, _Framework] = {}
        self.offers: dict[str, _Offer] = {}
        self.completed: OrderedDict[tuple[str, str], _Task] = OrderedDict()
        self._peer_agent: dict[str, str] = {}
        self._peer_framework: dict[str, str] = {}
        self._removed_frameworks: set[str] = set()
        self._removed_agents: set[str] = set()
        self._offer_seq = 0
        self._agent_seq = 0
        # (next_ping, order, agent id) for every agent, plus stale entries a reschedule left behind:
        # at the paper's 50,000 agents, scanning them all on every step made a simulation quadratic
        self._pings: list[tuple[float, int, str]] = []
        # agents whose resources changed, to offer at the next round: a dict as an ordered set, since a
        # set's order follows string hashes, which differ between processes (runs must repeat exactly)
        self._dirty_agents: dict[str, None] = {}
        self._next_allocation: float = 0.0
        self._last_shares_at = -math.inf
        self._shares_dirty = False
        self._chart_now = False  # a framework got its first offer or launched its first task: sample now
        self._used = _EMPTY
        self._total = _EMPTY
        self._now = 0.0

    # ------------------------------------------------------------------ driver interface
    def receive(self, now: float, peer: str, message: m.Message) -> Outbox:
        """Handle one message from ``peer``; returns the messages to send."""
        self._now = now
        out: Outbox = []
        handler = self._handlers.get(type(message))
        if handler is None:
            self._event("error", source=peer, message=f"unexpected message {type(message).__name__!r} from {peer}")
            return out
        if self.config.trace_messages:
            self._event("message", source=self._name_of(peer), dest=self.name, type=message.kind, **message.summary())
        try:
            handler(self, now, peer, message, out)
        except _Refused as refused:
            self._event("error", source=self._name_of(peer), message=str(refused))
            out.append((peer, m.FrameworkError(str(refused))))
        return self._traced(out)

    def receiving(self, now: float, peer: str) -> None:
        """Part of a message from ``peer`` has come, the rest is on its way.

        A task's large result can take seconds to arrive, and the agent's answers to
        health checks queue behind it on the same connection: an agent sending is alive.
        """
        agent_id = self._peer_agent.get(peer)
        if agent_id is not None:
            self._heard_from(agent_id)

    def disconnected(self, now: float, peer: str) -> Outbox:
        """The connection ``peer`` closed."""
        self._now = now
        out: Outbox = []
        agent_id = self._peer_agent.pop(peer, None)
        if agent_id is not None and agent_id in self.agents:
            agent = self.agents[agent_id]
            agent.peer = None
            self._event("agent_disconnected", source=agent_id, agent_id=agent_id)
            self._rescind_agent_offers(now, agent, "agent disconnected", out)
        framework_id = self._peer_framework.pop(peer, None)
        if framework_id is not None and framework_id in self.frameworks:
            fw = self.frameworks[framework_id]
            fw.peer = None
            self._rescind_framework_offers(now, fw, out, notify=False)
            self.allocator.deactivate_framework(framework_id)
            if fw.info.failover_timeout > 0:
                fw.failover_deadline = now + fw.info.failover_timeout
                self._event(
                    "framework_disconnected",
                    source=framework_id,
                    framework_id=framework_id,
                    failover_deadline=fw.failover_deadline,
                )
            else:
                self._remove_framework(now, fw, "disconnected with failover_timeout=0", out)
        return self._traced(out)

    def tick(self, now: float) -> Outbox:
        """Do whatever is due at ``now``: health checks, time-outs, revocations, allocation."""
        self._now = now
        out: Outbox = []
        self._check_agents(now, out)
        self._check_failovers(now, out)
        self._check_offer_timeouts(now, out)
        self._revoke(now, out)
        if now >= self._next_allocation:
            self._allocate(now, None, out)
            self._next_allocation = now + self.config.allocation_interval
        elif self._dirty_agents:
            self._allocate(now, self._dirty_agents, out)
        self._dirty_agents = {}
        # the same sum next_deadline() gives: 0.6 - 0.5 < 0.1 in floats, so a tick at that deadline did nothing
        if self._shares_dirty and (self._chart_now or now >= self._last_shares_at + self.config.shares_interval):
            self._record_shares(now)
        return self._traced(out)

    def next_deadline(self) -> float:
        """When :meth:`tick` should next be called (``now`` or earlier means at once)."""
        deadline = self._next_allocation
        if self._dirty_agents or (self._chart_now and self._shares_dirty):
            return self._now
        if self._shares_dirty:
            deadline = min(deadline, self._last_shares_at + self.config.shares_interval)
        ping = self._next_ping()
        if ping is not None:
            deadline = min(deadline, ping)
        for fw in self.frameworks.values():
            if fw.failover_deadline is not None:
                deadline = min(deadline, fw.failover_deadline)
        if self.config.offer_timeout is not None and self.offers:
            oldest = next(iter(self.offers.values()))  # offers are kept in the order they were made
            deadline = min(deadline, oldest.created + self.config.offer_timeout)
        allocator_deadline = self.allocator.next_deadline()
        if allocator_deadline is not None:
            deadline = min(deadline, allocator_deadline)
        return deadline

    # ------------------------------------------------------------------ views for drivers and tests
    def state(self) -> dict[str, Any]:
        """A JSON-friendly snapshot (agents, frameworks, tasks, offers) for status displays."""
        return {
            "agents": {
                a.id: {
                    "hostname": a.info.hostname,
                    "resources": a.total.to_dict(),
                    "used": sum((t.resources for t in a.tasks.values()), _EMPTY).to_dict(),
                    "offered": sum((self.offers[o].offer.resources for o in a.offers), _EMPTY).to_dict(),
                    "attributes": dict(a.info.attributes),
                    "connected": a.peer is not None,
                    "tasks": len(a.tasks),
                }
                for a in self.agents.values()
            },
            "frameworks": {
                f.id: {
                    "name": f.info.name,
                    "role": f.info.role,
                    "connected": f.peer is not None,
                    "tasks": len(f.tasks),
                    "offers": len(f.offers),
                    "share": self.allocator.shares().get(f.id, 0.0),
                }
                for f in self.frameworks.values()
            },
            "tasks": [
                {
                    "task_id": t.task_id,
                    "name": t.info_name,
                    "framework_id": t.framework_id,
                    "agent_id": t.agent_id,
                    "state": t.state.value,
                    "resources": t.resources.to_dict(),
                }
                for fw in self.frameworks.values()
                for t in fw.tasks.values()
            ],
            "offers": [
                {
                    "offer_id": o.offer.id,
                    "framework_id": o.offer.framework_id,
                    "agent_id": o.offer.agent_id,
                    "resources": o.offer.resources.to_dict(),
                    "age": self._now - o.created,
                }
                for o in self.offers.values()
            ],
        }

    # ------------------------------------------------------------------ helpers
    def _event(self, kind: str, source: str = "", dest: str = "", **data: Any) -> None:
        self._record_sink(Event(self._now, kind, source or self.name, dest, data))

    def _task_event(
        self,
        task_id: str,
        framework_id: str,
        agent_id: str | None,
        state: TaskState,
        reason: Reason,
        message: str,
        source: str = "",
    ) -> None:
        """Record a task's state change: the one event every view of tasks reads."""
        self._event(
            "task_state",
            source=source,
            task_id=task_id,
            framework_id=framework_id,
            agent_id=agent_id,
            state=state.value,
            reason=reason.value,
            message=message,
        )

    def _name_of(self, peer: str | None) -> str:
        if peer is None:
            return ""
        return self._peer_agent.get(peer) or self._peer_framework.get(peer) or peer

    def _traced(self, out: Outbox) -> Outbox:
        if self.config.trace_messages:
            for peer, message in out:
                self._event(
                    "message", source=self.name, dest=self._name_of(peer), type=message.kind, **message.summary()
                )
        return out

    def _framework_of(self, peer: str, framework_id: str) -> _Framework:
        fw = self.frameworks.get(framework_id)
        if fw is None:
            raise _Refused(f"framework {framework_id!r} is not registered; register it before using it")
        if fw.peer != peer:
            raise _Refused(
                f"framework {framework_id!r} is registered from another connection; re-register to take over"
            )
        return fw

    def _status(
        self,
        fw: _Framework,
        task_id: str,
        state: TaskState,
        reason: Reason,
        message: str,
        agent_id: str | None,
        out: Outbox,
    ) -> None:
        """Send a master-generated status (needs no acknowledgement) and record it."""
        status = TaskStatus(
            task_id=task_id,
            state=state,
            reason=reason,
            message=message,
            agent_id=agent_id,
            framework_id=fw.id,
            source="SOURCE_MASTER",
            timestamp=self._now,
        )
        self._task_event(task_id, fw.id, agent_id, state, reason, message)
        if fw.peer is not None:
            out.append((fw.peer, m.StatusUpdate(status)))

    def _finish_task(self, task: _Task, state: TaskState, reason: Reason, message: str) -> None:
        """Move a task to a terminal state and give its resources back to the allocator."""
        key = (task.framework_id, task.task_id)
        task.state, task.reason, task.message = state, reason, message
        fw = self.frameworks.get(task.framework_id)
        if fw is not None:
            fw.tasks.pop(task.task_id, None)
        agent = self.agents.get(task.agent_id)
        if agent is not None:
            agent.tasks.pop(key, None)
            if fw is not None:
                self.allocator.recover(task.framework_id, task.agent_id, task.resources, None, self._now)
            self._dirty_agents[agent.id] = None
        self._used = self._used.subtract_available(task.resources)
        self._shares_dirty = True
        self.completed[key] = task
        while len(self.completed) > self.config.completed_tasks:
            self.completed.popitem(last=False)

    # ------------------------------------------------------------------ frameworks
    def _on_register_framework(self, now: float, peer: str, msg: m.RegisterFramework, out: Outbox) -> None:
        info = msg.info
        if not isinstance(info, FrameworkInfo):
            raise _Refused("RegisterFramework needs a FrameworkInfo; use jmesos.FrameworkInfo(name=...)")
        if info.id and info.id in self._removed_frameworks:
            raise _Refused(
                f"framework {info.id!r} was removed (its failover_timeout passed or it stopped); register as a new framework"
            )
        if info.id and info.id in self.frameworks:
            fw = self.frameworks[info.id]
            if fw.peer is not None and fw.peer != peer:
                out.append((fw.peer, m.FrameworkError(f"framework {fw.id!r} failed over to another scheduler")))
                self._peer_framework.pop(fw.peer, None)
                self._rescind_framework_offers(now, fw, out, notify=False)
            fw.peer, fw.failover_deadline = peer, None
            fw.info = info
            self._peer_framework[peer] = fw.id
            self.allocator.activate_framework(fw.id)
            self._event("framework_reconnected", source=fw.id, framework_id=fw.id, name=info.name)
            out.append((peer, m.FrameworkRegistered(fw.id, self.name, reregistered=True)))
            self._dirty_agents.update(dict.fromkeys(self.agents))
            return
        framework_id = info.id or self._new_framework_id(info.name)
        info.id = framework_id
        fw = _Framework(framework_id, info, peer)
        self.frameworks[framework_id] = fw
        self._peer_framework[peer] = framework_id
        self.allocator.add_framework(framework_id, info.role, {}, True, now)
        self._event("framework_added", source=framework_id, framework_id=framework_id, name=info.name, role=info.role)
        out.append((peer, m.FrameworkRegistered(framework_id, self.name)))
        self._dirty_agents.update(dict.fromkeys(self.agents))

    def _new_framework_id(self, name: str) -> str:
        spelled = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)
        # one dash between words, none at the ends: '%%mesos task cell-2' -> 'mesos-task-cell-2'
        base = "-".join(part for part in spelled.split("-") if part)[:40] or "framework"
        candidate, n = base, 1
        while candidate in self.frameworks or candidate in self._removed_frameworks:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _on_unregister_framework(self, now: float, peer: str, msg: m.UnregisterFramework, out: Outbox) -> None:
        fw = self._framework_of(peer, msg.framework_id)
        self._peer_framework.pop(peer, None)
        fw.peer = None
        self._remove_framework(now, fw, "the framework stopped", out)

    def _on_deactivate_framework(self, now: float, peer: str, msg: m.DeactivateFramework, out: Outbox) -> None:
        fw = self._framework_of(peer, msg.framework_id)
        self._peer_framework.pop(peer, None)
        fw.peer = None
        self._rescind_framework_offers(now, fw, out, notify=False)
        self.allocator.deactivate_framework(fw.id)
        fw.failover_deadline = now + fw.info.failover_timeout
        self._event("framework_disconnected", source=fw.id, framework_id=fw.id, failover_deadline=fw.failover_deadline)

    def _remove_framework(self, now: float, fw: _Framework, why: str, out: Outbox) -> None:
        self._rescind_framework_offers(now, fw, out, notify=False)
        for task in list(fw.tasks.values()):
            message = f"framework removed: {why}"
            self._finish_task(task, TaskState.TASK_KILLED, Reason.REASON_FRAMEWORK_REMOVED, message)
            self._task_event(
                task.task_id, fw.id, task.agent_id, TaskState.TASK_KILLED, Reason.REASON_FRAMEWORK_REMOVED, message
            )
        for agent in self.agents.values():  # every connected agent may hold an executor of it
            if agent.peer is not None:
                out.append((agent.peer, m.ShutdownFramework(fw.id)))
        self.allocator.remove_framework(fw.id)
        del self.frameworks[fw.id]
        self._removed_frameworks.add(fw.id)
        self._shares_dirty = True
        self._event("framework_removed", source=fw.id, framework_id=fw.id, reason=why)

    def _check_failovers(self, now: float, out: Outbox) -> None:
        for fw in list(self.frameworks.values()):
            if fw.peer is None and fw.failover_deadline is not None and now >= fw.failover_deadline:
                self._remove_framework(now, fw, f"not back within failover_timeout={fw.info.failover_timeout:g}s", out)

    # ------------------------------------------------------------------ offers
    def _allocate(self, now: float, agent_ids: Iterable[str] | None, out: Outbox) -> None:
        decisions: list[OfferDecision] = self.allocator.allocate(
            now, list(agent_ids) if agent_ids is not None else None
        )
        errors = getattr(self.allocator, "errors", None)
        if errors:
            for error in errors:
                self._event("error", source="allocator", message=str(error))
            errors.clear()
        if not decisions:
            return
        by_framework: dict[str, list[Offer]] = defaultdict(list)
        for decision in decisions:
            fw = self.frameworks.get(decision.framework_id)
            agent = self.agents.get(decision.agent_id)
            if fw is None or agent is None or fw.peer is None or agent.peer is None:
                # the allocator thinks otherwise; give the resources straight back
                if fw is not None and agent is not None:
                    self.allocator.recover(decision.framework_id, decision.agent_id, decision.resources, None, now)
                continue
            self._offer_seq += 1
            offer = Offer(
                id=f"o-{self._offer_seq}",
                framework_id=fw.id,
                agent_id=agent.id,
                hostname=agent.info.hostname,
                resources=decision.resources,
                attributes=dict(agent.info.attributes),
                explanation=decision.explanation,
            )
            self.offers[offer.id] = _Offer(offer, now)
            fw.offers[offer.id] = None
            if not fw.charted:  # sampled at once, or a framework that comes and goes between samples has no line
                fw.charted = self._chart_now = True
            agent.offers[offer.id] = None
            by_framework[fw.id].append(offer)
            self._event(
                "offer",
                source=self.name,
                dest=fw.id,
                offer_id=offer.id,
                framework_id=fw.id,
                agent_id=agent.id,
                resources=offer.resources.to_dict(),
                explanation=decision.explanation,
                details=decision.details,
            )
        for framework_id, offers in by_framework.items():
            out.append((self.frameworks[framework_id].peer, m.ResourceOffers(offers)))  # type: ignore[arg-type]
        self._shares_dirty = True

    def _take_offer(self, fw: _Framework, offer_id: str) -> _Offer | None:
        record = self.offers.get(offer_id) if isinstance(offer_id, str) else None
        if record is None or record.offer.framework_id != fw.id:
            return None
        del self.offers[offer_id]
        fw.offers.pop(offer_id, None)
        agent = self.agents.get(record.offer.agent_id)
        if agent is not None:
            agent.offers.pop(offer_id, None)
        return record

    def _rescind_offer(self, now: float, record: _Offer, reason: str, out: Outbox, notify: bool = True) -> None:
        offer = record.offer
        self.offers.pop(offer.id, None)
        fw = self.frameworks.get(offer.framework_id)
        agent = self.agents.get(offer.agent_id)
        if fw is not None:
            fw.offers.pop(offer.id, None)
            if agent is not None:
                self.allocator.recover(fw.id, agent.id, offer.resources, None, now)
            if notify and fw.peer is not None:
                out.append((fw.peer, m.RescindOffer(offer.id, reason)))
        if agent is not None:
            agent.offers.pop(offer.id, None)
            self._dirty_agents[agent.id] = None
        self._event(
            "offer_rescinded",
            dest=offer.framework_id,
            offer_id=offer.id,
            framework_id=offer.framework_id,
            agent_id=offer.agent_id,
            reason=reason,
        )

    def _rescind_framework_offers(self, now: float, fw: _Framework, out: Outbox, notify: bool) -> None:
        for offer_id in list(fw.offers):
            record = self.offers.get(offer_id)
            if record is not None:
                self._rescind_offer(now, record, "framework disconnected", out, notify=notify)

    def _rescind_agent_offers(self, now: float, agent: _Agent, reason: str, out: Outbox) -> None:
        for offer_id in list(agent.offers):
            record = self.offers.get(offer_id)
            if record is not None:
                self._rescind_offer(now, record, reason, out)

    def _check_offer_timeouts(self, now: float, out: Outbox) -> None:
        timeout = self.config.offer_timeout
        if timeout is None:
            return
        due = []
        for record in self.offers.values():  # oldest first: stop at the first one still in time
            if now < record.created + timeout:
                break
            due.append(record)
        for record in due:
            self._rescind_offer(now, record, f"not answered within offer_timeout={timeout:g}s", out)

    def _on_decline(self, now: float, peer: str, msg: m.Decline, out: Outbox) -> None:
        fw = self._framework_of(peer, msg.framework_id)
        refuse = _refuse_seconds(msg.filters)
        for offer_id in msg.offer_ids:
            record = self._take_offer(fw, offer_id)
            if record is None:
                self._event(
                    "error",
                    source=fw.id,
                    message=f"decline of offer {offer_id!r}: unknown, rescinded or already answered",
                )
                continue
            offer = record.offer
            self.allocator.recover(fw.id, offer.agent_id, offer.resources, refuse, now)
            self._offer_elsewhere(offer.agent_id, refuse)
            self._event(
                "offer_declined",
                source=fw.id,
                offer_id=offer.id,
                framework_id=fw.id,
                agent_id=offer.agent_id,
                refuse_seconds=refuse,
            )

    def _on_accept(self, now: float, peer: str, msg: m.Accept, out: Outbox) -> None:
        fw = self._framework_of(peer, msg.framework_id)
        tasks = list(msg.tasks or [])
        offer_ids = list(msg.offer_ids or [])
        refuse = _refuse_seconds(msg.filters)
        # 1. the offers must all be live, ours, and of one agent
        records, problem = [], ""
        for offer_id in offer_ids:
            record = self.offers.get(offer_id) if isinstance(offer_id, str) else None
            if record is None or record.offer.framework_id != fw.id:
                problem = (
                    f"offer {offer_id!r} is unknown, rescinded or already used; "
                    "launch only on offers received in resource_offers and not yet answered"
                )
                break
            if offer_id in {r.offer.id for r in records}:
                problem = f"offer {offer_id!r} is listed twice; list each offer once"
                break
            records.append(record)
        if not problem and not records:
            problem = "launch_tasks got no offers; pass the ids of the offers to launch on"
        if not problem and len({r.offer.agent_id for r in records}) > 1:
            problem = "offers of different agents cannot be combined; launch on each agent's offers separately"
        if problem:
            for record in records:  # valid ones go back, as Mesos does
                self._take_offer(fw, record.offer.id)
                self.allocator.recover(fw.id, record.offer.agent_id, record.offer.resources, None, now)
                self._dirty_agents[record.offer.agent_id] = None
            self._event("error", source=fw.id, message=problem)
            for task in tasks:
                task_id = getattr(task, "task_id", repr(task))
                self._status(fw, task_id, TaskState.TASK_LOST, Reason.REASON_INVALID_OFFERS, problem, None, out)
            return
        for record in records:
            self._take_offer(fw, record.offer.id)
        agent = self.agents[records[0].offer.agent_id]
        offered = sum((r.offer.resources for r in records), _EMPTY)
        remaining = offered
        # 2. each task must be well-formed and fit in what is left
        launched: list[TaskInfo] = []
        seen: set[str] = set()
        for task in tasks:
            error = self._validate_task(fw, agent, task, remaining, seen)
            task_id = getattr(task, "task_id", None) or repr(task)
            if error:
                self._status(fw, str(task_id), TaskState.TASK_ERROR, Reason.REASON_TASK_INVALID, error, agent.id, out)
                continue
            seen.add(task.task_id)
            task.agent_id = agent.id
            remaining = remaining - task.resources
            record = _Task(task.name, task.task_id, fw.id, agent.id, task.resources, tuple(task.locality))
            fw.tasks[task.task_id] = record
            agent.tasks[(fw.id, task.task_id)] = record
            self._used = self._used + task.resources
            launched.append(task)
            self._event(
                "task_launched",
                source=fw.id,
                dest=agent.id,
                task_id=task.task_id,
                name=task.name,
                framework_id=fw.id,
                agent_id=agent.id,
                resources=task.resources.to_dict(),
                locality=list(task.locality),
                local=(agent.id in task.locality) if task.locality else None,
                task_kind=task.kind,
            )
            self._task_event(task.task_id, fw.id, agent.id, TaskState.TASK_STAGING, Reason.REASON_NONE, "")
        for record in records:
            self._event(
                "offer_accepted" if launched else "offer_declined",
                source=fw.id,
                offer_id=record.offer.id,
                framework_id=fw.id,
                agent_id=agent.id,
                tasks=[t.task_id for t in launched][:50],
                task_count=len(launched),
            )
        if launched:
            out.append((agent.peer, m.RunTasks(fw.id, launched)))  # type: ignore[arg-type]
            self._shares_dirty = True
            if not fw.tasks_charted:  # the held share rises now; a framework of a few ms is gone by the next sample
                fw.tasks_charted = self._chart_now = True
        if remaining:
            self.allocator.recover(fw.id, agent.id, remaining, refuse, now)
            self._offer_elsewhere(agent.id, refuse)

    def _offer_elsewhere(self, agent_id: str, refuse: float) -> None:
        """Declined resources go to other frameworks at once only when a filter keeps them from the decliner.

        Without one, they wait for the next round, as in Mesos: re-offering them
        at once to the framework that just said no would ping-pong forever.
        """
        if refuse > 0:
            self._dirty_agents[agent_id] = None

    def _validate_task(self, fw: _Framework, agent: _Agent, task: Any, remaining: Resources, seen: set[str]) -> str:
        """Why ``task`` cannot launch here, or '' when it can."""
        if not isinstance(task, TaskInfo):
            return f"{task!r} is not a TaskInfo; build tasks with jmesos.TaskInfo(...)"
        if not isinstance(task.task_id, str) or not task.task_id:
            return f"task_id={task.task_id!r} must be a non-empty string"
        if task.task_id in seen:
            return (
                f"task_id {task.task_id!r} appears twice in this launch; the first one runs, this one does not; "
                "give each task a unique task_id (it defaults to name)"
            )
        if task.task_id in fw.tasks:
            return f"task_id {task.task_id!r} is already in use by a live task of this framework; give each task a unique task_id"
        if task.agent_id is not None and task.agent_id != agent.id:
            return f"task {task.task_id!r} names agent_id={task.agent_id!r} but the offers are of {agent.id!r}; use offer.agent_id"
        resources = task.resources
        if not isinstance(resources, Resources):
            return f"task {task.task_id!r} has resources={resources!r}; use jmesos.Resources(cpus=..., mem=...)"
        if not resources:
            return f"task {task.task_id!r} asks for no resources; give it at least some cpus or mem"
        if not resources <= remaining:
            return (
                f"task {task.task_id!r} needs {resources} but the offers have only {remaining or 'nothing'} left; "
                "ask for less or pack fewer tasks per offer"
            )
        if task.payload is None and task.command is None:
            return f"task {task.task_id!r} has no code to run; give it fn=... or command='...'"
        return ""

    def _on_revive(self, now: float, peer: str, msg: m.ReviveOffers, out: Outbox) -> None:
        fw = self._framework_of(peer, msg.framework_id)
        self.allocator.revive(fw.id, now)
        self._event("framework_revived", source=fw.id, framework_id=fw.id)
        self._dirty_agents.update(dict.fromkeys(self.agents))

    def _on_suppress(self, now: float, peer: str, msg: m.SuppressOffers, out: Outbox) -> None:
        fw = self._framework_of(peer, msg.framework_id)
        self.allocator.suppress(fw.id)
        self._event("framework_suppressed", source=fw.id, framework_id=fw.id)

    # ------------------------------------------------------------------ tasks
    def _on_kill_task(self, now: float, peer: str, msg: m.KillTask, out: Outbox) -> None:
        fw = self._framework_of(peer, msg.framework_id)
        task = fw.tasks.get(msg.task_id)
        if task is None:
            done = self.completed.get((fw.id, msg.task_id))
            if done is not None:  # already over: tell its final state again, marked as an answer
                self._status(
                    fw,
                    done.task_id,
                    done.state,
                    Reason.REASON_RECONCILIATION,
                    f"kill of task {done.task_id!r}, which had already ended {done.state.value}"
                    + (f" ({done.message})" if done.message else ""),
                    done.agent_id,
                    out,
                )
            else:
                self._status(
                    fw,
                    msg.task_id,
                    TaskState.TASK_LOST,
                    Reason.REASON_RECONCILIATION,
                    f"kill of unknown task {msg.task_id!r}: the master has no such task",
                    None,
                    out,
                )
            return
        agent = self.agents.get(task.agent_id)
        if agent is not None and agent.peer is not None:
            out.append((agent.peer, m.KillTaskOnAgent(fw.id, task.task_id)))

    def _on_status_update(self, now: float, peer: str, msg: m.StatusUpdate, out: Outbox) -> None:
        status = msg.status
        agent_id = self._peer_agent.get(peer)
        if agent_id is None:
            raise _Refused("status update from a connection that is not a registered agent")
        self._heard_from(agent_id)
        fw = self.frameworks.get(status.framework_id or "")
        key = (status.framework_id or "", status.task_id)
        task = fw.tasks.get(status.task_id) if fw is not None else None
        known = task if task is not None else self.completed.get(key)
        if fw is None or known is None or _overtaken(status.state, known.state):
            # Nobody to tell, or news older than what the master already has: a retry of RUNNING that
            # comes after FINISHED (its acknowledgement was lost with a framework's connection).  Passed
            # on, it would show the framework a finished task running again; the framework has been
            # given, or will be given again, the later state.  Acknowledged here so the agent stops retrying.
            if status.uuid:
                out.append((peer, m.StatusUpdateAck(status.framework_id or "", status.task_id, status.uuid)))
            return
        if task is not None and task.state != status.state:
            task.state = status.state
            self._task_event(
                status.task_id, fw.id, agent_id, status.state, status.reason, status.message[:2000], source=agent_id
            )
            if status.state.is_terminal:
                self._finish_task(task, status.state, status.reason, status.message)
        if fw.peer is not None:
            out.append((fw.peer, msg))

    def _on_acknowledge(self, now: float, peer: str, msg: m.Acknowledge, out: Outbox) -> None:
        fw = self._framework_of(peer, msg.framework_id)
        agent = self.agents.get(msg.agent_id)
        if agent is not None and agent.peer is not None:
            out.append((agent.peer, m.StatusUpdateAck(fw.id, msg.task_id, msg.uuid)))

    def _on_reconcile(self, now: float, peer: str, msg: m.Reconcile, out: Outbox) -> None:
        fw = self._framework_of(peer, msg.framework_id)
        why = "reconciliation"
        if not msg.task_ids:  # implicit: every live task
            for task in list(fw.tasks.values()):
                self._status(fw, task.task_id, task.state, Reason.REASON_RECONCILIATION, why, task.agent_id, out)
            return
        for task_id in msg.task_ids:
            task = fw.tasks.get(task_id) or self.completed.get((fw.id, task_id))
            if task is None:
                self._status(
                    fw,
                    task_id,
                    TaskState.TASK_LOST,
                    Reason.REASON_RECONCILIATION,
                    f"the master knows no task {task_id!r}",
                    None,
                    out,
                )
            else:
                self._status(fw, task.task_id, task.state, Reason.REASON_RECONCILIATION, why, task.agent_id, out)

    def _on_framework_message(self, now: float, peer: str, msg: m.FrameworkToExecutor, out: Outbox) -> None:
        fw = self._framework_of(peer, msg.framework_id)
        agent = self.agents.get(msg.agent_id)
        if agent is None or agent.peer is None:
            raise _Refused(f"framework message to unknown or disconnected agent {msg.agent_id!r}")
        out.append((agent.peer, m.FrameworkToExecutor(fw.id, agent.id, msg.data)))

    def _on_executor_message(self, now: float, peer: str, msg: m.ExecutorToFramework, out: Outbox) -> None:
        fw = self.frameworks.get(msg.framework_id)
        if fw is not None and fw.peer is not None:
            out.append((fw.peer, msg))

    def _on_executor_exited(self, now: float, peer: str, msg: m.ExecutorExited, out: Outbox) -> None:
        agent_id = self._peer_agent.get(peer)
        self._event(
            "executor_exited",
            source=agent_id or peer,
            framework_id=msg.framework_id,
            executor_id=msg.executor_id,
            status=msg.status,
        )
        fw = self.frameworks.get(msg.framework_id)
        if fw is not None and fw.peer is not None and agent_id is not None:
            out.append((fw.peer, m.ExecutorLost(agent_id, msg.executor_id, msg.status)))

    # ------------------------------------------------------------------ agents
    def _on_register_agent(self, now: float, peer: str, msg: m.RegisterAgent, out: Outbox) -> None:
        info = msg.info
        if not isinstance(info, AgentInfo) or not isinstance(info.resources, Resources) or not info.resources:
            raise _Refused("RegisterAgent needs an AgentInfo with some resources")
        known = self.agents.get(info.id or "")
        if known is not None:  # the agent reconnected
            if known.peer is not None:
                self._peer_agent.pop(known.peer, None)
            known.peer = peer
            known.awaiting_pong, known.missed = False, 0
            self._schedule_ping(known, now + self.config.ping_interval)
            self._peer_agent[peer] = known.id
            self._event("agent_reconnected", source=known.id, agent_id=known.id)
            out.append((peer, m.AgentRegistered(known.id, self.config.ping_interval)))
            if known.shutdown_reason is not None:  # the operator asked while it was away
                out.append((peer, m.ShutdownAgent(known.shutdown_reason)))
            self._dirty_agents[known.id] = None
            return
        previous_id = info.id if isinstance(info.id, str) and info.id else None  # removed, and now back
        self._agent_seq += 1
        agent_id = f"agent-{self._agent_seq}"
        while agent_id in self._removed_agents or agent_id in self.agents:
            self._agent_seq += 1
            agent_id = f"agent-{self._agent_seq}"
        info.id = agent_id
        agent = _Agent(agent_id, info, peer, info.resources, order=self._agent_seq)
        self.agents[agent_id] = agent
        self._schedule_ping(agent, now + self.config.ping_interval)
        self._peer_agent[peer] = agent_id
        self._total = self._total + info.resources
        self.allocator.add_agent(agent_id, info.resources, dict(info.attributes), {}, now)
        self._event(
            "agent_added",
            source=agent_id,
            agent_id=agent_id,
            hostname=info.hostname,
            resources=info.resources.to_dict(),
            attributes=dict(info.attributes),
            previous_id=previous_id,
        )
        out.append((peer, m.AgentRegistered(agent_id, self.config.ping_interval)))
        self._dirty_agents[agent_id] = None
        self._shares_dirty = True

    def _on_unregister_agent(self, now: float, peer: str, msg: m.UnregisterAgent, out: Outbox) -> None:
        agent = self.agents.get(self._peer_agent.get(peer, ""))
        if agent is not None:
            self._remove_agent(now, agent, "the agent shut down", out, graceful=True)

    def _on_shutdown_agents(self, now: float, peer: str, msg: m.ShutdownAgents, out: Outbox) -> None:
        """Pass the request on to each agent named; it kills its tasks and unregisters.

        The agent stays (and its resources may still be offered) until it says goodbye, so the
        ends of its tasks arrive as the agent reports them.  An agent that is reconnecting hears
        the request when it is back.  An id of an agent already gone needs nothing done.  Only an
        operator's connection may ask (the cluster's own, which is neither a framework's nor an
        agent's).
        """
        if peer in self._peer_framework or peer in self._peer_agent:
            raise _Refused(
                f"{self._name_of(peer)} may not shut agents down; the cluster does that at stop(), "
                "and cluster.kill_agent() ends one"
            )
        for agent_id in msg.agent_ids:
            agent = self.agents.get(agent_id)
            if agent is None:
                continue
            agent.shutdown_reason = str(msg.reason)
            if agent.peer is not None:
                out.append((agent.peer, m.ShutdownAgent(agent.shutdown_reason)))

    def _on_pong(self, now: float, peer: str, msg: m.Pong, out: Outbox) -> None:
        agent_id = self._peer_agent.get(peer)
        if agent_id is not None:
            self._heard_from(agent_id)

    def _heard_from(self, agent_id: str) -> None:
        agent = self.agents.get(agent_id)
        if agent is not None:
            agent.awaiting_pong, agent.missed = False, 0

    def _schedule_ping(self, agent: _Agent, at: float) -> None:
        agent.next_ping = at
        heapq.heappush(self._pings, (at, agent.order, agent.id))

    def _next_ping(self) -> float | None:
        """When the next health check is due (None: no agents), dropping entries that are out of date."""
        pings = self._pings
        while pings:
            at, _, agent_id = pings[0]
            agent = self.agents.get(agent_id)
            if agent is not None and agent.next_ping == at:
                return at
            heapq.heappop(pings)  # the agent is gone, or its check was moved
        return None

    def _check_agents(self, now: float, out: Outbox) -> None:
        while (due := self._next_ping()) is not None and due <= now:
            agent = self.agents[heapq.heappop(self._pings)[2]]
            if agent.awaiting_pong or agent.peer is None:
                agent.missed += 1
                if agent.missed >= self.config.max_missed_pings:
                    self._remove_agent(
                        now,
                        agent,
                        f"missed {agent.missed} health checks ({self.config.ping_interval:g}s apart)",
                        out,
                    )
                    continue
            self._schedule_ping(agent, now + self.config.ping_interval)
            if agent.peer is not None:
                agent.awaiting_pong = True
                out.append((agent.peer, m.Ping()))

    def _remove_agent(self, now: float, agent: _Agent, why: str, out: Outbox, graceful: bool = False) -> None:
        """Take ``agent`` out of the cluster: its tasks are lost, its offers rescinded, frameworks told.

        ``graceful`` says it said goodbye (it shut down) rather than the master giving up on it, so
        that views can tell an agent that left from one that died.
        """
        self._rescind_agent_offers(now, agent, f"agent {agent.id} removed", out)
        lost_message = f"agent {agent.id} was removed: {why}"
        for task in list(agent.tasks.values()):
            fw = self.frameworks.get(task.framework_id)
            self._finish_task(task, TaskState.TASK_LOST, Reason.REASON_AGENT_REMOVED, lost_message)
            if fw is not None:
                self._status(
                    fw, task.task_id, TaskState.TASK_LOST, Reason.REASON_AGENT_REMOVED, lost_message, agent.id, out
                )
        self.allocator.remove_agent(agent.id)
        del self.agents[agent.id]
        if agent.peer is not None:
            self._peer_agent.pop(agent.peer, None)
        self._removed_agents.add(agent.id)
        self._dirty_agents.pop(agent.id, None)
        self._total = self._total.subtract_available(agent.total)
        self._shares_dirty = True
        self._event("agent_removed", source=agent.id, agent_id=agent.id, reason=why, graceful=graceful)
        for fw in self.frameworks.values():
            if fw.peer is not None:
                out.append((fw.peer, m.AgentLost(agent.id)))

    # ------------------------------------------------------------------ revocation and shares
    def _revoke(self, now: float, out: Outbox) -> None:
        for revocation in self.allocator.tick(now):
            agent = self.agents.get(revocation.agent_id)
            if agent is None or agent.peer is None:
                continue
            owed = revocation.resources
            for task in sorted(agent.tasks.values(), key=lambda t: t.task_id, reverse=True):
                if task.framework_id != revocation.framework_id or task.state == TaskState.TASK_KILLING:
                    continue
                if not owed:
                    break
                task.state = TaskState.TASK_KILLING
                owed = owed.subtract_available(task.resources)
                self._event(
                    "task_revoked",
                    task_id=task.task_id,
                    framework_id=task.framework_id,
                    agent_id=agent.id,
                    reason=revocation.reason,
                )
                out.append((agent.peer, m.KillTaskOnAgent(task.framework_id, task.task_id)))

    def _record_shares(self, now: float) -> None:
        self._last_shares_at = now
        self._shares_dirty = self._chart_now = False
        total = self._total
        self._event(
            "shares",
            shares=dict(self.allocator.shares()),
            used=self._used.to_dict(),
            total=total.to_dict(),
            utilization={k: round(v, 4) for k, v in self._used.shares(total).items()},
        )

    _handlers: dict[type, Callable[..., None]] = {}


def _overtaken(update: TaskState, known: TaskState) -> bool:
    """Whether an update of ``update`` is older news than ``known``, the state the master has for the task."""
    step, reached = LIFE_STEP.get(update), LIFE_STEP.get(known)
    return step is not None and reached is not None and step < reached


def _refuse_seconds(filters: Any) -> float:
    if isinstance(filters, Filters):
        return float(filters.refuse_seconds)
    return Filters().refuse_seconds


class _Refused(Exception):
    """A message the master will not act on; the sender gets a FrameworkError naming why."""


Master._handlers = {
    m.RegisterFramework: Master._on_register_framework,
    m.UnregisterFramework: Master._on_unregister_framework,
    m.DeactivateFramework: Master._on_deactivate_framework,
    m.Accept: Master._on_accept,
    m.Decline: Master._on_decline,
    m.KillTask: Master._on_kill_task,
    m.ReviveOffers: Master._on_revive,
    m.SuppressOffers: Master._on_suppress,
    m.Acknowledge: Master._on_acknowledge,
    m.Reconcile: Master._on_reconcile,
    m.FrameworkToExecutor: Master._on_framework_message,
    m.ExecutorToFramework: Master._on_executor_message,
    m.ExecutorExited: Master._on_executor_exited,
    m.StatusUpdate: Master._on_status_update,
    m.RegisterAgent: Master._on_register_agent,
    m.UnregisterAgent: Master._on_unregister_agent,
    m.ShutdownAgents: Master._on_shutdown_agents,
    m.Pong: Master._on_pong,
}
