"""Parts of a live cluster failing, or killed, while tasks run: nothing may be left behind."""

from __future__ import annotations

import os
import signal
import time

import pytest

import jmesos
from jmesos import TaskInfo

pytestmark = pytest.mark.usefixtures("no_leaks")


def _sleep_long():
    time.sleep(1000)


class Running(jmesos.Scheduler):
    """Launches its tasks on the first offers that fit them and counts those that run."""

    def __init__(self, tasks):
        self.pending = list(tasks)
        self.running: set[str] = set()

    def resource_offers(self, driver, offers):
        for offer in offers:
            fit = jmesos.pack_tasks(offer, self.pending)
            self.pending = [t for t in self.pending if t not in fit]
            driver.launch_tasks([offer.id], fit)

    def status_update(self, driver, status):
        if status.state == jmesos.TASK_RUNNING:
            self.running.add(status.task_id)


def _wait_running(framework, n, timeout=20.0):
    deadline = time.monotonic() + timeout
    while len(framework.running) < n:
        assert time.monotonic() < deadline, f"only {len(framework.running)} of {n} tasks running"
        time.sleep(0.02)


def test_stop_after_the_supervisor_was_killed_removes_the_work_directory():
    """The agents of a killed supervisor kill their Python tasks and write their sandboxes on the way out.

    ``stop()`` removed the directory at once, while they were still at it, and the sandboxes
    came back: every run left ``agent-1/``, ``agent-2/`` in ``/tmp/jmesos-*``.
    """
    cluster = jmesos.LocalCluster(agents=2, cpus=2, mem="512MiB", allocation_interval=0.2)
    work_dir = cluster.work_dir
    try:
        tasks = [TaskInfo(name=f"p{i}", resources="cpus:0.5;mem:32", fn=_sleep_long) for i in range(8)]
        framework = Running(tasks)
        cluster.run_async(framework, name="sleepers")
        _wait_running(framework, 8)
        time.sleep(0.3)  # long enough that a Python task's sandbox is kept
        os.kill(cluster._proc.pid, signal.SIGKILL)
        cluster.stop()
        time.sleep(1.0)  # anything still writing would have made the directory again by now
        assert not os.path.exists(work_dir), sorted(os.listdir(work_dir))
    finally:
        cluster.stop()


def test_asking_a_cluster_whose_supervisor_was_killed_for_an_agent_fails_at_once_saying_why():
    """``add_agent`` waited its full timeout for an agent no supervisor would start, then blamed the agent."""
    cluster = jmesos.LocalCluster(agents=1, cpus=1, mem="256MiB")
    try:
        os.kill(cluster._proc.pid, signal.SIGKILL)
        for call in (cluster.add_agent, lambda: cluster.kill_agent("agent-1")):
            started = time.monotonic()
            with pytest.raises(
                RuntimeError, match="this cluster is over: its supervisor process was killed by SIGKILL"
            ):
                call()
            assert time.monotonic() - started < 5.0
    finally:
        cluster.stop()
    assert not os.path.exists(cluster.work_dir)
