"""The live scheduler driver: connects a :class:`~jmesos.Scheduler` to a master.

The scheduler runs in the caller's process (the notebook kernel); the driver
keeps a background thread that owns the connection and calls the scheduler's
callbacks.  Driver methods may be called from callbacks (the usual case: they
go out with the same batch) or from any other thread.

Python tasks are serialised here, once per function object, so launching ten
thousand tasks of one function costs one ``dill`` pass.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Sequence
from typing import Any

from ..core import messages as m
from ..core.model import Filters, FrameworkInfo, InvalidArgument, Offer, TaskInfo, TaskStatus
from ..core.scheduler import Scheduler
from ..core.scheduler import as_filters as _filters
from ..core.scheduler import offer_ids as _offer_ids
from .serialize import Blob, SerializationError, dumps_call, loads_value
from .wire import AuthenticationError, Channel, Hub

__all__ = ["SchedulerDriver", "DriverStatus"]


class DriverStatus:
    NOT_STARTED = "DRIVER_NOT_STARTED"
    RUNNING = "DRIVER_RUNNING"
    STOPPED = "DRIVER_STOPPED"
    ABORTED = "DRIVER_ABORTED"


class SchedulerDriver:
    """Runs ``scheduler`` against the master at ``master`` = (host, port) with the cluster's ``secret``."""

    def __init__(
        self,
        scheduler: Scheduler,
        framework: FrameworkInfo,
        master: tuple[str, int],
        secret: bytes,
        reconnect_timeout: float = 10.0,
    ) -> None:
        if not isinstance(framework, FrameworkInfo):
            raise InvalidArgument(f"framework={framework!r} must be a jmesos.FrameworkInfo")
        missing = [
            name for name in ("resource_offers", "status_update") if not callable(getattr(scheduler, name, None))
        ]
        if missing:
            raise InvalidArgument(
                f"scheduler={scheduler!r} has no {missing[0]}() method; subclass jmesos.Scheduler and override the callbacks"
            )
        self.scheduler = scheduler
        self.framework = framework
        self.master = master
        self.framework_id: str | None = framework.id
        self.status = DriverStatus.NOT_STARTED
        self.errors: list[str] = []
        self.offers: dict[str, Offer] = {}
        self._secret = secret
        self._reconnect_timeout = reconnect_timeout
        self._hub = Hub(secret, "framework")
        self._channel: Channel | None = None
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self._done = threading.Event()
        self._registered = threading.Event()
        self._closing = False

    # ------------------------------------------------------------------ life cycle
    def start(self) -> str:
        """Connect, register and start calling back; returns the driver status."""
        if self.status != DriverStatus.NOT_STARTED:
            raise RuntimeError(f"this driver is {self.status}; make a new driver to run the framework again")
        try:
            self._channel = self._hub.connect(*self.master, name="master")
        except AuthenticationError:
            raise
        except OSError as exc:
            raise ConnectionError(
                f"cannot reach the master at {self.master[0]}:{self.master[1]} ({exc.strerror or exc}); is the cluster running?"
            ) from None
        self.status = DriverStatus.RUNNING
        self._hub.send(self._channel, m.RegisterFramework(self.framework))
        self._hub.flush()
        self._thread = threading.Thread(target=self._loop, name=f"jmesos-driver-{self.framework.name}", daemon=True)
        self._thread.start()
        return self.status

    def join(self, timeout: float | None = None) -> str:
        """Wait until the driver stops (``driver.stop()`` from a callback, or an abort)."""
        self._done.wait(timeout)
        return self.status

    def run(self) -> str:
        self.start()
        return self.join()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait_registered(self, timeout: float = 10.0) -> bool:
        return self._registered.wait(timeout)

    def stop(self, failover: bool = False) -> str:
        """End the framework (its tasks are killed), or with ``failover=True`` leave them running for a successor."""
        if self.status != DriverStatus.RUNNING:
            return self.status

        def bye() -> None:
            if self._channel is not None and self.framework_id is not None:
                message = (
                    m.DeactivateFramework(self.framework_id) if failover else m.UnregisterFramework(self.framework_id)
                )
                self._hub.send(self._channel, message)
            self._finish(DriverStatus.STOPPED)

        self._call(bye)
        return DriverStatus.STOPPED

    def abort(self) -> str:
        """Stop calling back at once without unregistering (the master treats it as a disconnection)."""
        self._call(lambda: self._finish(DriverStatus.ABORTED))
        return DriverStatus.ABORTED

    def _finish(self, status: str) -> None:
        self.status = status
        self._closing = True

    # ------------------------------------------------------------------ framework API
    def launch_tasks(self, offer_ids: Any, tasks: Sequence[TaskInfo], filters: Filters | None = None) -> None:
        """Launch ``tasks`` on one offer or a list of offers of one agent (ids or Offer objects).

        An empty task list declines the offers.  Unused resources go back with
        ``filters`` (default: refuse this agent for 5 s).
        """
        ids = _offer_ids(offer_ids)
        filters = _filters(filters)
        if isinstance(tasks, TaskInfo):
            tasks = [tasks]
        if not isinstance(tasks, (list, tuple)):
            raise InvalidArgument(f"tasks={tasks!r} must be a list of jmesos.TaskInfo")
        wire = [self._wire_task(t) for t in tasks]
        for offer_id in ids:
            self.offers.pop(offer_id, None)
        self._send(m.Accept(self._fid(), ids, wire, filters))

    def decline_offer(self, offer_id: Any, filters: Filters | None = None) -> None:
        ids = _offer_ids(offer_id)
        for one in ids:
            self.offers.pop(one, None)
        self._send(m.Decline(self._fid(), ids, _filters(filters)))

    def kill_task(self, task_id: str) -> None:
        if not isinstance(task_id, str) or not task_id:
            raise InvalidArgument(f"task_id={task_id!r} must be the task's id string")
        self._send(m.KillTask(self._fid(), task_id))

    def revive_offers(self) -> None:
        self._send(m.ReviveOffers(self._fid()))

    def suppress_offers(self) -> None:
        self._send(m.SuppressOffers(self._fid()))

    def acknowledge_status_update(self, status: TaskStatus) -> None:
        """Acknowledge an update (only needed with ``implicit_acknowledgements=False``)."""
        if not isinstance(status, TaskStatus):
            raise InvalidArgument(f"status={status!r} must be the TaskStatus given to status_update")
        if status.uuid and status.agent_id:
            self._send(m.Acknowledge(self._fid(), status.agent_id, status.task_id, status.uuid))

    def reconcile_tasks(self, statuses: Iterable[Any] = ()) -> None:
        """Ask for the latest state of these tasks (ids or statuses), or of all tasks when empty."""
        ids = [s.task_id if isinstance(s, TaskStatus) else s for s in statuses]
        if any(not isinstance(i, str) for i in ids):
            raise InvalidArgument("reconcile_tasks takes task ids or TaskStatus objects")
        self._send(m.Reconcile(self._fid(), ids))

    def send_framework_message(self, agent_id: str, data: Any, executor_id: str | None = None) -> None:
        """Send ``data`` to this framework's executor on ``agent_id``."""
        if not isinstance(agent_id, str):
            raise InvalidArgument(f"agent_id={agent_id!r} must be an agent id string such as 'agent-1'")
        self._send(m.FrameworkToExecutor(self._fid(), agent_id, data))

    # ------------------------------------------------------------------ internals
    def _fid(self) -> str:
        if self.framework_id is None:
            raise RuntimeError("the framework is not registered yet; call driver methods from callbacks")
        return self.framework_id

    def _wire_task(self, task: TaskInfo) -> TaskInfo:
        if not isinstance(task, TaskInfo):
            raise InvalidArgument(f"{task!r} is not a TaskInfo; build tasks with jmesos.TaskInfo(...)")
        if task.fn is None:
            return task
        try:
            payload = dumps_call(task.fn, task.args, task.kwargs)
        except SerializationError as exc:
            raise InvalidArgument(f"task {task.task_id!r}: {exc}") from None
        return dataclasses.replace(task, fn=None, args=(), kwargs={}, payload=payload)

    def _on_loop_thread(self) -> bool:
        return threading.get_ident() == self._thread_id

    def _call(self, fn: Any) -> None:
        if self._on_loop_thread():
            fn()
        else:
            self._hub.call_soon(fn)

    def _send(self, message: m.Message) -> None:
        if self.status != DriverStatus.RUNNING:
            raise RuntimeError(f"the driver is {self.status}; it cannot send {message.kind}")
        if self._on_loop_thread():
            if self._channel is not None:
                self._hub.send(self._channel, message)
        else:
            self._hub.call_soon(lambda: self._channel is not None and self._hub.send(self._channel, message))

    def _callback(self, name: str, *args: Any) -> None:
        method = getattr(self.scheduler, name, None)
        if method is None or self._closing:  # a stopped framework hears nothing more
            return
        try:
            method(self, *args)
        except Exception as exc:
            text = f"{type(self.scheduler).__name__}.{name} raised {type(exc).__name__}: {exc}"
            self.errors.append(text)
            print(f"jmesos: {text}\n{traceback.format_exc()}", file=sys.stderr)

    def _loop(self) -> None:
        self._thread_id = threading.get_ident()
        try:
            while not self._closing:
                events = self._hub.poll(0.5)
                for event in events:
                    if event.kind == "messages":
                        for message in event.messages:
                            self._dispatch(message)
                            if self._closing:
                                break
                    elif event.kind == "closed" and not self._closing:
                        self._reconnect()
                    if self._closing:
                        break
        finally:
            self._hub.flush()
            if self._channel is not None:
                self._hub.close(self._channel)
            self._hub.shutdown()
            if self.status == DriverStatus.RUNNING:
                self.status = DriverStatus.ABORTED
            self._done.set()

    def _reconnect(self) -> None:
        self._callback("disconnected")
        deadline = time.monotonic() + max(self._reconnect_timeout, self.framework.failover_timeout)
        while time.monotonic() < deadline and not self._closing:
            try:
                self._channel = self._hub.connect(*self.master, name="master", timeout=1.0)
            except (OSError, AuthenticationError):
                time.sleep(0.2)
                continue
            info = dataclasses.replace(self.framework, id=self.framework_id)
            self._hub.send(self._channel, m.RegisterFramework(info))
            return
        message = f"lost the master at {self.master[0]}:{self.master[1]} and could not reconnect"
        self.errors.append(message)
        self._callback("error", message)
        self._finish(DriverStatus.ABORTED)

    def _dispatch(self, message: m.Message) -> None:
        if isinstance(message, m.ResourceOffers):
            for offer in message.offers:
                self.offers[offer.id] = offer
            self._callback("resource_offers", list(message.offers))
        elif isinstance(message, m.StatusUpdate):
            status = message.status
            if isinstance(status.data, Blob):
                try:
                    status.data = loads_value(status.data)
                except Exception as exc:
                    status.data = None
                    status.message = (status.message + "\n" if status.message else "") + (
                        f"the result could not be loaded here: {type(exc).__name__}: {exc}"
                    )
            self._callback("status_update", status)
            if self.framework.implicit_acknowledgements and status.uuid and status.agent_id and self.framework_id:
                if self._channel is not None and self.status == DriverStatus.RUNNING:
                    self._hub.send(
                        self._channel, m.Acknowledge(self.framework_id, status.agent_id, status.task_id, status.uuid)
                    )
        elif isinstance(message, m.FrameworkRegistered):
            self.framework_id = message.framework_id
            self.framework.id = message.framework_id
            self._registered.set()
            if message.reregistered:
                self._callback("reregistered", message.master)
            else:
                self._callback("registered", message.framework_id, message.master)
        elif isinstance(message, m.RescindOffer):
            self.offers.pop(message.offer_id, None)
            self._callback("offer_rescinded", message.offer_id)
        elif isinstance(message, m.AgentLost):
            self._callback("agent_lost", message.agent_id)
        elif isinstance(message, m.ExecutorLost):
            self._callback("executor_lost", message.executor_id, message.agent_id, message.status)
        elif isinstance(message, m.ExecutorToFramework):
            data = message.data
            if isinstance(data, Blob):  # the agent could not open it; it travels as serialised bytes
                try:
                    data = loads_value(data)
                except Exception as exc:
                    self.errors.append(f"framework message from {message.agent_id} could not be loaded: {exc!r}")
                    return
            self._callback("framework_message", message.agent_id, data)
        elif isinstance(message, m.FrameworkError):
            self.errors.append(message.message)
            self._callback("error", message.message)
            if not self._registered.is_set() or "failed over" in message.message or "was removed" in message.message:
                self._finish(DriverStatus.ABORTED)
