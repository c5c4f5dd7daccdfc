"""``python -m jmesos demo``: estimate π with many small tasks on a local cluster, in the terminal.

The framework is the smallest useful one: it packs as many tasks as fit into
every offer, declines what it cannot use, and adds up the results as status
updates arrive.  The terminal shows the offers and the progress as they
happen, then a summary read from the event log.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections import Counter
from typing import Any, TextIO

from .core.model import InvalidArgument, TaskInfo
from .core.resources import Resources
from .core.scheduler import Scheduler, pack_tasks
from .core.states import TaskState

__all__ = ["PiEstimator", "sample_pi", "main"]


def sample_pi(seed: int, samples: int) -> int:
    """Throw ``samples`` darts at the unit square; return how many land in the quarter circle."""
    rng = random.Random(seed)
    return sum(1 for _ in range(samples) if rng.random() ** 2 + rng.random() ** 2 <= 1.0)


class PiEstimator(Scheduler):
    """Estimate π with ``tasks`` tasks of ``samples`` darts each."""

    def __init__(self, tasks: int = 200, samples: int = 20_000, need: Any = None, out: TextIO | None = None) -> None:
        self.todo = list(range(tasks))
        self.total = tasks
        self.samples = samples
        self.need = Resources.coerce(need) if need is not None else Resources(cpus=0.5, mem="32MiB")
        self.hits = 0
        self.finished = 0
        self.failed: list[str] = []
        self.out = out

    @property
    def estimate(self) -> float:
        return 4.0 * self.hits / max(1, self.finished * self.samples)

    def resource_offers(self, driver, offers):
        for offer in offers:
            wanted = [
                TaskInfo(name=f"pi-{i}", resources=self.need, fn=sample_pi, args=(i, self.samples))
                for i in self.todo[: int(offer.resources // self.need)]
            ]
            tasks = pack_tasks(offer, wanted)
            launched = {t.task_id for t in tasks}
            self.todo = [i for i in self.todo if f"pi-{i}" not in launched]
            driver.launch_tasks([offer.id], tasks)
            if tasks:
                self._say(
                    f"  offer {offer.id:>6} {offer.agent_id:>8} {offer.resources!s:<34} -> {len(tasks)} task{'' if len(tasks) == 1 else 's'}"
                )

    def status_update(self, driver, status):
        if status.state == TaskState.TASK_FINISHED:
            self.hits += status.data
            self.finished += 1
        elif status.is_terminal:
            self.failed.append(f"{status.task_id}: {status.state} {status.message.strip()[-200:]}")
            self.todo.append(int(status.task_id.split("-")[1]))  # try it again
            driver.revive_offers()
        if status.is_terminal:
            self._bar()
        if self.finished == self.total:
            if self.out is not None:
                print(file=self.out)
            driver.stop()

    def _bar(self) -> None:
        """Redraw the progress line in place."""
        live = self.out is not None and getattr(self.out, "isatty", lambda: False)()
        if self.out is not None and (live or self.finished == self.total):  # a log gets the last line only
            bar = "#" * (30 * self.finished // self.total)
            line = f"  [{bar:<30}] {self.finished}/{self.total} tasks  pi ~ {self.estimate:.5f}"
            print(f"\r{line}", end="", file=self.out, flush=True)

    def _say(self, line: str) -> None:
        """Print a line above the progress line."""
        if self.out is not None:
            live = getattr(self.out, "isatty", lambda: False)()
            print(f"\r{line:<72}" if live else line, file=self.out)  # padding covers the progress line
            self._bar()


def _check_count(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"{low} or more"
        raise InvalidArgument(f"{name}={value!r} must be a whole number {bound}")


class _Output:
    """The demo's output; once its reader has gone (``demo | head``) the rest is dropped and the run finishes.

    A write to a closed pipe raised in every callback, each offer was declined, and the
    demo waited out its 300 s timeout.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self.stream.write(text)
            except (BrokenPipeError, ValueError):  # ValueError: the stream was closed
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                self._gone()

    def isatty(self) -> bool:
        return not self.gone and getattr(self.stream, "isatty", lambda: False)()

    def _gone(self) -> None:
        self.gone = True
        try:  # what is still buffered would fail again when Python flushes at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass


def main(agents: int = 4, tasks: int = 200, samples: int = 20_000, out: TextIO = sys.stdout) -> int:
    """Run the demo; returns the exit code (130 after Ctrl-C, with the cluster stopped)."""
    _check_count("agents", agents, 1, 256)
    _check_count("tasks", tasks, 1)
    _check_count("samples", samples, 1)
    out = _Output(out)  # type: ignore[assignment]
    try:
        return _run(agents, tasks, samples, out)
    except KeyboardInterrupt:
        # the cluster's `with` block stopped it on the way out (or, if Ctrl-C came while it was
        # starting, the exit handler that stops every cluster still alive does)
        if getattr(out, "isatty", lambda: False)():
            print(file=out, flush=True)  # off the progress line
        print("interrupted; the cluster was stopped", file=sys.stderr, flush=True)
        return 130


def _run(agents: int, tasks: int, samples: int, out: TextIO) -> int:
    from .runtime.cluster import LocalCluster

    started = time.perf_counter()
    with LocalCluster(agents=agents, cpus=2, mem="1GiB") as cluster:
        ready = time.perf_counter() - started
        print(
            f"jmesos demo: cluster of {agents} agents ready in {ready:.2f} s (master {cluster.address[0]}:{cluster.address[1]})",
            file=out,
        )
        print(f"estimating pi with {tasks} tasks of {samples:,} samples each (0.5 cpu, 32 MiB per task)\n", file=out)
        t0 = time.perf_counter()
        pi = cluster.run(PiEstimator(tasks, samples, out=out), name="pi", timeout=300)
        elapsed = time.perf_counter() - t0
        events = list(cluster.events)
    kinds = Counter(e.kind for e in events)
    per_agent = Counter(e.data["agent_id"] for e in events if e.kind == "task_launched")
    print(f"\npi ~ {pi.estimate:.6f} (error {abs(pi.estimate - 3.141592653589793):.6f}) in {elapsed:.2f} s", file=out)
    print(
        f"offers made {kinds['offer']}, accepted {kinds['offer_accepted']}, declined {kinds['offer_declined']}; "
        f"tasks per agent: {dict(sorted(per_agent.items()))}",
        file=out,
    )
    if pi.failed:
        print(f"{len(pi.failed)} task attempts failed and were retried; first: {pi.failed[0]}", file=out)
    print("cluster stopped cleanly.", file=out)
    return 0
