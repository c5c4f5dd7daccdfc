"""Tables of agents, frameworks, tasks, offers and events, as rich HTML and as plain text.

A :class:`Table` displays as an HTML table in a notebook (``_repr_html_``) and
as aligned text in a terminal or a log (``__repr__``), so ``%mesos agents``
reads well everywhere.  :func:`static_html` is the dashboard's fallback for a
saved notebook or a static renderer (nbviewer, GitHub) where no widget can
run.  Pure: nothing here imports Jupyter.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

from ..core.events import Event
from ..core.resources import Resources
from ..core.state import TERMINAL, AgentView, ClusterState
from .snapshot import OUTCOME_COLORS, framework_color

__all__ = [
    "Table",
    "agents_table",
    "frameworks_table",
    "tasks_table",
    "offers_table",
    "events_table",
    "static_html",
]

_STATE_COLORS = {
    "TASK_FINISHED": "#2e9d52",
    "TASK_RUNNING": "#4e79a7",
    "TASK_STAGING": "#9aa0a6",
    "TASK_STARTING": "#9aa0a6",
    "TASK_KILLING": "#f0a030",
}
_BAD = "#d62728"


class Table:
    """Rows under named columns; HTML in a notebook, aligned text elsewhere.

    ``styles`` optionally gives, per row, a CSS colour for the row's text (a
    dead agent in red, a failed task in red).
    """

    def __init__(
        self,
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        styles: Sequence[str] | None = None,
        note: str = "",
    ) -> None:
        self.title = title
        self.columns = list(columns)
        self.rows = [["" if c is None else c for c in row] for row in rows]
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(f"rows[{i}] has {len(row)} cells for {len(self.columns)} columns; give one per column")
        self.styles = list(styles) if styles is not None else [""] * len(self.rows)
        self.note = note

    def __len__(self) -> int:
        return len(self.rows)

    def to_dicts(self) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column (for tests and for pandas: ``pd.DataFrame(t.to_dicts())``)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th style='text-align:left;padding:2px 10px 2px 0'>{html.escape(c)}</th>" for c in self.columns
        )
        body = []
        for row, style in zip(self.rows, self.styles, strict=True):
            css = f" style='color:{style}'" if style else ""
            cells = "".join(f"<td style='padding:2px 10px 2px 0'>{html.escape(_fmt(c))}</td>" for c in row)
            body.append(f"<tr{css}>{cells}</tr>")
        empty = "" if self.rows else f"<tr><td colspan='{len(self.columns)}' style='color:#888'>(none)</td></tr>"
        note = f"<div style='color:#777;font-size:90%'>{html.escape(self.note)}</div>" if self.note else ""
        return (
            f"<div class='jmesos-table'><b>{html.escape(self.title)}</b> <span style='color:#777'>({len(self.rows)})</span>"
            f"<table style='border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}{empty}</tbody></table>{note}</div>"
        )

    def __repr__(self) -> str:
        cells = [[_fmt(c) for c in row] for row in self.rows]
        widths = [len(c) for c in self.columns]
        for row in cells:
            for i, c in enumerate(row):
                widths[i] = min(60, max(widths[i], len(c)))
        lines = [f"{self.title} ({len(self.rows)})"]
        lines.append("  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        for row in cells:
            lines.append(
                "  ".join(
                    (c if len(c) <= w else c[: w - 1] + "…").ljust(w) for c, w in zip(row, widths, strict=True)
                ).rstrip()
            )
        if not cells:
            lines.append("(none)")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _ratio(used: float, total: float, unit: str = "") -> str:
    def n(x: float) -> str:
        return f"{x:g}" if unit != "MiB" else (f"{x / 1024:g}GiB" if x >= 1024 else f"{x:g}MiB")

    return f"{n(used)}/{n(total)}"


def _agent_status(agent: AgentView, ended: str | None = None) -> str:
    if not agent.alive:
        return "shut down" if agent.left else "dead"
    if ended:  # the log last saw it alive, but the cluster it belonged to no longer runs
        return "cluster ended"
    return "alive" if agent.connected else "disconnected"


def _agent_note(agent: AgentView) -> str:
    """Why it is gone, or its attributes; and the other id of an agent removed that came back."""
    parts = [
        f"was {agent.previous_id}" if agent.previous_id else "",
        agent.reason or ", ".join(f"{k}={v}" for k, v in agent.attributes.items()),
        f"back as {agent.back_as}" if agent.back_as else "",
    ]
    return "; ".join(part for part in parts if part)


def agents_table(state: ClusterState, ended: str | None = None) -> Table:
    """One row per agent: status, used/offered/total cpus and mem, tasks, offers.

    ``ended`` says why the cluster no longer runs (None while it runs): then no agent is shown
    as alive, whatever the log last said, and the table's note says why.
    """
    rows, styles = [], []
    for agent in sorted(state.agents.values(), key=lambda a: (not a.alive, a.added, a.agent_id)):
        rows.append(
            [
                agent.agent_id,
                agent.hostname,
                _agent_status(agent, ended),
                _ratio(agent.used.cpus, agent.total.cpus),
                f"{agent.offered.cpus:g}",
                _ratio(agent.used.mem, agent.total.mem, "MiB"),
                str(Resources(mem=agent.offered.mem)) if agent.offered.mem else "0",
                len(agent.tasks),
                len(agent.offers),
                _agent_note(agent),
            ]
        )
        styles.append(_BAD if not agent.alive and not agent.left else "")
    return Table(
        "agents",
        [
            "agent",
            "host",
            "status",
            "cpus used",
            "cpus offered",
            "mem used",
            "mem offered",
            "tasks",
            "offers",
            "attributes / why",
        ],
        rows,
        styles,
        note=ended or "",
    )


def frameworks_table(state: ClusterState) -> Table:
    """One row per framework: role, status, dominant share, tasks by outcome, offers by answer, locality.

    The dominant share is of what its running tasks hold; "with offers out" adds the offers it has
    not answered yet, which the allocator counts as allocated.
    """
    rows, styles = [], []
    held, with_offers = state.held_shares(), state.held_shares(with_offers=True)
    for fw in state.frameworks.values():
        counts = fw.task_counts
        failed = sum(n for s, n in counts.items() if s in TERMINAL and s != "TASK_FINISHED")
        answered = fw.offers_answered
        pending = sum(1 for o in state.offers.values() if o.framework_id == fw.framework_id)
        status = (
            "removed"
            if not fw.active
            else ("suppressed" if fw.suppressed else ("active" if fw.connected else "disconnected"))
        )
        loc = fw.locality
        rows.append(
            [
                fw.framework_id,
                fw.name,
                fw.role,
                status,
                round(held.get(fw.framework_id, 0.0), 3),
                round(with_offers.get(fw.framework_id, 0.0), 3),
                fw.running,
                counts.get("TASK_FINISHED", 0),
                failed,
                f"{answered.get('accepted', 0)}/{answered.get('declined', 0)}/"
                f"{answered.get('rescinded', 0) + answered.get('timed_out', 0)}/{pending}",
                "" if loc is None else f"{100 * loc:.0f}% of {fw.local + fw.remote}",
            ]
        )
        styles.append("#888" if not fw.active else "")
    return Table(
        "frameworks",
        [
            "framework",
            "name",
            "role",
            "status",
            "dominant share",
            "with offers out",
            "running",
            "finished",
            "failed/lost",
            "offers acc/dec/resc/open",
            "locality",
        ],
        rows,
        styles,
    )


def tasks_table(
    state: ClusterState, last: int = 50, framework: str | None = None, task_state: str | None = None
) -> Table:
    """The ``last`` tasks (live ones first), optionally of one framework or in one state."""
    if isinstance(last, bool) or not isinstance(last, int) or last < 1:
        raise ValueError(f"last={last!r} must be a positive int, e.g. last=50")
    tasks = [
        t
        for t in state.tasks.values()
        if (framework is None or t.framework_id == framework)
        and (task_state is None or t.state == task_state or t.state == f"TASK_{task_state.upper()}")
    ]
    tasks.sort(key=lambda t: (t.terminal, -(t.launched or t.finished or 0.0)))
    shown = tasks[:last]
    rows, styles = [], []
    start = state.start or 0.0
    for t in shown:
        end = t.finished if t.finished is not None else state.now
        rows.append(
            [
                t.task_id,
                t.framework_id,
                t.agent_id or "",
                t.state,
                str(t.resources),
                "" if t.launched is None else round(t.launched - start, 2),
                "" if t.launched is None else round(end - t.launched, 2),
                "" if t.local is None else ("yes" if t.local else "no"),
                (t.message.strip().splitlines() or [""])[-1][:80],
            ]
        )
        styles.append(_BAD if t.state in TERMINAL and t.state != "TASK_FINISHED" else "")
    note = f"showing {len(shown)} of {len(tasks)}; %mesos tasks --last N for more" if len(tasks) > len(shown) else ""
    return Table(
        "tasks",
        ["task", "framework", "agent", "state", "resources", "launched (s)", "ran (s)", "local", "message"],
        rows,
        styles,
        note,
    )


def offers_table(state: ClusterState, last: int = 20) -> Table:
    """Outstanding offers, then the ``last`` answered ones, newest first, with the allocator's explanation."""
    if isinstance(last, bool) or not isinstance(last, int) or last < 1:
        raise ValueError(f"last={last!r} must be a positive int, e.g. last=20")
    start = state.start or 0.0
    chosen = list(state.offers.values())[::-1] + list(state.offer_history)[::-1][:last]
    rows, styles = [], []
    for o in chosen:
        rows.append(
            [
                o.offer_id,
                o.framework_id,
                o.agent_id,
                str(o.resources),
                round(o.sent - start, 2),
                o.outcome,
                "" if o.ended is None else round(o.ended - o.sent, 3),
                o.note,
                o.explanation,
            ]
        )
        styles.append(OUTCOME_COLORS["timed_out"] if o.outcome == "timed_out" else "")
    return Table(
        "offers",
        [
            "offer",
            "framework",
            "agent",
            "resources",
            "sent (s)",
            "outcome",
            "answered after (s)",
            "note",
            "why (allocator)",
        ],
        rows,
        styles,
    )


