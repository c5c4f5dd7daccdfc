"""The live views: one anywidget per dashboard (or per single view), fed by a throttled :class:`Feed`.

Why one widget model for the whole dashboard rather than one per chart: every
model is a separate stream of comm messages, and the budget is about ten a
second in total.  One model whose traits are the views' snapshots sends *one*
``update`` message per tick (``hold_sync``), carrying only the views whose
snapshot changed; the browser side (``dashboard.js``, plain SVG, no plotting
library to download) redraws only what it received.  Views the student is not
looking at are not even computed (``lazy``): switching tab asks for them.

A view built from a saved log (a path, an :class:`EventLog` of a finished
run or a list of events, with ``replay=True``) shows a time slider instead:
the front end sends the slider's time, the kernel rebuilds the state at that
time from checkpoints (:class:`~jmesos.core.state.Timeline`) and sends it.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Union

import anywidget
import traitlets

from ..core.events import Event, EventLog
from ..core.state import ClusterState, Timeline
from . import snapshot as snap
from ._source import _describe, _events_of
from .feed import Feed, feed_for
from .tables import static_html

__all__ = [
    "MesosView",
    "Dashboard",
    "ClusterView",
    "OffersView",
    "AllocationView",
    "TasksView",
    "LocalityView",
    "MessageTrace",
    "Replay",
    "dashboard_mimebundle",
]

_HERE = Path(__file__).parent
Source = Union[Any, EventLog, str, Path, Iterable[Event]]

#: set while a notebook cell runs.  The kernel reads no comm message until the cell ends, so a tab the
#: student clicks meanwhile (``selected``) reaches us only then: until it does, the views not selected are
#: kept fresh too (each at most every ``BUSY_REFRESH`` seconds), or that tab would say "Waiting" throughout
_CELL_RUNNING = threading.Event()
BUSY_REFRESH = 1.0
_WATCHED: list[Any] = []


def _cell_started(*_: Any) -> None:
    _CELL_RUNNING.set()


def _cell_ended(*_: Any) -> None:
    _CELL_RUNNING.clear()


def _watch_cells() -> None:
    """Follow IPython's pre/post_run_cell events (once per shell), so the views know when a cell is running."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "events") or any(s is shell for s in _WATCHED):
        return
    _WATCHED.append(shell)
    shell.events.register("pre_run_cell", _cell_started)
    shell.events.register("post_run_cell", _cell_ended)
    if threading.current_thread() is threading.main_thread():
        _CELL_RUNNING.set()  # the cell building this first view is running: its pre_run_cell has been and gone


