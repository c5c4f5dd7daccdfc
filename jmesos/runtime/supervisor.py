"""The supervisor: one process that forks a cluster's master and agents, and takes them down.

``LocalCluster`` starts it with ``python -m jmesos.runtime.supervisor`` and
talks to it over its stdin/stdout in JSON lines.  Starting one fresh
interpreter and forking the rest (with the ``multiprocess`` fork context) is
what makes a cluster ready in a fraction of a second, and shares the
interpreter's pages between master and agents.

If the master dies, the cluster is over (there is no standby master to take
over): the supervisor stops the agents, which kill their tasks, and reports the
master's exit.

No orphans: the supervisor is a *child subreaper*, so any process its cluster
starts stays its descendant even when the parent in between dies (and is reaped
here when it ends, rather than left a zombie); when its stdin closes (the
notebook kernel exited or was killed), its reports find nobody reading them, it is
told to stop, or it gets SIGTERM, it stops the agents (which kill their tasks),
then the master, then anything left among its descendants.  Every child also gets
a parent-death signal.
A work directory the cluster made for itself (``remove_work_dir``) goes too:
after a kernel restart, nobody else is left to remove its sandboxes and logs.

Commands in (one JSON object a line): ``{"cmd": "add_agent", "spec": {...}}``,
``{"cmd": "kill", "pid": N}``, ``{"cmd": "stop"}``.
Reports out: ``{"event": "master", "address": [host, port], "pid": N}``,
``{"event": "agent", "agent_id": ..., "pid": N}``, ``{"event": "exit", "pid": N, "code": C}``,
``{"event": "error", "message": ...}``.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import selectors
import shutil
import signal
import socket
import sys
import time
from typing import Any

from .containers import cleanup_agent_cgroups, descendants, own_children, warm_up_attach
from .wire import listening_socket

__all__ = ["main"]

_PR_SET_CHILD_SUBREAPER = 36


_owner_gone = False  # a report could not be written: the process that started us has died


def _tell(text: str) -> None:
    """Write report lines to the owner; if it has died (a SIGKILLed kernel, a killed task), note it.

    A dead owner must not turn into a crash here: that would skip the orderly stop and leave
    the work directory behind.  Once the pipe is broken, stdout goes to ``/dev/null`` so that
    the interpreter's last flush at exit fails quietly too.
    """
    global _owner_gone
    if _owner_gone:
        return
    try:
        sys.__stdout__.write(text)
        sys.__stdout__.flush()
    except (OSError, ValueError):
        _owner_gone = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)


def _emit(obj: dict[str, Any]) -> None:
    _tell(json.dumps(obj) + "\n")


class _LineReader:
    """Whole lines from a pipe, read with ``os.read`` when the selector says it is readable.

    Reading through ``sys.stdin`` would not do: its buffer may take two commands in one
    read and hand out only the first, and the selector, watching the now empty pipe,
    does not report the second (a ``kill_agent`` and an ``add_agent`` written back to
    back left the new agent unstarted until some later command arrived).
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.closed = False
        self._partial = b""

    def read_lines(self) -> list[str]:
        """One read's worth of complete lines; at end of file, ``closed`` and the unfinished last line."""
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        if not data:
            self.closed = True
            data = b"\n"
        *lines, self._partial = (self._partial + data).split(b"\n")
        return [line.decode() for line in lines if line.strip()]