def events_table(events: Iterable[Event], last: int = 20, kind: str | None = None, start: float | None = None) -> Table:
    """The ``last`` events (of ``kind``, if given), oldest first."""
    if isinstance(last, bool) or not isinstance(last, int) or last < 1:
        raise ValueError(f"last={last!r} must be a positive int, e.g. last=20")
    chosen = [e for e in events if kind is None or e.kind == kind]
    t0 = start if start is not None else (chosen[0].time if chosen else 0.0)
    rows = []
    for e in chosen[-last:]:
        data = json.dumps(_telling_first(e.kind, e.data), default=str, separators=(",", ":"))
        rows.append([round(e.time - t0, 3), e.kind, e.source, e.dest, data if len(data) <= 120 else data[:119] + "…"])
    return Table(
        "events", ["t (s)", "kind", "source", "dest", "data"], rows, [_BAD if r[1] == "error" else "" for r in rows]
    )


#: per event kind, the fields that tell its events apart, first (the ids the other columns or the
#: neighbouring rows repeat come after): a truncated row still shows what happened
_TELLING = {
    "task_state": ("state", "reason", "task_id", "agent_id", "message"),
    "task_launched": ("task_id", "agent_id", "resources", "local"),
    "task_revoked": ("task_id", "reason"),
    "offer": ("agent_id", "resources", "framework_id", "explanation", "offer_id"),
    "offer_accepted": ("task_count", "agent_id", "tasks", "framework_id", "offer_id"),
    "offer_declined": ("agent_id", "refuse_seconds", "framework_id", "offer_id"),
    "offer_rescinded": ("reason", "agent_id", "framework_id", "offer_id"),
    "agent_added": ("agent_id", "resources", "attributes"),
    "agent_removed": ("agent_id", "reason", "graceful"),
    "framework_added": ("name", "role", "framework_id"),
    "framework_removed": ("framework_id", "reason"),
    "shares": ("shares", "utilization"),
    "message": ("type",),
    "error": ("message",),
}


