"""Small frameworks the lessons run, and a helper to replay a workload with arrival times.

They are ordinary :class:`jmesos.Scheduler` subclasses, kept here (rather than
in the notebooks) so the checkers and the lessons run exactly the same code;
lessons show their source with :func:`jmesos.teaching.show_source`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.model import Filters, TaskInfo
from ..core.resources import Resources
from ..core.scheduler import Scheduler, pack_tasks
from ..core.states import TaskState

__all__ = ["OneTaskAtATime", "Job", "JobSpec", "seeded_durations", "run_workload"]


def _sleep(seconds: float) -> float:
    """What a task of the lessons does: wait ``seconds`` (as if computing), then report how long it took."""
    time.sleep(seconds)
    return seconds


class OneTaskAtATime(Scheduler):
    """Wants tasks of shape ``need`` forever, and takes exactly one per offer.

    This is DRF's *progressive filling* played out with offers: each offer
    adds one task, then the master chooses again who gets the next offer.
    When a task does not fit, the offer is declined with
    ``refuse_seconds=decline_seconds``, so that for a while the master offers
    that agent to someone who may use it.  Tasks run ``seconds`` long (long
    enough to outlast the experiment).
    """

    def __init__(self, need: Any, seconds: float = 120.0, decline_seconds: float = 1.0) -> None:
        self.need = Resources.coerce(need, "need")
        self.seconds = seconds
        self.decline_seconds = decline_seconds
        self.launched = 0

    def resource_offers(self, driver, offers):
        for offer in offers:
            if self.need <= offer.resources:
                self.launched += 1
                task = TaskInfo(name=f"task-{self.launched}", resources=self.need, fn=_sleep, args=(self.seconds,))
                # keep nothing back: the unused rest goes back to the master at once, unfiltered
                driver.launch_tasks([offer.id], [task], Filters(refuse_seconds=0))
            else:
                driver.decline_offer(offer.id, Filters(refuse_seconds=self.decline_seconds))


@dataclass
class JobSpec:
    """One job of a workload: tasks of shape ``need`` lasting ``durations``, arriving at ``arrive`` s.

    ``enough``: the job is done once that many of its tasks have finished (default: all of them), like a
    search that stops at its first few good results; the tasks still running then are killed by the master
    when the job stops (their last ``task_state`` is ``TASK_KILLED``).
    """

    name: str
    need: Resources
    durations: Sequence[float]
    arrive: float = 0.0
    enough: int | None = None


class Job(Scheduler):
    """A batch job: runs its tasks (each sleeps for its duration), packing as many per offer as fit, then stops.

    How it answers offers, and why:

    - tasks launched and more to come: the unused rest goes back with no
      filter, so any framework (this one included) may get it at once;
    - nothing fits: decline with ``retry_seconds`` (one allocation round or
      so), so the master offers the agent to others meanwhile instead of
      bouncing the same offer back and forth;
    - nothing left to launch: decline with ``idle_seconds``; a lost task
      re-queues itself and revives offers, which clears the filters.

    It stops once ``spec.enough`` tasks (default: all) have finished.
    """

    def __init__(self, spec: JobSpec, retry_seconds: float = 0.2, idle_seconds: float = 5.0) -> None:
        self.spec = spec
        self.todo = [(f"{spec.name}-{i}", d) for i, d in enumerate(spec.durations)]
        self.durations = dict(self.todo)
        self.finished: set[str] = set()
        self.retry_seconds = retry_seconds
        self.idle_seconds = idle_seconds

    def resource_offers(self, driver, offers):
        for offer in offers:
            if not self.todo:
                driver.decline_offer(offer.id, Filters(refuse_seconds=self.idle_seconds))
                continue
            wanted = [
                TaskInfo(name=task_id, resources=self.spec.need, fn=_sleep, args=(seconds,))
                for task_id, seconds in self.todo[: int(offer.resources // self.spec.need)]
            ]
            tasks = pack_tasks(offer, wanted)
            if not tasks:
                driver.decline_offer(offer.id, Filters(refuse_seconds=self.retry_seconds))
                continue
            launched = {t.task_id for t in tasks}
            self.todo = [item for item in self.todo if item[0] not in launched]
            driver.launch_tasks([offer.id], tasks, Filters(refuse_seconds=0))

    def status_update(self, driver, status):
        if status.state == TaskState.TASK_FINISHED:
            self.finished.add(status.task_id)
            if len(self.finished) >= (self.spec.enough or len(self.durations)):
                driver.stop()
        elif status.is_terminal and status.task_id in self.durations:
            self.todo.append((status.task_id, self.durations[status.task_id]))
            driver.revive_offers()


def seeded_durations(seed: int, n: int, low: float, high: float) -> list[float]:
    """``n`` task durations drawn uniformly from [low, high], the same for everyone who uses ``seed``."""
    rng = random.Random(seed)
    return [round(rng.uniform(low, high), 2) for _ in range(n)]


def run_workload(cluster: Any, jobs: Sequence[JobSpec], timeout: float = 60.0) -> dict[str, Job]:
    """Start each job at its arrival time (seconds after the call) and wait until all are done.

    Each job registers as a framework named (and with a role named) after
    the job.  Returns job name → the finished :class:`Job`.
    """
    start = time.monotonic()
    handles = {}
    for spec in sorted(jobs, key=lambda j: j.arrive):
        delay = spec.arrive - (time.monotonic() - start)
        if delay > 0:
            time.sleep(delay)
        handles[spec.name] = cluster.run_async(Job(spec), name=spec.name, role=spec.name)
    deadline = start + timeout
    for handle in handles.values():
        handle.wait(max(0.1, deadline - time.monotonic()))
    return {name: handle.scheduler for name, handle in handles.items()}