class MesosView(anywidget.AnyWidget):
    """A live (or replayed) view of a jmesos cluster; see :class:`Dashboard` and the single views."""

    _esm = _HERE / "dashboard.js"
    _css = _HERE / "dashboard.css"

    views = traitlets.List(traitlets.Unicode(), default_value=list(snap.VIEWS)).tag(sync=True)
    selected = traitlets.Unicode("cluster").tag(sync=True)
    height = traitlets.Int(400).tag(sync=True)
    heartbeats = traitlets.Bool(False).tag(sync=True)
    header = traitlets.Dict().tag(sync=True)
    cluster = traitlets.Dict().tag(sync=True)
    offers = traitlets.Dict().tag(sync=True)
    allocation = traitlets.Dict().tag(sync=True)
    tasks = traitlets.Dict().tag(sync=True)
    locality = traitlets.Dict().tag(sync=True)
    trace = traitlets.Dict().tag(sync=True)
    #: replay controls: {"t0", "t1"} when this view replays a finished run, {} when live
    replay = traitlets.Dict().tag(sync=True)
    #: the replay cursor (seconds since the first event), set by the front end's slider
    time = traitlets.Float(0.0).tag(sync=True)

    def __init__(
        self,
        source: Source,
        views: Sequence[str] = snap.VIEWS,
        *,
        title: str | None = None,
        window: float = 60.0,
        lazy: bool = True,
        replay: bool | None = None,
        interval: float = 0.2,
        height: int = 400,
        **kwargs: Any,
    ) -> None:
        views = list(views) if not isinstance(views, str) else [views]
        unknown = [v for v in views if v not in snap.VIEWS]
        if unknown or not views:
            raise ValueError(
                f"views={views!r}: {unknown[0] if unknown else 'empty'} is not a view; use some of {', '.join(snap.VIEWS)}"
            )
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not window > 0:
            raise ValueError(f"window={window!r} must be a positive number of seconds, e.g. window=60")
        if isinstance(height, bool) or not isinstance(height, int) or height < 150:
            raise ValueError(f"height={height!r} must be an int of at least 150 pixels, e.g. height=400")
        super().__init__(views=views, selected=views[0], height=height, **kwargs)
        self._window = float(window)
        self._lazy = lazy
        self._lock = threading.RLock()
        self._drawn: dict[str, int] = {}
        self._pushed_at: dict[str, float] = {}
        self._last_status = ""
        self._feed: Feed | None = None
        self._timeline: Timeline | None = None
        self._replay_state: ClusterState | None = None
        self.messages_sent = 0
        events = _events_of(source)
        kind, info = _describe(source)
        if replay is None:
            replay = events is None
        if replay:
            if events is not None:
                source = list(events)
            elif isinstance(source, (str, Path)):
                source = list(EventLog.load(source))
            elif isinstance(source, Iterable):
                source = list(source)
            else:
                raise TypeError(
                    f"cannot show {source!r}; pass a LocalCluster, cluster.events, a saved log path or a list of events"
                )
            timeline = Timeline(source)
            span = round(timeline.end - timeline.start, 3)
            self._title = title or "jmesos replay"
            self._info = info or f"{len(timeline)} events"
            self._status = "replay"
            self.replay = {"t0": 0.0, "t1": span}
            self.time = span
            self._timeline = timeline
            self._show_replay(span)
        else:
            assert events is not None
            self._source = source
            self._title = title or "jmesos"
            self._info = info or kind
            self._status = "live"
            _watch_cells()
            self._feed = feed_for(events, interval=interval)
            with self._feed.locked():
                self._push(self._feed.sync(), force=True)
            self._feed.attach(self)

    # ---------------------------------------------------------------- drawing
    def _visible(self) -> list[str]:
        if not self._lazy:
            return list(self.views)
        shown = self.selected if self.selected in self.views else self.views[0]
        if not _CELL_RUNNING.is_set():
            return [shown]
        now = time.monotonic()
        return [shown] + [
            v for v in self.views if v != shown and now - self._pushed_at.get(v, -math.inf) >= BUSY_REFRESH
        ]

    def _status_of(self) -> str:
        """``live`` while the cluster runs, ``stopped`` after (LocalCluster.running), ``replay`` for a saved run."""
        if self._status != "live":
            return self._status
        return "stopped" if getattr(getattr(self, "_source", None), "running", True) is False else "live"

    def _snapshots(self, state: ClusterState, names: Iterable[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {
            "header": snap.header(state, title=self._title, status=self._status_of(), info=self._info)
        }
        for name in names:
            options: dict[str, Any] = {}
            if name in ("offers", "tasks"):
                options["window"] = self._window
            if name == "trace":
                options["heartbeats"] = self.heartbeats
            out[name] = snap.snapshot(state, name, **options)
        return out

    def _push(self, state: ClusterState, force: bool = False) -> int:
        """Send what changed since the last push, as one message; returns 1 if it sent one."""
        names = [n for n in self._visible() if force or self._drawn.get(n) != state.version]
        status = self._status_of()
        if not force and self._drawn.get("header") == state.version and not names and status == self._last_status:
            return 0
        self._last_status = status
        data = self._snapshots(state, names)
        with self._lock:
            before = {k: getattr(self, k) for k in data}
            changed = {k: v for k, v in data.items() if before[k] != v}
            if changed:
                with self.hold_sync():
                    for key, value in changed.items():
                        setattr(self, key, value)
            now = time.monotonic()
            for name in data:
                self._drawn[name] = state.version
                self._pushed_at[name] = now
        if status == "stopped" and self._feed is not None:
            # the cluster is gone: this picture is final, and the feed need not wake for this view again
            self._feed.detach(self)
        if changed:
            self.messages_sent += 1
            return 1
        return 0

    def _show_replay(self, t: float) -> None:
        assert self._timeline is not None
        state = self._timeline.at(self._timeline.start + t)
        self._replay_state = state
        self._drawn.clear()
        self._push(state, force=True)

    @traitlets.observe("selected", "heartbeats")
    def _redraw_now(self, change: dict[str, Any]) -> None:
        """A tab switch (or option) from the front end: draw that view at once rather than at the next tick."""
        feed = getattr(self, "_feed", None)
        if feed is not None:
            with feed.locked():
                self._push(feed.state, force=True)
        elif getattr(self, "_replay_state", None) is not None:
            self._push(self._replay_state, force=True)

    @traitlets.observe("time")
    def _seek(self, change: dict[str, Any]) -> None:
        if getattr(self, "_timeline", None) is not None:
            self._show_replay(float(change["new"]))

    # ---------------------------------------------------------------- API
    @property
    def state(self) -> ClusterState:
        """The state this view shows now (live: the shared feed's; replay: at the slider's time)."""
        if self._feed is not None:
            return self._feed.sync()
        assert self._replay_state is not None
        return self._replay_state

    def seek(self, t: float) -> None:
        """Replay: move the slider to ``t`` seconds since the first event."""
        if self._timeline is None:
            raise ValueError("seek() is for replays; build one with jmesos.widgets.Replay('events.jsonl')")
        self.time = float(t)

    def close(self) -> None:
        """Stop updating and close the front-end views."""
        feed = getattr(self, "_feed", None)  # close() also runs from __del__ of a half-built view
        if feed is not None:
            feed.detach(self)
        super().close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):  # (data, metadata)
            data = bundle[0]
        else:
            data = bundle
        if isinstance(data, dict):
            with self._reading() as state:
                data["text/html"] = static_html(state, title=self._title)
                data["text/plain"] = f"<{type(self).__name__} {', '.join(self.views)}: {state!r}>"
        return bundle

    @contextlib.contextmanager
    def _reading(self) -> Iterator[ClusterState]:
        """The state, safe to read while the feed thread may be updating it."""
        if self._feed is not None:
            with self._feed.locked():
                yield self._feed.sync()
        else:
            assert self._replay_state is not None
            yield self._replay_state

    def __repr__(self) -> str:
        try:
            with self._reading() as state:
                return f"<{type(self).__name__} {', '.join(self.views)}: {state!r}>"
        except Exception:
            return f"<{type(self).__name__}>"


class Dashboard(MesosView):
    """Every view in tabs: ``Dashboard(cluster)``; ``Dashboard('run.jsonl')`` replays a saved run."""


def _single(view: str, doc: str) -> type[MesosView]:
    def __init__(self: MesosView, source: Source, **kwargs: Any) -> None:
        MesosView.__init__(self, source, views=(view,), **kwargs)

    return type(doc.split(":")[0], (MesosView,), {"__init__": __init__, "__doc__": doc})


ClusterView = _single(
    "cluster", "ClusterView: master, agents and frameworks as a graph, with used/offered/free bars per agent."
)
OffersView = _single(
    "offers", "OffersView: one row per framework, each offer a mark from sent to its answer, by outcome."
)
AllocationView = _single(
    "allocation", "AllocationView: dominant share per framework and cluster utilisation over time."
)
TasksView = _single("tasks", "TasksView: a Gantt chart of tasks per agent, coloured by framework and final state.")
LocalityView = _single("locality", "LocalityView: per framework, the share of tasks that ran where their data was.")
MessageTrace = _single("trace", "MessageTrace: the last protocol messages as a sequence diagram.")


def Replay(source: Source, views: Sequence[str] = snap.VIEWS, **kwargs: Any) -> MesosView:  # noqa: N802 (a widget factory)
    """A dashboard over a saved run with a time slider: ``Replay('run.jsonl')`` or ``Replay(cluster.events)``."""
    return Dashboard(source, views=views, replay=True, **kwargs)


def dashboard_mimebundle(cluster: Any, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, Any]:
    """A live :class:`Dashboard` of ``cluster`` as a mime bundle (widget view, HTML and text fallbacks)."""
    dash = Dashboard(cluster, **kwargs)
    bundle = dash._repr_mimebundle_(include=include, exclude=exclude)
    return bundle[0] if isinstance(bundle, tuple) else bundle
