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
from typing import Any

from ..core import messages as m
from ..core.model import FrameworkInfo, InvalidArgument, Offer, TaskInfo
from ..core.scheduler import FrameworkAPI, Scheduler, check_failover, check_scheduler
from ..core.states import TaskState
from .serialize import Blob, SerializationError, _dill, dumps_call, dumps_value, loads_value
from .tracebacks import with_notebook_sources
from .wire import AuthenticationError, Channel, Hub

__all__ = ["SchedulerDriver", "DriverStatus"]


class DriverStatus:
    NOT_STARTED = "DRIVER_NOT_STARTED"
    RUNNING = "DRIVER_RUNNING"
    STOPPED = "DRIVER_STOPPED"
    ABORTED = "DRIVER_ABORTED"


class SchedulerDriver(FrameworkAPI):
    """Runs ``scheduler`` against the master at ``master`` = (host, port) with the cluster's ``secret``."""

    _callbacks_on_own_thread = True

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
        check_scheduler(scheduler)
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
        self._master_gone: str | None = None

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
        """Wait until the driver stops (``driver.stop()`` from a callback, or an abort).

        From one of the scheduler's own callbacks it returns at once: the loop that calls them
        cannot end while a callback waits for it.
        """
        if self._on_loop_thread():
            return self.status
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
        check_failover(failover)
        if self.status != DriverStatus.RUNNING:
            return self.status

        def bye() -> None:
            if self._channel is not None and self.framework_id is not None:
                self._hub.hurry(self._channel)  # acknowledgements first: a successor must not get them again
                message = (
                    m.DeactivateFramework(self.framework_id) if failover else m.UnregisterFramework(self.framework_id)
                )
                self._hub.send(self._channel, message)
            self._finish(DriverStatus.STOPPED)

        self._call(bye)
        return DriverStatus.STOPPED

    def abort(self) -> str:
        """Stop calling back at once without unregistering (the master treats it as a disconnection)."""
        if self.status != DriverStatus.RUNNING:
            return self.status
        self._call(lambda: self._finish(DriverStatus.ABORTED))
        return DriverStatus.ABORTED

    def master_lost(self, reason: str) -> None:
        """The master is gone for good (its process exited): tell the scheduler and abort now, not after retries."""
        self._master_gone = reason  # read by a reconnection in progress, which holds the loop thread

        def give_up() -> None:
            if self.status == DriverStatus.RUNNING:
                self._give_up(reason)

        self._call(give_up)

    def _give_up(self, reason: str) -> None:
        self.errors.append(reason)
        self._callback("error", reason)
        self._finish(DriverStatus.ABORTED)

    def _finish(self, status: str) -> None:
        self.status = status
        self._closing = True

    # ------------------------------------------------------------------ internals
    def _wire_task(self, task: TaskInfo) -> TaskInfo:
        if not isinstance(task, TaskInfo):
            raise InvalidArgument(f"{task!r} is not a TaskInfo; build tasks with jmesos.TaskInfo(...)")
        if task.fn is None:
            return task
        try:
            payload = dumps_call(task.fn, task.args, task.kwargs)
        except SerializationError as exc:
            raise InvalidArgument(f"task {task.task_id!r}: {exc}") from None
        # a shallow copy, made directly: replace() would check it all again, on the launch's path, and
        # copy.copy goes through __reduce_ex__ and four Python calls to get the same dict copied
        wire = object.__new__(TaskInfo)
        wire.__dict__.update(task.__dict__)
        wire.fn, wire.args, wire.kwargs, wire.payload = None, (), {}, payload
        return wire

    def _wire_data(self, data: Any) -> Blob:
        try:
            return dumps_value(data, "data")
        except SerializationError as exc:
            raise InvalidArgument(f"{exc}; send plain values (numbers, strings, lists, dicts...) as messages") from None

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

    def _listening(self) -> bool:
        return not self._closing  # a stopped framework hears nothing more

    def _report(self, text: str) -> None:
        print(text, file=sys.stderr)

    def _loop(self) -> None:
        self._thread_id = threading.get_ident()
        try:
            _dill()  # while the master registers us, not on the first offer (a few ms of import)
        except ImportError:
            pass
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
        except BaseException as exc:  # noqa: BLE001 - a driver that dies must say so, and still let go
            text = f"the driver stopped on {type(exc).__name__}: {exc}"
            self.errors.append(text)
            self._report(f"jmesos: {text}")
            self.status = DriverStatus.ABORTED
        finally:
            try:
                self._hub.flush()
            except Exception:  # noqa: BLE001 - whatever could not leave is lost with the connection
                pass
            try:
                if self._channel is not None:
                    self._hub.close(self._channel)
                self._hub.shutdown()
            finally:
                if self.status == DriverStatus.RUNNING:
                    self.status = DriverStatus.ABORTED
                self._done.set()

    def _reconnect(self) -> None:
        self._callback("disconnected")
        deadline = time.monotonic() + max(self._reconnect_timeout, self.framework.failover_timeout)
        while time.monotonic() < deadline and not self._closing and self._master_gone is None:
            try:
                self._channel = self._hub.connect(*self.master, name="master", timeout=1.0)
            except (OSError, AuthenticationError):
                time.sleep(0.2)
                continue
            info = dataclasses.replace(self.framework, id=self.framework_id)
            self._hub.send(self._channel, m.RegisterFramework(info))
            return
        if not self._closing:
            self._give_up(
                self._master_gone or f"lost the master at {self.master[0]}:{self.master[1]} and could not reconnect"
            )

    def _dispatch(self, message: m.Message) -> None:
        if self._deliver_offer_news(message):
            return
        if isinstance(message, m.StatusUpdate):
            status = message.status
            if isinstance(status.data, Blob):
                try:
                    status.data = loads_value(status.data)
                except Exception as exc:
                    status.data = None
                    status.message = (status.message + "\n" if status.message else "") + (
                        f"the result could not be loaded here: {type(exc).__name__}: {exc}"
                    )
            if status.state == TaskState.TASK_FAILED and status.message:  # the notebook's own lines
                status.message = with_notebook_sources(status.message)
            self._callback("status_update", status)
            if self.framework.implicit_acknowledgements and status.uuid and status.agent_id and self.framework_id:
                if self._channel is not None and self.status == DriverStatus.RUNNING:
                    ack = m.Acknowledge(self.framework_id, status.agent_id, status.task_id, status.uuid)
                    self._hub.send(self._channel, ack, lazy=True)  # rides with the next message out
        elif isinstance(message, m.FrameworkRegistered):
            self.framework_id = message.framework_id
            self.framework.id = message.framework_id
            self._registered.set()
            if message.reregistered:
                self._callback("reregistered", message.master)
            else:
                self._callback("registered", message.framework_id, message.master)
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
            self._refused(message.message)
            if not self._registered.is_set() or "failed over" in message.message or "was removed" in message.message:
                self._finish(DriverStatus.ABORTED)
