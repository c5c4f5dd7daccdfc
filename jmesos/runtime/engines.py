"""Agents on ipyparallel engines: one more agent on each engine's host, owned by a ``LocalCluster``.

:meth:`jmesos.LocalCluster.add_engine_agents` is the entry point; this module
does the work, talking to the engines through the user's ipyparallel client
(the functions the engines run are in :mod:`jmesos.runtime.on_engine`).  An
engine agent is an ordinary ``python -m jmesos agent`` on the engine's host,
so the master sees nothing special; what differs is who can reach it, and that
is what this module is for:

- **starting**: each engine first says where it runs, so an engine on another
  host and a master on 127.0.0.1 fail at once with the fix; each engine then
  tries the master's address itself, then starts the agent and the cluster
  waits for its ``agent_added`` event, told apart from others by the agent's
  ``engine`` attribute.  An agent that exits or does not register in time is
  reported with the end of its log, fetched through its engine;
- **stopping** goes through the master: it asks each agent to shut down over
  the agent's own connection, which works however busy the engine is; what
  does not say goodbye is stopped through its engine;
- **killing** goes through the engine (it is the agent's parent), with two
  fallbacks for an engine that does not answer: an agent on this host is
  ended here, and any agent exits by itself once its master is gone
  (:data:`MASTER_REFUSED_TIMEOUT` seconds after nothing listens at the
  master's address, :data:`MASTER_TIMEOUT` seconds after the master cannot
  be reached); an agent whose engine dies gets SIGTERM from the kernel (a
  parent-death signal);
- **reading** a task's sandbox reads the file here when the agent runs on this
  host, and through its engine otherwise.

The ipyparallel client is not thread-safe: every call to it happens under one
lock, on the caller's thread, never on the thread that feeds the event log.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import sys
import textwrap
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..core.events import Event, EventLog
from ..core.model import InvalidArgument
from ..core.resources import Resources
from . import on_engine

__all__ = ["EngineAgent", "EngineAgents", "import_ipyparallel", "MASTER_TIMEOUT"]

#: an engine agent whose master has been unreachable this long exits (``--master-timeout``)
MASTER_TIMEOUT = 10.0
#: ... or whose connections to the master have been refused this long (``--master-refused-timeout``):
#: a LocalCluster's master never comes back, so nothing listening at its address means it is gone
MASTER_REFUSED_TIMEOUT = 2.0
#: the longest a request to an engine may take before the engine counts as not answering
CALL_TIMEOUT = 10.0
#: how long an engine tries to open a connection to the master before it says it cannot
PROBE_TIMEOUT = 5.0
#: how often the cluster asks the engines whether their agents still run while it waits for them
CHECK_INTERVAL = 1.0
#: SIGTERM to SIGKILL when an agent is stopped (it needs about a second to kill its tasks)
STOP_GRACE = 5.0

_WILDCARDS = ("", "0.0.0.0", "::")


def import_ipyparallel() -> Any:
    """ipyparallel, which is optional: without it, the error says how to install it."""
    try:
        import ipyparallel
    except ImportError:
        raise ImportError(
            'add_engine_agents needs ipyparallel, which is not installed: pip install "jmesos[engines]"'
        ) from None
    return ipyparallel


@dataclass
class EngineAgent:
    """One agent started on an engine: where it runs and what it left on that host."""

    agent_id: str
    engine_id: int
    client: Any
    hostname: str
    engine_pid: int
    pid: int
    directory: str
    sandboxes: str
    local: bool  # on this machine: it can be ended, and its files read, without its engine
    alive: bool = True
    killed: bool = False  # by kill_agent: there is nothing left to kill

    def where(self) -> str:
        return f"engine {self.engine_id} on host {self.hostname!r}"


# ------------------------------------------------------------------------------ arguments
def engine_targets(ipp: Any, view_or_client: Any) -> tuple[Any, list[int]]:
    """The client and the engine ids that ``view_or_client`` (a Client or a DirectView) stands for."""
    if isinstance(view_or_client, ipp.Client):
        client, targets = view_or_client, "all"
    elif isinstance(view_or_client, ipp.DirectView):
        client, targets = view_or_client.client, view_or_client.targets
    elif isinstance(view_or_client, ipp.LoadBalancedView):
        raise InvalidArgument(
            "view_or_client is a LoadBalancedView, which picks engines by itself; pass the Client or a "
            "DirectView naming the engines, e.g. client[:] or client[[0, 1]]"
        )
    else:
        raise InvalidArgument(
            f"view_or_client={view_or_client!r} must be an ipyparallel Client or DirectView, e.g. "
            "client = ipyparallel.Cluster(n=2).start_and_connect_sync(), then add_engine_agents(client)"
        )
    if getattr(client, "_closed", False):
        raise InvalidArgument(
            "view_or_client belongs to an ipyparallel Client that has been closed; connect a new one, e.g. "
            "ipyparallel.Client(profile='default'), and pass that"
        )
    live = list(client.ids)
    if targets is None or targets == "all":
        ids = live
    elif isinstance(targets, int):
        ids = [targets]
    else:
        ids = list(dict.fromkeys(targets))
    if not ids:
        raise InvalidArgument(
            "view_or_client has no engines; start some (ipyparallel.Cluster(n=2), or ipcluster start -n 2) "
            "and wait for them with client.wait_for_engines(2)"
        )
    unknown = [i for i in ids if i not in live]
    if unknown:
        raise InvalidArgument(f"engines {unknown} are not registered with the controller; use some of {live}")
    return client, ids


def agent_arguments(resources: Resources, isolation: str, status_retry_interval: float) -> list[str]:
    """The ``python -m jmesos agent`` options for an engine agent (without ``--attributes engine=...``)."""
    args = []
    for name, value in resources.to_dict().items():
        args += [f"--{name}", str(value)]
    args += ["--isolation", isolation, "--status-retry-interval", str(status_retry_interval)]
    args += ["--master-timeout", str(MASTER_TIMEOUT), "--master-refused-timeout", str(MASTER_REFUSED_TIMEOUT)]
    return args


def attribute_text(attributes: Mapping[str, str], engine_id: int) -> str:
    """``--attributes`` for the agent: the user's, plus ``engine=<id>`` by which its registration is recognised."""
    if "engine" in attributes:
        raise InvalidArgument(
            "attributes['engine'] is set by add_engine_agents to the engine's id; choose another name"
        )
    for name, value in attributes.items():
        if "," in name or "=" in name or name != name.strip() or not name:
            raise InvalidArgument(f"attributes name {name!r} must be a word without ',' or '=', e.g. 'rack'")
        if "," in value or value != value.strip():
            raise InvalidArgument(
                f"attributes[{name!r}]={value!r} must not contain ',' or surrounding spaces, e.g. 'r1'"
            )
    return ",".join(f"{k}={v}" for k, v in {**attributes, "engine": str(engine_id)}.items())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _controller_host(client: Any) -> str | None:
    """The host the client reaches the controller at (``tcp://HOST:PORT``), if the client says."""
    url = (getattr(client, "_config", None) or {}).get("registration") or ""
    host = url.partition("://")[2].rpartition(":")[0].strip("[]")
    return host or None


