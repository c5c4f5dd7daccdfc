"""The live agent: registers with the master, runs tasks, and reports their status reliably.

One process, one thread, one selector loop (the :class:`~jmesos.runtime.wire.Hub`)
over the master's connection, the pipes of the Python workers and a pidfd per
child process.  What it does, as a Mesos agent does:

- **registers** (``RegisterAgent`` → ``AgentRegistered``), answers the master's
  health checks (``Ping`` → ``Pong``) and, when the connection drops, keeps
  reconnecting (backoff up to 1 s) and re-registers with its id; if the master
  forgot it and gives it a new id, its old tasks are orphans and are killed.
  It gives up after ``master_timeout`` seconds without a master, or (with
  ``master_refused_timeout``, for a master that never restarts, such as a
  ``LocalCluster``'s) once connections have been refused that long: nothing
  listens at the master's address any more;
- **runs tasks**: Python tasks (``TaskInfo.payload``) on the framework's
  executor (:mod:`.executor`: a pool of reused, forked workers) and shell
  tasks (``TaskInfo.command``, :mod:`.command`), each in a container
  (:mod:`.containers`) that enforces its ``mem`` and ``cpus``.  A task's
  output goes to ``stdout`` and ``stderr`` in its sandbox
  ``{work_dir}/{agent_id}/{framework_id}/{task_id}/`` (see :func:`sandbox_path`);
  a shell task runs in it; a Python task's sandbox is made only when there is
  something to keep (output, a failure, a run longer than 0.1 s, or a call to
  ``jmesos.runtime.executor.sandbox()``), which saves ~150 us per small task;
- **reports status updates** (TASK_STARTING, TASK_RUNNING, then one terminal
  state) and keeps each one until the master acknowledges it, resending those
  left unacknowledged after ``status_retry_interval`` (with backoff, and more
  for a big result, see :data:`RETRY_BYTES_PER_SECOND`) and all of
  them after a reconnection — so no update is lost, and per task they arrive
  in order.  STARTING and RUNNING are held back a few milliseconds so that a
  fast task's three updates leave in one frame;
- **kills** tasks (``KillTaskOnAgent``; a framework's all, quietly, on
  ``ShutdownFramework``) and, on SIGTERM/SIGINT or when the master asks
  (``ShutdownAgent``), everything, removing its cgroups before it exits.

Nothing a framework sends can take the agent down: a malformed task, a payload
that cannot be loaded, a task that crashes its worker — each ends in a status
update that says what happened, or in a line on stderr.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import heapq
import itertools
import math
import os
import re
import shutil
import signal
import socket
import sys
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ..core import messages as m
from ..core.model import AgentInfo, TaskInfo, TaskStatus
from ..core.resources import ResourceError, Resources
from ..core.states import Reason, TaskState
from .command import CommandProcess, LaunchError, describe_exit, launch_command
from .containers import ISOLATION_MODES, Container, Isolator, make_isolator
from .executor import ERROR, KILL_GRACE, MEMORY, PROMOTE_AFTER, PythonExecutor, Worker, new_worker, remove_captures
from .options import CommandParser, as_option, seconds
from .serialize import Blob
from .wire import AuthenticationError, Channel, Hub, NotAMasterError, read_secret

__all__ = ["run_agent", "main", "sandbox_path", "sandbox_pattern", "Agent"]

#: STARTING/RUNNING of a task wait this long for its end, so a fast task's updates share a frame.
START_REPORT_DELAY = 0.005
#: Grace between SIGTERM and SIGKILL when the agent itself shuts down.
SHUTDOWN_GRACE = 1.0
#: Kills of tasks that ended this recently are ignored rather than answered with TASK_LOST.
_RECENT_DONE = 10_000
_MAX_RETRY_BACKOFF = 8  # resend after interval, 2x, 4x, then every 8x the interval
#: a big result is given time to travel before it is resent: a second for every this many bytes.
#: A 100 MB result takes seconds to pass agent, master and framework; resent every second meanwhile,
#: its copies queued behind each other and kept the master busy unpickling them, minutes on end.
RETRY_BYTES_PER_SECOND = 10 * 2**20
_SOURCE_AGENT = "SOURCE_AGENT"
_SOURCE_EXECUTOR = "SOURCE_EXECUTOR"


def _log(text: str) -> None:
    print(f"jmesos agent: {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ sandboxes
_PLAIN = re.compile(r"[A-Za-z0-9_.:@+,=~-]{1,200}")
_prefixes: dict[tuple[str, str, str], str] = {}


def _path_part(name: Any) -> str:
    """A path component for an id that may hold anything: ``/``, ``..``, spaces, 300 characters."""
    text = str(name)
    if _PLAIN.fullmatch(text) and text not in (".", ".."):
        return text  # the usual case, checked without quoting
    text = quote(text, safe="@+,=:-_.~")
    if text in ("", ".", ".."):
        text = text.replace(".", "%2E") or "%00"
    if len(text) > 200:
        text = text[:160] + "~" + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    return text


def sandbox_path(work_dir: str, agent_id: str, framework_id: str, task_id: str) -> str:
    """The directory a task runs in and writes its ``stdout``/``stderr`` files to.

    ``{work_dir}/{agent_id}/{framework_id}/{task_id}``, with each id escaped
    so that a task id such as ``"../x"`` stays inside ``work_dir``.
    """
    key = (work_dir, agent_id, framework_id)
    prefix = _prefixes.get(key)
    if prefix is None:
        if len(_prefixes) > 1024:
            _prefixes.clear()
        prefix = _prefixes[key] = os.path.join(work_dir, _path_part(agent_id), _path_part(framework_id))
    return f"{prefix}{os.sep}{_path_part(task_id)}"


def sandbox_pattern(work_dir: str, task_id: str, framework_id: str | None = None) -> str:
    """A glob pattern for the sandboxes of ``task_id`` on any agent under ``work_dir`` (of any framework if None)."""
    framework = glob.escape(_path_part(framework_id)) if framework_id is not None else "*"
    return os.path.join(glob.escape(work_dir), "*", framework, glob.escape(_path_part(task_id)))


def _sweep_capture_dirs(work_dir: str) -> None:
    """Remove the capture directories of agents that died without cleaning up."""
    try:
        names = os.listdir(work_dir)
    except OSError:
        return
    for name in names:
        if name.startswith(".jmesos-capture-"):
            pid = name.rsplit("-", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not os.path.exists(f"/proc/{pid}"):
                shutil.rmtree(os.path.join(work_dir, name), ignore_errors=True)


# ------------------------------------------------------------------------------ records
class _Task:
    """The agent's record of one task, from launch until its last update is acknowledged."""

    __slots__ = (
        "framework_id",
        "task_id",
        "key",
        "info",
        "sandbox",
        "mem",
        "cpus",
        "worker",
        "proc",
        "queued_at",
        "dispatched_at",
        "started",
        "killing",
        "quiet",
        "terminal",
        "unacked",
        "latest",
        "source",
        "capture_gen",
    )

    def __init__(self, framework_id: str, task_id: str, info: Any) -> None:
        self.framework_id = framework_id
        self.task_id = task_id
        self.key = (framework_id, task_id)
        self.info = info
        self.sandbox = ""
        self.mem = 0.0
        self.cpus = 0.0
        self.worker: Any = None
        self.proc: CommandProcess | None = None
        self.queued_at = 0.0
        self.dispatched_at = 0.0
        self.started = False  # STARTING and RUNNING sent
        self.killing = False
        self.quiet = False  # end without status updates (orphans, ShutdownFramework, agent shutdown)
        self.terminal = False
        self.unacked = 0
        self.latest: TaskStatus | None = None
        self.source = _SOURCE_EXECUTOR
        self.capture_gen = 0  # which of its worker's capture files the task writes to


