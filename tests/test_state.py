"""ClusterState: the fold of the event log that every view, table and replay reads.

Synthetic events check each rule on its own; the pure master (driven by the
in-memory harness) checks that the fold agrees with what the master itself
believes; the sample run checks replay (``until``, ``Timeline``) against a
fresh fold.
"""

from __future__ import annotations

import pytest

from jmesos.core import messages as m
from jmesos.core.events import Event, EventLog
from jmesos.core.resources import Resources
from jmesos.core.state import ClusterState, Timeline
from jmesos.core.states import TaskState
from jmesos.widgets import snapshot as snap
from jmesos.widgets import tables
from jmesos.widgets.sample import sample_events

from .harness import Harness


def ev(t: float, kind: str, source: str = "master", dest: str = "", **data) -> Event:
    return Event(t, kind, source, dest, data)


def base_events() -> list[Event]:
    """Two agents, one framework, one offer accepted with two tasks."""
    return [
        ev(0.0, "agent_added", "agent-1", agent_id="agent-1", hostname="h1", resources={"cpus": 4, "mem": 1024}),
        ev(0.1, "agent_added", "agent-2", agent_id="agent-2", hostname="h2", resources={"cpus": 2, "mem": 1024}),
        ev(0.5, "framework_added", "fw", framework_id="fw", name="my-fw", role="*"),
        ev(
            1.0,
            "offer",
            "master",
            "fw",
            offer_id="o-1",
            framework_id="fw",
            agent_id="agent-1",
            resources={"cpus": 4, "mem": 1024},
            explanation="agent-1 went to fw: lowest share",
            details={"order": ["fw"]},
        ),
        ev(
            1.2,
            "task_launched",
            "fw",
            "agent-1",
            task_id="t1",
            framework_id="fw",
            agent_id="agent-1",
            resources={"cpus": 1, "mem": 256},
            locality=["agent-1"],
            local=True,
        ),
        ev(1.2, "task_state", task_id="t1", framework_id="fw", agent_id="agent-1", state="TASK_STAGING"),
        ev(
            1.2,
            "task_launched",
            "fw",
            "agent-1",
            task_id="t2",
            framework_id="fw",
            agent_id="agent-1",
            resources={"cpus": 2, "mem": 256},
            locality=["agent-2"],
            local=False,
        ),
        ev(1.2, "task_state", task_id="t2", framework_id="fw", agent_id="agent-1", state="TASK_STAGING"),
        ev(
            1.2,
            "offer_accepted",
            "fw",
            offer_id="o-1",
            framework_id="fw",
            agent_id="agent-1",
            tasks=["t1", "t2"],
            task_count=2,
        ),
    ]


def test_agents_track_total_used_offered_and_free() -> None:
    state = ClusterState().apply(base_events()[:4])
    a1 = state.agents["agent-1"]
    assert a1.total == Resources(cpus=4, mem=1024)
    assert a1.offered == Resources(cpus=4, mem=1024)
    assert not a1.free
    assert state.total == Resources(cpus=6, mem=2048)
    state.apply(base_events()[4:])
    assert a1.used == Resources(cpus=3, mem=512)
    assert not a1.offered, "the accepted offer's leftovers go back to the allocator, they are no longer offered"
    assert a1.free == Resources(cpus=1, mem=512)
    assert a1.tasks == {("fw", "t1"), ("fw", "t2")}
    assert state.utilization == {"cpus": 0.5, "mem": 0.25}


