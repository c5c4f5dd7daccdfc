"""What runs on an ipyparallel engine to give a cluster one more agent on that engine's host.

:meth:`jmesos.LocalCluster.add_engine_agents` sends these functions to the
engines (they pickle by reference, so the engine imports them from its own
jmesos).  Each agent is a child of the engine process, started as
``python -m jmesos.runtime.on_engine ENGINE_PID SYS_PATH AGENT_ARGS...``: that
entry point asks for a parent-death signal *before* it becomes an agent, so the
agent ends when its engine ends, however the engine ends, and no ``preexec_fn``
runs in the engine's many-threaded process.  SIGTERM, not SIGKILL: the agent
then kills its tasks and removes its cgroups on the way out.

Each agent gets a fresh private directory (mode 0700) on the engine's host with
the cluster's secret (0600, removed once the agent has registered), the
agent's log and its task sandboxes; stopping the agent removes it.

This module imports nothing heavy at the top: an engine loads it to serve
small requests, and the agent process starts from it.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .interpreter import jmesos_env

__all__ = [
    "describe",
    "start_agent",
    "agent_state",
    "abandon_start",
    "forget_secret",
    "kill_agent",
    "stop_agent",
    "stop_agents",
    "read_text",
]

#: how much of an agent's log an error message quotes
LOG_TAIL_CHARS = 2000


@dataclass
class _Started:
    """An agent this engine started: its process and the directory that holds everything it wrote."""

    proc: subprocess.Popen
    directory: str
    master: tuple[str, int] = ("", 0)  # where it dials: a killed agent's directory goes once nothing answers there
    token: str = ""  # names the request that started it, so a caller that gave up on the answer can stop it

    @property
    def secret_file(self) -> str:
        return _secret_file(self.directory)

    @property
    def log(self) -> str:
        return _log_file(self.directory)


def _secret_file(directory: str) -> str:
    return os.path.join(directory, "secret")


def _log_file(directory: str) -> str:
    return os.path.join(directory, "agent.log")


def _sandboxes(directory: str) -> str:
    return os.path.join(directory, "sandboxes")


#: the agents started by this engine process, by pid (the module stays loaded between requests)
_started: dict[int, _Started] = {}
#: tokens of start requests whose caller gave up on them (see :func:`abandon_start`)
_abandoned: set[str] = set()


def _boot_id() -> str:
    """Tells this machine's boot from any other's: two hosts may share a hostname, never a boot id."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _code_stamp() -> str:
    """A digest of this module as it was loaded.

    An engine keeps the code it imported first: after the files changed (a development
    install) it ran an older copy of this module under the same version number, and
    failed with a NameError half way through starting an agent.
    """
    try:
        with open(__file__, "rb") as source:
            return hashlib.sha256(source.read()).hexdigest()[:16]
    except OSError:
        return ""


CODE_STAMP = _code_stamp()


def describe() -> dict[str, Any]:
    """Where this engine runs, so the cluster can tell a local engine from a remote one before starting anything."""
    from .. import __version__

    return {
        "hostname": socket.gethostname(),
        "boot_id": _boot_id(),
        "pid": os.getpid(),
        "version": __version__,
        "code": CODE_STAMP,
        "python": sys.executable,
        # agents of this engine that still run, and the master each dials: an engine hosts one at a time
        "agents": [
            {"pid": pid, "master": _where(*started.master)}
            for pid, started in _started.items()
            if started.proc.poll() is None
        ],
    }


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _probe(host: str, port: int, timeout: float) -> str:
    """'' when the master's address takes a TCP connection from here; otherwise why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ""
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


_spawner: ThreadPoolExecutor | None = None


def _spawn(*args: Any, **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen`` on a thread that lives as long as the engine.

    The kernel sends the parent-death signal when the *thread* that started the
    child ends, not the process: an engine that serves requests on a passing
    thread would otherwise kill its agents as soon as that thread finished.
    """
    global _spawner
    if _spawner is None:
        _spawner = ThreadPoolExecutor(1, thread_name_prefix="jmesos-agent-spawner")
    return _spawner.submit(subprocess.Popen, *args, **kwargs).result()


def start_agent(
    host: str,
    port: int,
    secret: bytes,
    agent_args: list[str],
    probe_timeout: float,
    sys_path: list[str],
    token: str = "",
) -> dict[str, Any]:
    """Start one agent as a child of this engine; returns its pid and directories, or ``{'error': ...}``.

    The master's address is tried first: an engine that cannot reach it says so at
    once, rather than after the caller's timeout.  ``sys_path`` is added to the
    agent's import path (after its own), so tasks can import what the caller can
    when both run on one machine.  ``token`` names this request for
    :func:`abandon_start`.
    """
    from .wire import write_secret

    where = _where(host, port)
    if token and token in _abandoned:
        return {"error": "was asked to start an agent by a request its caller had already given up on"}
    why = _probe(host, port, probe_timeout)
    if why:
        return {"error": f"cannot connect to the master at {where} from here ({why})"}
    directory = tempfile.mkdtemp(prefix="jmesos-engine-agent-")
    write_secret(_secret_file(directory), secret)
    command = [sys.executable, "-m", __name__, str(os.getpid()), os.pathsep.join(sys_path)]
    command += ["--master", where, "--secret-file", _secret_file(directory), "--work-dir", _sandboxes(directory)]
    with open(_log_file(directory), "ab") as log:
        proc = _spawn(
            command + agent_args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=directory, env=jmesos_env()
        )
    _started[proc.pid] = _Started(proc, directory, (host, port), token)
    # reaped as soon as it ends, so an agent that exits on its own leaves no zombie in the engine
    threading.Thread(target=proc.wait, name="jmesos-agent-reaper", daemon=True).start()
    return {"pid": proc.pid, "directory": directory, "sandboxes": _sandboxes(directory)}


