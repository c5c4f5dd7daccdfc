"""What each view draws, as small JSON-friendly dicts computed from a :class:`ClusterState`.

These functions are the whole contract between the Python side and the
browser side (``dashboard.js``): the widget sends their output as traits and
the front end only draws.  They are pure and import nothing from Jupyter, so
they are unit-tested without a browser, and they are *bounded*: however long
the run, a snapshot holds at most a few hundred marks, so one update stays
small and cheap to compute while a framework runs 10,000 tasks.

Times are seconds since the first event (``t`` = 0 when the log starts).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import networkx as nx

from ..core.resources import Resources
from ..core.state import TERMINAL, ClusterState, FrameworkView, OfferView, TaskView

__all__ = [
    "VIEWS",
    "VIEW_TITLES",
    "FRAMEWORK_COLORS",
    "OUTCOME_COLORS",
    "framework_color",
    "header",
    "cluster_view",
    "offers_view",
    "allocation_view",
    "tasks_view",
    "locality_view",
    "trace_view",
    "snapshot",
]

#: the views, in the order the dashboard shows them
VIEWS: tuple[str, ...] = ("cluster", "offers", "allocation", "tasks", "locality", "trace")
VIEW_TITLES: dict[str, str] = {
    "cluster": "Cluster",
    "offers": "Offers",
    "allocation": "Allocation",
    "tasks": "Tasks",
    "locality": "Locality",
    "trace": "Message trace",
}
#: framework colours (no red: red means a dead agent or a failed task)
FRAMEWORK_COLORS = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#86bcb6",
    "#bab0ac",
)
OUTCOME_COLORS = {
    "pending": "#9aa0a6",
    "accepted": "#2e9d52",
    "declined": "#f0a030",
    "rescinded": "#8e6cc9",
    "timed_out": "#d62728",
}
_HEARTBEATS = frozenset({"Ping", "Pong", "StatusUpdateAck", "Acknowledge"})


def framework_color(fw: FrameworkView) -> str:
    """A framework's colour, the same in every view (by order of registration)."""
    return FRAMEWORK_COLORS[fw.index % len(FRAMEWORK_COLORS)]


def _rel(state: ClusterState, t: float | None) -> float | None:
    if t is None:
        return None
    return round(t - (state.start or 0.0), 3)


def _frameworks(state: ClusterState) -> list[dict[str, Any]]:
    held, with_offers = state.held_shares(), state.held_shares(with_offers=True)
    return [
        {
            "id": fw.framework_id,
            "name": fw.name,
            "color": framework_color(fw),
            "active": fw.active,
            "share": round(fw.share, 4),
            "held": round(held.get(fw.framework_id, 0.0), 4),
            "with_offers": round(with_offers.get(fw.framework_id, 0.0), 4),
            "running": fw.running,
        }
        for fw in state.frameworks.values()
    ]


def _num(x: float) -> float:
    return int(x) if float(x).is_integer() else round(x, 3)


def header(state: ClusterState, title: str = "jmesos", status: str = "", info: str = "") -> dict[str, Any]:
    """The status line above the views: counts, utilisation and each framework's share."""
    s = state.summary()
    return {
        "title": title,
        "status": status,
        "info": info,
        "time": s["time"],
        "agents": s["agents"],
        "dead_agents": s["dead_agents"],
        "left_agents": s["left_agents"],
        "left_frameworks": s["left_frameworks"],
        "running": s["running"],
        "finished": s["finished"],
        "failed": s["failed"],
        "offers": s["offers"],
        "events": s["events"],
        "utilization": {k: round(v, 3) for k, v in s["utilization"].items() if k in ("cpus", "mem")},
        "frameworks": [f for f in _frameworks(state) if f["active"]],
    }


