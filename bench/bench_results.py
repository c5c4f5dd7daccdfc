"""How long a task's big result takes to come back, against Dask's LocalCluster.

    pip install -e ".[bench]"
    python bench/bench_results.py [--sizes 1,10,100] [--runs 5] [--only jmesos]

One task at a time returns ``bytes`` of each size (MiB); the figure is the time
from launch (jmesos: ``launch_tasks`` in ``resource_offers``; Dask: ``submit``)
until the value is in the caller's hands (jmesos: ``status.data`` in
``status_update``; Dask: ``future.result()``), median of ``--runs`` tasks on one
warm cluster of 4 workers.  A jmesos result crosses three processes (worker ->
agent -> master -> framework), a Dask one two (worker -> client, the scheduler
only hears of it); both are copied on the way, so on a machine whose fresh
memory is slow to fault in, copies, not the network, set the figure.

The last line is one JSON object with the medians, for comparing runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time

import jmesos


def make(n: int) -> bytes:
    return bytes(n)


class Returns(jmesos.Scheduler):
    """Runs ``make(size)`` once per size in ``sizes``, one at a time; records each round trip."""

    def __init__(self, sizes: list[int]) -> None:
        self.todo = list(sizes)
        self.times: list[tuple[int, float]] = []
        self.sent = 0.0
        self.busy = False
        self.need = jmesos.Resources(cpus=1, mem="2GiB")

    def resource_offers(self, driver, offers):
        for offer in offers:
            if self.busy or not self.todo or not self.need <= offer.resources:
                driver.decline_offer(offer.id, jmesos.Filters(refuse_seconds=0))
                continue
            self.busy = True
            size = self.todo[0]
            task = jmesos.TaskInfo(
                name=f"r{len(self.times)}", agent_id=offer.agent_id, resources=self.need, fn=make, args=(size,)
            )
            self.sent = time.perf_counter()
            driver.launch_tasks([offer.id], [task], jmesos.Filters(refuse_seconds=0))

    def status_update(self, driver, status):
        if not status.is_terminal:
            return
        took = time.perf_counter() - self.sent
        size = self.todo.pop(0)
        if status.state != jmesos.TASK_FINISHED or len(status.data) != size:
            raise RuntimeError(f"a {size}-byte result came back as {status.state}: {status.message}")
        self.times.append((size, took))
        self.busy = False
        if not self.todo:
            driver.stop()


def jmesos_times(sizes: list[int], runs: int) -> dict[int, list[float]]:
    order = [s for s in sizes for _ in range(runs)]
    with jmesos.LocalCluster(agents=4, cpus=1, mem="4GiB", trace_messages=False) as cluster:
        cluster.run(Returns([1024]), name="warm-up", timeout=60)
        returns = cluster.run(Returns(order), name="results", timeout=600)
    out: dict[int, list[float]] = {s: [] for s in sizes}
    for size, took in returns.times:
        out[size].append(took)
    return out


def dask_times(sizes: list[int], runs: int) -> dict[int, list[float]]:
    from dask.distributed import Client, LocalCluster

    out: dict[int, list[float]] = {s: [] for s in sizes}
    with (
        LocalCluster(
            n_workers=4,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.submit(make, 1024, pure=False).result()
        for size in sizes:
            for _ in range(runs):
                t0 = time.perf_counter()
                value = client.submit(make, size, pure=False).result()
                out[size].append(time.perf_counter() - t0)
                assert len(value) == size
                del value
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,100", help="result sizes in MiB, comma-separated")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=["jmesos", "dask"], action="append")
    args = parser.parse_args()
    sizes = [int(float(s) * 2**20) for s in args.sizes.split(",")]
    systems = args.only or ["jmesos", "dask"]
    results: dict[str, dict[int, float]] = {}
    for name, fn in (("jmesos", jmesos_times), ("dask", dask_times)):
        if name not in systems:
            continue
        try:
            times = fn(sizes, args.runs)
        except ImportError as exc:
            print(f"{name}: not installed ({exc}); pip install -e '.[bench]'")
            continue
        results[name] = {s: statistics.median(t) for s, t in times.items()}
    print(f"\none task's result, launch -> value in the caller's hands; medians of {args.runs} tasks\n")
    print(f"{'MiB':>6}" + "".join(f"{n + ' s':>12}" for n in results) + ("   jmesos/dask" if len(results) == 2 else ""))
    for size in sizes:
        row = f"{size / 2**20:>6g}" + "".join(f"{results[n][size]:>12.3f}" for n in results)
        if len(results) == 2:
            row += f"   {results['jmesos'][size] / results['dask'][size]:>10.2f}x"
        print(row)
    headline = {
        f"{name}_result_s_{size / 2**20:g}MiB": round(value, 4)
        for name, by_size in results.items()
        for size, value in by_size.items()
    }
    print(json.dumps(headline))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
