"""The exercise checkers accept right answers, reject wrong ones with a specific hint, and refuse bad input.

Also: the virtual cluster they run on is deterministic and behaves like a
cluster (DRF's worked example, agent loss), the event-log measurements are
right on hand-made logs, and the exercise stubs shipped in the lessons fail
their checks (so a student who has not answered never sees ✅).
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

import jmesos
from jmesos.core.allocator import FairShare, Policy
from jmesos.teaching import (
    OneTaskAtATime,
    VirtualCluster,
    check_completion_times,
    check_packing,
    check_policy,
    check_prediction,
    expect,
    fairness,
    measure,
)

from .logs import one_task_log

LESSONS = Path(__file__).resolve().parent.parent / "lessons"


# ---------------------------------------------------------------------------------------- packing answers
class _Base(jmesos.Scheduler):
    def __init__(self, n=24, need=jmesos.Resources(cpus=1, mem="128MiB"), seconds=0.3):
        self.todo = [f"pack-{i}" for i in range(n)]
        self.need, self.seconds, self.n, self.finished = need, seconds, n, 0

    def task(self, task_id):
        return jmesos.TaskInfo(name=task_id, resources=self.need, fn=time.sleep, args=(self.seconds,))

    def status_update(self, driver, status):
        if status.state == jmesos.TASK_FINISHED:
            self.finished += 1
            if self.finished == self.n:
                driver.stop()
        elif status.is_terminal:
            self.todo.append(status.task_id)


class Packer(_Base):
    def resource_offers(self, driver, offers):
        for offer in offers:
            free, tasks = offer.resources, []
            while self.todo and self.need <= free:
                tasks.append(self.task(self.todo.pop(0)))
                free = free - self.need
            driver.launch_tasks([offer.id], tasks, jmesos.Filters(refuse_seconds=0 if tasks else 0.2))


class PackTasksPacker(_Base):
    """A right answer written with jmesos.pack_tasks instead of a loop."""

    def resource_offers(self, driver, offers):
        for offer in offers:
            tasks = jmesos.pack_tasks(offer, [self.task(t) for t in self.todo])
            launched = {t.task_id for t in tasks}
            self.todo = [t for t in self.todo if t not in launched]
            driver.launch_tasks([offer.id], tasks, jmesos.Filters(refuse_seconds=0 if tasks else 0.2))


class Stub(_Base):
    def resource_offers(self, driver, offers):
        for _offer in offers:
            raise NotImplementedError("pack the tasks into this offer")


class OnePerOffer(_Base):
    def resource_offers(self, driver, offers):
        for offer in offers:
            tasks = [self.task(self.todo.pop(0))] if self.todo and self.need <= offer.resources else []
            driver.launch_tasks([offer.id], tasks)


class CpusOnly(_Base):
    def resource_offers(self, driver, offers):
        for offer in offers:
            k = min(int(offer.resources.cpus // self.need.cpus), len(self.todo))
            driver.launch_tasks([offer.id], [self.task(self.todo.pop(0)) for _ in range(k)])


class FixedTwo(_Base):
    def resource_offers(self, driver, offers):
        for offer in offers:
            k = min(2, len(self.todo), int(offer.resources // self.need))
            driver.launch_tasks([offer.id], [self.task(self.todo.pop(0)) for _ in range(k)])


class Hoarder(_Base):
    """Packs correctly but never answers the offers it has no use for."""

    def resource_offers(self, driver, offers):
        for offer in offers:
            free, tasks = offer.resources, []
            while self.todo and self.need <= free:
                tasks.append(self.task(self.todo.pop(0)))
                free = free - self.need
            if tasks:
                driver.launch_tasks([offer.id], tasks)


class SameIds(_Base):
    """Launches as many as fit, but reuses the first id for all of them."""

    def resource_offers(self, driver, offers):
        for offer in offers:
            k = min(int(offer.resources // self.need), len(self.todo))
            tasks = [self.task(self.todo[0]) for _ in range(k)]
            del self.todo[:k]
            driver.launch_tasks([offer.id], tasks)


class NeverStops(Packer):
    def status_update(self, driver, status):
        pass


class WrongAgent(_Base):
    """Names an agent that is not the offer's: the master refuses every task, and it relaunches them forever."""

    def resource_offers(self, driver, offers):
        for offer in offers:
            free, tasks = offer.resources, []
            while self.todo and self.need <= free:
                task = self.task(self.todo.pop(0))
                task.agent_id = "agent-9"
                tasks.append(task)
                free = free - self.need
            driver.launch_tasks([offer.id], tasks)

    def status_update(self, driver, status):
        super().status_update(driver, status)
        if status.is_terminal and status.state != jmesos.TASK_FINISHED:
            driver.revive_offers()  # as the exercise cell's status_update does


