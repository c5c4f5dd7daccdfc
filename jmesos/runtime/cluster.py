"""``LocalCluster``: a real master and agents in subprocesses, owned by this Python process.

    with jmesos.LocalCluster(agents=4, cpus=2, mem="1GiB") as cluster:
        cluster.run(MyFramework(), name="mine")

The cluster lives in a supervisor process (see :mod:`jmesos.runtime.supervisor`)
that dies with this one; this object keeps a connection to the master that
streams the event log into :attr:`LocalCluster.events`.
"""

from __future__ import annotations

import atexit
import base64
import glob
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from ..core import messages as m
from ..core.events import Event, EventLog, say_allocator_errors
from ..core.master import MasterConfig
from ..core.model import AGENT_SETTINGS, FrameworkInfo, InvalidArgument, check_agent_keys
from ..core.resources import ResourceError, Resources
from ..core.scheduler import Scheduler
from .containers import start_time
from .driver import SchedulerDriver
from .interpreter import jmesos_env
from .lifetime import how_it_ended
from .serialize import dumps_value
from .wire import Channel, Hub, check_port, new_secret, write_secret

if TYPE_CHECKING:
    from .engines import EngineAgents

__all__ = ["LocalCluster", "FrameworkHandle"]

_live_clusters: weakref.WeakSet[LocalCluster] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for cluster in list(_live_clusters):
        cluster.stop()


def _stamp(event: Event) -> tuple[float, str]:
    """Tells one departure from another: the log hands out new Event objects on every read."""
    return event.time, event.kind


class FrameworkHandle:
    """A framework running in the background (from :meth:`LocalCluster.run_async`)."""

    def __init__(self, driver: SchedulerDriver, scheduler: Scheduler, cluster: LocalCluster | None = None) -> None:
        self.driver = driver
        self.scheduler = scheduler
        self._cluster = cluster
        # departures logged before this run (a predecessor that failed over) do not count; a new
        # framework has no id yet, so it has none and the log need not be read
        self._earlier: set[tuple[float, str]] = set()
        if cluster is not None and self.framework_id is not None:
            departures = cluster.events.filter(("framework_removed", "framework_disconnected"))
            self._earlier = {_stamp(e) for e in departures if self._is_departure(e)}

    def _is_departure(self, event: Event) -> bool:
        return (
            event.kind in ("framework_removed", "framework_disconnected")
            and event.data.get("framework_id") == self.framework_id
        )

    def _settle(self) -> None:
        """Wait until the event log holds the framework's departure, so it holds everything before it too."""
        if self._cluster is None or self.framework_id is None or not self._cluster.running:
            return
        try:
            self._cluster.wait_for(lambda e: self._is_departure(e) and _stamp(e) not in self._earlier, timeout=5.0)
        except TimeoutError:
            pass

    @property
    def framework_id(self) -> str | None:
        return self.driver.framework_id

    @property
    def done(self) -> bool:
        return self.driver.done

    def wait(self, timeout: float | None = None) -> Scheduler:
        """Block until the framework stops; raises TimeoutError after ``timeout`` seconds."""
        if timeout is not None:
            _check_seconds("timeout", timeout, "timeout=60, or None to wait until it stops")
        self.driver.join(timeout)
        if not self.driver.done:
            raise TimeoutError(
                f"framework {self.framework_id!r} still running after {timeout}s; call .stop() to end it"
            )
        self._settle()
        return self.scheduler

    def stop(self, failover: bool = False) -> None:
        self.driver.stop(failover=failover)
        self.driver.join(5.0)
        self._settle()

    def __repr__(self) -> str:
        return f"<FrameworkHandle {self.framework_id or self.driver.framework.name} {self.driver.status}>"


