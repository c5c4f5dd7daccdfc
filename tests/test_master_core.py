"""The pure master, driven by messages and a fake clock: no processes, no sockets, no sleeps."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from jmesos import AgentInfo, Filters, Resources
from jmesos.core import messages as m
from jmesos.core.master import MasterConfig
from jmesos.core.states import Reason, TaskState

from .harness import Harness


@pytest.fixture
def h() -> Harness:
    return Harness(MasterConfig(allocation_interval=1.0, ping_interval=1.0, max_missed_pings=3))


def test_new_agent_is_offered_whole_to_a_registered_framework(h):
    fid = h.add_framework("F")
    aid = h.add_agent("A", "cpus:4;mem:4096")
    (offer,) = h.offers("F")
    assert offer.agent_id == aid and offer.framework_id == fid
    assert offer.resources == Resources(cpus=4, mem=4096)
    assert "offer" in h.kinds()


def test_accept_launches_on_the_agent_and_returns_the_rest(h):
    fid = h.add_framework("F")
    h.add_agent("A", "cpus:4;mem:4096")
    (offer,) = h.offers("F")
    h.send("F", m.Accept(fid, [offer.id], [h.task("t1"), h.task("t2")], Filters(refuse_seconds=0)))
    (run,) = h.take("A", m.RunTasks)
    assert [t.task_id for t in run.tasks] == ["t1", "t2"]
    assert all(t.agent_id == offer.agent_id for t in run.tasks)
    # the unused cpus:2 come back at the next round (refuse_seconds=0)
    h.advance(1.0)
    (again,) = h.offers("F")
    assert again.resources == Resources(cpus=2, mem=4096 - 256)


def test_status_updates_flow_to_the_framework_and_free_resources(h):
    fid = h.add_framework("F")
    h.add_agent("A", "cpus:1;mem:1024")
    (offer,) = h.offers("F")
    h.send("F", m.Accept(fid, [offer.id], [h.task("t1", "cpus:1;mem:1024")]))
    assert h.offers("F") == []  # all in use
    h.agent_reports("A", fid, "t1", TaskState.TASK_RUNNING)
    h.agent_reports("A", fid, "t1", TaskState.TASK_FINISHED, data=b"x")
    states = [s.state for s in h.statuses("F")]
    assert states == [TaskState.TASK_RUNNING, TaskState.TASK_FINISHED]
    (offer,) = h.offers("F")  # freed resources are offered again at once, not at the next interval
    assert offer.resources == Resources(cpus=1, mem=1024)


def test_a_retried_update_overtaken_by_a_later_one_is_acknowledged_not_passed_on(h):
    """An agent retries what was not acknowledged; a retry of RUNNING can come after FINISHED."""
    fid = h.add_framework("F")
    h.add_agent("A", "cpus:1;mem:1024")
    (offer,) = h.offers("F")
    h.send("F", m.Accept(fid, [offer.id], [h.task("t1", "cpus:1;mem:1024")]))
    starting = h.agent_reports("A", fid, "t1", TaskState.TASK_STARTING)
    running = h.agent_reports("A", fid, "t1", TaskState.TASK_RUNNING)
    h.take("A")
    h.send("A", m.StatusUpdate(starting.__class__(**{**starting.__dict__})))  # STARTING again, while RUNNING
    h.agent_reports("A", fid, "t1", TaskState.TASK_FINISHED)
    h.send("A", m.StatusUpdate(running))  # RUNNING again, after FINISHED
    states = [s.state for s in h.statuses("F")]
    assert states == [TaskState.TASK_STARTING, TaskState.TASK_RUNNING, TaskState.TASK_FINISHED]
    acks = [msg.uuid for msg in h.take("A", m.StatusUpdateAck)]
    assert acks == [starting.uuid, running.uuid]  # the agent stops retrying them
    logged = [e.data["state"] for e in h.events if e.kind == "task_state" and e.data["task_id"] == "t1"]
    assert logged == ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]


@pytest.mark.parametrize(
    "mutate, reason, words",
    [
        (
            lambda h, fid, o: m.Accept(fid, ["o-999"], [h.task("t")]),
            Reason.REASON_INVALID_OFFERS,
            "unknown, rescinded or already used",
        ),
        (
            lambda h, fid, o: m.Accept(fid, [o.id], [h.task("t", "cpus:8;mem:128")]),
            Reason.REASON_TASK_INVALID,
            "needs cpus:8",
        ),
        (
            lambda h, fid, o: m.Accept(fid, [o.id], [h.task("t"), h.task("t")]),
            Reason.REASON_TASK_INVALID,
            "appears twice in this launch",
        ),
        (
            lambda h, fid, o: m.Accept(fid, [o.id], [h.task("t", agent_id="agent-77")]),
            Reason.REASON_TASK_INVALID,
            "agent-77",
        ),
    ],
    ids=["unknown-offer", "too-big", "duplicate-id", "wrong-agent"],
)
def test_misuse_ends_tasks_with_a_reason_that_names_the_problem(h, mutate, reason, words):
    fid = h.add_framework("F")
    h.add_agent("A", "cpus:4;mem:4096")
    (offer,) = h.offers("F")
    h.send("F", mutate(h, fid, offer))
    bad = [s for s in h.statuses("F") if s.reason == reason]
    assert bad, h.inbox["F"]
    assert bad[-1].state in (TaskState.TASK_ERROR, TaskState.TASK_LOST)
    assert words in bad[-1].message


def test_a_used_offer_cannot_be_used_twice(h):
    fid = h.add_framework("F")
    h.add_agent("A", "cpus:4;mem:4096")
    (offer,) = h.offers("F")
    h.send("F", m.Accept(fid, [offer.id], [h.task("t1")]))
    h.send("F", m.Accept(fid, [offer.id], [h.task("t2")]))
    (lost,) = h.statuses("F")
    assert lost.task_id == "t2" and lost.state == TaskState.TASK_LOST
    assert len(h.take("A", m.RunTasks)) == 1


def test_decline_filter_keeps_the_agent_away_until_it_expires(h):
    fid = h.add_framework("F")
    h.add_agent("A", "cpus:4;mem:4096")
    (offer,) = h.offers("F")
    h.send("F", m.Decline(fid, [offer.id], Filters(refuse_seconds=5)))
    h.advance(4.0)
    assert h.offers("F") == []
    h.advance(2.0)
    assert len(h.offers("F")) == 1


def test_offer_timeout_rescinds(h):
    h.master.config.offer_timeout = 2.0
    h.add_framework("F")
    h.add_agent("A")
    (offer,) = h.offers("F")
    h.advance(2.5)
    (rescind,) = h.take("F", m.RescindOffer)
    assert rescind.offer_id == offer.id and "offer_timeout" in rescind.reason
    assert any(e.kind == "offer_rescinded" for e in h.events)


def test_agent_that_misses_health_checks_is_removed_and_its_tasks_lost(h):
    fid = h.add_framework("F")
    h.add_agent("A", "cpus:2;mem:1024")
    (offer,) = h.offers("F")
    h.send("F", m.Accept(fid, [offer.id], [h.task("t1")], Filters(refuse_seconds=0)))
    h.advance(1.0)
    assert len(h.offers("F")) == 1  # the rest of the agent is on offer again...
    del h.alive["A"]  # ...when the agent dies silently
    h.advance(1.01)
    assert h.take("A", m.Ping)  # the master asks, nobody answers
    h.advance(3.0)
    lost = h.statuses("F")
    assert [(s.task_id, s.state, s.reason) for s in lost] == [("t1", TaskState.TASK_LOST, Reason.REASON_AGENT_REMOVED)]
    assert [msg.agent_id for msg in h.take("F", m.AgentLost)] == ["agent-1"]
    assert h.take("F", m.RescindOffer)  # the outstanding rest of the agent was rescinded
    (removed,) = [e for e in h.events if e.kind == "agent_removed"]
    assert removed.data["graceful"] is False  # the master gave up on it: it died


def test_an_agent_removed_that_comes_back_is_registered_anew_and_says_what_it_was(h):
    aid = h.add_agent("A")
    info = h.master.agents[aid].info
    del h.alive["A"]  # cut off: it misses its health checks and is removed
    h.advance(5.0)
    assert aid not in h.master.agents
    h.send("A", m.RegisterAgent(AgentInfo(info.hostname, info.resources, dict(info.attributes), id=aid)))
    (registered,) = h.take("A", m.AgentRegistered)
    assert registered.agent_id != aid  # its tasks were written off under the old id
    added = [e.data for e in h.events if e.kind == "agent_added"]
    assert [(d["agent_id"], d["previous_id"]) for d in added] == [(aid, None), (registered.agent_id, aid)]


def test_agent_that_answers_pings_stays(h):
    h.add_framework("F")
    aid = h.add_agent("A")
    del h.alive["A"]  # answer by hand, late but within the allowed misses
    for _ in range(10):
        h.advance(1.0)
        if h.take("A", m.Ping):
            h.send("A", m.Pong(aid))
    assert aid in h.master.agents


def test_an_agent_whose_big_message_is_still_arriving_is_not_taken_for_dead(h):
    """A task's large result can take seconds; the agent's pongs queue behind it on the connection."""
    h.add_framework("F")
    aid = h.add_agent("A")
    del h.alive["A"]  # no pong will come through in time...
    for _ in range(10):
        h.advance(1.0)
        h.master.receiving(h.now, "A")  # ...but the bytes of a message keep coming
    assert aid in h.master.agents
    h.advance(5.0)  # and once they stop, the usual health checks apply
    assert aid not in h.master.agents


def test_health_checks_follow_each_agent_own_schedule(h):
    """An agent that reconnects is checked a ping interval after that, not at its old time; a removed one never."""
    a1 = h.add_agent("A1")
    h.advance(0.5)
    a2 = h.add_agent("A2")
    h.advance(0.2)
    info = h.master.agents[a1].info
    h.send("A1b", m.RegisterAgent(info))  # A1 comes back on a new connection at t=0.7
    del h.alive["A1"]  # its health checks now land in the inbox
    h.take("A1b")
    h.advance(0.35)  # t=1.05: A1's old check (t=1.0) is void
    assert h.take("A1b", m.Ping) == [] and h.take("A1", m.Ping) == []
    h.disconnect("A2")  # A2 goes silent: it misses its checks and is removed
    del h.alive["A2"]
    h.advance(0.7)  # t=1.75: A1's check came at t=1.7
    assert len(h.take("A1b", m.Ping)) == 1
    h.send("A1b", m.Pong(a1))
    assert a1 in h.master.agents and a2 in h.master.agents
    h.alive["A1b"] = a1
    h.advance(2.5)
    assert a1 in h.master.agents and a2 not in h.master.agents
    assert [e.data["agent_id"] for e in h.events if e.kind == "agent_removed"] == [a2]
    assert h.master.next_deadline() > h.now


def test_offers_time_out_oldest_first_and_only_when_due(h):
    h.master.config.offer_timeout = 2.0
    h.add_framework("F")
    h.add_agent("A")
    h.advance(1.0)
    h.add_agent("B")
    first, second = (o.id for o in h.offers("F"))
    h.advance(1.1)  # t=2.1: only the first offer is 2 s old
    assert [r.offer_id for r in h.take("F", m.RescindOffer)] == [first]
    h.advance(1.0)
    assert [r.offer_id for r in h.take("F", m.RescindOffer)] == [second]


def test_framework_failover_keeps_tasks_and_timeout_kills_them(h):
    fid = h.add_framework("F", failover_timeout=10)
    h.add_agent("A")
    (offer,) = h.offers("F")
    h.send("F", m.Accept(fid, [offer.id], [h.task("t1")]))
    h.disconnect("F")
    h.agent_reports("A", fid, "t1", TaskState.TASK_RUNNING)
    assert h.statuses("F") == []  # nobody to tell; the agent keeps retrying
    from jmesos.core.model import FrameworkInfo

    h.send("F2", m.RegisterFramework(FrameworkInfo(name="fw", id=fid, failover_timeout=10)))
    (reg,) = h.take("F2", m.FrameworkRegistered)
    assert reg.reregistered and reg.framework_id == fid
    h.agent_reports("A", fid, "t1", TaskState.TASK_RUNNING)  # the retry reaches the new scheduler
    assert [s.state for s in h.statuses("F2")] == [TaskState.TASK_RUNNING]
    h.disconnect("F2")
    h.advance(11)
    assert h.take("A", m.ShutdownFramework)
    assert fid not in h.master.frameworks
    assert any(e.kind == "framework_removed" for e in h.events)


def test_reconciliation_explicit_and_implicit(h):
    fid = h.add_framework("F")
    h.add_agent("A")
    (offer,) = h.offers("F")
    h.send("F", m.Accept(fid, [offer.id], [h.task("t1"), h.task("t2")]))
    h.agent_reports("A", fid, "t1", TaskState.TASK_RUNNING)
    h.statuses("F")
    h.send("F", m.Reconcile(fid, ["t1", "nope"]))
    got = {s.task_id: (s.state, s.reason) for s in h.statuses("F")}
    assert got == {
        "t1": (TaskState.TASK_RUNNING, Reason.REASON_RECONCILIATION),
        "nope": (TaskState.TASK_LOST, Reason.REASON_RECONCILIATION),
    }
    h.send("F", m.Reconcile(fid, []))
    assert {s.task_id for s in h.statuses("F")} == {"t1", "t2"}


def test_kill_forwards_to_the_agent_and_unknown_kill_is_lost(h):
    fid = h.add_framework("F")
    h.add_agent("A")
    (offer,) = h.offers("F")
    h.send("F", m.Accept(fid, [offer.id], [h.task("t1")]))
    h.send("F", m.KillTask(fid, "t1"))
    assert [k.task_id for k in h.take("A", m.KillTaskOnAgent)] == ["t1"]
    h.send("F", m.KillTask(fid, "ghost"))
    (status,) = h.statuses("F")
    assert status.state == TaskState.TASK_LOST and "ghost" in status.message


def test_kill_of_a_task_that_already_ended_tells_its_end_again_marked_as_reconciliation(h):
    fid = h.add_framework("F")
    h.add_agent("A")
    (offer,) = h.offers("F")
    h.send("F", m.Accept(fid, [offer.id], [h.task("t1")]))
    h.agent_reports("A", fid, "t1", TaskState.TASK_FINISHED)
    (first,) = h.statuses("F")
    assert first.reason == Reason.REASON_NONE
    h.send("F", m.KillTask(fid, "t1"))
    assert h.take("A", m.KillTaskOnAgent) == []  # nothing left to kill
    (again,) = h.statuses("F")
    assert (again.state, again.reason) == (TaskState.TASK_FINISHED, Reason.REASON_RECONCILIATION)
    assert "already ended TASK_FINISHED" in again.message


def test_suppress_stops_offers_and_revive_restores_them(h):
    fid = h.add_framework("F")
    h.add_agent("A")
    (offer,) = h.offers("F")
    h.send("F", m.SuppressOffers(fid))
    h.send("F", m.Decline(fid, [offer.id], Filters(refuse_seconds=0)))
    h.advance(3)
    assert h.offers("F") == []
    h.send("F", m.ReviveOffers(fid))
    assert len(h.offers("F")) == 1


def test_messages_from_an_impostor_connection_are_refused(h):
    fid = h.add_framework("F")
    h.add_agent("A")
    h.send("X", m.KillTask(fid, "t1"))
    (error,) = h.take("X", m.FrameworkError)
    assert "another connection" in error.message
    assert any(e.kind == "error" for e in h.events)


def test_every_message_is_in_the_event_log(h):
    fid = h.add_framework("F")
    h.add_agent("A")
    h.offers("F")
    traced = [(e.source, e.dest, e.data["type"]) for e in h.events if e.kind == "message"]
    # before registration the peer is known only by its connection; afterwards by its id
    assert ("F", "master", "RegisterFramework") in traced
    assert ("master", fid, "FrameworkRegistered") in traced
    assert ("master", fid, "ResourceOffers") in traced
    assert ("master", "agent-1", "AgentRegistered") in traced


def test_the_master_core_is_pure():
    """No sockets, threads, sleeps, subprocesses or wall clock in the master and allocator."""
    core = Path(__file__).parent.parent / "jmesos" / "core"
    banned = {
        "socket",
        "threading",
        "time",
        "subprocess",
        "multiprocess",
        "multiprocessing",
        "asyncio",
        "selectors",
        "os",
    }
    for path in [core / "master.py", *sorted((core / "allocator").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [(node.module or "").split(".")[0]]
            assert not set(names) & banned, f"{path.name} imports {set(names) & banned}"


def test_a_filter_on_leftovers_lifts_when_the_agent_frees_more(h):
    """Mesos's refused-offer filter: it holds only while the agent offers no more than was refused."""
    fid = h.add_framework("F")
    h.add_agent("A", "cpus:2;mem:1024")
    (offer,) = h.offers("F")
    h.send("F", m.Accept(fid, [offer.id], [h.task("t1", "cpus:2;mem:512")], Filters(refuse_seconds=60)))
    h.advance(2.0)
    assert h.offers("F") == []  # the leftover mem:512 stays filtered...
    h.agent_reports("A", fid, "t1", TaskState.TASK_FINISHED)
    (offer,) = h.offers("F")  # ...until the task ends and the agent has cpus to offer again
    assert offer.resources == Resources(cpus=2, mem=1024)


