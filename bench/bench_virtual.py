"""How the virtual cluster (the discrete-event simulator) scales with the number of agents.

    python bench/bench_virtual.py [--agents 1000,5000,20000,50000] [--tasks-per-agent 1]

A :class:`~jmesos.teaching.VirtualCluster` drives the real master, allocator
and scheduler code on a virtual clock.  Each run fills a cluster of 4-cpu
agents with 1-cpu shell tasks of 5 virtual seconds from one framework that
launches on every offer, and reports the wall time of the whole run (agents
registering, offers, launches, status updates, health checks, the framework's
goodbye).  There is no other tool here to compare with: the figure to watch is
how the time per task grows with the cluster, which should stay flat; a run
whose cost grows with agents x steps shows up as a rising last column.

The last line is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import time

import jmesos
from jmesos.teaching import VirtualCluster


class Fill(jmesos.Scheduler):
    """Launch ``n`` one-cpu tasks, as many per offer as fit."""

    def __init__(self, n: int) -> None:
        self.n, self.launched, self.done = n, 0, 0
        self.need = jmesos.Resources(cpus=1, mem=128)

    def resource_offers(self, driver, offers):
        for offer in offers:
            tasks, free = [], offer.resources
            while self.launched < self.n and self.need <= free:
                tasks.append(
                    jmesos.TaskInfo(
                        name=f"t{self.launched}", agent_id=offer.agent_id, resources=self.need, command="true"
                    )
                )
                self.launched += 1
                free -= self.need
            driver.launch_tasks([offer.id], tasks)

    def status_update(self, driver, status):
        if status.is_terminal:
            self.done += 1
            if self.done == self.n:
                driver.stop()


def run(agents: int, tasks: int) -> dict[str, float]:
    t0 = time.perf_counter()
    cluster = VirtualCluster(agents=agents, cpus=4, mem="4GiB", task_seconds=5.0)
    built = time.perf_counter() - t0
    fill = Fill(tasks)
    cluster.add_framework(fill, "fill")
    t0 = time.perf_counter()
    cluster.run()
    wall = time.perf_counter() - t0
    assert fill.done == tasks, f"{fill.done} of {tasks} tasks ended"
    return {"agents": agents, "tasks": tasks, "virtual_s": cluster.now, "build_s": built, "run_s": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", default="1000,5000,20000,50000", help="cluster sizes, comma-separated")
    parser.add_argument("--tasks-per-agent", type=int, default=1)
    args = parser.parse_args()
    rows = [run(n, n * args.tasks_per_agent) for n in (int(x) for x in args.agents.split(","))]
    print(f"\n{'agents':>8}{'tasks':>9}{'virtual s':>11}{'build s':>9}{'run s':>8}{'µs per task':>13}")
    for r in rows:
        print(
            f"{r['agents']:>8}{r['tasks']:>9}{r['virtual_s']:>11.1f}{r['build_s']:>9.2f}{r['run_s']:>8.2f}"
            f"{r['run_s'] / r['tasks'] * 1e6:>13.0f}"
        )
    print(json.dumps({f"run_s_{r['agents']}_agents": round(r["run_s"], 3) for r in rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
