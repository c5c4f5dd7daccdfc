"""The virtual cluster keeps its whole log, ends honest runs, stops livelocks, and refuses bad input clearly.

Also: the measurements refuse a log that lost its start rather than return
wrong numbers, and refuse a resource or task state they do not know.  Every
run here is small (well under a second of wall time).
"""

from __future__ import annotations

import pytest

import jmesos
from jmesos.teaching import VirtualCluster, measure
from jmesos.teaching.workloads import OneTaskAtATime

from .logs import one_task_log

NEED = jmesos.Resources(cpus=1, mem="64MiB")


class Filler(jmesos.Scheduler):
    """Keeps every offer full of tasks, forever."""

    def __init__(self) -> None:
        self.n = 0

    def resource_offers(self, driver, offers):
        for offer in offers:
            free, tasks = offer.resources, []
            while NEED <= free:
                self.n += 1
                tasks.append(jmesos.TaskInfo(name=f"t{self.n}", resources=NEED, command="sleep 1"))
                free = free - NEED
            driver.launch_tasks([offer.id], tasks, jmesos.Filters(refuse_seconds=0))


def _busy(until: float, **options) -> VirtualCluster:
    cluster = VirtualCluster(100, 4, "4GiB", task_seconds=5, quiet=True, **options)
    cluster.add_framework(Filler(), name="A")
    return cluster.run(until=until)


# ---------------------------------------------------------------------------------------- the event log
def test_a_virtual_log_is_large_by_default_and_events_maxlen_sets_it():
    assert VirtualCluster(1).events.maxlen == 2_000_000
    assert VirtualCluster(1, events_maxlen=5000).events.maxlen == 5000
    for bad in (0, -1, 1.5, True, "many", None):
        with pytest.raises(jmesos.InvalidArgument, match="events_maxlen="):
            VirtualCluster(1, events_maxlen=bad)


def test_measures_over_a_whole_busy_run_are_right():
    cluster = _busy(60)
    assert cluster.events.dropped == 0
    assert measure.dominant_shares(cluster) == {"A": 1.0}
    assert measure.mean_utilisation(cluster) > 0.99


_NEED_THE_START = [
    measure.framework_names,
    measure.tasks_launched,
    measure.running_tasks,
    measure.cluster_total,
    measure.allocations,
    measure.dominant_shares,
    measure.utilisation,
    measure.mean_utilisation,
    measure.completion_times,
    measure.offer_answers,
]


@pytest.fixture(scope="module")
def truncated() -> VirtualCluster:
    return _busy(60, events_maxlen=5000)


@pytest.mark.parametrize("fn", _NEED_THE_START, ids=lambda f: f.__name__)
def test_measures_refuse_a_log_that_lost_its_start(fn, truncated):
    cluster = truncated
    dropped = cluster.events.dropped
    assert dropped > 0
    with pytest.raises(ValueError) as info:
        fn(cluster)
    text = str(info.value)
    assert f"lost its first {dropped:_} events" in text and "events_maxlen=5_000" in text
    assert "VirtualCluster(events_maxlen=...)" in text and "LocalCluster" not in text
    with pytest.raises(ValueError) as info:  # the bare log cannot say which cluster made it: both are named
        fn(cluster.events)
    assert "VirtualCluster(events_maxlen=...)" in str(info.value) and "LocalCluster(events_maxlen=...)" in str(
        info.value
    )


# ---------------------------------------------------------------------------------------- run(): honest work, livelocks
def test_run_has_no_step_budget_unless_given_one_and_says_it_is_a_budget():
    cluster = VirtualCluster(2, quiet=True)
    cluster.add_framework(Filler())
    with pytest.raises(RuntimeError) as info:
        cluster.run(until=100, max_steps=500)
    assert "max_steps=500" in str(info.value) and "budget" in str(info.value)
    cluster.run(until=100)  # no budget by default: the rest of the run goes through
    assert cluster.now == 100


def test_a_burst_of_work_at_one_instant_is_not_taken_for_a_livelock():
    # 20,000 agents answer the master's pings at the same instants: far more steps at one virtual time
    # than any fixed allowance, all of them honest
    cluster = VirtualCluster(20_000, quiet=True)
    cluster.run(until=2.5)
    assert cluster.now == 2.5 and len(cluster.agents) == 20_000


def test_a_run_whose_virtual_time_stops_advancing_is_stopped_with_why():
    # a latency the clock cannot resolve at t=1 s: every message arrives the instant it is sent, and tasks
    # end as they start, so launching, finishing and re-offering go round forever at t=1
    cluster = VirtualCluster(2, latency=1e-16, task_seconds=1e-16, quiet=True)
    cluster.add_framework(Filler(), at=1.0)
    with pytest.raises(RuntimeError) as info:
        cluster.run(until=5)
    text = str(info.value)
    assert "virtual time stopped advancing at t=1 s" in text and "lost to rounding" in text
    assert "latency=" in text