def test_ticking_always_moves_the_deadline_forward(h):
    """A driver ticks at next_deadline(); after a tick it must lie in the future, or the loop would spin."""
    fid = h.add_framework("F")
    h.add_agent("A")
    (offer,) = h.offers("F")
    h.send("F", m.Decline(fid, [offer.id], Filters(refuse_seconds=4.3)))  # expires between two rounds
    for _ in range(200):
        now = h.master.next_deadline()
        h.now = max(h.now, now)
        h._route(h.master.tick(h.now))
        assert h.master.next_deadline() > h.now
        if h.now > 8:
            break
    assert h.now > 8


def test_a_decline_without_filter_waits_for_the_next_round(h):
    fid = h.add_framework("F")
    h.add_agent("A")
    (offer,) = h.offers("F")
    h.send("F", m.Decline(fid, [offer.id], Filters(refuse_seconds=0)))
    assert h.offers("F") == []  # not straight back: that would ping-pong
    h.advance(1.0)
    assert len(h.offers("F")) == 1


def test_an_accept_with_no_tasks_is_a_decline(h):
    fid = h.add_framework("F")
    h.add_agent("A")
    (offer,) = h.offers("F")
    h.send("F", m.Accept(fid, [offer.id], []))
    assert [e.kind for e in h.events if e.kind.startswith("offer_")] == ["offer_declined"]