class Silent(_Base):
    """Leaves the placeholder's loop with nothing in it: no offer is ever answered."""

    def resource_offers(self, driver, offers):
        for _offer in offers:
            pass


class Typo(_Base):
    def resource_offers(self, driver, offers):
        for offer in offers:
            free, tasks = offer.resources, []
            while self.todo and self.need <= fre:  # noqa: F821 - the student's typo
                tasks.append(self.task(self.todo.pop(0)))
                free = free - self.need
            driver.launch_tasks([offer.id], tasks)


def test_check_packing_accepts_right_answers(capsys):
    for answer in (Packer, PackTasksPacker):
        result = check_packing(answer)
        assert result and result.passed
    out = capsys.readouterr().out.splitlines()
    assert [line[:1] for line in out] == ["✅", "✅"]
    assert "4 per ⟨4 cpus, 2 GiB⟩ offer" in out[0] and "3 per ⟨4 cpus, 1 GiB⟩ offer" in out[0]


@pytest.mark.parametrize(
    "answer, message, hint",
    [
        (Stub, "raised NotImplementedError", "replace the `raise NotImplementedError`"),
        (OnePerOffer, "room for 4 task(s)", "you launch one task per offer"),
        (CpusOnly, "the master refused", "compare *all* resources"),
        (FixedTwo, "but you launched 2", "not a fixed number"),
        (Hoarder, "was never answered", "answer every offer"),
        (SameIds, "the master refused", "its own task_id"),
        (NeverStops, "kept running", "driver.stop()"),
        (WrongAgent, "names agent_id='agent-9'", "offer.agent_id"),
        (Silent, "was never answered", "answer every offer"),
        (Typo, "NameError: name 'fre' is not defined (line ", "fix that error in your resource_offers"),
    ],
)
def test_check_packing_rejects_wrong_answers_with_a_hint(answer, message, hint, capsys):
    result = check_packing(answer)
    assert not result
    out = capsys.readouterr().out
    assert out.startswith("❌ not yet")
    assert message in result.message, result.message
    assert hint in result.hint, result.hint
    assert "hint:" in out


def test_check_packing_points_at_the_line_that_raised():
    result = check_packing(Typo, quiet=True)
    assert "self.need <= fre:" in result.message and "test_teaching.py" in result.message, result.message


def test_check_packing_stops_a_framework_that_relaunches_refused_tasks_forever():
    start = time.perf_counter()
    result = check_packing(WrongAgent, quiet=True)
    assert not result and "the master refused" in result.message
    assert time.perf_counter() - start < 20, "the check must end in seconds, not run for a virtual hour"


def test_check_packing_reports_a_broken_constructor():
    class Odd(Packer):
        def __init__(self, count):
            super().__init__(count)

    result = check_packing(Odd, quiet=True)
    assert not result and "keep the __init__" in result.hint


@pytest.mark.parametrize("bad", [Packer(), 3, "Packer", FairShare, None])
def test_check_packing_refuses_bad_input_in_one_line(bad):
    with pytest.raises(TypeError) as info:
        check_packing(bad)
    assert "\n" not in str(info.value) and "check_packing" in str(info.value)


