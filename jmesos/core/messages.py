"""The protocol: every message between frameworks, the master and agents, defined once.

Names follow Mesos's (``RegisterFrameworkMessage`` → ``RegisterFramework``).
Messages are plain dataclasses: the live runtime pickles them over
authenticated sockets, the simulator passes them as objects.  Each has a
``summary()`` for the event log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import AgentInfo, Filters, FrameworkInfo, Offer, TaskInfo, TaskStatus

__all__ = [
    "Message",
    # framework -> master
    "RegisterFramework",
    "UnregisterFramework",
    "DeactivateFramework",
    "Accept",
    "Decline",
    "KillTask",
    "ReviveOffers",
    "SuppressOffers",
    "Acknowledge",
    "Reconcile",
    "FrameworkToExecutor",
    # master -> framework
    "FrameworkRegistered",
    "ResourceOffers",
    "RescindOffer",
    "StatusUpdate",
    "ExecutorToFramework",
    "AgentLost",
    "ExecutorLost",
    "FrameworkError",
    # agent <-> master
    "RegisterAgent",
    "AgentRegistered",
    "RunTasks",
    "KillTaskOnAgent",
    "StatusUpdateAck",
    "Ping",
    "Pong",
    "ShutdownFramework",
    "ExecutorExited",
    "UnregisterAgent",
    "ShutdownAgent",
    # observers
    "Subscribe",
    "EventBatch",
    "ShutdownAgents",
]


class Message:
    """Base of every protocol message."""

    __slots__ = ()

    @property
    def kind(self) -> str:
        return type(self).__name__

    def summary(self) -> dict[str, Any]:
        """A small JSON-friendly description for the event log."""
        return {}


# --- framework -> master -------------------------------------------------------------


@dataclass
class RegisterFramework(Message):
    """Register a new framework, or re-register (fail over) one that has ``info.id``."""

    info: FrameworkInfo

    def summary(self) -> dict[str, Any]:
        return {"name": self.info.name, "role": self.info.role, "framework_id": self.info.id}


@dataclass
class UnregisterFramework(Message):
    """The framework is done: kill its tasks and forget it (``driver.stop()``)."""

    framework_id: str


@dataclass
class DeactivateFramework(Message):
    """The framework leaves but will come back (``driver.stop(failover=True)``)."""

    framework_id: str


@dataclass
class Accept(Message):
    """Launch ``tasks`` on the resources of ``offer_ids`` (all of one agent); the rest is declined."""

    framework_id: str
    offer_ids: list[str]
    tasks: list[TaskInfo]
    filters: Filters = field(default_factory=Filters)

    def summary(self) -> dict[str, Any]:
        return {
            "offer_ids": list(self.offer_ids),
            "tasks": [t.task_id for t in self.tasks][:50],
            "task_count": len(self.tasks),
        }


@dataclass
class Decline(Message):
    framework_id: str
    offer_ids: list[str]
    filters: Filters = field(default_factory=Filters)

    def summary(self) -> dict[str, Any]:
        return {"offer_ids": list(self.offer_ids), "refuse_seconds": self.filters.refuse_seconds}


@dataclass
class KillTask(Message):
    framework_id: str
    task_id: str

    def summary(self) -> dict[str, Any]:
        return {"task_id": self.task_id}


@dataclass
class ReviveOffers(Message):
    """Clear this framework's filters and resume offers."""

    framework_id: str


@dataclass
class SuppressOffers(Message):
    """Stop sending offers to this framework until it revives."""

    framework_id: str


@dataclass
class Acknowledge(Message):
    framework_id: str
    agent_id: str
    task_id: str
    uuid: str

    def summary(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "agent_id": self.agent_id}


@dataclass
class Reconcile(Message):
    """Ask for the latest state of ``task_ids`` (explicit) or of all tasks (implicit: empty list)."""

    framework_id: str
    task_ids: list[str] = field(default_factory=list)


@dataclass
class FrameworkToExecutor(Message):
    framework_id: str
    agent_id: str
    data: Any = None


