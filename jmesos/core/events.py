"""The event log: one record of everything that happened, read by widgets, lessons and tests.

Every message the master sends or receives and every state change is an
:class:`Event` ``(time, kind, source, dest, data)``.  The log is bounded (old
events fall off the front), iterable, subscribable with a callback, and can be
saved to JSON Lines and loaded back for replay.  Nothing else in jmesos scrapes
internal state: if a view needs it, it is an event.

Event kinds (``data`` keys in brackets):

- ``agent_added`` [agent_id, hostname, resources, attributes], ``agent_removed`` [agent_id, reason]
- ``framework_added`` [framework_id, name, role], ``framework_removed`` [framework_id, reason],
  ``framework_disconnected`` / ``framework_reconnected`` [framework_id]
- ``offer`` [offer_id, framework_id, agent_id, resources, explanation]
- ``offer_accepted`` / ``offer_declined`` / ``offer_rescinded`` [offer_id, framework_id, agent_id, ...]
- ``task_launched`` [task_id, framework_id, agent_id, resources, locality]
- ``task_state`` [task_id, framework_id, agent_id, state, reason, message]
- ``allocation`` [decisions: the allocator's explanation of a round]
- ``shares`` [time series point: framework_id -> dominant share, used cpus/mem]
- ``message`` [type, summary]: one protocol message (``source`` → ``dest``)
- ``error`` [message]: something refused, with why
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Event", "EventLog"]


@dataclass(frozen=True)
class Event:
    """One thing that happened: at ``time`` (seconds), ``kind``, from ``source`` to ``dest``."""

    time: float
    kind: str
    source: str = "master"
    dest: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(float(d["time"]), d["kind"], d.get("source", ""), d.get("dest", ""), d.get("data") or {})


class EventLog:
    """A bounded, thread-safe, subscribable sequence of :class:`Event`.

    ``maxlen`` bounds memory: a long run keeps its latest ``maxlen`` events
    (``dropped`` counts the ones that fell off).  Callbacks registered with
    :meth:`subscribe` receive each new batch of events; a callback that raises
    is reported once and removed, never breaking the producer.
    """

    def __init__(self, maxlen: int = 200_000, events: Iterable[Event] = ()) -> None:
        if not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError(f"maxlen={maxlen!r} must be a positive int, e.g. maxlen=100000")
        self._events: deque[Event] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[list[Event]], None]] = []
        self.dropped = 0
        self.total = 0
        self.extend(events)

    # -- producing ------------------------------------------------------------------------
    def append(self, event: Event) -> None:
        self.extend((event,))

    def record(self, time: float, kind: str, source: str = "master", dest: str = "", **data: Any) -> Event:
        """Build and append an event; returns it."""
        event = Event(time, kind, source, dest, data)
        self.extend((event,))
        return event

    def extend(self, events: Iterable[Event]) -> None:
        batch = list(events)
        if not batch:
            return
        with self._lock:
            overflow = len(self._events) + len(batch) - (self._events.maxlen or 0)
            if overflow > 0:
                self.dropped += min(overflow, len(self._events) + len(batch))
            self._events.extend(batch)
            self.total += len(batch)
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(batch)
            except Exception as exc:  # a broken view must not break the cluster
                self.unsubscribe(callback)
                import sys

                print(f"jmesos: event subscriber {callback!r} raised {exc!r}; it was unsubscribed", file=sys.stderr)

    # -- consuming ------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[list[Event]], None], replay: bool = False) -> Callable[[], None]:
        """Call ``callback(batch)`` with each new batch of events; returns a function that unsubscribes.

        With ``replay=True`` the callback first receives every event already in the log.
        """
        if not callable(callback):
            raise TypeError(f"callback={callback!r} is not callable; pass a function taking a list of events")
        with self._lock:
            self._subscribers.append(callback)
            past = list(self._events) if replay else []
        if past:
            callback(past)
        return lambda: self.unsubscribe(callback)

    def unsubscribe(self, callback: Callable[[list[Event]], None]) -> None:
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def __iter__(self) -> Iterator[Event]:
        with self._lock:
            return iter(list(self._events))

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, index: int) -> Event:
        with self._lock:
            return self._events[index]

    def filter(self, kind: str | Iterable[str] | None = None, since: float | None = None) -> list[Event]:
        """Events of ``kind`` (a name or several) at or after ``since``."""
        kinds = {kind} if isinstance(kind, str) else set(kind) if kind is not None else None
        return [e for e in self if (kinds is None or e.kind in kinds) and (since is None or e.time >= since)]

    def last(self, n: int = 20, kind: str | None = None) -> list[Event]:
        return self.filter(kind)[-n:] if n > 0 else []

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the log as JSON Lines (one event per line); returns the path."""
        path = Path(path)
        with path.open("w", encoding="utf-8") as f:
            for event in self:
                f.write(event.to_json())
                f.write("\n")
        return path

    @classmethod
    def load(cls, path: str | Path, maxlen: int = 1_000_000) -> EventLog:
        """Read a log saved by :meth:`save`."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no event log at {str(path)!r}; save one with cluster.events.save(path)")
        events = []
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    try:
                        events.append(Event.from_dict(json.loads(line)))
                    except (ValueError, KeyError) as exc:
                        raise ValueError(f"{path}:{lineno} is not an event line ({exc})") from None
        return cls(maxlen=max(maxlen, len(events) or 1), events=events)

    def __repr__(self) -> str:
        return f"<EventLog {len(self)} events>"
