"""The cluster as the event log describes it: agents, frameworks, tasks, offers and their history.

Views never ask the master what is going on; they fold the event log (see
:mod:`jmesos.core.events`) into a :class:`ClusterState` and draw that.  The
same fold serves the ``%mesos`` tables, the live dashboard, a replay of a
saved log, lessons and tests, so they all agree on what happened.

The fold is pure and incremental: :meth:`ClusterState.apply` takes a batch of
events and updates the current picture; it never reads a clock, so "now" is
the time of the latest event.  Unknown event kinds are ignored, so an older
view can read a newer log.  Everything that grows with the length of a run
(finished tasks, answered offers, time series, messages) is bounded, because a
lesson may run 10,000 tasks with the dashboard open.

For replay, :meth:`ClusterState.until` rebuilds the state at an earlier time
from the retained history, and :class:`Timeline` does the same quickly for a
time slider by keeping checkpoints.
"""

from __future__ import annotations

import bisect
import copy
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .events import Event
from .resources import EMPTY, ResourceError, Resources

__all__ = [
    "AgentView",
    "FrameworkView",
    "TaskView",
    "OfferView",
    "SeriesPoint",
    "ClusterState",
    "Timeline",
    "TERMINAL",
    "OUTCOMES",
]

#: terminal task states, as strings (the log carries ``state.value``)
TERMINAL = frozenset(
    {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE"}
)
#: how an offer can end; ``pending`` while it is outstanding
OUTCOMES = ("pending", "accepted", "declined", "rescinded", "timed_out")


_PARSED: dict[Any, Resources] = {}


def _resources(value: Any) -> Resources:
    """Read resources from an event payload; a malformed payload counts as nothing rather than breaking a view.

    Tasks of one framework mostly share a shape, so parsed payloads are
    cached: parsing is the costliest step of folding a 10,000-task run.
    """
    if not value:
        return EMPTY
    try:
        key = tuple(value.items()) if isinstance(value, dict) else value
        cached = _PARSED.get(key)
    except TypeError:  # unhashable values inside
        key, cached = None, None
    if cached is not None:
        return cached
    try:
        parsed = Resources.coerce(value)
    except (ResourceError, TypeError, ValueError):
        parsed = EMPTY
    if key is not None:
        if len(_PARSED) > 4096:
            _PARSED.clear()
        _PARSED[key] = parsed
    return parsed


class _Tally:
    """A mutable sum of resources (scalars only), cheap to add to and take from.

    What tasks hold changes with every launch and every end; keeping it as
    immutable :class:`Resources` would allocate three new objects per task
    state change.  Read it as Resources with :meth:`resources`.
    """

    __slots__ = ("amounts",)

    def __init__(self) -> None:
        self.amounts: dict[str, int] = {}

    def add(self, r: Resources) -> None:
        amounts = self.amounts
        for k, v in r._scalars.items():
            amounts[k] = amounts.get(k, 0) + v

    def sub(self, r: Resources) -> None:
        amounts = self.amounts
        for k, v in r._scalars.items():
            left = amounts.get(k, 0) - v
            if left > 0:
                amounts[k] = left
            else:
                amounts.pop(k, None)

    def resources(self) -> Resources:
        return Resources._raw(dict(self.amounts), frozenset())

    def __deepcopy__(self, memo: dict[int, Any]) -> _Tally:
        new = _Tally()
        new.amounts = dict(self.amounts)
        return new


@dataclass
class AgentView:
    """One agent: what it has, what is used by tasks, what is out in offers, and whether it lives."""

    agent_id: str
    hostname: str = ""
    total: Resources = EMPTY
    attributes: dict[str, str] = field(default_factory=dict)
    offered: Resources = EMPTY
    alive: bool = True
    connected: bool = True
    added: float = 0.0
    removed: float | None = None
    reason: str = ""
    #: removed because it shut down and said goodbye, not because it died (only when not ``alive``)
    left: bool = False
    #: the id it had before the master removed it and it came back (None: a new agent)
    previous_id: str | None = None
    #: the id it came back under, once removed (None: it did not)
    back_as: str | None = None
    #: keys ``(framework_id, task_id)`` of the tasks that hold resources here
    tasks: set[tuple[str, str]] = field(default_factory=set)
    #: ids of the offers of this agent that are outstanding
    offers: set[str] = field(default_factory=set)
    _used: _Tally = field(default_factory=_Tally, repr=False)

    @property
    def used(self) -> Resources:
        """What its live tasks hold."""
        return self._used.resources()

    @property
    def free(self) -> Resources:
        """What is neither used nor offered (what the allocator can still hand out)."""
        return self.total.subtract_available(self.used).subtract_available(self.offered)

    def _recount_offered(self, offers: dict[str, OfferView]) -> None:
        self.offered = sum((offers[o].resources for o in self.offers if o in offers), EMPTY)


@dataclass
class FrameworkView:
    """One framework: who it is, its dominant share and what its tasks and offers did."""

    framework_id: str
    name: str = ""
    role: str = "*"
    registered: float = 0.0
    removed: float | None = None
    reason: str = ""
    connected: bool = True
    suppressed: bool = False
    #: the latest dominant share the allocator reported (``shares`` events)
    share: float = 0.0
    #: how many of its tasks are (non-terminal states) or ended (terminal states) in each state
    task_counts: Counter = field(default_factory=Counter)
    launched: int = 0
    #: tasks with a data location that ran on it, and that ran elsewhere
    local: int = 0
    remote: int = 0
    offers_received: int = 0
    offers_answered: Counter = field(default_factory=Counter)
    #: order of registration, for stable colours across views
    index: int = 0
    _used: _Tally = field(default_factory=_Tally, repr=False)

    @property
    def used(self) -> Resources:
        """What its live tasks hold."""
        return self._used.resources()

    @property
    def active(self) -> bool:
        return self.removed is None

    @property
    def running(self) -> int:
        """Tasks that hold resources (any non-terminal state)."""
        return sum(n for s, n in self.task_counts.items() if s not in TERMINAL)

    @property
    def locality(self) -> float | None:
        """Share of its tasks with a data location that ran where their data was (None: none had one)."""
        total = self.local + self.remote
        return self.local / total if total else None


@dataclass
class TaskView:
    """One task, from launch (or first status) to its final state."""

    task_id: str
    framework_id: str
    agent_id: str | None = None
    name: str = ""
    resources: Resources = EMPTY
    state: str = "TASK_STAGING"
    reason: str = ""
    message: str = ""
    launched: float | None = None
    started: float | None = None
    finished: float | None = None
    locality: tuple[str, ...] = ()
    #: True: ran where its data was; False: elsewhere; None: it named no data location
    local: bool | None = None
    kind: str = ""
    revoked: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.framework_id, self.task_id)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


