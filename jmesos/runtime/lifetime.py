"""Making every process die with its parent, so a kernel restart leaves no orphans.

Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) kills a child when
the process that forked it exits; ``watch_parent`` adds a pipe watchdog for
the one link where a signal is not enough (the notebook kernel may fork from a
thread that ends before the kernel does).  :func:`how_it_ended` says, in words,
how a process's life ended.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

__all__ = ["die_with_parent", "watch_fd", "how_it_ended"]

_PR_SET_PDEATHSIG = 1


def how_it_ended(status: int) -> str:
    """``status`` (an exit code, or minus a signal number) as words: 'was killed by SIGKILL', 'exited with status 3'."""
    if status >= 0:
        return f"exited with status {status}"
    try:
        return f"was killed by {signal.Signals(-status).name}"
    except ValueError:
        return f"was killed by signal {-status}"


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent exits (Linux; no-op elsewhere).

    A parent that ended before the request was made sends nothing, so this
    process then ends itself: when its parent is no longer ``parent`` (the
    pid it had before the fork), or, without ``parent``, has become init.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1 if parent is None else os.getppid() != parent:  # the parent is already gone
        os.kill(os.getpid(), sig)


def watch_fd(fd: int, on_close) -> threading.Thread:
    """Call ``on_close()`` (on a daemon thread) when the pipe ``fd`` reaches end of file."""

    def wait() -> None:
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        on_close()

    thread = threading.Thread(target=wait, name="jmesos-parent-watch", daemon=True)
    thread.start()
    return thread
