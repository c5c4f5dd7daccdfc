"""The event log: bounded, in order, and kept out of the garbage collector's way."""

from __future__ import annotations

import gc
import random

import pytest

from jmesos.core.events import Event, EventLog


def events(start: int, stop: int, kinds: str = "ab") -> list[Event]:
    return [
        Event(float(i), kinds[i % len(kinds)], "agent-1", "", {"task_id": str(i), "resources": {"cpus": 1}})
        for i in range(start, stop)
    ]


@pytest.mark.parametrize("maxlen", [1, 7, 1000, 1024, 1500, 5000])
def test_every_way_of_reading_agrees_with_a_plain_list(maxlen):
    """Batches of every size, sealed into chunks or not: the log reads as its last ``maxlen`` events."""
    rng = random.Random(maxlen)
    log, model, n = EventLog(maxlen=maxlen), [], 0
    for _ in range(40):
        batch = events(n, n + rng.choice([1, 5, 300, 1024, 2000]))
        n += len(batch)
        log.extend(batch)
        model = (model + batch)[-maxlen:]
        assert len(log) == len(model) and log.dropped == n - len(model) and log.total == n
        assert list(log) == model
        assert list(reversed(log)) == model[::-1]
        for index in (0, -1, len(model) // 2, -len(model)):
            assert log[index] == model[index]
        assert log[2:9] == model[2:9]
        since = rng.uniform(0, n)
        assert log.filter(since=since) == [e for e in model if e.time >= since]
        assert log.filter("a") == [e for e in model if e.kind == "a"]
        assert log.last(7, "b") == [e for e in model if e.kind == "b"][-7:]
    with pytest.raises(IndexError):
        log[len(model)]


def test_sealed_events_are_not_objects_the_collector_walks():
    gc.collect()
    before = len(gc.get_objects())
    log = EventLog(maxlen=100_000)
    log.extend(events(0, 20 * EventLog.CHUNK))
    gc.collect()
    # as objects, 20,480 events would be 40,000 tracked objects and more (each event and its data)
    assert len(gc.get_objects()) - before < 200
    assert [e.time for e in log][-3:] == [float(i) for i in range(20 * EventLog.CHUNK - 3, 20 * EventLog.CHUNK)]


def test_reading_the_newest_events_opens_only_the_newest_chunks(monkeypatch):
    log = EventLog()
    log.extend(events(0, 50 * EventLog.CHUNK + 10))
    opened = []
    from jmesos.core import events as module

    original = module._Chunk.rows
    monkeypatch.setattr(module._Chunk, "rows", lambda chunk: opened.append(chunk) or original(chunk))
    assert log[-1].time == 50 * EventLog.CHUNK + 9 and opened == []  # still an object
    assert [e.time for e in log.last(20)] == [
        float(i) for i in range(50 * EventLog.CHUNK - 10, 50 * EventLog.CHUNK + 10)
    ]
    assert len(opened) == 1
    assert log.filter(since=49 * EventLog.CHUNK + 0.5)[0].time == 49 * EventLog.CHUNK + 1
    assert len(opened) == 2  # the 49 chunks before stayed shut


def test_a_replaying_subscriber_gets_the_past_then_each_new_batch():
    log = EventLog(maxlen=1500)
    log.extend(events(0, 3000))
    seen: list[list[Event]] = []
    unsubscribe = log.subscribe(seen.append, replay=True)
    assert [e.time for e in seen[0]] == [float(i) for i in range(1500, 3000)]
    log.extend(events(3000, 3002))
    assert [e.time for e in seen[1]] == [3000.0, 3001.0]
    unsubscribe()
    log.append(events(3002, 3003)[0])
    assert len(seen) == 2


def test_an_event_that_cannot_be_pickled_is_kept_as_it_is():
    log = EventLog()
    odd = Event(0.0, "allocation", data={"policy": lambda share: share})  # a notebook's own object
    log.extend([odd, *events(1, EventLog.CHUNK + 5)])
    assert log[0].data["policy"] is odd.data["policy"] and len(log) == EventLog.CHUNK + 5


def test_a_bad_maxlen_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="maxlen=0 must be a positive int"):
        EventLog(maxlen=0)