class _Pending:
    """A status update waiting for its acknowledgement."""

    __slots__ = ("status", "task", "due", "tries", "message", "travel")

    def __init__(self, status: TaskStatus, task: _Task, due: float) -> None:
        self.status = status
        self.task = task
        self.due = due
        self.tries = 0
        self.message = m.StatusUpdate(status)
        data = status.data
        #: seconds a result this big may take to reach the framework, on top of the retry interval
        self.travel = len(data) / RETRY_BYTES_PER_SECOND if isinstance(data, (bytes, bytearray)) else 0.0


def _validate(info: Any) -> str:
    """Why ``info`` cannot run here, or '' when it can."""
    if not isinstance(info, TaskInfo):
        return f"{type(info).__name__} is not a TaskInfo"
    if not isinstance(info.resources, Resources):
        return f"resources={info.resources!r} is not a jmesos.Resources"
    command, payload = info.command, info.payload
    if command is not None and payload is not None:
        return "the task has both a command and a Python payload; it must have one"
    if command is None and payload is None:
        if info.fn is not None:
            return "the task's fn was not serialised by the framework's driver (payload is empty)"
        return "the task has no code to run: give it fn=... or command='...'"
    if command is not None and (not isinstance(command, str) or not command.strip()):
        return f"command={command!r} is not a shell command"
    if payload is not None and not isinstance(payload, (bytes, bytearray)):
        return f"payload is {type(payload).__name__}, not bytes"
    if not isinstance(info.env, dict) or not all(isinstance(k, str) for k in info.env):
        return f"env={info.env!r} must be a dict of str to str"
    return ""


