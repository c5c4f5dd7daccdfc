"""jmesos: Mesos's resource offers and Dominant Resource Fairness, embedded in Jupyter.

    import jmesos
    with jmesos.LocalCluster(agents=4) as cluster:
        cluster.run(MyScheduler(), name="mine")

In a notebook, ``%load_ext jmesos`` adds the ``%mesos`` magics.
"""

from . import executor  # the task-side calls: jmesos.executor.send_framework_message(...)
from .core.allocator import Policy, make_allocator, policy_names, register_policy
from .core.events import Event, EventLog
from .core.model import AgentInfo, Filters, FrameworkInfo, InvalidArgument, Offer, TaskInfo, TaskStatus
from .core.resources import ResourceError, Resources
from .core.scheduler import Driver, Scheduler, pack_tasks
from .core.states import Reason, TaskState
from .runtime.cluster import FrameworkHandle, LocalCluster
from .runtime.driver import SchedulerDriver

globals().update({state.name: state for state in TaskState})
globals().update({reason.name: reason for reason in Reason})

__version__ = "0.1.0"

__all__ = [
    "Policy",
    "register_policy",
    "policy_names",
    "make_allocator",
    "Event",
    "EventLog",
    "AgentInfo",
    "Filters",
    "FrameworkInfo",
    "InvalidArgument",
    "Offer",
    "TaskInfo",
    "TaskStatus",
    "ResourceError",
    "Resources",
    "Driver",
    "Scheduler",
    "pack_tasks",
    "Reason",
    "TaskState",
    "FrameworkHandle",
    "LocalCluster",
    "SchedulerDriver",
    "executor",
    "load_ipython_extension",
    "unload_ipython_extension",
    *[state.name for state in TaskState],
    *[reason.name for reason in Reason],
]


def load_ipython_extension(ipython):  # pragma: no cover - exercised through IPython
    """``%load_ext jmesos``: register the ``%mesos`` magics."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython):  # pragma: no cover
    from .magics import unload_ipython_extension as unload

    unload(ipython)
