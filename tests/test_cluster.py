"""A real cluster: master and agents in subprocesses, frameworks in this process, over real sockets."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

import jmesos
from jmesos import TaskInfo

from .processes import cmdlines, listening_port, running

pytestmark = pytest.mark.usefixtures("no_leaks")


class Squares(jmesos.Scheduler):
    """The README's first framework."""

    def __init__(self, n):
        self.todo, self.results = list(range(n)), {}
        self.n = n

    def resource_offers(self, driver, offers):
        need = jmesos.Resources(cpus=0.5, mem="64MiB")
        for offer in offers:
            free, tasks = offer.resources, []
            while self.todo and need <= free:
                i = self.todo.pop()
                tasks.append(
                    jmesos.TaskInfo(
                        name=f"sq-{i}", agent_id=offer.agent_id, resources=need, fn=lambda x: x * x, args=(i,)
                    )
                )
                free -= need
            driver.launch_tasks([offer.id], tasks)

    def status_update(self, driver, status):
        if status.state == jmesos.TASK_FINISHED:
            self.results[status.task_id] = status.data
        if len(self.results) == self.n:
            driver.stop()


class Collect(jmesos.Scheduler):
    """Launch the given tasks on the first offers that fit them, record every status."""

    def __init__(self, tasks, stop_when=None):
        self.pending = list(tasks)
        self.statuses = []
        self.final = {}
        self.lost_agents = []
        self.stop_when = stop_when or (lambda s: len(s.final) == len(tasks))
        self.total = len(tasks)

    def resource_offers(self, driver, offers):
        for offer in offers:
            fit = jmesos.pack_tasks(offer, self.pending)
            self.pending = [t for t in self.pending if t not in fit]
            driver.launch_tasks([offer.id], fit, jmesos.Filters(refuse_seconds=0.2))

    def status_update(self, driver, status):
        self.statuses.append(status)
        if status.is_terminal:
            self.final[status.task_id] = status
        if self.stop_when(self):
            driver.stop()

    def agent_lost(self, driver, agent_id):
        self.lost_agents.append(agent_id)
        if self.stop_when(self):
            driver.stop()


@pytest.fixture
def cluster():
    with jmesos.LocalCluster(agents=2, cpus=2, mem="1GiB", allocation_interval=0.2) as c:
        yield c


def test_readme_example_runs_and_returns_squares():
    with jmesos.LocalCluster(agents=4, cpus=2, mem="1GiB") as cluster:
        squares = cluster.run(Squares(100), name="squares", timeout=60)
        assert sorted(squares.results.values()) == sorted(i * i for i in range(100))
        launched = cluster.events.filter("task_launched")
        assert len(launched) == 100
        assert len({e.data["agent_id"] for e in launched}) == 4  # spread over every agent
        states = [e.data["state"] for e in cluster.events.filter("task_state") if e.data["task_id"] == "sq-7"]
        assert states[0] == "TASK_STAGING" and states[-1] == "TASK_FINISHED"
        assert "TASK_RUNNING" in states


def test_shell_tasks_run_in_a_sandbox_with_captured_logs(cluster):
    tasks = [
        TaskInfo(name="hello", resources="cpus:0.5;mem:32", command="echo hello from $PWD; echo oops >&2"),
        TaskInfo(name="fails", resources="cpus:0.5;mem:32", command="exit 3"),
    ]
    fw = cluster.run(Collect(tasks), name="shell", timeout=30)
    assert fw.final["hello"].state == jmesos.TASK_FINISHED
    assert fw.final["fails"].state == jmesos.TASK_FAILED and "3" in fw.final["fails"].message
    out = cluster.logs("hello")
    assert out.startswith("hello from ") and "hello" in out.split("/")[-1]
    assert cluster.logs("hello", "stderr").strip() == "oops"


def test_what_a_task_left_running_is_reaped_when_it_ends_not_left_a_zombie(cluster):
    """The shell exits at once; its ``sleep`` is adopted by the cluster's subreaper, which must reap it."""
    task = TaskInfo(name="bg", resources="cpus:0.5;mem:32", command="sleep 0.3 & echo $!")
    assert cluster.run(Collect([task]), name="bg", timeout=30).final["bg"].state == jmesos.TASK_FINISHED
    pid = int(cluster.logs("bg"))
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not psutil.pid_exists(pid), f"{pid} is still there: {psutil.Process(pid).status()}"


def test_python_exceptions_come_back_as_task_failed_with_the_traceback(cluster):
    def boom(x):
        raise ValueError(f"bad value {x}")

    fw = cluster.run(Collect([TaskInfo(name="boom", resources="cpus:1;mem:32", fn=boom, args=(7,))]), timeout=30)
    status = fw.final["boom"]
    assert status.state == jmesos.TASK_FAILED, status.message
    assert "ValueError: bad value 7" in status.message and "Traceback" in status.message


def test_sys_exit_in_a_python_task_ends_it_as_a_command_exit_would(cluster):
    tasks = [
        TaskInfo(name=f"exit-{code}", resources="cpus:0.5;mem:32", fn=sys.exit, args=(code,)) for code in (0, None, 3)
    ]
    fw = cluster.run(Collect(tasks), timeout=30)
    assert fw.final["exit-0"].state == fw.final["exit-None"].state == jmesos.TASK_FINISHED
    assert fw.final["exit-3"].state == jmesos.TASK_FAILED and "SystemExit: 3" in fw.final["exit-3"].message