def agent_state(pid: int) -> dict[str, Any]:
    """Whether the agent runs, its exit status if not (minus the signal if killed), and its log's end."""
    started = _started.get(pid)
    if started is None:
        return {"running": False, "code": None, "log_tail": "", "known": False}
    from .command import file_tail

    code = started.proc.poll()
    return {"running": code is None, "code": code, "log_tail": file_tail(started.log, LOG_TAIL_CHARS), "known": True}


def abandon_start(token: str, grace: float = 5.0) -> list[int | None]:
    """Stop the agent that the start request ``token`` started, if it did; one that runs later starts nothing.

    The caller sends this after a start request it stopped waiting for (a busy
    engine answers late): the engine runs requests in order, so this comes after
    that start, and the agent it started does not stay on without a cluster.
    """
    _abandoned.add(token)
    return stop_agents([pid for pid, started in list(_started.items()) if started.token == token], grace)


def forget_secret(pid: int) -> None:
    """Remove the secret file: the registered agent holds the secret in memory, no copy need stay on disk."""
    started = _started.get(pid)
    if started is not None:
        try:
            os.unlink(started.secret_file)
        except FileNotFoundError:
            pass


def _end(started: _Started, sig: int, grace: float) -> int | None:
    """Send ``sig``; SIGKILL after ``grace`` s; then kill what its tasks left in its cgroups."""
    from .containers import cleanup_agent_cgroups

    proc = started.proc
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5.0)
    cleanup_agent_cgroups(proc.pid, timeout=1.0)
    return proc.returncode


def kill_agent(pid: int, refused_timeout: float = 2.0, timeout: float = 10.0) -> int | None:
    """SIGKILL the agent, as a machine failure would; its directory stays, so its tasks' logs can still be read.

    Only as long as its cluster needs it: the directory goes with :func:`stop_agent`,
    or, when nobody stops it (the cluster's process was killed), once the agent's
    master is gone (connections refused for ``refused_timeout`` s, or failing for
    ``timeout`` s: the rule the agent itself would have followed), or when this
    engine exits.
    """
    started = _started.get(pid)
    if started is None:
        return None
    code = _end(started, signal.SIGKILL, 5.0)
    _watch_killed(pid, started, refused_timeout, timeout)
    return code


#: how often a killed agent's directory checks whether its master is still there
WATCH_INTERVAL = 1.0
_exit_hook_installed = False


def _watch_killed(pid: int, started: _Started, refused_timeout: float, timeout: float) -> None:
    global _exit_hook_installed
    if not _exit_hook_installed:
        atexit.register(_remove_killed)
        _exit_hook_installed = True
    threading.Thread(
        target=_remove_when_master_gone,
        args=(pid, started, refused_timeout, timeout),
        name="jmesos-killed-agent-watch",
        daemon=True,
    ).start()


def _remove_when_master_gone(pid: int, started: _Started, refused_timeout: float, timeout: float) -> None:
    host, port = started.master
    refused_since = failing_since = None
    while _started.get(pid) is started:
        now = time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=min(timeout, 2.0)):
                refused_since = failing_since = None
        except ConnectionRefusedError:
            refused_since = refused_since or now
            failing_since = failing_since or now
        except OSError:
            refused_since, failing_since = None, failing_since or now
        if (refused_since is not None and now - refused_since >= refused_timeout) or (
            failing_since is not None and now - failing_since >= timeout
        ):
            if _started.get(pid) is started:
                _started.pop(pid, None)
                shutil.rmtree(started.directory, ignore_errors=True)
            return
        time.sleep(WATCH_INTERVAL)


def _remove_killed() -> None:
    """At the engine's exit: the directories of the agents it killed (the running ones remove their own)."""
    for pid, started in list(_started.items()):
        if started.proc.poll() is not None:
            _started.pop(pid, None)
            shutil.rmtree(started.directory, ignore_errors=True)


def stop_agent(pid: int, grace: float = 5.0) -> int | None:
    """SIGTERM the agent (it kills its tasks and says goodbye to the master), then remove its directory."""
    started = _started.pop(pid, None)
    if started is None:
        return None
    code = _end(started, signal.SIGTERM, grace)
    shutil.rmtree(started.directory, ignore_errors=True)
    return code


def stop_agents(pids: list[int], grace: float = 5.0) -> list[int | None]:
    """Stop several agents of this engine together, so their grace periods overlap."""
    with ThreadPoolExecutor(max(1, len(pids))) as pool:
        return list(pool.map(lambda pid: stop_agent(pid, grace), pids))


def read_text(path: str) -> str | None:
    """A sandbox file's text, or None when it does not exist (a task that printed nothing)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _run_as_agent(argv: list[str]) -> int:
    """The agent's entry point: die with the engine (pid ``argv[0]``), extend the import path, run the agent.

    An agent that had registered and then ends by itself (its master gone, or
    its engine) removes its directory: no cluster is left to read its logs.
    Until it registers, the directory stays, so the cluster can quote the log
    of an agent that failed to start; a SIGKILL (``kill_agent``) leaves it too.
    """
    from .lifetime import die_with_parent

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # an engine that ignores it must not pass that on
    die_with_parent(signal.SIGTERM, parent=int(argv[0]))
    sys.path.extend(p for p in argv[1].split(os.pathsep) if p and p not in sys.path)
    from .agent import main

    secret_file = argv[argv.index("--secret-file") + 1]
    try:
        return main(argv[2:])
    finally:
        if not os.path.exists(secret_file):  # removed once the agent registered (forget_secret)
            shutil.rmtree(os.path.dirname(secret_file), ignore_errors=True)


if __name__ == "__main__":
    sys.exit(_run_as_agent(sys.argv[1:]))