# ---------------------------------------------------------------------------------------- policy answers
def _dominant(view, framework):
    held, total = view.allocation(framework), view.total
    return max(held.cpus / total.cpus, held.mem / total.mem)


class MyDRF(Policy):
    def order(self, agent, candidates, view):
        return sorted(candidates, key=lambda f: _dominant(view, f))


class KeyDRF(Policy):
    def framework_key(self, framework):
        return (framework.share, framework.count, framework.slot)


class PolicyStub(Policy):
    def order(self, agent, candidates, view):
        raise NotImplementedError("sort the candidates by dominant share")


class AsGiven(Policy):
    def order(self, agent, candidates, view):
        return list(candidates)


class CpuShare(Policy):
    def order(self, agent, candidates, view):
        return sorted(candidates, key=lambda f: view.allocation(f).cpus)


class MemShare(Policy):
    def order(self, agent, candidates, view):
        return sorted(candidates, key=lambda f: view.allocation(f).mem)


class Largest(Policy):
    def order(self, agent, candidates, view):
        return sorted(candidates, key=lambda f: -_dominant(view, f))


class Generator(Policy):
    def order(self, agent, candidates, view):
        return (f for f in sorted(candidates, key=lambda f: _dominant(view, f)))


class Nothing(Policy):
    pass


class SumOfShares(Policy):
    def order(self, agent, candidates, view):
        total = view.total
        return sorted(
            candidates, key=lambda f: view.allocation(f).cpus / total.cpus + view.allocation(f).mem / total.mem
        )


