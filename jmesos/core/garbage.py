"""Holding off Python's full garbage collections while a burst of lasting objects is made.

A full collection walks every tracked object.  When a program builds hundreds
of thousands of objects that all stay alive (a simulation's books, a decoded
event log), CPython starts one each time the survivors grow by a quarter, so
the burst pays for walking itself again and again: over 40% of a 20,000-agent
virtual run, and a third of a pass over a full event log.  Inside
:func:`rare_full_collections` young objects are still collected as usual; only
the oldest generation waits.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["rare_full_collections"]

_lock = threading.Lock()
_depth = 0  # blocks open now, in any thread: the first sets the threshold, the last restores it
_saved: tuple[int, ...] = ()


@contextlib.contextmanager
def rare_full_collections(oldest_threshold: int = 1000) -> Iterator[None]:
    """Raise the oldest generation's threshold for the block, then restore it (safe to nest and share)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            young, middle, old = _saved
            gc.set_threshold(young, middle, max(old, oldest_threshold))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved)