# ---------------------------------------------------------------------- 1. cluster graph
def _bar(name: str, total: float, used_by: dict[str, float], offered: float, colors: dict[str, str]) -> dict[str, Any]:
    used = sum(used_by.values())
    return {
        "name": name,
        "unit": "MiB" if name in ("mem", "disk") else "",
        "total": _num(total),
        "used": _num(used),
        "offered": _num(offered),
        "free": _num(max(0.0, total - used - offered)),
        "segments": [
            {"fw": fid, "value": _num(v), "color": colors.get(fid, "#888")} for fid, v in used_by.items() if v
        ],
    }


def cluster_view(state: ClusterState, max_agents: int = 48, column: int = 6) -> dict[str, Any]:
    """Master, agents and frameworks as a graph, each agent with used/offered/free bars.

    Positions come from networkx's multipartite layout: frameworks on the left,
    the master in the middle, agents on the right in columns of ``column``, so
    the two levels of scheduling read left to right (frameworks ⇄ master ⇄
    agents) and the framework → agent edges show where each framework's tasks run.
    """
    colors = {fw.framework_id: framework_color(fw) for fw in state.frameworks.values()}
    held, with_offers = state.held_shares(), state.held_shares(with_offers=True)
    frameworks = [fw for fw in state.frameworks.values() if fw.active]
    active = {fw.framework_id for fw in frameworks}
    agents = sorted(state.agents.values(), key=lambda a: (not a.alive, _natural(a.agent_id)))
    hidden = max(0, len(agents) - max_agents)
    # an agent keeps its place when it dies (it turns red where the student was looking)
    agents = sorted(agents[:max_agents], key=lambda a: _natural(a.agent_id))
    g = nx.Graph()
    layers: dict[int, list[Any]] = {0: [], 1: ["master"]}
    g.add_node("master")
    for fw in frameworks:
        g.add_edge(("fw", fw.framework_id), "master")
        layers[0].append(("fw", fw.framework_id))
    for i, agent in enumerate(agents):
        g.add_edge("master", ("agent", agent.agent_id))
        layers.setdefault(2 + i // column, []).append(("agent", agent.agent_id))
    layers = {k: v for k, v in layers.items() if v}
    # layers as ordered lists (not node attributes, which networkx groups into unordered sets)
    pos = (
        nx.multipartite_layout(g, subset_key=layers, align="vertical", scale=1.0) if len(g) > 1 else {"master": (0, 0)}
    )
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)

    def norm(node: Any) -> tuple[float, float]:
        x, y = pos[node]
        nx_ = 0.5 if x1 == x0 else (x - x0) / (x1 - x0)
        ny_ = 0.5 if y1 == y0 else (y - y0) / (y1 - y0)  # first node of a layer on top
        return round(float(nx_), 4), round(float(ny_), 4)

    nodes: list[dict[str, Any]] = []
    mx, my = norm("master")
    nodes.append({"id": "master", "kind": "master", "label": "master", "x": mx, "y": my})
    for fw in frameworks:
        x, y = norm(("fw", fw.framework_id))
        nodes.append(
            {
                "id": fw.framework_id,
                "kind": "framework",
                "label": fw.name,
                "color": colors[fw.framework_id],
                "share": round(fw.share, 3),
                "held": round(held.get(fw.framework_id, 0.0), 3),
                "with_offers": round(with_offers.get(fw.framework_id, 0.0), 3),
                "running": fw.running,
                "offers": sum(1 for o in state.offers.values() if o.framework_id == fw.framework_id),
                "connected": fw.connected,
                "suppressed": fw.suppressed,
                "x": x,
                "y": y,
            }
        )
    edges: list[dict[str, Any]] = []
    for agent in agents:
        x, y = norm(("agent", agent.agent_id))
        used_by: dict[str, Resources] = {}
        for key in agent.tasks:
            task = state.tasks.get(key)
            if task is not None:
                used_by[task.framework_id] = used_by.get(task.framework_id, Resources()) + task.resources
        bars = []
        for name in ("cpus", "mem", "gpus"):
            total = agent.total.get(name)
            if total or name != "gpus":
                bars.append(
                    _bar(name, total, {f: r.get(name) for f, r in used_by.items()}, agent.offered.get(name), colors)
                )
        nodes.append(
            {
                "id": agent.agent_id,
                "kind": "agent",
                # the id, not the hostname: local agents share one host, and the id is what %mesos kill-agent takes
                "label": agent.agent_id,
                "hostname": agent.hostname,
                "alive": agent.alive,
                "left": agent.left,
                "connected": agent.connected,
                "reason": agent.reason,
                # an agent cut off past its health checks that registered again: one machine, two ids
                "previous_id": agent.previous_id,
                "back_as": agent.back_as,
                "tasks": len(agent.tasks),
                "offers": len(agent.offers),
                "attributes": agent.attributes,
                "bars": bars,
                "x": x,
                "y": y,
            }
        )
        for fid in used_by:
            if fid in active:
                edges.append(
                    {"s": fid, "t": agent.agent_id, "kind": "tasks", "n": sum(1 for k in agent.tasks if k[0] == fid)}
                )
        for offer_id in agent.offers:
            offer = state.offers.get(offer_id)
            if offer is not None and offer.framework_id in active:
                edges.append({"s": offer.framework_id, "t": agent.agent_id, "kind": "offer"})
    return {"nodes": nodes, "edges": edges, "hidden_agents": hidden}


