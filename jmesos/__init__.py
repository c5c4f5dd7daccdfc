"""jmesos: Mesos's resource offers and DRF, embedded in Jupyter."""

from .core.model import AgentInfo, Filters, FrameworkInfo, InvalidArgument, Offer, TaskInfo, TaskStatus
from .core.resources import ResourceError, Resources
from .core.states import Reason, TaskState

globals().update({s.name: s for s in TaskState})
globals().update({r.name: r for r in Reason})

__version__ = "0.1.0"
