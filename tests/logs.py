"""Small event logs written by hand, for tests of what reads a log."""

from __future__ import annotations

from jmesos.core.events import Event


def one_task_log() -> list[Event]:
    """One agent (4 cpus, 1 GiB), one framework 'one' and its one task (2 cpus, 256 MiB) from 1.1 s to 3.0 s."""

    def e(t, kind, **data):
        return Event(t, kind, data=data)

    return [
        e(0.0, "agent_added", agent_id="a1", resources={"cpus": 4, "mem": 1024}),
        e(1.0, "framework_added", framework_id="f1", name="one"),
        e(1.0, "offer", offer_id="o-1", framework_id="f1", agent_id="a1", resources={"cpus": 4, "mem": 1024}),
        e(1.1, "task_launched", task_id="t1", framework_id="f1", agent_id="a1", resources={"cpus": 2, "mem": 256}),
        e(1.1, "offer_accepted", offer_id="o-1", framework_id="f1", agent_id="a1", task_count=1),
        e(1.2, "offer", offer_id="o-2", framework_id="f1", agent_id="a1", resources={"cpus": 2, "mem": 768}),
        e(1.3, "offer_accepted", offer_id="o-2", framework_id="f1", agent_id="a1", task_count=0),
        e(2.0, "task_state", task_id="t1", framework_id="f1", agent_id="a1", state="TASK_RUNNING"),
        e(3.0, "task_state", task_id="t1", framework_id="f1", agent_id="a1", state="TASK_FINISHED"),
    ]
