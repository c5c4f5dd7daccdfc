"""``VirtualCluster``: the real master and allocator on a virtual clock, for checkers and quick experiments.

A live :class:`~jmesos.LocalCluster` runs on the wall clock, so two runs of the
same lesson differ by a few milliseconds here and there.  A checker must give
every student the same verdict and the same hint, and must take a fraction of a
second, so the exercise checkers run a student's code here instead: the same
:class:`~jmesos.core.master.Master` and allocator, fed messages and clock ticks
from a priority queue of virtual time, with pretend agents.

What is pretend, and why that is enough for the exercises:

- agents answer the master at once (pings, task launches, kills) — there is no
  network, so message delay is a constant ``latency``;
- tasks do not execute: a task "runs" for ``task_seconds`` of virtual time
  (a number, or a function of the :class:`~jmesos.TaskInfo`) and then
  finishes with ``data=None``.  Checkers judge *scheduling* (which offers a
  framework took, which tasks it launched where), not task results.

Everything that happens is recorded in :attr:`VirtualCluster.events`, the same
event log a live cluster produces, so the same readers work on both.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..core import messages as m
from ..core.allocator import make_allocator
from ..core.events import Event, EventLog, say_allocator_errors
from ..core.garbage import rare_full_collections
from ..core.master import Master, MasterConfig
from ..core.model import AgentInfo, FrameworkInfo, InvalidArgument, Offer, TaskInfo, TaskStatus, check_agent_keys
from ..core.resources import Resources
from ..core.scheduler import FrameworkAPI, Scheduler, check_failover, check_scheduler
from ..core.states import Reason, TaskState

__all__ = ["VirtualCluster", "VirtualDriver"]

#: a virtual run never goes past this time unless asked (a framework that never stops must not hang a checker)
DEFAULT_HORIZON = 3600.0

#: the settings an agent of a virtual cluster takes (``agents=[{...}, ...]``)
AGENT_KEYS = ("cpus", "mem", "disk", "attributes")

#: the events a virtual cluster's log keeps by default (the oldest fall off after that; see VirtualCluster)
DEFAULT_EVENTS_MAXLEN = 2_000_000

#: steps allowed at one virtual instant beyond twice the work queued when it began (see VirtualCluster._step_until)
STALL_SLACK = 10_000


def _check_time(field: str, value: Any, example: str) -> float:
    """``value`` as a float, or InvalidArgument naming ``field`` when it is not a finite number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgument(f"{field}={value!r} must be a finite number of virtual seconds, e.g. {example}")
    return float(value)


class VirtualDriver(FrameworkAPI):
    """The driver a scheduler gets on a :class:`VirtualCluster`: the same methods as the live one.

    Calls are turned into protocol messages that reach the master after the
    cluster's ``latency``.  An exception raised by a scheduler callback is
    kept in :attr:`errors` (and printed unless the cluster is ``quiet``), as
    the live driver does, so one bad callback does not stop the run.
    """

    def __init__(self, cluster: VirtualCluster, scheduler: Scheduler, info: FrameworkInfo, peer: str) -> None:
        self._cluster = cluster
        self.scheduler = scheduler
        self.framework = info
        self.peer = peer
        self.framework_id: str | None = None
        self.status = "DRIVER_NOT_STARTED"
        self.errors: list[str] = []
        self.offers: dict[str, Offer] = {}

    # -- life cycle ------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.status in ("DRIVER_STOPPED", "DRIVER_ABORTED")

    def stop(self, failover: bool = False) -> str:
        check_failover(failover)
        if self.done:
            return self.status
        if self.framework_id is not None:
            message = m.DeactivateFramework(self.framework_id) if failover else m.UnregisterFramework(self.framework_id)
            self._cluster._to_master(self.peer, message)
        self.status = "DRIVER_STOPPED"
        return self.status

    def abort(self) -> str:
        if not self.done:
            self._cluster._disconnect(self.peer)
            self.status = "DRIVER_ABORTED"
        return self.status

    # -- internals ---------------------------------------------------------------------------
    def _wire_task(self, task: TaskInfo) -> TaskInfo:
        # a copy, so the master's bookkeeping never aliases the student's objects; the payload only
        # has to exist (the master refuses a task with no code), nothing here runs it
        return dataclasses.replace(task, payload=task.payload or b"virtual")

    def _send(self, message: m.Message) -> None:
        if self.done:
            raise RuntimeError(f"the driver is {self.status}; it cannot send {message.kind}")
        self._cluster._to_master(self.peer, message)

    def _listening(self) -> bool:
        return not self.done

    def _report(self, text: str) -> None:
        if not self._cluster.quiet:
            print(text, file=sys.stderr)

    def _deliver(self, message: m.Message) -> None:
        if self.done or self._deliver_offer_news(message):
            return
        if isinstance(message, m.FrameworkRegistered):
            self.framework_id = message.framework_id
            self.status = "DRIVER_RUNNING"
            self._callback("registered", message.framework_id, message.master)
        elif isinstance(message, m.StatusUpdate):
            status = dataclasses.replace(message.status)
            self._callback("status_update", status)
            if self.framework.implicit_acknowledgements and status.uuid and status.agent_id and not self.done:
                self._cluster._to_master(
                    self.peer, m.Acknowledge(self._fid(), status.agent_id, status.task_id, status.uuid)
                )
        elif isinstance(message, m.ExecutorToFramework):
            self._callback("framework_message", message.agent_id, message.data)
        elif isinstance(message, m.FrameworkError):
            self._refused(message.message)

    def __repr__(self) -> str:
        return f"<VirtualDriver {self.framework_id or self.framework.name} {self.status}>"