# ------------------------------------------------------------------------------ the agent
class Agent:
    """One agent process's state and loop; :func:`run_agent` is the public way to run one."""

    def __init__(
        self,
        master: tuple[str, int],
        secret: bytes,
        resources: Resources,
        *,
        attributes: dict | None = None,
        hostname: str | None = None,
        work_dir: str,
        status_retry_interval: float = 1.0,
        master_timeout: float = 60.0,
        master_refused_timeout: float | None = None,
        isolation: str = "auto",
        on_registered: Callable[[str], None] | None = None,
        cpu_quota: bool = False,
        max_workers: int = 256,
    ) -> None:
        if not isinstance(resources, Resources) or not resources:
            raise ValueError(
                f"resources={resources!r} must be non-empty jmesos.Resources, e.g. Resources(cpus=2, mem='1GiB')"
            )
        if isolation not in ISOLATION_MODES:
            raise ValueError(f"isolation={isolation!r} must be one of {', '.join(ISOLATION_MODES)}")
        timeouts = [("status_retry_interval", status_retry_interval), ("master_timeout", master_timeout)]
        if master_refused_timeout is not None:
            timeouts.append(("master_refused_timeout", master_refused_timeout))
        for name, value in timeouts:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name}={value!r} must be a number of seconds > 0")
        if not work_dir:
            raise ValueError("work_dir is empty; give the agent a directory for its sandboxes")
        self.master = (str(master[0]), int(master[1]))
        self.secret = secret
        self.resources = resources
        self.attributes = {str(k): str(v) for k, v in (attributes or {}).items()}
        self.hostname = hostname or socket.gethostname()
        self.work_dir = os.path.abspath(work_dir)
        self.retry_interval = float(status_retry_interval)
        self.master_timeout = float(master_timeout)
        self.master_refused_timeout = None if master_refused_timeout is None else float(master_refused_timeout)
        self.isolation_mode = isolation
        self.on_registered = on_registered
        self.cpu_quota = cpu_quota
        self.max_workers = max_workers
        self.parallel = max(1, math.ceil(resources.cpus or 1))

        self.hub = Hub(secret, "agent")
        self.isolator: Isolator = Isolator()
        self.channel: Channel | None = None
        self.agent_id: str | None = None
        self.registered = False
        self.ping_interval = 1.0
        self.last_heard = time.monotonic()
        self.lost_at: float | None = time.monotonic()
        self.refused_since: float | None = None  # every connection attempt since then was refused
        self._backoff = 0.05
        self._reconnect_timer: list | None = None
        self.stopping = False
        self.exit_code = 0

        self.tasks: dict[tuple[str, str], _Task] = {}
        self.executors: dict[str, PythonExecutor] = {}
        self._recent_done: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._unacked: dict[str, _Pending] = {}
        self._retry_at = math.inf
        self._uuid_prefix = os.urandom(6).hex() + "-"
        self._uuid_seq = itertools.count(1)
        self._pending_start: deque[_Task] = deque()
        self._pending_promote: deque[_Task] = deque()
        self.capture_dir = os.path.join(self.work_dir, f".jmesos-capture-{os.getpid()}")
        self._queued_executors: set[PythonExecutor] = set()
        self._waiting_executors: set[PythonExecutor] = set()
        self._blocked_workers: set[Any] = set()  # workers whose command pipe is full
        self._timers: list[list] = []
        self._timer_seq = itertools.count()
        self._children: dict[int, tuple[int | None, Callable[[int], None], Callable[[], None] | None]] = {}
        self._polled_children = False
        self._next_housekeeping = time.monotonic() + 1.0
        self.spare: Worker | None = None  # a worker forked ahead of need: see _make_spare
        self._handlers: dict[type, Callable[[Any], None]] = {
            m.RunTasks: self._on_run_tasks,
            m.KillTaskOnAgent: self._on_kill_task,
            m.StatusUpdateAck: self._on_ack,
            m.Ping: self._on_ping,
            m.AgentRegistered: self._on_registered,
            m.ShutdownFramework: self._on_shutdown_framework,
            m.ShutdownAgent: self._on_shutdown_agent,
            m.FrameworkToExecutor: self._on_framework_message,
        }

    # ================================================================ running
    def run(self) -> int:
        """Serve until stopped; returns 0 after SIGTERM/SIGINT, 1 when the master stayed away too long."""
        from .serialize import _dill

        try:
            _dill()  # imported once here, so no forked worker pays for it on its first task
        except ImportError:
            pass
        previous = {}

        def stop(*_: Any) -> None:
            self.stopping = True
            self.hub.call_soon(lambda: None)

        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                previous[sig] = signal.signal(sig, stop)
            except ValueError:  # not the main thread: the caller stops us some other way
                pass
        clean = False
        try:
            os.makedirs(self.work_dir, exist_ok=True)
            _sweep_capture_dirs(self.work_dir)
            os.makedirs(self.capture_dir, exist_ok=True)
            self.isolator = make_isolator(self.isolation_mode, self.cpu_quota)
            self._connect(first=True)
            while not self.stopping:
                self._iterate()
            clean = True
        finally:
            self._cleanup(unregister=clean and self.exit_code == 0)
            for sig, handler in previous.items():
                try:
                    signal.signal(sig, handler)
                except (ValueError, TypeError):
                    pass
        return self.exit_code

    def _iterate(self) -> None:
        now = time.monotonic()
        timeout = max(0.0, min(self._next_deadline(now), now + 1.0) - now)
        for event in self.hub.poll(timeout):
            try:
                if event.kind == "messages":
                    if event.channel is not self.channel:
                        continue
                    self.last_heard = time.monotonic()
                    for message in event.messages:
                        self._dispatch(message)
                elif event.kind == "closed":
                    if event.channel is self.channel:
                        self._master_lost("the master closed the connection")
                elif event.kind == "refused":
                    _log(event.detail)
            except Exception:  # noqa: BLE001 - nothing the master sends may kill the agent
                _log(f"error handling {event.kind}:\n{traceback.format_exc()}")
        # what the events produced (a task's end frees resources the master is waiting to offer)
        # leaves before the housekeeping, in one frame however many tasks ended together
        self.hub.flush()
        if self.channel is not None and self.channel.closed:  # a failed write closes it without an event
            self._master_lost("the connection to the master broke")
        self._tick(time.monotonic())

    def _dispatch(self, message: Any) -> None:
        handler = self._handlers.get(type(message))
        if handler is None:
            _log(f"ignoring unexpected message {type(message).__name__}")
            return
        try:
            handler(message)
        except Exception:  # noqa: BLE001
            _log(f"error handling {type(message).__name__}:\n{traceback.format_exc()}")

    def _next_deadline(self, now: float) -> float:
        deadline = self._next_housekeeping
        if self._timers:
            deadline = min(deadline, self._timers[0][0])
        pending = self._pending_start
        while pending and pending[0].terminal:  # ended already: no wake-up for it
            pending.popleft()
        if pending:
            deadline = min(deadline, pending[0].dispatched_at + START_REPORT_DELAY)
        promote = self._pending_promote
        while promote and promote[0].terminal:
            promote.popleft()
        if promote:
            deadline = min(deadline, promote[0].dispatched_at + PROMOTE_AFTER)
        if self.registered and self._retry_at < deadline:
            deadline = self._retry_at
        for executor in self._queued_executors:
            deadline = min(deadline, executor.next_deadline())
        for executor in self._waiting_executors:
            deadline = min(deadline, executor.waiter_deadline())
        if self._polled_children:
            deadline = min(deadline, now + 0.02)
        if self._blocked_workers:
            deadline = min(deadline, now + 0.001)
        return deadline

    def _tick(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            entry = heapq.heappop(timers)
            if not entry[3]:
                self._safely(entry[2])
        if self._queued_executors:
            for executor in list(self._queued_executors):
                self._safely(lambda e=executor: e.balance(now))
                if not executor.queue:
                    self._queued_executors.discard(executor)
        pending = self._pending_start
        while pending and pending[0].dispatched_at + START_REPORT_DELAY <= now:
            task = pending.popleft()
            if not task.started and not task.terminal and (task.worker is not None or task.proc is not None):
                self._report_start(task)
                if task.worker is not None:
                    self._pending_promote.append(task)
        promote = self._pending_promote
        while promote and promote[0].dispatched_at + PROMOTE_AFTER <= now:
            task = promote.popleft()
            executor = self.executors.get(task.framework_id)
            if executor is not None and not task.terminal:
                executor.promote(task)
        if self.registered and self._retry_at <= now:
            self._resend(now, everything=False)
        if self._waiting_executors:
            for executor in list(self._waiting_executors):
                executor.expire_waiters(now)
                if not executor.waiters:
                    self._waiting_executors.discard(executor)
        if self._blocked_workers:
            for worker in list(self._blocked_workers):
                if not worker.write() or not worker.outbuf:
                    self._blocked_workers.discard(worker)
        if self._polled_children:
            self._poll_children()
        if now >= self._next_housekeeping:
            self._housekeeping(now)

    def _safely(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001
            _log(f"internal error:\n{traceback.format_exc()}")

    def _housekeeping(self, now: float) -> None:
        self._next_housekeeping = now + 1.0
        if self.spare is None and self.registered:
            self._make_spare()
        for worker_owner in list(self.executors.values()):
            worker_owner.retire_idle(now)
        for framework_id, executor in list(self.executors.items()):
            if executor.is_empty() and not executor.inbox:
                del self.executors[framework_id]
        if self.channel is not None and now - self.last_heard > self._silence_timeout():
            _log(f"nothing from the master for {now - self.last_heard:.1f}s; reconnecting")
            self.hub.close(self.channel)
            self._master_lost("the master stopped answering")
        if self.lost_at is not None and now - self.lost_at > self.master_timeout:
            self._give_up(
                f"the master at {self.master[0]}:{self.master[1]} has been unreachable for {self.master_timeout:g}s"
            )
        refused, limit = self.refused_since, self.master_refused_timeout
        if refused is not None and limit is not None and now - refused > limit:
            self._give_up(
                f"nothing listens at the master's address {self.master[0]}:{self.master[1]} any more "
                f"(connections refused for {limit:g}s)"
            )

    def _give_up(self, why: str) -> None:
        """Without a master there is nothing to serve: leave as after SIGTERM, but exit 1."""
        _log(f"{why}; shutting down")
        self.exit_code = 1
        self.stopping = True

    def _silence_timeout(self) -> float:
        return max(5.0, 4.0 * self.ping_interval)

    # ================================================================ timers and children
    def call_later(self, delay: float, fn: Callable[[], Any]) -> list:
        """Run ``fn`` on the loop after ``delay`` seconds; returns a handle for :meth:`cancel`."""
        entry = [time.monotonic() + delay, next(self._timer_seq), fn, False]
        heapq.heappush(self._timers, entry)
        return entry

    @staticmethod
    def cancel(entry: list | None) -> None:
        if entry is not None:
            entry[3] = True

    def watch_child(
        self, pid: int, on_exit: Callable[[int], None], before_reap: Callable[[], None] | None = None
    ) -> None:
        """Call ``on_exit(status)`` (exit code, or minus the signal) when child ``pid`` ends; reaps it."""
        try:
            fd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            fd = None
        self._children[pid] = (fd, on_exit, before_reap)
        if fd is None:
            self._polled_children = True
        else:
            self.hub.add_reader(fd, lambda: self._safely(lambda: self._child_ready(pid)))

    def _child_ready(self, pid: int, block: bool = False) -> bool:
        entry = self._children.get(pid)
        if entry is None:
            return True
        fd, on_exit, before_reap = entry
        if before_reap is not None:
            try:
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None and not block:
                    return False
            except ChildProcessError:
                pass
            self._safely(before_reap)
        try:
            wpid, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            wpid, status = pid, 0
        if wpid == 0:
            return False
        del self._children[pid]
        if fd is not None:
            self.hub.remove_reader(fd)
            os.close(fd)
        self._safely(lambda: on_exit(os.waitstatus_to_exitcode(status)))
        return True

    def _poll_children(self) -> None:
        for pid, (fd, _, _) in list(self._children.items()):
            if fd is None:
                self._child_ready(pid)
        self._polled_children = any(fd is None for fd, _, _ in self._children.values())

    def destroy_container(self, container: Container, attempts: int = 40) -> None:
        """Remove a container now, or keep trying for a while (its processes may take a moment to go)."""
        try:
            if container.destroy(0.0):
                return
        except OSError as exc:
            _log(f"cannot remove container {container.name}: {exc}")
            return
        if attempts > 0:
            self.call_later(0.05, lambda: self.destroy_container(container, attempts - 1))
        else:
            _log(f"container {container.name} is still busy; it is removed when the agent stops")

    # ================================================================ the spare worker
    def _make_spare(self) -> None:
        """Fork a Python worker before any task needs one.

        A framework's first Python task on this agent then starts in about
        3 ms instead of 15 (the fork, and a new worker's first steps).  A
        taken spare is replaced at the next housekeeping, away from the burst
        of starting tasks.
        """
        if self.spare is not None or self.stopping:
            return
        worker = new_worker(self)
        if worker is None:
            return
        worker.on_exit = lambda status, w=worker: self._spare_exited(w)
        self.spare = worker

    def take_spare(self) -> Worker | None:
        """The spare worker, now the caller's (who sets its ``on_exit``), or None."""
        worker, self.spare = self.spare, None
        if worker is not None and (worker.dead or worker.cmd_fd < 0):
            return None
        return worker

    def _spare_exited(self, worker: Worker) -> None:
        if self.spare is worker:
            self.spare = None
        worker.dead = True
        worker.close_pipes()
        remove_captures(self.capture_dir, worker.pid)
        self.destroy_container(worker.container)

    # ================================================================ the master
    def _connect(self, first: bool = False) -> None:
        """Connect and send RegisterAgent; on failure, try again later (with backoff)."""
        self._reconnect_timer = None
        if self.channel is not None or self.stopping:
            return
        try:
            channel = self.hub.connect(*self.master, name="master", timeout=1.0)
        except AuthenticationError as exc:
            if first:
                raise  # the caller says why, once
            self._retry_connect(str(exc))
            return
        except OSError as exc:
            refused = isinstance(exc, ConnectionRefusedError)
            self.refused_since = (self.refused_since or time.monotonic()) if refused else None
            why = exc.strerror or str(exc) or type(exc).__name__
            if first:  # said once, at once; the retries are quiet until the master answers or time runs out
                limit = self.master_timeout
                if refused and self.master_refused_timeout is not None:
                    limit = min(limit, self.master_refused_timeout)
                _log(
                    f"cannot reach the master at {self.master[0]}:{self.master[1]} "
                    f"({why[:1].lower() + why[1:]}); retrying for {limit:g}s"
                )
            self._retry_connect(why)
            return
        self.refused_since = None
        self.channel = channel
        self.last_heard = time.monotonic()
        self._backoff = 0.05
        info = AgentInfo(self.hostname, self.resources, dict(self.attributes), id=self.agent_id)
        running = [t.latest for t in self.tasks.values() if not t.terminal and t.latest is not None]
        self.hub.send(channel, m.RegisterAgent(info, running))

    def _retry_connect(self, why: str) -> None:
        if self._reconnect_timer is None:
            self._reconnect_timer = self.call_later(self._backoff, self._connect)
            self._backoff = min(1.0, self._backoff * 2)

    def _master_lost(self, why: str) -> None:
        if self.channel is None:
            return
        self.channel = None
        if self.registered:
            _log(f"lost the master ({why}); reconnecting")
        self.registered = False
        if self.lost_at is None:
            self.lost_at = time.monotonic()
        self._retry_connect(why)

    def _on_registered(self, msg: m.AgentRegistered) -> None:
        new_id = msg.agent_id
        if not isinstance(new_id, str) or not new_id:
            _log(f"ignoring AgentRegistered with agent_id={new_id!r}")
            return
        old_id = self.agent_id
        if isinstance(msg.ping_interval, (int, float)) and msg.ping_interval > 0:
            self.ping_interval = float(msg.ping_interval)
        self.registered = True
        self.lost_at = None
        self.agent_id = new_id
        if old_id is not None and old_id != new_id:
            self._orphan_everything(old_id, new_id)
        elif old_id == new_id:
            self._resend(time.monotonic(), everything=True)
        if old_id != new_id and self.on_registered is not None:
            try:
                self.on_registered(new_id)
            except Exception:  # noqa: BLE001
                _log(f"on_registered({new_id!r}) raised:\n{traceback.format_exc()}")
        if self.spare is None:
            self._make_spare()

    def _orphan_everything(self, old_id: str, new_id: str) -> None:
        """The master removed us and registered us anew: our tasks are not known to anyone."""
        live = [t for t in self.tasks.values() if not t.terminal]
        _log(
            f"the master registered this agent again as {new_id} (it was {old_id}); "
            f"killing {len(live)} orphaned task(s)"
        )
        self._unacked.clear()
        self._retry_at = math.inf
        for task in list(self.tasks.values()):
            task.unacked = 0
            if task.terminal:
                self._forget(task)
            else:
                self._kill(task, quiet=True)

    def _on_ping(self, msg: m.Ping) -> None:
        if self.channel is not None and self.agent_id is not None:
            self.hub.send(self.channel, m.Pong(self.agent_id))

    # ================================================================ status updates
    def _update(
        self,
        task: _Task,
        state: TaskState,
        reason: Reason = Reason.REASON_NONE,
        message: str = "",
        data: Any = None,
        source: str = _SOURCE_AGENT,
    ) -> None:
        status = TaskStatus(
            task.task_id,
            state,
            reason,
            message,
            data,
            self.agent_id,
            task.framework_id,
            source,
            time.time(),
            f"{self._uuid_prefix}{next(self._uuid_seq)}",
        )
        task.latest = status
        task.unacked += 1
        pending = _Pending(status, task, 0.0)
        pending.due = due = time.monotonic() + self.retry_interval + pending.travel
        self._unacked[status.uuid] = pending  # type: ignore[index]
        if due < self._retry_at:
            self._retry_at = due
        if self.registered:
            self.hub.send(self.channel, pending.message)  # type: ignore[arg-type]

    def _resend(self, now: float, everything: bool) -> None:
        """Send again the unacknowledged updates that are due (or all of them), oldest first."""
        channel = self.channel
        next_due = math.inf
        for pending in self._unacked.values():
            if everything or pending.due <= now:
                self.hub.send(channel, pending.message)  # type: ignore[arg-type]
                pending.tries = 0 if everything else pending.tries + 1
                pending.due = now + self.retry_interval * min(2**pending.tries, _MAX_RETRY_BACKOFF) + pending.travel
            if pending.due < next_due:
                next_due = pending.due
        self._retry_at = next_due

    def _on_ack(self, msg: m.StatusUpdateAck) -> None:
        pending = self._unacked.pop(msg.uuid, None)
        if pending is None:
            return
        task = pending.task
        task.unacked -= 1
        if task.terminal and task.unacked <= 0:
            self._forget(task)

    def _forget(self, task: _Task) -> None:
        if self.tasks.get(task.key) is task:
            del self.tasks[task.key]
        recent = self._recent_done
        recent[task.key] = None
        if len(recent) > _RECENT_DONE:
            recent.popitem(last=False)

    def _report_start(self, task: _Task) -> None:
        if not task.started:
            task.started = True
            self._update(task, TaskState.TASK_STARTING, source=task.source)
            self._update(task, TaskState.TASK_RUNNING, source=task.source)

    def _end(
        self,
        task: _Task,
        state: TaskState,
        reason: Reason,
        message: str = "",
        data: Any = None,
        source: str = _SOURCE_AGENT,
        report_start: bool = True,
    ) -> None:
        """The task is over: send its terminal update (after STARTING/RUNNING if it had started)."""
        if task.terminal:
            return
        task.terminal = True
        task.worker = None
        task.proc = None
        if task.quiet:
            self._forget(task)
            return
        if report_start:
            self._report_start(task)
        self._update(task, state, reason, message, data, source)

    # callbacks from the executor and the command runner
    def _python_finished(self, task: _Task, data: bytes | None) -> None:
        self._end(
            task,
            TaskState.TASK_FINISHED,
            Reason.REASON_NONE,
            "",
            data if data is None or type(data) is Blob else Blob(data),
            _SOURCE_EXECUTOR,
        )

    def _python_failed(self, task: _Task, outcome: str, message: str) -> None:
        if outcome == ERROR:
            self._end(
                task,
                TaskState.TASK_ERROR,
                Reason.REASON_CONTAINER_LAUNCH_FAILED,
                message,
                source=_SOURCE_EXECUTOR,
                report_start=False,
            )
        elif outcome == MEMORY:
            self._end(task, TaskState.TASK_FAILED, Reason.REASON_CONTAINER_LIMITATION_MEMORY, message)
        elif outcome == "crashed":
            self._end(task, TaskState.TASK_FAILED, Reason.REASON_EXECUTOR_TERMINATED, message)
        else:
            self._end(task, TaskState.TASK_FAILED, Reason.REASON_TASK_FAILED, message, source=_SOURCE_EXECUTOR)

    def _task_killed(self, task: _Task) -> None:
        self._end(
            task,
            TaskState.TASK_KILLED,
            Reason.REASON_TASK_KILLED_BY_USER,
            "killed at the framework's request",
            report_start=task.started,
        )

    def _task_ended(self, task: _Task, state: str, reason: str, message: str) -> None:
        self._end(task, TaskState(state), Reason(reason), message, report_start=False)

    def _executor_message(self, framework_id: str, blob: bytes) -> None:
        if not self.registered or self.agent_id is None:
            _log(f"dropping a framework message from {framework_id}'s executor: not connected to the master")
            return
        # unopened: what it holds may be a class only the framework knows, or (loaded by dill) no longer
        # picklable here; the framework's driver opens it
        self.hub.send(self.channel, m.ExecutorToFramework(framework_id, self.agent_id, Blob(blob)))  # type: ignore[arg-type]

    def _executor_exited(self, framework_id: str, executor_id: str, status: int) -> None:
        if self.registered and self.agent_id is not None:
            self.hub.send(self.channel, m.ExecutorExited(self.agent_id, framework_id, executor_id, status))  # type: ignore[arg-type]

    def _executor_maybe_done(self, executor: PythonExecutor) -> None:
        """Empty executors are dropped by the housekeeping, so messages between tasks still find them."""

    # ================================================================ tasks
    def _on_run_tasks(self, msg: m.RunTasks) -> None:
        framework_id = msg.framework_id
        if not isinstance(framework_id, str) or not framework_id:
            _log(f"ignoring RunTasks with framework_id={framework_id!r}")
            return
        tasks = msg.tasks if isinstance(msg.tasks, (list, tuple)) else [msg.tasks]
        for info in tasks:
            try:
                self._launch(framework_id, info)
            except Exception:  # noqa: BLE001
                _log(f"error launching {getattr(info, 'task_id', info)!r}:\n{traceback.format_exc()}")
                task = self.tasks.get((framework_id, getattr(info, "task_id", None)))  # type: ignore[arg-type]
                if task is not None and not task.terminal:
                    self._end(
                        task,
                        TaskState.TASK_ERROR,
                        Reason.REASON_CONTAINER_LAUNCH_FAILED,
                        f"the agent could not launch the task: {traceback.format_exc(limit=1)}",
                        report_start=False,
                    )

    def _launch(self, framework_id: str, info: Any) -> None:
        task_id = getattr(info, "task_id", None)
        if not isinstance(task_id, str) or not task_id:
            _log(f"ignoring a malformed task from {framework_id} (task_id={task_id!r}): {info!r:.200}")
            return
        key = (framework_id, task_id)
        existing = self.tasks.get(key)
        if existing is not None and not existing.terminal:
            _log(f"ignoring a second launch of live task {task_id!r} of {framework_id}")
            return
        task = _Task(framework_id, task_id, info)
        self.tasks[key] = task
        self._recent_done.pop(key, None)
        error = _validate(info)
        if error:
            self._end(
                task,
                TaskState.TASK_ERROR,
                Reason.REASON_TASK_INVALID,
                f"invalid task {task_id!r}: {error}",
                report_start=False,
            )
            return
        task.sandbox = sandbox_path(self.work_dir, self.agent_id or "unregistered", framework_id, task_id)
        resources = info.resources
        task.mem = resources.mem
        task.cpus = resources.cpus
        if info.command is not None:
            task.source = _SOURCE_AGENT
            self._launch_command(task)
            return
        executor = self.executors.get(framework_id)
        if executor is None:
            executor = self.executors[framework_id] = PythonExecutor(
                self, framework_id, self.parallel, self.max_workers
            )
        executor.launch(task)

    def _launch_command(self, task: _Task) -> None:
        info = task.info
        try:
            container = self.isolator.container("t")
            container.set_limits(task.mem, task.cpus)
        except OSError as exc:
            self._end(
                task,
                TaskState.TASK_ERROR,
                Reason.REASON_CONTAINER_LAUNCH_FAILED,
                f"cannot create the task's container: {exc}",
                report_start=False,
            )
            return
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in info.env.items()})
        env.update(
            MESOS_SANDBOX=task.sandbox,
            MESOS_TASK_ID=task.task_id,
            MESOS_FRAMEWORK_ID=task.framework_id,
            MESOS_AGENT_ID=self.agent_id or "",
        )
        try:
            proc = launch_command(info.command, task.sandbox, env, container, rlimit=container.kind == "rlimit")
        except LaunchError as exc:
            self.destroy_container(container)
            self._end(task, TaskState.TASK_ERROR, Reason.REASON_CONTAINER_LAUNCH_FAILED, str(exc), report_start=False)
            return
        task.proc = proc
        task.dispatched_at = time.monotonic()
        self._pending_start.append(task)
        self.watch_child(
            proc.pid,
            lambda status: self._command_exited(task, proc, status),
            before_reap=lambda: proc.signal(signal.SIGKILL),  # what it left running in its group goes too
        )

    def _command_exited(self, task: _Task, proc: CommandProcess, status: int) -> None:
        container = proc.container
        oom = False
        if container.paths:
            try:
                oom = container.oom_kills() > 0
            except OSError:
                pass
        self.destroy_container(container)
        if task.terminal:
            return
        if task.killing:
            self._task_killed(task)
            return
        state, reason, message = describe_exit(
            status, proc.sandbox, oom=oom, memory_limited=self.isolator.enforces_memory, mem=task.mem
        )
        self._end(task, TaskState(state), Reason(reason), message)

    def _on_kill_task(self, msg: m.KillTaskOnAgent) -> None:
        key = (msg.framework_id, msg.task_id)
        task = self.tasks.get(key)  # type: ignore[arg-type]
        if task is None:
            if key in self._recent_done:
                return  # it ended already; its final update is (or was) on its way
            _log(f"kill of unknown task {msg.task_id!r} of framework {msg.framework_id!r}: reporting it lost")
            ghost = _Task(str(msg.framework_id), str(msg.task_id), None)
            self.tasks[ghost.key] = ghost
            self._end(
                ghost,
                TaskState.TASK_LOST,
                Reason.REASON_TASK_UNKNOWN,
                f"agent {self.agent_id} has no task {msg.task_id!r} of framework {msg.framework_id!r}",
                report_start=False,
            )
            return
        if task.terminal:
            return
        self._kill(task, quiet=False)

    def _kill(self, task: _Task, quiet: bool, grace: float = KILL_GRACE) -> None:
        task.quiet = task.quiet or quiet
        if task.killing:
            return
        task.killing = True
        if task.proc is not None:
            proc = task.proc
            proc.killing = True
            proc.signal(signal.SIGTERM)
            self.call_later(grace, lambda: proc.signal(signal.SIGKILL) if proc.pid in self._children else None)
            return
        executor = self.executors.get(task.framework_id)
        if executor is not None and task.worker is not None:
            executor._kill_worker(task.worker, grace)
        elif executor is not None:
            executor.kill(task)
        else:
            self._task_killed(task)

    def _on_shutdown_framework(self, msg: m.ShutdownFramework) -> None:
        framework_id = msg.framework_id
        tasks = [t for t in self.tasks.values() if t.framework_id == framework_id]
        for uuid in [u for u, p in self._unacked.items() if p.task.framework_id == framework_id]:
            del self._unacked[uuid]
        for task in tasks:
            task.unacked = 0
            if task.terminal:
                self._forget(task)
            else:
                self._kill(task, quiet=True)
        executor = self.executors.pop(framework_id, None)
        if executor is not None:
            executor.shutdown()
        if tasks or executor is not None:
            _log(f"framework {framework_id} shut down: killed {sum(not t.terminal for t in tasks)} task(s)")

    def _on_shutdown_agent(self, msg: m.ShutdownAgent) -> None:
        """Leave as after SIGTERM: kill every task, report their ends, unregister, exit 0."""
        _log(f"the master asked this agent to shut down ({msg.reason})")
        self.stopping = True

    def _on_framework_message(self, msg: m.FrameworkToExecutor) -> None:
        executor = self.executors.get(msg.framework_id)
        if executor is None:
            _log(f"dropping a framework message for {msg.framework_id!r}: it has no executor on this agent")
            return
        executor.deliver(msg.data)

    # ================================================================ shutdown
    def _cleanup(self, unregister: bool) -> None:
        """Say goodbye to the master, then kill every task and worker, reap them and remove the cgroups.

        Goodbye first: killing tasks that ignore SIGTERM takes ``SHUTDOWN_GRACE``, and a
        cluster that is stopping does not wait long for its agents before it stops the
        master; a goodbye sent last could find no master, and the event log then kept
        the agent alive for ever (a replay's last picture changed from run to run).
        The kills are quiet, so the master misses no news of the tasks.
        """
        self.stopping = True
        if unregister and self.channel is not None and self.agent_id is not None:
            self.hub.send(self.channel, m.UnregisterAgent(self.agent_id))
            self.hub.flush()
        try:
            for task in list(self.tasks.values()):
                if not task.terminal:
                    self._kill(task, quiet=True, grace=SHUTDOWN_GRACE)
            for executor in list(self.executors.values()):
                executor.shutdown(grace=SHUTDOWN_GRACE)
            if self.spare is not None:
                self.spare.close_pipes()  # end of file on its command pipe: it exits
            deadline = time.monotonic() + SHUTDOWN_GRACE + 0.5
            while self._children and time.monotonic() < deadline:
                self.hub.poll(0.02)
                self._tick(time.monotonic())
                if self._polled_children:
                    self._poll_children()
            for pid in list(self._children):
                fd, _, _ = self._children[pid]
                for target in (-pid, pid):
                    try:
                        os.kill(target, signal.SIGKILL)
                    except OSError:
                        pass
            for pid in list(self._children):
                self._child_ready(pid, block=True)
        except Exception:  # noqa: BLE001
            _log(f"error while stopping tasks:\n{traceback.format_exc()}")
        try:
            self.isolator.cleanup()
        except Exception:  # noqa: BLE001
            _log(f"error removing cgroups:\n{traceback.format_exc()}")
        shutil.rmtree(self.capture_dir, ignore_errors=True)
        try:
            self.hub.shutdown()
        except Exception:  # noqa: BLE001
            pass


