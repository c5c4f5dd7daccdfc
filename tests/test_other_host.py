"""Agents on another machine, as the network sees it: the other machine is a network namespace.

What runs "over there" (an ipyparallel engine, or ``python -m jmesos agent``)
runs in a Linux network namespace of its own, under its own hostname, joined to
this machine by a veth pair (two addresses of a /30 of 10.0.0.0/8), so it
reaches the master only over a real non-loopback link, as on another host; and
taking that link down is a real network partition.  Everything else is shared
(processes, files), so the tests still see every process and check that none is
left behind.

Making a namespace takes root and iproute2; where that is refused, the module
is skipped and says why.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import psutil
import pytest

import jmesos

from .processes import listening_port
from .test_engines import _agent_processes

ipp = pytest.importorskip("ipyparallel")

pytestmark = pytest.mark.usefixtures("no_leaks")

WAIT = 60.0
HOSTNAME = "jmesos-other-host"


@dataclass
class OtherHost:
    namespace: str
    interface: str  # its end of the link
    address: str  # its address on the link
    our_address: str  # this machine's address on the link
    client: Any  # an ipyparallel Client whose one engine runs there
    engine_pid: int


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


def _free_link() -> ipaddress.IPv4Network:
    """A /30 that no route of this machine covers."""
    routes = _ip("-4", "route", "show", "table", "all").stdout
    used = []
    for word in routes.split():
        try:
            used.append(ipaddress.ip_network(word, strict=False))
        except ValueError:  # not an address ("dev", "eth0", ...); a bare address is a /32
            pass
    for third in range(200, 256):
        link = ipaddress.ip_network(f"10.213.{third}.0/30")
        if not any(link.overlaps(net) for net in used):
            return link
    pytest.skip("no free 10.213.x.0/30 for the test link")


def _start_there(namespace: str, argv: list[str]) -> subprocess.Popen:
    """Run ``argv`` on the other host: in its network namespace, under its own hostname."""
    return subprocess.Popen(
        ["ip", "netns", "exec", namespace, "unshare", "--uts", "--kill-child", "sh", "-c",
         f'hostname {HOSTNAME} && exec "$@"', "sh", *argv]
    )  # fmt: skip


def _end(process: subprocess.Popen) -> None:
    """End what :func:`_start_there` started (unshare ignores SIGTERM while it waits: end its child)."""
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            child.terminate()
        except psutil.NoSuchProcess:  # ended meanwhile: an agent's workers go with it
            pass
    try:
        process.wait(WAIT)
    except subprocess.TimeoutExpired:
        process.kill()  # unshare --kill-child: its child goes too
        process.wait()


@pytest.fixture(scope="module")
def other_host(tmp_path_factory):
    if sys.platform != "linux" or os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("unshare")):
        pytest.skip("a network namespace needs Linux, root, iproute2 and unshare")
    namespace = f"jmesos-t{os.getpid()}"
    made = _ip("netns", "add", namespace)
    if made.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {made.stderr.strip()}")
    ours, theirs = f"jm{os.getpid() % 10**6}a", f"jm{os.getpid() % 10**6}b"
    engine = None
    cluster = None
    try:
        link = _free_link()
        our_address, address = (str(host) for host in link.hosts())
        for command in (
            ["link", "add", ours, "type", "veth", "peer", "name", theirs],
            ["link", "set", theirs, "netns", namespace],
            ["addr", "add", f"{our_address}/30", "dev", ours],
            ["link", "set", ours, "up"],
            ["-n", namespace, "addr", "add", f"{address}/30", "dev", theirs],
            ["-n", namespace, "link", "set", theirs, "up"],
            ["-n", namespace, "link", "set", "lo", "up"],
        ):
            done = _ip(*command)
            assert done.returncode == 0, f"ip {' '.join(command)}: {done.stderr}"

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("IPYTHONDIR", str(tmp_path_factory.mktemp("ipython")))
            cluster = ipp.Cluster(n=0, cluster_id="other", controller_ip=our_address, log_level=logging.WARNING)
            cluster.start_controller_sync()
            connection = os.path.join(cluster.profile_dir, "security", "ipcontroller-other-engine.json")
            deadline = time.monotonic() + WAIT
            while not os.path.exists(connection):
                assert time.monotonic() < deadline, "the controller wrote no engine connection file"
                time.sleep(0.1)
            engine = _start_there(
                namespace, [sys.executable, "-m", "ipyparallel.engine", f"--file={connection}", "--log-level=ERROR"]
            )
            client = cluster.connect_client_sync()
            deadline = time.monotonic() + 2 * WAIT
            while not client.ids:
                assert engine.poll() is None, f"the engine over there exited with {engine.returncode}"
                assert time.monotonic() < deadline, "the engine over there did not register"
                time.sleep(0.1)
            (engine_pid,) = client[:].apply_sync(os.getpid)
            yield OtherHost(namespace, theirs, address, our_address, client, engine_pid)
            client.close()
    finally:
        if engine is not None:
            _end(engine)
        if cluster is not None:
            cluster.stop_cluster_sync()
        _ip("netns", "delete", namespace)  # takes the link with it


def _where_am_i() -> tuple[str, list[str]]:
    """Run as a task: the hostname and the network interfaces it sees."""
    print(f"hello from {socket.gethostname()}")
    return socket.gethostname(), sorted(name for _, name in socket.if_nameindex())


class OnEachAgent(jmesos.Scheduler):
    def __init__(self, fn) -> None:
        self.fn = fn
        self.task_id = None
        self.status = None

    def resource_offers(self, driver, offers):
        for offer in offers:
            tasks = []
            if self.task_id is None:
                task = jmesos.TaskInfo(
                    name="where", agent_id=offer.agent_id, resources=jmesos.Resources(cpus=0.5, mem=64), fn=self.fn
                )
                self.task_id = task.task_id
                tasks.append(task)
            driver.launch_tasks([offer.id], tasks)

    def status_update(self, driver, status):
        if status.is_terminal:
            self.status = status
            driver.stop()


def test_an_agent_on_another_host_reaches_a_master_listening_on_all_addresses(other_host):
    with jmesos.LocalCluster(agents=0, cpus=1, mem="256MiB", host="0.0.0.0") as cluster:
        (agent_id,) = cluster.add_engine_agents(other_host.client)

        added = cluster.wait_for(lambda e: e.kind == "agent_added", WAIT)
        assert added.data["hostname"] == HOSTNAME
        connected = [
            c for c in psutil.Process(cluster.master_pid).net_connections("tcp") if c.status == psutil.CONN_ESTABLISHED
        ]
        assert any(c.raddr and c.raddr.ip == other_host.address for c in connected), (
            f"no connection from {other_host.address} to the master: {connected}"
        )  # the agent dialled over the link, to the address on the route to the controller

        ran = cluster.run(OnEachAgent(_where_am_i), name="where", timeout=WAIT)

        assert ran.status.state == jmesos.TASK_FINISHED, ran.status.message
        assert ran.status.data == (HOSTNAME, sorted(["lo", other_host.interface]))  # it ran over there
        assert cluster.logs(ran.task_id) == f"hello from {HOSTNAME}\n"  # read through the engine
        (agent,) = _agent_processes(other_host.engine_pid)
    assert agent_id not in cluster.agents
    agent.wait(WAIT)  # stop() had the master ask it to leave


def test_a_master_on_loopback_is_refused_for_another_host_with_the_fix(other_host):
    with jmesos.LocalCluster(agents=0) as cluster:
        with pytest.raises(RuntimeError) as failure:
            cluster.add_engine_agents(other_host.client)
        message = str(failure.value)
        assert f"runs on host {HOSTNAME!r}, another machine than this one" in message
        assert "host='0.0.0.0'" in message
        assert cluster.agents == [] and _agent_processes(other_host.engine_pid) == []


def _long_task(pid_file: str) -> None:
    """Run as a task: say where it runs, then outlive any test."""
    with open(pid_file, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(600)


class LongTask(jmesos.Scheduler):
    """One long task on the first agent offered; records what the master says of it."""

    def __init__(self, pid_file: str) -> None:
        self.pid_file = pid_file
        self.task_id = None
        self.states: list[tuple[str, str]] = []
        self.lost_agents: list[str] = []

    def resource_offers(self, driver, offers):
        for offer in offers:
            tasks = []
            if self.task_id is None:
                task = jmesos.TaskInfo(
                    name="long",
                    agent_id=offer.agent_id,
                    resources=jmesos.Resources(cpus=0.5, mem=64),
                    fn=_long_task,
                    args=(self.pid_file,),
                )
                self.task_id = task.task_id
                tasks.append(task)
            driver.launch_tasks([offer.id], tasks)

    def status_update(self, driver, status):
        self.states.append((status.state.name, status.reason.name))

    def agent_lost(self, driver, agent_id):
        self.lost_agents.append(agent_id)


def test_a_partitioned_agent_is_removed_and_comes_back_as_a_new_agent_without_its_tasks(other_host, tmp_path):
    """The link goes down: no connection closes, only missed health checks tell the master."""
    pid_file = str(tmp_path / "task.pid")
    with jmesos.LocalCluster(agents=0, cpus=1, mem="256MiB", host="0.0.0.0") as cluster:
        (agent_id,) = cluster.add_engine_agents(other_host.client)
        framework = cluster.run_async(LongTask(pid_file), name="long")
        deadline = time.monotonic() + WAIT
        while not (os.path.exists(pid_file) and os.path.getsize(pid_file)):
            assert time.monotonic() < deadline, "the task did not start"
            time.sleep(0.05)
        task_pid = int(open(pid_file).read())

        assert _ip("-n", other_host.namespace, "link", "set", other_host.interface, "down").returncode == 0
        try:
            removed = cluster.wait_for(lambda e: e.kind == "agent_removed", WAIT)
        finally:
            assert _ip("-n", other_host.namespace, "link", "set", other_host.interface, "up").returncode == 0

        assert "missed 3 health checks" in removed.data["reason"]
        lost = cluster.wait_for(lambda e: e.kind == "task_state" and e.data["state"] == "TASK_LOST", WAIT)
        assert lost.data["agent_id"] == agent_id
        back = cluster.wait_for(lambda e: e.kind == "agent_added" and e.data["previous_id"] == agent_id, WAIT)
        assert back.data["hostname"] == HOSTNAME and back.data["agent_id"] != agent_id  # registered anew
        try:
            psutil.Process(task_pid).wait(WAIT)  # the agent kills the task nobody knows of any more
        except psutil.NoSuchProcess:
            pass  # already
        framework.stop()
        scheduler = framework.wait(WAIT)

        assert scheduler.lost_agents == [agent_id]
        assert scheduler.states[-1] == ("TASK_LOST", "REASON_AGENT_REMOVED")  # and nothing after it
        assert cluster.agents == [back.data["agent_id"]]  # the cluster follows its agent under the new id
        (agent,) = _agent_processes(other_host.engine_pid)
        command = agent.cmdline()
        log = open(os.path.join(os.path.dirname(command[command.index("--secret-file") + 1]), "agent.log"))
    with log:  # still readable once the agent removed its directory
        agent.wait(WAIT)
        assert "the master asked this agent to shut down" in log.read()  # stop() reached it under its new id


def test_the_readme_commands_put_an_agent_on_another_host(other_host, tmp_path):
    """``python -m jmesos master --host 0.0.0.0`` here, ``python -m jmesos agent --master HOST:PORT`` there."""
    secret = tmp_path / "cluster.secret"
    # port 0: the master takes a free port itself (a port probed and released here could be taken meanwhile)
    master = subprocess.Popen(
        [sys.executable, "-m", "jmesos", "master", "--host", "0.0.0.0", "--port", "0", "--secret-file", secret],
        stdout=subprocess.PIPE,
        text=True,
    )
    agent = None
    try:
        line = master.stdout.readline()
        port = listening_port(line, "0.0.0.0")
        agent = _start_there(
            other_host.namespace,
            [sys.executable, "-m", "jmesos", "agent", "--master", f"{other_host.our_address}:{port}",
             "--secret-file", str(secret), "--cpus", "1", "--mem", "256MiB", "--work-dir", str(tmp_path / "agent")],
        )  # fmt: skip
        from jmesos.runtime.driver import SchedulerDriver
        from jmesos.runtime.wire import read_secret

        where = OnEachAgent(_where_am_i)
        driver = SchedulerDriver(where, jmesos.FrameworkInfo(name="where"), ("127.0.0.1", port), read_secret(secret))
        driver.start()
        driver.join(WAIT)

        assert driver.done and where.status is not None, "no task ended"
        assert where.status.state == jmesos.TASK_FINISHED, where.status.message
        assert where.status.data == (HOSTNAME, sorted(["lo", other_host.interface]))
    finally:
        try:
            if agent is not None:
                _end(agent)
        finally:  # the master goes whatever happened to the agent
            master.terminate()
            master.wait(WAIT)
            master.stdout.close()
