"""The offer cycle's messages as flat tuples: every field survives, nothing else is touched."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from jmesos.core import messages as m
from jmesos.core.model import Filters, Offer, TaskInfo, TaskStatus
from jmesos.core.resources import Resources
from jmesos.core.states import Reason, TaskState
from jmesos.runtime import codec
from jmesos.runtime.serialize import Blob, dumps_call


def _task(n: int) -> TaskInfo:
    """A task with every field away from its default, as it leaves a driver (payload, no fn)."""
    return TaskInfo(
        name=f"task-{n}",
        agent_id="agent-3",
        resources=Resources(cpus=1.5, mem="96MiB", disk=10, gpus=1, ports="31000-31002"),
        payload=dumps_call(pow, (2, n)),
        task_id=f"t-{n}",
        locality=("agent-3", "agent-4"),
        env={"SEED": str(n)},
        labels={"lesson": "drf"},
    )


def _command_task() -> TaskInfo:
    return TaskInfo(name="sh", resources="cpus:0.5;mem:32", command="echo hi", env={"A": "1"})


def _status(data) -> TaskStatus:
    return TaskStatus(
        task_id="t-1",
        state=TaskState.TASK_FAILED,
        reason=Reason.REASON_CONTAINER_LIMITATION_MEMORY,
        message="Traceback ...",
        data=data,
        agent_id="agent-3",
        framework_id="fw-1",
        source="SOURCE_EXECUTOR",
        timestamp=1234.5,
        uuid="abc-7",
    )


HOT = [
    m.StatusUpdate(_status(Blob(pickle.dumps(42)))),
    m.StatusUpdate(_status(None)),
    m.StatusUpdate(_status({"plain": "value"})),  # a master-made status may carry any picklable value
    m.ResourceOffers(
        [
            Offer("o-1", "fw-1", "agent-3", "host-a", Resources(cpus=2, mem="1GiB"), {"rack": "r1"}, "lowest share"),
            Offer("o-2", "fw-1", "agent-4", "host-b", Resources(cpus=1, ports="31000-31009")),
        ]
    ),
    m.Accept("fw-1", ["o-1", "o-2"], [_task(1), _task(2), _command_task()], Filters(refuse_seconds=60)),
    m.Accept("fw-1", ["o-3"], [], Filters()),
    m.Acknowledge("fw-1", "agent-3", "t-1", "abc-7"),
    m.RunTasks("fw-1", [_task(3), _command_task()]),
    m.StatusUpdateAck("fw-1", "t-1", "abc-7"),
]


def _fields(obj):
    """Every field of a dataclass, nested ones opened too, with the types of the leaves."""
    if dataclasses.is_dataclass(obj):
        return (type(obj), {k: _fields(v) for k, v in vars(obj).items()})
    if isinstance(obj, (list, tuple)):
        return (type(obj), [_fields(v) for v in obj])
    if isinstance(obj, Resources):
        return (Resources, obj.to_dict(), obj.ports)
    return (type(obj), obj)


def _over_the_wire(batch):
    return codec.decode(pickle.loads(pickle.dumps(codec.encode(batch), protocol=pickle.HIGHEST_PROTOCOL)))


@pytest.mark.parametrize("message", HOT, ids=lambda msg: type(msg).__name__)
def test_a_flattened_message_comes_back_whole_with_every_field_and_type(message):
    (back,) = _over_the_wire([message])
    assert back == message
    # equality alone would pass a Blob that came back as bytes or a list that came back a tuple
    assert _fields(back) == _fields(message)


def test_enums_come_back_as_the_members_themselves():
    (back,) = _over_the_wire([HOT[0]])
    assert (
        back.status.state is TaskState.TASK_FAILED and back.status.reason is Reason.REASON_CONTAINER_LIMITATION_MEMORY
    )
    assert back.status.is_terminal


def test_rebuilt_resources_work_like_any_others():
    (back,) = _over_the_wire([HOT[3]])
    offered = back.offers[0].resources
    assert offered == Resources(cpus=2, mem="1GiB") and hash(offered) == hash(Resources(cpus=2, mem="1GiB"))
    assert offered - Resources(cpus=1) == Resources(cpus=1, mem="1GiB")


def test_other_messages_and_plain_objects_travel_as_they_are_and_in_order():
    batch = [
        ("a plain tuple", 1),
        HOT[0],
        m.RescindOffer("o-9", "timed out"),
        (0, "looks like a tag"),
        HOT[6],
        "text",
    ]
    assert _over_the_wire(batch) == batch
    unflattened = [m.Ping(), ("x", 1)]
    assert codec.encode(unflattened) is unflattened  # nothing to flatten: the batch goes as it is


@pytest.mark.parametrize(
    "message",
    [
        m.RunTasks("fw-1", ["not a task"]),
        m.RunTasks("fw-1", (_task(1),)),
        m.Accept("fw-1", ["o-1"], [_task(1)], None),
        m.StatusUpdate(dataclasses.replace(_status(None), state="TASK_FINISHED")),
        m.StatusUpdate("not a status"),
        m.ResourceOffers([{"id": "o-1"}]),
    ],
    ids=lambda msg: type(msg).__name__,
)
def test_a_message_not_shaped_as_declared_travels_as_it_is_for_the_receiver_to_judge(message):
    (back,) = _over_the_wire([message])
    assert _fields(back) == _fields(message)


def test_every_flattened_kind_has_its_test():
    assert set(codec.FLATTENED) == {type(msg) for msg in HOT}