def test_tasks_move_through_states_and_give_resources_back() -> None:
    state = ClusterState().apply(base_events())
    state.apply(
        [
            ev(1.5, "task_state", "agent-1", task_id="t1", framework_id="fw", agent_id="agent-1", state="TASK_RUNNING"),
            ev(
                3.0, "task_state", "agent-1", task_id="t1", framework_id="fw", agent_id="agent-1", state="TASK_FINISHED"
            ),
            ev(
                3.5,
                "task_state",
                "agent-1",
                task_id="t2",
                framework_id="fw",
                agent_id="agent-1",
                state="TASK_FAILED",
                reason="REASON_TASK_FAILED",
                message="Traceback ...\nZeroDivisionError",
            ),
            # a reconciliation answer repeating a final state changes nothing
            ev(
                4.0,
                "task_state",
                task_id="t1",
                framework_id="fw",
                agent_id="agent-1",
                state="TASK_FINISHED",
                reason="REASON_RECONCILIATION",
            ),
        ]
    )
    t1, t2 = state.tasks[("fw", "t1")], state.tasks[("fw", "t2")]
    assert (t1.launched, t1.started, t1.finished, t1.state) == (1.2, 1.5, 3.0, "TASK_FINISHED")
    assert t2.state == "TASK_FAILED" and t2.started is None and "ZeroDivisionError" in t2.message
    fw = state.frameworks["fw"]
    assert dict(fw.task_counts) == {"TASK_FINISHED": 1, "TASK_FAILED": 1}
    assert fw.running == 0 and not fw.used
    assert not state.agents["agent-1"].used and not state.agents["agent-1"].tasks
    assert state.summary()["finished"] == 1 and state.summary()["failed"] == 1


def test_offer_outcomes_and_intervals() -> None:
    events = base_events()[:4] + [
        ev(1.1, "offer", "master", "fw", offer_id="o-2", framework_id="fw", agent_id="agent-2", resources={"cpus": 2}),
        ev(1.4, "offer_declined", "fw", offer_id="o-2", framework_id="fw", agent_id="agent-2", refuse_seconds=5.0),
        ev(
            2.0,
            "offer_rescinded",
            "master",
            "fw",
            offer_id="o-1",
            framework_id="fw",
            agent_id="agent-1",
            reason="not answered within offer_timeout=1s",
        ),
        ev(6.5, "offer", "master", "fw", offer_id="o-3", framework_id="fw", agent_id="agent-2", resources={"cpus": 2}),
        ev(6.6, "offer", "master", "fw", offer_id="o-4", framework_id="fw", agent_id="agent-1", resources={"cpus": 4}),
        ev(
            7.0,
            "offer_rescinded",
            "master",
            "fw",
            offer_id="o-4",
            framework_id="fw",
            agent_id="agent-1",
            reason="agent agent-1 removed",
        ),
    ]
    state = ClusterState().apply(events)
    answered = {o.offer_id: o for o in state.offer_history}
    assert answered["o-2"].outcome == "declined" and answered["o-2"].duration == pytest.approx(0.3)
    assert answered["o-2"].note == "refuse for 5s"
    assert answered["o-1"].outcome == "timed_out" and answered["o-1"].explanation.startswith("agent-1 went to fw")
    assert answered["o-4"].outcome == "rescinded"
    assert list(state.offers) == ["o-3"] and state.offers["o-3"].outcome == "pending"
    assert state.agents["agent-2"].offered == Resources(cpus=2)
    assert not state.agents["agent-1"].offered
    assert dict(state.frameworks["fw"].offers_answered) == {"declined": 1, "timed_out": 1, "rescinded": 1}
    assert [o.offer_id for o in state.all_offers()] == ["o-2", "o-1", "o-4", "o-3"]


def test_a_dead_agent_loses_its_tasks_offers_and_capacity() -> None:
    state = ClusterState().apply(
        base_events()
        + [
            ev(
                2.0,
                "offer",
                "master",
                "fw",
                offer_id="o-9",
                framework_id="fw",
                agent_id="agent-1",
                resources={"cpus": 1},
            ),
            ev(5.0, "agent_disconnected", "agent-1", agent_id="agent-1"),
        ]
    )
    assert not state.agents["agent-1"].connected and state.agents["agent-1"].alive
    state.apply([ev(8.0, "agent_removed", "agent-1", agent_id="agent-1", reason="missed 3 health checks")])
    a1 = state.agents["agent-1"]
    assert not a1.alive and a1.removed == 8.0 and "health" in a1.reason
    assert {t.state for t in state.tasks.values()} == {"TASK_LOST"}
    assert state.offer_history[-1].outcome == "rescinded" and not state.offers
    assert state.total == Resources(cpus=2, mem=1024)
    assert not state.used and state.frameworks["fw"].running == 0
    assert state.summary()["dead_agents"] == 1 and [a.agent_id for a in state.alive_agents()] == ["agent-2"]