def test_a_worker_that_exits_under_an_address_space_limit_mentions_it():
    """Without cgroups, native code that cannot allocate often just exits: the message says what to try."""
    with jmesos.LocalCluster(agents=1, cpus=1, mem="512MiB", isolation="rlimit") as cluster:
        task = TaskInfo(name="gone", resources="cpus:1;mem:64", fn=os._exit, args=(1,))
        status = cluster.run(Collect([task]), timeout=30).final["gone"]
    assert status.state == jmesos.TASK_FAILED and status.reason == jmesos.REASON_EXECUTOR_TERMINATED
    assert "exited with status 1" in status.message
    assert "address-space limit (64 MiB for the task" in status.message and "give the task more mem" in status.message


def test_prints_of_python_tasks_are_in_their_logs(cluster):
    fw = cluster.run(
        Collect([TaskInfo(name="talk", resources="cpus:1;mem:32", fn=lambda: print("hi there") or 5)]), timeout=30
    )
    assert fw.final["talk"].data == 5
    assert cluster.logs("talk").strip() == "hi there"


def test_memory_limit_ends_the_task_with_the_container_reason(cluster):
    def hog():
        blocks = []
        for _ in range(400):
            blocks.append(bytearray(1 << 20))
        return len(blocks)

    fw = cluster.run(Collect([TaskInfo(name="hog", resources="cpus:1;mem:64", fn=hog)]), timeout=60)
    status = fw.final["hog"]
    assert status.state == jmesos.TASK_FAILED
    assert status.reason == jmesos.REASON_CONTAINER_LIMITATION_MEMORY


def test_kill_task_ends_it_as_killed(cluster):
    tasks = [TaskInfo(name="sleeper", resources="cpus:1;mem:32", command="sleep 60")]
    handle = cluster.run_async(Collect(tasks), name="killme")
    cluster.wait_for(lambda e: e.kind == "task_state" and e.data["state"] == "TASK_RUNNING", timeout=20)
    cluster.kill_task("sleeper")
    handle.wait(20)
    assert handle.scheduler.final["sleeper"].state == jmesos.TASK_KILLED


def _stubborn_child(pid_file):
    """A task that starts a child which ignores SIGTERM, then waits."""
    import subprocess
    import time

    child = subprocess.Popen(["bash", "-c", "trap '' TERM; sleep 500 & wait"])
    with open(pid_file, "w") as f:
        f.write(str(child.pid))
    time.sleep(1000)


@pytest.mark.parametrize("isolation", ["rlimit", "none"])
def test_kill_task_without_cgroups_ends_children_that_ignore_sigterm(isolation, tmp_path):
    """Without cgroups the task's worker dies at SIGTERM; its stubborn child must still get the SIGKILL."""
    pid_file = tmp_path / "child.pid"
    task = TaskInfo(name="stubborn", resources="cpus:1;mem:128", fn=_stubborn_child, args=(str(pid_file),))
    with jmesos.LocalCluster(agents=1, cpus=1, mem="512MiB", isolation=isolation) as cluster:
        handle = cluster.run_async(Collect([task]), name="stubborn")
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the task never started its child"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        cluster.kill_task("stubborn")
        handle.wait(20)
        assert handle.scheduler.final["stubborn"].state == jmesos.TASK_KILLED
        assert not _wait_gone([child], timeout=6), "the child that ignored SIGTERM outlived the kill"


def test_killed_agent_is_detected_its_tasks_lost_and_the_framework_told(cluster):
    tasks = [TaskInfo(name=f"s{i}", resources="cpus:1;mem:32", command="sleep 60") for i in range(4)]
    handle = cluster.run_async(
        Collect(tasks, stop_when=lambda s: bool(s.lost_agents) and len(s.final) >= 2), name="victim"
    )
    cluster.wait_for(lambda e: e.kind == "task_state" and e.data["state"] == "TASK_RUNNING", timeout=20)
    victim = cluster.agents[0]
    t0 = time.monotonic()
    cluster.kill_agent(victim)
    handle.wait(30)
    detected = time.monotonic() - t0
    fw = handle.scheduler
    assert fw.lost_agents == [victim]
    lost = [s for s in fw.final.values() if s.state == jmesos.TASK_LOST]
    assert len(lost) == 2 and all(s.reason == jmesos.REASON_AGENT_REMOVED for s in lost)
    assert detected < 10
    assert cluster.wait_for(lambda e: e.kind == "agent_removed").data["agent_id"] == victim


def test_a_frozen_agent_is_removed_and_the_cluster_follows_it_back_under_a_new_id():
    """SIGSTOP keeps its connection open: only missed health checks tell the master."""
    with jmesos.LocalCluster(agents=1, cpus=1, mem="256MiB", ping_interval=0.3, max_missed_pings=2) as cluster:
        handle = cluster.run_async(Collect([TaskInfo(name="s", resources="cpus:1;mem:32", command="sleep 60")]))
        cluster.wait_for(lambda e: e.kind == "task_state" and e.data["state"] == "TASK_RUNNING", timeout=20)
        (first,) = cluster.agents
        pid = cluster._agent_pids[first]
        (sleep,) = [p for p in psutil.Process(pid).children(recursive=True) if p.name() == "sleep"]
        os.kill(pid, signal.SIGSTOP)
        try:
            cluster.wait_for(lambda e: e.kind == "agent_removed", timeout=20)
        finally:
            os.kill(pid, signal.SIGCONT)
        back = cluster.wait_for(lambda e: e.kind == "agent_added" and e.data["previous_id"] == first, timeout=20)

        assert cluster.agents == [back.data["agent_id"]] != [first]
        sleep.wait(10)  # the agent killed the task its master had written off (psutil.TimeoutExpired if not)
        (status,) = handle.wait(10).final.values()  # it stopped when its task was lost
        assert (status.state, status.reason) == (jmesos.TASK_LOST, jmesos.REASON_AGENT_REMOVED)


