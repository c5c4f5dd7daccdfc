"""The live agent against a fake master in this process: real agent processes, real tasks.

Each agent is started as ``python -m jmesos.runtime.agent ...`` (the CLI), one
shared by most tests and fresh ones where a test needs its own settings or
ends the agent.  Every agent's end is checked for leftovers: no process whose
command line or working directory is under its work dir, and no cgroup of it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from jmesos.core import messages as m
from jmesos.core.model import AgentInfo, TaskInfo, TaskStatus
from jmesos.core.resources import Resources
from jmesos.core.states import Reason, TaskState
from jmesos.runtime import containers
from jmesos.runtime.agent import run_agent, sandbox_path
from jmesos.runtime.serialize import Blob, dumps_call, loads_value
from jmesos.runtime.wire import Hub

SECRET = b"agent-test-secret"
SMALL = Resources(cpus=0.1, mem=64)
_probe = containers.make_isolator("auto")
CGROUPS = _probe.kind.startswith("cgroups")
_probe.cleanup()
TERMINAL = {s for s in TaskState if s.is_terminal}


class FakeMaster:
    """A Hub that plays the master for one agent: registers it, records and (optionally) acks updates."""

    def __init__(self, agent_id: str = "agent-1", ack: Callable[[TaskStatus], bool] = lambda s: True) -> None:
        self.hub = Hub(SECRET, "master")
        self.address = self.hub.listen("127.0.0.1", 0)
        self.agent_id = agent_id
        self.ack = ack
        self.channel: Any = None
        self.received: list[tuple[int, Any]] = []  # (frame number, message)
        self.frames = 0
        self.registrations: list[m.RegisterAgent] = []
        self.refused: list[str] = []
        self.hold_registration = False

    # -- the loop
    def pump(self, timeout: float = 0.02) -> None:
        for event in self.hub.poll(timeout):
            if event.kind == "connected":
                self.channel = event.channel
            elif event.kind == "refused":
                self.refused.append(event.detail)
            elif event.kind == "messages":
                self.frames += 1
                for message in event.messages:
                    self.received.append((self.frames, message))
                    if isinstance(message, m.RegisterAgent):
                        self.registrations.append(message)
                        if not self.hold_registration:
                            self.register(event.channel)
                    elif isinstance(message, m.StatusUpdate) and self.ack(message.status):
                        self.acknowledge(message.status)

    def register(self, channel: Any = None) -> None:
        self.hub.send(channel or self.channel, m.AgentRegistered(self.agent_id, 5.0))

    def acknowledge(self, status: TaskStatus) -> None:
        self.hub.send(self.channel, m.StatusUpdateAck(status.framework_id, status.task_id, status.uuid))

    def send(self, *messages: Any) -> None:
        for message in messages:
            self.hub.send(self.channel, message)
        self.hub.flush()

    def wait(self, predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump()
            value = predicate()
            if value:
                return value
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def pump_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.pump()

    # -- what arrived
    def of(self, kind: type) -> list:
        return [msg for _, msg in self.received if isinstance(msg, kind)]

    def updates(self, task_id: str, framework_id: str = "fw-1") -> list[TaskStatus]:
        return [
            u.status
            for u in self.of(m.StatusUpdate)
            if u.status.task_id == task_id and u.status.framework_id == framework_id
        ]

    def states(self, task_id: str, framework_id: str = "fw-1") -> list[TaskState]:
        return [s.state for s in self.updates(task_id, framework_id)]

    def final(self, task_id: str, framework_id: str = "fw-1", timeout: float = 20.0) -> TaskStatus:
        def done() -> Any:
            ends = [s for s in self.updates(task_id, framework_id) if s.state in TERMINAL]
            return ends[0] if ends else None

        return self.wait(done, timeout, f"the end of task {task_id}")

    def wait_state(self, task_id: str, state: TaskState, framework_id: str = "fw-1") -> None:
        self.wait(lambda: state in self.states(task_id, framework_id), what=f"{task_id} {state}")

    def run(self, *tasks: TaskInfo, framework_id: str = "fw-1") -> None:
        self.send(m.RunTasks(framework_id, list(tasks)))

    def close(self) -> None:
        self.hub.shutdown()


def python_task(task_id: str, fn: Callable[..., Any], *args: Any, resources: Resources = SMALL) -> TaskInfo:
    return TaskInfo(task_id=task_id, resources=resources, payload=dumps_call(fn, args))


def shell_task(task_id: str, command: str, resources: Resources = SMALL) -> TaskInfo:
    return TaskInfo(task_id=task_id, resources=resources, command=command)


class Agent:
    """An agent process started with the CLI, and what is needed to check it left nothing behind."""

    def __init__(self, master: FakeMaster, work: Path, *extra: str, secret: bytes = SECRET) -> None:
        self.work = work
        self.terminated = False
        work.mkdir(parents=True, exist_ok=True)
        secret_file = work / "secret"
        secret_file.write_bytes(secret)
        self.log = work / "agent.log"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jmesos.runtime.agent",
                "--master",
                f"{master.address[0]}:{master.address[1]}",
                "--secret-file",
                str(secret_file),
                "--work-dir",
                str(work / "sandboxes"),
                "--cpus",
                "2",
                "--mem",
                "2GiB",
                "--attributes",
                "rack=r1,zone=a",
                "--hostname",
                "test-host",
                *extra,
            ],
            stdout=open(work / "agent.out", "w"),
            stderr=open(self.log, "w"),
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def terminate(self) -> None:
        if not self.terminated and self.proc.poll() is None:
            self.terminated = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 10.0) -> int:
        self.terminate()
        code = self.proc.wait(timeout)
        assert_no_leftovers(self.pid, self.work)
        return code


def assert_no_leftovers(agent_pid: int, work: Path, timeout: float = 5.0) -> None:
    """No process runs from ``work`` (workers carry it in their command line, shell tasks as their cwd)."""
    marker = str(work)
    cgroup_name = f"{containers.CGROUP_PREFIX}{agent_pid}"
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
            try:
                if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
                    continue
                cmdline = " ".join(proc.info["cmdline"] or [])
                cwd = proc.info["cwd"] or ""
                with open(f"/proc/{proc.pid}/cgroup") as f:
                    in_cgroup = cgroup_name in f.read()
            except (psutil.Error, OSError):
                continue
            if marker in cmdline or cwd.startswith(marker) or in_cgroup:
                left.append((proc.pid, cmdline[:120], cwd))
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"processes left behind: {left}"
    assert not [p for p in containers.agent_cgroup_paths(agent_pid) if os.path.exists(p)], "cgroups left behind"


def pid_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def read_pid(path: Path, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = path.read_text().strip()
            if text:
                return int(text)
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One master and one agent for the tests that leave the agent running as it was."""
    work = tmp_path_factory.mktemp("shared")
    master = FakeMaster()
    agent = Agent(master, work, "--status-retry-interval", "30")
    master.wait(lambda: master.registrations and master.of(m.Ping) == [] and master.channel, what="registration")
    master.pump_for(0.1)
    yield master, agent
    assert agent.stop() == 0
    master.close()


