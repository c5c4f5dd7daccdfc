"""The live master: the pure :class:`~jmesos.core.master.Master` behind sockets and the wall clock.

One thread, one selector loop: read whatever arrived, hand each message to
the core, tick the core when its deadline comes, send what it returns, and
stream new events to subscribed observers (the notebook's ``cluster.events``).
Times in events are seconds since the master started.
"""

from __future__ import annotations

import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..core import messages as m
from ..core.allocator import make_allocator
from ..core.events import Event, EventLog
from ..core.master import Master, MasterConfig
from .wire import Channel, Hub

__all__ = ["run_master"]

#: Events reach observers this long after the first of a batch: a busy cluster wakes the
#: notebook kernel at most fifty times a second, not once per task.  Waiting after the first
#: event (rather than sending it at once if the last batch is old) also keeps the batch out of
#: the moment a framework is answering that event's offer: both land in the same process.
STREAM_INTERVAL = 0.02

#: what someone is waiting for, so it is written as soon as the core returns it
_AT_ONCE = (m.RunTasks, m.ResourceOffers)


def run_master(
    secret: bytes,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sock: socket.socket | None = None,
    config: MasterConfig | None = None,
    policy: Any = "drf",
    policy_options: Mapping[str, Any] | None = None,
    replay_events: int = 200_000,
    on_listening: Callable[[tuple[str, int]], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT.  ``sock`` is a listening socket made by the caller (or None)."""
    hub = Hub(secret, "master")
    address = hub.listen(host, port, sock=sock)
    start = time.monotonic()

    def clock() -> float:
        return time.monotonic() - start

    fresh: list[Event] = []
    unsent: list[Event] = []
    stream_at = float("inf")  # when the events waiting in ``unsent`` go out
    history = EventLog(maxlen=replay_events)  # sealed into pickled chunks, out of the collector's way
    config = config or MasterConfig()
    options = {"allocation_interval": config.allocation_interval, **dict(policy_options or {})}
    master = Master(make_allocator(policy, **options), config, record=fresh.append)
    peers: dict[str, Channel] = {}
    observers: set[Channel] = set()
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True
        hub.call_soon(lambda: None)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if on_listening is not None:
        on_listening(address)

    def route(out: list[tuple[str, m.Message]]) -> None:
        for peer, message in out:
            channel = peers.get(peer)
            if channel is None:
                continue
            kind = type(message)
            # A launch leaves at once: queued, it waited for the rest of the iteration and often
            # for the offers going to the framework, whose thread, woken first, then took the cpu.
            # Offers too: a framework is waiting for them (with the updates queued before them).
            # An agent only needs an acknowledgement before its retry, a second away: that can
            # wait for the next launch to the agent instead of waking it by itself.
            hub.send(channel, message, lazy=kind is m.StatusUpdateAck, at_once=kind in _AT_ONCE)

    def handle(event: Any) -> None:
        now = clock()
        channel = event.channel
        if event.kind == "connected" and channel is not None:
            peers[channel.name] = channel
        elif event.kind == "messages" and channel is not None:
            for message in event.messages:
                if isinstance(message, m.Subscribe):
                    observers.add(channel)
                    if message.replay and len(history):
                        hub.send(channel, m.EventBatch(list(history)))
                    continue
                try:
                    route(master.receive(now, channel.name, message))
                except Exception as exc:  # a bug must not take the cluster down: report it
                    fresh.append(
                        Event(now, "error", "master", "", {"message": f"master failed on {message!r:.200}: {exc!r}"})
                    )
                    print(f"jmesos master: error handling {type(message).__name__}: {exc!r}", file=sys.stderr)
        elif event.kind == "receiving" and channel is not None:
            master.receiving(now, channel.name)
        elif event.kind == "closed" and channel is not None:
            peers.pop(channel.name, None)
            if channel in observers:
                observers.discard(channel)
            else:
                route(master.disconnected(now, channel.name))
        elif event.kind == "refused":
            fresh.append(Event(now, "error", "master", "", {"message": event.detail}))
            print(f"jmesos master: {event.detail}", file=sys.stderr, flush=True)  # for whoever runs it

    while not stopping:
        now = clock()
        deadline = master.next_deadline()
        if unsent:
            deadline = min(deadline, stream_at)
        timeout = max(0.0, min(deadline - now, 1.0))
        for event in hub.poll(timeout):
            handle(event)
        now = clock()
        if master.next_deadline() <= now:
            route(master.tick(now))
        if fresh:
            history.extend(fresh)
            if not unsent:
                stream_at = now + STREAM_INTERVAL
            unsent.extend(fresh)
            fresh.clear()
        if unsent and (now >= stream_at or len(unsent) >= 5000):
            for observer in observers:
                hub.send(observer, m.EventBatch(unsent))
            unsent = []
    # what arrived before the stop is handled, so the log keeps it: the goodbye of an agent that
    # left while the master was busy with another's is otherwise unread when the cluster stops
    for event in hub.poll(0):
        handle(event)
    history.extend(fresh)
    unsent.extend(fresh)
    if unsent:
        for observer in observers:
            hub.send(observer, m.EventBatch(unsent))
    hub.shutdown()
