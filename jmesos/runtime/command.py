"""Shell tasks: ``TaskInfo(command="...")`` run by ``/bin/sh -c`` in the task's sandbox.

Each command runs in its own session and process group (so a kill reaches
everything it started), inside its own container (so its memory is limited and
background processes it leaves behind can be found), with a parent-death
signal (so it does not outlive a SIGKILLed agent), stdin from ``/dev/null``
and stdout/stderr appended to the sandbox's ``stdout``/``stderr`` files.

Launching forks the agent once per command; a launch failure (no sandbox, no
shell, a container that refuses the process) is reported with its cause, which
the agent turns into TASK_ERROR / REASON_CONTAINER_LAUNCH_FAILED.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping

from .containers import Container, signal_tree
from .lifetime import die_with_parent, how_it_ended

__all__ = ["CommandProcess", "LaunchError", "launch_command", "describe_exit", "stderr_tail", "file_tail", "SHELL"]

SHELL = "/bin/sh"
_MEMORY_WORDS = ("MemoryError", "Cannot allocate memory", "out of memory", "std::bad_alloc", "memory exhausted")


class LaunchError(RuntimeError):
    """The command could not be started; the message says why."""


class CommandProcess:
    """A running shell task: its pid (also its process group) and its container."""

    __slots__ = ("pid", "container", "sandbox", "killing")

    def __init__(self, pid: int, container: Container, sandbox: str) -> None:
        self.pid = pid
        self.container = container
        self.sandbox = sandbox
        self.killing = False

    def signal(self, sig: int) -> None:
        """``sig`` to the shell's process group, its descendants and its container."""
        signal_tree(self.pid, self.container, sig)


def launch_command(
    command: str, sandbox: str, env: Mapping[str, str], container: Container, *, rlimit: bool = False
) -> CommandProcess:
    """Start ``sh -c command`` in ``sandbox`` inside ``container``; raises :class:`LaunchError`."""
    try:
        try:
            os.mkdir(sandbox)
        except FileExistsError:
            pass
        except FileNotFoundError:
            os.makedirs(sandbox, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        out = os.open(os.path.join(sandbox, "stdout"), flags, 0o644)
        err = os.open(os.path.join(sandbox, "stderr"), flags, 0o644)
    except OSError as exc:
        raise LaunchError(f"cannot create the task's sandbox {sandbox}: {exc.strerror or exc}") from None
    if not os.access(SHELL, os.X_OK):
        os.close(out)
        os.close(err)
        raise LaunchError(f"{SHELL} is missing or not executable on this agent")
    environment = {str(k): str(v) for k, v in env.items()}
    errpipe_r, errpipe_w = os.pipe()  # close-on-exec: end of file means exec succeeded
    agent_pid = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError as exc:
        for fd in (out, err, errpipe_r, errpipe_w):
            os.close(fd)
        raise LaunchError(f"cannot fork: {exc.strerror or exc}") from None
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.setsid()
            die_with_parent(parent=agent_pid)
            container.join()
            if rlimit:
                container.apply_rlimits(0)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.chdir(sandbox)
            keep = errpipe_w
            os.closerange(3, keep)
            os.closerange(keep + 1, 1 << 16)
            os.execve(SHELL, [SHELL, "-c", command], environment)
        except BaseException as exc:  # noqa: BLE001
            try:
                os.write(errpipe_w, f"{type(exc).__name__}: {exc}".encode(errors="replace")[:2000])
            except OSError:
                pass
        os._exit(127)
    os.close(out)
    os.close(err)
    os.close(errpipe_w)
    try:
        chunks = []
        while True:
            chunk = os.read(errpipe_r, 4096)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(errpipe_r)
    if chunks:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        raise LaunchError(f"the command could not be started: {b''.join(chunks).decode(errors='replace')}")
    return CommandProcess(pid, container, sandbox)


def stderr_tail(sandbox: str, limit: int = 2000) -> str:
    """The last ``limit`` bytes of the task's stderr, from a line start where possible."""
    return file_tail(os.path.join(sandbox, "stderr"), limit)


def file_tail(path: str, limit: int = 2000) -> str:
    """The last ``limit`` bytes of a file (a log), from a line start where possible; '' if it cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return ""
    if size > limit and b"\n" in data[:-1]:
        data = data[data.index(b"\n") + 1 :]
    return data.decode(errors="replace").rstrip()


def describe_exit(status: int, sandbox: str, *, oom: bool, memory_limited: bool, mem: float) -> tuple[str, str, str]:
    """(state, reason, message) for a command that ended with ``status`` (exit code, or minus a signal)."""
    tail = stderr_tail(sandbox)
    if status == 0 and not oom:
        return "TASK_FINISHED", "REASON_NONE", ""
    how = how_it_ended(status)
    memory = oom or (memory_limited and any(word in tail for word in _MEMORY_WORDS))
    message = f"the command {how}"
    if memory:
        message = f"the command used more memory than its mem={mem:g} MiB allows and {how}"
    if tail:
        message += f"; the end of its stderr:\n{tail}"
    reason = "REASON_CONTAINER_LIMITATION_MEMORY" if memory else "REASON_TASK_FAILED"
    return "TASK_FAILED", reason, message