def _natural(text: str) -> tuple:
    """Sort ``agent-10`` after ``agent-9``."""
    head, _, tail = text.rpartition("-")
    return (head, int(tail)) if tail.isdigit() else (text, 0)


# ---------------------------------------------------------------------- 2. offers timeline
def _offer_mark(state: ClusterState, offer: OfferView) -> dict[str, Any]:
    return {
        "id": offer.offer_id,
        "fw": offer.framework_id,
        "agent": offer.agent_id,
        "s": _rel(state, offer.sent),
        "e": _rel(state, offer.ended),
        "o": offer.outcome,
        "res": str(offer.resources),
        "why": offer.explanation,
        "note": offer.note,
        "n": offer.tasks,
    }


def offers_view(state: ClusterState, window: float = 60.0, max_marks: int = 400) -> dict[str, Any]:
    """One row per framework; each offer a mark from sent to its answer, coloured by outcome.

    Shows the last ``window`` seconds and at most ``max_marks`` offers (the newest).
    """
    t1 = state.elapsed
    t0 = max(0.0, t1 - window)
    since = (state.start or 0.0) + t0
    marks: list[dict[str, Any]] = []
    older = 0
    for offer in reversed(state.offer_history):
        if offer.ended is not None and offer.ended < since:
            break
        if len(marks) >= max_marks:
            older += 1
            continue
        marks.append(_offer_mark(state, offer))
    for offer in state.offers.values():
        marks.append(_offer_mark(state, offer))
    if len(marks) > max_marks:
        older += len(marks) - max_marks
        marks = marks[-max_marks:]
    counts = {
        fw.framework_id: {o: fw.offers_answered.get(o, 0) for o in ("accepted", "declined", "rescinded", "timed_out")}
        for fw in state.frameworks.values()
    }
    for offer in state.offers.values():
        counts.setdefault(offer.framework_id, {})["pending"] = counts.get(offer.framework_id, {}).get("pending", 0) + 1
    rows = [f for f in _frameworks(state) if f["active"] or any(m["fw"] == f["id"] for m in marks)]
    return {
        "t0": round(t0, 3),
        "t1": round(t1, 3),
        "rows": rows,
        "marks": marks,
        "counts": counts,
        "omitted": older,
        "colors": OUTCOME_COLORS,
    }


# ---------------------------------------------------------------------- 3. allocation over time
def _downsample(points: list[Any], limit: int) -> list[Any]:
    if len(points) <= limit:
        return points
    step = len(points) / limit
    picked = [points[int(i * step)] for i in range(limit - 1)]
    picked.append(points[-1])
    return picked