def test_two_frameworks_share_the_cluster_at_once(cluster):
    a = cluster.run_async(Squares(20), name="a")
    b = cluster.run_async(Squares(20), name="b")
    assert len(a.wait(60).results) == 20 and len(b.wait(60).results) == 20
    owners = {e.data["framework_id"] for e in cluster.events.filter("task_launched")}
    assert owners == {"a", "b"}


def test_bad_input_is_refused_with_the_field_and_the_fix():
    with pytest.raises(jmesos.InvalidArgument, match=r"mem='2 Gigs' is not a size; use '2GiB'"):
        jmesos.LocalCluster(agents=1, mem="2 Gigs")
    with pytest.raises(jmesos.InvalidArgument, match="agents=-1"):
        jmesos.LocalCluster(agents=-1)
    with pytest.raises(jmesos.InvalidArgument, match="resources is missing"):
        TaskInfo(name="x", fn=print)
    with pytest.raises(jmesos.InvalidArgument, match="unknown resource 'cpu'"):
        TaskInfo(name="x", fn=print, resources={"cpu": 1})
    with pytest.raises(jmesos.InvalidArgument, match="cpus=-1"):
        TaskInfo(name="x", fn=print, resources={"cpus": -1})
    with pytest.raises(ValueError, match="not a policy"):
        jmesos.LocalCluster(agents=1, policy="drff")
    with pytest.raises(jmesos.InvalidArgument, match="port=99999 is not a TCP port; use a number from 1 to 65535"):
        jmesos.LocalCluster(agents=1, port=99999)
    with pytest.raises(jmesos.ResourceError, match="gpu=1 is not a resource; use one of cpus, mem, disk, gpus"):
        jmesos.Resources(gpu=1)
    with pytest.raises(jmesos.InvalidArgument, match=r"^cpus=0 leaves an agent without cpus .* e\.g\. cpus=1$"):
        jmesos.LocalCluster(agents=2, cpus=0)
    with pytest.raises(jmesos.InvalidArgument, match=r"^agents\[1\]: mem=0 leaves an agent without mem .* mem='1GiB'$"):
        jmesos.LocalCluster(agents=[{"cpus": 1}, {"cpus": 1, "mem": 0}])
    # a misspelt setting must not fall back to the default unnoticed
    with pytest.raises(jmesos.InvalidArgument, match=r"agents\[0\] has 'memory', .* \(did you mean 'mem'\?\)"):
        jmesos.LocalCluster(agents=[{"cpus": 1, "memory": "4GiB"}])
    with pytest.raises(jmesos.InvalidArgument, match=r"has 'rack'.* goes in 'attributes'"):
        jmesos.LocalCluster(agents=[{"cpus": 1, "rack": "a"}])
    with pytest.raises(jmesos.InvalidArgument, match="attributes is a list of 1 for 3 agents; give one dict per agent"):
        jmesos.LocalCluster(agents=3, attributes=[{"rack": "a"}])
    # refused before anything starts: an infinite wait used to overflow after the processes were up
    with pytest.raises(jmesos.InvalidArgument, match="start_timeout=inf must be a positive, finite number"):
        jmesos.LocalCluster(agents=1, start_timeout=float("inf"))
    with pytest.raises(jmesos.InvalidArgument, match="events_maxlen=0 must be a number of events >= 1"):
        jmesos.LocalCluster(agents=1, events_maxlen=0)
    with pytest.raises(jmesos.InvalidArgument, match="policy_options=5 must be a dict"):
        jmesos.LocalCluster(agents=1, policy_options=5)
    with pytest.raises(jmesos.InvalidArgument, match="work_dir='/dev/null' cannot be used as the cluster's directory"):
        jmesos.LocalCluster(agents=1, work_dir="/dev/null")
    with pytest.raises(jmesos.ResourceError, match="ports=\\['abc'\\] is not a port list"):
        jmesos.Resources(ports=["abc"])
    with pytest.raises(jmesos.ResourceError, match="ports=\\[1.5\\] is not a port list"):
        jmesos.Resources(ports=[1.5])
    with pytest.raises(jmesos.ResourceError, match="range 31010-31000, which is empty; write it low-high"):
        jmesos.Resources(ports="31010-31000")
    with pytest.raises(jmesos.ResourceError, match="scale resources by a number of zero or more, not nan"):
        jmesos.Resources(cpus=1) * float("nan")
    with pytest.raises(jmesos.InvalidArgument, match="name=5 must be a string"):
        TaskInfo(name=5, fn=print, resources="cpus:1")
    with pytest.raises(jmesos.InvalidArgument, match="locality=5 must list the agent ids"):
        TaskInfo(name="x", fn=print, resources="cpus:1", locality=5)
    with pytest.raises(jmesos.InvalidArgument, match="labels=5 must be a dict"):
        TaskInfo(name="x", fn=print, resources="cpus:1", labels=5)
    with pytest.raises(jmesos.InvalidArgument, match="implicit_acknowledgements='no' must be True"):
        jmesos.FrameworkInfo(name="x", implicit_acknowledgements="no")
    with pytest.raises(jmesos.InvalidArgument, match=r"agents\[0\]: hostname=5 must be a host name string"):
        jmesos.LocalCluster(agents=[{"cpus": 1, "hostname": 5}])


