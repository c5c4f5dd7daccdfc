"""The authenticated transport: real sockets on 127.0.0.1, in threads of this process."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from jmesos.runtime import wire
from jmesos.runtime.wire import AuthenticationError, Hub


class Server:
    """A Hub that echoes every message back, polled on a thread."""

    def __init__(self, secret: bytes) -> None:
        self.hub = Hub(secret, "server")
        self.address = self.hub.listen("127.0.0.1", 0)
        self.happenings: list = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop:
            for event in self.hub.poll(0.05):
                self.happenings.append(event)
                if event.kind == "messages":
                    for message in event.messages:
                        self.hub.send(event.channel, ("echo", message))
        self.hub.shutdown()

    def close(self) -> None:
        self.stop = True
        self.thread.join(2)


def receive(hub: Hub, count: int, timeout: float = 10.0) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        for event in hub.poll(0.05):
            if event.kind == "messages":
                got.extend(event.messages)
    return got


@pytest.fixture
def connected():
    """An echoing server and a client hub connected to it: ``(client, channel, server)``."""
    server = Server(b"s3cret")
    client = Hub(b"s3cret", "client")
    try:
        yield client, client.connect(*server.address), server
    finally:
        client.shutdown()
        server.close()


def test_messages_round_trip_in_order(connected):
    client, channel, _ = connected
    for i in range(1000):
        client.send(channel, i)
    client.flush()
    got = receive(client, 1000)
    assert got == [("echo", i) for i in range(1000)]


def test_wrong_secret_is_refused_and_the_server_keeps_serving():
    server = Server(b"right")
    try:
        with pytest.raises(AuthenticationError):
            Hub(b"wrong", "intruder").connect(*server.address, timeout=2)
        # a raw peer that sends garbage instead of the answer is dropped without unpickling anything
        raw = socket.create_connection(server.address)
        raw.recv(64)
        raw.sendall(b"\x00" * 64 + b"cos\nsystem\n(S'echo pwned'\ntR.")
        time.sleep(0.2)
        assert any(e.kind == "refused" and "wrong secret" in e.detail for e in server.happenings)
        raw.close()
        client = Hub(b"right", "client")
        channel = client.connect(*server.address)
        client.send(channel, "still here?")
        assert receive(client, 1) == [("echo", "still here?")]
        client.shutdown()
    finally:
        server.close()


def test_a_connection_that_never_answers_the_challenge_is_dropped(monkeypatch):
    monkeypatch.setattr(wire, "AUTH_TIMEOUT", 0.3)
    server = Server(b"right")
    try:
        silent = socket.create_connection(server.address)
        assert silent.recv(64)  # the challenge, then nothing from us
        silent.settimeout(5)
        assert silent.recv(64) == b""  # the server hung up
        silent.close()
        deadline = time.monotonic() + 5
        while not any(e.kind == "refused" and "no answer to the challenge" in e.detail for e in server.happenings):
            assert time.monotonic() < deadline, [e.kind for e in server.happenings]
            time.sleep(0.02)
    finally:
        server.close()


def test_a_client_refuses_a_server_without_the_secret():
    server = Server(b"impostor")
    try:
        with pytest.raises(AuthenticationError):
            Hub(b"real", "client").connect(*server.address, timeout=2)
    finally:
        server.close()


def test_a_master_of_another_protocol_version_is_named_as_such():
    """An agent on another host with another jmesos version hears why, not 'wrong secret'."""
    listener = socket.create_server(("127.0.0.1", 0))
    greeted = threading.Thread(target=lambda: listener.accept()[0].sendall(b"JMESOS1" + b"n" * 32), daemon=True)
    greeted.start()
    try:
        with pytest.raises(AuthenticationError, match="speaks protocol JMESOS1.*install the same jmesos version"):
            Hub(b"s3cret", "client").connect(*listener.getsockname()[:2], timeout=2)
    finally:
        greeted.join(2)
        listener.close()


def test_the_offer_cycles_flattened_messages_cross_a_socket_mixed_with_others(connected):
    from jmesos.core import messages as m
    from jmesos.core.model import TaskStatus
    from jmesos.core.states import TaskState

    client, channel, _ = connected
    update = m.StatusUpdate(TaskStatus("t-1", TaskState.TASK_FINISHED, agent_id="agent-1", framework_id="f", uuid="u"))
    batch = [update, ("plain", 1), m.StatusUpdateAck("f", "t-1", "u"), m.RescindOffer("o-1")]
    for message in batch:
        client.send(channel, message)
    client.flush()
    # the echo server wraps each message it got in a tuple: what it received came whole
    assert receive(client, len(batch)) == [("echo", message) for message in batch]


def test_big_frames_both_ways_do_not_deadlock(connected):
    """Both sides send megabytes at once: non-blocking writes keep both loops moving."""
    client, channel, _ = connected
    blob = b"x" * (4 << 20)
    for _ in range(4):
        client.send(channel, blob)
        client.flush()
    got = receive(client, 4, timeout=30)
    assert len(got) == 4 and all(len(g[1]) == len(blob) for g in got)


def test_a_frame_that_takes_several_reads_is_reported_as_on_its_way(connected):
    """A big message: the receiver hears that bytes are coming before the whole of it has come."""
    client, channel, server = connected
    client.send(channel, b"x" * (8 << 20))
    client.flush()
    assert len(receive(client, 1, timeout=30)) == 1
    kinds = [e.kind for e in server.happenings if e.kind in ("receiving", "messages")]
    assert kinds[0] == "receiving" and kinds[-1] == "messages"  # progress first, then the message


def test_call_soon_runs_on_the_loop_thread():
    hub = Hub(b"k", "x")
    seen = []
    threading.Thread(target=lambda: hub.call_soon(lambda: seen.append(threading.current_thread().name))).start()
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        hub.poll(0.1)
    assert seen == [threading.current_thread().name]
    hub.shutdown()


def test_a_lazy_message_waits_for_company_or_its_delay_and_travels_behind_it(connected):
    from jmesos.runtime.wire import LAZY_DELAY

    client, channel, server = connected
    client.send(channel, "ack-1", lazy=True)
    client.flush()
    time.sleep(LAZY_DELAY / 4)
    assert not [e for e in server.happenings if e.kind == "messages"]  # nothing has left yet
    client.send(channel, "launch")  # an urgent message takes the lazy one with it, behind itself
    client.send(channel, "ack-1b", lazy=True)
    assert receive(client, 3) == [("echo", "launch"), ("echo", "ack-1"), ("echo", "ack-1b")]

    client.send(channel, "ack-2", lazy=True)
    sent = time.monotonic()
    got = receive(client, 1)  # poll() wakes up for the lazy message's delay by itself
    assert got == [("echo", "ack-2")]
    assert time.monotonic() - sent >= LAZY_DELAY * 0.9

    client.send(channel, "ack-3", lazy=True)
    client.hurry(channel)  # a goodbye: what was acknowledged goes first
    client.send(channel, "bye")
    assert receive(client, 2) == [("echo", "ack-3"), ("echo", "bye")]


def test_an_at_once_message_leaves_without_waiting_for_the_flush_and_keeps_the_order(connected):
    client, channel, server = connected
    client.send(channel, "status")  # queued: waits for the next flush
    client.send(channel, "ack", lazy=True)
    client.send(channel, "launch", at_once=True)  # takes what was queued before it, in order
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not [e for e in server.happenings if e.kind == "messages"]:
        time.sleep(0.005)  # the client never polls or flushes here
    frames = [e.messages for e in server.happenings if e.kind == "messages"]
    assert frames == [["status", "launch", "ack"]]
    client.send(channel, "later")
    assert receive(client, 4) == [("echo", "status"), ("echo", "launch"), ("echo", "ack"), ("echo", "later")]


def test_big_blobs_travel_out_of_band_and_come_back_as_blobs_in_order(connected):
    """A task's big result is sent from where it lies, not pickled into the stream (four copies a hop)."""
    from jmesos.runtime.serialize import OUT_OF_BAND_BYTES, Blob

    big = Blob(bytes(range(256)) * (12 << 12))  # 12 MiB: many reads, on both sides
    chunks = wire.dump_frame(("result", big, 7))
    assert len(chunks) == 3 and chunks[2].obj is big, "the Blob's own bytes go out, not a copy of them"
    assert sum(len(c) for c in chunks[:2]) < 200, "only the small rest is pickled"
    layout = wire.frame_layout(bytearray(b"".join(bytes(c) for c in chunks)), 0)
    assert layout is not None and len(layout[3]) == 1
    client, channel, _ = connected
    small = Blob(b"y" * (OUT_OF_BAND_BYTES - 1))  # in band, as before
    array_like = bytearray(b"z" * (1 << 20))  # an object with its own buffer stays in band: only Blobs go out
    for message in ("before", big, small, ("both", big, big), array_like, "after"):
        client.send(channel, message)
        client.flush()
    got = [m[1] for m in receive(client, 6, timeout=60)]
    assert got[0] == "before" and got[-1] == "after"
    assert type(got[1]) is Blob and got[1] == big
    assert type(got[2]) is Blob and got[2] == small
    assert got[3][0] == "both" and got[3][1] == big and got[3][2] == big
    assert got[4] == array_like