def allocation_view(state: ClusterState, max_points: int = 300) -> dict[str, Any]:
    """Dominant share per framework and cluster utilisation (cpus, mem) over time."""
    series = _downsample(list(state.series), max_points)
    frameworks = []
    for fw in state.frameworks.values():
        fid = fw.framework_id
        end = fw.removed if fw.removed is not None else math.inf
        during = [p for p in series if fw.registered <= p.time <= end]
        held = [[_rel(state, p.time), round(p.held.get(fid, 0.0), 4)] for p in during]
        with_offers = [[_rel(state, p.time), round(p.with_offers.get(fid, 0.0), 4)] for p in during]
        if fw.removed is not None:  # it left holding nothing: its lines end at zero, not at the last sample
            for line in (held, with_offers):
                line.append([_rel(state, fw.removed), 0.0])
        frameworks.append(
            {
                "id": fid,
                "name": fw.name,
                "color": framework_color(fw),
                # what its tasks hold; and as the allocator counts it, with the offers it has not answered
                "points": held,
                "with_offers": with_offers,
                "active": fw.active,
                # a removed framework's lines stop where it left (None: it is still there)
                "end": _rel(state, fw.removed),
            }
        )
    util = {
        name: [[_rel(state, p.time), round(p.utilization.get(name, 0.0), 4)] for p in series]
        for name in ("cpus", "mem")
    }
    return {"t0": 0.0, "t1": round(state.elapsed, 3), "frameworks": frameworks, "util": util}


# ---------------------------------------------------------------------- 4. tasks Gantt
def tasks_view(state: ClusterState, window: float = 60.0, max_tasks: int = 600) -> dict[str, Any]:
    """A Gantt chart per agent: each task a bar from launch to its end, by framework and final state.

    Tasks that overlap the last ``window`` seconds, at most ``max_tasks`` (the
    newest); concurrent tasks on one agent get separate lanes.
    """
    t1 = state.elapsed
    t0 = max(0.0, t1 - window)
    since = (state.start or 0.0) + t0
    chosen: list[TaskView] = []
    omitted = 0
    for task in reversed(state.tasks.values()):
        if task.launched is None or task.agent_id is None:
            continue
        if task.finished is not None and task.finished < since:
            continue
        if len(chosen) >= max_tasks:
            omitted += 1
            continue
        chosen.append(task)
    chosen.sort(key=lambda t: t.launched or 0.0)
    lanes_end: dict[str, list[float]] = {}
    marks = []
    for task in chosen:
        start = _rel(state, task.launched) or 0.0
        end = _rel(state, task.finished)
        ends = lanes_end.setdefault(task.agent_id or "", [])
        lane = next((i for i, e in enumerate(ends) if e <= start), None)
        if lane is None:
            lane = len(ends)
            ends.append(0.0)
        ends[lane] = end if end is not None else float("inf")
        marks.append(
            {
                "id": task.task_id,
                "name": task.name,
                "fw": task.framework_id,
                "agent": task.agent_id,
                "lane": lane,
                "s": start,
                "r": _rel(state, task.started),
                "e": end,
                "st": task.state,
                "res": str(task.resources),
                "why": task.message[:300] if task.state in TERMINAL and task.state != "TASK_FINISHED" else "",
            }
        )
    agents = [
        {
            "id": a.agent_id,
            "label": a.agent_id,
            "alive": a.alive,
            "left": a.left,
            "lanes": max(1, len(lanes_end.get(a.agent_id, []))),
        }
        for a in sorted(state.agents.values(), key=lambda a: _natural(a.agent_id))
        if a.alive or a.agent_id in lanes_end
    ]
    return {
        "t0": round(t0, 3),
        "t1": round(t1, 3),
        "agents": agents,
        "tasks": marks,
        "frameworks": _frameworks(state),
        "omitted": omitted,
    }


