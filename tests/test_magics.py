"""The ``%mesos`` magics, driven through a real IPython shell with captured output.

Most tests point the magics at a stand-in cluster whose event log is the
sample run (``%mesos use``), so the tables are checked on known data without
starting processes.  One test starts a real cluster with ``%mesos start`` and
goes through the student's path: run a framework, read the tables, run a cell
as a task, kill an agent, stop; it checks that no process is left behind.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.testing.globalipapp import start_ipython
from IPython.utils.capture import capture_output

from jmesos.core.events import EventLog
from jmesos.widgets.sample import sample_events


class FakeCluster:
    """Just enough of LocalCluster for the read-only subcommands."""

    def __init__(self) -> None:
        self.events = EventLog(events=sample_events(seed=0))
        self.address = ("127.0.0.1", 5050)
        self.policy = "drf"
        self.running = True
        self.over: str | None = None
        self.killed: list[str] = []
        self.tasks_killed: list[str] = []

    def run_async(self, *a: Any, **k: Any) -> None:  # marks it as a cluster for %mesos use
        raise AssertionError("not used")

    @property
    def exited_agents(self) -> list[str]:
        return list(self.killed)

    def kill_agent(self, agent_id: str) -> None:
        if agent_id != "agent-1":
            raise ValueError(f"agent_id={agent_id!r} is not an agent of this cluster; use one of ['agent-1']")
        self.killed.append(agent_id)

    def kill_task(self, task_id: str, framework_id: str | None = None) -> None:
        self.tasks_killed.append(task_id)

    def logs(self, task_id: str, stream: str = "stdout", framework_id: str | None = None) -> str:
        return f"{stream} of {task_id}\n" if task_id != "quiet" else ""


@pytest.fixture(scope="module")
def ip():
    shell = start_ipython()
    shell.run_line_magic("load_ext", "jmesos")
    yield shell
    shell.run_line_magic("unload_ext", "jmesos")


@pytest.fixture
def fake(ip):
    cluster = FakeCluster()
    ip.user_ns["fake_cluster"] = cluster
    run(ip, "use fake_cluster")
    yield cluster
    ip.magics_manager.registry["MesosMagics"].cluster = None


def run(ip, line: str, cell: str | None = None):
    """Run ``%mesos line`` (or ``%%mesos line`` with ``cell``); returns (result, captured)."""
    with capture_output() as captured:
        if cell is None:
            result = ip.run_line_magic("mesos", line)
        else:
            result = ip.run_cell_magic("mesos", line, cell)
    return result, captured


def one_line_error(ip, line: str, cell: str | None = None) -> str:
    with pytest.raises(UsageError) as info:
        run(ip, line, cell)
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text, text
    return text


def test_help_lists_every_subcommand_and_each_has_its_own(ip) -> None:
    _, out = run(ip, "")
    for sub in (
        "start",
        "stop",
        "status",
        "agents",
        "frameworks",
        "tasks",
        "offers",
        "add-agent",
        "kill-agent",
        "kill-task",
        "logs",
        "events",
        "save-events",
        "run",
        "replay",
        "task",
    ):
        assert f"  {sub} " in out.stdout, sub
    _, out = run(ip, "help start")
    assert "%mesos start" in out.stdout and "--agents" in out.stdout and "--policy" in out.stdout
    _, out = run(ip, "start --help")
    assert "--seed" in out.stdout
    # %mesos? shows the docstring, which documents every subcommand's options
    doc = ip.find_line_magic("mesos").__doc__
    assert "--offer-timeout" in doc and "%%mesos task" in doc and "--last" in doc


def test_defaults_are_config_traits(ip) -> None:
    magics = ip.magics_manager.registry["MesosMagics"]
    assert magics in ip.configurables
    ip.run_line_magic("config", "MesosMagics.agents = 7")
    assert magics.agents == 7
    with capture_output() as out:
        ip.run_line_magic("config", "MesosMagics")
    assert "MesosMagics.policy" in out.stdout and "MesosMagics.agents" in out.stdout
    ip.run_line_magic("config", "MesosMagics.agents = 4")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("agents", "no cluster yet; start one with %mesos start"),
        ("bogus", "unknown subcommand 'bogus'; %mesos help"),
        ("kill agent-1", "unknown subcommand 'kill' (did you mean kill-agent or kill-task?)"),
        ("event", "(did you mean events?)"),
        ("start --agents many", "--agents 4"),
        ("tasks --last 0", "--last"),
        ("kill-agent", "the following arguments are required: agent_id"),
        ("start --frobnicate", "unrecognized arguments: --frobnicate"),
        ("task", "%%mesos task"),
        ("START", "unknown subcommand 'START' (did you mean start"),
        ("Agents", "(did you mean agents"),
    ],
)
def test_mistakes_are_one_line_with_the_fix(ip, line: str, expected: str) -> None:
    assert expected in one_line_error(ip, line)


def test_cell_magic_needs_the_task_subcommand(ip) -> None:
    text = one_line_error(ip, "agents", cell="print(1)")
    assert "%%mesos task [--cpus C] [--mem M] [--agent ID] [--timeout S]" in text


@pytest.mark.parametrize("line", ["help start", "start -h", "start --help", "-h start", "help kill-agent"])
def test_help_has_no_rest_markup(ip, line: str) -> None:
    _, out = run(ip, line)
    first = out.stdout.splitlines()[0]
    assert first.startswith("%mesos "), out.stdout
    assert "::" not in out.stdout
    doc = ip.find_line_magic("mesos").__doc__
    assert "\n::" not in doc


@pytest.mark.parametrize(("line", "cell"), [("help task", None), ("task -h", "1")])
def test_help_of_the_cell_magic_shows_how_to_type_it(ip, line: str, cell: str | None) -> None:
    _, out = run(ip, line, cell)
    assert out.stdout.startswith("%%mesos task [--cpus CPUS]"), out.stdout
    assert "--timeout" in out.stdout


@pytest.mark.parametrize(
    ("name", "why"),
    [("print", "builtin print()"), ("list", "builtin list()"), ("class", "keyword"), ("match", "keyword")],
)
def test_start_refuses_to_hide_a_builtin_or_keyword(ip, name: str, why: str, no_leaks) -> None:
    magics = ip.magics_manager.registry["MesosMagics"]
    try:
        text = one_line_error(ip, f"start --agents 0 --no-dashboard --as {name}")
        assert f"--as {name!r}" in text and why in text and "--as cluster" in text
        assert magics.cluster is None, "refused before any process starts"
    finally:
        if magics.cluster is not None:
            magics.cluster.stop()
            magics.cluster = None


@pytest.fixture
def notebook_formats(ip):
    """Ask the shell for rich formats too, as a notebook kernel does (a terminal asks for text only)."""
    before = list(ip.display_formatter.active_types)
    ip.display_formatter.active_types = [*before, "text/html"]
    yield
    ip.display_formatter.active_types = before


def test_tables_are_plain_text_in_a_terminal(ip, fake) -> None:
    _, out = run(ip, "agents")
    (table,) = out.outputs
    assert set(table.data) == {"text/plain"}
    assert table.data["text/plain"].splitlines()[0] == "agents (4)"


def test_tables_read_the_event_log(ip, fake, notebook_formats) -> None:
    _, out = run(ip, "agents")
    (table,) = out.outputs
    assert {"text/plain", "text/html"} <= set(table.data)
    text = table.data["text/plain"]
    assert "agent-2" in text and "dead" in text and "missed 3 health checks" in text
    assert "<table" in table.data["text/html"] and "color:#d62728" in table.data["text/html"]

    _, out = run(ip, "frameworks")
    text = out.outputs[0].data["text/plain"]
    assert "analytics" in text and "web-batch" in text and "% of" in text  # locality column

    _, out = run(ip, "tasks --last 5 --framework analytics")
    text = out.outputs[0].data["text/plain"]
    assert "showing 5 of" in text and "web-batch-" not in text

    _, out = run(ip, "tasks --state failed")
    assert "TASK_FAILED" in out.outputs[0].data["text/plain"]

    _, out = run(ip, "offers --last 3")
    text = out.outputs[0].data["text/plain"]
    assert "why (allocator)" in text and "lowest dominant share" in text

    _, out = run(ip, "events --last 4 --kind agent_removed")
    assert "agent_removed" in out.outputs[0].data["text/plain"]
    assert "kinds in the log" in one_line_error(ip, "events --kind nope")

    _, out = run(ip, "status")
    assert "3 agents alive, 1 dead, 2 frameworks" in out.stdout


@pytest.mark.parametrize("state", ["failed", "FAILED", "TASK_FAILED", "task_failed"])
def test_tasks_state_takes_any_spelling_of_a_state(ip, fake, state: str) -> None:
    _, out = run(ip, f"tasks --state {state}")
    text = out.outputs[0].data["text/plain"]
    assert text.startswith("tasks (7)") and "TASK_FAILED" in text and "TASK_RUNNING" not in text


def test_tasks_filters_that_match_nothing_say_so(ip, fake) -> None:
    text = one_line_error(ip, "tasks --state bogus")
    assert text.startswith("--state 'bogus' is not a task state; use one of TASK_STAGING, ") and "TASK_FAILED" in text
    text = one_line_error(ip, "tasks --framework nope")
    assert "--framework 'nope' is not a framework of this cluster" in text
    assert "analytics" in text and "web-batch" in text
    _, out = run(ip, "tasks --framework web-batch --state running")
    text = out.outputs[0].data["text/plain"]
    assert "web-batch-" in text and "analytics-" not in text and "TASK_FINISHED" not in text


def test_kill_task_of_an_ended_task_says_so(ip, fake) -> None:
    assert one_line_error(ip, "kill-task web-batch-t4").startswith("web-batch-t4 has already ended (TASK_FAILED)")
    assert fake.tasks_killed == []
    _, out = run(ip, "kill-task analytics-t54")
    assert fake.tasks_killed == ["analytics-t54"] and "asked to kill analytics-t54" in out.stdout


def test_save_events_to_a_directory_names_the_fix(ip, fake, tmp_path) -> None:
    text = one_line_error(ip, f"save-events {tmp_path}")
    assert f"{str(tmp_path)!r} is a directory" in text and ".jsonl" in text and "Errno" not in text
    text = one_line_error(ip, f"save-events {tmp_path / 'no' / 'such' / 'dir.jsonl'}")
    assert "cannot save the events to" in text and ".jsonl" in text


def test_events_table_shows_what_tells_rows_apart_first(ip, fake) -> None:
    _, out = run(ip, "events --kind task_state --last 3")
    rows = out.outputs[0].data["text/plain"].splitlines()[3:]
    assert len(rows) == 3
    for row in rows:
        data = row.split("  ")[-1].strip()
        assert data.startswith('{"state":"TASK_'), row


def test_a_cluster_whose_master_died_is_over_not_alive(ip, fake) -> None:
    fake.running, fake.over = False, "its master process was killed by SIGKILL"
    _, out = run(ip, "agents")
    (table,) = out.outputs
    rows = table.data["text/plain"].splitlines()
    assert not [r for r in rows if " alive " in r], rows
    assert "cluster ended" in rows[3] and "this cluster is over: its master process was killed" in rows[-1]
    _, out = run(ip, "status")
    assert "3 agents alive when it ended, 1 dead" in out.stdout
    text = one_line_error(ip, "task", cell="1")
    assert text == "this cluster is over: its master process was killed by SIGKILL; start a new one with %mesos start"
    fake.over = None
    assert "this cluster is stopped; start a new one with %mesos start" in one_line_error(ip, "task", cell="1")


@pytest.mark.parametrize("cell", ["%time 1 + 1", "x = 1\n!ls", "  %matplotlib inline"])
def test_a_cell_with_ipython_syntax_gets_a_hint(ip, fake, cell: str) -> None:
    text = one_line_error(ip, "task", cell=cell)
    assert "syntax error" in text and "plain Python on an agent" in text
    assert "plain Python" not in one_line_error(ip, "task", cell="x = (")


def test_actions_call_the_public_api(ip, fake, tmp_path) -> None:
    _, out = run(ip, "kill-agent agent-1")
    assert fake.killed == ["agent-1"] and "killed agent-1" in out.stdout
    assert "is not an agent of this cluster" in one_line_error(ip, "kill-agent agent-9")
    _, out = run(ip, "logs t1")
    assert out.stdout == "stdout of t1\n"
    _, out = run(ip, "logs t1 --stderr")
    assert out.stdout == "stderr of t1\n"
    _, out = run(ip, "logs quiet")
    assert "printed nothing" in out.stdout
    path = tmp_path / "run.jsonl"
    _, out = run(ip, f"save-events {path}")
    assert path.exists() and "replay with %mesos replay" in out.stdout
    assert len(EventLog.load(path)) == len(fake.events)
    assert "not a framework" in one_line_error(ip, "run 42")
    assert "could not evaluate" in one_line_error(ip, "run NoSuchThing()")


def test_status_names_a_killed_agent_the_master_has_not_noticed_yet(ip, fake) -> None:
    """The master counts a killed agent alive until its health checks fail: status says so, not just 'alive'."""
    run(ip, "kill-agent agent-1")
    _, out = run(ip, "status")
    assert (
        "3 agents alive (agent-1 of them killed; the master notices when its health checks fail), 1 dead" in out.stdout
    )
    fake.running = False  # once the cluster ended, nothing more will be noticed
    _, out = run(ip, "status")
    assert "killed" not in out.stdout


def test_a_failure_keeps_its_details_where_bad_input_is_one_line(ip, fake, monkeypatch) -> None:
    """An agent that did not start says why in its log's last lines: the magic showed only the first line."""

    def fails(agent_id: str) -> None:
        raise RuntimeError("engine 0: its agent exited. Its log ends:\n  OSError: [Errno 98] address in use")

    monkeypatch.setattr(fake, "kill_agent", fails)
    with pytest.raises(UsageError) as info:
        run(ip, "kill-agent agent-1")
    assert str(info.value) == "engine 0: its agent exited. Its log ends:\n  OSError: [Errno 98] address in use"
    monkeypatch.setattr(fake, "kill_agent", lambda agent_id: (_ for _ in ()).throw(RuntimeError("x\n" * 40)))
    with pytest.raises(UsageError) as info:
        run(ip, "kill-agent agent-1")
    assert str(info.value).splitlines()[-1] == "... (15 more lines)"


