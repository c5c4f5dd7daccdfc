"""Plotly figures of a run, for analysis after the fact (zoom, export, put in a report).

The live dashboard draws its own light SVG (one small message per update);
these build full plotly figures from the same snapshots, for when a student
wants to zoom into a finished run or save a figure for a write-up::

    from jmesos.widgets.figures import allocation_figure
    allocation_figure(cluster).show()              # or a saved log: allocation_figure("run.jsonl")
    allocation_figure(cluster, widget=True)        # a plotly FigureWidget

Pass ``widget=True`` for a ``go.FigureWidget`` (interactive in the notebook,
kept in sync by plotly) instead of a static ``go.Figure``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.events import EventLog
from ..core.state import ClusterState
from . import snapshot as snap
from ._source import _events_of

__all__ = ["allocation_figure", "offers_figure", "tasks_figure"]

_OUTCOME_NAMES = {
    "accepted": "accepted",
    "declined": "declined",
    "rescinded": "rescinded",
    "timed_out": "timed out",
    "pending": "outstanding",
}


def _state(source: Any) -> ClusterState:
    if isinstance(source, ClusterState):
        return source
    events = _events_of(source)
    if events is not None:
        return ClusterState(history=0).apply(events)
    if isinstance(source, (str, Path)):
        return ClusterState(history=0).apply(EventLog.load(source))
    try:
        return ClusterState(history=0).apply(source)
    except TypeError:
        raise TypeError(
            f"cannot read events from {source!r}; pass a LocalCluster, cluster.events, a saved log path or a ClusterState"
        ) from None


def _figure(data: list[Any], layout: dict[str, Any], widget: bool) -> Any:
    import plotly.graph_objects as go

    layout = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 40}, "height": 420, **layout}
    return (go.FigureWidget if widget else go.Figure)(data=data, layout=layout)


def allocation_figure(source: Any, widget: bool = False, max_points: int = 2_000) -> Any:
    """Dominant share per framework (top) and cluster utilisation (bottom) over time."""
    import plotly.graph_objects as go

    d = snap.allocation_view(_state(source), max_points=max_points)
    data = []
    for f in d["frameworks"]:
        # solid: what its tasks hold; faint dashes: as the allocator counts it, with its unanswered offers
        for key, name, style in (
            ("points", f["name"], {}),
            ("with_offers", f"{f['name']} with offers out", {"dash": "dash", "width": 1}),
        ):
            data.append(
                go.Scatter(
                    x=[p[0] for p in f[key]],
                    y=[p[1] for p in f[key]],
                    name=name,
                    legendgroup=f["id"],
                    opacity=0.45 if style else 1.0,
                    line={"color": f["color"], "shape": "hv", **style},
                    yaxis="y",
                )
            )
    for name, color, dash in (("cpus", "#3b4b5c", "solid"), ("mem", "#8fa3b8", "dash")):
        points = d["util"][name]
        data.append(
            go.Scatter(
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                name=f"{name} utilisation",
                line={"color": color, "dash": dash, "shape": "hv"},
                yaxis="y2",
            )
        )
    layout = {
        "title": "Dominant share per framework, and cluster utilisation",
        "xaxis": {"title": "seconds"},
        "yaxis": {"title": "dominant share", "domain": [0.55, 1], "tickformat": ".0%", "range": [0, 1.02]},
        "yaxis2": {"title": "utilisation", "domain": [0, 0.45], "tickformat": ".0%", "range": [0, 1.02]},
    }
    return _figure(data, layout, widget)


def offers_figure(source: Any, widget: bool = False, window: float = 1e12, max_marks: int = 5_000) -> Any:
    """Each offer as a bar from sent to answer, one row per framework, coloured by outcome; hover for the reason."""
    import plotly.graph_objects as go

    d = snap.offers_view(_state(source), window=window, max_marks=max_marks)
    names = {r["id"]: r["name"] for r in d["rows"]}
    data = []
    for outcome, color in snap.OUTCOME_COLORS.items():
        marks = [m for m in d["marks"] if m["o"] == outcome]
        if not marks:
            continue
        ends = [m["e"] if m["e"] is not None else d["t1"] for m in marks]
        data.append(
            go.Bar(
                base=[m["s"] for m in marks],
                x=[max(e - m["s"], 0.01) for m, e in zip(marks, ends, strict=True)],
                y=[names.get(m["fw"], m["fw"]) for m in marks],
                orientation="h",
                name=_OUTCOME_NAMES[outcome],
                marker={"color": color},
                customdata=[[m["id"], m["agent"], m["res"], m["why"]] for m in marks],
                hovertemplate="%{customdata[0]} of %{customdata[1]}<br>%{customdata[2]}<br>%{customdata[3]}<extra></extra>",
            )
        )
    layout = {"title": "Offers: sent → answered", "barmode": "overlay", "xaxis": {"title": "seconds"}}
    return _figure(data, layout, widget)


def tasks_figure(source: Any, widget: bool = False, window: float = 1e12, max_tasks: int = 5_000) -> Any:
    """A Gantt chart of tasks per agent, coloured by framework; failed/lost tasks outlined in red."""
    import plotly.graph_objects as go

    d = snap.tasks_view(_state(source), window=window, max_tasks=max_tasks)
    data = []
    for fw in d["frameworks"]:
        tasks = [t for t in d["tasks"] if t["fw"] == fw["id"]]
        if not tasks:
            continue
        ends = [t["e"] if t["e"] is not None else d["t1"] for t in tasks]
        bad = [t["e"] is not None and t["st"] != "TASK_FINISHED" for t in tasks]
        data.append(
            go.Bar(
                base=[t["s"] for t in tasks],
                x=[max(e - t["s"], 0.01) for t, e in zip(tasks, ends, strict=True)],
                y=[t["agent"] for t in tasks],
                orientation="h",
                name=fw["name"],
                marker={
                    "color": fw["color"],
                    "line": {"color": ["#d62728" if b else fw["color"] for b in bad], "width": 1.5},
                },
                customdata=[[t["id"], t["st"], t["res"]] for t in tasks],
                hovertemplate="%{customdata[0]} %{customdata[1]}<br>%{customdata[2]}<extra></extra>",
            )
        )
    layout = {
        "title": "Tasks per agent",
        "barmode": "overlay",
        "xaxis": {"title": "seconds"},
        "yaxis": {"categoryorder": "category descending"},
    }
    return _figure(data, layout, widget)
