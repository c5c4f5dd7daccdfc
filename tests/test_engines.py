"""Agents on ipyparallel engines: a real ipyparallel cluster, a real jmesos cluster, real processes.

One ``ipyparallel.Cluster`` with two engines serves the whole module (it takes
seconds to start); each test starts its own ``LocalCluster`` with no agents of
its own, adds agents on the engines, and checks that no process is left behind.
The engines run on this machine, so the tests can watch the agents' processes
(children of the engines) with psutil.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from typing import Any

import psutil
import pytest

import jmesos

ipp = pytest.importorskip("ipyparallel")

pytestmark = pytest.mark.usefixtures("no_leaks")

#: generous: a loaded two-core machine may take seconds to start a Python process
WAIT = 60.0


@dataclass
class Engines:
    cluster: Any  # ipyparallel.Cluster
    client: Any  # ipyparallel.Client
    ids: list[int]  # the two engines every test may use
    pids: dict[int, int]  # engine id -> engine process id


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """Two engines, in the default profile of an IPython directory of their own (so ``%mesos`` finds them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IPYTHONDIR", str(tmp_path_factory.mktemp("ipython")))
        cluster = ipp.Cluster(n=2, cluster_id="", log_level=logging.WARNING)
        client = cluster.start_and_connect_sync()
        ours = []
        try:
            client.wait_for_engines(2, timeout=120)
            ids = sorted(client.ids)
            pids = dict(zip(ids, client[ids].apply_sync(os.getpid), strict=True))
            ours = psutil.Process().children(recursive=True)
            yield Engines(cluster, client, ids, pids)
        finally:
            client.close()
            cluster.stop_cluster_sync()
            _, alive = psutil.wait_procs([p for p in ours if p.is_running()], timeout=WAIT)
            assert not alive, f"ipyparallel processes left behind: {alive}"


def _wait_for_ids(client: Any, ids: set[int]) -> None:
    """Until the controller lists exactly ``ids`` (an engine that died is dropped when its nanny says so)."""
    deadline = time.monotonic() + WAIT
    while set(client.ids) != ids:
        assert time.monotonic() < deadline, f"the controller lists engines {client.ids}, expected {ids}"
        client.spin()
        time.sleep(0.1)


def _agent_processes(engine_pid: int) -> list[psutil.Process]:
    """The jmesos agents an engine started (its children that run the engine-agent entry point)."""
    return [p for p in psutil.Process(engine_pid).children() if "jmesos.runtime.on_engine" in " ".join(p.cmdline())]


def _engine_of(cluster: jmesos.LocalCluster, agent_id: str) -> int:
    added = cluster.wait_for(lambda e: e.kind == "agent_added" and e.data["agent_id"] == agent_id, WAIT)
    return int(added.data["attributes"]["engine"])


def _engine_dirs() -> list[str]:
    """The agents' directories on the engines' host (the engines share this process's TMPDIR)."""
    root = tempfile.gettempdir()
    return [name for name in os.listdir(root) if name.startswith("jmesos-engine-agent-")]


def _lineage() -> tuple[int, int]:
    """Run as a task: the task's parent (the agent) and grandparent (whoever started the agent)."""
    print(f"a task on {socket.gethostname()}")
    with open(f"/proc/{os.getppid()}/stat") as f:
        grandparent = int(f.read().rpartition(")")[2].split()[1])
    return os.getppid(), grandparent


class OnEachAgent(jmesos.Scheduler):
    """Run ``fn`` once on each of ``agents``; stop when every run has finished (``until_done=False``: never)."""

    def __init__(self, agents, fn, until_done=True):
        self.todo, self.fn, self.until_done = set(agents), fn, until_done
        self.tasks, self.results = {}, {}

    def resource_offers(self, driver, offers):
        for offer in offers:
            tasks = []
            if offer.agent_id in self.todo:
                self.todo.discard(offer.agent_id)
                task = jmesos.TaskInfo(
                    name=f"on-{offer.agent_id}",
                    agent_id=offer.agent_id,
                    resources=jmesos.Resources(cpus=0.5, mem="64MiB"),
                    fn=self.fn,
                )
                self.tasks[offer.agent_id] = task.task_id
                tasks.append(task)
            driver.launch_tasks([offer.id], tasks)

    def status_update(self, driver, status):
        if status.state == jmesos.TASK_FINISHED:
            self.results[status.agent_id] = status.data
        elif status.is_terminal:
            driver.abort()
        if self.until_done and not self.todo and len(self.results) == len(self.tasks):
            driver.stop()


def _wait_running(cluster: jmesos.LocalCluster, agent_ids: list[str]) -> None:
    for agent_id in agent_ids:
        cluster.wait_for(
            lambda e, a=agent_id: (
                e.kind == "task_state" and e.data["state"] == "TASK_RUNNING" and e.data["agent_id"] == a
            ),
            WAIT,
        )


def test_agents_start_on_the_engines_and_run_tasks(engines):
    with jmesos.LocalCluster(agents=0, cpus=1, mem="256MiB") as cluster:
        agent_ids = cluster.add_engine_agents(engines.client)  # the Client: all its engines

        assert len(agent_ids) == 2 and sorted(cluster.agents) == sorted(agent_ids)
        on = {agent_id: _engine_of(cluster, agent_id) for agent_id in agent_ids}
        assert sorted(on.values()) == engines.ids
        for added in cluster.events.filter("agent_added"):
            assert added.data["resources"] == {"cpus": 1, "mem": 256, "disk": 10240}  # the cluster's defaults
            assert added.data["hostname"] == socket.gethostname()
        agent_pid = {}
        for agent_id, engine_id in on.items():
            (process,) = _agent_processes(engines.pids[engine_id])
            agent_pid[agent_id] = process.pid
            command = process.cmdline()
            secret = command[command.index("--secret-file") + 1]
            assert not os.path.exists(secret)  # removed once the agent registered: it keeps the secret in memory
            assert os.stat(os.path.dirname(secret)).st_mode & 0o777 == 0o700

        ran = cluster.run(OnEachAgent(agent_ids, _lineage), name="lineage", timeout=WAIT)

        for agent_id, (parent, grandparent) in ran.results.items():
            assert parent == agent_pid[agent_id]  # the agent the engine started ran the task
            assert grandparent == engines.pids[on[agent_id]]  # and that agent is the engine's child
            assert cluster.logs(ran.tasks[agent_id]) == f"a task on {socket.gethostname()}\n"


def test_a_remote_agents_task_logs_are_read_through_its_engine(engines):
    with jmesos.LocalCluster(agents=0, cpus=1, mem="256MiB") as cluster:
        (agent_id,) = cluster.add_engine_agents(engines.client[engines.ids[0]])
        ran = cluster.run(OnEachAgent([agent_id], _lineage), name="lineage", timeout=WAIT)
        task_id = ran.tasks[agent_id]
        here = cluster.logs(task_id)

        agent = cluster._engine_agents.get(agent_id)
        agent.local = False  # as if on another host: only its engine can read the file
        assert cluster.logs(task_id) == here == f"a task on {socket.gethostname()}\n"
        assert cluster.logs(task_id, stream="stderr") == ""


def test_stop_ends_the_engine_agents_their_tasks_and_files(engines):
    with jmesos.LocalCluster(agents=0, cpus=1, mem="256MiB") as cluster:
        agent_ids = cluster.add_engine_agents(engines.client[engines.ids])  # a DirectView
        assert len(_engine_dirs()) == 2
        cluster.run_async(OnEachAgent(agent_ids, _sleep, until_done=False), name="sleepers")
        _wait_running(cluster, agent_ids)
        agents = [process for engine_id in engines.ids for process in _agent_processes(engines.pids[engine_id])]
        workers = [worker for agent in agents for worker in agent.children(recursive=True)]
        assert len(agents) == 2 and workers  # the agents, and the workers running their tasks

    assert not any(agent.is_running() for agent in agents)  # stop() returned once the engines had ended them
    _, alive = psutil.wait_procs(workers, timeout=WAIT)  # their tasks die with them (the agents killed them)
    assert not alive, f"left running after stop(): {alive}"
    assert _engine_dirs() == []
    assert cluster.agents == []


def _sleep() -> None:
    time.sleep(600)


def _busy_until(path: str) -> None:
    """Keep an engine busy (it runs one request at a time) until ``path`` exists."""
    import os
    import time

    deadline = time.monotonic() + 300
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_stop_reaches_the_agent_of_a_busy_engine_through_the_master(engines, monkeypatch, tmp_path):
    """An engine busy with someone's computation cannot stop its agent; the master asks the agent itself."""
    from jmesos.runtime import engines as engine_agents

    stuck = []
    monkeypatch.setattr(engine_agents, "CALL_TIMEOUT", 1.0)  # were stop() to wait for the engine, it would give up
    monkeypatch.setattr(
        engine_agents.EngineAgents, "_unreachable_at_stop", lambda self, agent, error: stuck.append(agent)
    )
    engine_id, release = engines.ids[0], tmp_path / "release"
    with jmesos.LocalCluster(agents=0, cpus=1, mem="256MiB") as cluster:
        (agent_id,) = cluster.add_engine_agents(engines.client[engine_id])
        (agent,) = _agent_processes(engines.pids[engine_id])
        cluster.run_async(OnEachAgent([agent_id], _sleep, until_done=False), name="sleeper")
        _wait_running(cluster, [agent_id])
        workers = agent.children(recursive=True)
        command = agent.cmdline()
        directory = os.path.dirname(command[command.index("--secret-file") + 1])
        busy = engines.client[engine_id].apply_async(_busy_until, str(release))
        with open(os.path.join(directory, "agent.log")) as log:  # still readable once the agent removes it
            try:
                cluster.stop()
                assert not busy.ready()  # the engine was busy all along: it played no part in the stop
            finally:
                release.touch()
                busy.get(WAIT)
            assert "the master asked this agent to shut down (the cluster is stopping)" in log.read()
    assert stuck == [], "stop() waited for the busy engine instead"
    assert not agent.is_running()
    _, alive = psutil.wait_procs(workers, timeout=WAIT)
    assert not alive, f"left running after stop(): {alive}"
    assert _engine_dirs() == []
    removed = [e for e in cluster.events.filter("agent_removed") if e.data["agent_id"] == agent_id]
    assert removed and removed[0].data["reason"] == "the agent shut down"


def test_kill_agent_on_an_engine_makes_the_master_report_it_lost(engines):
    with jmesos.LocalCluster(agents=0, cpus=1, mem="256MiB") as cluster:
        (agent_id,) = cluster.add_engine_agents(engines.client[engines.ids[1]])
        (agent,) = _agent_processes(engines.pids[engines.ids[1]])
        cluster.run_async(OnEachAgent([agent_id], _sleep, until_done=False), name="sleeper")
        _wait_running(cluster, [agent_id])

        cluster.kill_agent(agent_id)

        assert agent_id not in cluster.agents
        assert not agent.is_running() or agent.status() == psutil.STATUS_ZOMBIE
        removed = cluster.wait_for(lambda e: e.kind == "agent_removed" and e.data["agent_id"] == agent_id, WAIT)
        assert (
            "health checks" in removed.data["reason"]
        )  # noticed by missed health checks, as a machine failure would be
        cluster.wait_for(
            lambda e: e.kind == "task_state" and e.data.get("state") == "TASK_LOST" and e.data["agent_id"] == agent_id,
            WAIT,
        )
        with pytest.raises(jmesos.InvalidArgument, match="has already been killed, so there is nothing to kill"):
            cluster.kill_agent(agent_id)  # not a second silent "killed"


def test_an_agent_exits_by_itself_when_its_master_is_gone(engines):
    """The fallback for an engine that cannot be reached at stop(): the agent gives up on a master that is gone."""
    with jmesos.LocalCluster(agents=0, cpus=1, mem="256MiB") as cluster:
        cluster.add_engine_agents(engines.client[engines.ids[0]])
        (agent,) = _agent_processes(engines.pids[engines.ids[0]])
        command = agent.cmdline()
        directory = os.path.dirname(command[command.index("--secret-file") + 1])
        with open(os.path.join(directory, "agent.log")) as log:  # still readable once the agent removes it
            os.kill(cluster.master_pid, signal.SIGKILL)

            agent.wait(WAIT)  # psutil.TimeoutExpired if it stays
            assert "(connections refused for 2s); shutting down" in log.read()
        assert not os.path.exists(directory), "an agent that ended by itself left its directory behind"


def test_an_unreachable_master_is_reported_with_the_fix(engines):
    engine_id = engines.ids[0]
    with jmesos.LocalCluster(agents=0) as cluster:
        port = cluster.address[1]
        with pytest.raises(RuntimeError) as failure:
            cluster.add_engine_agents(engines.client[engine_id], master_host="127.0.0.2")  # nobody listens there
        message = str(failure.value)
        assert f"engine {engine_id} on host {socket.gethostname()!r}" in message
        assert f"cannot connect to the master at 127.0.0.2:{port}" in message
        assert "host='0.0.0.0'" in message
        assert cluster.agents == [] and _agent_processes(engines.pids[engine_id]) == []
        assert _engine_dirs() == []


def test_an_agent_that_does_not_register_in_time_is_stopped_and_its_log_quoted(engines):
    engine_id = engines.ids[0]
    with jmesos.LocalCluster(agents=0) as cluster:
        with pytest.raises(RuntimeError) as failure:
            cluster.add_engine_agents(engines.client[engine_id], timeout=0.01)  # a Python process takes longer
        message = str(failure.value)
        assert f"engine {engine_id} on host {socket.gethostname()!r}: its agent (pid" in message
        assert f"did not register with the master at 127.0.0.1:{cluster.address[1]} within 0.01s" in message
        assert "agent.log on that host) ends:" in message
        assert "host='0.0.0.0'" in message
        assert cluster.agents == [] and _agent_processes(engines.pids[engine_id]) == []
        assert _engine_dirs() == []


def _set_on_engine(what: str, value: str) -> str:
    """Run on an engine: make its jmesos report another ``version``, or another copy of its ``code``.

    Returns the value it had.
    """
    import jmesos
    from jmesos.runtime import on_engine

    owner, name = (jmesos, "__version__") if what == "version" else (on_engine, "CODE_STAMP")
    old = getattr(owner, name)
    setattr(owner, name, value)
    return old


@pytest.mark.parametrize(
    "what, value, said",
    [
        (
            "version",
            "0.0.0.other",
            ["has jmesos 0.0.0.other", f"and this process {jmesos.__version__}; install the same version in both"],
        ),
        # a development install edited after the engines started: the same version, another module (a NameError)
        ("code", "0123456789abcdef", ["runs another copy of jmesos", "restart the engines (ipcluster stop, then"]),
    ],
)
def test_an_engine_with_other_jmesos_code_is_refused_before_anything_starts(engines, what, value, said):
    engine_id = engines.ids[1]
    view = engines.client[engine_id]
    real = view.apply_sync(_set_on_engine, what, value)
    try:
        with jmesos.LocalCluster(agents=0) as cluster:
            with pytest.raises(RuntimeError) as failure:
                cluster.add_engine_agents(engines.client[engines.ids])
            message = str(failure.value)
            assert f"engine {engine_id} on host {socket.gethostname()!r} {said[0]}" in message
            assert said[1] in message
            assert cluster.agents == []
            assert all(_agent_processes(pid) == [] for pid in engines.pids.values())  # not even on the good engine
            assert _engine_dirs() == []
    finally:
        view.apply_sync(_set_on_engine, what, real)


def test_bad_arguments_name_the_field_and_the_fix(engines, monkeypatch):
    client = engines.client
    closed = ipp.Client()  # the fixture's profile
    closed.close()
    with jmesos.LocalCluster(agents=0) as cluster:
        mistakes = [
            (dict(view_or_client=closed), "belongs to an ipyparallel Client that has been closed; connect a new one"),
            (dict(view_or_client="engines"), "view_or_client='engines' must be an ipyparallel Client or DirectView"),
            (dict(view_or_client=client.load_balanced_view()), "LoadBalancedView, which picks engines by itself"),
            (dict(view_or_client=client[[]]), "has no engines; start some"),
            (dict(view_or_client=client, cpus=-1), "cpus"),
            (dict(view_or_client=client, mem="lots"), "mem='lots'"),
            (dict(view_or_client=client, attributes={"engine": "7"}), "attributes['engine'] is set by"),
            (dict(view_or_client=client, attributes={"racks": "r1,r2"}), "must not contain ','"),
            (dict(view_or_client=client, timeout=0), "timeout=0 must be a positive, finite number of seconds"),
            (dict(view_or_client=client, master_host=""), "master_host='' must be an address"),
        ]
        for arguments, expected in mistakes:
            with pytest.raises(jmesos.InvalidArgument, match=expected.replace("(", r"\(").replace("[", r"\[")):
                cluster.add_engine_agents(**arguments)
        with monkeypatch.context() as without:
            without.setitem(sys.modules, "ipyparallel", None)  # as if it were not installed
            with pytest.raises(ImportError, match=r'pip install "jmesos\[engines\]"'):
                cluster.add_engine_agents(client)
        assert cluster.agents == [] and _engine_dirs() == []
    with pytest.raises(RuntimeError, match="this cluster is stopped"):
        cluster.add_engine_agents(client)


def test_an_engine_hosts_one_agent_at_a_time(engines):
    """An engine that runs an agent (of this cluster or another) is refused, at once and saying which agent."""
    engine_id, other_id = engines.ids
    with jmesos.LocalCluster(agents=0, cpus=1, mem="256MiB") as cluster:
        (agent_id,) = cluster.add_engine_agents(engines.client[engine_id])
        started = time.monotonic()
        with pytest.raises(jmesos.InvalidArgument) as failure:
            cluster.add_engine_agents(engines.client)  # both engines: one is taken
        message = str(failure.value)
        assert time.monotonic() - started < 5
        assert "\n" not in message  # the magic shows a first line only
        assert f"engine {engine_id} on host {socket.gethostname()!r} already runs {agent_id} of this cluster" in message
        assert f"leave it out, e.g. add_engine_agents(client[[{other_id}]])" in message
        assert cluster.agents == [agent_id] and len(_agent_processes(engines.pids[engine_id])) == 1
        assert _agent_processes(engines.pids[other_id]) == []  # nothing started on the free engine either

        with jmesos.LocalCluster(agents=0) as other:
            with pytest.raises(jmesos.InvalidArgument, match=r"of another cluster, whose master is at 127\.0\.0\.1:"):
                other.add_engine_agents(engines.client[engine_id])
            assert other.agents == []

        cluster.kill_agent(agent_id)  # a killed agent no longer holds its engine
        (again,) = cluster.add_engine_agents(engines.client[engine_id])
        assert again in cluster.agents
    assert _engine_dirs() == []


def test_a_start_whose_answer_came_too_late_leaves_no_agent(engines, monkeypatch, tmp_path):
    """An engine that turns busy between the checks and the start answers after the caller gave up: its agent goes."""
    from jmesos.runtime import engines as engine_agents

    monkeypatch.setattr(engine_agents, "CALL_TIMEOUT", 1.0)
    monkeypatch.setattr(engine_agents, "PROBE_TIMEOUT", 1.0)
    engine_id, release = engines.ids[1], tmp_path / "release"
    describe = engine_agents.EngineAgents._describe

    def describe_then_busy(self, client, engine_ids, address):
        hosts = describe(self, client, engine_ids, address)
        client[engine_id].apply_async(_busy_until, str(release))  # someone else's computation, queued first
        return hosts

    monkeypatch.setattr(engine_agents.EngineAgents, "_describe", describe_then_busy)
    with jmesos.LocalCluster(agents=0, cpus=1, mem="256MiB") as cluster:
        with pytest.raises(RuntimeError) as failure:
            cluster.add_engine_agents(engines.client)
        message = str(failure.value)
        assert (
            f"engine {engine_id} on host {socket.gethostname()!r} could not start an agent: did not answer" in message
        )
        assert "host='0.0.0.0'" not in message  # the master was reachable: no advice about reaching it
        release.touch()
        engines.client[engine_id].apply_sync(os.getpid)  # the engine has run everything queued before this
        assert _agent_processes(engines.pids[engine_id]) == []
        time.sleep(1.0)  # an agent left running would register within this
        assert cluster.agents == []
        added = {e.data["agent_id"] for e in cluster.events.filter("agent_added")}
        removed = {e.data["agent_id"] for e in cluster.events.filter("agent_removed")}
        assert added <= removed, "an agent the caller gave up on stayed registered with the master"
    assert _engine_dirs() == []


def test_a_killed_agents_directory_goes_once_its_master_is_gone(engines, monkeypatch):
    """Nobody stops it (the notebook kernel was killed): the engine removes it as its agent would have."""
    with jmesos.LocalCluster(agents=0, cpus=1, mem="256MiB") as cluster:
        (agent_id,) = cluster.add_engine_agents(engines.client[engines.ids[0]])
        cluster.kill_agent(agent_id)
        assert len(_engine_dirs()) == 1  # kept for its tasks' logs while the cluster runs
        monkeypatch.setattr(cluster._engine_agents, "stop_all", lambda shut_down=None: None)  # as if killed
    stopped = time.monotonic()
    while _engine_dirs() and time.monotonic() < stopped + WAIT:
        time.sleep(0.1)
    assert _engine_dirs() == [], "a killed agent's directory outlived its master"
    assert time.monotonic() - stopped < 10  # about 2 s of connections refused, as for a live agent


def test_importing_jmesos_does_not_import_ipyparallel():
    code = "import sys, jmesos, jmesos.magics, jmesos.widgets; print('ipyparallel' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT)
    assert result.stdout.strip() == "False", result.stderr


def test_the_magic_adds_agents_on_the_profiles_engines(engines, capsys):
    from jmesos.magics.magics import MesosMagics

    magics = MesosMagics(shell=None)  # the magic itself, without the test session's one global IPython shell
    try:
        magics.mesos("start --agents 0 --no-dashboard")
        assert "0 agents" in capsys.readouterr().out
        magics.mesos("add-agent --engines --cpus 1 --mem 128 --attr rack=r1")
        said, _, rest = capsys.readouterr().out.partition(": ")
        assert rest == "one on each engine of the ipyparallel profile 'default'\n"
        cluster = magics.cluster
        assert sorted(cluster.agents) == ["agent-1", "agent-2"]  # registered in either order
        assert said == f"added {', '.join(cluster.agents)}"
        for added in cluster.events.filter("agent_added"):
            assert added.data["attributes"]["rack"] == "r1"
            assert added.data["resources"]["mem"] == 128
    finally:
        magics.mesos("stop")
    assert cluster.agents == [] and _engine_dirs() == []


def test_an_agent_dies_with_its_engine(engines):
    """Last: it adds a third engine, kills it, and waits until the controller has forgotten it."""
    engine_set = engines.cluster.start_engines_sync(n=1)
    engines.client.wait_for_engines(3, timeout=WAIT)
    (engine_id,) = set(engines.client.ids) - set(engines.ids)
    engine_pid = engines.client[engine_id].apply_sync(os.getpid)
    with jmesos.LocalCluster(agents=0, cpus=1, mem="256MiB") as cluster:
        (agent_id,) = cluster.add_engine_agents(engines.client[engine_id])
        (agent,) = _agent_processes(engine_pid)

        os.kill(engine_pid, signal.SIGKILL)

        agent.wait(WAIT)  # psutil.TimeoutExpired if it outlives its engine
        removed = cluster.wait_for(lambda e: e.kind == "agent_removed" and e.data["agent_id"] == agent_id, WAIT)
        assert removed.data["reason"] == "the agent shut down"  # SIGTERM from the kernel: it said goodbye
        assert agent_id not in cluster.agents
    assert _engine_dirs() == []  # the engine is gone: stop() removed its agent's directory from here
    _wait_for_ids(engines.client, set(engines.ids))
    engines.cluster.stop_engines_sync(engine_set)


def test_readme_example_runs():
    """The README's section on engines, as written (it starts its own ipyparallel cluster)."""
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    first = readme.split("## A first framework", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    squares = first.split("with jmesos.LocalCluster", 1)[0]
    section = readme.split("## Agents on ipyparallel engines", 1)[1]
    example = section.split("```python", 1)[1].split("```", 1)[0]
    code = textwrap.dedent(squares + example)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[0, 1, 4, 9, 16]" in result.stdout