def test_a_framework_id_is_its_name_spelled_for_urls_and_tables(h):
    assert h.add_framework("F1", name="%%mesos task cell-2") == "mesos-task-cell-2"
    assert h.add_framework("F2", name="my framework!") == "my-framework"
    assert h.add_framework("F3", name="my framework?") == "my-framework-2"  # ids stay unique
    assert h.add_framework("F4", name="%%") == "framework"


def test_the_cluster_asks_agents_to_shut_down_and_they_leave_when_they_say_goodbye(h):
    fid = h.add_framework("F")
    a1, a2 = h.add_agent("A1"), h.add_agent("A2")
    h.send("C", m.ShutdownAgents([a1, "agent-99"], "the cluster is stopping"))  # C: the cluster's connection

    (request,) = h.take("A1", m.ShutdownAgent)
    assert request.reason == "the cluster is stopping"
    assert h.take("A2", m.ShutdownAgent) == []  # only the agents named; an unknown id needs nothing
    assert a1 in h.master.agents  # it stays until it says goodbye, so its tasks' ends still arrive
    h.send("A1", m.UnregisterAgent(a1))
    assert a1 not in h.master.agents and a2 in h.master.agents
    (removed,) = [e for e in h.events if e.kind == "agent_removed"]
    assert (removed.data["agent_id"], removed.data["graceful"]) == (a1, True)  # it left; it did not die

    h.send("F", m.ShutdownAgents([a2], "a framework tries"))
    (error,) = h.take("F", m.FrameworkError)
    assert "may not shut agents down" in error.message and fid in error.message
    assert h.take("A2", m.ShutdownAgent) == []