def test_shares_build_the_time_series_and_locality_counts() -> None:
    state = ClusterState().apply(
        base_events()
        + [
            ev(
                1.3,
                "shares",
                shares={"fw": 0.5},
                used={"cpus": 3},
                total={"cpus": 6},
                utilization={"cpus": 0.5, "mem": 0.25},
            ),
            ev(2.3, "shares", shares={"fw": 0.25}, utilization={"cpus": 0.25, "mem": 0.1}),
        ]
    )
    fw = state.frameworks["fw"]
    assert fw.share == 0.25
    assert [(p.time, p.shares["fw"], p.utilization["cpus"]) for p in state.series] == [
        (1.3, 0.5, 0.5),
        (2.3, 0.25, 0.25),
    ]
    assert (fw.local, fw.remote, fw.locality) == (1, 1, 0.5)
    assert snap.allocation_view(state)["frameworks"][0]["end"] is None  # still there: its lines run to the end
    state.apply([ev(3.0, "framework_removed", "fw", framework_id="fw", reason="the framework stopped")])
    assert not fw.active and fw.share == 0.0 and state.shares() == {}
    assert snap.allocation_view(state)["frameworks"][0]["end"] == 3.0  # gone: they stop where it left
    # the status lines count it as gone, not as if there never was one
    assert (state.summary()["frameworks"], state.summary()["left_frameworks"]) == (0, 1)
    assert snap.header(state)["left_frameworks"] == 1
    assert "0 frameworks (1 left)" in tables.static_html(state)


def test_each_sample_keeps_what_tasks_hold_and_that_with_the_offers_not_answered_yet() -> None:
    # t1 and t2 hold 3 of the 6 cpus; agent-2 (2 cpus, 1 GiB) is out on offer to fw, so with it
    # fw is at 5/6; declined, and t2 (2 cpus) over, t1 holds 1 of 6 either way
    offer = ev(1.25, "offer", "master", "fw", offer_id="o-2", framework_id="fw", agent_id="agent-2")
    offer.data["resources"] = {"cpus": 2, "mem": 1024}
    state = ClusterState().apply(
        base_events()
        + [
            offer,
            ev(1.3, "shares", shares={"fw": 0.9}),
            ev(2.0, "offer_declined", "fw", offer_id="o-2", framework_id="fw", agent_id="agent-2"),
            ev(
                3.0, "task_state", "agent-1", task_id="t2", framework_id="fw", agent_id="agent-1", state="TASK_FINISHED"
            ),
        ]
    )
    (head,) = snap.header(state)["frameworks"]
    assert (head["held"], head["with_offers"]) == (0.1667, 0.1667)  # nothing out: the two agree
    state.apply([ev(3.1, "shares", shares={"fw": 0.4})])
    assert [(p.held["fw"], p.with_offers["fw"]) for p in state.series] == [
        (0.5, pytest.approx(5 / 6)),
        (pytest.approx(1 / 6), pytest.approx(1 / 6)),
    ]
    assert [p.shares["fw"] for p in state.series] == [0.9, 0.4]  # the allocator's own figures, kept as reported
    (fw,) = snap.allocation_view(state)["frameworks"]
    assert [v for _, v in fw["points"]] == [0.5, 0.1667] and [v for _, v in fw["with_offers"]] == [0.8333, 0.1667]
    (row,) = tables.frameworks_table(state).to_dicts()
    assert (row["dominant share"], row["with offers out"]) == (0.167, 0.167)