class _Agent:
    """A pretend agent: answers pings, 'runs' tasks for their virtual duration, reports their states."""

    def __init__(self, cluster: VirtualCluster, peer: str, info: AgentInfo) -> None:
        self.cluster = cluster
        self.peer = peer
        self.info = info
        self.id: str | None = None
        self.alive = True
        #: (framework_id, task_id) -> the sequence number of its finishing event, so a kill can cancel it
        self.running: dict[tuple[str, str], int] = {}
        self._uuid = itertools.count(1)

    def deliver(self, message: m.Message) -> None:
        if not self.alive:
            return
        c = self.cluster
        if isinstance(message, m.AgentRegistered):
            self.id = message.agent_id
        elif isinstance(message, m.Ping):
            c._to_master(self.peer, m.Pong(self.id or ""))
        elif isinstance(message, m.RunTasks):
            for task in message.tasks:
                key = (message.framework_id, task.task_id)
                self.report(message.framework_id, task.task_id, TaskState.TASK_RUNNING)
                seconds = c._duration(task)
                self.running[key] = c._at(c.now + seconds, lambda k=key: self._finish(k))
        elif isinstance(message, m.KillTaskOnAgent):
            self._kill((message.framework_id, message.task_id), Reason.REASON_TASK_KILLED_BY_USER)
        elif isinstance(message, m.ShutdownFramework):
            for key in [k for k in self.running if k[0] == message.framework_id]:
                self._kill(key, Reason.REASON_FRAMEWORK_REMOVED)

    def _finish(self, key: tuple[str, str]) -> None:
        if self.alive and self.running.pop(key, None) is not None:
            self.report(key[0], key[1], TaskState.TASK_FINISHED)

    def _kill(self, key: tuple[str, str], reason: Reason) -> None:
        seq = self.running.pop(key, None)
        if seq is not None:
            self.cluster._cancelled.add(seq)
            self.report(key[0], key[1], TaskState.TASK_KILLED, reason)

    def report(self, framework_id: str, task_id: str, state: TaskState, reason: Reason = Reason.REASON_NONE) -> None:
        status = TaskStatus(
            task_id=task_id,
            state=state,
            reason=reason,
            agent_id=self.id,
            framework_id=framework_id,
            timestamp=self.cluster.now,
            uuid=f"{self.peer}-{next(self._uuid)}",
        )
        self.cluster._to_master(self.peer, m.StatusUpdate(status))