def test_bad_input_to_a_running_cluster_is_refused_and_it_keeps_going(cluster):
    with pytest.raises(jmesos.InvalidArgument, match="scheduler=Squares is a class; pass an instance of it"):
        cluster.run(Squares)
    with pytest.raises(jmesos.InvalidArgument, match="timeout=-1 must be a positive, finite number of seconds"):
        cluster.run(Squares(1), timeout=-1)
    with pytest.raises(jmesos.InvalidArgument, match="timeout=0 must be a positive, finite number of seconds"):
        cluster.add_agent(timeout=0)
    with pytest.raises(jmesos.InvalidArgument, match=r"^cpus=0 leaves an agent without cpus"):
        cluster.add_agent(cpus=0)
    with pytest.raises(jmesos.InvalidArgument, match="predicate=3 must be a function of an event"):
        cluster.wait_for(3)
    with pytest.raises(TypeError, match="kind=3 must be an event kind"):
        cluster.events.filter(3)
    with pytest.raises(FileNotFoundError, match="no directory '/nonexistent'; create it first"):
        cluster.events.save("/nonexistent/events.jsonl")
    with pytest.raises(jmesos.InvalidArgument, match="timeout=inf must be a positive, finite number"):
        cluster.run(Squares(1), timeout=float("inf"))
    handle = cluster.run_async(Squares(2), name="waited")
    with pytest.raises(jmesos.InvalidArgument, match="timeout=-1 must be a positive, finite number"):
        handle.wait(timeout=-1)
    handle.wait(timeout=30)
    assert len(cluster.run(Squares(2), timeout=30).results) == 2
    with pytest.raises(jmesos.InvalidArgument, match=r"^attributes=\['rack'\] must be a dict such as"):
        cluster.add_agent(attributes=["rack"])
    victim = cluster.add_agent()
    assert victim not in cluster.exited_agents
    cluster.kill_agent(victim)
    cluster.wait_for(lambda e: e.kind == "agent_removed" and e.data.get("agent_id") == victim, timeout=15)
    assert victim in cluster.exited_agents and victim not in cluster.agents
    with pytest.raises(jmesos.InvalidArgument, match=f"agent_id='{victim}' has already exited, so there is nothing"):
        cluster.kill_agent(victim)


def test_misused_offers_end_tasks_with_reasons_and_the_cluster_keeps_going(cluster):
    class Misuse(jmesos.Scheduler):
        def __init__(self):
            self.statuses, self.used = [], None

        def resource_offers(self, driver, offers):
            offer = offers[0]
            if self.used is None:
                self.used = offer.id
                driver.launch_tasks([offer.id], [TaskInfo(name="ok", resources="cpus:0.1;mem:8", command="true")])
                driver.launch_tasks([offer.id], [TaskInfo(name="again", resources="cpus:0.1;mem:8", command="true")])
                driver.launch_tasks(["o-nope"], [TaskInfo(name="ghost", resources="cpus:0.1;mem:8", command="true")])
            else:
                big = TaskInfo(name="big", resources="cpus:64;mem:8", command="true")
                dup = TaskInfo(name="ok", resources="cpus:0.1;mem:8", command="true")
                driver.launch_tasks([offer.id], [big, dup])
            for other in offers[1:]:
                driver.decline_offer(other.id)

        def status_update(self, driver, status):
            self.statuses.append(status)
            if {s.task_id for s in self.statuses if s.is_terminal} >= {"ok", "again", "ghost", "big"}:
                driver.stop()

    fw = cluster.run(Misuse(), timeout=30)
    final = {s.task_id: s for s in fw.statuses if s.is_terminal}
    assert final["again"].state == jmesos.TASK_LOST and "already used" in final["again"].message
    assert final["ghost"].state == jmesos.TASK_LOST and final["ghost"].reason == jmesos.REASON_INVALID_OFFERS
    assert final["big"].state == jmesos.TASK_ERROR and "cpus:64" in final["big"].message
    # and the cluster still works
    assert len(cluster.run(Squares(4), name="after", timeout=30).results) == 4


def test_a_task_whose_launch_left_the_event_log_still_has_its_logs():
    """The log keeps the latest events_maxlen; a sandbox stays on disk longer."""
    with jmesos.LocalCluster(agents=1, cpus=1, mem="256MiB", events_maxlen=60) as cluster:
        first = TaskInfo(name="first", resources="cpus:0.1;mem:16", command="echo first task output")
        cluster.run(Collect([first]), name="early", timeout=30)
        later = [TaskInfo(name=f"n{i}", resources="cpus:0.1;mem:16", command="true") for i in range(8)]
        cluster.run(Collect(later), name="later", timeout=30)
        assert cluster.events.dropped
        assert not [e for e in cluster.events if e.data.get("task_id") == "first"]  # its launch has gone
        assert cluster.logs("first") == "first task output\n"
        with pytest.raises(jmesos.InvalidArgument, match=r"is not in the event log, which keeps the latest 60 events"):
            cluster.logs("never-was")
        with pytest.raises(jmesos.InvalidArgument, match="pass framework_id=..."):
            cluster.kill_task("first")
    assert cluster.agents == []  # stopped: none alive
    with pytest.raises(RuntimeError, match="this cluster is stopped, so none will come"):
        cluster.wait_for(lambda e: e.kind == "nothing", timeout=30)


def test_event_log_saves_and_loads(cluster, tmp_path):
    cluster.run(Squares(4), name="sq", timeout=30)
    path = cluster.events.save(tmp_path / "run.jsonl")
    loaded = jmesos.EventLog.load(path)
    assert len(loaded) > 50
    # the live log keeps growing (health checks): what was saved is its prefix
    assert [e.kind for e in loaded] == [e.kind for e in cluster.events][: len(loaded)]
    assert loaded.filter("task_launched")[0].data == cluster.events.filter("task_launched")[0].data