def test_an_agent_away_when_asked_to_shut_down_hears_it_when_it_reconnects(h):
    aid = h.add_agent("A")
    h.disconnect("A")  # reconnecting, as an agent does after a network blip
    h.send("C", m.ShutdownAgents([aid], "the cluster is stopping"))
    assert h.take("A", m.ShutdownAgent) == []  # nobody to tell yet

    h.send("A2", m.RegisterAgent(h.master.agents[aid].info))  # back, on a new connection
    registered, request = h.take("A2")
    assert isinstance(registered, m.AgentRegistered) and registered.agent_id == aid
    assert isinstance(request, m.ShutdownAgent) and request.reason == "the cluster is stopping"
    h.send("A2", m.UnregisterAgent(aid))
    assert aid not in h.master.agents


def test_a_tick_at_the_masters_own_deadline_does_what_was_due(h):
    """The shares sample was due at last + interval, but the tick checked now - last >= interval.

    In floats 0.6 - 0.5 < 0.1: a tick at that deadline did nothing and asked for
    the same deadline again, so whatever drives the master by its deadlines spun
    at one instant.
    """
    h.add_agent("A1", "cpus:4;mem:4096")
    fid = h.add_framework("F")
    (offer,) = h.offers("F")
    h.now = 0.5
    h.send("F", m.Accept(fid, [offer.id], [h.task("t1")], Filters(refuse_seconds=0)))  # sampled at 0.5
    h.agent_reports("A1", fid, "t1", TaskState.TASK_FINISHED)  # a change at once: the next sample waits
    assert h.master.next_deadline() == 0.5 + 0.1
    h.now = h.master.next_deadline()
    h.master.tick(h.now)
    assert h.master.next_deadline() > h.now, "a tick at the deadline must move the deadline on"
    assert [e.time for e in h.events if e.kind == "shares"][-1] == h.now


