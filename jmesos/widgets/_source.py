"""Where a view's events come from, and whether a notebook front end is there: no Jupyter imports."""

from __future__ import annotations

import sys
from typing import Any

from ..core.events import EventLog


def _events_of(source: Any) -> EventLog | None:
    """The live event log of a cluster-like object, or of an EventLog itself."""
    if isinstance(source, EventLog):
        return source
    events = getattr(source, "events", None)
    return events if isinstance(events, EventLog) else None


def _describe(source: Any) -> tuple[str, str]:
    """A title and a one-line description of a cluster-like source for the header."""
    parts = []
    address = getattr(source, "address", None)
    if address:
        parts.append(str(address) if not isinstance(address, tuple) else ":".join(map(str, address)))
    policy = getattr(source, "policy", None)
    if policy:
        parts.append(f"policy {getattr(policy, 'name', policy)}")
    return type(source).__name__ if not isinstance(source, EventLog) else "event log", " · ".join(parts)


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (a front end can show widgets); never imports IPython itself."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
