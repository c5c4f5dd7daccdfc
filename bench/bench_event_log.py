"""What a full event log costs the notebook kernel: jmesos's EventLog against a deque of Event objects.

    python bench/bench_event_log.py [--tasks 20000]

A cluster runs ``--tasks`` no-op tasks with message tracing on, which fills
``cluster.events`` (10 events a task; 200,000 by default, the log's bound).
The events then arrive again, as they do from the master (pickled batches of
500), once into a plain ``collections.deque`` of :class:`~jmesos.Event`
objects (what the log was before it sealed chunks) and once into an
:class:`~jmesos.EventLog`.  For each: the memory it holds, the objects the
garbage collector tracks, one full collection (the kernel stops meanwhile),
and the cost of reading the newest 20 events, a whole pass and a filter.
The last line is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import pickle
import statistics
import time
import tracemalloc
from collections import deque

import jmesos


def noop(x=None):
    return x


class Noops(jmesos.Scheduler):
    def __init__(self, n: int) -> None:
        self.n, self.launched, self.done = n, 0, 0
        self.need = jmesos.Resources(cpus=0.01, mem=1)

    def resource_offers(self, driver, offers):
        for offer in offers:
            fit = min(int(offer.resources // self.need), self.n - self.launched)
            tasks = [
                jmesos.TaskInfo(name=str(self.launched + i), agent_id=offer.agent_id, resources=self.need, fn=noop)
                for i in range(fit)
            ]
            self.launched += fit
            driver.launch_tasks([offer.id], tasks, jmesos.Filters(refuse_seconds=60))

    def status_update(self, driver, status):
        if status.is_terminal:
            self.done += 1
            if self.done == self.n:
                driver.stop()


def wire_batches(events: list[jmesos.Event], size: int = 500) -> list[bytes]:
    return [pickle.dumps(events[i : i + size], protocol=pickle.HIGHEST_PROTOCOL) for i in range(0, len(events), size)]


def timed_ms(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def newest(log) -> list[jmesos.Event]:
    """The newest 20 events, oldest first: from the end of a deque, or with ``EventLog.last``."""
    if isinstance(log, deque):
        return list(itertools.islice(reversed(log), 20))[::-1]
    return log.last(20)


def kind_of(log, kind: str = "task_state") -> list[jmesos.Event]:
    if isinstance(log, deque):
        return [e for e in log if e.kind == kind]
    return log.filter(kind)


def measure(name: str, make, batches: list[bytes]) -> dict[str, float]:
    gc.collect()
    tracked = len(gc.get_objects())
    tracemalloc.start()
    log = make()
    for batch in batches:
        log.extend(pickle.loads(batch))
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    row = {
        "events": len(log),
        "mib": held / 2**20,
        "tracked": len(gc.get_objects()) - tracked,
        "gc_ms": timed_ms(gc.collect),
        "last20_ms": timed_ms(lambda: newest(log)),
        "pass_ms": timed_ms(lambda: list(log), repeat=3),
        "filter_ms": timed_ms(lambda: kind_of(log), repeat=3),
    }
    print(
        f"{name:<22}{row['events']:>9,}{row['mib']:>9.1f}{row['tracked']:>11,}{row['gc_ms']:>9.1f}"
        f"{row['last20_ms']:>10.2f}{row['pass_ms']:>9.1f}{row['filter_ms']:>10.1f}"
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20_000)
    args = parser.parse_args()
    with jmesos.LocalCluster(agents=4, cpus=2, mem="4GiB") as cluster:
        cluster.run(Noops(args.tasks), name="noops", timeout=600)
        time.sleep(0.5)
        events = list(cluster.events)
    batches = wire_batches(events)
    maxlen = len(events)
    del events
    print(f"\n{args.tasks:,} traced no-op tasks; the log as the notebook kernel holds it\n")
    print(f"{'':<22}{'events':>9}{'MiB':>9}{'tracked':>11}{'gc ms':>9}{'last 20':>10}{'pass ms':>9}{'filter ms':>10}")
    plain = measure("deque of Event", lambda: deque(maxlen=maxlen), batches)
    sealed = measure("jmesos EventLog", lambda: jmesos.EventLog(maxlen=maxlen), batches)
    print(
        f"\nEventLog: {plain['mib'] / sealed['mib']:.1f}x less memory, full collection "
        f"{plain['gc_ms'] / sealed['gc_ms']:.0f}x shorter, whole pass {sealed['pass_ms'] / plain['pass_ms']:.0f}x dearer"
    )
    headline = {
        f"{side}_{key}": round(value, 2)
        for side, row in (("deque", plain), ("eventlog", sealed))
        for key, value in row.items()
    }
    print(json.dumps(headline))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
