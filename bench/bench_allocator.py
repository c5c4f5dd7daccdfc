"""How long one allocation round takes, alone (pure allocator: no processes, no master).

Shapes:

- ``decline``: Mesos's ``HierarchicalAllocator_BENCHMARK_Test.DeclineOffers``
  at 10,000 agents x 1,000 frameworks.  Every agent is ``cpus:24;mem:4096;
  disk:4096;ports:[31000-32000]`` with ``cpus:16;mem:2014;disk:1024`` and 16
  ports used by framework ``i % 1000``; every offer is declined with a
  filter that never expires.  Each round therefore offers every agent to
  one more framework, until every framework has filtered every agent
  (the benchmark runs 2 x frameworks rounds; Mesos's C++ allocator took
  1.06 s per round on this shape in 2018).  Running all 2,000 rounds in
  Python takes minutes, so by default the bench runs the first rounds for
  real, then fast-forwards (installs the filters the intervening rounds
  would have left: agent ``a`` filtered by frameworks ``a+j mod 1000`` for
  ``j < k``) to k = 250, 500, 750 and 999 and times a real round there, and
  finally times rounds where everything is filtered (the second half of the
  benchmark).  ``--full`` runs every round for real.
- ``paper``: the paper's scale, 50,000 agents x 200 frameworks, every agent
  free (the worst round: 50,000 offers).
- ``scaling``: an all-free round across agents x frameworks.

Peak memory is measured separately with tracemalloc (it slows Python down),
for building the 50,000 x 200 cluster and running its round.

Run: ``python bench/bench_allocator.py`` (about a minute; ``--quick`` for a
smoke run).  The last line is one JSON object of headline figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc

from jmesos.core.allocator import FOREVER, make_allocator
from jmesos.core.resources import Resources

AGENT = Resources.parse("cpus:24;mem:4096;disk:4096;ports:[31000-32000]")
USED = Resources.parse("cpus:16;mem:2014;disk:1024") + Resources(ports=range(31000, 31016))
PAPER_AGENT = Resources(cpus=8, mem="16GiB", disk="100GiB")


def build_decline(agents: int, frameworks: int):
    alloc = make_allocator("drf")
    fids = [f"fw-{i:04d}" for i in range(frameworks)]
    for fid in fids:
        alloc.add_framework(fid, "*")
    for i in range(agents):
        alloc.add_agent(f"agent-{i:05d}", AGENT, used={fids[i % frameworks]: USED})
    return alloc, fids


def timed_round(alloc, now: float):
    t0 = time.perf_counter()
    decisions = alloc.allocate(now)
    return time.perf_counter() - t0, decisions


def decline_all(alloc, decisions, now: float) -> None:
    for d in decisions:
        alloc.recover(d.framework_id, d.agent_id, d.resources, FOREVER, now)


def fast_forward(alloc, fids: list[str], agents: int, k_from: int, k_to: int, now: float) -> None:
    """Install the filters rounds k_from..k_to-1 would leave: agent a filtered by fw (a + j) mod F."""
    frameworks = len(fids)
    empty = Resources()
    recover = alloc.recover
    for a in range(agents):
        aid = f"agent-{a:05d}"
        for j in range(k_from, k_to):
            recover(fids[(a + j) % frameworks], aid, empty, FOREVER, now)


def bench_decline(agents: int, frameworks: int, full: bool, out: dict) -> None:
    t0 = time.perf_counter()
    alloc, fids = build_decline(agents, frameworks)
    print(f"decline: built {agents} agents x {frameworks} frameworks in {time.perf_counter() - t0:.1f} s")
    rows = []
    now = 0.0
    decisions = []
    if full:
        for r in range(2 * frameworks):
            decline_all(alloc, decisions, now)
            now += 1.0
            dt, decisions = timed_round(alloc, now)
            rows.append((r, dt, len(decisions)))
            if r % 50 == 0 or r < 3:
                print(f"  round {r:5d}: {dt * 1000:8.1f} ms, {len(decisions)} offers")
    else:
        # the first rounds, for real; each agent is offered to one more framework per round
        for r in range(3):
            decline_all(alloc, decisions, now)
            now += 1.0
            dt, decisions = timed_round(alloc, now)
            rows.append((r, dt, len(decisions)))
            print(f"  round {r:5d}: {dt * 1000:8.1f} ms, {len(decisions)} offers")
        decline_all(alloc, decisions, now)
        decisions = []
        # which frameworks the real rounds filtered is what DRF chose; fast-forward adds a spread pattern on top
        k = 3
        for target in (frameworks // 4, frameworks // 2, 3 * frameworks // 4, frameworks - 1):
            t1 = time.perf_counter()
            fast_forward(alloc, fids, agents, k, target, now)
            k = target
            now += 1.0
            dt, decisions = timed_round(alloc, now)
            rows.append((k, dt, len(decisions)))
            print(
                f"  round ~{k:4d}: {dt * 1000:8.1f} ms, {len(decisions)} offers "
                f"(fast-forward took {time.perf_counter() - t1:.1f} s)"
            )
            decline_all(alloc, decisions, now)
            k += 1
        # everything filtered: the second half of the benchmark's rounds
        fast_forward(alloc, fids, agents, 0, frameworks, now)
        for _ in range(5):
            now += 1.0
            dt, decisions = timed_round(alloc, now)
            assert not decisions, "everything should be filtered"
            rows.append((2 * frameworks - 1, dt, 0))
        print(f"  all filtered: {statistics.median(r[1] for r in rows[-5:]) * 1000:8.1f} ms per round (median of 5)")
    times = [r[1] for r in rows]
    shape = f"decline_{agents}x{frameworks}"
    out[f"{shape}_s"] = round(statistics.median(times), 4)
    out[f"{shape}_max_s"] = round(max(times), 4)
    out[f"{shape}_all_filtered_s"] = round(statistics.median(times[-min(len(times), 5) :]), 4)
    out[f"{shape}_rounds"] = len(rows)
    slowest = sorted(rows, key=lambda r: -r[1])[:3]
    p99 = sorted(times)[int(0.99 * (len(times) - 1))]
    out[f"{shape}_p99_s"] = round(p99, 4)
    print(
        f"decline: median {statistics.median(times):.3f} s, p99 {p99:.3f} s, max {max(times):.3f} s per round "
        f"over {len(rows)} rounds; slowest rounds: "
        + ", ".join(f"#{r} {dt:.3f} s ({n} offers)" for r, dt, n in slowest)
    )


def build_paper(agents: int, frameworks: int):
    alloc = make_allocator("drf")
    for i in range(frameworks):
        alloc.add_framework(f"fw-{i:04d}", "*")
    for i in range(agents):
        alloc.add_agent(f"agent-{i:05d}", PAPER_AGENT)
    return alloc


def paper_round(agents: int, frameworks: int, repeats: int = 3) -> tuple[float, int]:
    """Median time of an all-free round (every agent offered), giving everything back between rounds."""
    alloc = build_paper(agents, frameworks)
    times = []
    n = 0
    for r in range(repeats):
        dt, decisions = timed_round(alloc, float(r))
        times.append(dt)
        n = len(decisions)
        for d in decisions:
            alloc.recover(d.framework_id, d.agent_id, d.resources, None, float(r))
    return statistics.median(times), n


def bench_paper(agents: int, frameworks: int, out: dict) -> None:
    dt, n = paper_round(agents, frameworks)
    out[f"paper_{agents}x{frameworks}_s"] = round(dt, 4)
    print(f"paper: {agents} agents x {frameworks} frameworks, all free: {dt:.3f} s per round ({n} offers)")


def bench_scaling(agent_counts, framework_counts, out: dict) -> None:
    print("scaling: one all-free round (every agent offered), seconds")
    print("  agents \\ frameworks " + "".join(f"{f:>10d}" for f in framework_counts))
    table = {}
    for a in agent_counts:
        row = []
        for f in framework_counts:
            dt, _ = paper_round(a, f, repeats=1 if a * f > 5_000_000 else 3)
            row.append(dt)
            table[f"{a}x{f}"] = round(dt, 4)
        print(f"  {a:>20d} " + "".join(f"{t:10.3f}" for t in row))
    out["scaling_s"] = table


def bench_memory(agents: int, frameworks: int, out: dict) -> None:
    gc.collect()
    tracemalloc.start()
    alloc = build_paper(agents, frameworks)
    alloc.allocate(0.0)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del alloc
    out["peak_mb"] = round(peak / 2**20, 1)
    print(f"memory: peak {peak / 2**20:.1f} MiB traced while building {agents} x {frameworks} and running a round")


def bench_memory_decline(agents: int, frameworks: int, out: dict) -> None:
    """Peak memory of the DeclineOffers shape with every pair filtered, with and without port ranges.

    ``Resources`` keeps ports as a set of ints, so each agent's free ~985 ports cost ~32 KB:
    the difference between the two figures is that, not the allocator's own books.
    """
    global AGENT, USED
    saved = AGENT, USED
    for label, key in (("with ports", "decline_peak_mb"), ("without ports", "decline_peak_mb_no_ports")):
        gc.collect()
        tracemalloc.start()
        alloc, fids = build_decline(agents, frameworks)
        fast_forward(alloc, fids, agents, 0, frameworks, 0.0)
        alloc.allocate(1.0)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del alloc
        out[key] = round(peak / 2**20, 1)
        print(f"memory: peak {peak / 2**20:.1f} MiB for {agents} x {frameworks}, every pair filtered, {label}")
        AGENT = Resources.parse("cpus:24;mem:4096;disk:4096")
        USED = Resources.parse("cpus:16;mem:2014;disk:1024")
    AGENT, USED = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shapes: a smoke run of a few seconds")
    parser.add_argument("--full", action="store_true", help="run every DeclineOffers round for real (minutes)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling table")
    args = parser.parse_args(argv)
    out: dict = {}
    print(f"python {sys.version.split()[0]}")
    if args.quick:
        bench_decline(1000, 100, args.full, out)
        bench_paper(5000, 20, out)
        if not args.no_scaling:
            bench_scaling([1000, 2000], [10, 100], out)
        bench_memory(5000, 20, out)
    else:
        bench_decline(10_000, 1_000, args.full, out)
        bench_paper(50_000, 200, out)
        if not args.no_scaling:
            bench_scaling([1_000, 5_000, 10_000, 20_000, 50_000], [10, 100, 200, 1_000], out)
        bench_memory(50_000, 200, out)
        bench_memory_decline(10_000, 1_000, out)
    print(json.dumps(out, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