# ================================================================================== tests
def test_registers_with_its_resources_and_answers_pings(shared):
    master, agent = shared
    info = master.registrations[0].info
    assert isinstance(info, AgentInfo)
    assert info.hostname == "test-host" and info.id is None
    assert info.resources == Resources(cpus=2, mem="2GiB", disk="10GiB")
    assert info.attributes == {"rack": "r1", "zone": "a"}
    master.send(m.Ping())
    pong = master.wait(lambda: master.of(m.Pong), what="a pong")
    assert pong[-1].agent_id == "agent-1"
    assert "registered as agent-1" in (agent.work / "agent.out").read_text()


def test_python_task_runs_and_returns_its_value(shared):
    master, _ = shared

    def square(x):
        return {"square": x * x}

    before = time.time()
    master.run(python_task("square", square, 12))
    final = master.final("square")
    updates = master.updates("square")
    assert [u.state for u in updates] == [TaskState.TASK_STARTING, TaskState.TASK_RUNNING, TaskState.TASK_FINISHED]
    assert isinstance(final.data, Blob) and loads_value(final.data) == {"square": 144}
    assert len({u.uuid for u in updates}) == 3 and all(isinstance(u.uuid, str) for u in updates)
    for update in updates:
        assert update.agent_id == "agent-1" and update.framework_id == "fw-1"
        assert update.source == "SOURCE_EXECUTOR" and update.reason == Reason.REASON_NONE
        assert before - 1 <= update.timestamp <= time.time() + 1


def test_a_fast_task_reports_all_its_updates_in_one_frame(shared):
    master, _ = shared

    def identity(x):
        return x

    ids = [f"fast-{i}" for i in range(20)]
    for task_id in ids:  # one at a time, so each has the agent to itself
        master.run(python_task(task_id, identity, task_id))
        master.final(task_id)
    frames = {}
    for number, message in master.received:
        if isinstance(message, m.StatusUpdate) and message.status.task_id in ids:
            frames.setdefault(message.status.task_id, set()).add(number)
    together = sum(len(numbers) == 1 for numbers in frames.values())
    assert together >= len(ids) // 2, f"only {together} of {len(ids)} fast tasks sent their updates in one frame"


def test_the_worker_is_reused_across_tasks(shared):
    master, _ = shared

    def whoami():
        return os.getpid()

    pids = set()
    for i in range(5):
        master.run(python_task(f"pid-{i}", whoami))
        pids.add(loads_value(master.final(f"pid-{i}").data))
    assert len(pids) == 1


