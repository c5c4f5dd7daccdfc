"""Task states and reasons, with Mesos's names, defined once for every process.

States are ``str`` enums, so they compare equal to their names, print plainly
and go into JSON as they are.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["TaskState", "Reason", "TERMINAL_STATES", "LIFE_STEP", "state_named"]


class TaskState(str, Enum):
    """The life of a task: STAGING → STARTING → RUNNING → one terminal state."""

    TASK_STAGING = "TASK_STAGING"
    TASK_STARTING = "TASK_STARTING"
    TASK_RUNNING = "TASK_RUNNING"
    TASK_KILLING = "TASK_KILLING"
    TASK_FINISHED = "TASK_FINISHED"
    TASK_FAILED = "TASK_FAILED"
    TASK_KILLED = "TASK_KILLED"
    TASK_ERROR = "TASK_ERROR"
    TASK_LOST = "TASK_LOST"
    TASK_DROPPED = "TASK_DROPPED"
    TASK_UNREACHABLE = "TASK_UNREACHABLE"
    TASK_GONE = "TASK_GONE"
    TASK_UNKNOWN = "TASK_UNKNOWN"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        """True when the task will never run again (its resources are free)."""
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {
        TaskState.TASK_FINISHED,
        TaskState.TASK_FAILED,
        TaskState.TASK_KILLED,
        TaskState.TASK_ERROR,
        TaskState.TASK_LOST,
        TaskState.TASK_DROPPED,
        TaskState.TASK_GONE,
    }
)


def state_named(name: object) -> TaskState | None:
    """The task state ``name`` means ("TASK_FINISHED", "finished", "task-finished" alike); None if none."""
    if isinstance(name, TaskState):
        return name
    if not isinstance(name, str):
        return None
    key = name.strip().upper().replace("-", "_")
    return TaskState.__members__.get(key if key.startswith("TASK_") else f"TASK_{key}")


#: How far along its life a task is, for the states that follow one another; an update of a lower
#: step than the task has already reached is news overtaken by later news (a retry that came late).
LIFE_STEP = {
    TaskState.TASK_STAGING: 0,
    TaskState.TASK_STARTING: 1,
    TaskState.TASK_RUNNING: 2,
    TaskState.TASK_KILLING: 3,
    **{state: 4 for state in TERMINAL_STATES},
}


class Reason(str, Enum):
    """Why a task reached its state (Mesos's ``TaskStatus.Reason``, the ones jmesos uses)."""

    REASON_NONE = "REASON_NONE"
    REASON_COMMAND_EXECUTOR_FAILED = "REASON_COMMAND_EXECUTOR_FAILED"
    REASON_CONTAINER_LIMITATION_MEMORY = "REASON_CONTAINER_LIMITATION_MEMORY"
    REASON_CONTAINER_LAUNCH_FAILED = "REASON_CONTAINER_LAUNCH_FAILED"
    REASON_EXECUTOR_TERMINATED = "REASON_EXECUTOR_TERMINATED"
    REASON_TASK_FAILED = "REASON_TASK_FAILED"
    REASON_TASK_KILLED_DURING_LAUNCH = "REASON_TASK_KILLED_DURING_LAUNCH"
    REASON_TASK_INVALID = "REASON_TASK_INVALID"
    REASON_TASK_UNKNOWN = "REASON_TASK_UNKNOWN"
    REASON_INVALID_OFFERS = "REASON_INVALID_OFFERS"
    REASON_RESOURCES_UNKNOWN = "REASON_RESOURCES_UNKNOWN"
    REASON_AGENT_REMOVED = "REASON_AGENT_REMOVED"
    REASON_AGENT_UNKNOWN = "REASON_AGENT_UNKNOWN"
    REASON_FRAMEWORK_REMOVED = "REASON_FRAMEWORK_REMOVED"
    REASON_RECONCILIATION = "REASON_RECONCILIATION"
    REASON_TASK_KILLED_BY_USER = "REASON_TASK_KILLED_BY_USER"
    REASON_PREEMPTED = "REASON_PREEMPTED"
    REASON_MASTER_DISCONNECTED = "REASON_MASTER_DISCONNECTED"

    def __str__(self) -> str:
        return self.value
