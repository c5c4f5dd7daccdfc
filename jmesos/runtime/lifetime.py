"""Making every process die with its parent, so a kernel restart leaves no orphans.

Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) kills a child when
the process that forked it exits; ``watch_parent`` adds a pipe watchdog for
the one link where a signal is not enough (the notebook kernel may fork from a
thread that ends before the kernel does).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

__all__ = ["die_with_parent", "watch_fd"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent exits (Linux; no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent is already gone
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
