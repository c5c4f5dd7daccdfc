"""One shared, throttled pipe from a live event log to the views that draw it.

Why a separate object: the event log calls its subscribers on the cluster's
background thread, once per batch, possibly hundreds of times a second.  A
view must not do work there (it would slow the cluster's event delivery), and
must not talk to the browser that often (the kernel's iopub channel and the
browser would drown).  So :class:`Feed`:

- only *appends* incoming batches to a pending list in the subscriber callback;
- on its own daemon thread, every ``interval`` seconds, folds what is pending
  into one shared :class:`~jmesos.core.state.ClusterState` and asks each
  attached view to push one batched update (each view sends at most one
  comm message per tick, and only when something changed);
- stretches the interval when several views are attached, so the total stays
  under ``max_messages_per_second`` (10 by default).

Every view of one cluster shares one feed (:func:`feed_for`), so the events
are folded once however many views are open.  The ``%mesos`` tables read the
same state through :meth:`Feed.sync`.  Nothing here imports Jupyter.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from ..core.events import Event, EventLog
from ..core.state import ClusterState

__all__ = ["Feed", "feed_for", "Pushable"]


class Pushable(Protocol):
    """What a view attached to a :class:`Feed` implements."""

    def _push(self, state: ClusterState) -> int:
        """Send an update if ``state`` changed what the view shows; return how many messages were sent."""


class Feed:
    """Folds a live :class:`EventLog` into a :class:`ClusterState` and drives attached views."""

    def __init__(
        self,
        events: EventLog,
        interval: float = 0.2,
        max_messages_per_second: float = 10.0,
        **state_limits: Any,
    ) -> None:
        if not isinstance(events, EventLog):
            raise TypeError(f"events={events!r} is not an EventLog; pass cluster.events")
        for name, value in (("interval", interval), ("max_messages_per_second", max_messages_per_second)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name}={value!r} must be a positive number, e.g. {name}=0.2")
        state_limits.setdefault("history", 0)
        self.events = events
        self.interval = float(interval)
        self.max_messages_per_second = float(max_messages_per_second)
        self.state = ClusterState(**state_limits)
        self.messages_sent = 0
        self.ticks = 0
        #: wall seconds and CPU seconds (of the feed's thread) spent folding and pushing: the cost of the views
        self.busy_seconds = 0.0
        self.cpu_seconds = 0.0
        #: events received, and wall seconds spent receiving them on the event log's thread
        self.received = 0
        self.receive_seconds = 0.0
        self._pending: list[Event] = []
        self._pending_lock = threading.Lock()
        self._state_lock = threading.RLock()
        self._views: weakref.WeakSet[Any] = weakref.WeakSet()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._errors: set[str] = set()
        self._unsubscribe: Callable[[], None] = events.subscribe(self._receive, replay=True)

    # -- producer side (the event log's thread): append only -----------------------------
    def _receive(self, batch: list[Event]) -> None:
        started = time.perf_counter()
        with self._pending_lock:
            self._pending.extend(batch)
            self.received += len(batch)
            self.receive_seconds += time.perf_counter() - started

    # -- consumer side ----------------------------------------------------------------------
    def sync(self) -> ClusterState:
        """Fold everything received so far and return the shared state.

        Read the state only while holding :meth:`locked` if a feed thread may be
        running (it mutates the state on each tick).
        """
        with self._pending_lock:
            batch, self._pending = self._pending, []
        with self._state_lock:
            if batch:
                self.state.apply(batch)
            return self.state

    def locked(self) -> threading.RLock:
        """The lock to hold while reading :attr:`state` from another thread."""
        return self._state_lock

    def attach(self, view: Pushable) -> None:
        """Push updates to ``view`` from now on (until it is garbage or :meth:`detach` is called)."""
        if self._closed:
            raise RuntimeError("this feed is closed (its cluster stopped); create a new view")
        self._views.add(view)
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=_run, args=(weakref.ref(self), self._stop), name="jmesos-feed", daemon=True
            )
            self._thread.start()

    def detach(self, view: Pushable) -> None:
        self._views.discard(view)

    @property
    def views(self) -> list[Any]:
        return list(self._views)

    def tick(self) -> int:
        """Fold pending events and let each view push; returns the number of messages sent."""
        started, cpu = time.perf_counter(), time.thread_time()
        sent = 0
        with self._state_lock:
            state = self.sync()
            for view in list(self._views):
                try:
                    sent += int(view._push(state) or 0)
                except Exception as exc:  # one broken view must not stop the others
                    text = f"{type(view).__name__}: {exc!r}"
                    if text not in self._errors:
                        self._errors.add(text)
                        import sys

                        print(f"jmesos: a view failed to update ({text}); it keeps its last picture", file=sys.stderr)
        self.messages_sent += sent
        self.ticks += 1
        self.busy_seconds += time.perf_counter() - started
        self.cpu_seconds += time.thread_time() - cpu
        return sent

    def stats(self) -> dict[str, Any]:
        """What the views have cost so far (for benchmarks and the curious)."""
        return {
            "ticks": self.ticks,
            "messages_sent": self.messages_sent,
            "busy_seconds": round(self.busy_seconds, 4),
            "cpu_seconds": round(self.cpu_seconds, 4),
            "received": self.received,
            "receive_seconds": round(self.receive_seconds, 4),
            "views": len(self._views),
        }

    def period(self) -> float:
        """Seconds between ticks: ``interval``, stretched so all views together stay under the message budget."""
        return max(self.interval, len(self._views) / self.max_messages_per_second)

    def close(self) -> None:
        """Stop listening and stop the thread (views keep their last picture)."""
        self._closed = True
        self._unsubscribe()
        self._stop.set()
        if getattr(self.events, "_jmesos_feed", None) is self:
            self.events._jmesos_feed = None  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<Feed views={len(self._views)} ticks={self.ticks} messages={self.messages_sent}>"


#: set when the interpreter exits: no feed may talk to a kernel that is shutting down its sockets
_EXITING = threading.Event()
atexit.register(_EXITING.set)


def _run(ref: weakref.ref[Feed], stop: threading.Event) -> None:
    """The feed's thread; holds the feed only weakly so a forgotten cluster can be collected."""
    while not _EXITING.is_set():
        feed = ref()
        if feed is None or feed._closed:
            return
        period = feed.period()
        if not feed._views:
            feed._thread = None
            return
        try:
            feed.tick()
        finally:
            del feed
        if stop.wait(period) or _EXITING.is_set():
            return


_FEEDS_LOCK = threading.Lock()


def feed_for(events: EventLog, **options: Any) -> Feed:
    """The shared feed of ``events`` (created on first use, kept on the log so they live and die together)."""
    with _FEEDS_LOCK:
        feed = getattr(events, "_jmesos_feed", None)
        if isinstance(feed, Feed) and not feed._closed:
            return feed
        feed = Feed(events, **options)
        events._jmesos_feed = feed  # type: ignore[attr-defined]
        return feed