def test_wait_for_returns_the_newest_past_match_or_the_first_new_one(cluster):
    log = cluster.events
    log.extend([jmesos.Event(1e6, "probe", data={"n": 1}), jmesos.Event(1e6 + 1, "probe", data={"n": 2})])
    assert cluster.wait_for(lambda e: e.kind == "probe").data["n"] == 2
    later = threading.Timer(0.2, lambda: log.append(jmesos.Event(1e6 + 2, "probe-later", data={"n": 3})))
    later.start()
    assert cluster.wait_for(lambda e: e.kind == "probe-later", timeout=5).data["n"] == 3
    with pytest.raises(TimeoutError, match="no matching event within 0.2s"):
        cluster.wait_for(lambda e: e.kind == "never", timeout=0.2)
    with pytest.raises(TimeoutError):  # the past match is older than since
        cluster.wait_for(lambda e: e.kind == "probe", timeout=0.2, since=1e6 + 2)


def test_add_agent_joins_and_gets_offers(cluster):
    agent_id = cluster.add_agent(cpus=1, mem="256MiB", attributes={"rack": "r9"})
    added = cluster.wait_for(lambda e: e.kind == "agent_added" and e.data["agent_id"] == agent_id)
    assert added.data["attributes"] == {"rack": "r9"} and added.data["resources"] == {
        "cpus": 1,
        "mem": 256,
        "disk": 10240,
    }


def test_commands_that_reach_the_supervisor_together_are_all_carried_out(cluster):
    """A kill and an add written back to back arrive in one read: both must happen.

    The supervisor is paused meanwhile, so the two commands wait in its pipe together (under
    load they did so by chance, and the new agent never started).
    """
    supervisor = cluster._proc.pid
    victim = cluster.agents[0]
    os.kill(supervisor, signal.SIGSTOP)
    resume = threading.Timer(0.5, os.kill, (supervisor, signal.SIGCONT))
    try:
        cluster.kill_agent(victim)
        resume.start()
        added = cluster.add_agent(cpus=1, mem="256MiB", timeout=5)
    finally:
        resume.cancel()
        os.kill(supervisor, signal.SIGCONT)
    deadline = time.monotonic() + 5
    while victim in cluster.agents and time.monotonic() < deadline:
        time.sleep(0.05)
    assert victim not in cluster.agents and added in cluster.agents


def test_offers_a_raising_resource_offers_left_unanswered_go_back_to_the_cluster(cluster, capsys):
    """A bug in one framework's resource_offers must not hold agents away from the others."""

    class Broken(jmesos.Scheduler):
        def resource_offers(self, driver, offers):
            raise KeyError("typo")

    broken = cluster.run_async(Broken(), name="broken")  # registered first: it is offered both agents
    cluster.wait_for(lambda e: e.kind == "offer_declined" and e.source == "broken", timeout=10)
    squares = cluster.run(Squares(4), name="squares", timeout=20)
    broken.stop()
    assert len(squares.results) == 4
    assert broken.driver.errors[0] == "Broken.resource_offers raised KeyError: 'typo'"
    err = capsys.readouterr().err
    assert "the offers it did not answer were declined" in err
    assert 'raise KeyError("typo")' in err and "_callback" not in err  # the scheduler's frames, not ours


def test_a_task_can_use_jmesos_and_send_code_back_and_driver_misuse_is_refused(cluster):
    """A function from a notebook that uses ``jmesos`` ships (the module goes by name, not by value)."""

    class Talk(jmesos.Scheduler):
        def __init__(self):
            self.refused, self.got, self.launched, self.reconciled = [], None, False, []

        def resource_offers(self, driver, offers):
            for offer in offers:
                if self.launched:
                    driver.decline_offer(offer.id)
                    continue
                self.launched = True
                for bad in (
                    functools.partial(driver.send_framework_message, offer.agent_id, (i for i in range(3))),
                    functools.partial(driver.stop, failover="maybe"),
                    functools.partial(driver.reconcile_tasks, None),
                ):
                    try:
                        bad()
                    except jmesos.InvalidArgument as exc:
                        self.refused.append(str(exc))
                work = lambda: jmesos.executor.send_framework_message(lambda x: x + 1)  # noqa: E731
                task = TaskInfo(name="talk", agent_id=offer.agent_id, resources="cpus:1;mem:64", fn=work)
                driver.launch_tasks(offer.id, [task])

        def framework_message(self, driver, agent_id, data):
            self.got = data(41)
            driver.reconcile_tasks("talk")  # one id, not the letters of it

        def status_update(self, driver, status):
            if status.reason == jmesos.REASON_RECONCILIATION:
                self.reconciled.append(status.task_id)
            if self.got is not None and self.reconciled:
                driver.stop()

    talk = cluster.run(Talk(), timeout=30)
    assert talk.got == 42 and talk.reconciled[:1] == ["talk"]
    assert "data <generator" in talk.refused[0] and "cannot be serialised" in talk.refused[0]
    assert talk.refused[1].startswith("failover='maybe' must be True")
    assert talk.refused[2].startswith("statuses=None: reconcile_tasks takes a list of task ids")

    class Quits(jmesos.Scheduler):
        def resource_offers(self, driver, offers):
            sys.exit(3)

    with pytest.raises(RuntimeError, match=r"raised SystemExit\(3\), so the framework was aborted; to end a framework"):
        cluster.run(Quits(), timeout=30)
    stopped = cluster.run(Squares(2), timeout=30)
    assert len(stopped.results) == 2
    assert cluster._drivers[-1].abort() == "DRIVER_STOPPED"  # aborting a stopped driver changes nothing


def test_a_refusal_is_said_even_to_a_scheduler_without_an_error_callback(cluster, capsys):
    class Stray(jmesos.Scheduler):
        sent = False

        def resource_offers(self, driver, offers):
            if driver.errors:  # the refusal came back: done
                driver.stop()
                return
            if not self.sent:
                self.sent = True
                driver.send_framework_message("agent-99", "hello?")  # no such agent: the master refuses it
            driver.decline_offer([o.id for o in offers], jmesos.Filters(refuse_seconds=0))

    cluster.run(Stray(), name="stray", timeout=30)
    err = capsys.readouterr().err
    assert (
        "jmesos: the master refused a request of stray: framework message to unknown or disconnected agent 'agent-99'"
        in err
    )


