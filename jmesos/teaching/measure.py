"""Numbers for lessons, read from the event log and nothing else.

Every number a lesson shows (tasks per framework, dominant shares,
utilisation, completion times) comes from these functions, so a student can
check it against ``cluster.events`` by hand, and a live run, a virtual run and
a saved log (``EventLog.load``) are all measured the same way.

Frameworks are reported by the *name* they registered with (the ``name=`` of
``cluster.run``), which is what a student chose and recognises.

Every function here reads the log from its start (registrations, the agents'
resources, launches of tasks still running), so each refuses a log that has
let its oldest events go (``events.dropped > 0``) rather than return wrong
numbers: run the cluster with a larger ``events_maxlen=``.  A log saved from
such a cluster and loaded back cannot tell; save it before it is full.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from ..core.events import Event
from ..core.model import InvalidArgument
from ..core.resources import SCALARS, Resources
from ..core.states import TaskState, state_named

__all__ = [
    "framework_names",
    "tasks_launched",
    "running_tasks",
    "cluster_total",
    "allocations",
    "dominant_shares",
    "utilisation",
    "mean_utilisation",
    "completion_times",
    "offer_answers",
]

#: terminal task states as the log spells them
TERMINAL = frozenset(
    {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE"}
)


def _events(events: Any) -> list[Event]:
    """Accept an EventLog, a cluster (anything with ``.events``) or a list of events; refuse one missing its start."""
    source = getattr(events, "events", events)
    dropped = getattr(source, "dropped", 0)
    if isinstance(dropped, int) and dropped > 0:
        raise InvalidArgument(_truncated(events, source, dropped))
    try:
        out = list(source)
    except TypeError:
        raise TypeError(f"{events!r} is not an event log; pass cluster.events (or a cluster)") from None
    if out and not isinstance(out[0], Event):
        raise TypeError(f"{type(out[0]).__name__} is not an Event; pass cluster.events (or a cluster)")
    return out


def _truncated(events: Any, log: Any, dropped: int) -> str:
    """Why a log that lost its first events cannot be measured, and what to run instead."""
    maxlen = getattr(log, "maxlen", None)
    kept = f" (events_maxlen={maxlen:_})" if isinstance(maxlen, int) else ""
    made_by = type(events).__name__ if events is not log else ""
    if made_by in ("VirtualCluster", "LocalCluster"):
        fix = f"run with {made_by}(events_maxlen=...) larger"
    else:
        fix = "run with VirtualCluster(events_maxlen=...) or LocalCluster(events_maxlen=...) larger, whichever made it"
    return (
        f"the log lost its first {dropped:_} events{kept}; measures over it would be wrong "
        f"(they count from its start): {fix}"
    )


def framework_names(events: Any) -> dict[str, str]:
    """Framework id → the name it registered with."""
    return {
        e.data["framework_id"]: e.data.get("name") or e.data["framework_id"]
        for e in _events(events)
        if e.kind == "framework_added"
    }


def _name(names: dict[str, str], framework_id: str) -> str:
    return names.get(framework_id, framework_id)


def tasks_launched(events: Any) -> Counter:
    """Framework name → how many tasks it launched (over the whole log)."""
    evs = _events(events)
    names = framework_names(evs)
    return Counter(_name(names, e.data["framework_id"]) for e in evs if e.kind == "task_launched")


def running_tasks(events: Any, at: float | None = None) -> dict[str, dict[str, Resources]]:
    """Framework name → {task id → resources} of the tasks launched and not yet over at time ``at`` (default: the end)."""
    evs = _events(events)
    names = framework_names(evs)
    live: dict[tuple[str, str], tuple[str, Resources]] = {}
    for e in evs:
        if at is not None and e.time > at:
            break
        if e.kind == "task_launched":
            key = (e.data["framework_id"], e.data["task_id"])
            live[key] = (_name(names, e.data["framework_id"]), Resources.coerce(e.data.get("resources") or None))
        elif e.kind == "task_state" and e.data.get("state") in TERMINAL:
            live.pop((e.data["framework_id"], e.data["task_id"]), None)
    out: dict[str, dict[str, Resources]] = {}
    for (_, task_id), (name, res) in live.items():
        out.setdefault(name, {})[task_id] = res
    return out


def cluster_total(events: Any, at: float | None = None) -> Resources:
    """The resources of the agents registered (and not removed) by time ``at`` (default: the end)."""
    agents: dict[str, Resources] = {}
    for e in _events(events):
        if at is not None and e.time > at:
            break
        if e.kind == "agent_added":
            agents[e.data["agent_id"]] = Resources.coerce(e.data.get("resources") or None)
        elif e.kind == "agent_removed":
            agents.pop(e.data["agent_id"], None)
    return sum(agents.values(), Resources())


def allocations(events: Any, at: float | None = None) -> dict[str, Resources]:
    """Framework name → the resources its running tasks hold at time ``at`` (default: the end)."""
    return {name: sum(tasks.values(), Resources()) for name, tasks in running_tasks(events, at).items()}


def dominant_shares(events: Any, at: float | None = None) -> dict[str, float]:
    """Framework name → dominant share of what its running tasks hold (DRF's measure), at time ``at``.

    Counted from launched and finished tasks, not from the master's ``shares``
    events, which also count offers still outstanding.
    """
    evs = _events(events)
    total = cluster_total(evs, at)
    return {name: held.dominant_share(total) for name, held in allocations(evs, at).items()}


def utilisation(events: Any, resource: str = "cpus") -> tuple[list[float], list[float]]:
    """``(times, fractions)``: the share of the cluster's ``resource`` held by running tasks, as a step function.

    One point per change (a task launched or over, an agent added or
    removed), so ``fractions[i]`` holds from ``times[i]`` until ``times[i+1]``.
    """
    if resource not in SCALARS:
        raise InvalidArgument(
            f"resource={resource!r} is not a resource the log counts; use one of {', '.join(SCALARS)}"
        )
    evs = _events(events)
    total = 0.0
    used = 0.0
    agents: dict[str, float] = {}
    live: dict[tuple[str, str], float] = {}
    times: list[float] = []
    values: list[float] = []
    for e in evs:
        changed = True
        if e.kind == "agent_added":
            agents[e.data["agent_id"]] = Resources.coerce(e.data.get("resources") or None).get(resource)
            total = sum(agents.values())
        elif e.kind == "agent_removed":
            agents.pop(e.data["agent_id"], None)
            total = sum(agents.values())
        elif e.kind == "task_launched":
            amount = Resources.coerce(e.data.get("resources") or None).get(resource)
            live[(e.data["framework_id"], e.data["task_id"])] = amount
            used += amount
        elif e.kind == "task_state" and e.data.get("state") in TERMINAL:
            used -= live.pop((e.data["framework_id"], e.data["task_id"]), 0.0)
        else:
            changed = False
        if changed:
            value = used / total if total else 0.0
            if times and times[-1] == e.time:
                values[-1] = value
            else:
                times.append(e.time)
                values.append(value)
    return times, values


def mean_utilisation(
    events: Any, resource: str = "cpus", start: float | None = None, end: float | None = None
) -> float:
    """The time-weighted mean of :func:`utilisation` between ``start`` and ``end``.

    Defaults: from the first framework's registration to the last task's end,
    the stretch of time in which there was work to do.
    """
    evs = _events(events)
    times, values = utilisation(evs, resource)
    if start is None:
        starts = [e.time for e in evs if e.kind == "framework_added"]
        start = min(starts) if starts else (times[0] if times else 0.0)
    if end is None:
        ends = [e.time for e in evs if e.kind == "task_state" and e.data.get("state") in TERMINAL]
        end = max(ends) if ends else (times[-1] if times else start)
    if end <= start:
        return 0.0
    area = 0.0
    for i, (t, v) in enumerate(zip(times, values, strict=True)):
        t_next = times[i + 1] if i + 1 < len(times) else end
        lo, hi = max(t, start), min(t_next, end)
        if hi > lo:
            area += v * (hi - lo)
    return area / (end - start)


def completion_times(events: Any, state: str = "TASK_FINISHED") -> dict[str, float]:
    """Framework name → seconds from its registration to its last task reaching ``state``.

    This is a job's completion time when each framework is one job, as in the
    lessons; frameworks none of whose tasks reached ``state`` are left out.
    ``state`` is a task state: ``"TASK_FINISHED"``, ``"FINISHED"`` or
    ``jmesos.TASK_FINISHED`` alike.
    """
    state = _task_state(state)
    evs = _events(events)
    names = framework_names(evs)
    arrived: dict[str, float] = {}
    last: dict[str, float] = {}
    for e in evs:
        if e.kind == "framework_added":
            arrived.setdefault(e.data["framework_id"], e.time)
        elif e.kind == "task_state" and e.data.get("state") == state:
            last[e.data["framework_id"]] = e.time
    return {_name(names, fid): last[fid] - arrived[fid] for fid in last if fid in arrived}


def _task_state(state: Any) -> str:
    """``state`` as the log spells it (``TASK_FINISHED``), or InvalidArgument listing the states."""
    found = state_named(state)
    if found is not None:
        return found.value
    states = ", ".join(TaskState.__members__)
    raise InvalidArgument(f"state={state!r} is not a task state; use one of {states} (e.g. state='TASK_FINISHED')")


def offer_answers(events: Any) -> list[dict[str, Any]]:
    """One row per offer: time, offer id, framework, agent, resources, outcome and tasks launched.

    ``outcome`` is ``accepted`` (some tasks launched), ``declined`` (declined,
    or accepted with no task, which Mesos treats as a decline), ``rescinded``
    or ``pending`` (not answered by the end of the log).
    """
    evs = _events(events)
    names = framework_names(evs)
    rows: dict[str, dict[str, Any]] = {}
    for e in evs:
        d = e.data
        if e.kind == "offer":
            rows[d["offer_id"]] = {
                "time": e.time,
                "offer": d["offer_id"],
                "framework": _name(names, d["framework_id"]),
                "agent": d["agent_id"],
                "resources": Resources.coerce(d.get("resources") or None),
                "outcome": "pending",
                "tasks": 0,
                "answered": None,
                "refuse_seconds": None,
                "explanation": d.get("explanation", ""),
            }
        elif e.kind in ("offer_accepted", "offer_declined", "offer_rescinded") and d.get("offer_id") in rows:
            row = rows[d["offer_id"]]
            count = int(d.get("task_count", 0) or 0)
            row["tasks"] = count
            row["answered"] = e.time
            row["refuse_seconds"] = d.get("refuse_seconds")
            if e.kind == "offer_rescinded":
                row["outcome"] = "rescinded"
            else:
                row["outcome"] = "accepted" if count else "declined"
    return list(rows.values())


def by_name(counts: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """A dict sorted by key, for printing results in the same order every time."""
    return dict(sorted(counts))