class FloorDivision(Policy):
    """Sorts, but `//` makes every share 0, so the order stays as given."""

    def order(self, agent, candidates, view):
        total = view.total
        return sorted(
            candidates, key=lambda f: max(view.allocation(f).cpus // total.cpus, view.allocation(f).mem // total.mem)
        )


class Misspelt(Policy):
    def order(self, agent, candidates, view):
        return sorted(candidates, key=lambda f: view.allocations(f).cpus)


class NoAgent(Policy):
    def order(self, candidates, view):
        return sorted(candidates, key=view.share)


def test_check_policy_accepts_drf_written_by_hand(capsys):
    for answer in (MyDRF, KeyDRF, MyDRF()):
        assert check_policy(answer)
    out = capsys.readouterr().out
    assert out.count("✅ correct") == 3 and "❌" not in out
    assert "A 3 tasks (share 0.67), B 2 tasks (share 0.67)" in out
    assert "sharing incentive ✓, envy-free ✓, Pareto-efficient ✓" in out


@pytest.mark.parametrize(
    "answer, hint",
    [
        (PolicyStub, "replace `raise NotImplementedError`"),
        (AsGiven, "in the order given"),
        (CpuShare, "cpu shares only"),
        (MemShare, "memory shares only"),
        (Largest, "smallest first"),
        (Generator, "must return a list"),
        (Nothing, "write an order("),
        (FairShare, "smallest dominant share"),
        (FloorDivision, "`//` rounds a share down to 0"),
        (Misspelt, "fix that error in your order()"),
        (NoAgent, "def order(self, agent, candidates, view)"),
    ],
)
def test_check_policy_rejects_wrong_answers_with_a_hint(answer, hint, capsys):
    result = check_policy(answer)
    assert not result
    assert capsys.readouterr().out.startswith("❌ not yet")
    assert hint in result.hint, result.hint


def test_check_policy_hints_do_not_misdiagnose_and_point_at_the_line():
    # adding the shares up is not "cpu shares only"
    assert "cpu shares only" not in check_policy(SumOfShares, quiet=True).hint
    misspelt = check_policy(Misspelt, quiet=True)
    assert "view.allocations(f).cpus" in misspelt.message and "falling back" not in misspelt.message


@pytest.mark.parametrize("bad", ["drf", 1, Packer, None])
def test_check_policy_refuses_bad_input_in_one_line(bad):
    with pytest.raises(TypeError) as info:
        check_policy(bad)
    assert "\n" not in str(info.value) and "check_policy" in str(info.value)


# ---------------------------------------------------------------------------------------- lesson 3 answers
def completion_from_zero(events):
    last = {}
    for e in events:
        if e.kind == "task_state" and e.data["state"] == "TASK_FINISHED":
            last[e.data["framework_id"]] = e.time
    return last


def completion_until_removed(events):
    arrived, gone = {}, {}
    for e in events:
        if e.kind == "framework_added":
            arrived[e.data["name"]] = e.time
        elif e.kind == "framework_removed":
            gone[e.data["framework_id"]] = e.time
    return {f: gone[f] - arrived[f] for f in gone}


def completion_stub(events):
    raise NotImplementedError("measure the completion times from the events")


def test_check_completion_times_accepts_the_reference_and_a_hand_written_answer():
    def mine(events):
        names, arrived, last = {}, {}, {}
        for e in events:
            if e.kind == "framework_added":
                names[e.data["framework_id"]] = e.data["name"]
                arrived[e.data["framework_id"]] = e.time
            elif e.kind == "task_state" and e.data["state"] == "TASK_FINISHED":
                last[e.data["framework_id"]] = e.time
        return {names[f]: last[f] - arrived[f] for f in last}

    assert check_completion_times(measure.completion_times, quiet=True)
    assert check_completion_times(mine, quiet=True)


def completion_last_state_of_any_kind(events):
    """The wrong answer a tester sent: the last task_state event, whatever its state, ends the job."""
    names, arrived, last = {}, {}, {}
    for e in events:
        if e.kind == "framework_added":
            names[e.data["framework_id"]] = e.data["name"]
            arrived[e.data["framework_id"]] = e.time
        elif e.kind == "task_state":
            last[e.data["framework_id"]] = e.time
    return {names[f]: last[f] - arrived[f] for f in last}


def completion_last_terminal_state(events):
    """Wrong in the same way: any terminal state (killed, lost, ...) counts as the end."""
    names, arrived, last = {}, {}, {}
    for e in events:
        if e.kind == "framework_added":
            names[e.data["framework_id"]] = e.data["name"]
            arrived[e.data["framework_id"]] = e.time
        elif e.kind == "task_state" and e.data["state"] in measure.TERMINAL:
            last[e.data["framework_id"]] = e.time
    return {names[f]: last[f] - arrived[f] for f in last}


def completion_max_of_finishes(events):
    """Right: the largest finish time per framework, comparing with the TaskState enum."""
    arrival = {e.data["framework_id"]: (e.data["name"], e.time) for e in events if e.kind == "framework_added"}
    finishes = {}
    for e in events:
        if e.kind == "task_state" and e.data["state"] == jmesos.TASK_FINISHED:
            finishes.setdefault(e.data["framework_id"], []).append(e.time)
    return {arrival[f][0]: max(times) - arrival[f][1] for f, times in finishes.items()}


def completion_per_task(events):
    """Right: follow each task to its final state; the job ends when its last task that finished did."""
    names, arrived, final = {}, {}, {}
    for e in events:
        if e.kind == "framework_added":
            names[e.data["framework_id"]] = e.data["name"]
            arrived[e.data["framework_id"]] = e.time
        elif e.kind == "task_state":
            final[(e.data["framework_id"], e.data["task_id"])] = (e.data["state"], e.time)
    ends = {}
    for (f, _), (state, t) in final.items():
        if state == "TASK_FINISHED":
            ends[f] = max(ends.get(f, t), t)
    return {names[f]: ends[f] - arrived[f] for f in ends}


def completion_backwards(events):
    """Right: walk the log from its end; the first finish met is the last one."""
    events = list(events)
    out = {}
    for added in (e for e in events if e.kind == "framework_added"):
        fid = added.data["framework_id"]
        for e in reversed(events):
            if e.kind == "task_state" and e.data["framework_id"] == fid and "FINISHED" in e.data["state"]:
                out[added.data["name"]] = e.time - added.time
                break
    return out


def test_check_completion_times_workload_has_tasks_that_do_not_finish():
    # the point of the check's workload: in both runs some tasks are killed or lost, and some framework's
    # last task_state is not a finish, so "the last task_state event" is not "the last finish"
    from jmesos.teaching.checks import _TIMING_AGENT_DIES, _TIMING_JOBS, _virtual_workload

    partitions = {"batch": ["agent-1", "agent-2"], "ml": ["agent-3"], "web": ["agent-4"]}
    for policy, options in (("drf", {}), ("static", {"partitions": partitions})):
        cluster = _virtual_workload(_TIMING_JOBS, policy, kill=_TIMING_AGENT_DIES, **options)
        states = {e.data["state"] for e in cluster.events.filter("task_state")}
        assert {"TASK_KILLED", "TASK_LOST"} <= states, (policy, states)
        assert completion_last_state_of_any_kind(cluster.events) != measure.completion_times(cluster.events)
        assert set(measure.completion_times(cluster.events)) == {"batch", "ml", "web"}


@pytest.mark.parametrize("answer", [completion_last_state_of_any_kind, completion_last_terminal_state])
def test_check_completion_times_rejects_the_last_event_of_any_kind_with_a_specific_hint(answer):
    result = check_completion_times(answer, quiet=True)
    assert not result
    assert "ml" in result.message
    assert "TASK_KILLED" in result.hint and "e.data['state'] is 'TASK_FINISHED'" in result.hint, result.hint
    assert "framework_removed" not in result.hint


@pytest.mark.parametrize("answer", [completion_max_of_finishes, completion_per_task, completion_backwards])
def test_check_completion_times_accepts_right_answers_written_differently(answer):
    result = check_completion_times(answer, quiet=True)
    assert result, result


def test_check_completion_times_tells_apart_the_framework_removed_event():
    # ml's leftover task is killed at the instant ml is removed: measuring to framework_removed is its own mistake
    result = check_completion_times(completion_until_removed, quiet=True)
    assert not result and "framework_removed" in result.hint, result.hint


@pytest.mark.parametrize(
    "answer, hint",
    [
        (completion_from_zero, "framework_added"),
        (completion_until_removed, "TASK_FINISHED"),
        (completion_stub, "replace `raise NotImplementedError`"),
        (lambda events: [], "return a dict"),
        (lambda events: {"x": 1.0}, "key the dict by the name"),
        (lambda events: {}, "your dict is empty"),
        (lambda events: {k: round(v, 2) for k, v in measure.completion_times(events).items()}, "did you round?"),
    ],
)
def test_check_completion_times_rejects_wrong_answers(answer, hint):
    result = check_completion_times(answer, quiet=True)
    assert not result and hint in result.hint, result


@pytest.mark.parametrize("bad", [None, 3, dict, lambda a, b: {}])
def test_check_completion_times_refuses_bad_input(bad):
    with pytest.raises(TypeError) as info:
        check_completion_times(bad)
    assert "\n" not in str(info.value)


def test_check_prediction():
    speedups = {"batch": 1.4, "ml": 2.2, "web": 0.9}
    assert check_prediction("ml", speedups, quiet=True)
    wrong = check_prediction("web", speedups, quiet=True)
    assert not wrong and "ml gained most" in wrong.message
    assert not check_prediction(None, speedups, quiet=True)
    for spelled in ("ML", " ml ", '"ml"'):  # a right answer written differently
        assert check_prediction(spelled, speedups, quiet=True), spelled
    assert not check_prediction("mll", speedups, quiet=True)
    with pytest.raises(TypeError):
        check_prediction("ml", {})


def test_expect_says_both_values(capsys):
    assert expect("tasks", {"A": 3}, {"A": 3})
    assert not expect("tasks", {"A": 4}, {"A": 3})
    out = capsys.readouterr().out.splitlines()
    assert out == ["✅ tasks: {'A': 3}", "❌ tasks: got {'A': 4}, expected {'A': 3}"]


# ---------------------------------------------------------------------------------------- the lessons' stubs
def _exercise_cells(name: str) -> dict[str, str]:
    nb = nbformat.read(LESSONS / name, as_version=4)
    return {
        cell.metadata["jmesos"]["exercise"]: cell.source
        for cell in nb.cells
        if cell.cell_type == "code" and "exercise" in cell.metadata.get("tags", [])
    }


def _run_cell(source: str) -> dict:
    namespace = {"jmesos": jmesos, "time": time}
    exec(compile(source, "<exercise cell>", "exec"), namespace)
    return namespace


def test_the_lessons_stubs_fail_their_checks_and_their_solutions_pass():
    nb1 = nbformat.read(LESSONS / "01-resource-offers.ipynb", as_version=4)
    solutions = {
        cell.metadata["jmesos"]["exercise"]: cell.metadata["jmesos"]["solution"]
        for name in ("01-resource-offers.ipynb", "02-drf.ipynb", "03-sharing-vs-partitioning.ipynb")
        for cell in nbformat.read(LESSONS / name, as_version=4).cells
        if "exercise" in cell.metadata.get("tags", [])
    }
    assert nb1.cells  # the lessons exist
    stubs = {
        **_exercise_cells("01-resource-offers.ipynb"),
        **_exercise_cells("02-drf.ipynb"),
        **_exercise_cells("03-sharing-vs-partitioning.ipynb"),
    }
    assert set(stubs) == set(solutions) == {"packing", "policy", "prediction", "completion"}
    for source, expected in ((stubs, False), (solutions, True)):
        assert bool(check_packing(_run_cell(source["packing"])["Packer"], quiet=True)) is expected
        assert bool(check_policy(_run_cell(source["policy"])["MyDRF"], quiet=True)) is expected
        fn = _run_cell(source["completion"])["completion_times"]
        assert bool(check_completion_times(fn, quiet=True)) is expected
        prediction = _run_cell(source["prediction"])["my_prediction"]
        assert bool(check_prediction(prediction, {"batch": 1.5, "ml": 2.3, "web": 1.0}, quiet=True)) is expected


# ---------------------------------------------------------------------------------------- the virtual cluster
def _paper_example(policy="drf"):
    cluster = VirtualCluster([{"cpus": 9, "mem": "18GiB"}], policy=policy, allocation_interval=0.2, task_seconds=1000)
    cluster.add_framework(OneTaskAtATime("cpus:1;mem:4GiB"), name="A")
    cluster.add_framework(OneTaskAtATime("cpus:3;mem:1GiB"), name="B")
    return cluster.run(until=10)


def test_virtual_cluster_reproduces_the_drf_example_the_same_way_every_time():
    first, second = _paper_example(), _paper_example()
    assert measure.tasks_launched(first) == {"A": 3, "B": 2}
    assert {k: round(v, 3) for k, v in measure.dominant_shares(first).items()} == {"A": 0.667, "B": 0.667}
    assert [(e.time, e.kind, e.data.get("offer_id")) for e in first.events] == [
        (e.time, e.kind, e.data.get("offer_id")) for e in second.events
    ]


def test_a_virtual_run_leaves_the_garbage_collector_as_it_found_it():
    """A run defers full collections; the process's own settings must be back afterwards, also after an error."""
    import gc

    before = gc.get_threshold()
    _paper_example()
    assert gc.get_threshold() == before

    class Broken(jmesos.Scheduler):
        def resource_offers(self, driver, offers):
            raise KeyboardInterrupt  # not an Exception: it leaves the run itself

    cluster = VirtualCluster(1, quiet=True)
    cluster.add_framework(Broken())
    with pytest.raises(KeyboardInterrupt):
        cluster.run(until=5)
    assert gc.get_threshold() == before


def test_virtual_cluster_reports_lost_tasks_when_an_agent_dies():
    class Keeper(jmesos.Scheduler):
        def __init__(self):
            self.lost, self.agents_lost, self.launched = [], [], 0

        def resource_offers(self, driver, offers):
            for offer in offers:
                tasks = []
                if self.launched < 2:
                    self.launched += 1
                    tasks = [jmesos.TaskInfo(name=f"t{self.launched}", resources="cpus:1;mem:64", command="sleep 9")]
                driver.launch_tasks([offer.id], tasks, jmesos.Filters(refuse_seconds=0 if tasks else 5))

        def status_update(self, driver, status):
            if status.state == jmesos.TASK_LOST:
                self.lost.append(status.task_id)

        def agent_lost(self, driver, agent_id):
            self.agents_lost.append(agent_id)

    cluster = VirtualCluster(1, 2, "1GiB", task_seconds=100)
    keeper = Keeper()
    cluster.add_framework(keeper, name="keeper")
    cluster.run(until=1)
    cluster.kill_agent("agent-1")
    cluster.run(until=10)
    assert sorted(keeper.lost) == ["t1", "t2"] and keeper.agents_lost == ["agent-1"]
    removed = cluster.events.filter("agent_removed")
    assert removed and "missed" in removed[0].data["reason"]
    assert cluster.agents == []


def test_virtual_cluster_refuses_bad_arguments():
    with pytest.raises(jmesos.InvalidArgument):
        VirtualCluster(0)
    with pytest.raises(jmesos.InvalidArgument):
        VirtualCluster(1, task_seconds=-1)
    with pytest.raises(jmesos.InvalidArgument):
        VirtualCluster(1, policy="no-such-policy")
    cluster = VirtualCluster(1)
    with pytest.raises(jmesos.InvalidArgument):
        cluster.kill_agent("agent-9")
    with pytest.raises(jmesos.InvalidArgument):
        cluster.add_framework(object())


def test_fairness_flags_starvation_under_priority():
    cluster = VirtualCluster(
        [{"cpus": 18, "mem": "36GiB"}],
        policy="priority",
        policy_options={"priorities": {"m": 1}},
        allocation_interval=0.2,
        task_seconds=1000,
    )
    shapes = {"M": jmesos.Resources(cpus=1, mem="6GiB"), "S": jmesos.Resources(cpus=1, mem="2GiB")}
    for name, shape in shapes.items():
        cluster.add_framework(OneTaskAtATime(shape), name=name, role=name.lower())
    report = fairness(cluster.run(until=10), shapes)
    assert report.tasks == {"M": 6, "S": 0}
    assert report.sharing_incentive == {"M": True, "S": False}
    assert report.envy["S"] == ["M"] and not report.envy_free
    assert report.pareto_efficient


# ---------------------------------------------------------------------------------------- measurements
def test_measurements_read_the_log():
    log = one_task_log()
    assert measure.tasks_launched(log) == {"one": 1}
    assert measure.utilisation(log) == ([0.0, 1.1, 3.0], [0.0, 0.5, 0.0])
    # busy at half the cpus from 1.1 s to 3.0 s, out of the 1.0 s .. 3.0 s window
    assert measure.mean_utilisation(log) == pytest.approx(0.5 * 1.9 / 2.0)
    assert measure.completion_times(log) == {"one": 2.0}
    assert measure.dominant_shares(log, at=1.5) == {"one": 0.5}
    assert measure.dominant_shares(log) == {}
    rows = measure.offer_answers(log)
    assert [(r["offer"], r["outcome"], r["tasks"]) for r in rows] == [("o-1", "accepted", 1), ("o-2", "declined", 0)]
    with pytest.raises(TypeError):
        measure.tasks_launched(42)