def test_when_the_master_dies_the_cluster_ends_at_once_and_says_why(cluster):
    tasks = [TaskInfo(name=f"s{i}", resources="cpus:1;mem:32", command="sleep 60") for i in range(2)]
    handle = cluster.run_async(Collect(tasks), name="orphan")
    cluster.wait_for(lambda e: e.kind == "task_state" and e.data["state"] == "TASK_RUNNING", timeout=20)
    supervisor = psutil.Process(cluster._proc.pid)
    family = [supervisor, *supervisor.children(recursive=True)]
    os.kill(cluster.master_pid, signal.SIGKILL)
    assert handle.driver.join(5) == "DRIVER_ABORTED"  # not after the 10 s of reconnection attempts
    assert "master process was killed by SIGKILL" in handle.driver.errors[-1]
    _, alive = psutil.wait_procs(family, timeout=10)  # agents, their tasks and the supervisor, before any stop()
    assert alive == []
    assert not cluster.running and "over (its master process was killed by SIGKILL)" in repr(cluster)
    with pytest.raises(RuntimeError, match="this cluster is over: its master process was killed by SIGKILL"):
        cluster.add_agent()
    assert "killed by SIGKILL" in cluster.events[-1].data["message"]


def test_status_updates_are_retried_until_acknowledged(cluster):
    """With explicit acknowledgements, an update not acknowledged is sent again."""

    class Forgetful(Collect):
        def status_update(self, driver, status):
            self.statuses.append(status)
            repeats = [s for s in self.statuses if s.task_id == "t" and s.state == jmesos.TASK_FINISHED]
            if len(repeats) >= 2:
                driver.acknowledge_status_update(status)
                driver.stop()

    fw = Forgetful([TaskInfo(name="t", resources="cpus:0.1;mem:8", fn=lambda: 1)])
    cluster.run(fw, name="forgetful", implicit_acknowledgements=False, timeout=30)
    finished = [s for s in fw.statuses if s.state == jmesos.TASK_FINISHED]
    assert len(finished) >= 2 and finished[0].uuid == finished[1].uuid


def test_wrong_secret_is_refused_and_logged(cluster, tmp_path):
    from jmesos.runtime.wire import AuthenticationError, Hub

    with pytest.raises(AuthenticationError):
        Hub(b"not-the-secret", "intruder").connect(*cluster.address, timeout=3)
    cluster.wait_for(lambda e: e.kind == "error" and "wrong secret" in e.data["message"], timeout=5)
    assert len(cluster.run(Squares(2), name="still-serving", timeout=30).results) == 2


def test_secret_file_is_private(cluster):
    assert os.stat(cluster.secret_file).st_mode & 0o777 == 0o600


def _cluster_pids(cluster) -> list[int]:
    root = psutil.Process(cluster._proc.pid)
    return [root.pid, *(p.pid for p in root.children(recursive=True))]


