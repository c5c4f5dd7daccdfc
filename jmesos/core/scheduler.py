"""The framework side of two-level scheduling: the ``Scheduler`` a user subclasses.

A framework is a scheduler object whose callbacks the driver calls on a
background thread: ``resource_offers`` when the master offers resources (the
framework decides which to use and which tasks to run), ``status_update`` as
tasks progress, and so on.  The same class runs unchanged on a live cluster
and in the simulator, because it only talks to the ``driver`` it is handed.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from . import messages as m
from .model import Filters, InvalidArgument, Offer, TaskInfo, TaskStatus
from .resources import Resources

__all__ = [
    "Scheduler",
    "Driver",
    "FrameworkAPI",
    "pack_tasks",
    "offer_ids_of",
    "as_filters",
    "check_scheduler",
    "check_failover",
]


class Driver(Protocol):
    """What a scheduler can ask of the master (Mesos's ``SchedulerDriver``, Python style)."""

    framework_id: str | None

    def launch_tasks(self, offer_ids: Any, tasks: Sequence[TaskInfo], filters: Filters | None = None) -> None:
        """Launch ``tasks`` on one or several offers of the same agent; an empty list declines them."""

    def decline_offer(self, offer_id: Any, filters: Filters | None = None) -> None:
        """Give an offer back; ``filters.refuse_seconds`` (default 5) keeps that agent away meanwhile."""

    def kill_task(self, task_id: str) -> None: ...

    def revive_offers(self) -> None: ...

    def suppress_offers(self) -> None: ...

    def acknowledge_status_update(self, status: TaskStatus) -> None: ...

    def reconcile_tasks(self, statuses: Iterable[Any] = ()) -> None: ...

    def send_framework_message(self, agent_id: str, data: Any, executor_id: str | None = None) -> None: ...

    def stop(self, failover: bool = False) -> None: ...

    def abort(self) -> None: ...


class Scheduler:
    """Subclass this and override the callbacks your framework needs.

    Every callback gets the driver first.  The defaults are safe: offers are
    declined (so resources go to frameworks that want them), the rest ignored.
    Callbacks run on the driver's thread; keep them quick and never block in
    them for long (a blocked callback delays every later message).
    """

    def registered(self, driver: Driver, framework_id: str, master: str) -> None:
        """The master accepted the framework and gave it ``framework_id``."""

    def reregistered(self, driver: Driver, master: str) -> None:
        """The framework reconnected (fail-over) and kept its id and tasks."""

    def disconnected(self, driver: Driver) -> None:
        """The connection to the master dropped; the driver is trying to reconnect."""

    def resource_offers(self, driver: Driver, offers: list[Offer]) -> None:
        """Resources are on offer: launch tasks on some, decline the others."""
        for offer in offers:
            driver.decline_offer(offer.id)

    def offer_rescinded(self, driver: Driver, offer_id: str) -> None:
        """An offer is no longer valid (its agent went away, or it timed out)."""

    def status_update(self, driver: Driver, status: TaskStatus) -> None:
        """A task changed state; ``status.data`` holds a Python task's return value.

        As in Mesos, an update can come more than once: a state the master tells
        again (an answer to ``reconcile_tasks``, or to killing a task that had
        already ended) has ``reason == "REASON_RECONCILIATION"``, and an update not
        yet acknowledged is sent again.  Count a task's end by its ``task_id``, not
        by the number of terminal updates.  Updates never go back: after a task's
        ``TASK_RUNNING`` no ``TASK_STARTING`` comes, after its end no ``TASK_RUNNING``.
        """

    def framework_message(self, driver: Driver, agent_id: str, data: Any) -> None:
        """A task sent ``data`` with ``jmesos.executor.send_framework_message``."""

    def agent_lost(self, driver: Driver, agent_id: str) -> None:
        """An agent died; its tasks were reported TASK_LOST."""

    def executor_lost(self, driver: Driver, executor_id: str, agent_id: str, status: int) -> None:
        """An executor exited unexpectedly."""

    def error(self, driver: Driver, message: str) -> None:
        """The master refused something this framework did (the driver stops after fatal ones)."""


def check_scheduler(scheduler: Any) -> None:
    """Refuse, with the fix, what cannot be run as a framework (before anything connects)."""
    if isinstance(scheduler, type):
        raise InvalidArgument(
            f"scheduler={scheduler.__name__} is a class; pass an instance of it, e.g. {scheduler.__name__}()"
        )
    missing = [name for name in ("resource_offers", "status_update") if not callable(getattr(scheduler, name, None))]
    if missing:
        raise InvalidArgument(
            f"scheduler={scheduler!r} has no {missing[0]}() method; pass an instance of a jmesos.Scheduler subclass"
            " that overrides the callbacks"
        )


def check_failover(failover: Any) -> None:
    """``stop(failover=...)`` takes a bool: a string such as "no" would read as True and leave the tasks running."""
    if not isinstance(failover, bool):
        raise InvalidArgument(
            f"failover={failover!r} must be True (leave the tasks running for a successor) or False (end them)"
        )


def pack_tasks(offer: Offer, tasks: Iterable[TaskInfo], free: Resources | None = None) -> list[TaskInfo]:
    """The tasks, in order, that fit in ``offer`` together; each gets the offer's ``agent_id``.

    Greedy first fit: a task that does not fit is skipped and later smaller
    ones may still fit.  Returns the list to pass to ``driver.launch_tasks``.
    """
    if not isinstance(offer, Offer):
        raise TypeError(f"offer={offer!r} is not an Offer; pass one of the offers given to resource_offers")
    remaining = offer.resources if free is None else Resources.coerce(free)
    chosen = []
    for task in tasks:
        if not isinstance(task, TaskInfo):
            raise TypeError(f"{task!r} is not a TaskInfo; build tasks with jmesos.TaskInfo(...)")
        if task.resources <= remaining:
            remaining = remaining - task.resources
            task.agent_id = offer.agent_id
            chosen.append(task)
    return chosen


def offer_ids_of(value: Any) -> list[str]:
    """Offer ids from what a driver method was given: an id, an Offer, or a list of either."""
    items = value if isinstance(value, (list, tuple)) else [value]
    ids = []
    for item in items:
        if isinstance(item, Offer):
            ids.append(item.id)
        elif isinstance(item, str) and item:
            ids.append(item)
        else:
            raise InvalidArgument(f"offer_ids={value!r}: {item!r} is not an offer id; pass offer.id or the Offer")
    if not ids:
        raise InvalidArgument("offer_ids is empty; pass the id of at least one offer")
    return ids


def as_filters(filters: Any) -> Filters:
    """``Filters`` from what a driver method was given: None (defaults), seconds, or Filters."""
    if filters is None:
        return Filters()
    if isinstance(filters, (int, float)) and not isinstance(filters, bool):
        return Filters(refuse_seconds=float(filters))
    if not isinstance(filters, Filters):
        raise InvalidArgument(f"filters={filters!r} must be jmesos.Filters(refuse_seconds=...)")
    return filters


_DECLINED_AFTER_ERROR = " (the offers it did not answer were declined: they come back in 5 s)"


class FrameworkAPI:
    """The framework API (Mesos's ``SchedulerDriver`` calls), written once for every driver.

    A driver subclasses this and provides ``_send(message)`` (deliver to the
    master), ``_wire_task(task)`` (the copy of a task that travels) and the
    ``framework_id`` and ``offers`` attributes.  The live driver and the
    virtual cluster's driver share it, so a scheduler sees the same checks
    and the same messages on both.
    """

    framework_id: str | None
    offers: dict[str, Offer]

    def _send(self, message: Any) -> None:
        raise NotImplementedError

    def _wire_task(self, task: TaskInfo) -> TaskInfo:
        raise NotImplementedError

    scheduler: Any
    errors: list[str]
    #: Whether callbacks run on a thread of the driver's own (the live driver), where SystemExit or
    #: KeyboardInterrupt can only come from the scheduler's code: they abort the framework, saying why.
    _callbacks_on_own_thread = False

    def _listening(self) -> bool:
        """Whether the scheduler still hears callbacks (not after stop or abort)."""
        raise NotImplementedError

    def _report(self, text: str) -> None:
        """Show a scheduler's exception to the person running it."""
        raise NotImplementedError

    def _callback(self, name: str, *args: Any, on_error: str = "") -> bool:
        """Call the scheduler's ``name``; False if it raised.

        An exception is kept in :attr:`errors` and reported with its traceback, and
        the run goes on: one bad callback does not take the framework down.
        """
        method = getattr(self.scheduler, name, None)
        if method is None or not self._listening():
            return True
        try:
            method(self, *args)
        except Exception as exc:
            text = f"{type(self.scheduler).__name__}.{name} raised {type(exc).__name__}: {exc}"
            self.errors.append(text)
            own_frames = exc.__traceback__.tb_next if exc.__traceback__ else None  # from the scheduler's code on
            trace = "".join(traceback.format_exception(type(exc), exc, own_frames))
            self._report(f"jmesos: {text}{on_error}\n{trace}")
            return False
        except BaseException as exc:  # sys.exit() or KeyboardInterrupt
            if not self._callbacks_on_own_thread:  # Ctrl-C: it must end a run on the caller's thread
                raise
            # on the driver's own thread only the scheduler's code can raise these: it wants out
            what = f"{type(exc).__name__}({', '.join(map(repr, exc.args))})"
            text = (
                f"{type(self.scheduler).__name__}.{name} raised {what}, so the framework was aborted; "
                "to end a framework, call driver.stop() from a callback"
            )
            self.errors.append(text)
            self._report(f"jmesos: {text}")
            self.abort()
            return False
        return True

    def _refused(self, message: str) -> None:
        """The master refused a request: keep it, tell the scheduler, and say it where nobody listens.

        A scheduler that does not override ``error`` would otherwise never learn that, say,
        a framework message went to an agent that does not exist.
        """
        self.errors.append(message)
        if getattr(type(self.scheduler), "error", None) in (None, Scheduler.error):
            self._report(f"jmesos: the master refused a request of {self.framework_id or 'this framework'}: {message}")
        self._callback("error", message)

    def _deliver_offer_news(self, message: Any) -> bool:
        """Call back for the messages every driver treats alike (offers made or rescinded, losses).

        Returns False for any other message: the driver handles it.
        """
        if isinstance(message, m.ResourceOffers):
            for offer in message.offers:
                self.offers[offer.id] = offer
            offers = list(message.offers)
            if not self._callback("resource_offers", offers, on_error=_DECLINED_AFTER_ERROR):
                # Left as they are, the offers it did not answer would be held until the framework
                # stops: its own later offers and every other framework's would never include them.
                unanswered = [offer.id for offer in offers if offer.id in self.offers]
                if unanswered and self._listening():
                    self.decline_offer(unanswered)
        elif isinstance(message, m.RescindOffer):
            self.offers.pop(message.offer_id, None)
            self._callback("offer_rescinded", message.offer_id)
        elif isinstance(message, m.AgentLost):
            self._callback("agent_lost", message.agent_id)
        elif isinstance(message, m.ExecutorLost):
            self._callback("executor_lost", message.executor_id, message.agent_id, message.status)
        else:
            return False
        return True

    def _fid(self) -> str:
        if self.framework_id is None:
            raise RuntimeError("the framework is not registered yet; call driver methods from callbacks")
        return self.framework_id

    def launch_tasks(self, offer_ids: Any, tasks: Sequence[TaskInfo], filters: Filters | None = None) -> None:
        """Launch ``tasks`` on one offer or a list of offers of one agent (ids or Offer objects).

        An empty task list declines the offers.  Unused resources go back with
        ``filters`` (default: refuse this agent for 5 s).
        """
        ids = offer_ids_of(offer_ids)
        filters = as_filters(filters)
        if isinstance(tasks, TaskInfo):
            tasks = [tasks]
        if not isinstance(tasks, (list, tuple)):
            raise InvalidArgument(f"tasks={tasks!r} must be a list of jmesos.TaskInfo")
        for task in tasks:
            if not isinstance(task, TaskInfo):
                raise InvalidArgument(f"{task!r} is not a TaskInfo; build tasks with jmesos.TaskInfo(...)")
        wire = [self._wire_task(t) for t in tasks]
        for offer_id in ids:
            self.offers.pop(offer_id, None)
        self._send(m.Accept(self._fid(), ids, wire, filters))

    def decline_offer(self, offer_id: Any, filters: Filters | None = None) -> None:
        """Give offers back; ``filters.refuse_seconds`` (default 5) keeps that agent away meanwhile."""
        ids = offer_ids_of(offer_id)
        for one in ids:
            self.offers.pop(one, None)
        self._send(m.Decline(self._fid(), ids, as_filters(filters)))

    def kill_task(self, task_id: str) -> None:
        if not isinstance(task_id, str) or not task_id:
            raise InvalidArgument(f"task_id={task_id!r} must be the task's id string")
        self._send(m.KillTask(self._fid(), task_id))

    def revive_offers(self) -> None:
        """Clear this framework's filters and resume offers."""
        self._send(m.ReviveOffers(self._fid()))

    def suppress_offers(self) -> None:
        """Ask for no more offers until :meth:`revive_offers`."""
        self._send(m.SuppressOffers(self._fid()))

    def acknowledge_status_update(self, status: TaskStatus) -> None:
        """Acknowledge an update (only needed with ``implicit_acknowledgements=False``)."""
        if not isinstance(status, TaskStatus):
            raise InvalidArgument(f"status={status!r} must be the TaskStatus given to status_update")
        if status.uuid and status.agent_id:
            self._send(m.Acknowledge(self._fid(), status.agent_id, status.task_id, status.uuid))

    def reconcile_tasks(self, statuses: Iterable[Any] = ()) -> None:
        """Ask for the latest state of these tasks (ids or statuses, or one of either), or of all tasks when empty."""
        if isinstance(statuses, (str, TaskStatus)):
            statuses = [statuses]
        try:
            ids = [s.task_id if isinstance(s, TaskStatus) else s for s in statuses]
        except TypeError:
            ids = [None]
        if any(not isinstance(i, str) or not i for i in ids):
            raise InvalidArgument(
                f"statuses={statuses!r}: reconcile_tasks takes a list of task ids or TaskStatus objects "
                "(or nothing, for every task of this framework)"
            )
        self._send(m.Reconcile(self._fid(), ids))

    def send_framework_message(self, agent_id: str, data: Any, executor_id: str | None = None) -> None:
        """Send ``data`` to this framework's executor on ``agent_id`` (it has one per agent, so ``executor_id`` may stay None)."""
        if not isinstance(agent_id, str):
            raise InvalidArgument(f"agent_id={agent_id!r} must be an agent id string such as 'agent-1'")
        if executor_id is not None and not isinstance(executor_id, str):
            raise InvalidArgument(f"executor_id={executor_id!r} must be an executor id string, or None")
        self._send(m.FrameworkToExecutor(self._fid(), agent_id, self._wire_data(data)))

    def _wire_data(self, data: Any) -> Any:
        """``data`` as it travels to an executor; a driver that sends it over a wire serialises it here,
        so what cannot travel is refused at the call, not found on the way."""
        return data
