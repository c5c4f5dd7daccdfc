"""The event log: bounded, in order, and kept out of the garbage collector's way."""

from __future__ import annotations

import gc
import random
import threading
import time

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


def test_a_batch_recorded_during_a_replay_follows_it_and_is_not_lost():
    """The observer thread records events while a view subscribes with replay from the kernel's thread."""
    log = EventLog()
    log.extend(events(0, 10))
    seen: list[float] = []
    replaying = threading.Event()

    def slow(batch):
        if batch[0].time == 0.0:  # the replay
            replaying.set()
            time.sleep(0.3)  # the other thread records meanwhile
        seen.extend(e.time for e in batch)

    recorder = threading.Thread(target=lambda: (replaying.wait(5), log.extend(events(10, 12))))
    recorder.start()
    log.subscribe(slow, replay=True)
    recorder.join(5)
    assert seen == [float(i) for i in range(12)]


def test_an_event_that_cannot_be_pickled_is_kept_as_it_is():
    log = EventLog()
    odd = Event(0.0, "allocation", data={"policy": lambda share: share})  # a notebook's own object
    log.extend([odd, *events(1, EventLog.CHUNK + 5)])
    assert log[0].data["policy"] is odd.data["policy"] and len(log) == EventLog.CHUNK + 5


def test_a_bad_maxlen_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="maxlen=0 must be a positive int"):
        EventLog(maxlen=0)


def test_a_replaying_subscriber_that_raises_is_not_left_subscribed():
    """The caller gets the exception at once, and the callback never sees another batch."""
    log = EventLog()
    log.extend(events(0, 3))
    calls: list[list[Event]] = []

    def broken(batch: list[Event]) -> None:
        calls.append(batch)
        raise RuntimeError("view is broken")

    with pytest.raises(RuntimeError, match="view is broken"):
        log.subscribe(broken, replay=True)
    log.extend(events(3, 5))
    assert len(calls) == 1 and len(calls[0]) == 3
    # a callback that raises on a new batch is still reported once and removed
    later: list[list[Event]] = []

    def breaks_later(batch: list[Event]) -> None:
        later.append(batch)
        if len(later) == 2:
            raise RuntimeError("broke on a new batch")

    log.subscribe(breaks_later, replay=True)
    log.extend(events(5, 6))
    log.extend(events(6, 7))
    assert len(later) == 2


LINE_FIX = "each line must be one JSON object as EventLog.save writes it"
GOOD_LINE = b'{"time": 1, "kind": "x"}\n'


def write_log(tmp_path, last_line: bytes):
    """Ten good lines, then ``last_line`` as line 11."""
    path = tmp_path / "bad.jsonl"
    path.write_bytes(GOOD_LINE * 10 + last_line)
    return path


@pytest.mark.parametrize(
    "line, what",
    [
        (b"[1,2,3]\n", "[1, 2, 3] is not a JSON object"),
        (b"null\n", "null is not a JSON object"),
        (b"42\n", "42 is not a JSON object"),
        (b'"offer"\n', '"offer" is not a JSON object'),
        (b'{"kind": "x"}\n', 'no "time"'),
        (b'{"time": null, "kind": "x"}\n', '"time" is null, not a number of seconds'),
        (b'{"time": "soon", "kind": "x"}\n', '"time" is "soon", not a number of seconds'),
        (b'{"time": true, "kind": "x"}\n', '"time" is true, not a number of seconds'),
        (b'{"time": [1], "kind": "x"}\n', '"time" is [1], not a number of seconds'),
        (b'{"time": 1}\n', 'no "kind"'),
        (b'{"time": 1, "kind": 5}\n', '"kind" is 5, not a string'),
        (b'{"time": 1, "kind": null}\n', '"kind" is null, not a string'),
        (b'{"time": 1, "kind": "x", "source": 3}\n', '"source" is 3, not a string'),
        (b'{"time": 1, "kind": "x", "dest": {}}\n', '"dest" is {}, not a string'),
        (b'{"time": 1, "kind": "x", "data": [1,2]}\n', '"data" is [1, 2], not a JSON object'),
        (b'{"time": 1, "kind": "x", "data": "a"}\n', '"data" is "a", not a JSON object'),
        (b'{"time": 1, "kind": "x", "data": []}\n', '"data" is [], not a JSON object'),
        (b'{"time": 1, "ki\n', "Invalid control character"),  # a truncated line: the message load always gave
    ],
)
def test_a_line_that_is_not_an_event_is_refused_with_file_line_and_fix(tmp_path, line, what):
    path = write_log(tmp_path, line)
    with pytest.raises(ValueError) as caught:
        EventLog.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:11 is not an event line ({what}")
    assert LINE_FIX in message and "fix or delete that line" in message


def test_a_line_that_is_not_utf8_is_refused_with_its_number_not_a_file_offset(tmp_path):
    path = write_log(tmp_path, b'{"time": 1, "kind": "\xff"}\n')
    with pytest.raises(ValueError) as caught:
        EventLog.load(path)
    assert str(caught.value) == (
        f"{path}:11 is not an event line (byte 22 is b'\\xff', not UTF-8); "
        "EventLog.save writes UTF-8; re-save the file as UTF-8, or fix or delete that line"
    )


def test_loading_a_directory_asks_for_the_saved_file(tmp_path):
    with pytest.raises(IsADirectoryError, match=r"is a directory; give the \.jsonl file saved by EventLog\.save"):
        EventLog.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no event log at"):
        EventLog.load(tmp_path / "missing.jsonl")


def test_what_save_writes_and_harmless_variations_still_load(tmp_path):
    log = EventLog()
    log.extend(events(0, EventLog.CHUNK + 3))
    log.record(9999.5, "message", "agent-1", "master", type="Status", summary="naïve → ✓")
    assert list(EventLog.load(log.save(tmp_path / "saved.jsonl"))) == list(log)
    # fields save always writes may be missing or null, a time may be a numeric string,
    # and an editor may have added a BOM, Windows line ends or blank lines
    path = tmp_path / "edited.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"time": 1, "kind": "a"}\r\n'
        b"\r\n"
        b'{"time": "2.5", "kind": "b", "source": "s", "dest": "d", "data": null}\r\n'
        b'{"time": 3, "kind": "c", "data": {"k": 1}, "extra": "ignored"}'
    )
    assert list(EventLog.load(path)) == [
        Event(1.0, "a", "", "", {}),
        Event(2.5, "b", "s", "d", {}),
        Event(3.0, "c", "", "", {"k": 1}),
    ]
