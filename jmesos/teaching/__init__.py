"""Teaching aids for the lessons in ``lessons/``: exercise checkers, event-log measurements, small helpers.

- :func:`check_packing`, :func:`check_policy`, :func:`check_completion_times`,
  :func:`check_prediction` — exercise checkers that print ``✅ correct`` or
  ``❌ not yet`` with a hint (see :mod:`.checks`);
- :mod:`.measure` — the numbers lessons show, read from the event log;
- :class:`VirtualCluster` — the real master and allocator on a virtual clock,
  which the checkers use so every student gets the same verdict;
- :mod:`.workloads` — the small frameworks the lessons run;
- :func:`settle`, :func:`expect`, :func:`show_source` — conveniences for
  notebook cells;
- :mod:`.notebooks` — runs the lesson notebooks with a real kernel and
  verifies them (``python -m jmesos.teaching.notebooks --solutions ...``).

Nothing here is needed to use jmesos; it is what the classroom notebooks import.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

from . import measure
from .checks import (
    CheckResult,
    FairnessReport,
    check_completion_times,
    check_packing,
    check_policy,
    check_prediction,
    fairness,
)
from .virtual import VirtualCluster, VirtualDriver
from .workloads import Job, JobSpec, OneTaskAtATime, run_workload, seeded_durations

__all__ = [
    "CheckResult",
    "FairnessReport",
    "check_packing",
    "check_policy",
    "check_completion_times",
    "check_prediction",
    "fairness",
    "measure",
    "VirtualCluster",
    "VirtualDriver",
    "Job",
    "JobSpec",
    "OneTaskAtATime",
    "run_workload",
    "seeded_durations",
    "settle",
    "expect",
    "show_source",
]


def settle(
    cluster: Any, quiet: float = 1.0, timeout: float = 15.0, kinds: tuple[str, ...] = ("task_launched",)
) -> float:
    """Wait until no event of ``kinds`` has happened for ``quiet`` seconds; returns the seconds waited.

    For experiments whose frameworks never stop (they keep wanting more),
    "settled" means the allocation stopped changing.  Raises TimeoutError
    after ``timeout`` seconds.
    """
    events = getattr(cluster, "events", None)
    if events is None:
        raise TypeError(f"settle wants a cluster (something with .events); got {cluster!r:.60}")
    start = time.monotonic()
    last_count = -1
    last_change = start
    while True:
        now = time.monotonic()
        count = sum(1 for e in events if e.kind in kinds)
        if count != last_count:
            last_count, last_change = count, now
        elif now - last_change >= quiet:
            return now - start
        if now - start > timeout:
            raise TimeoutError(f"the cluster was still changing after {timeout:g} s")
        time.sleep(0.05)


def expect(what: str, actual: Any, expected: Any) -> bool:
    """Print ``✅ what: actual`` when ``actual == expected``, else ``❌`` with both; returns whether they matched.

    For the places where a lesson states a result in advance (the paper's
    numbers) and then checks the live run against it, out loud.
    """
    if actual == expected:
        print(f"✅ {what}: {actual}")
        return True
    print(f"❌ {what}: got {actual}, expected {expected}")
    return False


def show_source(obj: Any) -> Any:
    """Display the source code of a class or function (highlighted in a notebook, plain text elsewhere)."""
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):
        raise TypeError(f"no source available for {obj!r:.60}") from None
    try:
        from IPython.display import Code

        return Code(source, language="python")
    except ImportError:  # pragma: no cover - IPython is a dependency of ipykernel
        print(source)
        return None