@dataclass
class OfferView:
    """One offer, from the moment the master sent it to its answer."""

    offer_id: str
    framework_id: str
    agent_id: str
    resources: Resources = EMPTY
    explanation: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    sent: float = 0.0
    ended: float | None = None
    outcome: str = "pending"
    #: why it was rescinded, or the decline's refuse_seconds, in words
    note: str = ""
    tasks: int = 0

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.sent


@dataclass(frozen=True)
class SeriesPoint:
    """One sample of the allocation: each framework's dominant shares and the cluster's utilisation.

    ``held`` is the dominant share of what a framework's running tasks hold, the share DRF ends
    up equalising; ``with_offers`` adds the offers it has not answered yet, which the allocator
    counts as allocated (a framework offered a whole agent is at 100% until it answers).
    ``shares`` are the allocator's own figures as it reported them (weighted, where weights are set).
    """

    time: float
    shares: dict[str, float]
    utilization: dict[str, float]
    held: dict[str, float] = field(default_factory=dict)
    with_offers: dict[str, float] = field(default_factory=dict)


class ClusterState:
    """The current picture of a cluster, folded from its events.

    >>> state = ClusterState()
    >>> state.apply(cluster.events)          # or a saved log: EventLog.load(path)
    >>> state.agents["agent-1"].free
    Resources(cpus=2, mem='1GiB')

    ``max_tasks`` finished tasks, ``max_offers`` answered offers,
    ``max_points`` series samples, ``max_messages`` protocol messages and
    ``history`` events (for :meth:`until`) are kept; older ones are forgotten,
    while counts (``FrameworkView.task_counts`` ...) stay exact.
    """

    def __init__(
        self,
        *,
        max_tasks: int = 20_000,
        max_offers: int = 5_000,
        max_points: int = 20_000,
        max_messages: int = 500,
        history: int = 200_000,
    ) -> None:
        for name, value in (
            ("max_tasks", max_tasks),
            ("max_offers", max_offers),
            ("max_points", max_points),
            ("max_messages", max_messages),
            ("history", history),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}={value!r} must be an int >= 0, e.g. {name}=1000")
        self._limits = dict(
            max_tasks=max_tasks,
            max_offers=max_offers,
            max_points=max_points,
            max_messages=max_messages,
            history=history,
        )
        self.agents: dict[str, AgentView] = {}
        self.frameworks: dict[str, FrameworkView] = {}
        #: live tasks, then finished ones (oldest finished forgotten first), by ``(framework_id, task_id)``
        self.tasks: OrderedDict[tuple[str, str], TaskView] = OrderedDict()
        #: outstanding offers by id
        self.offers: dict[str, OfferView] = {}
        #: answered offers, oldest first
        self.offer_history: deque[OfferView] = deque(maxlen=max_offers or None)
        self.series: deque[SeriesPoint] = deque(maxlen=max_points or None)
        self.messages: deque[Event] = deque(maxlen=max_messages or None)
        self.errors: deque[Event] = deque(maxlen=100)
        self.history: deque[Event] = deque(maxlen=history or None) if history else deque(maxlen=1)
        self._keep_history = bool(history)
        self.start: float | None = None
        self.now: float = 0.0
        self.event_count = 0
        self.kind_counts: Counter = Counter()
        #: bumped whenever what tasks hold or the cluster's size changes (utilisation is then recomputed)
        self._changes = 0
        self.total: Resources = EMPTY
        self._used = _Tally()
        #: the latest utilisation the master reported (``shares`` events); see :attr:`utilization`
        self._reported_utilization: dict[str, float] = {}
        self._reported_at = -1
        #: bumped by every :meth:`apply`, so a view can tell whether anything moved since it last drew
        self.version = 0
        self._finished: deque[tuple[str, str]] = deque()

    # ------------------------------------------------------------------ folding
    def apply(self, events: Iterable[Event]) -> ClusterState:
        """Fold ``events`` (in the order they happened) into the state; returns ``self``."""
        batch = events if isinstance(events, list) else list(events)
        if not batch:
            return self
        self.version += 1
        if self.start is None:
            self.start = batch[0].time
        if self._keep_history:
            self.history.extend(batch)
        handlers = self._HANDLERS
        counts = self.kind_counts
        remember = self.messages.append
        now, messages = self.now, 0
        for event in batch:
            t = event.time
            if t > now:
                now = t
            kind = event.kind
            if kind == "message":  # most events: keep them for the trace and move on
                remember(event)
                messages += 1
                continue
            counts[kind] = counts.get(kind, 0) + 1
            handler = handlers.get(kind)
            if handler is not None:
                self.now = now
                handler(self, event, event.data or {})
        if messages:
            counts["message"] = counts.get("message", 0) + messages
        self.now = now
        self.event_count += len(batch)
        return self

    @classmethod
    def from_events(cls, events: Iterable[Event], until: float | None = None, **limits: Any) -> ClusterState:
        """A state folded from ``events``, stopping after the last event at or before ``until``."""
        state = cls(**limits)
        if until is None:
            state.apply(events)
        else:
            state.apply(e for e in events if e.time <= until)
            if state.start is not None:  # the state *at* ``until``: time has moved on even if nothing happened
                state.now = max(state.now, until)
        return state

    def until(self, time: float) -> ClusterState:
        """The state as it was at ``time``, rebuilt from the retained :attr:`history`.

        Raises ``ValueError`` if the history no longer reaches back to ``time``
        (raise ``history=`` or replay the saved log with :class:`Timeline`).
        """
        if not self._keep_history:
            raise ValueError("this ClusterState keeps no history; create it with history=200000 to use until()")
        if self.history and self.history.maxlen and len(self.history) == self.history.maxlen:
            if time < self.history[0].time:
                raise ValueError(
                    f"time={time!r} is before the oldest retained event ({self.history[0].time:g}); "
                    "raise ClusterState(history=...) or replay a saved log with Timeline"
                )
        return ClusterState.from_events(self.history, until=time, **self._limits)

    def copy(self) -> ClusterState:
        """An independent deep copy (a checkpoint for replay)."""
        return copy.deepcopy(self)

    # ------------------------------------------------------------------ queries
    @property
    def used(self) -> Resources:
        """What all live tasks hold."""
        return self._used.resources()

    @property
    def utilization(self) -> dict[str, float]:
        """Share of each resource in use: the master's latest sample, or (since tasks changed) our own count."""
        if self._reported_at == self._changes:
            return dict(self._reported_utilization)
        return {k: round(v, 4) for k, v in self.used.shares(self.total).items()}

    @property
    def elapsed(self) -> float:
        """Seconds from the first event to the latest."""
        return 0.0 if self.start is None else self.now - self.start

    def alive_agents(self) -> list[AgentView]:
        return [a for a in self.agents.values() if a.alive]

    def active_frameworks(self) -> list[FrameworkView]:
        return [f for f in self.frameworks.values() if f.active]

    def live_tasks(self) -> list[TaskView]:
        return [t for t in self.tasks.values() if not t.terminal]

    def task(self, task_id: str, framework_id: str | None = None) -> TaskView | None:
        """The task named ``task_id`` (the latest one if several frameworks used the id)."""
        if framework_id is not None:
            return self.tasks.get((framework_id, task_id))
        found = None
        for (_, tid), task in self.tasks.items():
            if tid == task_id:
                found = task
        return found

    def all_offers(self) -> Iterator[OfferView]:
        """Answered offers (oldest first), then outstanding ones."""
        yield from self.offer_history
        yield from self.offers.values()

    def shares(self) -> dict[str, float]:
        """Each active framework's latest dominant share, as the allocator counts it (with its offers out)."""
        return {f.framework_id: f.share for f in self.frameworks.values() if f.active}

    def held_shares(self, with_offers: bool = False) -> dict[str, float]:
        """Each active framework's dominant share of what its running tasks hold.

        ``with_offers=True`` adds the offers it has not answered yet, as the allocator counts them.
        """
        offered: dict[str, Resources] = {}
        if with_offers:
            for offer in self.offers.values():
                offered[offer.framework_id] = offered.get(offer.framework_id, EMPTY) + offer.resources
        total = self.total
        return {
            f.framework_id: (f.used + offered.get(f.framework_id, EMPTY)).dominant_share(total)
            for f in self.frameworks.values()
            if f.active
        }

    def task_state_counts(self) -> Counter:
        """How many tasks are (or ended) in each state, over all frameworks."""
        total: Counter = Counter()
        for fw in self.frameworks.values():
            total.update(fw.task_counts)
        return total

    def summary(self) -> dict[str, Any]:
        """A small JSON-friendly summary for a status line."""
        counts = self.task_state_counts()
        return {
            "time": round(self.elapsed, 3),
            "agents": len(self.alive_agents()),
            "dead_agents": sum(1 for a in self.agents.values() if not a.alive and not a.left),
            "left_agents": sum(1 for a in self.agents.values() if a.left),
            "frameworks": len(self.active_frameworks()),
            "left_frameworks": sum(1 for f in self.frameworks.values() if not f.active),
            "running": sum(n for s, n in counts.items() if s not in TERMINAL),
            "finished": counts.get("TASK_FINISHED", 0),
            "failed": sum(n for s, n in counts.items() if s in TERMINAL and s != "TASK_FINISHED"),
            "offers": len(self.offers),
            "total": self.total.to_dict(),
            "used": self.used.to_dict(),
            "utilization": dict(self.utilization),
            "events": self.event_count,
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"<ClusterState t={s['time']:g}s agents={s['agents']} frameworks={s['frameworks']} "
            f"running={s['running']} finished={s['finished']} offers={s['offers']}>"
        )

    # ------------------------------------------------------------------ handlers
    def _on_agent_added(self, e: Event, d: dict[str, Any]) -> None:
        agent_id = str(d.get("agent_id") or e.source)
        old = self.agents.get(agent_id)
        total = _resources(d.get("resources"))
        if old is not None and old.alive:
            self.total = self.total.subtract_available(old.total)
        self.agents[agent_id] = AgentView(
            agent_id,
            hostname=str(d.get("hostname") or ""),
            total=total,
            attributes=dict(d.get("attributes") or {}),
            added=e.time,
            previous_id=d.get("previous_id") or None,
        )
        before = self.agents.get(str(d.get("previous_id") or ""))
        if before is not None:
            before.back_as = agent_id
        self.total = self.total + total
        self._changes += 1

    def _on_agent_removed(self, e: Event, d: dict[str, Any]) -> None:
        agent = self.agents.get(str(d.get("agent_id") or e.source))
        if agent is None or not agent.alive:
            return
        agent.alive = False
        agent.connected = False
        agent.removed = e.time
        agent.reason = str(d.get("reason") or "")
        agent.left = bool(d.get("graceful"))
        self.total = self.total.subtract_available(agent.total)
        # the master reports each task's loss; anything it did not is gone with the agent
        for key in list(agent.tasks):
            task = self.tasks.get(key)
            if task is not None and not task.terminal:
                self._transition(task, "TASK_LOST", e.time, "REASON_AGENT_REMOVED", agent.reason)
        for offer_id in list(agent.offers):
            self._end_offer(offer_id, e.time, "rescinded", f"agent {agent.agent_id} removed")
        self._changes += 1

    def _on_agent_disconnected(self, e: Event, d: dict[str, Any]) -> None:
        agent = self.agents.get(str(d.get("agent_id") or e.source))
        if agent is not None:
            agent.connected = False

    def _on_agent_reconnected(self, e: Event, d: dict[str, Any]) -> None:
        agent = self.agents.get(str(d.get("agent_id") or e.source))
        if agent is not None and agent.alive:
            agent.connected = True

    def _on_framework_added(self, e: Event, d: dict[str, Any]) -> None:
        framework_id = str(d.get("framework_id") or e.source)
        old = self.frameworks.get(framework_id)
        if old is not None and old.active:
            old.name = str(d.get("name") or old.name)
            old.connected = True
            return
        self.frameworks[framework_id] = FrameworkView(
            framework_id,
            name=str(d.get("name") or framework_id),
            role=str(d.get("role") or "*"),
            registered=e.time,
            index=len(self.frameworks),
        )

    def _framework(self, framework_id: Any, time: float) -> FrameworkView:
        """The framework, created on the fly if the log started after it registered."""
        framework_id = str(framework_id or "?")
        fw = self.frameworks.get(framework_id)
        if fw is None:
            fw = self.frameworks[framework_id] = FrameworkView(
                framework_id, name=framework_id, registered=time, index=len(self.frameworks)
            )
        return fw

    def _agent(self, agent_id: Any, time: float) -> AgentView | None:
        if not agent_id:
            return None
        agent_id = str(agent_id)
        agent = self.agents.get(agent_id)
        if agent is None:  # the log started after it registered; its size is unknown
            agent = self.agents[agent_id] = AgentView(agent_id, added=time)
        return agent

    def _on_framework_removed(self, e: Event, d: dict[str, Any]) -> None:
        fw = self.frameworks.get(str(d.get("framework_id") or e.source))
        if fw is None or not fw.active:
            return
        fw.removed = e.time
        fw.connected = False
        fw.reason = str(d.get("reason") or "")
        fw.share = 0.0
        for offer in [o for o in self.offers.values() if o.framework_id == fw.framework_id]:
            self._end_offer(offer.offer_id, e.time, "rescinded", "framework removed")

    def _on_framework_disconnected(self, e: Event, d: dict[str, Any]) -> None:
        fw = self.frameworks.get(str(d.get("framework_id") or e.source))
        if fw is not None:
            fw.connected = False

    def _on_framework_reconnected(self, e: Event, d: dict[str, Any]) -> None:
        fw = self.frameworks.get(str(d.get("framework_id") or e.source))
        if fw is not None:
            fw.connected = True
            if d.get("name"):
                fw.name = str(d["name"])

    def _on_framework_suppressed(self, e: Event, d: dict[str, Any]) -> None:
        fw = self.frameworks.get(str(d.get("framework_id") or e.source))
        if fw is not None:
            fw.suppressed = True

    def _on_framework_revived(self, e: Event, d: dict[str, Any]) -> None:
        fw = self.frameworks.get(str(d.get("framework_id") or e.source))
        if fw is not None:
            fw.suppressed = False

    def _on_offer(self, e: Event, d: dict[str, Any]) -> None:
        offer_id = str(d.get("offer_id") or "")
        if not offer_id:
            return
        offer = OfferView(
            offer_id,
            framework_id=str(d.get("framework_id") or e.dest),
            agent_id=str(d.get("agent_id") or ""),
            resources=_resources(d.get("resources")),
            explanation=str(d.get("explanation") or ""),
            details=dict(d.get("details") or {}),
            sent=e.time,
        )
        self.offers[offer_id] = offer
        self._framework(offer.framework_id, e.time).offers_received += 1
        agent = self._agent(offer.agent_id, e.time)
        if agent is not None:
            agent.offers.add(offer_id)
            agent.offered = agent.offered + offer.resources

    def _end_offer(self, offer_id: str, time: float, outcome: str, note: str = "", tasks: int = 0) -> None:
        offer = self.offers.pop(offer_id, None)
        if offer is None:
            return
        offer.ended, offer.outcome, offer.note, offer.tasks = time, outcome, note, tasks
        self.offer_history.append(offer)
        fw = self.frameworks.get(offer.framework_id)
        if fw is not None:
            fw.offers_answered[outcome] += 1
        agent = self.agents.get(offer.agent_id)
        if agent is not None and offer_id in agent.offers:
            agent.offers.discard(offer_id)
            agent._recount_offered(self.offers)

    def _on_offer_accepted(self, e: Event, d: dict[str, Any]) -> None:
        count = d.get("task_count")
        if not isinstance(count, int):
            count = len(d.get("tasks") or ())
        self._end_offer(str(d.get("offer_id") or ""), e.time, "accepted", f"{count} task(s) launched", count)

    def _on_offer_declined(self, e: Event, d: dict[str, Any]) -> None:
        refuse = d.get("refuse_seconds")
        note = f"refuse for {refuse:g}s" if isinstance(refuse, (int, float)) else ""
        self._end_offer(str(d.get("offer_id") or ""), e.time, "declined", note)

    def _on_offer_rescinded(self, e: Event, d: dict[str, Any]) -> None:
        reason = str(d.get("reason") or "")
        outcome = "timed_out" if "offer_timeout" in reason or "timed out" in reason else "rescinded"
        self._end_offer(str(d.get("offer_id") or ""), e.time, outcome, reason)

    def _on_task_launched(self, e: Event, d: dict[str, Any]) -> None:
        framework_id = str(d.get("framework_id") or e.source)
        task_id = str(d.get("task_id") or "")
        if not task_id:
            return
        fw = self._framework(framework_id, e.time)
        key = (framework_id, task_id)
        old = self.tasks.pop(key, None)
        if old is not None and not old.terminal:  # an id reused while live: forget the old one's hold
            self._release(old)
            fw.task_counts[old.state] -= 1
        local = d.get("local")
        task = TaskView(
            task_id,
            framework_id,
            agent_id=str(d.get("agent_id") or e.dest or "") or None,
            name=str(d.get("name") or task_id),
            resources=_resources(d.get("resources")),
            launched=e.time,
            locality=tuple(d.get("locality") or ()),
            local=local if isinstance(local, bool) else None,
            kind=str(d.get("kind") or ""),
        )
        self.tasks[key] = task
        fw.task_counts[task.state] += 1
        fw.launched += 1
        if task.local is True:
            fw.local += 1
        elif task.local is False:
            fw.remote += 1
        fw._used.add(task.resources)
        self._used.add(task.resources)
        agent = self._agent(task.agent_id, e.time)
        if agent is not None:
            agent.tasks.add(key)
            agent._used.add(task.resources)
        self._changes += 1

    def _on_task_state(self, e: Event, d: dict[str, Any]) -> None:
        framework_id = d.get("framework_id") or ""
        task_id = d.get("task_id") or ""
        state = d.get("state") or ""
        if not task_id or not state:
            return
        task = self.tasks.get((framework_id, task_id))
        if task is not None and (task.state == state or task.state in TERMINAL):
            return  # the usual repeat (STAGING right after launch) or news about a finished task
        framework_id, task_id, state = str(framework_id), str(task_id), str(state)
        key = (framework_id, task_id)
        reason, message = str(d.get("reason") or ""), str(d.get("message") or "")
        if task is None:
            if reason == "REASON_RECONCILIATION" or state not in TERMINAL:
                return  # an answer about a task we never saw launch: nothing to draw
            # refused before it launched (invalid task or offer): it still counts for its framework
            fw = self._framework(framework_id, e.time)
            task = TaskView(task_id, framework_id, agent_id=str(d.get("agent_id") or "") or None, state=state)
            task.reason, task.message, task.finished = reason, message, e.time
            self.tasks[key] = task
            fw.task_counts[state] += 1
            self._finished.append(key)
            self._forget_old_tasks()
            return
        self._transition(task, state, e.time, reason, message)

    def _transition(self, task: TaskView, state: str, time: float, reason: str, message: str) -> None:
        fw = self.frameworks.get(task.framework_id) or self._framework(task.framework_id, time)
        counts = fw.task_counts
        left = counts.get(task.state, 0) - 1
        if left > 0:
            counts[task.state] = left
        else:
            counts.pop(task.state, None)
        counts[state] = counts.get(state, 0) + 1
        task.state, task.reason, task.message = state, reason, message
        if state == "TASK_RUNNING" and task.started is None:
            task.started = time
        if state in TERMINAL:
            task.finished = time
            self._release(task)
            self._finished.append(task.key)
            if len(self._finished) > self._limits["max_tasks"]:
                self._forget_old_tasks()
            self._changes += 1

    def _release(self, task: TaskView) -> None:
        """Give a task's resources back (it ended)."""
        fw = self.frameworks.get(task.framework_id)
        if fw is not None:
            fw._used.sub(task.resources)
        self._used.sub(task.resources)
        agent = self.agents.get(task.agent_id or "")
        key = (task.framework_id, task.task_id)
        if agent is not None and key in agent.tasks:
            agent.tasks.discard(key)
            agent._used.sub(task.resources)

    def _forget_old_tasks(self) -> None:
        limit = self._limits["max_tasks"]
        while len(self._finished) > limit:
            key = self._finished.popleft()
            task = self.tasks.get(key)
            if task is not None and task.terminal:
                del self.tasks[key]

    def _on_task_revoked(self, e: Event, d: dict[str, Any]) -> None:
        task = self.tasks.get((str(d.get("framework_id") or ""), str(d.get("task_id") or "")))
        if task is not None:
            task.revoked = True

    def _on_shares(self, e: Event, d: dict[str, Any]) -> None:
        shares = {str(k): float(v) for k, v in (d.get("shares") or {}).items() if isinstance(v, (int, float))}
        for framework_id, share in shares.items():
            fw = self.frameworks.get(framework_id)
            if fw is not None and fw.active:
                fw.share = share
        utilization = {str(k): float(v) for k, v in (d.get("utilization") or {}).items() if isinstance(v, (int, float))}
        if utilization:
            self._reported_utilization, self._reported_at = utilization, self._changes
        point = SeriesPoint(e.time, shares, self.utilization, self.held_shares(), self.held_shares(with_offers=True))
        self.series.append(point)

    def _on_message(self, e: Event, d: dict[str, Any]) -> None:  # apply() takes the fast path; kept for clarity
        self.messages.append(e)

    def _on_error(self, e: Event, d: dict[str, Any]) -> None:
        self.errors.append(e)

    _HANDLERS: dict[str, Any] = {
        "agent_added": _on_agent_added,
        "agent_removed": _on_agent_removed,
        "agent_disconnected": _on_agent_disconnected,
        "agent_reconnected": _on_agent_reconnected,
        "framework_added": _on_framework_added,
        "framework_removed": _on_framework_removed,
        "framework_disconnected": _on_framework_disconnected,
        "framework_reconnected": _on_framework_reconnected,
        "framework_suppressed": _on_framework_suppressed,
        "framework_revived": _on_framework_revived,
        "offer": _on_offer,
        "offer_accepted": _on_offer_accepted,
        "offer_declined": _on_offer_declined,
        "offer_rescinded": _on_offer_rescinded,
        "task_launched": _on_task_launched,
        "task_state": _on_task_state,
        "task_revoked": _on_task_revoked,
        "shares": _on_shares,
        "message": _on_message,
        "error": _on_error,
    }


