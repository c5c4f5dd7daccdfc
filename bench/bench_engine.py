"""The engine against what a notebook user would pick instead: Dask's LocalCluster and ipyparallel.

    pip install -e ".[bench]"
    python bench/bench_engine.py [--runs 5] [--tasks 10000] [--only jmesos]

Measured side by side in one run on this machine, medians of ``--runs`` fresh clusters:

- start-up: constructor call until the cluster accepts work (4 workers / agents);
- throughput: 10,000 no-op Python tasks (jmesos: launched through resource offers);
- first task: on a fresh cluster, the first no-op task's submit -> result (workers not yet used);
- round trip: one no-op task at a time, submit -> result seen by the caller;
- memory: sum of PSS of every process of the cluster right after start;
- efficiency: 400 x 50 ms sleeps on 4 workers x 1 cpu, ideal time / measured time, and
  jmesos's overhead against the same sleeps in a plain ``multiprocessing`` pool of 4; printed
  run by run as well, since it moves with how fast the machine's idle cpus wake.

The last line is one JSON object with the headline figures, for comparing runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable

import psutil

import jmesos


def noop(x=None):
    return x


def nap(seconds):
    import time  # ipyparallel ships __main__ functions without their globals

    time.sleep(seconds)
    return seconds


def pss_mb(pids) -> float:
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_full_info().pss
        except psutil.Error:
            pass
    return total / 2**20


def descendants(pid: int) -> list[int]:
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


# ---------------------------------------------------------------- jmesos frameworks
class Batch(jmesos.Scheduler):
    """Launch ``n`` tasks of ``fn`` as fast as offers allow."""

    def __init__(self, n: int, fn: Callable, args: Callable[[int], tuple], need: jmesos.Resources) -> None:
        self.n, self.fn, self.args, self.need = n, fn, args, need
        self.next = 0
        self.done = 0
        self.failed = 0
        self.started = self.finished = 0.0

    def resource_offers(self, driver, offers):
        if not self.started:
            self.started = time.perf_counter()
        for offer in offers:
            fit = min(int(offer.resources // self.need), self.n - self.next)
            tasks = []
            for i in range(self.next, self.next + fit):
                tasks.append(
                    jmesos.TaskInfo(
                        name=str(i), agent_id=offer.agent_id, resources=self.need, fn=self.fn, args=self.args(i)
                    )
                )
            self.next += fit
            driver.launch_tasks([offer.id], tasks, jmesos.Filters(refuse_seconds=60))

    def status_update(self, driver, status):
        if status.is_terminal:
            self.done += 1
            if status.state != jmesos.TASK_FINISHED:
                self.failed += 1
            if self.done == self.n:
                self.finished = time.perf_counter()
                driver.stop()


class PingPong(jmesos.Scheduler):
    """One task at a time; measure launch -> TASK_FINISHED seen here."""

    def __init__(self, n: int) -> None:
        self.n, self.i = n, 0
        self.times: list[float] = []
        self.sent = 0.0
        self.busy = False
        self.need = jmesos.Resources(cpus=0.1, mem=16)

    def resource_offers(self, driver, offers):
        for offer in offers:
            if self.busy or self.i >= self.n:
                driver.decline_offer(offer.id, jmesos.Filters(refuse_seconds=0))
                continue
            self.busy = True
            self.sent = time.perf_counter()
            task = jmesos.TaskInfo(
                name=f"p{self.i}", agent_id=offer.agent_id, resources=self.need, fn=noop, args=(self.i,)
            )
            driver.launch_tasks([offer.id], [task], jmesos.Filters(refuse_seconds=0))

    def status_update(self, driver, status):
        if status.state == jmesos.TASK_FINISHED:
            self.times.append(time.perf_counter() - self.sent)
            self.busy = False
            self.i += 1
            if self.i >= self.n:
                driver.stop()


def jmesos_start() -> tuple[float, float, float]:
    t0 = time.perf_counter()
    cluster = jmesos.LocalCluster(agents=4, cpus=1, mem="1GiB", trace_messages=False)
    ready = time.perf_counter() - t0
    time.sleep(0.5)
    mem = pss_mb([cluster._proc.pid, *descendants(cluster._proc.pid)])
    first = cluster.run(PingPong(1), name="first", timeout=60).times[0] * 1000
    cluster.stop()
    return ready, mem, first


def jmesos_throughput(n: int) -> float:
    with jmesos.LocalCluster(agents=4, cpus=2, mem="4GiB", trace_messages=False) as cluster:
        batch = cluster.run(
            Batch(n, noop, lambda i: (i,), jmesos.Resources(cpus=0.01, mem=1)), name="noops", timeout=300
        )
    assert batch.failed == 0, f"{batch.failed} tasks failed"
    return n / (batch.finished - batch.started)


def jmesos_round_trip(n: int) -> float:
    with jmesos.LocalCluster(agents=4, cpus=1, mem="1GiB", trace_messages=False) as cluster:
        pp = cluster.run(PingPong(n + 20), name="pingpong", timeout=300)
    return statistics.median(pp.times[20:]) * 1000


def jmesos_sleeps(count: int, seconds: float) -> float:
    with jmesos.LocalCluster(agents=4, cpus=1, mem="1GiB", trace_messages=False) as cluster:
        batch = cluster.run(
            Batch(count, nap, lambda i: (seconds,), jmesos.Resources(cpus=1, mem=32)), name="naps", timeout=300
        )
    return batch.finished - batch.started


def pool_sleeps(count: int, seconds: float) -> float:
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(noop, range(8))
        t0 = time.perf_counter()
        pool.map(nap, [seconds] * count, chunksize=1)
        return time.perf_counter() - t0


# ---------------------------------------------------------------- Dask
def dask_all(n: int, rtt_n: int, count: int, seconds: float) -> dict[str, float]:
    from dask.distributed import Client, LocalCluster

    me = os.getpid()
    before = set(descendants(me))
    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=4,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        # a worker's heartbeat racing the scheduler's close logs a harmless traceback; keep the figures readable
        silence_logs=logging.CRITICAL,
    )
    client = Client(cluster)
    client.wait_for_workers(4)
    ready = time.perf_counter() - t0
    time.sleep(0.5)
    mem = pss_mb(set(descendants(me)) - before)
    t0 = time.perf_counter()
    client.submit(noop, -1, pure=False).result()
    first = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    client.gather(client.map(noop, range(n), pure=False))
    throughput = n / (time.perf_counter() - t0)
    times = []
    for i in range(rtt_n + 20):
        t0 = time.perf_counter()
        client.submit(noop, i, pure=False).result()
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    client.gather(client.map(nap, [seconds] * count, pure=False))
    sleeps = time.perf_counter() - t0
    client.close()
    cluster.close()
    return {
        "ready": ready,
        "mem": mem,
        "first": first,
        "throughput": throughput,
        "rtt": statistics.median(times[20:]) * 1000,
        "sleeps": sleeps,
    }


# ---------------------------------------------------------------- ipyparallel
def ipp_all(n: int, rtt_n: int, count: int, seconds: float) -> dict[str, float]:
    import ipyparallel as ipp

    me = os.getpid()
    before = set(descendants(me))
    t0 = time.perf_counter()
    cluster = ipp.Cluster(n=4, log_level=40)
    rc = cluster.start_and_connect_sync()
    rc.wait_for_engines(4)
    ready = time.perf_counter() - t0
    time.sleep(0.5)
    mem = pss_mb(set(descendants(me)) - before)
    view = rc.load_balanced_view()
    t0 = time.perf_counter()
    view.apply_sync(noop, -1)
    first = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    view.map_sync(noop, range(n))
    throughput = n / (time.perf_counter() - t0)
    times = []
    for i in range(rtt_n + 20):
        t0 = time.perf_counter()
        view.apply_sync(noop, i)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    view.map_sync(nap, [seconds] * count)
    sleeps = time.perf_counter() - t0
    cluster.stop_cluster_sync()
    return {
        "ready": ready,
        "mem": mem,
        "first": first,
        "throughput": throughput,
        "rtt": statistics.median(times[20:]) * 1000,
        "sleeps": sleeps,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rtt", type=int, default=300, help="sequential round trips per run")
    parser.add_argument("--sleeps", type=int, default=400)
    parser.add_argument("--only", choices=["jmesos", "dask", "ipyparallel"], action="append")
    args = parser.parse_args()
    systems = args.only or ["jmesos", "dask", "ipyparallel"]
    nap_s = 0.05
    ideal = args.sleeps * nap_s / 4
    results: dict[str, dict[str, float]] = {}
    efficiencies: dict[str, list[float]] = {}  # run by run: the sleep figure moves with the machine's idle cpus

    if "jmesos" in systems:
        runs = {"ready": [], "mem": [], "first": [], "throughput": [], "rtt": [], "sleeps": [], "pool": []}
        for _ in range(args.runs):
            ready, mem, first = jmesos_start()
            runs["ready"].append(ready)
            runs["mem"].append(mem)
            runs["first"].append(first)
            runs["throughput"].append(jmesos_throughput(args.tasks))
            runs["rtt"].append(jmesos_round_trip(args.rtt))
            runs["sleeps"].append(jmesos_sleeps(args.sleeps, nap_s))
            runs["pool"].append(pool_sleeps(args.sleeps, nap_s))
        results["jmesos"] = {k: statistics.median(v) for k, v in runs.items()}
        efficiencies["jmesos"] = [ideal / s for s in runs["sleeps"]]
        efficiencies["pool"] = [ideal / s for s in runs["pool"]]
    for name, fn in (("dask", dask_all), ("ipyparallel", ipp_all)):
        if name not in systems:
            continue
        try:
            per_run = [fn(args.tasks, args.rtt, args.sleeps, nap_s) for _ in range(args.runs)]
        except ImportError as exc:
            print(f"{name}: not installed ({exc}); pip install -e '.[bench]'", file=sys.stderr)
            continue
        results[name] = {k: statistics.median(r[k] for r in per_run) for k in per_run[0]}
        efficiencies[name] = [ideal / r["sleeps"] for r in per_run]

    print(f"\nmedians of {args.runs} fresh runs on {os.cpu_count()} cores; 4 workers/agents each\n")
    header = (
        f"{'':<14}{'ready s':>9}{'first ms':>10}{'tasks/s':>10}{'rtt ms':>9}{'PSS MB':>9}{'sleeps s':>10}{'effic.':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(
            f"{name:<14}{r['ready']:>9.3f}{r['first']:>10.1f}{r['throughput']:>10,.0f}{r['rtt']:>9.2f}{r['mem']:>9.0f}"
            f"{r['sleeps']:>10.2f}{ideal / r['sleeps']:>8.1%}"
        )
    print(f"\n{args.sleeps} x 50 ms sleeps, efficiency run by run:")
    for name, values in efficiencies.items():
        print(f"  {name:<12}" + "  ".join(f"{e:.1%}" for e in values))
    headline: dict[str, float] = {}
    if "jmesos" in results:
        j = results["jmesos"]
        overhead = j["sleeps"] / j["pool"] - 1
        print(
            f"\n{args.sleeps} x 50 ms sleeps: jmesos {j['sleeps']:.3f} s, multiprocessing pool {j['pool']:.3f} s -> overhead {overhead:+.1%}"
        )
        headline = {
            "jmesos_ready_s": round(j["ready"], 3),
            "jmesos_first_task_ms": round(j["first"], 2),
            "jmesos_tasks_per_s": round(j["throughput"]),
            "jmesos_rtt_ms": round(j["rtt"], 3),
            "jmesos_pss_mb": round(j["mem"], 1),
            "jmesos_sleep_efficiency": round(ideal / j["sleeps"], 4),
            "jmesos_sleep_efficiency_min": round(min(efficiencies["jmesos"]), 4),
            "jmesos_sleep_efficiency_max": round(max(efficiencies["jmesos"]), 4),
            "jmesos_overhead_vs_pool": round(overhead, 4),
        }
        for other in ("dask", "ipyparallel"):
            if other in results:
                o = results[other]
                print(
                    f"vs {other}: start {o['ready'] / j['ready']:.1f}x faster, first task {o['first'] / j['first']:.1f}x faster, throughput {j['throughput'] / o['throughput']:.1f}x, "
                    f"round trip {o['rtt'] / j['rtt']:.1f}x faster, memory {o['mem'] / j['mem']:.1f}x less"
                )
                headline[f"{other}_ready_s"] = round(o["ready"], 3)
                headline[f"{other}_first_task_ms"] = round(o["first"], 2)
                headline[f"{other}_tasks_per_s"] = round(o["throughput"])
                headline[f"{other}_rtt_ms"] = round(o["rtt"], 3)
                headline[f"{other}_pss_mb"] = round(o["mem"], 1)
                headline[f"{other}_sleep_efficiency"] = round(ideal / o["sleeps"], 4)
                headline[f"{other}_sleep_efficiency_min"] = round(min(efficiencies[other]), 4)
                headline[f"{other}_sleep_efficiency_max"] = round(max(efficiencies[other]), 4)
    print(json.dumps(headline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
