"""The records frameworks, agents and the master exchange: tasks, statuses, offers, filters.

These are the names a framework author writes with (``jmesos.TaskInfo``,
``jmesos.Filters`` ...).  They validate on construction, so a mistake is
reported where it was made, with the field and the fix.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .resources import ResourceError, Resources
from .states import Reason, TaskState

__all__ = [
    "FrameworkInfo",
    "AgentInfo",
    "TaskInfo",
    "TaskStatus",
    "Offer",
    "Filters",
    "InvalidArgument",
]


class InvalidArgument(ValueError):
    """A public function got a value it cannot use; the message names the field and the fix."""


def _check_number(field_name: str, value: Any, *, minimum: float = 0.0, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        raise InvalidArgument(f"{field_name}={value!r} must be a number >= {minimum:g}, e.g. {field_name}=5")


def _check_name(field_name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{field_name}={value!r} must be a non-empty string, e.g. {field_name}='my-framework'")


@dataclass
class Filters:
    """What a framework asks of the master when it declines: ``refuse_seconds`` (Mesos default 5 s)."""

    refuse_seconds: float = 5.0

    def __post_init__(self) -> None:
        _check_number("refuse_seconds", self.refuse_seconds)


@dataclass
class FrameworkInfo:
    """Who a framework is: its name, role (for fair sharing), user and fail-over timeout (seconds).

    ``failover_timeout`` is how long the master keeps a disconnected framework's
    tasks running, waiting for it to come back (0: kill them at once).
    ``implicit_acknowledgements`` lets the driver acknowledge status updates
    after each ``status_update`` callback; set it False to acknowledge by hand.
    """

    name: str
    role: str = "*"
    user: str = ""
    failover_timeout: float = 0.0
    implicit_acknowledgements: bool = True
    id: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("name", self.name)
        _check_name("role", self.role)
        _check_number("failover_timeout", self.failover_timeout)
        if not isinstance(self.implicit_acknowledgements, bool):
            raise InvalidArgument(
                f"implicit_acknowledgements={self.implicit_acknowledgements!r} must be True (the driver acknowledges) "
                "or False (call driver.acknowledge_status_update yourself)"
            )
        if not isinstance(self.user, str):
            raise InvalidArgument(f"user={self.user!r} must be a string")
        if self.id is not None and not isinstance(self.id, str):
            raise InvalidArgument(f"id={self.id!r} must be a framework id string (to fail over), or None")
        if not isinstance(self.labels, dict):
            raise InvalidArgument(f"labels={self.labels!r} must be a dict of names to strings")


#: What a per-agent dict may hold (``LocalCluster(agents=[{...}, ...])``).
AGENT_SETTINGS = ("cpus", "mem", "disk", "gpus", "ports", "attributes", "hostname")


def check_agent_keys(agent: Mapping[str, Any], index: int, allowed: tuple[str, ...] = AGENT_SETTINGS) -> None:
    """InvalidArgument for a key of ``agents[index]`` that is not a setting: a misspelt one would fall back unnoticed."""
    for key in agent:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed + ("memory", "cpu"), n=1, cutoff=0.6)
            fix = {"memory": "mem", "cpu": "cpus"}.get(close[0], close[0]) if close else None
            hint = (
                f" (did you mean {fix!r}?)"
                if fix in allowed
                else f"; a label such as a rack goes in 'attributes', e.g. {{'attributes': {{{str(key)!r}: 'a'}}}}"
            )
            raise InvalidArgument(
                f"agents[{index}] has {key!r}, which is not an agent setting; use " + ", ".join(allowed) + hint
            )


@dataclass
class AgentInfo:
    """What an agent advertises when it registers."""

    hostname: str
    resources: Resources
    attributes: dict[str, str] = field(default_factory=dict)
    id: str | None = None


_task_counter = itertools.count(1)


@dataclass
class TaskInfo:
    """A task a framework launches: either ``fn(*args, **kwargs)`` or a shell ``command``.

    ``task_id`` defaults to ``name`` (Mesos asks frameworks to pick unique ids);
    ``locality`` lists agent ids that hold the task's data, so widgets and
    lessons can tell whether it ran where its data was.
    """

    name: str = ""
    agent_id: str | None = None
    resources: Any = None
    fn: Callable[..., Any] | None = None
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    command: str | None = None
    task_id: str | None = None
    locality: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    #: the serialised callable, filled by the driver before the task leaves the process
    payload: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.resources is None:
            raise InvalidArgument(
                "resources is missing; give each task resources, e.g. resources=jmesos.Resources(cpus=1, mem='128MiB')"
            )
        try:
            self.resources = Resources.coerce(self.resources, "resources")
        except ResourceError as exc:
            raise InvalidArgument(str(exc)) from None
        if self.fn is None and self.command is None and self.payload is None:
            raise InvalidArgument("a task needs fn=callable or command='shell command'; it has neither")
        if self.fn is not None and self.command is not None:
            raise InvalidArgument("a task runs fn or command, not both; drop one of them")
        if self.fn is not None and not callable(self.fn):
            raise InvalidArgument(f"fn={self.fn!r} is not callable; pass a function, e.g. fn=lambda x: x * x")
        if self.command is not None and (not isinstance(self.command, str) or not self.command.strip()):
            raise InvalidArgument(f"command={self.command!r} must be a non-empty shell command string")
        if not isinstance(self.args, (tuple, list)):
            raise InvalidArgument(f"args={self.args!r} must be a tuple, e.g. args=(i,)")
        self.args = tuple(self.args)
        if not isinstance(self.kwargs, dict):
            raise InvalidArgument(f"kwargs={self.kwargs!r} must be a dict")
        if isinstance(self.locality, str):
            self.locality = (self.locality,)
        if not isinstance(self.locality, (tuple, list, set, frozenset)) or not all(
            isinstance(a, str) for a in self.locality
        ):
            raise InvalidArgument(
                f"locality={self.locality!r} must list the agent ids that hold the task's data, e.g. ['agent-1']"
            )
        self.locality = tuple(self.locality)
        if not isinstance(self.name, str):
            raise InvalidArgument(f"name={self.name!r} must be a string, e.g. name=f'sq-{{i}}'")
        if self.agent_id is not None and not isinstance(self.agent_id, str):
            raise InvalidArgument(
                f"agent_id={self.agent_id!r} must be the offer's agent id, e.g. agent_id=offer.agent_id"
            )
        for what, value in (("env", self.env), ("labels", self.labels)):
            if not isinstance(value, dict):
                raise InvalidArgument(
                    f"{what}={value!r} must be a dict of names to strings, e.g. {what}={{'KEY': 'value'}}"
                )
        if not self.task_id:
            self.task_id = self.name or f"task-{next(_task_counter)}"
        if not isinstance(self.task_id, str):
            raise InvalidArgument(f"task_id={self.task_id!r} must be a string")
        if not self.name:
            self.name = self.task_id

    @property
    def kind(self) -> str:
        """``'command'`` for shell tasks, ``'python'`` for callables."""
        return "command" if self.command is not None else "python"


@dataclass
class TaskStatus:
    """A task's state change, as a framework's ``status_update`` receives it.

    ``data`` holds a Python task's return value (TASK_FINISHED) and ``message``
    the traceback text of its exception (TASK_FAILED).
    """

    task_id: str
    state: TaskState
    reason: Reason = Reason.REASON_NONE
    message: str = ""
    data: Any = None
    agent_id: str | None = None
    framework_id: str | None = None
    source: str = "SOURCE_AGENT"
    timestamp: float = 0.0
    uuid: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal


@dataclass
class Offer:
    """Resources of one agent offered to one framework until it answers (or the offer is rescinded)."""

    id: str
    framework_id: str
    agent_id: str
    hostname: str
    resources: Resources
    attributes: dict[str, str] = field(default_factory=dict)
    #: why the allocator chose this framework for this agent, in words
    explanation: str = ""