def _local_address_towards(host: str) -> str | None:
    """This machine's address on the route to ``host`` (no packet is sent: UDP only picks the route)."""
    try:
        family, _, _, _, target = socket.getaddrinfo(host, 9, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(target)
            return probe.getsockname()[0]
    except OSError:
        return None


def address_for_engines(address: tuple[str, int], client: Any, master_host: str | None) -> tuple[str, int]:
    """The master's address as the engines should dial it.

    ``master_host`` if given; else the address the master listens on; for a
    wildcard (``0.0.0.0``), this machine's address on the route to the
    controller, which the engines reach already (loopback when the controller is
    local).
    """
    host, port = address
    if master_host is not None:
        return master_host, port
    if host not in _WILDCARDS:
        return host, port
    loopback = "::1" if host == "::" else "127.0.0.1"
    controller = _controller_host(client)
    if controller is None or _is_loopback(controller):
        return loopback, port
    return _local_address_towards(controller) or socket.gethostname(), port


def _show(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _fix(address: tuple[str, int]) -> str:
    return (
        f"The engines must reach the master at {_show(address)}: start the cluster with "
        "jmesos.LocalCluster(host='0.0.0.0', ...) (or an address of this machine the engines can reach), "
        "or pass master_host= an address of this machine to add_engine_agents."
    )


# ------------------------------------------------------------------------------ talking to engines
class EngineError(RuntimeError):
    """An engine could not carry out a request."""


def _remote_error_text(exc: BaseException) -> str:
    name, value = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if name == "ModuleNotFoundError" and "jmesos" in str(value):
        return "jmesos is not installed in the engine's Python: pip install jmesos there (the same version as here)"
    if name:
        return f"{name}: {value}"
    if isinstance(exc, TimeoutError):
        return "did not answer in time (is it busy running something else, or gone?)"
    return f"{type(exc).__name__}: {exc}"


def _call_engines(client: Any, calls: Mapping[int, tuple[Callable[..., Any], tuple]], timeout: float) -> dict[int, Any]:
    """Run ``fn(*args)`` on each engine at once; each result, or an :class:`EngineError` saying what went wrong."""
    pending = {}
    results: dict[int, Any] = {}
    for engine_id, (fn, args) in calls.items():
        try:
            pending[engine_id] = client[engine_id].apply_async(fn, *args)
        except Exception as exc:  # noqa: BLE001 - a closed client, an engine that left: say so per engine
            results[engine_id] = EngineError(_remote_error_text(exc))
    deadline = time.monotonic() + timeout
    for engine_id, result in pending.items():
        try:
            results[engine_id] = result.get(max(0.0, deadline - time.monotonic()))
        except Exception as exc:  # noqa: BLE001
            results[engine_id] = EngineError(_remote_error_text(exc))
    return results


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` on this machine runs (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _wait_exit(pid: int, seconds: float) -> bool:
    """Until ``pid`` has exited, or ``seconds`` pass; True if it has."""
    deadline = time.monotonic() + seconds
    while _process_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _is_our_agent(agent: EngineAgent) -> bool:
    """The pid still names the agent we started (its command line holds its private directory)."""
    try:
        with open(f"/proc/{agent.pid}/cmdline", "rb") as f:
            return agent.directory.encode() in f.read()
    except OSError:
        return False


def _by_engine(agents: list[EngineAgent]) -> list[tuple[Any, dict[int, list[EngineAgent]]]]:
    """``agents`` grouped by client, then by engine: one request per engine reaches all of its agents."""
    groups: dict[int, tuple[Any, dict[int, list[EngineAgent]]]] = {}
    for agent in agents:
        groups.setdefault(id(agent.client), (agent.client, {}))[1].setdefault(agent.engine_id, []).append(agent)
    return list(groups.values())


def _stop_calls(per_engine: Mapping[int, list[EngineAgent]]) -> dict[int, tuple[Callable[..., Any], tuple]]:
    return {i: (on_engine.stop_agents, ([a.pid for a in agents], STOP_GRACE)) for i, agents in per_engine.items()}


# ------------------------------------------------------------------------------ registrations
class _Registrations:
    """Collects ``agent_added`` events of agents with an ``engine`` attribute, from before they start."""

    def __init__(self, events: EventLog, engine_ids: list[int], known: set[str]) -> None:
        self._wanted = {str(i): i for i in engine_ids}
        self._known = known
        self.found: dict[int, str] = {}
        self._changed = threading.Condition()
        self._unsubscribe = events.subscribe(self._seen)

    def _seen(self, batch: list[Event]) -> None:
        for event in batch:
            if event.kind != "agent_added":
                continue
            engine = (event.data.get("attributes") or {}).get("engine")
            agent_id = event.data.get("agent_id")
            if engine in self._wanted and agent_id not in self._known and not event.data.get("previous_id"):
                with self._changed:
                    self.found.setdefault(self._wanted[engine], agent_id)
                    self._changed.notify_all()

    def wait(self, engine_ids: list[int], seconds: float) -> bool:
        """Until every one of ``engine_ids`` has an agent, or ``seconds`` pass; True if all have."""
        with self._changed:
            return self._changed.wait_for(lambda: all(i in self.found for i in engine_ids), seconds)

    def close(self) -> None:
        self._unsubscribe()


@dataclass
class _Launch:
    """An agent started in this call, not yet registered."""

    engine_id: int
    host: dict[str, Any]
    started: dict[str, Any]
    token: str = ""


class EngineAgents:
    """The engine agents of one cluster: starts them, and kills, reads and stops them through their engines."""

    def __init__(self, events: EventLog) -> None:
        self._events = events
        self._agents: dict[str, EngineAgent] = {}
        self._client_lock = threading.RLock()
        self._changed = threading.Condition()  # guards _agents; notified when an agent is removed
        self._unsubscribe = events.subscribe(self._follow)
        self._here = on_engine.describe()

    def _follow(self, batch: list[Event]) -> None:
        """Mark agents the master removed; one that comes back (a new id, the same process) is ours again.

        It stays reachable by its former id too, so the logs of tasks it ran before can still be read.
        """
        for event in batch:
            if event.kind == "agent_removed":
                agent = self._agents.get(event.data.get("agent_id"))
                if agent is not None:
                    with self._changed:
                        agent.alive = False
                        self._changed.notify_all()
            elif event.kind == "agent_added" and event.data.get("previous_id") in self._agents:
                with self._changed:
                    agent = self._agents[event.data["previous_id"]]
                    agent.agent_id, agent.alive = event.data["agent_id"], True
                    self._agents[agent.agent_id] = agent

    def _wait_removed(self, agents: list[EngineAgent], seconds: float) -> None:
        """Until the master has removed every one of ``agents``, or ``seconds`` pass."""
        with self._changed:
            self._changed.wait_for(lambda: not any(agent.alive for agent in agents), seconds)

    # ------------------------------------------------------------------ queries
    def _all(self) -> list[EngineAgent]:
        """Every agent once, as of now (the event thread adds the new ids of agents that come back)."""
        with self._changed:
            return list({id(agent): agent for agent in self._agents.values()}.values())

    def alive(self) -> list[str]:
        return [agent.agent_id for agent in self._all() if agent.alive]

    def get(self, agent_id: str) -> EngineAgent | None:
        return self._agents.get(agent_id)

    def _on_this_host(self, host: dict[str, Any]) -> bool:
        return host["hostname"] == self._here["hostname"] and host["boot_id"] == self._here["boot_id"]

    # ------------------------------------------------------------------ starting
    def add(
        self,
        client: Any,
        engine_ids: list[int],
        address: tuple[str, int],
        secret: bytes,
        agent_args: list[str],
        attributes: Mapping[str, str],
        known_agents: set[str],
        timeout: float,
    ) -> list[str]:
        """Start an agent on each engine and wait for them all to register; on any failure, none stays."""
        texts = {i: attribute_text(attributes, i) for i in engine_ids}
        with self._client_lock:
            hosts = self._describe(client, engine_ids, address)
            registrations = _Registrations(self._events, engine_ids, known_agents | {a.agent_id for a in self._all()})
            tokens = {i: uuid.uuid4().hex for i in engine_ids}
            launches: dict[int, _Launch] = {}
            try:
                launches = self._launch(client, hosts, address, secret, agent_args, texts, tokens)
                found = self._await(client, launches, registrations, address, timeout)
            except BaseException:
                self._abandon(client, launches, tokens)
                raise
            finally:
                registrations.close()
            self._call(client, {i: (on_engine.forget_secret, (launches[i].started["pid"],)) for i in engine_ids})
            for engine_id in engine_ids:
                self._record(client, found[engine_id], launches[engine_id])
        return [found[i] for i in engine_ids]

    def _call(
        self, client: Any, calls: Mapping[int, tuple[Callable[..., Any], tuple]], timeout: float = CALL_TIMEOUT
    ) -> dict[int, Any]:
        with self._client_lock:
            return _call_engines(client, calls, timeout)

    def _describe(self, client: Any, engine_ids: list[int], address: tuple[str, int]) -> dict[int, dict[str, Any]]:
        """Where each engine runs; fails before anything starts if one cannot serve or cannot reach the master."""
        hosts = self._call(client, {i: (on_engine.describe, ()) for i in engine_ids})
        problems = [f"engine {i}: {r}" for i, r in hosts.items() if isinstance(r, EngineError)]
        if problems:
            raise RuntimeError("cannot start agents on the engines: " + "; ".join(problems))
        self._check_versions_and_hosts(hosts, address)
        self._check_free(hosts)
        return hosts

    def _check_versions_and_hosts(self, hosts: dict[int, dict[str, Any]], address: tuple[str, int]) -> None:
        mine = self._here["version"]
        for engine_id, host in hosts.items():
            if host["version"] != mine:
                raise RuntimeError(
                    f"engine {engine_id} on host {host['hostname']!r} has jmesos {host['version']} and this process "
                    f"{mine}; install the same version in both (the agent and the master must speak one protocol)"
                )
            if host.get("code") != self._here["code"]:
                raise RuntimeError(
                    f"engine {engine_id} on host {host['hostname']!r} runs another copy of jmesos {mine} than this "
                    "process (loaded before the files changed, or installed from other sources); restart the "
                    "engines (ipcluster stop, then ipcluster start) once both have the same code"
                )
            if _is_loopback(address[0]) and not self._on_this_host(host):
                raise RuntimeError(
                    f"engine {engine_id} runs on host {host['hostname']!r}, another machine than this one "
                    f"({self._here['hostname']!r}), so it cannot reach the master at {_show(address)}, which "
                    f"listens on this machine's loopback address only. {_fix(address)}"
                )

    def _check_free(self, hosts: dict[int, dict[str, Any]]) -> None:
        """One agent per engine: an engine that already runs one (of this cluster or another) is refused."""
        ours = {(agent.hostname, agent.engine_pid, agent.pid): agent for agent in self._all()}
        taken = {}
        for engine_id, host in hosts.items():
            for running in host.get("agents", []):
                agent = ours.get((host["hostname"], host["pid"], running["pid"]))
                if agent is not None:
                    taken[engine_id] = f"{agent.agent_id} of this cluster (kill_agent({agent.agent_id!r}) ends it)"
                else:
                    taken[engine_id] = (
                        f"an agent (pid {running['pid']}) of another cluster, whose master is at {running['master']} "
                        "(stop that cluster first: cluster.stop(), or %mesos stop in its notebook)"
                    )
                break
        if not taken:
            return
        free = [i for i in hosts if i not in taken]
        leave_out = f"leave it out, e.g. add_engine_agents(client[{free}])" if free else "use other engines"
        # one line: the %mesos magic shows an error's first line only
        raise InvalidArgument(
            "; ".join(f"engine {i} on host {hosts[i]['hostname']!r} already runs {what}" for i, what in taken.items())
            + f". An engine hosts one agent at a time: end that agent first, or {leave_out}."
        )

    def _launch(
        self,
        client: Any,
        hosts: dict[int, dict[str, Any]],
        address: tuple[str, int],
        secret: bytes,
        agent_args: list[str],
        texts: dict[int, str],
        tokens: dict[int, str],
    ) -> dict[int, _Launch]:
        """Start the agents; if one engine cannot, stop those that did start and say why."""
        calls = {}
        for engine_id, host in hosts.items():
            path = [p for p in sys.path if p] if self._on_this_host(host) else []
            args = [*agent_args, "--attributes", texts[engine_id]]
            start = (address[0], address[1], secret, args, PROBE_TIMEOUT, path, tokens[engine_id])
            calls[engine_id] = (on_engine.start_agent, start)
        results = self._call(client, calls, PROBE_TIMEOUT + CALL_TIMEOUT)
        launches = {
            i: _Launch(i, hosts[i], r, tokens[i])
            for i, r in results.items()
            if not isinstance(r, EngineError) and "pid" in r
        }
        problems, unreachable = [], False
        for engine_id, result in results.items():
            where = f"engine {engine_id} on host {hosts[engine_id]['hostname']!r}"
            if isinstance(result, EngineError):
                problems.append(f"{where} could not start an agent: {result}")
            elif "error" in result:
                problems.append(f"{where} {result['error']}.")
                unreachable = True
        if problems:
            self._abandon(client, launches, tokens)
            if launches:
                problems.append(f"The agents started on engines {sorted(launches)} were stopped again.")
            # one line: the %mesos magic shows an error's first line only
            raise RuntimeError(" ".join([*problems, _fix(address)] if unreachable else problems))
        return launches

    def _await(
        self,
        client: Any,
        launches: dict[int, _Launch],
        registrations: _Registrations,
        address: tuple[str, int],
        timeout: float,
    ) -> dict[int, str]:
        """Wait for each agent's registration, asking the engines now and then whether their agents still run."""
        engine_ids, deadline = list(launches), time.monotonic() + timeout
        while not registrations.wait(engine_ids, min(CHECK_INTERVAL, max(0.0, deadline - time.monotonic()))):
            waiting = [i for i in engine_ids if i not in registrations.found]
            states = self._states(client, launches, waiting)
            ended = {i: s for i, s in states.items() if not isinstance(s, EngineError) and not s["running"]}
            waiting = [i for i in waiting if i not in registrations.found]  # one may have come meanwhile
            if waiting and (ended or time.monotonic() >= deadline):
                raise RuntimeError(self._not_registered(launches, waiting, states, address, timeout))
        return dict(registrations.found)

    def _states(self, client: Any, launches: dict[int, _Launch], engine_ids: list[int]) -> dict[int, Any]:
        calls = {i: (on_engine.agent_state, (launches[i].started["pid"],)) for i in engine_ids}
        return self._call(client, calls)

    @staticmethod
    def _not_registered(
        launches: dict[int, _Launch],
        waiting: list[int],
        states: dict[int, Any],
        address: tuple[str, int],
        timeout: float,
    ) -> str:
        """Why the agents of ``waiting`` did not register, with the end of each one's log."""
        parts = []
        for engine_id in waiting:
            launch, state = launches[engine_id], states.get(engine_id)
            where = f"engine {engine_id} on host {launch.host['hostname']!r}"
            pid, log = launch.started["pid"], os.path.join(launch.started["directory"], "agent.log")
            if isinstance(state, EngineError):
                parts.append(f"{where}: its agent (pid {pid}) did not register, and the engine {state}")
                continue
            if state["running"]:
                what = f"did not register with the master at {_show(address)} within {timeout:g}s"
            else:
                from .lifetime import how_it_ended

                what = f"{how_it_ended(state['code'])} before it registered with the master at {_show(address)}"
            tail = textwrap.indent(state["log_tail"] or "(empty)", "    ")
            parts.append(f"{where}: its agent (pid {pid}) {what}. Its log ({log} on that host) ends:\n{tail}")
        return "\n".join([*parts, _fix(address)])

    def _abandon(self, client: Any, launches: dict[int, _Launch], tokens: Mapping[int, str]) -> None:
        """Stop agents of a failed start (their directories go too).

        An engine whose answer to the start request never came (busy, or an
        interrupted wait) may still start its agent later: it is told, without
        waiting, to stop whatever that request starts.
        """
        if launches:
            calls = {i: (on_engine.stop_agent, (launch.started["pid"], STOP_GRACE)) for i, launch in launches.items()}
            self._call(client, calls, CALL_TIMEOUT + STOP_GRACE)
        unanswered = {
            i: (on_engine.abandon_start, (token, STOP_GRACE)) for i, token in tokens.items() if i not in launches
        }
        if unanswered:
            self._tell(client, unanswered)

    def _record(self, client: Any, agent_id: str, launch: _Launch) -> None:
        started, host = launch.started, launch.host
        agent = EngineAgent(
            agent_id=agent_id,
            engine_id=launch.engine_id,
            client=client,
            hostname=host["hostname"],
            engine_pid=host["pid"],
            pid=started["pid"],
            directory=started["directory"],
            sandboxes=started["sandboxes"],
            local=self._on_this_host(host),
        )
        with self._changed:
            self._agents[agent_id] = agent

    # ------------------------------------------------------------------ killing, reading, stopping
    def _engine_gone(self, agent: EngineAgent) -> bool:
        """Known to be gone: an engine on this machine whose process has ended (one elsewhere cannot be told)."""
        return agent.local and not _process_alive(agent.engine_pid)

    def kill(self, agent: EngineAgent) -> None:
        """SIGKILL the agent through its engine (here, if its engine does not answer and it runs here)."""
        gone = self._engine_gone(agent)
        if agent.killed or (gone and not agent.alive):
            how = "been killed" if agent.killed else f"exited: its {agent.where()} has ended"
            raise InvalidArgument(
                f"agent_id={agent.agent_id!r} has already {how}, so there is nothing to kill; "
                "the live agents are in cluster.agents"
            )
        agent.alive = False
        result: Any = EngineError("the engine has ended")
        if not gone:
            kill = (on_engine.kill_agent, (agent.pid, MASTER_REFUSED_TIMEOUT, MASTER_TIMEOUT))
            result = self._call(agent.client, {agent.engine_id: kill})[agent.engine_id]
        if isinstance(result, EngineError):
            if not agent.local:
                raise RuntimeError(f"cannot kill {agent.agent_id} on {agent.where()}: the engine {result}")
            self._end_here(agent, signal.SIGKILL)
        agent.killed = True

    def _end_here(self, agent: EngineAgent, sig: int) -> None:
        """End an agent on this machine without its engine (when its pid still names it)."""
        if _is_our_agent(agent):
            try:
                os.kill(agent.pid, sig)
            except ProcessLookupError:
                pass
            if not _wait_exit(agent.pid, STOP_GRACE):
                os.kill(agent.pid, signal.SIGKILL)

    def read_text(self, agent: EngineAgent, path: str) -> str:
        """A file in the agent's sandboxes: read here when the agent runs here, through its engine otherwise."""
        if agent.local and (os.path.exists(path) or self._engine_gone(agent)):
            try:
                with open(path, errors="replace") as f:
                    return f.read()
            except FileNotFoundError:
                return ""
        result = self._call(agent.client, {agent.engine_id: (on_engine.read_text, (path,))})[agent.engine_id]
        if isinstance(result, EngineError):
            raise RuntimeError(f"cannot read {path} on {agent.where()}: the engine {result}")
        return result or ""

    def stop_all(self, shut_down: Callable[[list[str]], bool] | None = None) -> None:
        """End every engine agent and remove its directory.

        ``shut_down(agent_ids)`` has the master ask the live agents to leave, over their own
        connections (it returns False when there is no master to ask).  That reaches an agent
        however busy its engine is: an engine runs one request at a time, so a long
        computation there would hold a stop through it up for ``CALL_TIMEOUT``.  An agent that
        says goodbye removes its directory as it exits; one on this host is waited for here,
        and the engines are told without anyone waiting, so each forgets its agents when it
        is free.  The rest (agents that did not say goodbye within ``STOP_GRACE``, and killed
        agents, whose directories stayed for their logs) are stopped through their engines.
        """
        live = [agent for agent in self._all() if agent.alive]
        if shut_down is not None and live and shut_down([agent.agent_id for agent in live]):
            self._wait_removed(live, STOP_GRACE)
        self._unsubscribe()
        said_goodbye = {agent.agent_id for agent in live if not agent.alive}
        to_tell, to_wait = [], []
        for agent in self._all():
            if agent.agent_id in said_goodbye and agent.local:
                self._wait_exit_here(agent)
            if self._engine_gone(agent):
                self._clean_here(agent)
            else:
                (to_tell if agent.agent_id in said_goodbye else to_wait).append(agent)
        for client, per_engine in _by_engine(to_tell):
            self._tell(client, _stop_calls(per_engine))
        for client, per_engine in _by_engine(to_wait):
            results = self._call(client, _stop_calls(per_engine), CALL_TIMEOUT + STOP_GRACE)
            for engine_id, result in results.items():
                if isinstance(result, EngineError):
                    for agent in per_engine[engine_id]:
                        self._unreachable_at_stop(agent, result)
        for agent in self._all():
            agent.alive = False

    def _tell(self, client: Any, calls: Mapping[int, tuple[Callable[..., Any], tuple]]) -> None:
        """Send requests to engines without waiting for them (an engine busy now runs them later)."""
        with self._client_lock:
            for engine_id, (fn, args) in calls.items():
                try:
                    client[engine_id].apply_async(fn, *args)
                except Exception:  # noqa: BLE001 - a closed client, an engine that left: nothing to tell
                    pass

    def _wait_exit_here(self, agent: EngineAgent) -> None:
        """An agent on this host that said goodbye: wait for it to exit, then make sure of it and its directory."""
        _wait_exit(agent.pid, STOP_GRACE)
        self._clean_here(agent)

    def _clean_here(self, agent: EngineAgent) -> None:
        import shutil

        self._end_here(agent, signal.SIGTERM)
        shutil.rmtree(agent.directory, ignore_errors=True)

    def _unreachable_at_stop(self, agent: EngineAgent, error: EngineError) -> None:
        if agent.local:
            self._clean_here(agent)
            return
        warnings.warn(
            f"could not stop {agent.agent_id} on {agent.where()}: neither the master nor the engine reached it "
            f"(the engine {error}). The agent exits by itself, removing its directory {agent.directory}, once the "
            f"master is gone: {MASTER_REFUSED_TIMEOUT:g}s after it stops if that host can reach this one, "
            f"{MASTER_TIMEOUT:g}s if not; or with its engine.",
            RuntimeWarning,
            stacklevel=3,
        )