def _redirect_output(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _master_child(spec: dict[str, Any], sock: socket.socket, log: str) -> None:
    from ..core.master import MasterConfig
    from .lifetime import die_with_parent
    from .master_process import run_master
    from .serialize import loads_value

    die_with_parent()
    _redirect_output(log)
    policy: Any = spec.get("policy", "drf")
    if isinstance(policy, dict) and "blob" in policy:
        policy = loads_value(base64.b64decode(policy["blob"]))
    secret = spec["secret"].encode()
    run_master(
        secret,
        sock=sock,
        config=MasterConfig(**spec.get("master", {})),
        policy=policy,
        policy_options=spec.get("policy_options") or {},
    )


def _agent_child(
    spec: dict[str, Any], agent: dict[str, Any], address: tuple[str, int], report_fd: int, log: str
) -> None:
    from ..core.resources import Resources
    from .agent import run_agent
    from .lifetime import die_with_parent

    # SIGTERM, not SIGKILL: should the supervisor itself be killed (the OOM killer), the agent still
    # kills its tasks on the way out, which a task's own children would otherwise outlive
    die_with_parent(signal.SIGTERM)
    _redirect_output(log)
    pid = os.getpid()

    def registered(agent_id: str) -> None:
        os.write(report_fd, (json.dumps({"event": "agent", "agent_id": agent_id, "pid": pid}) + "\n").encode())

    run_agent(
        address,
        spec["secret"].encode(),
        Resources.parse(agent["resources"]),
        attributes=agent.get("attributes") or {},
        hostname=agent.get("hostname"),
        work_dir=spec["work_dir"],
        on_registered=registered,
        **spec.get("agent_options", {}),
    )


def main() -> int:
    """Run a cluster described by the JSON spec on the first line of stdin."""
    commands = _LineReader(sys.stdin.fileno())
    backlog: list[str] = []
    while not backlog and not commands.closed:
        backlog = commands.read_lines()  # stdin blocks: this waits for the spec
    if not backlog:
        return 1
    spec = json.loads(backlog.pop(0))
    for entry in spec.get("sys_path", []):
        if entry not in sys.path:
            sys.path.append(entry)
    try:
        ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    import dill  # noqa: F401  (loaded once here so every forked agent and worker shares it)
    import multiprocess

    from . import agent, master_process  # noqa: F401

    ctx = multiprocess.get_context("fork")
    logs = os.path.join(spec["work_dir"], "logs")
    os.makedirs(logs, exist_ok=True)
    host, port = spec.get("host", "127.0.0.1"), int(spec.get("port", 0))
    try:
        sock = listening_socket(host, port)
    except OSError as exc:
        _emit(
            {
                "event": "error",
                "message": f"cannot listen on {host}:{port} ({exc.strerror}); choose another host or port",
            }
        )
        return 1
    address = sock.getsockname()[:2]
    processes: dict[int, Any] = {}

    master = ctx.Process(
        target=_master_child, args=(spec, sock, os.path.join(logs, "master.log")), name="jmesos-master"
    )
    master.start()
    sock.close()
    processes[master.pid] = master
    _emit({"event": "master", "address": list(address), "pid": master.pid})

    report_r, report_w = os.pipe()
    os.set_blocking(report_r, False)
    agent_count = 0

    def start_agent(agent_spec: dict[str, Any]) -> None:
        nonlocal agent_count
        agent_count += 1
        log = os.path.join(logs, f"agent-process-{agent_count}.log")
        proc = ctx.Process(
            target=_agent_child, args=(spec, agent_spec, tuple(address), report_w, log), name="jmesos-agent"
        )
        proc.start()
        processes[proc.pid] = proc

    if spec.get("agent_options", {}).get("isolation", "auto") in ("auto", "cgroups"):
        warm_up_attach()
    for agent_spec in spec.get("agents", []):
        start_agent(agent_spec)

    reports = _LineReader(report_r)
    selector = selectors.DefaultSelector()
    selector.register(commands.fd, selectors.EVENT_READ, commands)
    selector.register(report_r, selectors.EVENT_READ, reports)
    terminated = []  # SIGTERM (a process-tree kill, a polite ``kill``) stops the cluster as "stop" would
    signal.signal(signal.SIGTERM, lambda *_: terminated.append(True))

    def obey(command_lines: list[str]) -> bool:
        """Carry out the commands in order; True (and nothing after it) at a stop."""
        for command_line in command_lines:
            try:
                command = json.loads(command_line)
                if command["cmd"] == "stop":
                    return True
                if command["cmd"] == "add_agent":
                    start_agent(command["spec"])
                elif command["cmd"] == "kill":
                    pid = int(command["pid"])
                    if pid in processes:
                        os.kill(pid, signal.SIGKILL)
            except Exception as exc:
                _emit({"event": "error", "message": f"bad command {command_line!r}: {exc!r}"})
        return False

    stopping = obey(backlog)
    master_lost = False
    while not stopping and not commands.closed and not terminated and not _owner_gone:
        for key, _ in selector.select(0.25):
            reader: _LineReader = key.data
            lines = reader.read_lines()
            if reader is commands:
                stopping = obey(lines) or commands.closed
                if stopping:
                    break
            elif lines:
                _tell("".join(report + "\n" for report in lines))
        _reap_adopted(processes)
        for pid, proc in list(processes.items()):
            if proc.exitcode is not None:
                del processes[pid]
                if pid != master.pid:  # what a killed agent's tasks left running in its containers
                    cleanup_agent_cgroups(pid)
                _emit({"event": "exit", "pid": pid, "code": proc.exitcode})
                if pid == master.pid:  # no master, no cluster: stop its agents' tasks rather than orphan them
                    master_lost = stopping = True
    _shutdown(processes, master.pid)
    # the master's log may say why it died: a living owner reads it, then removes the directory
    if spec.get("remove_work_dir") and (not master_lost or _owner_gone):
        shutil.rmtree(spec["work_dir"], ignore_errors=True)
    return 0


def _reap_adopted(processes: dict[int, Any]) -> None:
    """Reap the orphans this subreaper adopted that have ended (a killed shell task's ``sleep``, say).

    Only those: the master and agents are reaped by their ``Process`` objects, which must see
    their exit codes.  (A kernel without ``/proc/PID/task/TID/children`` leaves them to the stop.)
    """
    for pid in own_children():
        if pid not in processes:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def _shutdown(processes: dict[int, Any], master_pid: int) -> None:
    """Agents first (they kill their tasks and clean their containers), then the master, then stragglers."""
    me = os.getpid()
    agents = [p for pid, p in processes.items() if pid != master_pid]
    for proc in agents:
        _signal(proc.pid, signal.SIGTERM)
    _wait(agents, 3.0)
    for proc in agents:
        cleanup_agent_cgroups(proc.pid, timeout=1.0)
    for proc in processes.values():
        _signal(proc.pid, signal.SIGTERM)
    _wait(list(processes.values()), 2.0)
    for _ in range(3):
        left = descendants(me)
        if not left:
            break
        for pid in left:
            _signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                if os.waitpid(-1, os.WNOHANG) == (0, 0):
                    time.sleep(0.02)
            except ChildProcessError:
                break


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait(procs: list[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))


if __name__ == "__main__":
    sys.exit(main())