def test_a_cluster_that_cannot_start_quotes_why(tmp_path, monkeypatch):
    """The processes' own words reach the user, read before stopping removes the work directory."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nprint('this machine refuses to start Python', file=sys.stderr)\nsys.exit(3)\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="the master did not start") as failure:
        jmesos.LocalCluster(agents=1, cpus=1, mem="256MiB", start_timeout=20)
    assert "this machine refuses to start Python" in str(failure.value)


def _wait_gone(pids, timeout=10.0):
    """The processes among ``pids`` still alive after up to ``timeout`` seconds (zombies count as gone)."""
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in pids if running(p)]
        time.sleep(0.05)
    return alive


def test_stop_leaves_no_process_behind():
    cluster = jmesos.LocalCluster(agents=2, cpus=1, mem="512MiB")
    handle = cluster.run_async(
        Collect([TaskInfo(name="s", resources="cpus:1;mem:32", command="sleep 600 & sleep 600")])
    )
    cluster.wait_for(lambda e: e.kind == "task_state" and e.data["state"] == "TASK_RUNNING", timeout=20)
    pids = _cluster_pids(cluster)
    assert len(pids) >= 5  # supervisor, master, agents, and the task's processes
    cluster.stop()
    assert handle.done
    assert _wait_gone(pids, timeout=5) == []


class StopsTheCluster(jmesos.Scheduler):
    """Runs one task; when it finishes, waits for its own driver and stops the whole cluster, from the callback."""

    def __init__(self, cluster):
        self.cluster, self.launched, self.outcome = cluster, False, None

    def resource_offers(self, driver, offers):
        tasks = [] if self.launched else [TaskInfo(name="one", resources="cpus:1;mem:32", fn=int, args=("7",))]
        self.launched = True
        driver.launch_tasks([offers[0].id], tasks)

    def status_update(self, driver, status):
        if status.state == jmesos.TASK_FINISHED:
            try:
                driver.join()  # no timeout: waiting here for the loop that runs this callback would never end
                self.cluster.stop()
                self.outcome = "stopped"
            except Exception as exc:
                self.outcome = repr(exc)


def test_a_scheduler_callback_or_an_event_subscriber_can_stop_the_cluster():
    cluster = jmesos.LocalCluster(agents=1, cpus=1, mem="256MiB")
    pids = _cluster_pids(cluster)
    framework = StopsTheCluster(cluster)
    cluster.run(framework, timeout=30)
    assert framework.outcome == "stopped" and not cluster.running
    assert _wait_gone(pids, timeout=5) == []

    # a subscriber runs on the thread that reads the master's events, which stop() otherwise waits for
    cluster = jmesos.LocalCluster(agents=1, cpus=1, mem="256MiB")
    pids = _cluster_pids(cluster)
    outcome = []

    def on_events(batch):
        if not outcome and any(e.kind == "agent_added" and e.data["agent_id"] == "agent-2" for e in batch):
            try:
                cluster.stop()
                outcome.append("stopped")
            except Exception as exc:
                outcome.append(repr(exc))

    cluster.events.subscribe(on_events)
    cluster.add_agent()
    cluster.wait_for(lambda e: e.kind == "agent_added" and e.data["agent_id"] == "agent-2", timeout=20)
    deadline = time.monotonic() + 20
    while not outcome and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outcome == ["stopped"] and not cluster.running
    assert _wait_gone(pids, timeout=5) == []


def test_owner_killed_with_sigkill_leaves_no_orphans(tmp_path):
    """A kernel restart: the Python process that owns the cluster dies with SIGKILL."""
    script = textwrap.dedent(
        """
        import json, sys, time, psutil, jmesos
        c = jmesos.LocalCluster(agents=2, cpus=1, mem="256MiB")
        class Sleep(jmesos.Scheduler):
            def resource_offers(self, driver, offers):
                for o in offers:
                    driver.launch_tasks([o.id], [jmesos.TaskInfo(name=o.id, resources="cpus:1;mem:16", command="sleep 600")])
            def status_update(self, driver, status):
                pass
        c.run_async(Sleep(), name="sleepers")
        c.wait_for(lambda e: e.kind == "task_state" and e.data["state"] == "TASK_RUNNING", timeout=20)
        time.sleep(0.5)
        root = psutil.Process(c._proc.pid)
        print(json.dumps([c.work_dir, root.pid] + [p.pid for p in root.children(recursive=True)]), flush=True)
        time.sleep(600)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    line = owner.stdout.readline()
    work_dir, *pids = json.loads(line)
    assert len(pids) >= 5
    assert os.path.isdir(os.path.join(work_dir, "logs"))
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    alive = _wait_gone(pids)
    assert not alive, f"orphans: {cmdlines(alive)}"
    owner.stdout.close()
    # nor its sandboxes and logs: the supervisor removes the directory the cluster made
    deadline = time.monotonic() + 5
    while os.path.exists(work_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(work_dir), os.listdir(work_dir)


def test_a_supervisor_killed_outright_still_leaves_no_task_behind():
    """The OOM killer may pick the supervisor: its agents still take their tasks' processes down."""
    with jmesos.LocalCluster(agents=2, cpus=1, mem="256MiB") as cluster:
        tasks = [TaskInfo(name=f"s{i}", resources="cpus:1;mem:16", command="sleep 600; true") for i in range(2)]
        cluster.run_async(Collect(tasks), name="sleepers")
        cluster.wait_for(
            lambda e: e.kind == "task_state" and e.data["state"] == "TASK_RUNNING" and e.data["task_id"] == "s1",
            timeout=20,
        )
        cluster.wait_for(
            lambda e: e.kind == "task_state" and e.data["state"] == "TASK_RUNNING" and e.data["task_id"] == "s0",
            timeout=20,
        )
        tree = [p.pid for p in psutil.Process(cluster._proc.pid).children(recursive=True)]
        sleeps = [p for p in tree if psutil.Process(p).name() == "sleep"]
        assert len(sleeps) == 2
        os.kill(cluster._proc.pid, signal.SIGKILL)
        alive = _wait_gone(tree, timeout=8)
        assert not alive, f"left running: {cmdlines(alive)}"
        cluster.wait_for(lambda e: e.kind == "error" and "supervisor process was killed" in e.data["message"], 10)
        assert "over (its supervisor process was killed by SIGKILL)" in repr(cluster)
        with pytest.raises(RuntimeError, match="this cluster is over: its supervisor process was killed by SIGKILL"):
            cluster.add_agent()


def test_sigterm_to_the_supervisor_stops_the_cluster_in_order():
    """A polite kill (a task's process tree being ended, say) is a stop, not something to ignore."""
    cluster = jmesos.LocalCluster(agents=2, cpus=1, mem="256MiB")
    try:
        cluster.run_async(Collect([TaskInfo(name="s", resources="cpus:1;mem:16", command="sleep 600")]))
        cluster.wait_for(lambda e: e.kind == "task_state" and e.data["state"] == "TASK_RUNNING", timeout=20)
        pids = _cluster_pids(cluster)
        work_dir = cluster.work_dir
        os.kill(cluster._proc.pid, signal.SIGTERM)
        assert cluster._proc.wait(10) == 0
        assert _wait_gone(pids) == []  # the task's sleep too
        assert not os.path.exists(work_dir)
    finally:
        cluster.stop()


def test_a_supervisor_whose_owner_is_gone_still_stops_everything_and_cleans_up(tmp_path):
    """Its reports go nowhere once the owner has died: that must not crash it half way through."""
    from jmesos.runtime.interpreter import jmesos_env

    work_dir = tmp_path / "cluster"
    work_dir.mkdir()
    spec = {
        "secret": "s" * 32,
        "work_dir": str(work_dir),
        "remove_work_dir": True,
        "agents": [{"resources": "cpus:1;mem:64"}, {"resources": "cpus:1;mem:64"}],
        "agent_options": {"isolation": "none"},
    }
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "jmesos.runtime.supervisor"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=jmesos_env(),
        text=True,
    )
    supervisor.stdin.write(json.dumps(spec) + "\n")
    supervisor.stdin.flush()
    try:
        reports = [json.loads(supervisor.stdout.readline()) for _ in range(3)]
        agents = [r["pid"] for r in reports if r["event"] == "agent"]
        pids = [supervisor.pid, *(p.pid for p in psutil.Process(supervisor.pid).children(recursive=True))]
        assert len(agents) == 2 and len(pids) >= 4  # and each agent's spare worker
        supervisor.stdout.close()  # the owner is gone; its end of stdin is still open
        os.kill(agents[0], signal.SIGKILL)  # so the supervisor has an exit to report, into a broken pipe
        assert supervisor.wait(10) == 0, supervisor.stderr.read()
        assert "Traceback" not in supervisor.stderr.read()
        assert _wait_gone(pids) == []
        assert not work_dir.exists()
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
    supervisor.stdin.close()
    supervisor.stderr.close()


