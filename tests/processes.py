"""Asking after processes that may end while we ask (a test's cleanup races their exit)."""

from __future__ import annotations

import psutil


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie has ended; so has one that ends as we ask)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def cmdlines(pids) -> list[tuple[int, list[str]]]:
    """What each of ``pids`` still running runs, for a failure message."""
    out = []
    for pid in pids:
        try:
            out.append((pid, psutil.Process(pid).cmdline()))
        except psutil.Error:
            pass
    return out


def listening_port(line: str, host: str = "127.0.0.1") -> int:
    """The port ``python -m jmesos master --port 0`` chose, from the first line it prints."""
    said = f"listening on {host}:"
    assert said in line, line
    return int(line.split(said)[1].split(";")[0])
