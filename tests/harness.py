"""An in-memory harness for the pure master: a fake clock, fake peers, no processes, no sleeps.

Like Nomad's scheduler ``Harness``: tests send messages as an agent or a
framework would, advance virtual time, and read what the master sent to each
peer from its inbox.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from jmesos.core import messages as m
from jmesos.core.allocator import make_allocator
from jmesos.core.events import EventLog
from jmesos.core.master import Master, MasterConfig
from jmesos.core.model import AgentInfo, FrameworkInfo, TaskInfo, TaskStatus
from jmesos.core.resources import Resources
from jmesos.core.states import Reason, TaskState


class Harness:
    def __init__(self, config: MasterConfig | None = None, policy: str = "drf", **policy_options: Any) -> None:
        self.now = 0.0
        self.events = EventLog()
        self.master = Master(
            make_allocator(policy, **policy_options), config or MasterConfig(), record=self.events.append
        )
        self.inbox: dict[str, list[m.Message]] = defaultdict(list)
        self._uuid = 0
        #: agent peers that answer health checks (tests remove one to "kill" it)
        self.alive: dict[str, str] = {}

    # -- driving ----------------------------------------------------------------------------
    def _route(self, out: list[tuple[str, m.Message]]) -> None:
        pongs = []
        for peer, message in out:
            if isinstance(message, m.Ping) and peer in self.alive:
                pongs.append(peer)
            else:
                self.inbox[peer].append(message)
        for peer in pongs:
            self._route(self.master.receive(self.now, peer, m.Pong(self.alive[peer])))

    def send(self, peer: str, message: m.Message) -> None:
        self._route(self.master.receive(self.now, peer, message))
        self.settle()

    def settle(self) -> None:
        """Tick while something is due now (prompt allocations)."""
        for _ in range(10):
            if self.master.next_deadline() > self.now:
                return
            self._route(self.master.tick(self.now))

    def advance(self, seconds: float, step: float = 0.05) -> None:
        """Move virtual time forward, ticking at every deadline on the way."""
        end = self.now + seconds
        while True:
            deadline = self.master.next_deadline()
            if deadline > end:
                break
            self.now = max(self.now, deadline)
            self._route(self.master.tick(self.now))
        self.now = end
        self.settle()

    def disconnect(self, peer: str) -> None:
        self._route(self.master.disconnected(self.now, peer))
        self.settle()

    # -- reading ----------------------------------------------------------------------------
    def take(self, peer: str, kind: type | None = None) -> list[m.Message]:
        """Remove and return the messages of ``kind`` (all if None) waiting for ``peer``."""
        box = self.inbox[peer]
        taken = [msg for msg in box if kind is None or isinstance(msg, kind)]
        self.inbox[peer] = [msg for msg in box if not (kind is None or isinstance(msg, kind))]
        return taken

    def offers(self, peer: str) -> list:
        return [offer for msg in self.take(peer, m.ResourceOffers) for offer in msg.offers]

    def statuses(self, peer: str) -> list[TaskStatus]:
        return [msg.status for msg in self.take(peer, m.StatusUpdate)]

    # -- conveniences ------------------------------------------------------------------------
    def add_agent(self, peer: str, resources: Any = "cpus:4;mem:4096", **attributes: str) -> str:
        self.send(peer, m.RegisterAgent(AgentInfo(peer, Resources.coerce(resources), attributes)))
        (registered,) = self.take(peer, m.AgentRegistered)
        self.alive[peer] = registered.agent_id
        return registered.agent_id

    def add_framework(self, peer: str, name: str = "fw", role: str = "*", **info: Any) -> str:
        self.send(peer, m.RegisterFramework(FrameworkInfo(name=name, role=role, **info)))
        (registered,) = self.take(peer, m.FrameworkRegistered)
        return registered.framework_id

    def task(self, task_id: str, resources: Any = "cpus:1;mem:128", **kw: Any) -> TaskInfo:
        return TaskInfo(name=task_id, resources=resources, command="true", **kw)

    def agent_reports(
        self,
        agent_peer: str,
        framework_id: str,
        task_id: str,
        state: TaskState,
        reason: Reason = Reason.REASON_NONE,
        data: Any = None,
    ) -> TaskStatus:
        self._uuid += 1
        status = TaskStatus(
            task_id=task_id,
            state=state,
            reason=reason,
            framework_id=framework_id,
            agent_id=self.master._peer_agent.get(agent_peer),
            uuid=f"u{self._uuid}",
            data=data,
        )
        self.send(agent_peer, m.StatusUpdate(status))
        return status

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]