# --- master -> framework -------------------------------------------------------------


@dataclass
class FrameworkRegistered(Message):
    framework_id: str
    master: str
    reregistered: bool = False

    def summary(self) -> dict[str, Any]:
        return {"framework_id": self.framework_id, "reregistered": self.reregistered}


@dataclass
class ResourceOffers(Message):
    offers: list[Offer]

    def summary(self) -> dict[str, Any]:
        return {
            "offers": [
                {"offer_id": o.id, "agent_id": o.agent_id, "resources": o.resources.to_dict()} for o in self.offers[:50]
            ]
        }


@dataclass
class RescindOffer(Message):
    offer_id: str
    reason: str = ""

    def summary(self) -> dict[str, Any]:
        return {"offer_id": self.offer_id, "reason": self.reason}


@dataclass
class StatusUpdate(Message):
    """A task status; from agent to master and from master to framework."""

    status: TaskStatus

    def summary(self) -> dict[str, Any]:
        s = self.status
        return {"task_id": s.task_id, "state": s.state.value, "reason": s.reason.value, "agent_id": s.agent_id}


@dataclass
class ExecutorToFramework(Message):
    framework_id: str
    agent_id: str
    data: Any = None


@dataclass
class AgentLost(Message):
    agent_id: str

    def summary(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id}


@dataclass
class ExecutorLost(Message):
    agent_id: str
    executor_id: str
    status: int = 0


@dataclass
class FrameworkError(Message):
    """The master refuses this framework (bad registration, removed after fail-over timeout)."""

    message: str

    def summary(self) -> dict[str, Any]:
        return {"message": self.message}


# --- agent <-> master --------------------------------------------------------------------


@dataclass
class RegisterAgent(Message):
    """Register (or, with ``info.id`` and running tasks, re-register) an agent."""

    info: AgentInfo
    running: list[TaskStatus] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"hostname": self.info.hostname, "resources": self.info.resources.to_dict(), "agent_id": self.info.id}


@dataclass
class UnregisterAgent(Message):
    agent_id: str


@dataclass
class AgentRegistered(Message):
    agent_id: str
    ping_interval: float

    def summary(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id}


@dataclass
class RunTasks(Message):
    """Launch ``tasks`` of one framework.  The agent needs no more of the framework than its id."""

    framework_id: str
    tasks: list[TaskInfo]

    def summary(self) -> dict[str, Any]:
        return {"tasks": [t.task_id for t in self.tasks][:50], "task_count": len(self.tasks)}


@dataclass
class KillTaskOnAgent(Message):
    framework_id: str
    task_id: str

    def summary(self) -> dict[str, Any]:
        return {"task_id": self.task_id}


@dataclass
class StatusUpdateAck(Message):
    framework_id: str
    task_id: str
    uuid: str


@dataclass
class Ping(Message):
    pass


@dataclass
class Pong(Message):
    agent_id: str


@dataclass
class ShutdownFramework(Message):
    framework_id: str


@dataclass
class ShutdownAgent(Message):
    """The master asks an agent to kill its tasks, say goodbye and exit (Mesos's ``ShutdownMessage``).

    It travels over the agent's own connection, so it reaches an agent however
    busy whatever started it is (an ipyparallel engine runs one request at a time).
    """

    reason: str

    def summary(self) -> dict[str, Any]:
        return {"reason": self.reason}


@dataclass
class ExecutorExited(Message):
    agent_id: str
    framework_id: str
    executor_id: str
    status: int = 0


# --- observers -----------------------------------------------------------------------------


@dataclass
class Subscribe(Message):
    """An observer (the notebook's ``cluster.events``) asks for the event stream."""

    replay: bool = True


@dataclass
class EventBatch(Message):
    events: list[Any]


@dataclass
class ShutdownAgents(Message):
    """The cluster that started ``agent_ids`` asks the master to shut them down (at ``cluster.stop()``)."""

    agent_ids: list[str]
    reason: str