def _check_seconds(name: str, value: Any, example: str) -> None:
    """InvalidArgument unless ``value`` is a positive number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise InvalidArgument(f"{name}={value!r} must be a positive, finite number of seconds, e.g. {example}")


def _agent_specs(
    agents: Any, cpus: Any, mem: Any, disk: Any, gpus: Any, ports: Any, attributes: Any, *, one: bool = False
) -> list[dict[str, Any]]:
    """Checked specs of the agents; ``one``: a single agent (add_agent), so an error need not say which."""
    if isinstance(agents, bool) or not isinstance(agents, (int, list, tuple)):
        raise InvalidArgument(f"agents={agents!r} must be a number of agents or a list of per-agent dicts")
    listed = not one and not isinstance(agents, int)  # per-agent dicts: an error names the one at fault
    if isinstance(agents, int):
        if agents < 0 or agents > 256:
            raise InvalidArgument(
                f"agents={agents!r} must be between 0 and 256 on one machine; use the simulator for more"
            )
        agents = [{} for _ in range(agents)]
    if one and attributes is not None and not isinstance(attributes, Mapping):
        raise InvalidArgument(f"attributes={attributes!r} must be a dict such as {{'rack': 'r1'}}")
    if isinstance(attributes, (list, tuple)) and len(attributes) != len(agents):
        raise InvalidArgument(
            f"attributes is a list of {len(attributes)} for {len(agents)} agents; "
            "give one dict per agent, or a single dict for all of them"
        )
    specs = []
    for i, agent in enumerate(agents):
        if not isinstance(agent, Mapping):
            raise InvalidArgument(f"agents[{i}]={agent!r} must be a dict such as {{'cpus': 2, 'mem': '1GiB'}}")
        check_agent_keys(agent, i, AGENT_SETTINGS)
        attrs = agent.get("attributes", attributes[i] if isinstance(attributes, (list, tuple)) else attributes) or {}
        if not isinstance(attrs, Mapping):
            raise InvalidArgument(f"attributes={attrs!r} must be a dict such as {{'rack': 'r1'}}")
        hostname = agent.get("hostname")
        if hostname is not None and (not isinstance(hostname, str) or not hostname.strip()):
            raise InvalidArgument(f"agents[{i}]: hostname={hostname!r} must be a host name string, e.g. 'node-1'")
        try:
            resources = Resources(
                cpus=agent.get("cpus", cpus),
                mem=agent.get("mem", mem),
                disk=agent.get("disk", disk),
                gpus=agent.get("gpus", gpus) or None,
                ports=agent.get("ports", ports),
            )
        except ResourceError as exc:
            raise InvalidArgument(str(exc)) from None
        empty = [name for name in ("cpus", "mem") if not resources.get(name)]
        if empty:
            given = ", ".join(f"{name}={agent.get(name, {'cpus': cpus, 'mem': mem}[name])!r}" for name in empty)
            example = {"cpus": "cpus=1", "mem": "mem='1GiB'"}
            raise InvalidArgument(
                f"{f'agents[{i}]: ' if listed else ''}{given} leaves an agent without {' or '.join(empty)} "
                f"({resources or 'nothing'}); every agent needs cpus > 0 and mem > 0, e.g. "
                + ", ".join(example[name] for name in empty)
            )
        specs.append(
            {
                "resources": str(resources),
                "attributes": {str(k): str(v) for k, v in attrs.items()},
                "hostname": agent.get("hostname"),
            }
        )
    return specs


class LocalCluster:
    """A master and ``agents`` agents in subprocesses on this machine.

    Each agent advertises ``cpus``, ``mem`` (MiB or ``'1GiB'``), ``disk`` and
    optional ``gpus``/``ports``; pass ``agents=[{...}, {...}]`` for
    heterogeneous agents and ``attributes`` (one dict for all, or a list) for
    things like racks.  ``policy`` names an allocation policy (``'drf'``,
    ``'priority'``, ...) or is a policy object.  Times are in seconds;
    health checks default to 1 s × 3 misses so a killed agent is noticed in
    about three seconds.
    """

    def __init__(
        self,
        agents: Any = 4,
        cpus: Any = 2,
        mem: Any = "1GiB",
        disk: Any = "10GiB",
        gpus: Any = None,
        ports: Any = None,
        attributes: Any = None,
        *,
        policy: Any = "drf",
        policy_options: Mapping[str, Any] | None = None,
        allocation_interval: float = 1.0,
        offer_timeout: float | None = None,
        ping_interval: float = 1.0,
        max_missed_pings: int = 3,
        trace_messages: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        work_dir: str | None = None,
        seed: int | None = None,
        isolation: str = "auto",
        status_retry_interval: float = 1.0,
        events_maxlen: int = 200_000,
        start_timeout: float = 30.0,
    ) -> None:
        self._agent_specs = _agent_specs(agents, cpus, mem, disk, gpus, ports, attributes)
        self._defaults = {"cpus": cpus, "mem": mem, "disk": disk, "gpus": gpus, "ports": ports}
        try:
            self.config = MasterConfig(
                allocation_interval=allocation_interval,
                offer_timeout=offer_timeout,
                ping_interval=ping_interval,
                max_missed_pings=max_missed_pings,
                trace_messages=trace_messages,
            )
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        if isolation not in ("auto", "cgroups", "rlimit", "none"):
            raise InvalidArgument(f"isolation={isolation!r} must be one of 'auto', 'cgroups', 'rlimit', 'none'")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InvalidArgument(f"seed={seed!r} must be an int, e.g. seed=42")
        if not isinstance(host, str) or not host:
            raise InvalidArgument(f"host={host!r} must be an address to listen on, e.g. host='127.0.0.1'")
        try:
            port = check_port(port)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        _check_seconds("status_retry_interval", status_retry_interval, "status_retry_interval=1.0")
        _check_seconds("start_timeout", start_timeout, "start_timeout=30")
        self.policy = policy
        self.seed = seed
        self.host = host
        if isinstance(events_maxlen, bool) or not isinstance(events_maxlen, int) or events_maxlen < 1:
            raise InvalidArgument(
                f"events_maxlen={events_maxlen!r} must be a number of events >= 1, e.g. events_maxlen=200_000"
            )
        if policy_options is not None and not isinstance(policy_options, Mapping):
            raise InvalidArgument(
                f"policy_options={policy_options!r} must be a dict of the policy's settings, e.g. {{'weights': {{'a': 2}}}}"
            )
        if work_dir is not None and not isinstance(work_dir, (str, os.PathLike)):
            raise InvalidArgument(f"work_dir={work_dir!r} must be a directory path, or None for a fresh temporary one")
        self.events = EventLog(maxlen=events_maxlen)
        self._policy_options = dict(policy_options or {})
        if seed is not None and isinstance(policy, str):
            self._policy_options.setdefault("seed", seed)
        self._policy_spec = self._encode_policy(policy)
        self._own_work_dir = work_dir is None
        self.work_dir = os.fspath(work_dir) if work_dir is not None else tempfile.mkdtemp(prefix="jmesos-")
        try:
            os.makedirs(self.work_dir, exist_ok=True)
        except OSError as exc:
            raise InvalidArgument(
                f"work_dir={self.work_dir!r} cannot be used as the cluster's directory ({exc.strerror or exc}); "
                "give a directory you can write to, or None for a fresh temporary one"
            ) from None
        self._secret = new_secret()
        self.secret_file = os.path.join(self.work_dir, "secret")
        write_secret(self.secret_file, self._secret, replace=True)  # a work_dir given again may hold an old one
        self._agent_options = {"isolation": isolation, "status_retry_interval": status_retry_interval}
        self._port = port
        self._lock = threading.Condition()
        self._agent_pids: dict[str, int] = {}
        self._exits: dict[int, int] = {}
        self._started: dict[int, int | None] = {}  # the master's and agents' pids, with their start times
        self._errors: list[str] = []
        self._drivers: list[SchedulerDriver] = []
        self._proc: subprocess.Popen | None = None
        self._hub: Hub | None = None
        self._master_channel: Channel | None = None  # the event stream's connection; also asks for shutdowns
        self._observing = True
        self._observer: threading.Thread | None = None
        self.address: tuple[str, int] | None = None
        self.master_pid: int | None = None
        self._stopped = False
        self._over: str | None = None  # why the cluster ended without stop(): its master or supervisor died
        self._engine_agents: EngineAgents | None = None  # made by the first add_engine_agents
        self._start(start_timeout)

    # ------------------------------------------------------------------ start and stop
    def _encode_policy(self, policy: Any) -> Any:
        from ..core.allocator import BUILTIN_POLICIES, get_policy, make_allocator

        # fail here, with the allocator's message, not later inside the master process
        make_allocator(policy, **{"allocation_interval": self.config.allocation_interval, **self._policy_options})
        if isinstance(policy, str):
            if policy in BUILTIN_POLICIES:
                return policy
            policy = get_policy(policy)  # registered in this process only: the master gets the class itself
        return {"blob": base64.b64encode(dumps_value(policy, "policy", by_value=True)).decode()}

    def _start(self, timeout: float) -> None:
        spec = {
            "secret": self._secret.decode(),
            "host": self.host,
            "port": self._port,
            "work_dir": self.work_dir,
            # a directory this object made goes when the cluster does, even when nobody is left to stop it
            "remove_work_dir": self._own_work_dir,
            "master": {
                "allocation_interval": self.config.allocation_interval,
                "offer_timeout": self.config.offer_timeout,
                "ping_interval": self.config.ping_interval,
                "max_missed_pings": self.config.max_missed_pings,
                "trace_messages": self.config.trace_messages,
            },
            "policy": self._policy_spec,
            "policy_options": self._policy_options,
            "agents": self._agent_specs,
            "agent_options": self._agent_options,
            # agents import what this process can import: a task's function may live in a local module
            "sys_path": [p for p in sys.path if p],
        }
        env = jmesos_env()  # the supervisor imports jmesos from where this process did, installed or not
        with open(os.path.join(self.work_dir, "supervisor.log"), "ab") as log:  # the child keeps its own copy
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "jmesos.runtime.supervisor"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                env=env,
                text=True,
                bufsize=1,
            )
        _live_clusters.add(self)
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(spec) + "\n")
        self._proc.stdin.flush()
        threading.Thread(target=self._read_supervisor, name="jmesos-supervisor-reader", daemon=True).start()
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.address is None and not self._errors and self._proc.poll() is None:
                if not self._lock.wait(max(0.0, deadline - time.monotonic())):
                    break
        if self.address is None:
            timed_out = not self._errors and self._proc.poll() is None
            self._give_up(f"the master did not start{f' within start_timeout={timeout}s' if timed_out else ''}")
        self._hub = Hub(self._secret, "observer")
        try:
            channel = self._hub.connect(*self.address, name="master")
        except (OSError, ConnectionError):
            self._give_up("the master process exited before it could serve")
        self._hub.send(channel, m.Subscribe(replay=True))
        self._hub.flush()
        self._master_channel = channel
        self._observer = threading.Thread(target=self._observe, name="jmesos-events", daemon=True)
        self._observer.start()
        want = len(self._agent_specs)
        with self._lock:
            while len(self._agent_pids) < want and not self._errors and self._proc.poll() is None:
                if not self._lock.wait(max(0.0, deadline - time.monotonic())):
                    break
        if len(self._agent_pids) < want:
            self._give_up(f"only {len(self._agent_pids)} of {want} agents registered")
        # ready means the event log shows every agent too (tables and views read only the log)
        for agent_id in list(self._agent_pids):
            self._wait_for_agent_event(agent_id, max(0.5, deadline - time.monotonic()))

    def _wait_for_agent_event(self, agent_id: str, timeout: float, since: float | None = None) -> None:
        try:
            self.wait_for(
                lambda e: e.kind == "agent_added" and e.data.get("agent_id") == agent_id, timeout, since=since
            )
        except TimeoutError:
            pass  # the agent is up; its event is late, which only views notice

    def _give_up(self, what: str) -> NoReturn:
        """Stop what did start and raise, quoting the logs before stopping removes them."""
        failure = self._failure(what)
        self.stop()
        raise RuntimeError(failure) from None

    def _failure(self, what: str, lead: str = "jmesos cluster failed to start") -> str:
        from .command import file_tail  # only on this error path: the agents' modules stay out of the kernel

        logs = []
        for name in ("supervisor.log", "logs/master.log", "logs/agent-process-1.log"):
            tail = file_tail(os.path.join(self.work_dir, name), 1500)
            if tail:
                logs.append(f"--- {name}\n{tail}")
        return "\n".join([" ".join([f"{lead}: {what}.", *self._errors]), *logs])

    def _read_supervisor(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                report = json.loads(line)
            except ValueError:
                continue
            master_lost = False
            with self._lock:
                kind = report.get("event")
                if kind == "master":
                    self.address = (report["address"][0], int(report["address"][1]))
                    self.master_pid = report["pid"]
                    self._started[report["pid"]] = start_time(report["pid"])
                elif kind == "agent":  # a new agent, or one the master removed that came back under a new id
                    pid = report["pid"]
                    for old_id in [a for a, p in self._agent_pids.items() if p == pid]:
                        del self._agent_pids[old_id]
                    self._agent_pids[report["agent_id"]] = pid
                    self._started.setdefault(pid, start_time(pid))
                elif kind == "exit":
                    self._exits[report["pid"]] = report["code"]
                    master_lost = report["pid"] == self.master_pid and not self._stopped
                elif kind == "error":
                    self._errors.append(report["message"])
                self._lock.notify_all()
            if master_lost:  # outside the lock: drivers and the log's subscribers may call back into the cluster
                self._cluster_over(f"its master process {how_it_ended(report['code'])}")
        try:  # its reports ended: it has exited, or is about to
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and not self._stopped and self._over is None:  # killed outright (the OOM killer)
            self._cluster_over(f"its supervisor process {how_it_ended(code)}")
        with self._lock:
            self._lock.notify_all()

    def _cluster_over(self, why: str) -> None:
        """The master or the supervisor died: end what runs on the cluster at once, saying why.

        There is no master to fail over to.  Its agents stop their tasks.
        """
        self._over = why
        reason = f"the cluster is over: {why} (its agents stopped their tasks); start a new jmesos.LocalCluster"
        for driver in self._drivers:
            driver.master_lost(reason)
        # the master cannot log its own death: the log (and the views that read it) hear it from here
        last = self.events[-1].time if len(self.events) else 0.0
        self.events.extend([Event(last, "error", "supervisor", "", {"message": reason})])

    def _observe(self) -> None:
        hub = self._hub
        assert hub is not None
        while self._observing:
            try:
                happenings = hub.poll(0.5)
            except (OSError, ValueError):
                break
            for happening in happenings:
                if happening.kind == "messages":
                    for message in happening.messages:
                        if isinstance(message, m.EventBatch):
                            self.events.extend(message.events)
                            say_allocator_errors(message.events)
                elif happening.kind == "closed":
                    return

    def stop(self) -> None:
        """Stop every framework started here, then the agents (killing their tasks), then the master."""
        if self._stopped:
            return
        self._stopped = True
        for driver in self._drivers:
            if not driver.done:
                driver.stop()
        for driver in self._drivers:
            driver.join(2.0)
        if self._engine_agents is not None:  # while the master runs, so they can say goodbye to it
            self._engine_agents.stop_all(self._shut_down_through_master)
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps({"cmd": "stop"}) + "\n")
                proc.stdin.flush()
                proc.stdin.close()
            except (OSError, ValueError):
                pass
            try:
                proc.wait(10.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        if proc is not None and proc.returncode != 0 and self._own_work_dir:
            # the supervisor did not stop them (it was killed): the agents are taking their tasks
            # down by themselves and still write into their sandboxes, so removing the directory
            # now would see it made again behind us
            self._wait_for_orphaned_processes()
        # an event subscriber may stop the cluster: it runs on the observer, which cannot wait for itself
        observer = self._observer if self._observer is not threading.current_thread() else None
        if observer is not None:
            # the master has exited, so its connection closes: the observer returns once it has read
            # the last events before the close (turned off first, it could miss the final batch)
            observer.join(2.0)
        self._observing = False
        if observer is not None:
            observer.join(2.0)
        if self._hub is not None:
            try:
                self._hub.shutdown()
            except OSError:
                pass
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        _live_clusters.discard(self)
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def _wait_for_orphaned_processes(self, timeout: float = 5.0) -> None:
        """Wait until the master and agents a killed supervisor left behind have exited; SIGKILL them after ``timeout``.

        They are not this process's children: each is told apart from a later process given
        the same pid by its start time.
        """
        with self._lock:
            pids = {pid: start for pid, start in self._started.items() if start is not None and pid not in self._exits}
        deadline = time.monotonic() + timeout
        killed = False
        while True:
            alive = [pid for pid, start in pids.items() if start_time(pid) == start]
            if not alive:
                return
            if time.monotonic() > deadline:
                if killed:
                    return
                for pid in alive:  # a frozen agent (SIGSTOP) cannot act on its SIGTERM
                    for sig in (signal.SIGKILL, signal.SIGCONT):
                        try:
                            os.kill(pid, sig)
                        except OSError:
                            pass
                killed, deadline = True, time.monotonic() + 2.0
            time.sleep(0.02)

    def _shut_down_through_master(self, agent_ids: list[str]) -> bool:
        """Have the master ask ``agent_ids`` to leave; False when no master is there to ask.

        Sent by the thread that owns the connection (a hub is not thread-safe), which also
        brings back the agents' goodbyes as ``agent_removed`` events.
        """
        hub, channel, observer = self._hub, self._master_channel, self._observer
        if hub is None or channel is None or observer is None or not observer.is_alive() or channel.closed:
            return False
        if self.master_pid in self._exits:
            return False
        request = m.ShutdownAgents(list(agent_ids), "the cluster is stopping")
        hub.call_soon(lambda: hub.send(channel, request, at_once=True))
        return True

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:
            pass

    @property
    def running(self) -> bool:
        """True until :meth:`stop`, or until the master process dies (which ends the cluster)."""
        return (
            not self._stopped
            and self._over is None
            and self._proc is not None
            and self._proc.poll() is None
            and self.master_pid not in self._exits
        )

    @property
    def over(self) -> str | None:
        """Why the cluster ended by itself, not by :meth:`stop` (e.g. 'its master process was killed by SIGKILL')."""
        return self._over if not self._stopped else None

    def _check_running(self) -> None:
        if self.over is not None:
            raise RuntimeError(f"this cluster is over: {self.over}; start a new one with jmesos.LocalCluster(...)")
        if not self.running:
            raise RuntimeError("this cluster is stopped; start a new one with jmesos.LocalCluster(...)")

    # ------------------------------------------------------------------ frameworks
    def _driver(
        self,
        scheduler: Scheduler,
        name: str | None,
        role: str,
        failover_timeout: float,
        implicit_acknowledgements: bool,
        framework: FrameworkInfo | None,
    ) -> SchedulerDriver:
        self._check_running()
        assert self.address is not None
        info = framework or FrameworkInfo(
            name=name or type(scheduler).__name__,
            role=role,
            failover_timeout=failover_timeout,
            implicit_acknowledgements=implicit_acknowledgements,
        )
        driver = SchedulerDriver(scheduler, info, self.address, self._secret)
        self._drivers.append(driver)
        driver.start()
        return driver

    def run(
        self,
        scheduler: Scheduler,
        name: str | None = None,
        role: str = "*",
        *,
        timeout: float | None = None,
        failover_timeout: float = 0.0,
        implicit_acknowledgements: bool = True,
        framework: FrameworkInfo | None = None,
    ) -> Scheduler:
        """Run ``scheduler`` as a framework until it calls ``driver.stop()``; returns the scheduler.

        When it returns, :attr:`events` holds everything the framework did.

        With ``timeout`` (seconds) the framework is stopped and TimeoutError raised
        if it has not finished by then.  Ctrl-C (interrupt the kernel) stops it too.
        """
        if timeout is not None:
            _check_seconds("timeout", timeout, "timeout=60, or None to wait until it stops")
        handle = self.run_async(
            scheduler,
            name,
            role,
            failover_timeout=failover_timeout,
            implicit_acknowledgements=implicit_acknowledgements,
            framework=framework,
        )
        try:
            handle.driver.join(timeout)
        except KeyboardInterrupt:
            handle.stop()
            raise
        if not handle.done:
            handle.stop()
            raise TimeoutError(
                f"framework {handle.framework_id!r} did not finish within timeout={timeout}s; it was stopped"
            )
        handle._settle()
        if handle.driver.status == "DRIVER_ABORTED" and handle.driver.errors:
            raise RuntimeError(f"framework {handle.framework_id!r} aborted: {handle.driver.errors[-1]}")
        return scheduler

    def run_async(
        self,
        scheduler: Scheduler,
        name: str | None = None,
        role: str = "*",
        *,
        failover_timeout: float = 0.0,
        implicit_acknowledgements: bool = True,
        framework: FrameworkInfo | None = None,
    ) -> FrameworkHandle:
        """Start ``scheduler`` as a framework in the background; returns a handle with ``.wait()`` and ``.stop()``."""
        driver = self._driver(scheduler, name, role, failover_timeout, implicit_acknowledgements, framework)
        driver.wait_registered(10.0)
        return FrameworkHandle(driver, scheduler, self)

    # ------------------------------------------------------------------ agents and tasks
    @property
    def agents(self) -> list[str]:
        """Ids of the agents this cluster started that are still alive (engine agents last); none once it stopped."""
        if not self.running:
            return []
        with self._lock:
            here = [a for a, pid in self._agent_pids.items() if pid not in self._exits]
        return here + (self._engine_agents.alive() if self._engine_agents is not None else [])

    @property
    def exited_agents(self) -> list[str]:
        """Ids of the local agents this cluster started whose process has exited (killed, crashed or shut down).

        The master learns that an agent died only when its health checks fail, a few
        seconds later (``ping_interval`` x ``max_missed_pings``); until then it still
        counts the agent, and this list is how to tell.
        """
        with self._lock:
            return [a for a, pid in self._agent_pids.items() if pid in self._exits]

    def add_agent(
        self,
        cpus: Any = None,
        mem: Any = None,
        disk: Any = None,
        gpus: Any = None,
        ports: Any = None,
        attributes: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> str:
        """Start one more agent (defaults: the cluster's per-agent resources); returns its id."""
        self._check_running()
        spec = self._one_agent_spec(cpus, mem, disk, gpus, ports, attributes)
        _check_seconds("timeout", timeout, "timeout=10")
        newest = self.events[-1].time if len(self.events) else None  # its event can only come later
        with self._lock:
            before = set(self._agent_pids)
            self._command({"cmd": "add_agent", "spec": spec})
            deadline = time.monotonic() + timeout
            while set(self._agent_pids) == before:
                if self._over is not None:  # its supervisor or master died meanwhile: no agent will come
                    self._check_running()
                if not self._lock.wait(max(0.0, deadline - time.monotonic())):
                    raise RuntimeError(
                        self._failure(
                            f"the new agent did not register within timeout={timeout}s", "jmesos could not add an agent"
                        )
                    )
            (agent_id,) = set(self._agent_pids) - before
        self._wait_for_agent_event(agent_id, timeout, since=newest)
        return agent_id

    def _one_agent_spec(self, cpus: Any, mem: Any, disk: Any, gpus: Any, ports: Any, attributes: Any) -> dict[str, Any]:
        """One agent's checked spec; what is not given comes from the cluster's per-agent defaults."""
        given = {"cpus": cpus, "mem": mem, "disk": disk, "gpus": gpus, "ports": ports}
        agent = {name: value if value is not None else self._defaults[name] for name, value in given.items()}
        (spec,) = _agent_specs([agent], None, None, None, None, None, attributes, one=True)
        return spec

    def add_engine_agents(
        self,
        view_or_client: Any,
        cpus: Any = None,
        mem: Any = None,
        disk: Any = None,
        gpus: Any = None,
        ports: Any = None,
        attributes: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        *,
        master_host: str | None = None,
    ) -> list[str]:
        """Start one agent on the host of each engine of an ipyparallel ``Client`` or ``DirectView``.

        Returns the new agents' ids, in the engines' order, once each has
        registered (``timeout`` seconds at most; the agents that did start are
        stopped if one does not).  Resources default to the cluster's per-agent
        ones, as for :meth:`add_agent`; each agent also gets the attribute
        ``engine=<engine id>``.

        The engines dial the master at the cluster's ``host``: engines on other
        machines need a cluster started with ``host='0.0.0.0'`` (or an address
        of this machine they can reach); ``master_host`` overrides the address
        they are given.  The agents are children of their engines and end with
        them; :meth:`kill_agent`, :meth:`logs` and :meth:`stop` reach them
        through their engines.  Needs ipyparallel (``pip install "jmesos[engines]"``).
        """
        from .engines import EngineAgents, address_for_engines, agent_arguments, engine_targets, import_ipyparallel

        self._check_running()
        ipp = import_ipyparallel()
        client, engine_ids = engine_targets(ipp, view_or_client)
        spec = self._one_agent_spec(cpus, mem, disk, gpus, ports, attributes)
        _check_seconds("timeout", timeout, "timeout=60")
        if master_host is not None and (not isinstance(master_host, str) or not master_host.strip()):
            raise InvalidArgument(f"master_host={master_host!r} must be an address of this machine, e.g. '10.0.0.5'")
        args = agent_arguments(
            Resources.parse(spec["resources"]),
            self._agent_options["isolation"],
            self._agent_options["status_retry_interval"],
        )
        assert self.address is not None
        address = address_for_engines(self.address, client, master_host)
        if self._engine_agents is None:
            self._engine_agents = EngineAgents(self.events)
        with self._lock:
            known = set(self._agent_pids)
        return self._engine_agents.add(
            client, engine_ids, address, self._secret, args, spec["attributes"], known, float(timeout)
        )

    def kill_agent(self, agent_id: str) -> None:
        """SIGKILL an agent, as a machine failure would: its tasks die with it and the master notices by missed pings."""
        self._check_running()
        engines = self._engine_agents
        on_engine = engines.get(agent_id) if engines is not None else None
        if engines is not None and on_engine is not None:
            engines.kill(on_engine)
            return
        with self._lock:
            pid = self._agent_pids.get(agent_id)
            gone = pid in self._exits
        if pid is None:
            raise InvalidArgument(f"agent_id={agent_id!r} is not an agent of this cluster; use one of {self.agents}")
        if gone:
            raise InvalidArgument(
                f"agent_id={agent_id!r} has already exited, so there is nothing to kill; the live agents are {self.agents}"
            )
        self._command({"cmd": "kill", "pid": pid})

    def _command(self, command: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(command) + "\n")
            self._proc.stdin.flush()
        except (OSError, ValueError):  # nobody reads the commands: the supervisor has died
            code = self._proc.poll()
            why = f"its supervisor process {how_it_ended(code)}" if code is not None else "its supervisor is gone"
            raise RuntimeError(
                f"this cluster is over: {self.over or why}; start a new one with jmesos.LocalCluster(...)"
            ) from None

    def _find_task(self, task_id: str, framework_id: str | None) -> Event | None:
        """The launch of ``task_id`` in the event log (None: not there, or no longer)."""
        for event in reversed(self.events):
            if event.kind == "task_launched" and event.data.get("task_id") == task_id:
                if framework_id is None or event.data.get("framework_id") == framework_id:
                    return event
        return None

    def _never_launched(self, task_id: str, framework_id: str | None) -> InvalidArgument:
        text = f"task_id={task_id!r} was never launched on this cluster; check the id (see cluster.events)"
        if self.events.dropped:
            text = (
                f"task_id={task_id!r} is not in the event log, which keeps the latest {self.events.maxlen:,} events "
                f"and has let {self.events.dropped:,} older ones go; if it was launched before them"
                + (", pass framework_id=..." if framework_id is None else "")
                + " (LocalCluster(events_maxlen=...) keeps more)"
            )
        return InvalidArgument(text)

    def kill_task(self, task_id: str, framework_id: str | None = None) -> None:
        """Kill a task of a framework started from this cluster object."""
        launched = self._find_task(task_id, framework_id)
        if launched is None and (framework_id is None or not self.events.dropped):
            raise self._never_launched(task_id, framework_id)
        owner = launched.data["framework_id"] if launched is not None else framework_id
        for driver in self._drivers:
            if driver.framework_id == owner and not driver.done:
                driver.kill_task(task_id)
                return
        raise InvalidArgument(
            f"task {task_id!r} belongs to framework {owner!r}, which is not running from this cluster object"
        )

    def logs(self, task_id: str, stream: str = "stdout", framework_id: str | None = None) -> str:
        """What a task printed on ``stream`` ('stdout' or 'stderr')."""
        if stream not in ("stdout", "stderr"):
            raise InvalidArgument(f"stream={stream!r} must be 'stdout' or 'stderr'")
        from .agent import sandbox_path

        launched = self._find_task(task_id, framework_id)
        if launched is None:
            return self._logs_on_disk(task_id, stream, framework_id)
        agent_id = launched.data["agent_id"]
        engines = self._engine_agents
        on_engine = engines.get(agent_id) if engines is not None else None
        work_dir = on_engine.sandboxes if on_engine is not None else self.work_dir
        path = os.path.join(sandbox_path(work_dir, agent_id, launched.data["framework_id"], task_id), stream)
        if engines is not None and on_engine is not None:
            return engines.read_text(on_engine, path)
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def _logs_on_disk(self, task_id: str, stream: str, framework_id: str | None) -> str:
        """A task whose launch has left the event log: its sandbox on this machine, found by its id."""
        from .agent import sandbox_pattern

        if not self.events.dropped:
            raise self._never_launched(task_id, framework_id)
        found = glob.glob(os.path.join(sandbox_pattern(self.work_dir, task_id, framework_id), stream))
        if len(found) > 1:
            raise InvalidArgument(
                f"{len(found)} tasks named {task_id!r} have sandboxes here, of different frameworks or agents; "
                "pass framework_id=... to say which"
            )
        if not found:
            raise self._never_launched(task_id, framework_id)
        with open(found[0], errors="replace") as f:
            return f.read()

    def wait_for(
        self, predicate: Callable[[Event], bool], timeout: float = 10.0, *, since: float | None = None
    ) -> Event:
        """Block until an event satisfying ``predicate`` is in the log; returns it.

        The newest matching event already in the log is returned at once; otherwise
        the first new one.  The log is searched newest first, so an event that just
        happened is found without opening the older part of a long log; with
        ``since`` (an event time, e.g. ``cluster.events[-1].time``) the search stops
        at the first older event.
        """
        if not callable(predicate):
            raise InvalidArgument(
                f"predicate={predicate!r} must be a function of an event, e.g. lambda e: e.kind == 'offer'"
            )
        found: list[Event] = []
        ready = threading.Event()

        def check(batch: Sequence[Event]) -> None:
            for event in batch:
                if not found and predicate(event):
                    found.append(event)
                    ready.set()

        unsubscribe = self.events.subscribe(check)  # first, so nothing slips between the search and it
        try:
            for event in reversed(self.events):
                if ready.is_set() or (since is not None and event.time < since):
                    break
                if predicate(event):
                    return event
            if not ready.is_set() and not self.running:
                raise RuntimeError(
                    "no matching event in the log, and this cluster is stopped, so none will come; "
                    "start a new one with jmesos.LocalCluster(...)"
                )
            if not ready.wait(timeout):
                raise TimeoutError(f"no matching event within {timeout}s")
        finally:
            unsubscribe()
        return found[0]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, Any]:
        """In a notebook, a cluster shows as its live dashboard (with HTML and text fallbacks)."""
        from ..widgets import dashboard_mimebundle

        return dashboard_mimebundle(self, include=include, exclude=exclude, **kwargs)

    def __repr__(self) -> str:
        state = "running" if self.running else f"over ({self.over})" if self.over else "stopped"
        where = f"{self.address[0]}:{self.address[1]}" if self.address else "?"
        return f"<LocalCluster {state} master={where} agents={len(self.agents)} policy={self.policy!r}>"