def test_add_agent_on_engines_refuses_the_attribute_it_sets_itself(ip, fake) -> None:
    text = one_line_error(ip, "add-agent --engines --attr engine=3")
    assert text == "--attr engine=... is set by --engines to each agent's engine id; choose another name"


def test_reload_keeps_the_cluster(ip, fake) -> None:
    ip.run_line_magic("reload_ext", "jmesos")
    _, out = run(ip, "status")
    assert "3 agents alive, 1 dead" in out.stdout
    assert len([c for c in ip.configurables if type(c).__name__ == "MesosMagics"]) == 1


SCHEDULER = '''
import jmesos

class Squares(jmesos.Scheduler):
    """Runs n tiny Python tasks, one cpu each, then stops."""

    def __init__(self, n=4):
        self.n, self.launched, self.results = n, 0, {}

    def resource_offers(self, driver, offers):
        need = jmesos.Resources(cpus=1, mem=32)
        for offer in offers:
            tasks, left = [], offer.resources
            while self.launched < self.n and need <= left:
                self.launched += 1
                tasks.append(jmesos.TaskInfo(name=f"sq-{self.launched}", resources=need, fn=pow, args=(self.launched, 2)))
                left = left - need
            driver.launch_tasks([offer.id], tasks)

    def status_update(self, driver, status):
        if status.is_terminal:
            self.results[status.task_id] = (str(status.state), status.data)
            if len(self.results) == self.n:
                driver.stop()
'''


