"""Where the sleep-efficiency overhead goes: the idle gap between one task and the next on a cpu.

    python bench/bench_task_gap.py [--tasks 100] [--lengths 2,10,50] [--runs 3]

Each task records, on the worker, when it started and ended.  For every cpu
(a jmesos agent with 1 cpu, or a worker of a ``multiprocessing`` pool of 4)
the gap is the time from one task's end to the next task's start.  In jmesos
that gap holds the whole offer cycle: worker -> agent -> master -> framework
-> master -> agent -> worker, six process wake-ups.  A pool worker finds its
next task already waiting in its pipe, so it wakes nobody.

Task lengths vary because the gap depends on how long everything slept
before: after a long idle spell each process wakes on a cold cpu.  Run with
one agent and with four, to separate that from four cycles competing for two
cores.  The last line is one JSON object with the median gaps.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
from collections import defaultdict

import jmesos


def nap(seconds):
    import os
    import time

    start = time.time()
    time.sleep(seconds)
    return os.getpid(), start, time.time()


class Naps(jmesos.Scheduler):
    """``count`` naps, each on a whole 1-cpu agent, launched as offers come."""

    def __init__(self, count: int, seconds: float) -> None:
        self.count, self.seconds = count, seconds
        self.launched = 0
        self.spans: list[tuple[int, float, float]] = []

    def resource_offers(self, driver, offers):
        need = jmesos.Resources(cpus=1, mem=32)
        for offer in offers:
            tasks = []
            if self.launched < self.count and need <= offer.resources:
                tasks.append(
                    jmesos.TaskInfo(
                        name=str(self.launched), agent_id=offer.agent_id, resources=need, fn=nap, args=(self.seconds,)
                    )
                )
                self.launched += 1
            driver.launch_tasks([offer.id], tasks, jmesos.Filters(refuse_seconds=60))

    def status_update(self, driver, status):
        if status.state == jmesos.TASK_FINISHED:
            self.spans.append(status.data)
        elif status.is_terminal:
            raise RuntimeError(f"task {status.task_id} ended {status.state}: {status.message}")
        if len(self.spans) == self.count:
            driver.stop()


def gaps_ms(spans) -> list[float]:
    """End of one task to start of the next, per process (a worker, or an agent's one worker)."""
    by_cpu: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for pid, start, end in spans:
        by_cpu[pid].append((start, end))
    out = []
    for runs in by_cpu.values():
        runs.sort()
        out += [(nxt[0] - prev[1]) * 1000 for prev, nxt in zip(runs, runs[1:], strict=False)]
    return out


def jmesos_gaps(agents: int, tasks: int, seconds: float) -> list[float]:
    with jmesos.LocalCluster(agents=agents, cpus=1, mem="1GiB", trace_messages=False) as cluster:
        naps = cluster.run(Naps(tasks * agents, seconds), name="naps", timeout=600)
    return gaps_ms(naps.spans)


def pool_gaps(workers: int, tasks: int, seconds: float) -> list[float]:
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(nap, [0] * workers * 2)
        return gaps_ms(pool.map(nap, [seconds] * tasks * workers, chunksize=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100, help="tasks per cpu")
    parser.add_argument("--lengths", default="2,10,50", help="task lengths in ms, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lengths = [float(x) for x in args.lengths.split(",")]
    rows = []
    for ms in lengths:
        for cpus in (1, 4):
            jm, pool = [], []
            for _ in range(args.runs):
                jm += jmesos_gaps(cpus, args.tasks, ms / 1000)
                pool += pool_gaps(cpus, args.tasks, ms / 1000)
            rows.append((ms, cpus, statistics.median(jm), statistics.median(pool)))
    print(f"\nidle gap between consecutive tasks on one cpu, median of {args.tasks} tasks per cpu x {args.runs} runs\n")
    print(f"{'task ms':>8}{'cpus':>6}{'jmesos gap ms':>15}{'pool gap ms':>13}")
    for ms, cpus, jm, pool in rows:
        print(f"{ms:>8g}{cpus:>6}{jm:>15.2f}{pool:>13.2f}")
    headline = {f"gap_ms_{ms:g}ms_{cpus}cpu": round(jm, 3) for ms, cpus, jm, _ in rows}
    headline.update({f"pool_gap_ms_{ms:g}ms_{cpus}cpu": round(pool, 3) for ms, cpus, _, pool in rows})
    print(json.dumps(headline))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