class VirtualCluster:
    """A master, its allocator and ``agents`` pretend agents on a virtual clock.

    Arguments mirror :class:`~jmesos.LocalCluster` (``agents``, ``cpus``,
    ``mem``, ``disk``, ``policy``, ``policy_options``,
    ``allocation_interval``) plus:

    - ``task_seconds``: how long each task runs, in virtual seconds: a number,
      or a function ``TaskInfo -> seconds``;
    - ``latency``: the one-way delay of every message (virtual seconds);
    - ``quiet``: do not print scheduler exceptions or a policy's failures (checkers report them);
    - ``events_maxlen``: how many events :attr:`events` keeps (default
      2,000,000).  A longer run keeps its latest ``events_maxlen`` and
      ``events.dropped`` counts the rest; the :mod:`~jmesos.teaching.measure`
      functions then refuse the log (their numbers need its start).  The log
      seals its events into pickled chunks of about 110 bytes an event:
      measured on a busy run (100 agents kept full, offers, launches and
      task states), 2,000,000 events took 217 MiB of memory against 8 MiB
      with a log of 1,024, so a full default log costs about 210 MiB and a
      run of 200,000 events about 21 MiB: a run pays only for the events it
      records.  (``LocalCluster`` keeps 200,000 by default.)

    The agents register when the cluster is built, at virtual time 0, so
    their ids (``agent-1``, ``agent-2``, ...) are in :attr:`agents` at once
    and ``kill_agent(..., at=...)`` can be scheduled before the first run.

    ``add_framework(scheduler, ...)`` registers a framework (optionally at a
    later virtual time), ``run(until=...)`` advances the clock until every
    framework has stopped or ``until`` is reached.  Runs are deterministic:
    the same arguments and code give the same :attr:`events`.
    """

    def __init__(
        self,
        agents: int | Sequence[Mapping[str, Any]] = 2,
        cpus: Any = 4,
        mem: Any = "4GiB",
        disk: Any = None,
        *,
        policy: Any = "drf",
        policy_options: Mapping[str, Any] | None = None,
        allocation_interval: float = 1.0,
        task_seconds: float | Callable[[TaskInfo], float] = 1.0,
        latency: float = 0.001,
        quiet: bool = False,
        events_maxlen: int = DEFAULT_EVENTS_MAXLEN,
    ) -> None:
        if isinstance(agents, bool) or not isinstance(agents, (int, list, tuple)):
            raise InvalidArgument(f"agents={agents!r} must be a number of agents or a list of per-agent dicts")
        specs = [{} for _ in range(agents)] if isinstance(agents, int) else list(agents)
        if not specs:
            raise InvalidArgument("agents=0: a virtual cluster needs at least one agent")
        if not callable(task_seconds) and (
            isinstance(task_seconds, bool) or not isinstance(task_seconds, (int, float)) or not task_seconds > 0
        ):
            raise InvalidArgument(f"task_seconds={task_seconds!r} must be a positive number or a function of the task")
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not latency > 0:
            raise InvalidArgument(f"latency={latency!r} must be a positive number of virtual seconds, e.g. 0.001")
        if isinstance(events_maxlen, bool) or not isinstance(events_maxlen, int) or events_maxlen < 1:
            raise InvalidArgument(
                f"events_maxlen={events_maxlen!r} must be a number of events >= 1, e.g. events_maxlen=5_000_000"
            )
        for i, spec in enumerate(specs):
            if not isinstance(spec, Mapping):
                raise InvalidArgument(f"agents[{i}]={spec!r} must be a dict such as {{'cpus': 2, 'mem': '1GiB'}}")
            check_agent_keys(spec, i, allowed=AGENT_KEYS)
        self.now = 0.0
        self.quiet = quiet
        self.latency = float(latency)
        self.task_seconds = task_seconds
        self.events = EventLog(maxlen=events_maxlen)
        options = dict(policy_options or {})
        options.setdefault("allocation_interval", allocation_interval)
        try:
            allocator = make_allocator(policy, **options)
            config = MasterConfig(allocation_interval=allocation_interval, trace_messages=False)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        self.master = Master(allocator, config, record=self._record)
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cancelled: set[int] = set()
        self._agents: dict[str, _Agent] = {}
        self._drivers: dict[str, VirtualDriver] = {}
        self._last_tick = -math.inf
        self._fresh = False
        for i, spec in enumerate(specs):
            resources = Resources(cpus=spec.get("cpus", cpus), mem=spec.get("mem", mem), disk=spec.get("disk", disk))
            info = AgentInfo(f"virtual-{i + 1}", resources, dict(spec.get("attributes", {})))
            peer = f"agent-peer-{i + 1}"
            agent = self._agents[peer] = _Agent(self, peer, info)
            # registered at once, at time 0 (the cluster is built with its agents): their ids are known from here on
            for to, message in self.master.receive(self.now, peer, m.RegisterAgent(info)):
                if to == peer and isinstance(message, m.AgentRegistered):
                    agent.deliver(message)
                else:
                    self._route([(to, message)])
        self._process_until(0.0)

    def _record(self, event: Event) -> None:
        """The master's events go to the log; the allocator's errors (a policy that raised, the fallback
        to DRF) are also printed unless ``quiet``: a run that went on under DRF looks like the policy worked."""
        self.events.append(event)
        if not self.quiet:
            say_allocator_errors((event,))

    # -- public ----------------------------------------------------------------------------
    def add_framework(
        self, scheduler: Scheduler, name: str | None = None, role: str = "*", *, at: float | None = None
    ) -> VirtualDriver:
        """Register ``scheduler`` as a framework now (or at virtual time ``at``); returns its driver.

        An ``at`` already past means now.
        """
        check_scheduler(scheduler)
        when = self.now if at is None else max(self.now, _check_time("at", at, "at=2.5"))
        info = FrameworkInfo(name=name or type(scheduler).__name__, role=role)
        peer = f"framework-peer-{len(self._drivers) + 1}"
        driver = VirtualDriver(self, scheduler, info, peer)
        self._drivers[peer] = driver
        self._at(when, lambda: self._to_master(peer, m.RegisterFramework(dataclasses.replace(info))), delay=False)
        return driver

    def kill_agent(self, agent_id: str, at: float | None = None) -> None:
        """The agent dies (its tasks with it) now or at virtual time ``at``; the master notices by missed pings.

        An ``at`` already past means now.
        """
        when = self.now if at is None else max(self.now, _check_time("at", at, "at=5"))
        agent = next((a for a in self._agents.values() if a.id == agent_id), None)
        if agent is None:
            known = [a.id for a in self._agents.values()]
            raise InvalidArgument(f"agent_id={agent_id!r} is not an agent of this cluster; use one of {known}")

        def die() -> None:
            agent.alive = False
            for seq in agent.running.values():
                self._cancelled.add(seq)
            agent.running.clear()

        self._at(when, die, delay=False)

    @property
    def agents(self) -> list[str]:
        """Ids of the agents still alive."""
        return [a.id for a in self._agents.values() if a.alive and a.id]

    @property
    def drivers(self) -> list[VirtualDriver]:
        return list(self._drivers.values())

    def run(self, until: float | None = None, max_steps: int | None = None) -> VirtualCluster:
        """Advance virtual time until every framework has stopped, or until ``until`` (seconds); returns self.

        Without ``until`` the run still ends at one virtual hour, so a
        framework that never calls ``driver.stop()`` cannot hang a checker.
        A run whose virtual time stops advancing (a livelock: events keep
        happening at one instant) raises :class:`RuntimeError` however large
        the cluster.  ``max_steps`` (default: none) is a budget: at most that
        many events are processed by this call, else :class:`RuntimeError`.
        """
        if until is not None:
            if _check_time("until", until, f"until={self.now + 10:g}") < self.now:
                raise InvalidArgument(
                    f"until={until!r} is before the virtual time now ({self.now:g} s); "
                    f"give a time >= {self.now:g}, e.g. until={self.now + 10:g}"
                )
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
            raise InvalidArgument(
                f"max_steps={max_steps!r} must be a positive number of steps, e.g. max_steps=10_000_000, "
                "or None for no budget"
            )
        horizon = DEFAULT_HORIZON if until is None else float(until)
        self._process_until(horizon, stop_when_done=until is None, max_steps=max_steps)
        return self

    # -- the event loop ----------------------------------------------------------------------
    def _at(self, when: float, action: Callable[[], None], delay: bool = True) -> int:
        seq = next(self._seq)
        heapq.heappush(self._queue, (when + (self.latency if delay else 0.0), seq, action))
        return seq

    def _to_master(self, peer: str, message: m.Message) -> None:
        def arrive() -> None:
            self._fresh = True
            self._route(self.master.receive(self.now, peer, message))

        self._at(self.now, arrive)

    def _disconnect(self, peer: str) -> None:
        def gone() -> None:
            self._fresh = True
            self._route(self.master.disconnected(self.now, peer))

        self._at(self.now, gone)

    def _route(self, out: list[tuple[str, m.Message]]) -> None:
        for peer, message in out:
            agent = self._agents.get(peer)
            if agent is not None:
                self._at(self.now, lambda a=agent, msg=message: a.deliver(msg))
                continue
            driver = self._drivers.get(peer)
            if driver is not None:
                self._at(self.now, lambda d=driver, msg=message: d._deliver(msg))

    def _duration(self, task: TaskInfo) -> float:
        seconds = self.task_seconds(task) if callable(self.task_seconds) else self.task_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise InvalidArgument(
                f"task_seconds gave {seconds!r} for task {task.task_id!r}; it must be a positive number"
            )
        return float(seconds)

    def _all_done(self) -> bool:
        return bool(self._drivers) and all(d.done for d in self._drivers.values())

    def _process_until(self, horizon: float, stop_when_done: bool = False, max_steps: int | None = None) -> None:
        with rare_full_collections():
            self._step_until(horizon, stop_when_done, max_steps)

    def _step_until(self, horizon: float, stop_when_done: bool, max_steps: int | None) -> None:
        # Livelock guard.  Every message takes ``latency`` > 0 and every task a positive time, so the work
        # one instant can hold is what was queued for it when it began, plus at most one master tick per
        # message arriving then (and a few actions a scheduler schedules with at=now): at most about twice
        # the queue.  Far more steps than that at one instant means virtual time has stopped advancing
        # (typically a time so large that adding the latency to it changes nothing), and the run would
        # never end.  An honest run, however large, always gets past it.
        instant, at_instant, allowance = self.now, 0, 2 * len(self._queue) + STALL_SLACK
        for _ in itertools.count(1) if max_steps is None else range(1, max_steps + 1):
            if stop_when_done and self._all_done():
                # let the goodbyes arrive, so the log ends with each framework's removal
                horizon, stop_when_done = min(horizon, self.now + 10 * self.latency), False
            deadline = self.master.next_deadline()
            if deadline <= self._last_tick and not self._fresh:
                # Nothing reached the master since its last tick, yet it asks for another one at or before
                # that instant (an allocator deadline that only a full allocation round clears): look again
                # a little later rather than spin on one instant forever.
                deadline = self._last_tick + self.master.config.allocation_interval / 10
            next_item = self._queue[0][0] if self._queue else math.inf
            when = min(deadline, next_item)
            if when > horizon:
                self.now = max(self.now, horizon)
                return
            self.now = max(self.now, when)
            if self.now > instant:
                instant, at_instant, allowance = self.now, 0, 2 * len(self._queue) + STALL_SLACK
            else:
                at_instant += 1
                if at_instant > allowance:
                    self._stalled(at_instant)
            if next_item <= deadline:
                _, seq, action = heapq.heappop(self._queue)
                if seq in self._cancelled:
                    self._cancelled.discard(seq)
                    continue
                action()
            else:
                self._last_tick = self.now
                self._fresh = False
                self._route(self.master.tick(self.now))
        raise RuntimeError(
            f"the run used up its budget of max_steps={max_steps:,} steps at virtual time {self.now:g} s "
            f"(until {horizon:g} s); max_steps is a budget, not a limit the cluster needs: pass a larger "
            "max_steps=..., or max_steps=None for no budget"
        )

    def _stalled(self, steps: int) -> None:
        why = "events keep being scheduled at the very instant they are processed"
        if self.now + self.latency == self.now:
            why = (
                f"at t={self.now:g} s a latency of {self.latency:g} s is lost to rounding, so every message "
                f"arrives the instant it is sent; give latency= and task_seconds= well above {math.ulp(self.now):.1g} s, "
                "the clock's resolution at that time"
            )
        raise RuntimeError(
            f"virtual time stopped advancing at t={self.now:g} s: {steps:,} steps happened at that one instant "
            f"({why}); the run would never end"
        )

    def __repr__(self) -> str:
        return f"<VirtualCluster t={self.now:.2f}s agents={len(self.agents)} frameworks={len(self._drivers)}>"