def test_a_spare_worker_waits_for_the_first_python_task_and_is_replaced(tmp_path):
    """A worker forked ahead of need runs a framework's first task; the agent forks the next spare later."""
    master = FakeMaster()
    agent = Agent(master, tmp_path)
    try:
        master.wait(lambda: master.registrations, what="registration")
        children = lambda: {p.pid for p in psutil.Process(agent.pid).children()}  # noqa: E731
        spare = master.wait(lambda: children(), what="a spare worker")
        assert len(spare) == 1

        def whoami():
            return os.getpid()

        master.run(python_task("first", whoami))
        assert {loads_value(master.final("first").data)} == spare
        master.wait(lambda: len(children()) == 2, timeout=5, what="a new spare beside the idle worker")

        (second,) = children() - spare
        captures = tmp_path / "sandboxes" / f".jmesos-capture-{agent.pid}"
        master.wait(lambda: list(captures.glob(f"w{second}-*")), what="the spare's capture files")
        os.kill(second, signal.SIGKILL)  # a spare that dies is cleaned up and replaced
        master.wait(lambda: len(children() - {second}) == 2, timeout=5, what="a third spare")
        master.wait(lambda: not list(captures.glob(f"w{second}-*")), timeout=5, what="the dead spare's files to go")
        assert agent.proc.poll() is None
    finally:
        assert agent.stop() == 0
        master.close()


def test_the_pool_grows_for_tasks_that_block(shared):
    """Six sleeping tasks on a 2-cpu agent run side by side: each gets its own worker."""
    master, _ = shared

    def nap(seconds):
        import time

        time.sleep(seconds)
        return os.getpid()

    start = time.monotonic()
    master.run(*[python_task(f"nap-{i}", nap, 0.6) for i in range(6)])
    pids = {loads_value(master.final(f"nap-{i}").data) for i in range(6)}
    assert len(pids) == 6
    assert time.monotonic() - start < 1.15  # one round of naps, not three


def test_an_exception_fails_the_task_with_its_traceback(shared):
    master, agent = shared

    def divide(a, b):
        return a / b

    master.run(python_task("divide", divide, 1, 0))
    final = master.final("divide")
    assert final.state == TaskState.TASK_FAILED and final.reason == Reason.REASON_TASK_FAILED
    assert "ZeroDivisionError" in final.message and "in divide" in final.message and "Traceback" in final.message
    stderr = Path(sandbox_path(str(agent.work / "sandboxes"), "agent-1", "fw-1", "divide"), "stderr")
    assert "ZeroDivisionError" in stderr.read_text()


def test_output_of_python_and_shell_tasks_lands_in_the_sandbox(shared):
    master, agent = shared

    def chatty():
        import subprocess
        import sys

        print("to stdout from print")
        print("to stderr from print", file=sys.stderr)
        os.write(1, b"to stdout from fd 1\n")
        subprocess.run(["echo", "from a child process"], check=True)
        return "ok"

    master.run(python_task("chatty", chatty), shell_task("shell-chatty", "echo out; echo err >&2"))
    assert master.final("chatty").state == TaskState.TASK_FINISHED
    assert master.final("shell-chatty").state == TaskState.TASK_FINISHED
    root = str(agent.work / "sandboxes")
    sandbox = Path(sandbox_path(root, "agent-1", "fw-1", "chatty"))
    out = (sandbox / "stdout").read_text()
    assert "to stdout from print" in out and "to stdout from fd 1" in out and "from a child process" in out
    assert (sandbox / "stderr").read_text() == "to stderr from print\n"
    shell = Path(sandbox_path(root, "agent-1", "fw-1", "shell-chatty"))
    assert (shell / "stdout").read_text() == "out\n" and (shell / "stderr").read_text() == "err\n"

    def quiet():  # the next task on the same worker must not write into chatty's files
        print("mine")

    master.run(python_task("after-chatty", quiet))
    master.final("after-chatty")
    assert "mine" not in (sandbox / "stdout").read_text()
    assert Path(sandbox_path(root, "agent-1", "fw-1", "after-chatty"), "stdout").read_text() == "mine\n"


@pytest.mark.parametrize("how", ["closes", "redirects"])
def test_a_task_that_closes_or_redirects_its_output_finishes_and_the_next_one_is_captured(shared, how):
    """``os.close(1)`` in a task made the worker fail on its way to report: TASK_FAILED, worker exited with 70."""
    master, agent = shared

    def meddle(how):
        import os

        print("before", flush=True)
        if how == "closes":
            os.close(1)
        else:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        return 5

    def chat():
        import subprocess

        print("said afterwards", flush=True)
        subprocess.run(["echo", "and by a child"], check=True)

    master.run(python_task(f"meddle-{how}", meddle, how))
    done = master.final(f"meddle-{how}")
    assert done.state == TaskState.TASK_FINISHED, done.message
    assert loads_value(done.data) == 5
    root = str(agent.work / "sandboxes")
    assert Path(sandbox_path(root, "agent-1", "fw-1", f"meddle-{how}"), "stdout").read_text() == "before\n"
    master.run(python_task(f"after-{how}", chat))
    assert master.final(f"after-{how}").state == TaskState.TASK_FINISHED
    assert (
        Path(sandbox_path(root, "agent-1", "fw-1", f"after-{how}"), "stdout").read_text()
        == "said afterwards\nand by a child\n"
    )