def test_refused_tasks_count_and_reconciliation_of_unknown_tasks_is_ignored() -> None:
    state = ClusterState().apply(
        base_events()[:3]
        + [
            ev(
                1.0,
                "task_state",
                task_id="bad",
                framework_id="fw",
                agent_id="agent-1",
                state="TASK_ERROR",
                reason="REASON_TASK_INVALID",
                message="task 'bad' asks for no resources",
            ),
            ev(
                1.1, "task_state", task_id="ghost", framework_id="fw", state="TASK_LOST", reason="REASON_RECONCILIATION"
            ),
        ]
    )
    assert ("fw", "ghost") not in state.tasks
    assert state.tasks[("fw", "bad")].state == "TASK_ERROR"
    assert state.frameworks["fw"].task_counts["TASK_ERROR"] == 1


def test_a_log_that_starts_late_still_folds() -> None:
    """The log is bounded: it may start after agents and frameworks registered."""
    state = ClusterState().apply(
        [
            ev(
                50.0,
                "offer",
                "master",
                "late-fw",
                offer_id="o-7",
                framework_id="late-fw",
                agent_id="agent-9",
                resources={"cpus": 1},
            ),
            ev(
                50.1,
                "task_launched",
                "late-fw",
                task_id="x",
                framework_id="late-fw",
                agent_id="agent-9",
                resources={"cpus": 1},
            ),
            ev(50.2, "mystery_kind", foo=1),
            ev(
                50.3,
                "task_launched",
                "late-fw",
                task_id="y",
                framework_id="late-fw",
                agent_id="agent-9",
                resources={"bogus": 1},
            ),
        ]
    )
    assert state.agents["agent-9"].offered == Resources(cpus=1)
    assert state.frameworks["late-fw"].launched == 2
    assert state.tasks[("late-fw", "y")].resources == Resources(), "malformed resources count as nothing"
    assert state.start == 50.0 and state.now == 50.3 and state.elapsed == pytest.approx(0.3)
    assert state.kind_counts["mystery_kind"] == 1


def test_re_added_agent_is_not_counted_twice() -> None:
    added = ev(0.0, "agent_added", "agent-1", agent_id="agent-1", resources={"cpus": 4})
    state = ClusterState().apply([added, added])
    assert state.total == Resources(cpus=4)


def test_bounds_forget_old_details_but_keep_counts_exact() -> None:
    events = base_events()[:3]
    for i in range(30):
        events += [
            ev(
                1 + i,
                "task_launched",
                "fw",
                task_id=f"t{i}",
                framework_id="fw",
                agent_id="agent-1",
                resources={"cpus": 1},
            ),
            ev(
                1 + i + 0.5, "task_state", task_id=f"t{i}", framework_id="fw", agent_id="agent-1", state="TASK_FINISHED"
            ),
            ev(1 + i, "offer", offer_id=f"o{i}", framework_id="fw", agent_id="agent-1", resources={"cpus": 1}),
            ev(1 + i, "offer_declined", offer_id=f"o{i}", framework_id="fw", agent_id="agent-1"),
            ev(1 + i, "message", "master", "fw", type="Ping"),
        ]
    state = ClusterState(max_tasks=5, max_offers=4, max_messages=3).apply(events)
    assert len(state.tasks) == 5 and ("fw", "t29") in state.tasks and ("fw", "t0") not in state.tasks
    assert state.frameworks["fw"].task_counts["TASK_FINISHED"] == 30
    assert len(state.offer_history) == 4 and state.frameworks["fw"].offers_answered["declined"] == 30
    assert len(state.messages) == 3


def test_bad_limits_name_the_field() -> None:
    with pytest.raises(ValueError, match="max_tasks=-1"):
        ClusterState(max_tasks=-1)
    with pytest.raises(ValueError, match="time='soon' must be a number"):
        Timeline(sample_events()).at("soon")
    with pytest.raises(ValueError, match="keeps no history"):
        ClusterState(history=0).until(1.0)


