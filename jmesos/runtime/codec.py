"""The offer cycle's messages on the wire as plain tuples, not pickled objects.

Every task's life passes the same few messages: its status updates (agent →
master → framework), the offer that follows its end, the framework's accept and
acknowledgement, the master's launch to the agent and its acknowledgement to
the agent.  Pickled as dataclasses, each class in a frame costs the receiver a
lookup by module and name (through the import system) and a generic attribute
build.  Right after a 50 ms task, on caches the idle spell has emptied, a
status and an offer took about 100 µs to unpickle that way; as tuples of
strings, numbers and bytes they take about 13 µs, and about 50 µs with the
objects built back from their known fields.  Every process of the cycle pays
this once per frame it reads.

Only those messages are flattened; every other message (registrations, event
batches, errors) travels as the pickled object it is.  A flattened message is a
tuple whose first item is its kind's tag, and the frame lists where they are,
so a batch can mix both.  The objects rebuilt are the same dataclasses the pure
core handles, made without running their constructors (as pickle makes them):
they were checked when the sender built them.
"""

from __future__ import annotations

from typing import Any

from ..core import messages as m
from ..core.model import Filters, Offer, TaskInfo, TaskStatus
from ..core.resources import Resources
from ..core.resources import _rebuild as _rebuild_resources
from ..core.states import Reason, TaskState
from .serialize import OUT_OF_BAND_BYTES, Blob

__all__ = ["encode", "decode", "FLATTENED"]

_new = object.__new__
_STATES = TaskState._value2member_map_
_REASONS = Reason._value2member_map_

# tags: small ints, the first item of a flattened message
_STATUS, _OFFERS, _ACCEPT, _ACK, _RUN, _UPDATE_ACK = range(6)


class _OffShape(TypeError):
    """A message of a flattened kind holds something other than what its fields declare."""


def _need(ok: bool) -> None:
    if not ok:
        raise _OffShape


def _resources(r: Resources) -> tuple:
    # the (scalars, ports) form Resources pickles itself as, rebuilt by the same function
    _need(type(r) is Resources)
    return (r._scalars, r._ports)


def _task(t: TaskInfo) -> tuple:
    _need(type(t) is TaskInfo)
    return (
        t.name,
        t.agent_id,
        _resources(t.resources),
        t.fn,
        t.args,
        t.kwargs,
        t.command,
        t.task_id,
        t.locality,
        t.env,
        t.labels,
        t.payload,
    )


def _untask(flat: tuple) -> TaskInfo:
    t = _new(TaskInfo)
    name, agent_id, resources, fn, args, kwargs, command, task_id, locality, env, labels, payload = flat
    t.__dict__ = {
        "name": name,
        "agent_id": agent_id,
        "resources": _rebuild_resources(*resources),
        "fn": fn,
        "args": args,
        "kwargs": kwargs,
        "command": command,
        "task_id": task_id,
        "locality": locality,
        "env": env,
        "labels": labels,
        "payload": payload,
    }
    return t


def _encode_status(msg: m.StatusUpdate) -> tuple:
    s = msg.status
    _need(type(s) is TaskStatus and type(s.state) is TaskState and type(s.reason) is Reason)
    data = s.data
    blob = type(data) is Blob
    return (
        _STATUS,
        s.task_id,
        s.state._value_,
        s.reason._value_,
        s.message,
        bytes(data) if blob and len(data) < OUT_OF_BAND_BYTES else data,  # a big one stays a Blob: out of band
        blob,
        s.agent_id,
        s.framework_id,
        s.source,
        s.timestamp,
        s.uuid,
    )


def _decode_status(flat: tuple) -> m.StatusUpdate:
    _, task_id, state, reason, message, data, blob, agent_id, framework_id, source, timestamp, uuid = flat
    s = _new(TaskStatus)
    s.__dict__ = {
        "task_id": task_id,
        "state": _STATES[state],
        "reason": _REASONS[reason],
        "message": message,
        "data": Blob(data) if blob and type(data) is not Blob else data,
        "agent_id": agent_id,
        "framework_id": framework_id,
        "source": source,
        "timestamp": timestamp,
        "uuid": uuid,
    }
    msg = _new(m.StatusUpdate)
    msg.__dict__ = {"status": s}
    return msg


def _encode_offers(msg: m.ResourceOffers) -> tuple:
    _need(type(msg.offers) is list and all(type(o) is Offer for o in msg.offers))
    return (
        _OFFERS,
        [
            (o.id, o.framework_id, o.agent_id, o.hostname, _resources(o.resources), o.attributes, o.explanation)
            for o in msg.offers
        ],
    )