def _telling_first(kind: str, data: Any) -> Any:
    """``data`` with the fields that tell events of ``kind`` apart first (others follow in their order)."""
    order = _TELLING.get(kind)
    if not order or not isinstance(data, dict):
        return data
    first = {k: data[k] for k in order if k in data}
    return {**first, **{k: v for k, v in data.items() if k not in first}}


def _bar_html(parts: list[tuple[float, str]], total: float) -> str:
    if total <= 0:
        return ""
    segs = "".join(
        f"<span style='display:inline-block;height:8px;width:{max(0.0, 100 * v / total):.1f}%;background:{c}'></span>"
        for v, c in parts
        if v > 0
    )
    return f"<span style='display:inline-block;width:120px;background:#e8eaed;border-radius:2px;overflow:hidden;line-height:0'>{segs}</span>"


def count(n: int, noun: str) -> str:
    """``"1 agent"``, ``"3 agents"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def gone_parts(summary: dict[str, Any], dead_style: str = "") -> list[str]:
    """``["2 dead", "1 shut down"]``: the agents no longer in the cluster, from ``ClusterState.summary()``.

    With ``dead_style`` (CSS) they are HTML, the dead ones in a span of that style.
    """
    parts = []
    if summary["dead_agents"]:
        dead = f"{summary['dead_agents']} dead"
        parts.append(f"<span style='{dead_style}'>{dead}</span>" if dead_style else dead)
    if summary["left_agents"]:
        parts.append(f"{summary['left_agents']} shut down")
    return parts


def gone_note(summary: dict[str, Any], dead_style: str = "") -> str:
    """``" (2 dead, 1 shut down)"``: :func:`gone_parts` in brackets (``""`` if none)."""
    parts = gone_parts(summary, dead_style)
    return f" ({', '.join(parts)})" if parts else ""


def static_html(state: ClusterState, title: str = "jmesos") -> str:
    """A self-contained HTML picture of the cluster for places where widgets cannot run."""
    s = state.summary()
    colors = {f.framework_id: framework_color(f) for f in state.frameworks.values()}
    util = ", ".join(f"{k} {100 * v:.0f}%" for k, v in s["utilization"].items() if k in ("cpus", "mem"))
    lines = [
        "<div class='jmesos-static' style='font-family:system-ui,sans-serif;font-size:12px'>",
        f"<div><b>{html.escape(title)}</b> · t={s['time']:.1f}s · {count(s['agents'], 'agent')}"
        + gone_note(s, dead_style=f"color:{_BAD}")
        + f" · {count(s['frameworks'], 'framework')}"
        + (f" ({s['left_frameworks']} left)" if s["left_frameworks"] else "")
        + f" · {s['running']} running, {s['finished']} finished, {s['failed']} failed"
        + f" · {s['offers']} open offers · utilisation {html.escape(util or 'n/a')}</div>",
        "<table style='border-collapse:collapse;margin-top:4px'>",
    ]
    for agent in sorted(state.agents.values(), key=lambda a: a.agent_id):
        style = "" if agent.alive else "color:#888" if agent.left else f"color:{_BAD}"
        cells = []
        for name in ("cpus", "mem"):
            used_by: dict[str, float] = {}
            for key in agent.tasks:
                task = state.tasks.get(key)
                if task is not None:
                    used_by[task.framework_id] = used_by.get(task.framework_id, 0.0) + task.resources.get(name)
            parts = [(v, colors.get(f, "#888")) for f, v in used_by.items()] + [(agent.offered.get(name), "#8a94a3")]
            cells.append(f"<td style='padding:1px 8px'>{name} {_bar_html(parts, agent.total.get(name))}</td>")
        status = f"{_agent_status(agent)}: {agent.reason}" if not agent.alive else f"{len(agent.tasks)} tasks"
        lines.append(
            f"<tr style='{style}'><td style='padding:1px 8px'>{html.escape(agent.agent_id)}</td>"
            + "".join(cells)
            + f"<td style='padding:1px 8px'>{html.escape(status)}</td></tr>"
        )
    lines.append("</table><div style='margin-top:4px'>")
    held = state.held_shares()
    for fw in state.frameworks.values():
        if fw.active:
            lines.append(
                f"<span style='margin-right:12px'><span style='color:{colors[fw.framework_id]}'>■</span> "
                f"{html.escape(fw.name)}: share {held[fw.framework_id]:.2f}, {fw.running} running</span>"
            )
    lines.append(
        "</div><div style='color:#888'>(static picture: run the notebook to see the live dashboard)</div></div>"
    )
    return "".join(lines)