def _fingerprint(state: ClusterState) -> tuple:
    return (
        state.summary(),
        {a: (v.alive, str(v.used), str(v.offered), sorted(v.tasks)) for a, v in state.agents.items()},
        {f: (v.share, dict(v.task_counts), v.local, v.remote) for f, v in state.frameworks.items()},
        {k: (t.state, t.finished) for k, t in state.tasks.items()},
        [(o.offer_id, o.outcome) for o in state.all_offers()],
        len(state.series),
    )


@pytest.mark.parametrize("t", [0.0, 1.7, 5.0, 14.0, 14.5, 22.25, 29.0, 100.0])
def test_until_and_timeline_match_a_fresh_fold(t: float) -> None:
    events = sample_events(seed=3)
    start = events[0].time
    fresh = ClusterState.from_events(events, until=start + t)
    live = ClusterState().apply(events)
    assert _fingerprint(live.until(start + t)) == _fingerprint(fresh)
    timeline = Timeline(events)
    timeline.at(start + t / 2)  # the cursor moves forward from there
    assert _fingerprint(timeline.at(start + t)) == _fingerprint(fresh)


def test_timeline_scrubs_back_and_forth() -> None:
    events = sample_events(seed=1)
    timeline = Timeline(events)
    late = _fingerprint(timeline.at(timeline.end))
    early = _fingerprint(timeline.at(timeline.start + 3))
    assert _fingerprint(timeline.at(timeline.end)) == late
    assert _fingerprint(timeline.at(timeline.start + 3)) == early
    assert early != late


def test_a_saved_log_replays_to_the_same_state(tmp_path) -> None:
    log = EventLog(events=sample_events(seed=2))
    path = log.save(tmp_path / "run.jsonl")
    assert _fingerprint(ClusterState().apply(EventLog.load(path))) == _fingerprint(ClusterState().apply(log))


def test_the_fold_agrees_with_the_pure_master() -> None:
    """Drive the real master (in-memory harness) and compare its own view with the fold of its events."""
    h = Harness()
    a1 = h.add_agent("peer-a1", "cpus:4;mem:2048")
    a2 = h.add_agent("peer-a2", "cpus:2;mem:1024")
    fw = h.add_framework("peer-fw", name="analytics")
    h.advance(1.0)
    offers = h.offers("peer-fw")
    assert offers, "the DRF allocator offers both agents to the only framework"
    first = offers[0]
    tasks = [
        h.task("t1", "cpus:1;mem:256", locality=(first.agent_id,)),
        h.task("t2", "cpus:1;mem:256", locality=("elsewhere",)),
    ]
    h.send("peer-fw", m.Accept(fw, [first.id], tasks))
    agent_peer = "peer-a1" if first.agent_id == a1 else "peer-a2"
    h.agent_reports(agent_peer, fw, "t1", TaskState.TASK_RUNNING)
    h.agent_reports(agent_peer, fw, "t2", TaskState.TASK_RUNNING)
    h.advance(0.5)
    h.agent_reports(agent_peer, fw, "t1", TaskState.TASK_FINISHED)
    h.advance(2.0)

    state = ClusterState().apply(h.events)
    truth = h.master.state()
    assert set(state.agents) == set(truth["agents"]) == {a1, a2}
    for agent_id, info in truth["agents"].items():
        view = state.agents[agent_id]
        assert view.total == Resources(info["resources"])
        assert view.used == Resources(info["used"]), agent_id
        assert view.offered == Resources(info["offered"]), agent_id
        assert len(view.tasks) == info["tasks"]
    assert set(state.offers) == {o["offer_id"] for o in truth["offers"]}
    live = {t["task_id"]: t["state"] for t in truth["tasks"]}
    assert {k[1]: t.state for k, t in state.tasks.items() if not t.terminal} == live == {"t2": "TASK_RUNNING"}
    assert state.tasks[(fw, "t1")].state == "TASK_FINISHED"
    assert state.frameworks[fw].name == "analytics"
    assert state.frameworks[fw].share == pytest.approx(truth["frameworks"][fw]["share"], abs=1e-3)
    assert (state.frameworks[fw].local, state.frameworks[fw].remote) == (1, 1)