def test_a_framework_that_comes_and_goes_between_two_share_samples_is_still_charted(h):
    """Shares are sampled at most every shares_interval, but a framework's first offer at once.

    A framework that came and went between two samples (a few tiny tasks while
    another framework kept the cluster busy) had no point in the allocation chart.
    """
    h.add_agent("A1", "cpus:4;mem:4096")
    h.add_agent("A2", "cpus:4;mem:4096")
    busy = h.add_framework("B", name="busy")
    o1, o2 = h.offers("B")
    h.send("B", m.Accept(busy, [o1.id], [h.task("b0", "cpus:1;mem:128")], Filters(refuse_seconds=60)))
    h.send("B", m.Decline(busy, [o2.id], Filters(refuse_seconds=60)))
    h.advance(0.45)
    h.agent_reports(h.master.agents[o1.agent_id].info.hostname, busy, "b0", TaskState.TASK_FINISHED)  # a sample now
    h.advance(0.05)
    quick = h.add_framework("Q", name="quick")  # 0.05 s after that sample: the next is not due yet
    (offer,) = h.offers("Q")
    h.now += 0.01
    h.send("Q", m.Accept(quick, [offer.id], [h.task("q1", "cpus:1;mem:128")], Filters(refuse_seconds=0)))
    h.now += 0.01
    h.agent_reports(h.master.agents[offer.agent_id].info.hostname, quick, "q1", TaskState.TASK_FINISHED)
    h.now += 0.01
    h.send("Q", m.UnregisterFramework(quick))  # gone before the next sample
    h.advance(2.0)
    samples = [(e.time, e.data["shares"]) for e in h.events if e.kind == "shares"]
    assert any(shares.get(quick, 0) > 0 for _, shares in samples), samples
    assert quick not in samples[-1][1], "and the last sample has it gone"
    # the chart's solid line is the share of the tasks a framework holds: sampled when its first task launched
    launched = next(e.time for e in h.events if e.kind == "task_launched" and e.data["framework_id"] == quick)
    assert launched in [t for t, _ in samples], (launched, samples)