@pytest.mark.parametrize(
    "options, field",
    [
        ({"until": float("nan")}, "until="),
        ({"until": float("inf")}, "until="),
        ({"until": "10"}, "until="),
        ({"until": True}, "until="),
        ({"until": 0.5}, "until=0.5 is before"),
        ({"max_steps": 0}, "max_steps="),
        ({"max_steps": -1}, "max_steps="),
        ({"max_steps": 2.5}, "max_steps="),
        ({"max_steps": True}, "max_steps="),
    ],
)
def test_run_refuses_bad_arguments_naming_them(options, field):
    cluster = VirtualCluster(1).run(until=1)
    with pytest.raises(jmesos.InvalidArgument, match=field):
        cluster.run(**options)
    assert cluster.now == 1


# ---------------------------------------------------------------------------------------- agents from the start
def test_agents_have_their_ids_from_construction_and_a_kill_can_be_scheduled_before_run():
    cluster = VirtualCluster(agents=2)
    assert cluster.agents == ["agent-1", "agent-2"]
    assert "agents=2" in repr(cluster)
    cluster.kill_agent("agent-1", at=5)
    cluster.run(until=20)
    assert cluster.agents == ["agent-2"]
    (removed,) = cluster.events.filter("agent_removed")
    assert removed.data["agent_id"] == "agent-1" and 5 < removed.time < 20


def test_a_misspelt_agent_setting_is_refused():
    with pytest.raises(jmesos.InvalidArgument, match="did you mean 'cpus'"):
        VirtualCluster(agents=[{"cpu": 2}])
    with pytest.raises(jmesos.InvalidArgument, match="agents\\[1\\] has 'gpus'"):
        VirtualCluster(agents=[{"cpus": 2}, {"gpus": 1}])
    cluster = VirtualCluster(agents=[{"cpus": 2, "mem": "1GiB", "attributes": {"rack": "a"}}])
    assert measure.cluster_total(cluster) == jmesos.Resources(cpus=2, mem="1GiB")


@pytest.mark.parametrize("at", ["x", float("nan"), float("inf"), True, [1]])
def test_times_to_act_at_are_refused_unless_finite_numbers(at):
    cluster = VirtualCluster(1)
    with pytest.raises(jmesos.InvalidArgument, match="at="):
        cluster.add_framework(Filler(), at=at)
    with pytest.raises(jmesos.InvalidArgument, match="at="):
        cluster.kill_agent("agent-1", at=at)
    assert cluster.drivers == []


# ---------------------------------------------------------------------------------------- measurements' arguments
def test_utilisation_refuses_a_resource_it_does_not_know():
    assert measure.utilisation(one_task_log(), "mem") == ([0.0, 1.1, 3.0], [0.0, 0.25, 0.0])
    for bad in ("bogus", "cpu", "ports"):
        with pytest.raises(jmesos.InvalidArgument, match="cpus, mem, disk, gpus"):
            measure.utilisation(one_task_log(), bad)
        with pytest.raises(jmesos.InvalidArgument, match="resource="):
            measure.mean_utilisation(one_task_log(), bad)


def test_completion_times_takes_a_state_however_spelt_and_refuses_unknown_ones():
    for state in ("TASK_FINISHED", "FINISHED", "finished", jmesos.TASK_FINISHED):
        assert measure.completion_times(one_task_log(), state=state) == {"one": 2.0}
    assert measure.completion_times(one_task_log(), state="RUNNING") == {"one": 1.0}
    for bad in ("DONE", "", None, 3):
        with pytest.raises(jmesos.InvalidArgument, match="TASK_FINISHED"):
            measure.completion_times(one_task_log(), state=bad)


def test_a_policy_that_raises_is_said_unless_quiet(capsys):
    """The run goes on under DRF; without a word it would look like the policy worked."""

    class Raises(jmesos.Policy):
        def order(self, agent, candidates, view):
            raise RuntimeError("boom in order")

    for quiet in (False, True):
        vc = VirtualCluster(1, quiet=quiet, policy=Raises(), allocation_interval=0.2, task_seconds=1.0)
        vc.add_framework(OneTaskAtATime("cpus:1;mem:128"), name="A")
        vc.run(until=2)
        assert vc.events.filter("error")  # logged either way
        err = capsys.readouterr().err
        said = "jmesos: policy 'Raises' raised RuntimeError: boom in order" in err
        assert said is not quiet, err
