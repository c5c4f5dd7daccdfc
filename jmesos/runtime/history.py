"""The master's memory of recent events, kept for observers that subscribe late.

A busy master records tens of thousands of events a second and keeps the last
200,000 for replay.  Held as objects, they were the bulk of the master's heap,
and every full garbage collection walked all of them: the master stopped for
100 ms and more each time, longer as the history filled.  Here each batch of
events is kept as one pickled ``bytes`` chunk, which the collector never looks
into (and which takes a fraction of the memory).  Only a replay opens them.
"""

from __future__ import annotations

import pickle
from collections import deque
from collections.abc import Iterable

from ..core.events import Event

__all__ = ["EventHistory"]


class EventHistory:
    """The last ``maxlen`` events, sealed into pickled chunks a batch at a time."""

    def __init__(self, maxlen: int) -> None:
        if maxlen < 0:
            raise ValueError(f"maxlen={maxlen!r} must be 0 or more events")
        self.maxlen = maxlen
        self._open: list[Event] = []
        self._chunks: deque[tuple[int, bytes]] = deque()
        self._sealed = 0  # events in _chunks

    def __len__(self) -> int:
        return min(self._sealed + len(self._open), self.maxlen)

    def extend(self, events: Iterable[Event]) -> None:
        if self.maxlen:
            self._open.extend(events)

    def seal(self) -> None:
        """Pickle the events added since the last seal into one chunk; drop chunks no longer needed."""
        if not self._open:
            return
        self._chunks.append((len(self._open), pickle.dumps(self._open, protocol=pickle.HIGHEST_PROTOCOL)))
        self._sealed += len(self._open)
        self._open = []
        while self._chunks and self._sealed - self._chunks[0][0] >= self.maxlen:
            count, _ = self._chunks.popleft()
            self._sealed -= count

    def replay(self) -> list[Event]:
        """The last ``maxlen`` events, oldest first."""
        events: list[Event] = []
        for _, chunk in self._chunks:
            events.extend(pickle.loads(chunk))
        events.extend(self._open)
        return events[-self.maxlen :] if self.maxlen else []
