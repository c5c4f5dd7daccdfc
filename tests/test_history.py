"""The master's replay history: the last events in order, kept out of the garbage collector's way."""

from __future__ import annotations

import gc

import pytest

from jmesos.core.events import Event
from jmesos.runtime.history import EventHistory


def events(start: int, stop: int) -> list[Event]:
    return [
        Event(float(i), "task_state", "agent-1", "", {"task_id": str(i), "resources": {"cpus": 1}})
        for i in range(start, stop)
    ]


def test_replay_gives_the_last_events_in_order_across_chunks():
    history = EventHistory(maxlen=250)
    for start in range(0, 1000, 100):
        history.extend(events(start, start + 100))
        history.seal()
    history.extend(events(1000, 1030))  # not sealed yet: still replayed
    replayed = history.replay()
    assert [e.time for e in replayed] == [float(i) for i in range(780, 1030)]
    assert replayed[0].data == {"task_id": "780", "resources": {"cpus": 1}}
    assert len(history) == 250
    assert len(history._chunks) == 3  # chunks wholly older than the last 250 events are gone


def test_an_empty_or_zero_history_replays_nothing():
    assert EventHistory(10).replay() == []
    none = EventHistory(0)
    none.extend(events(0, 5))
    none.seal()
    assert none.replay() == [] and len(none) == 0
    with pytest.raises(ValueError, match="maxlen"):
        EventHistory(-1)


def test_sealed_events_are_not_objects_the_collector_walks():
    gc.collect()
    before = len(gc.get_objects())
    history = EventHistory(maxlen=100_000)
    history.extend(events(0, 20_000))
    history.seal()
    gc.collect()
    assert len(gc.get_objects()) - before < 100  # 20,000 events as objects would be 40,000 and more
    assert len(history.replay()) == 20_000