def _decode_offers(flat: tuple) -> m.ResourceOffers:
    offers = []
    for offer_id, framework_id, agent_id, hostname, resources, attributes, explanation in flat[1]:
        o = _new(Offer)
        o.__dict__ = {
            "id": offer_id,
            "framework_id": framework_id,
            "agent_id": agent_id,
            "hostname": hostname,
            "resources": _rebuild_resources(*resources),
            "attributes": attributes,
            "explanation": explanation,
        }
        offers.append(o)
    msg = _new(m.ResourceOffers)
    msg.__dict__ = {"offers": offers}
    return msg


def _encode_accept(msg: m.Accept) -> tuple:
    _need(type(msg.tasks) is list and type(msg.filters) is Filters)
    return (_ACCEPT, msg.framework_id, msg.offer_ids, [_task(t) for t in msg.tasks], msg.filters.refuse_seconds)


def _decode_accept(flat: tuple) -> m.Accept:
    _, framework_id, offer_ids, tasks, refuse_seconds = flat
    filters = _new(Filters)
    filters.__dict__ = {"refuse_seconds": refuse_seconds}
    msg = _new(m.Accept)
    msg.__dict__ = {
        "framework_id": framework_id,
        "offer_ids": offer_ids,
        "tasks": [_untask(t) for t in tasks],
        "filters": filters,
    }
    return msg


def _encode_ack(msg: m.Acknowledge) -> tuple:
    return (_ACK, msg.framework_id, msg.agent_id, msg.task_id, msg.uuid)


def _decode_ack(flat: tuple) -> m.Acknowledge:
    msg = _new(m.Acknowledge)
    _, framework_id, agent_id, task_id, uuid = flat
    msg.__dict__ = {"framework_id": framework_id, "agent_id": agent_id, "task_id": task_id, "uuid": uuid}
    return msg


def _encode_run(msg: m.RunTasks) -> tuple:
    _need(type(msg.tasks) is list)
    return (_RUN, msg.framework_id, [_task(t) for t in msg.tasks])


def _decode_run(flat: tuple) -> m.RunTasks:
    msg = _new(m.RunTasks)
    msg.__dict__ = {"framework_id": flat[1], "tasks": [_untask(t) for t in flat[2]]}
    return msg


def _encode_update_ack(msg: m.StatusUpdateAck) -> tuple:
    return (_UPDATE_ACK, msg.framework_id, msg.task_id, msg.uuid)


def _decode_update_ack(flat: tuple) -> m.StatusUpdateAck:
    msg = _new(m.StatusUpdateAck)
    msg.__dict__ = {"framework_id": flat[1], "task_id": flat[2], "uuid": flat[3]}
    return msg


_ENCODERS = {
    m.StatusUpdate: _encode_status,
    m.ResourceOffers: _encode_offers,
    m.Accept: _encode_accept,
    m.Acknowledge: _encode_ack,
    m.RunTasks: _encode_run,
    m.StatusUpdateAck: _encode_update_ack,
}
#: the message kinds that travel flattened
FLATTENED = tuple(_ENCODERS)
_DECODERS = (_decode_status, _decode_offers, _decode_accept, _decode_ack, _decode_run, _decode_update_ack)


def encode(batch: list[Any]) -> Any:
    """``batch``, ready to pickle: as it is, or ``(items, flattened)`` when some of it is flattened.

    ``flattened`` lists the positions of the flattened messages, so a tuple that
    is a message of its own (the hub carries any picklable object) is never
    mistaken for one.  A message whose fields hold something other than they
    declare (a test's, or a peer's bug) is not flattened: the receiver gets it
    as it was sent, and its own checks say what is wrong with it.
    """
    encoders = _ENCODERS
    items, flattened = [], []
    for message in batch:
        encoder = encoders.get(type(message))
        if encoder is not None:
            try:
                flat = encoder(message)
            except (_OffShape, AttributeError):  # not as declared: it goes as it is, for the receiver to judge
                pass
            else:
                flattened.append(len(items))
                items.append(flat)
                continue
        items.append(message)
    return (items, flattened) if flattened else batch


def decode(frame: Any) -> list[Any]:
    """The messages of an unpickled frame, the flattened ones made whole again."""
    if type(frame) is not tuple:
        return frame
    items, flattened = frame
    decoders = _DECODERS
    for i in flattened:
        flat = items[i]
        items[i] = decoders[flat[0]](flat)
    return items