# ---------------------------------------------------------------------- 5. locality
def locality_view(state: ClusterState) -> dict[str, Any]:
    """Per framework, the share of its tasks (with a data location) that ran where their data was."""
    rows = []
    for fw in state.frameworks.values():
        total = fw.local + fw.remote
        if total:
            rows.append(
                {
                    "id": fw.framework_id,
                    "name": fw.name,
                    "color": framework_color(fw),
                    "local": fw.local,
                    "remote": fw.remote,
                    "pct": round(100.0 * fw.local / total, 1),
                }
            )
    without = [fw.name for fw in state.frameworks.values() if not (fw.local + fw.remote) and fw.launched]
    return {"frameworks": rows, "without": without}


# ---------------------------------------------------------------------- 6. message trace
def _label(kind: str, d: dict[str, Any]) -> str:
    """A short description of one protocol message for the arrow's label."""
    if kind == "ResourceOffers":
        offers = d.get("offers") or []
        if len(offers) == 1:
            o = offers[0]
            return f"{o.get('offer_id', '')} {o.get('agent_id', '')} {Resources.coerce(o.get('resources') or None)}"
        return f"{len(offers)} offers"
    if kind == "Accept":
        n = d.get("task_count", len(d.get("tasks") or ()))
        return f"{','.join(d.get('offer_ids') or [])} → {n} task{'s' if n != 1 else ''}"
    if kind == "Decline":
        return f"{','.join(d.get('offer_ids') or [])}"
    if kind == "RunTasks":
        tasks = d.get("tasks") or []
        return ", ".join(tasks[:2]) + (" …" if len(tasks) > 2 else "")
    if kind == "StatusUpdate":
        return f"{d.get('task_id', '')} {str(d.get('state', '')).replace('TASK_', '')}"
    if kind in ("RescindOffer",):
        return str(d.get("offer_id", ""))
    for key in ("name", "task_id", "agent_id", "framework_id", "message"):
        if d.get(key):
            return str(d[key])[:40]
    return ""


def trace_view(state: ClusterState, last: int = 24, heartbeats: bool = False) -> dict[str, Any]:
    """The last ``last`` protocol messages as a sequence diagram (heartbeats hidden unless asked)."""
    chosen = []
    hidden = 0
    for event in reversed(state.messages):
        kind = str(event.data.get("type", ""))
        if not heartbeats and kind in _HEARTBEATS:
            hidden += 1
            continue
        chosen.append(event)
        if len(chosen) >= last:
            break
    chosen.reverse()
    fw_ids = [fw.framework_id for fw in state.frameworks.values()]
    seen = {e.source for e in chosen} | {e.dest for e in chosen}
    actors = [
        {"id": f, "kind": "framework", "label": state.frameworks[f].name, "color": framework_color(state.frameworks[f])}
        for f in fw_ids
        if f in seen or state.frameworks[f].active
    ]
    actors.append({"id": "master", "kind": "master", "label": "master"})
    agent_ids = sorted(
        {a for a in seen if a in state.agents} | {a.agent_id for a in state.alive_agents()}, key=_natural
    )
    actors += [
        {"id": a, "kind": "agent", "label": a, "alive": state.agents[a].alive, "left": state.agents[a].left}
        for a in agent_ids[:12]
    ]
    known = {a["id"] for a in actors}
    messages = []
    for i, event in enumerate(chosen):
        src, dst = event.source or "master", event.dest or "master"
        if src not in known or dst not in known:
            continue
        kind = str(event.data.get("type", "message"))
        messages.append(
            {
                "i": i,
                "t": _rel(state, event.time),
                "src": src,
                "dst": dst,
                "type": kind,
                "label": _label(kind, event.data),
            }
        )
    return {"actors": actors, "messages": messages, "hidden": hidden}


_BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    "cluster": cluster_view,
    "offers": offers_view,
    "allocation": allocation_view,
    "tasks": tasks_view,
    "locality": locality_view,
    "trace": trace_view,
}


def snapshot(state: ClusterState, view: str, **options: Any) -> dict[str, Any]:
    """The data of ``view`` (one of :data:`VIEWS`)."""
    builder = _BUILDERS.get(view)
    if builder is None:
        raise ValueError(f"view={view!r} is not a view; use one of {', '.join(VIEWS)}")
    return builder(state, **options)