# ------------------------------------------------------------------------------ entry points
def run_agent(
    master: tuple[str, int],
    secret: bytes,
    resources: Resources,
    *,
    attributes: dict | None = None,
    hostname: str | None = None,
    work_dir: str,
    status_retry_interval: float = 1.0,
    master_timeout: float = 60.0,
    master_refused_timeout: float | None = None,
    isolation: str = "auto",
    on_registered: Callable[[str], None] | None = None,
    cpu_quota: bool = False,
) -> None:
    """Run an agent until SIGTERM/SIGINT or until the master has been unreachable for ``master_timeout`` s.

    Blocks.  Raises :class:`~jmesos.runtime.wire.AuthenticationError` when the
    master refuses the secret, ValueError for bad arguments and RuntimeError
    when ``isolation='cgroups'`` is impossible here.  ``cpu_quota`` adds a
    hard CPU cap (CFS quota) to each container's proportional CPU share.
    """
    Agent(
        master,
        secret,
        resources,
        attributes=attributes,
        hostname=hostname,
        work_dir=work_dir,
        status_retry_interval=status_retry_interval,
        master_timeout=master_timeout,
        master_refused_timeout=master_refused_timeout,
        isolation=isolation,
        on_registered=on_registered,
        cpu_quota=cpu_quota,
    ).run()


