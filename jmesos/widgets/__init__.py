"""Live views of a jmesos cluster for Jupyter: a dashboard and six views you can also show one by one.

>>> from jmesos.widgets import Dashboard, OffersView, Replay
>>> Dashboard(cluster)                 # every view, in tabs, live
>>> OffersView(cluster)                # one view
>>> Replay("run.jsonl")                # a saved run, with a time slider

The widget classes (which import anywidget and ipywidgets) load on first use,
so ``import jmesos`` stays fast and works without a notebook; the pure parts
(:mod:`.snapshot`, :mod:`.tables`, :mod:`.feed`, :mod:`.sample`) never import
Jupyter.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Dashboard",
    "ClusterView",
    "OffersView",
    "AllocationView",
    "TasksView",
    "LocalityView",
    "MessageTrace",
    "Replay",
    "MesosView",
    "dashboard_mimebundle",
    "sample_events",
    "Table",
    "figures",
]

_LAZY = {
    "Dashboard": "views",
    "ClusterView": "views",
    "OffersView": "views",
    "AllocationView": "views",
    "TasksView": "views",
    "LocalityView": "views",
    "MessageTrace": "views",
    "Replay": "views",
    "MesosView": "views",
    "sample_events": "sample",
    "Table": "tables",
}


def dashboard_mimebundle(cluster: Any, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, Any]:
    """What a cluster shows as a cell's last expression: a live :class:`Dashboard` with HTML/text fallbacks.

    ``LocalCluster._repr_mimebundle_`` delegates here.  Outside a kernel (a
    terminal IPython, a script) only ``text/plain`` is returned and no widget
    library is imported.
    """
    from ._source import _describe, _events_of, _in_kernel

    if not _in_kernel():
        from ..core.state import ClusterState

        events = _events_of(cluster)
        state = ClusterState(history=0).apply(events or ())
        return {"text/plain": f"<{_describe(cluster)[0]} {state!r}>"}
    from .views import dashboard_mimebundle as build

    return build(cluster, include=include, exclude=exclude, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name == "figures":
        import importlib

        return importlib.import_module(".figures", __name__)
    raise AttributeError(f"module 'jmesos.widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