class Timeline:
    """A saved run, for moving back and forth in time (the replay slider).

    Keeps the events sorted by time and one *cursor* state: moving forward
    folds only the events in between (playing a replay costs what the run
    cost), moving back folds again from the start (about 0.15 s for a
    10,000-task run's 170,000 events).  Deep-copied checkpoints were tried
    and cost as much to copy as to refold.
    """

    def __init__(self, events: Iterable[Event], **limits: Any) -> None:
        self.events: list[Event] = sorted(events, key=lambda e: e.time)
        self._times = [e.time for e in self.events]
        self._limits = dict(limits)
        self._limits.setdefault("history", 0)
        self._cursor: ClusterState | None = None
        self._cursor_n = 0

    @property
    def start(self) -> float:
        return self._times[0] if self._times else 0.0

    @property
    def end(self) -> float:
        return self._times[-1] if self._times else 0.0

    def __len__(self) -> int:
        return len(self.events)

    def at(self, time: float) -> ClusterState:
        """The state after every event at or before ``time``; its ``now`` is ``time``.

        The state returned is the timeline's cursor: the next call may move it.
        Call :meth:`ClusterState.copy` on it to keep a picture.
        """
        if isinstance(time, bool) or not isinstance(time, (int, float)):
            raise ValueError(f"time={time!r} must be a number of seconds between {self.start:g} and {self.end:g}")
        n = bisect.bisect_right(self._times, time)
        state = self._cursor
        if state is None or n < self._cursor_n or (state.start is not None and time < state.now):
            state, self._cursor_n = ClusterState(**self._limits), 0
        state.apply(self.events[self._cursor_n : n])
        self._cursor, self._cursor_n = state, n
        if state.start is not None:
            state.now = max(state.now, time)
        return state