def test_threads_a_task_leaves_running_cannot_touch_later_tasks(shared):
    """A worker whose task left threads behind is retired: the next task runs in a clean process."""
    master, agent = shared

    def haunt():
        import threading
        import time

        def ghost():
            while True:
                print("ghost", flush=True)
                time.sleep(0.005)

        threading.Thread(target=ghost, name="ghost", daemon=True).start()
        return os.getpid()

    def listen():
        import time

        time.sleep(0.2)
        print("mine")
        return os.getpid()

    master.run(python_task("haunt", haunt))
    haunted = loads_value(master.final("haunt").data)
    master.run(python_task("listen", listen))
    assert loads_value(master.final("listen").data) != haunted
    root = str(agent.work / "sandboxes")
    assert Path(sandbox_path(root, "agent-1", "fw-1", "listen"), "stdout").read_text() == "mine\n"
    stderr = Path(sandbox_path(root, "agent-1", "fw-1", "haunt"), "stderr").read_text()
    assert "left 1 thread running (ghost)" in stderr
    master.wait(lambda: pid_gone(haunted), timeout=10, what="the haunted worker to exit")


def test_own_children_lists_running_and_unreaped_children_and_nothing_where_the_kernel_cannot_say(monkeypatch):
    """What a worker checks after every task for processes its task left behind."""
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(ended.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the short child never ended"
            time.sleep(0.01)
        children = containers.own_children()
        assert running.pid in children and ended.pid in children, children
    finally:
        running.kill()
        running.wait()
        ended.wait()
    children = containers.own_children()
    assert running.pid not in children and ended.pid not in children, children

    def no_children_file(path, *args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", path)

    monkeypatch.setattr(containers.os, "open", no_children_file)  # /proc without the children file
    assert containers.own_children() == []


def test_a_long_task_has_its_sandbox_while_it_runs(shared, tmp_path):
    master, agent = shared
    flag = tmp_path / "go"

    def slow(path):
        import time

        print("started", flush=True)
        while not os.path.exists(path):
            time.sleep(0.01)
        print("finished")

    master.run(python_task("slow-logs", slow, str(flag)))
    stdout = Path(sandbox_path(str(agent.work / "sandboxes"), "agent-1", "fw-1", "slow-logs"), "stdout")
    master.wait(lambda: stdout.exists() and stdout.read_text() == "started\n", what="live output")
    flag.write_text("")
    master.final("slow-logs")
    assert stdout.read_text() == "started\nfinished\n"


def test_shell_tasks_finish_or_fail_with_their_exit_status(shared):
    master, agent = shared
    master.run(
        shell_task("sh-ok", 'test -d "$MESOS_SANDBOX" && pwd > where'),
        shell_task("sh-fail", "echo working; echo something broke >&2; exit 3"),
        shell_task("sh-signal", "kill -9 $$"),
    )
    ok = master.final("sh-ok")
    assert master.states("sh-ok") == [TaskState.TASK_STARTING, TaskState.TASK_RUNNING, TaskState.TASK_FINISHED]
    assert ok.source == "SOURCE_AGENT"
    sandbox = sandbox_path(str(agent.work / "sandboxes"), "agent-1", "fw-1", "sh-ok")
    assert Path(sandbox, "where").read_text().strip() == sandbox  # it ran in its sandbox
    failed = master.final("sh-fail")
    assert failed.state == TaskState.TASK_FAILED and failed.reason == Reason.REASON_TASK_FAILED
    assert "exited with status 3" in failed.message and "something broke" in failed.message
    killed = master.final("sh-signal")
    assert killed.state == TaskState.TASK_FAILED and "SIGKILL" in killed.message


def test_a_result_that_cannot_be_sent_fails_the_task(shared):
    master, _ = shared

    def make_generator():
        return (i for i in range(3))

    master.run(python_task("generator", make_generator))
    final = master.final("generator")
    assert final.state == TaskState.TASK_FAILED and "cannot be sent back" in final.message


def test_a_payload_the_agent_cannot_load_is_a_launch_error(shared, tmp_path, monkeypatch):
    master, _ = shared
    (tmp_path / "only_on_the_framework_side.py").write_text("def helper(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import only_on_the_framework_side  # noqa: PLC0415 - a module the agent does not have

    master.run(python_task("missing-module", only_on_the_framework_side.helper, 1))
    final = master.final("missing-module")
    assert final.state == TaskState.TASK_ERROR and final.reason == Reason.REASON_CONTAINER_LAUNCH_FAILED
    assert "only_on_the_framework_side" in final.message
    assert master.states("missing-module") == [TaskState.TASK_ERROR]  # it never started


def test_a_crashing_task_fails_and_its_worker_is_replaced(shared):
    master, _ = shared

    def exit_hard():
        os._exit(3)

    def segfault():
        import ctypes

        ctypes.string_at(0)

    def fine():
        return "still serving"

    master.run(python_task("exit3", exit_hard), python_task("segv", segfault))
    exited = master.final("exit3")
    assert exited.state == TaskState.TASK_FAILED and exited.reason == Reason.REASON_EXECUTOR_TERMINATED
    assert "exited with status 3" in exited.message
    crashed = master.final("segv")
    assert crashed.state == TaskState.TASK_FAILED and "SIGSEGV" in crashed.message
    master.wait(lambda: len(master.of(m.ExecutorExited)) >= 2, what="ExecutorExited")
    assert {e.status for e in master.of(m.ExecutorExited)} >= {3, -signal.SIGSEGV}
    master.run(python_task("after-crash", fine))
    assert loads_value(master.final("after-crash").data) == "still serving"


def test_killing_tasks_kills_their_whole_process_tree(shared, tmp_path):
    master, _ = shared

    def spawn_and_wait(pid_file):
        import subprocess

        child = subprocess.Popen(["sleep", "1000"])
        with open(pid_file, "w") as f:
            f.write(str(child.pid))
        child.wait()

    master.run(
        python_task("py-kill", spawn_and_wait, str(tmp_path / "py.pid")),
        shell_task("sh-kill", f"sleep 1000 & echo $! > {tmp_path / 'sh.pid'}; wait"),
    )
    py_child, sh_child = read_pid(tmp_path / "py.pid"), read_pid(tmp_path / "sh.pid")
    master.wait_state("py-kill", TaskState.TASK_RUNNING)
    master.wait_state("sh-kill", TaskState.TASK_RUNNING)
    master.send(m.KillTaskOnAgent("fw-1", "py-kill"), m.KillTaskOnAgent("fw-1", "sh-kill"))
    for task_id in ("py-kill", "sh-kill"):
        final = master.final(task_id)
        assert final.state == TaskState.TASK_KILLED and final.reason == Reason.REASON_TASK_KILLED_BY_USER
    master.wait(lambda: pid_gone(py_child) and pid_gone(sh_child), timeout=5, what="the tasks' children to die")


def test_a_stopping_agent_says_goodbye_before_it_waits_for_its_tasks_to_die(tmp_path):
    """A cluster that stops waits a few seconds for its agents; a goodbye sent after the kills could miss the master."""
    master = FakeMaster()
    agent = Agent(master, tmp_path)
    try:
        master.wait(lambda: master.registrations, what="registration")
        master.run(shell_task("stubborn", f"trap '' TERM; echo $$ > {tmp_path / 'sh.pid'}; sleep 1000 & wait"))
        shell = read_pid(tmp_path / "sh.pid")
        master.wait_state("stubborn", TaskState.TASK_RUNNING)
        agent.terminate()
        master.wait(lambda: master.of(m.UnregisterAgent), timeout=10, what="the goodbye")
        assert not pid_gone(shell), "the goodbye came only after the task ignoring SIGTERM was killed"
    finally:
        assert agent.stop() == 0
        master.close()
    assert pid_gone(shell)


def test_bad_input_never_takes_the_agent_down(shared):
    master, _ = shared
    not_a_task = TaskInfo(task_id="no-code", resources=SMALL, command="true")
    not_a_task.command = None  # as a buggy driver might send it
    master.send(
        m.RunTasks("fw-1", [not_a_task, "garbage"]),  # type: ignore[list-item]
        m.RunTasks(None, []),  # type: ignore[arg-type]
        m.KillTaskOnAgent("no-such-framework", "ghost"),
        m.FrameworkToExecutor("no-such-framework", "agent-1", "hello?"),
        m.FrameworkRegistered("fw-1", "master"),  # a message an agent never gets
        "not even a message",
    )
    invalid = master.final("no-code")
    assert invalid.state == TaskState.TASK_ERROR and invalid.reason == Reason.REASON_TASK_INVALID
    lost = master.final("ghost", framework_id="no-such-framework")
    assert lost.state == TaskState.TASK_LOST and "no task" in lost.message

    def fine():
        return 42

    master.run(python_task("after-garbage", fine))
    assert loads_value(master.final("after-garbage").data) == 42


def test_framework_messages_go_both_ways(shared):
    master, _ = shared

    def talk():
        import jmesos

        jmesos.executor.send_framework_message({"hello": "framework"})
        got = jmesos.executor.messages(timeout=10)
        return got

    master.run(python_task("talker", talk))
    sent = master.wait(lambda: master.of(m.ExecutorToFramework), what="a framework message")
    # passed on unopened: the framework's driver loads it
    assert loads_value(sent[-1].data) == {"hello": "framework"} and sent[-1].framework_id == "fw-1"
    assert sent[-1].agent_id == "agent-1"
    master.send(m.FrameworkToExecutor("fw-1", "agent-1", ["to", "the", "task"]))
    assert loads_value(master.final("talker").data) == [["to", "the", "task"]]


def test_shutdown_framework_kills_its_tasks_quietly(shared, tmp_path):
    master, _ = shared

    def sleep_forever(pid_file):
        import time

        with open(pid_file, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(1000)

    master.run(python_task("doomed-py", sleep_forever, str(tmp_path / "w.pid")), framework_id="fw-doomed")
    master.run(shell_task("doomed-sh", f"echo $$ > {tmp_path / 's.pid'}; exec sleep 1000"), framework_id="fw-doomed")
    worker, shell = read_pid(tmp_path / "w.pid"), read_pid(tmp_path / "s.pid")
    master.wait_state("doomed-py", TaskState.TASK_RUNNING, "fw-doomed")
    master.send(m.ShutdownFramework("fw-doomed"))
    master.wait(lambda: pid_gone(worker) and pid_gone(shell), timeout=5, what="the framework's processes to die")
    master.pump_for(0.3)
    assert not [s for s in master.updates("doomed-py", "fw-doomed") if s.state in TERMINAL]
    assert not [s for s in master.updates("doomed-sh", "fw-doomed") if s.state in TERMINAL]


@pytest.mark.skipif(not CGROUPS, reason="needs a writable cgroup memory controller")
def test_cgroups_stop_tasks_that_exceed_their_memory(shared):
    master, _ = shared
    _memory_hogs(master, "cg")


def _memory_hogs(master: FakeMaster, prefix: str) -> None:
    def hog():
        blocks = []
        for _ in range(64):
            blocks.append(bytearray(16 * 2**20))  # 1 GiB in 16 MiB steps, each one touched
        return len(blocks)

    tight = Resources(cpus=0.1, mem=32)
    hog_cmd = f"{sys.executable} -c 'x = [bytearray(16 * 2**20) for _ in range(64)]'"
    master.run(python_task(f"{prefix}-py-hog", hog, resources=tight), shell_task(f"{prefix}-sh-hog", hog_cmd, tight))
    for task_id in (f"{prefix}-py-hog", f"{prefix}-sh-hog"):
        final = master.final(task_id)
        assert final.state == TaskState.TASK_FAILED, final
        assert final.reason == Reason.REASON_CONTAINER_LIMITATION_MEMORY, final
        assert "mem=32" in final.message

    def small():
        return sum(range(1000))

    master.run(python_task(f"{prefix}-after-hog", small, resources=tight))
    assert loads_value(master.final(f"{prefix}-after-hog").data) == 499500


def test_rlimits_stop_tasks_that_exceed_their_memory(tmp_path):
    master = FakeMaster()
    agent = Agent(master, tmp_path, "--isolation", "rlimit")
    try:
        master.wait(lambda: master.registrations, what="registration")
        _memory_hogs(master, "rl")
    finally:
        assert agent.stop() == 0
        master.close()


def test_updates_are_resent_until_acknowledged(tmp_path):
    acked: set[str] = set()
    master = FakeMaster(ack=lambda status: status.task_id in acked)
    agent = Agent(master, tmp_path, "--status-retry-interval", "0.2")
    try:
        master.wait(lambda: master.registrations, what="registration")
        master.run(shell_task("unacked", "true"))
        master.final("unacked")
        first = {s.uuid: s.state for s in master.updates("unacked")}
        assert len(first) == 3
        master.wait(lambda: len(master.updates("unacked")) >= 6, timeout=5, what="resent updates")
        resent = master.updates("unacked")
        assert {s.uuid for s in resent} == set(first)
        for uuid, state in first.items():  # each resent with its own uuid and state, in order per task
            assert all(s.state == state for s in resent if s.uuid == uuid)
        assert [s.state for s in resent][:3] == [
            TaskState.TASK_STARTING,
            TaskState.TASK_RUNNING,
            TaskState.TASK_FINISHED,
        ]
        acked.add("unacked")
        for status in resent:
            master.acknowledge(status)
        master.pump_for(0.1)
        count = len(master.updates("unacked"))
        master.pump_for(2.0)  # longer than the longest backoff (8 x 0.2 s)
        assert len(master.updates("unacked")) == count
    finally:
        assert agent.stop() == 0
        master.close()


def test_a_big_result_is_given_time_to_travel_before_it_is_resent(tmp_path):
    """Resent every retry interval, a 100 MB result queued copy after copy while the first was still on its way."""
    master = FakeMaster(ack=lambda status: False)
    agent = Agent(master, tmp_path, "--status-retry-interval", "0.2")
    try:
        master.wait(lambda: master.registrations, what="registration")
        roomy = Resources(cpus=0.1, mem=512)
        master.run(python_task("big", bytes, 30 * 2**20, resources=roomy), python_task("small", bytes, 10))
        for task_id in ("big", "small"):
            assert master.final(task_id).state == TaskState.TASK_FINISHED
        sent = time.monotonic()
        master.wait(lambda: len(master.updates("small")) >= 6, timeout=5, what="the small result resent")
        master.pump_for(max(0.0, 1.5 - (time.monotonic() - sent)))
        # 30 MB at RETRY_BYTES_PER_SECOND (10 MB/s) waits 3 s more than the retry interval
        assert [s.state for s in master.updates("big")].count(TaskState.TASK_FINISHED) == 1
    finally:
        assert agent.stop() == 0
        master.close()


def test_reconnecting_reregisters_and_resends_what_is_unacknowledged(tmp_path):
    acked: set[str] = set()
    master = FakeMaster(ack=lambda status: status.task_id in acked)
    agent = Agent(master, tmp_path, "--status-retry-interval", "30")
    try:
        master.wait(lambda: master.registrations, what="registration")

        def nap():
            import time

            time.sleep(0.5)
            return "rested"

        master.run(shell_task("before", "true"), python_task("across", nap))
        master.final("before")
        master.wait_state("across", TaskState.TASK_RUNNING)
        unacked = {s.uuid for s in master.updates("before")}
        master.hold_registration = True  # the master is back but slow to answer: updates must wait
        master.hub.close(master.channel)
        master.wait(lambda: len(master.registrations) == 2, what="re-registration")
        again = master.registrations[1]
        assert again.info.id == "agent-1"
        assert [s.task_id for s in again.running] == ["across"]
        master.pump_for(0.7)  # "across" finishes while the agent is not registered
        assert not [s for s in master.updates("across") if s.state == TaskState.TASK_FINISHED]
        count = len(master.updates("before"))
        master.register()
        master.hub.flush()
        master.wait(lambda: len(master.updates("before")) >= count + 3, timeout=3, what="resent updates")
        assert unacked <= {s.uuid for s in master.updates("before")[count:]}
        assert loads_value(master.final("across").data) == "rested"
    finally:
        assert agent.stop() == 0
        master.close()


def test_a_new_agent_id_makes_the_old_tasks_orphans(tmp_path):
    master = FakeMaster()
    agent = Agent(master, tmp_path)
    try:
        master.wait(lambda: master.registrations, what="registration")

        def sleep_forever(pid_file):
            import time

            with open(pid_file, "w") as f:
                f.write(str(os.getpid()))
            time.sleep(1000)

        master.run(python_task("orphan", sleep_forever, str(tmp_path / "o.pid")))
        worker = read_pid(tmp_path / "o.pid")
        master.wait_state("orphan", TaskState.TASK_RUNNING)
        master.agent_id = "agent-2"  # the master forgot us
        master.hub.close(master.channel)
        master.wait(lambda: pid_gone(worker), timeout=5, what="the orphan to be killed")
        assert "registered as agent-2" in (tmp_path / "agent.out").read_text()
        master.pump_for(0.2)
        assert not [s for s in master.updates("orphan") if s.state in TERMINAL]

        def fine():
            return "new life"

        master.run(python_task("reborn", fine))
        final = master.final("reborn")
        assert final.agent_id == "agent-2" and loads_value(final.data) == "new life"
    finally:
        assert agent.stop() == 0
        master.close()


def test_sigterm_kills_everything_and_unregisters(tmp_path):
    master = FakeMaster()
    agent = Agent(master, tmp_path)
    master.wait(lambda: master.registrations, what="registration")
    master.run(shell_task("bg", "sleep 1000 & sleep 1000 & wait"), python_task("fg", time.sleep, 1000))
    master.wait_state("bg", TaskState.TASK_RUNNING)
    master.wait_state("fg", TaskState.TASK_RUNNING)
    paths = containers.agent_cgroup_paths(agent.pid)
    agent.terminate()
    master.wait(lambda: master.of(m.UnregisterAgent), timeout=5, what="UnregisterAgent")
    assert agent.stop() == 0  # checks that no process or cgroup is left
    assert not any(os.path.exists(p) for p in paths)
    master.close()


@pytest.mark.skipif(not CGROUPS, reason="needs writable cgroups")
def test_a_sigkilled_agent_leaves_nothing_that_cleanup_agent_cgroups_misses(tmp_path):
    master = FakeMaster()
    agent = Agent(master, tmp_path)
    master.wait(lambda: master.registrations, what="registration")

    def sleep_forever(pid_file):
        import time

        with open(pid_file, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(1000)

    master.run(
        python_task("py", sleep_forever, str(tmp_path / "w.pid")),
        shell_task("sh", f"setsid sleep 1000 & echo $! > {tmp_path / 'g.pid'}; echo $$ > {tmp_path / 's.pid'}; wait"),
    )
    worker, shell, grandchild = (read_pid(tmp_path / name) for name in ("w.pid", "s.pid", "g.pid"))
    master.wait_state("sh", TaskState.TASK_RUNNING)
    agent.proc.kill()
    agent.proc.wait(5)
    # the worker and the shell die with the agent (parent-death signal) ...
    master.wait(lambda: pid_gone(worker) and pid_gone(shell), timeout=5, what="the agent's children to die")
    # ... but a grandchild in its own session escapes them; it is still in the agent's cgroup
    assert not pid_gone(grandchild)
    assert containers.cleanup_agent_cgroups(agent.pid)
    master.wait(lambda: pid_gone(grandchild), timeout=5, what="the grandchild to be killed")
    agent.stop()  # no process, no cgroup left
    master.close()


def test_a_wrong_secret_is_refused(tmp_path):
    master = FakeMaster()
    agent = Agent(master, tmp_path, secret=b"not-the-cluster-secret")
    try:
        master.wait(lambda: master.refused, timeout=10, what="the refusal")
        assert agent.proc.wait(10) == 2
        assert "secret" in agent.log.read_text()
        assert not master.registrations
    finally:
        agent.stop()
        master.close()


@pytest.mark.parametrize(
    "options, words",
    [
        (("--master-timeout", "1"), "has been unreachable for 1s"),
        # told the master never restarts: its port closed, so connections are refused, and the
        # agent leaves long before its 60 s master timeout
        (("--master-timeout", "60", "--master-refused-timeout", "1"), "nothing listens at the master's address"),
    ],
    ids=["unreachable", "refused"],
)
def test_the_agent_gives_up_when_the_master_stays_away(tmp_path, options, words):
    master = FakeMaster()
    agent = Agent(master, tmp_path, *options)
    master.wait(lambda: master.registrations, what="registration")
    master.close()  # the master is gone for good
    assert agent.proc.wait(15) == 1
    assert words in agent.log.read_text()
    agent.stop()


def test_a_bad_refused_timeout_names_the_option(tmp_path):
    master = FakeMaster()
    agent = Agent(master, tmp_path, "--master-refused-timeout", "0")
    try:
        assert agent.proc.wait(15) == 2
        assert "--master-refused-timeout '0' must be a positive number of seconds" in agent.log.read_text()
        assert not master.registrations
    finally:
        agent.stop()
        master.close()


def _forked_agent(address, work_dir, report) -> None:
    run_agent(address, SECRET, Resources(cpus=1, mem=256), work_dir=work_dir, on_registered=report.put)


def test_run_agent_in_a_forked_child_reports_its_id(tmp_path):
    master = FakeMaster(agent_id="agent-7")
    context = multiprocessing.get_context("fork")
    report = context.SimpleQueue()
    child = context.Process(target=_forked_agent, args=(master.address, str(tmp_path), report))
    child.start()
    try:
        master.wait(lambda: master.registrations, what="registration")
        master.wait(lambda: not report.empty(), what="on_registered")
        assert report.get() == "agent-7"
    finally:
        os.kill(child.pid, signal.SIGTERM)
        child.join(10)
        assert child.exitcode == 0
        assert_no_leftovers(child.pid, tmp_path)
        master.close()


# ================================================================================== pieces
def test_sandbox_paths_stay_inside_the_work_dir():
    assert sandbox_path("/w", "agent-1", "fw-1", "task-1") == "/w/agent-1/fw-1/task-1"
    for evil in ("../../etc", "..", ".", "a/b", "", "x" * 400, "spaces and ünïcode"):
        path = sandbox_path("/w", "agent-1", "fw-1", evil)
        assert os.path.dirname(path) == "/w/agent-1/fw-1" and len(os.path.basename(path)) <= 200
    assert sandbox_path("/w", "a", "f", "a/b") != sandbox_path("/w", "a", "f", "a_b")


def test_the_rlimit_container_limits_address_space_in_a_child():
    container = containers.make_isolator("rlimit").container()
    container.set_limits(64, 1)
    code = textwrap.dedent(
        """
        import resource, sys
        from jmesos.runtime import containers
        c = containers.RlimitContainer("x"); c.set_limits(64, 1); c.apply_rlimits(0)
        try:
            bytearray(512 * 2**20)
        except MemoryError:
            sys.exit(7)
        """
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 7


def test_cgroups_isolation_where_impossible_says_why(monkeypatch):
    monkeypatch.setattr(containers, "_try_v1", lambda cpu_quota: None)
    monkeypatch.setattr(containers, "_try_v2", lambda cpu_quota: None)
    with pytest.raises(RuntimeError, match="isolation='cgroups'.*'rlimit'"):
        containers.make_isolator("cgroups")
    assert containers.make_isolator("auto").kind == "rlimit"
    with pytest.raises(ValueError, match="isolation="):
        containers.make_isolator("docker")


@pytest.mark.skipif(not CGROUPS, reason="needs writable cgroups")
def test_kill_cgroup_tree_kills_what_is_inside_and_removes_it():
    isolator = containers.make_isolator("cgroups")
    try:
        container = isolator.container("t")
        container.set_limits(64, 0.5)
        proc = subprocess.Popen(["sh", "-c", "read go; sleep 1000 & sleep 1000 & wait"], stdin=subprocess.PIPE)
        container.add(proc.pid)  # before it starts its children, which then are born inside
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        deadline = time.monotonic() + 5
        while len(container.pids()) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(container.pids()) == 3
        assert containers.kill_cgroup_tree(container.paths[0])
        proc.wait(5)
        assert not os.path.exists(container.paths[0])
    finally:
        isolator.cleanup()
    assert not any(os.path.exists(p) for p in isolator.roots.values())
