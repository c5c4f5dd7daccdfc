"""The widgets' Python side, without a browser: snapshots, tables, the throttled feed, the widget's traits.

The browser side is checked in ``test_widgets_browser.py``; here we check what
the kernel sends: that snapshots are bounded and correct, that the feed never
works on the event log's thread and pushes at most one message per view per
tick, and that views not being looked at are not computed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from jmesos.core.events import Event, EventLog
from jmesos.core.state import ClusterState
from jmesos.widgets import snapshot as snap
from jmesos.widgets import tables
from jmesos.widgets.feed import Feed, feed_for
from jmesos.widgets.sample import sample_events


@pytest.fixture(scope="module")
def state() -> ClusterState:
    return ClusterState().apply(sample_events(seed=0))


def test_every_view_snapshot_is_json_and_small(state: ClusterState) -> None:
    for view in snap.VIEWS:
        data = snap.snapshot(state, view)
        text = json.dumps(data, allow_nan=False)
        assert len(text) < 60_000, (view, len(text))
    with pytest.raises(ValueError, match="view='gantt' is not a view"):
        snap.snapshot(state, "gantt")


def test_cluster_graph_layout_and_a_dead_agent(state: ClusterState) -> None:
    d = snap.cluster_view(state)
    kinds = [n["kind"] for n in d["nodes"]]
    assert kinds.count("master") == 1 and kinds.count("framework") == 2 and kinds.count("agent") == 4
    agents = [n for n in d["nodes"] if n["kind"] == "agent"]
    assert [a["id"] for a in agents] == ["agent-1", "agent-2", "agent-3", "agent-4"], "agents keep their place"
    assert [a["y"] for a in agents] == sorted(a["y"] for a in agents), "top to bottom in id order"
    assert {a["x"] for a in agents} == {1.0} and all(n["x"] == 0.0 for n in d["nodes"] if n["kind"] == "framework")
    dead = [a for a in agents if not a["alive"]]
    assert [a["id"] for a in dead] == ["agent-2"] and "health checks" in dead[0]["reason"]
    for agent in agents:
        for bar in agent["bars"]:
            assert bar["used"] + bar["offered"] + bar["free"] == pytest.approx(bar["total"])
            assert sum(s["value"] for s in bar["segments"]) == pytest.approx(bar["used"])
    task_edges = [e for e in d["edges"] if e["kind"] == "tasks"]
    assert task_edges and all(e["s"] in ("analytics", "web-batch") for e in task_edges)


def test_cluster_graph_hides_agents_beyond_the_limit() -> None:
    big = ClusterState().apply(sample_events(agents=30, kill_agent_at=None, duration=3))
    d = snap.cluster_view(big, max_agents=12)
    assert sum(n["kind"] == "agent" for n in d["nodes"]) == 12 and d["hidden_agents"] == 18
    assert len({n["x"] for n in d["nodes"] if n["kind"] == "agent"}) == 2, "columns of six agents"


def test_offer_marks_cover_both_frameworks_and_every_outcome(state: ClusterState) -> None:
    d = snap.offers_view(state, window=1e9)
    assert {m["fw"] for m in d["marks"]} == {"analytics", "web-batch"}
    assert {m["o"] for m in d["marks"]} >= {"accepted", "declined", "timed_out"}
    assert all(m["e"] is None or m["e"] >= m["s"] for m in d["marks"])
    assert any("lowest dominant share" in m["why"] for m in d["marks"])
    small = snap.offers_view(state, window=5.0, max_marks=7)
    assert len(small["marks"]) <= 7 and small["t0"] == pytest.approx(small["t1"] - 5.0)


def test_tasks_gantt_lanes_never_overlap(state: ClusterState) -> None:
    d = snap.tasks_view(state, window=1e9)
    lanes: dict[tuple, list] = {}
    for t in d["tasks"]:
        lanes.setdefault((t["agent"], t["lane"]), []).append((t["s"], t["e"] if t["e"] is not None else float("inf")))
    for spans in lanes.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert {t["st"] for t in d["tasks"]} >= {"TASK_FINISHED", "TASK_FAILED", "TASK_LOST", "TASK_RUNNING"}
    assert len(snap.tasks_view(state, max_tasks=10)["tasks"]) == 10


def test_allocation_series_is_downsampled(state: ClusterState) -> None:
    d = snap.allocation_view(state, max_points=20)
    assert all(len(f["points"]) <= 20 for f in d["frameworks"]) and len(d["util"]["cpus"]) == 20
    assert d["util"]["cpus"][-1][0] == pytest.approx(state.series[-1].time - state.start)


def test_a_framework_that_left_ends_its_allocation_lines_at_zero() -> None:
    """Shares are sampled now and then; a framework that left holds nothing, whatever its last sample said."""
    import jmesos
    from jmesos.teaching import VirtualCluster
    from jmesos.teaching.workloads import Job, JobSpec

    vc = VirtualCluster(2, cpus=2, mem="2GiB", allocation_interval=0.2, task_seconds=0.35, quiet=True)
    vc.add_framework(Job(JobSpec("batch", jmesos.Resources(cpus=1, mem=256), [0.35] * 8)), name="batch")
    vc.run(until=20)
    state = ClusterState().apply(list(vc.events))
    (batch,) = snap.allocation_view(state)["frameworks"]
    assert batch["end"] is not None and max(share for _, share in batch["points"]) > 0
    assert batch["points"][-1] == [batch["end"], 0.0] and batch["with_offers"][-1] == [batch["end"], 0.0]


def test_locality_and_trace(state: ClusterState) -> None:
    loc = snap.locality_view(state)
    assert [r["id"] for r in loc["frameworks"]] == ["analytics"] and loc["without"] == ["web-batch"]
    assert 0 < loc["frameworks"][0]["pct"] < 100
    assert snap.locality_view(ClusterState())["frameworks"] == []
    trace = snap.trace_view(state, last=10)
    assert len(trace["messages"]) == 10 and trace["hidden"] > 0
    assert not any(m["type"] in ("Ping", "Pong") for m in trace["messages"])
    assert any(m["type"] == "Ping" for m in snap.trace_view(state, last=200, heartbeats=True)["messages"])
    order = [a["kind"] for a in trace["actors"]]
    assert order.index("master") > order.index("framework") and order.index("master") < order.index("agent")


def test_tables_and_static_html(state: ClusterState) -> None:
    agents = tables.agents_table(state)
    assert len(agents) == 4 and agents.to_dicts()[-1]["status"] == "dead"
    assert "agent-2" in tables.static_html(state) and "1 dead" in tables.static_html(state)
    with pytest.raises(ValueError, match=r"rows\[0\] has 1 cells for 2 columns"):
        tables.Table("t", ["a", "b"], [[1]])
    with pytest.raises(ValueError, match="last=0"):
        tables.tasks_table(state, last=0)


def test_an_agent_that_came_back_under_a_new_id_names_its_other_id_in_both_rows_and_cards() -> None:
    def added(t: float, agent_id: str, previous_id: str | None) -> Event:
        data = {"agent_id": agent_id, "hostname": "h1", "resources": {"cpus": 2, "mem": 1024}, "attributes": {}}
        return Event(t, "agent_added", agent_id, "", {**data, "previous_id": previous_id})

    state = ClusterState().apply(
        [
            added(0.0, "agent-1", None),
            Event(4.0, "agent_removed", "agent-1", "", {"agent_id": "agent-1", "reason": "missed 3 health checks"}),
            added(9.0, "agent-2", "agent-1"),
        ]
    )

    rows = {row["agent"]: row for row in tables.agents_table(state).to_dicts()}
    assert rows["agent-1"]["status"] == "dead"
    assert rows["agent-1"]["attributes / why"] == "missed 3 health checks; back as agent-2"
    assert rows["agent-2"]["status"] == "alive" and rows["agent-2"]["attributes / why"] == "was agent-1"
    cards = {n["id"]: n for n in snap.cluster_view(state)["nodes"] if n["kind"] == "agent"}
    assert (cards["agent-1"]["alive"], cards["agent-1"]["back_as"]) == (False, "agent-2")
    assert (cards["agent-2"]["alive"], cards["agent-2"]["previous_id"]) == (True, "agent-1")


def test_an_agent_that_shut_down_is_shown_as_left_not_dead_in_counts_rows_and_cards() -> None:
    def added(t: float, agent_id: str) -> Event:
        data = {"agent_id": agent_id, "hostname": "h1", "resources": {"cpus": 2, "mem": 1024}, "attributes": {}}
        return Event(t, "agent_added", agent_id, "", data)

    def removed(t: float, agent_id: str, reason: str, graceful: bool) -> Event:
        return Event(t, "agent_removed", agent_id, "", {"agent_id": agent_id, "reason": reason, "graceful": graceful})

    state = ClusterState().apply(
        [
            added(0.0, "agent-1"),
            added(0.0, "agent-2"),
            added(0.0, "agent-3"),
            removed(4.0, "agent-1", "missed 3 health checks", graceful=False),
            removed(9.0, "agent-2", "the agent shut down", graceful=True),
            # a log saved before the flag existed: removed means dead, as it was then shown
            Event(9.5, "agent_removed", "agent-3", "", {"agent_id": "agent-3", "reason": "missed 3 health checks"}),
        ]
    )

    summary = state.summary()
    assert (summary["agents"], summary["dead_agents"], summary["left_agents"]) == (0, 2, 1)
    rows = {row["agent"]: row for row in tables.agents_table(state).to_dicts()}
    assert [rows[a]["status"] for a in ("agent-1", "agent-2", "agent-3")] == ["dead", "shut down", "dead"]
    assert tables.gone_note(summary) == " (2 dead, 1 shut down)"
    page = tables.static_html(state)
    assert "2 dead</span>, 1 shut down)" in page and "shut down: the agent shut down" in page
    cards = {n["id"]: n for n in snap.cluster_view(state)["nodes"] if n["kind"] == "agent"}
    assert [(cards[a]["alive"], cards[a]["left"]) for a in ("agent-1", "agent-2")] == [(False, False), (False, True)]
    head = snap.header(state)
    assert (head["dead_agents"], head["left_agents"]) == (2, 1)


class CountingView:
    """Stands in for a widget: records each push and the thread it came on."""

    def __init__(self) -> None:
        self.pushes: list[tuple[int, str]] = []

    def _push(self, state: ClusterState) -> int:
        self.pushes.append((state.event_count, threading.current_thread().name))
        return 1


def test_feed_batches_off_the_producer_thread_and_stays_under_budget() -> None:
    log = EventLog()
    feed = Feed(log, interval=0.1)
    view = CountingView()
    feed.attach(view)
    events = sample_events(seed=4)
    producer_seconds = 0.0
    started = time.monotonic()
    for i in range(0, len(events), 5):  # ~200 small batches in ~1 s, like a busy cluster
        t = time.perf_counter()
        log.extend(events[i : i + 5])
        producer_seconds += time.perf_counter() - t
        time.sleep(0.005)
    time.sleep(0.35)
    elapsed = time.monotonic() - started
    feed.close()
    assert view.pushes[-1][0] == len(events), "every event reached the view"
    assert all(name == "jmesos-feed" for _, name in view.pushes), "views are driven by the feed's thread only"
    assert len(view.pushes) <= elapsed / 0.1 + 2, (len(view.pushes), elapsed)
    assert producer_seconds < 0.2, "the producer only appends"


def test_feed_budget_stretches_with_more_views() -> None:
    feed = Feed(EventLog(), interval=0.1, max_messages_per_second=10)
    views = [CountingView() for _ in range(4)]
    for v in views:
        feed.attach(v)
    assert feed.period() == pytest.approx(0.4)
    feed.close()


def test_feed_is_shared_per_log_and_lets_go_of_dead_views() -> None:
    log = EventLog()
    assert feed_for(log) is feed_for(log)
    feed = feed_for(log)
    view = CountingView()
    feed.attach(view)
    del view
    import gc

    gc.collect()
    assert feed.views == []
    feed.close()
    assert feed_for(log) is not feed


def test_dashboard_traits_lazy_views_and_one_message_per_tick(monkeypatch) -> None:
    from jmesos.widgets import Dashboard
    from jmesos.widgets import views as views_module

    # an idle kernel: no cell running (another test module may have left an IPython shell behind)
    monkeypatch.setattr(views_module, "_watch_cells", lambda: None)
    views_module._CELL_RUNNING.clear()
    log = EventLog()
    dash = Dashboard(log, interval=0.05)
    try:
        log.extend(sample_events(seed=0))
        deadline = time.monotonic() + 5
        while dash.header.get("events") != len(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dash.header["agents"] == 3 and dash.header["dead_agents"] == 1
        assert dash.cluster["nodes"], "the selected view is drawn"
        assert dash.offers == {} and dash.trace == {}, "views nobody looks at are not computed"
        dash.selected = "offers"  # what the front end does on a tab click
        assert {m["fw"] for m in dash.offers["marks"]} == {"analytics", "web-batch"}
        ticks, sent = dash._feed.ticks, dash.messages_sent
        time.sleep(0.3)
        assert dash.messages_sent - sent <= dash._feed.ticks - ticks, "at most one message per tick"
        bundle = dash._repr_mimebundle_()
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        assert {"application/vnd.jupyter.widget-view+json", "text/html", "text/plain"} <= set(data)
        assert "agent-2" in data["text/html"]
    finally:
        dash.close()


def test_while_a_cell_runs_the_views_not_selected_are_kept_fresh_too(monkeypatch) -> None:
    """A tab clicked while a cell runs reaches the kernel only when the cell ends: it must not say "Waiting" until then."""
    import IPython

    from jmesos.widgets import Dashboard
    from jmesos.widgets import views as views_module

    class Events:
        def __init__(self) -> None:
            self.callbacks: dict[str, list] = {}

        def register(self, name, fn) -> None:
            self.callbacks.setdefault(name, []).append(fn)

    shell = type("Shell", (), {"events": Events()})()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    monkeypatch.setattr(views_module, "_WATCHED", [])
    monkeypatch.setattr(views_module, "BUSY_REFRESH", 0.1)
    views_module._CELL_RUNNING.clear()
    log = EventLog()
    dash = Dashboard(log, interval=0.05)
    try:
        assert set(shell.events.callbacks) == {"pre_run_cell", "post_run_cell"}
        assert views_module._CELL_RUNNING.is_set(), "the cell that built the view is running"
        log.extend(sample_events(seed=0))
        deadline = time.monotonic() + 5
        while dash.header.get("events") != len(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # one busy refresh later
        assert {m["fw"] for m in dash.offers["marks"]} == {"analytics", "web-batch"}
        assert dash.allocation["frameworks"] and dash.trace["messages"] and dash.tasks["tasks"]
        for fn in shell.events.callbacks["post_run_cell"]:
            fn(None)
        assert not views_module._CELL_RUNNING.is_set()
        dash.offers = {}  # as if never drawn: an idle kernel computes only the selected view again
        log.append(
            Event(log[-1].time + 1, "agent_added", "agent-9", "", {"agent_id": "agent-9", "resources": {"cpus": 1}})
        )
        while dash.header.get("events") != len(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert dash.offers == {}, "idle: views nobody looks at are not computed"
        for fn in shell.events.callbacks["pre_run_cell"]:
            fn(None)
        assert views_module._CELL_RUNNING.is_set()
    finally:
        views_module._CELL_RUNNING.clear()
        dash.close()


def test_replay_slider_moves_time() -> None:
    from jmesos.widgets import Replay

    events = sample_events(seed=0)
    replay = Replay(events)
    assert replay.replay == {"t0": 0.0, "t1": pytest.approx(events[-1].time - events[0].time)}
    assert replay.header["dead_agents"] == 1
    replay.time = 5.0  # the front end's slider
    assert replay.header["time"] == 5.0 and replay.header["dead_agents"] == 0
    replay.seek(20.0)
    assert replay.header["dead_agents"] == 1
    with pytest.raises(ValueError, match="not a view"):
        Replay(events, views=["cluster", "pie"])


def test_bad_arguments_name_the_field(tmp_path) -> None:
    from jmesos.widgets import Dashboard, OffersView

    with pytest.raises(ValueError, match="window=0"):
        Dashboard(EventLog(), window=0)
    with pytest.raises(ValueError, match="height=10"):
        OffersView(EventLog(), height=10)
    with pytest.raises(TypeError, match="cannot show 42"):
        Dashboard(42)
    with pytest.raises(FileNotFoundError, match="no event log"):
        Dashboard(str(tmp_path / "missing.jsonl"))


def test_plotly_figures_of_a_finished_run() -> None:
    from jmesos.widgets.figures import allocation_figure, offers_figure, tasks_figure

    events = sample_events(seed=0)
    assert {t.name for t in allocation_figure(events).data} >= {"analytics", "web-batch", "cpus utilisation"}
    assert {t.name for t in offers_figure(EventLog(events=events)).data} >= {"accepted", "declined", "timed out"}
    assert type(tasks_figure(events, widget=True)).__name__ == "FigureWidget"


def test_outside_a_kernel_the_mimebundle_is_text_only() -> None:
    from jmesos.widgets import dashboard_mimebundle

    class Cluster:
        events = EventLog(events=[Event(0.0, "agent_added", data={"agent_id": "a", "resources": {"cpus": 1}})])

    assert set(dashboard_mimebundle(Cluster())) == {"text/plain"}


def test_import_jmesos_loads_no_widget_library() -> None:
    code = (
        "import sys, jmesos, jmesos.widgets, jmesos.core.state;"
        "bad = [m for m in ('ipywidgets', 'anywidget', 'plotly', 'IPython') if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