def test_demo_runs_and_exits_cleanly():
    result = subprocess.run(
        [sys.executable, "-m", "jmesos", "demo", "--tasks", "24", "--samples", "2000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "pi ~ 3.1" in result.stdout and "cluster stopped cleanly" in result.stdout


def test_the_commands_refuse_a_port_that_is_not_one(tmp_path):
    (tmp_path / "secret").write_text("a-long-enough-cluster-secret")
    for command in (
        ["master", "--port", "99999"],
        ["agent", "--master", "127.0.0.1:99999", "--secret-file", str(tmp_path / "secret")],
    ):
        done = subprocess.run([sys.executable, "-m", "jmesos", *command], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and "Traceback" not in done.stderr
        assert "from 1 to 65535" in done.stderr, done.stderr


def test_master_and_agent_commands_form_a_cluster(tmp_path):
    """Agents on other hosts use these commands; here both run on 127.0.0.1."""
    secret = tmp_path / "secret"
    # port 0: the master takes a free port itself (a port probed and released here could be taken meanwhile)
    master = subprocess.Popen(
        [sys.executable, "-m", "jmesos", "master", "--port", "0", "--secret-file", str(secret)],
        stdout=subprocess.PIPE,
        text=True,
    )
    agent = None
    try:
        line = master.stdout.readline()
        port = listening_port(line)
        assert os.stat(secret).st_mode & 0o777 == 0o600
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jmesos",
                "agent",
                "--master",
                f"127.0.0.1:{port}",
                "--secret-file",
                str(secret),
                "--cpus",
                "2",
                "--mem",
                "512MiB",
                "--work-dir",
                str(tmp_path / "agent"),
            ],
        )
        from jmesos.runtime.driver import SchedulerDriver
        from jmesos.runtime.wire import read_secret

        fw = Squares(6)
        driver = SchedulerDriver(fw, jmesos.FrameworkInfo(name="remote"), ("127.0.0.1", port), read_secret(str(secret)))
        driver.start()
        driver.join(60)
        assert driver.done and len(fw.results) == 6
    finally:
        for proc in (agent, master):
            if proc is not None:
                proc.terminate()
                proc.wait(10)
        master.stdout.close()


def test_a_framework_that_fails_over_receives_every_update(cluster):
    """The scheduler's process 'dies' (abort) while its tasks run; a successor with the same id hears their ends."""
    tasks = [TaskInfo(name=f"t{i}", resources="cpus:0.5;mem:16", command="sleep 1") for i in range(3)]
    first = cluster.run_async(Collect(tasks), name="phoenix", failover_timeout=30)
    cluster.wait_for(lambda e: e.kind == "task_state" and e.data["state"] == "TASK_RUNNING", timeout=20)
    framework_id = first.framework_id
    first.driver.abort()  # no goodbye: the master keeps the tasks for failover_timeout
    first.driver.join(5)
    cluster.wait_for(lambda e: e.kind == "framework_disconnected" and e.data["framework_id"] == framework_id)

    successor = Collect([], stop_when=lambda s: len(s.final) == 3)
    info = jmesos.FrameworkInfo(name="phoenix", id=framework_id, failover_timeout=30)
    handle = cluster.run_async(successor, framework=info)
    handle.wait(30)
    assert handle.framework_id == framework_id
    assert {t: s.state for t, s in successor.final.items()} == {f"t{i}": jmesos.TASK_FINISHED for i in range(3)}
    removed = [e for e in cluster.events.filter("framework_removed") if e.data["framework_id"] == framework_id]
    assert len(removed) == 1  # only by the successor's own stop, never for the disconnection


def test_a_live_policy_that_raises_is_said_on_stderr_not_only_logged(capsys):
    """The master falls back to DRF and goes on; a run under DRF would otherwise look like the policy worked."""

    class Raises(jmesos.Policy):
        def order(self, agent, candidates, view):
            raise RuntimeError("boom in order")

    with jmesos.LocalCluster(agents=1, cpus=2, mem="512MiB", policy=Raises) as cluster:
        assert len(cluster.run(Squares(4), name="sq", timeout=30).results) == 4
    err = capsys.readouterr().err
    assert "jmesos: policy 'Raises' raised RuntimeError: boom in order in order() for agent" in err
    assert "falling back to drf" in err


def test_a_policy_written_in_the_notebook_runs_the_live_master():
    """A policy class registered by name in this process (a notebook) is shipped to the master by value."""

    @jmesos.register_policy("newest-first")
    class NewestFirst(jmesos.Policy):
        def order(self, agent, candidates, view):
            return list(reversed(candidates))

    with jmesos.LocalCluster(agents=1, cpus=2, mem="512MiB", policy="newest-first") as cluster:
        assert len(cluster.run(Squares(4), name="sq", timeout=30).results) == 4
        explanation = cluster.events.filter("offer")[0].data["explanation"]
        assert "newest-first" in explanation
        assert not cluster.events.filter("error")