@pytest.mark.timeout(180)
def test_a_student_session_on_a_real_cluster(ip, no_leaks) -> None:
    _, out = run(ip, "start --agents 2 --cpus 2 --mem 256 --no-dashboard --as mcluster")
    assert "2 agents × cpus:2;mem:256MiB; policy drf" in out.stdout
    cluster = ip.user_ns["mcluster"]
    try:
        assert "already running" in one_line_error(ip, "start")
        ip.run_cell(SCHEDULER)
        handle, out = run(ip, "run Squares --name squares")
        assert "registered as 'squares'" in out.stdout
        handle.wait(60)
        results = handle.scheduler.results
        assert sorted(results) == ["sq-1", "sq-2", "sq-3", "sq-4"]

        _, out = run(ip, "frameworks")
        assert "squares" in out.outputs[0].data["text/plain"]
        _, out = run(ip, "tasks")
        assert "sq-4" in out.outputs[0].data["text/plain"]

        result, out = run(ip, "task --cpus 1 --mem 64MiB", "import sys\nprint('hello from the agent')\nsum(range(10))")
        assert result == 45 and "hello from the agent" in out.stdout
        _, out = run(ip, "logs cell-1")
        assert "hello from the agent" in out.stdout
        with capture_output() as out, pytest.raises(UsageError) as info:
            ip.run_cell_magic("mesos", "task", "1 / 0")
        assert "ended TASK_FAILED" in str(info.value) and "\n" not in str(info.value)
        assert "ZeroDivisionError" in out.stderr, "the cell's own traceback is shown"
        assert "_cell.py" not in out.stderr, "jmesos's own frames are hidden: the traceback starts at the cell"
        assert '<%%mesos task cell-2>", line 1' in out.stderr, out.stderr
        # the agent has no copy of notebook code: the kernel puts the cell's and the function's lines back
        ip.run_cell("def ratio(a, b):\n    return a / b")
        with capture_output() as out, pytest.raises(UsageError):
            ip.run_cell_magic("mesos", "task", "x = 1\nratio(x, 0)")
        lines = out.stderr.splitlines()
        at_cell = next(i for i, line in enumerate(lines) if '<%%mesos task cell-3>", line 2' in line)
        assert lines[at_cell + 1].strip() == "ratio(x, 0)", out.stderr
        at_function = next(i for i, line in enumerate(lines) if "line 2, in ratio" in line)
        assert lines[at_function + 1].strip() == "return a / b", out.stderr

        # the notebook variables a cell reads travel with it, as copies; what cannot travel is named
        ip.run_cell("base = 40\ndef bump(v):\n    return v + step\nstep = 2\nsquares = (i * i for i in range(3))")
        result, _ = run(ip, "task --cpus 1 --mem 64MiB", "before = base\nbase = bump(base)\n(before, base)")
        assert result == (40, 42)
        assert ip.user_ns["base"] == 40, "the cell changed its copy, not the notebook's variable"
        with capture_output() as out, pytest.raises(UsageError) as info:
            ip.run_cell_magic("mesos", "task", "sum(squares)")
        assert "squares was not sent to the agent" in out.stderr and "cannot be serialised" in out.stderr
        assert "NameError" in out.stderr and "ended TASK_FAILED" in str(info.value)

        _, out = run(ip, "add-agent --cpus 1 --mem 128")
        new_agent = out.stdout.split()[-1]
        assert new_agent.startswith("agent-")
        run(ip, f"kill-agent {new_agent}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            _, out = run(ip, "agents")
            if "dead" in out.outputs[0].data["text/plain"]:
                break
            time.sleep(0.5)
        assert f"{new_agent}" in out.outputs[0].data["text/plain"] and "dead" in out.outputs[0].data["text/plain"]
    finally:
        _, out = run(ip, "stop")
    assert "stopped" in out.stdout and not cluster.running
    _, out = run(ip, "agents")  # a stopped cluster's log can still be read
    assert "agent-1" in out.outputs[0].data["text/plain"]
    assert "is stopped" in one_line_error(ip, "kill-agent agent-1")
    _, out = run(ip, "stop")
    assert "already stopped" in out.stdout


@pytest.mark.timeout(120)
def test_start_host_opens_the_master_to_other_hosts(ip, no_leaks) -> None:
    import psutil

    # an address of no interface here: refused at once, with no name lookup to wait for
    assert "cannot listen on 10.255.255.1:0" in one_line_error(
        ip, "start --agents 1 --host 10.255.255.1 --no-dashboard"
    )
    _, out = run(ip, "start --agents 1 --host 0.0.0.0 --no-dashboard --as hcluster")
    cluster = ip.user_ns["hcluster"]
    try:
        host, port = cluster.address
        assert host == "0.0.0.0"
        assert out.stdout.startswith(f"jmesos cluster at 0.0.0.0:{port}: 1 agent × ")
        listening = [
            c.laddr
            for p in psutil.Process(cluster._proc.pid).children(recursive=True)
            for c in p.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        ]
        assert [a.ip for a in listening] == ["0.0.0.0"], "the master listens on every address, not loopback only"
        result, _ = run(ip, "task --cpus 0.5 --mem 32MiB", "6 * 7")
        assert result == 42
    finally:
        run(ip, "stop")
    assert not cluster.running


class _Interrupter:
    """Sends this process a SIGINT, as a kernel interrupt does, once ``ready()`` holds, while ``armed``.

    The SIGINT handler only raises KeyboardInterrupt while a magic runs under ``armed``, so a late
    signal cannot break the test run.
    """

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.previous = signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self.armed.is_set():
            self.armed.clear()
            raise KeyboardInterrupt

    def run(self, ip, line: str, cell: str, ready) -> tuple[BaseException | None, Any]:
        """Run ``%%mesos line`` and interrupt it when ``ready()``; returns what it raised and its output."""

        def interrupt_when_ready() -> None:
            deadline = time.monotonic() + 30
            while self.armed.is_set() and time.monotonic() < deadline:
                try:
                    now = ready()
                except Exception:  # noqa: BLE001 - e.g. a log not there yet
                    now = False
                if now:
                    os.kill(os.getpid(), signal.SIGINT)
                    return
                time.sleep(0.05)

        raised = None
        self.armed.set()
        thread = threading.Thread(target=interrupt_when_ready, daemon=True)
        thread.start()
        with capture_output() as out:
            try:
                ip.run_cell_magic("mesos", line, cell)
            except BaseException as exc:  # noqa: BLE001 - a KeyboardInterrupt that got out is the failure to report
                raised = exc
        self.armed.clear()
        thread.join(5)
        return raised, out

    def close(self) -> None:
        signal.signal(signal.SIGINT, self.previous)


def _fast_error(ip, line: str, cell: str = "1", within: float = 5.0) -> str:
    started = time.monotonic()
    text = one_line_error(ip, line, cell)
    assert time.monotonic() - started < within, f"{line!r} took {time.monotonic() - started:.1f}s to fail"
    return text


@pytest.mark.timeout(180)
def test_task_cells_fail_fast_and_stop_cleanly_on_a_real_cluster(ip, no_leaks) -> None:
    import jmesos

    _, out = run(ip, "start --agents 2 --cpus 2 --mem 256 --no-dashboard --as fcluster")
    cluster = ip.user_ns["fcluster"]
    magics = ip.magics_manager.registry["MesosMagics"]

    def next_cell() -> str:
        return f"cell-{magics._cell_tasks + 1}"

    interrupter = _Interrupter()
    hog = None
    try:
        # a task no live agent can ever take is refused at once, not after --timeout
        text = _fast_error(ip, "task --agent agent-9 --timeout 60")
        assert text == "--agent 'agent-9' is not a live agent of this cluster; use one of ['agent-1', 'agent-2']"
        assert "(did you mean agent-2?)" in _fast_error(ip, "task --agent AGENT-2 --timeout 60")
        text = _fast_error(ip, "task --cpus 100 --timeout 60")
        assert text.startswith("no agent of this cluster has cpus:100 in all (the largest has cpus:2;mem:256MiB")
        assert text.endswith("ask for less or %mesos add-agent --cpus 100")
        assert "agent-1 has cpus:2;mem:256MiB" in _fast_error(ip, "task --mem 1GiB --agent agent-1 --timeout 60")

        # IPython-only names in a task cell get a hint
        with capture_output() as out, pytest.raises(UsageError) as info:
            ip.run_cell_magic("mesos", "task --mem 64MiB", "display(1)")
        assert "NameError" in out.stderr and "plain Python on an agent" in str(info.value)

        # an interrupt shows what the task printed so far, then one line: no KeyboardInterrupt traceback
        sleeper = next_cell()
        raised, out = interrupter.run(
            ip,
            "task --mem 64MiB",
            "import time\nprint('before sleep', flush=True)\ntime.sleep(60)",
            ready=lambda: "before sleep" in cluster.logs(sleeper),
        )
        assert isinstance(raised, UsageError), repr(raised)
        assert str(raised) in (f"interrupted: {sleeper} killed on agent-1", f"interrupted: {sleeper} killed on agent-2")
        assert out.stdout == "before sleep\n"
        ended = cluster.wait_for(
            lambda e: (
                e.kind == "task_state" and e.data.get("task_id") == sleeper and e.data.get("state") == "TASK_KILLED"
            ),
            timeout=20,
        )
        assert ended is not None
        assert _fast_error(ip, f"kill-task {sleeper}", None).startswith(f"{sleeper} has already ended (TASK_KILLED)")

        # ... and so does one while the cell still waits for an offer: here every cpu is held by another framework
        class Hog(jmesos.Scheduler):
            def __init__(self) -> None:
                self.launched = 0

            def resource_offers(self, driver, offers) -> None:
                for offer in offers:
                    if self.launched < 2 and offer.resources.cpus >= 2:
                        self.launched += 1
                        sleep = jmesos.TaskInfo(
                            name=f"hog-{self.launched}", resources="cpus:2;mem:32", fn=time.sleep, args=(60,)
                        )
                        driver.launch_tasks([offer.id], [sleep])
                    else:
                        driver.decline_offer(offer.id)

        hog = cluster.run_async(Hog(), name="hog")
        deadline = time.monotonic() + 20
        while hog.scheduler.launched < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hog.scheduler.launched == 2
        since, waiter = time.monotonic(), next_cell()
        raised, out = interrupter.run(ip, "task --mem 64MiB", "1", ready=lambda: time.monotonic() - since > 1.5)
        assert isinstance(raised, UsageError), repr(raised)
        assert str(raised) == f"interrupted: {waiter} given up while it waited for an offer of cpus:1;mem:64MiB"
        hog.stop()

        # a killed agent is no longer a choice
        run(ip, "kill-agent agent-1")
        text = _fast_error(ip, "task --agent agent-1 --timeout 60")
        assert text == "--agent 'agent-1' is not a live agent of this cluster; use one of ['agent-2']"

        # once the master died, the cluster is over: no agent is shown alive, and the cell says why
        os.kill(cluster.master_pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while cluster.running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not cluster.running
        _, out = run(ip, "agents")
        text = out.outputs[0].data["text/plain"]
        assert " alive " not in text and "this cluster is over: its master process" in text
        _, out = run(ip, "status")
        assert "alive when it ended" in out.stdout
        text = _fast_error(ip, "task")
        assert text.startswith("this cluster is over: its master process") and text.endswith("%mesos start")
        _, out = run(ip, "stop")
        assert out.stdout.startswith("this cluster is over: its master process was killed by SIGKILL (its tables")
    finally:
        interrupter.close()
        if hog is not None:
            hog.stop()
        run(ip, "stop")
    assert not cluster.running
