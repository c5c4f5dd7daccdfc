"""IPython magics for jmesos: ``%load_ext jmesos`` then ``%mesos help``.

``%reload_ext jmesos`` keeps a running cluster: unloading hands it to the next
load instead of stopping it (stop it with ``%mesos stop``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_ipython_extension", "unload_ipython_extension", "MesosMagics"]


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%mesos`` line/cell magic on ``ipython`` (``%load_ext jmesos``)."""
    from .magics import MesosMagics

    ipython.register_magics(MesosMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove ``%mesos`` (``%unload_ext jmesos``); a running cluster survives for the next load."""
    from .magics import _SURVIVORS

    manager = ipython.magics_manager
    instance = manager.registry.pop("MesosMagics", None)
    for kind in ("line", "cell"):
        manager.magics[kind].pop("mesos", None)
    if instance is not None:
        if getattr(instance, "cluster", None) is not None:
            _SURVIVORS[id(ipython)] = instance.cluster
        configurables = getattr(ipython, "configurables", [])
        if instance in configurables:
            configurables.remove(instance)


def __getattr__(name: str) -> Any:
    if name == "MesosMagics":
        from .magics import MesosMagics

        return MesosMagics
    raise AttributeError(f"module 'jmesos.magics' has no attribute {name!r}")