def _parse_master(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"--master {text!r} must be HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:5050")
    return host.strip("[]"), int(port)


def _parse_attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise ValueError(f"--attributes {text!r}: {part!r} is not name=value; use rack=r1,zone=a")
        out[name.strip()] = value.strip()
    return out


def _resources(args: argparse.Namespace) -> Resources:
    """The resources to offer, or ValueError naming the option at fault."""
    given = {"cpus": args.cpus, "mem": args.mem, "disk": args.disk, "gpus": args.gpus, "ports": args.ports}
    for name, value in given.items():
        try:
            Resources(**{name: value})
        except ResourceError as exc:
            raise ValueError(as_option(str(exc), name)) from None
    try:
        resources = Resources(**given)
    except ResourceError as exc:
        raise ValueError(str(exc)) from None
    examples = {"cpus": "--cpus 2", "mem": "--mem 1GiB"}
    for name in ("cpus", "mem"):
        if not resources.get(name):
            raise ValueError(
                f"--{name} {given[name]!r} leaves this agent without {name}; "
                f"every agent needs cpus > 0 and mem > 0, e.g. {examples[name]}"
            )
    return resources


def main(argv: list[str]) -> int:
    """``python -m jmesos agent --master HOST:PORT --secret-file F [...]``: run one agent in the foreground."""
    parser = CommandParser(prog="python -m jmesos agent", description="Run a jmesos agent.")
    parser.add_argument("--master", required=True, help="the master's HOST:PORT, as the master printed it")
    parser.add_argument("--secret-file", required=True, help="file holding the cluster secret (the master wrote it)")
    parser.add_argument("--cpus", default=str(os.cpu_count() or 1), help="cpus to offer, > 0 (default: this machine's)")
    parser.add_argument("--mem", default="1GiB", help="memory to offer, > 0, e.g. 1GiB or 512 (MiB; default 1GiB)")
    parser.add_argument("--disk", default="10GiB", help="disk to offer (default 10GiB)")
    parser.add_argument("--gpus", default="0", help="gpus to offer (default 0)")
    parser.add_argument("--ports", default=None, help="ports to offer, e.g. 31000-31099 (default none)")
    parser.add_argument("--attributes", default="", help="name=value pairs, e.g. rack=r1,zone=a")
    parser.add_argument(
        "--work-dir", default=None, help="where task sandboxes go (default: a jmesos-work dir in the temp dir)"
    )
    parser.add_argument("--hostname", default=None, help="the hostname to advertise (default: this machine's)")
    parser.add_argument(
        "--isolation", default="auto", choices=ISOLATION_MODES, help="how tasks are contained (default auto)"
    )
    parser.add_argument("--cpu-quota", action="store_true", help="hard-cap each task's CPU at its cpus (CFS quota)")
    parser.add_argument(
        "--status-retry-interval",
        type=seconds("--status-retry-interval", "1.0"),
        default=1.0,
        metavar="SECONDS",
        help="resend unacknowledged status updates after this long (default 1.0)",
    )
    parser.add_argument(
        "--master-timeout",
        type=seconds("--master-timeout", "60"),
        default=60.0,
        metavar="SECONDS",
        help="exit after the master has been unreachable this long (default 60)",
    )
    parser.add_argument(
        "--master-refused-timeout",
        type=seconds("--master-refused-timeout", "10"),
        default=None,
        metavar="SECONDS",
        help="exit once connections to the master have been refused this long (a master that never restarts)",
    )
    args = parser.parse_args(argv)
    try:
        master = _parse_master(args.master)
        try:
            secret = read_secret(args.secret_file)
        except ValueError as exc:
            raise ValueError(as_option(str(exc), "secret_file")) from None
        resources = _resources(args)
        attributes = _parse_attributes(args.attributes)
    except ValueError as exc:
        print(f"jmesos agent: {exc}", file=sys.stderr)
        return 2
    work_dir = args.work_dir or os.path.join(
        os.environ.get("TMPDIR", "/tmp"), f"jmesos-work-{os.getuid() if hasattr(os, 'getuid') else 0}"
    )
    try:
        os.makedirs(work_dir, exist_ok=True)
    except OSError as exc:
        print(
            f"jmesos agent: --work-dir {work_dir!r} cannot be created ({exc.strerror or exc}); "
            "pass a directory you can write to",
            file=sys.stderr,
        )
        return 2

    def registered(agent_id: str) -> None:
        print(
            f"jmesos agent registered as {agent_id} with the master at {master[0]}:{master[1]}; "
            f"sandboxes in {work_dir}",
            flush=True,
        )

    try:
        agent = Agent(
            master,
            secret,
            resources,
            attributes=attributes,
            hostname=args.hostname,
            work_dir=work_dir,
            status_retry_interval=args.status_retry_interval,
            master_timeout=args.master_timeout,
            master_refused_timeout=args.master_refused_timeout,
            isolation=args.isolation,
            on_registered=registered,
            cpu_quota=args.cpu_quota,
        )
        return agent.run()
    except NotAMasterError as exc:
        print(f"jmesos agent: {exc}; check --master", file=sys.stderr)
        return 2
    except AuthenticationError as exc:
        print(f"jmesos agent: {exc}; check --secret-file (use the file the master wrote)", file=sys.stderr)
        return 2
    except (ValueError, RuntimeError) as exc:
        print(f"jmesos agent: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
