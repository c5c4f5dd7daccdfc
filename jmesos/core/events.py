"""The event log: one record of everything that happened, read by widgets, lessons and tests.

Every message the master sends or receives and every state change is an
:class:`Event` ``(time, kind, source, dest, data)``.  The log is bounded (old
events fall off the front), iterable, subscribable with a callback, and can be
saved to JSON Lines and loaded back for replay.  Nothing else in jmesos scrapes
internal state: if a view needs it, it is an event.

Event kinds (``data`` keys in brackets):

- ``agent_added`` [agent_id, hostname, resources, attributes, previous_id (the id of an agent
  removed that came back as this one, else None)], ``agent_removed`` [agent_id, reason, graceful
  (True: it shut down and said goodbye; False: the master gave up on it, it died)]
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
import pickle
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .garbage import rare_full_collections

__all__ = ["Event", "EventLog", "say_allocator_errors"]


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
    def from_dict(cls, d: Any) -> Event:
        """The event a parsed JSON line (as :meth:`to_json` writes it) holds; ValueError saying what is wrong."""
        if not isinstance(d, dict):
            raise ValueError(f"{_shown(d)} is not a JSON object")
        if "time" not in d:
            raise ValueError('no "time"')
        time = d["time"]
        if isinstance(time, bool) or not isinstance(time, (int, float, str)):
            raise ValueError(f'"time" is {_shown(time)}, not a number of seconds')
        try:
            time = float(time)
        except ValueError:
            raise ValueError(f'"time" is {_shown(time)}, not a number of seconds') from None
        kind = d.get("kind")
        if not isinstance(kind, str):
            raise ValueError('no "kind"' if "kind" not in d else f'"kind" is {_shown(kind)}, not a string')
        source, dest = d.get("source", ""), d.get("dest", "")
        for name, value in (("source", source), ("dest", dest)):
            if not isinstance(value, str):
                raise ValueError(f'"{name}" is {_shown(value)}, not a string')
        data = d.get("data")
        if data is None:
            data = {}
        elif not isinstance(data, dict):
            raise ValueError(f'"data" is {_shown(data)}, not a JSON object')
        return cls(time, kind, source, dest, data)


class EventLog:
    """A bounded, thread-safe, subscribable sequence of :class:`Event`.

    ``maxlen`` bounds memory: a long run keeps its latest ``maxlen`` events
    (``dropped`` counts the ones that fell off).  Callbacks registered with
    :meth:`subscribe` receive each new batch of events; a callback that raises
    is reported once and removed, never breaking the producer.

    Events are kept as objects only while they are recent: every
    :data:`CHUNK` of them are sealed into one pickled ``bytes`` chunk.  A full
    log (200,000 events) held as objects took 107 MiB of a notebook kernel, and
    every full garbage collection walked all of it (170 ms, the kernel frozen
    meanwhile); sealed, it takes about 34 MiB that the collector never looks
    into.  Reading the newest events (``log[-1]``, :meth:`last`,
    ``reversed(log)``) opens only the chunks it needs, and :meth:`filter` builds
    only the events it keeps; a whole pass (``list(log)``) costs about 1.2 µs an
    event (``bench/bench_event_log.py`` compares it all with a deque).
    """

    #: events sealed together into one chunk
    CHUNK = 1024

    def __init__(self, maxlen: int = 200_000, events: Iterable[Event] = ()) -> None:
        if not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError(f"maxlen={maxlen!r} must be a positive int, e.g. maxlen=100000")
        self.maxlen = maxlen
        self._open: list[Event] = []  # the newest events, not sealed yet
        self._chunks: deque[_Chunk] = deque()  # oldest first
        self._sealed = 0  # events in _chunks, some of them perhaps beyond maxlen
        self._lock = threading.Lock()
        # held while subscribers are called: a replay and the batches that follow it reach a new subscriber
        # in order, one at a time (reentrant: a subscriber may record events itself)
        self._delivering = threading.RLock()
        self._subscribers: list[Callable[[list[Event]], None]] = []
        self.total = 0
        self.extend(events)

    @property
    def dropped(self) -> int:
        """How many events fell off the front (the log keeps the latest ``maxlen``)."""
        return self.total - len(self)

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
            self._open.extend(batch)
            self.total += len(batch)
            while len(self._open) >= self.CHUNK:
                self._seal(self._open[: self.CHUNK])
                del self._open[: self.CHUNK]
            subscribers = list(self._subscribers)
        if not subscribers:
            return
        with self._delivering:
            for callback in subscribers:
                try:
                    callback(batch)
                except Exception as exc:  # a broken view must not break the cluster
                    self.unsubscribe(callback)
                    print(f"jmesos: event subscriber {callback!r} raised {exc!r}; it was unsubscribed", file=sys.stderr)

    def _seal(self, events: list[Event]) -> None:
        rows = [(e.time, e.kind, e.source, e.dest, e.data) for e in events]
        newest = max(e.time for e in events)
        try:
            kept: bytes | list = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # something only this process holds (a policy's own object): keep it as it is
            kept = rows
        self._chunks.append(_Chunk(len(rows), newest, kept))
        self._sealed += len(rows)
        while self._chunks and self._sealed - self._chunks[0].count >= self.maxlen:
            self._sealed -= self._chunks.popleft().count

    # -- consuming ------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[list[Event]], None], replay: bool = False) -> Callable[[], None]:
        """Call ``callback(batch)`` with each new batch of events; returns a function that unsubscribes.

        With ``replay=True`` the callback first receives every event already in the log,
        here in the caller's thread.  If it raises then, the exception goes to the caller
        and the callback is not subscribed (the caller is right there to fix it and
        subscribe again); a callback that raises later, on a new batch, is reported once
        on stderr and removed, as for any subscriber.
        """
        if not callable(callback):
            raise TypeError(f"callback={callback!r} is not callable; pass a function taking a list of events")
        with self._delivering:  # a batch recorded meanwhile waits, and follows the replay
            with self._lock:
                self._subscribers.append(callback)
                past = self._snapshot() if replay else None
            if past is not None:
                events = past.events()
                if events:
                    try:
                        callback(events)
                    except BaseException as exc:  # an interrupted replay too: the caller never got a way to unsubscribe
                        self.unsubscribe(callback)
                        if hasattr(exc, "add_note"):  # Python 3.11+
                            exc.add_note(f"jmesos: {callback!r} raised while replaying the log; it was not subscribed")
                        raise
        return lambda: self.unsubscribe(callback)

    def unsubscribe(self, callback: Callable[[list[Event]], None]) -> None:
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def _snapshot(self) -> _Snapshot:
        """What the log holds now (call with the lock held); opened outside it."""
        return _Snapshot(list(self._chunks), list(self._open), len(self))

    def __iter__(self) -> Iterator[Event]:
        with self._lock:
            snapshot = self._snapshot()
        return iter(snapshot.events())

    def __reversed__(self) -> Iterator[Event]:
        """Newest first, opening one chunk at a time: cheap when the search ends near the end."""
        with self._lock:
            snapshot = self._snapshot()
        return snapshot.newest_first()

    def __len__(self) -> int:
        return min(self._sealed + len(self._open), self.maxlen)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(self)[index]
        with self._lock:
            snapshot = self._snapshot()
        return snapshot.at(index)

    def filter(self, kind: str | Iterable[str] | None = None, since: float | None = None) -> list[Event]:
        """Events of ``kind`` (a name or several) at or after ``since``."""
        if kind is None:
            kinds = None
        elif isinstance(kind, str):
            kinds = {kind}
        else:
            kinds = set(kind) if isinstance(kind, Iterable) else {kind}
            if not all(isinstance(k, str) for k in kinds):
                raise TypeError(f"kind={kind!r} must be an event kind or a list of them, e.g. kind='task_state'")
        if since is not None and (isinstance(since, bool) or not isinstance(since, (int, float))):
            raise TypeError(f"since={since!r} must be a time in seconds, e.g. since=cluster.events[-1].time")
        with self._lock:
            snapshot = self._snapshot()
        return snapshot.events(since, kinds)

    def last(self, n: int = 20, kind: str | None = None) -> list[Event]:
        """The newest ``n`` events (of ``kind``), oldest first."""
        if n <= 0:
            return []
        found = []
        for event in reversed(self):
            if kind is None or event.kind == kind:
                found.append(event)
                if len(found) == n:
                    break
        return found[::-1]

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the log as JSON Lines (one event per line); returns the path."""
        path = Path(path)
        if not path.parent.is_dir():
            raise FileNotFoundError(f"cannot save to {str(path)!r}: no directory {str(path.parent)!r}; create it first")
        with path.open("w", encoding="utf-8") as f:
            for event in self:
                f.write(event.to_json())
                f.write("\n")
        return path

    @classmethod
    def load(cls, path: str | Path, maxlen: int = 1_000_000) -> EventLog:
        """Read a log saved by :meth:`save`.

        Every line is checked: one that is not an event (not UTF-8, not JSON, not an
        object, or a field of the wrong type) raises :class:`ValueError` naming the file
        and line number, what is wrong with it, and the fix.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no event log at {str(path)!r}; save one with cluster.events.save(path)")
        if path.is_dir():
            raise IsADirectoryError(f"{str(path)!r} is a directory; give the .jsonl file saved by EventLog.save")
        events = []
        with path.open("rb") as f:  # bytes, so that a line that is not UTF-8 is found by its number
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")  # a BOM an editor added is fine
                except UnicodeDecodeError as exc:
                    what = f"byte {exc.start + 1} is {raw[exc.start : exc.start + 1]!r}, not UTF-8"
                    raise _bad_line(path, lineno, what, _UTF8_FIX) from None
                if line.strip():
                    try:
                        events.append(Event.from_dict(json.loads(line)))
                    except (ValueError, RecursionError) as exc:  # json.JSONDecodeError is a ValueError
                        raise _bad_line(path, lineno, str(exc) or type(exc).__name__) from None
        return cls(maxlen=max(maxlen, len(events) or 1), events=events)

    def __repr__(self) -> str:
        return f"<EventLog {len(self)} events>"


def say_allocator_errors(events: Iterable[Event]) -> None:
    """Print the allocator's errors among ``events`` on stderr (a policy that raised, and the fallback
    to DRF): a run that quietly went on under DRF would look like the policy worked."""
    for event in events:
        if event.kind == "error" and event.source == "allocator":
            print(f"jmesos: {event.data.get('message', '')}", file=sys.stderr, flush=True)


_LINE_FIX = (
    "each line must be one JSON object as EventLog.save writes it, e.g. "
    '{"time": 1.5, "kind": "offer", "source": "master", "dest": "", "data": {}}; fix or delete that line'
)


_UTF8_FIX = "EventLog.save writes UTF-8; re-save the file as UTF-8, or fix or delete that line"


def _bad_line(path: Path, lineno: int, what: str, fix: str = _LINE_FIX) -> ValueError:
    return ValueError(f"{path}:{lineno} is not an event line ({what}); {fix}")


def _shown(value: Any) -> str:
    """``value`` as it was written in the file (JSON), cut short."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class _Chunk:
    """``count`` sealed events, the newest at ``newest`` (a time), as pickled rows (or rows that cannot be)."""

    count: int
    newest: float
    blob: bytes | list

    def rows(self) -> list[tuple]:
        """(time, kind, source, dest, data) of each event, oldest first."""
        return pickle.loads(self.blob) if isinstance(self.blob, bytes) else self.blob

    def events(self) -> list[Event]:
        return [Event(*row) for row in self.rows()]


@dataclass(frozen=True)
class _Snapshot:
    """A log's chunks and open events at one moment; ``length`` of them are in the log."""

    chunks: list[_Chunk]
    open: list[Event]
    length: int

    def _skip(self) -> int:
        """Sealed events older than the log's ``maxlen`` newest, still in its first chunk."""
        return sum(c.count for c in self.chunks) + len(self.open) - self.length

    def events(self, since: float | None = None, kinds: set[str] | None = None) -> list[Event]:
        """The events in order, only those at or after ``since`` and of ``kinds`` if given.

        Chunks wholly older than ``since`` stay closed, and an event is built only once it
        passes: most of a filter's cost would be building events it then drops.  Full
        collections wait meanwhile: the events built all stay alive, and the collector
        would walk them again each time they grew by a quarter.
        """
        out: list[Event] = []
        skip = self._skip()
        with rare_full_collections():
            for chunk in self.chunks:
                if skip >= chunk.count:
                    skip -= chunk.count
                    continue
                if since is None or chunk.newest >= since:
                    out.extend(
                        Event(*row)
                        for row in chunk.rows()[skip:]
                        if (kinds is None or row[1] in kinds) and (since is None or row[0] >= since)
                    )
                skip = 0
        out.extend(
            e for e in self.open[skip:] if (kinds is None or e.kind in kinds) and (since is None or e.time >= since)
        )
        return out

    def newest_first(self) -> Iterator[Event]:
        left = self.length
        for event in reversed(self.open):
            if left <= 0:
                return
            yield event
            left -= 1
        for chunk in reversed(self.chunks):
            for event in reversed(chunk.events()):
                if left <= 0:
                    return
                yield event
                left -= 1

    def at(self, index: int) -> Event:
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError("event index out of range")
        position = self._skip() + index  # among every event the snapshot holds
        for chunk in self.chunks:
            if position < chunk.count:
                return chunk.events()[position]
            position -= chunk.count
        return self.open[position]
