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
cores.

Two more figures say how much of the gap is the machine's:

- the *floor*: the same six wake-ups through the same kind of sockets, by
  processes that only pass one byte along (no pickling, no logic at all);
- the *cold factor*: how much longer one frame of the cycle (a status update
  and an offer, pickled and unpickled) takes right after 50 ms asleep than
  back to back.  What a process does first after an idle spell runs on cold
  caches, and on a virtual machine on a cpu the host has just woken.  It is
  measured as the wire sends the frame and, for comparison, as pickled
  dataclasses (how it travelled before the wire flattened it).

The jmesos gap and the cold frame are measured once more with every cpu kept
from idling by a busy loop at the lowest priority (``nice 19``), which yields
to anything else that wants the cpu.  It is a diagnostic, not a way to run jmesos: the difference
says how much of the gap is the cpus waking from idle (on a virtual machine,
the host waking the virtual cpu) rather than work jmesos does.

The last line is one JSON object with the median gaps.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import pickle
import selectors
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator

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


# ---------------------------------------------------------------- the floor: six wake-ups, no work
def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _connect_as(port: int, hello: bytes) -> socket.socket:
    sock = _connect(port)
    sock.sendall(hello)
    return sock


def _accept(listener: socket.socket, hello: bytes) -> socket.socket:
    """The next connection that says ``hello`` first: a stray one (a port just freed) is dropped."""
    while True:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sock.recv(len(hello)) == hello:
            return sock
        sock.close()


def _floor_worker(port: int, tasks: int, seconds: float, results) -> None:
    """Naps, then tells its agent and waits for the next go: the gap is that wait."""
    agent = _connect_as(port, b"W")
    gaps = []
    for _ in range(tasks):
        time.sleep(seconds)
        start = time.perf_counter()
        agent.sendall(b"d")
        agent.recv(16)
        gaps.append((time.perf_counter() - start) * 1000)
    results.put(gaps)


def _floor_agent(master_port: int, tasks: int, seconds: float, results) -> None:
    """Passes its worker's byte to the master and the master's answer back."""
    listener = _listener()
    master = _connect_as(master_port, b"A")
    worker_proc = multiprocessing.get_context("fork").Process(
        target=_floor_worker, args=(listener.getsockname()[1], tasks, seconds, results)
    )
    worker_proc.start()
    worker = _accept(listener, b"W")
    selector = selectors.DefaultSelector()
    selector.register(worker, selectors.EVENT_READ, master)
    selector.register(master, selectors.EVENT_READ, worker)
    while True:
        for key, _ in selector.select():
            data = key.fileobj.recv(16)
            if not data:
                worker_proc.join()
                return
            key.data.sendall(data)


def _floor_master(listener: socket.socket, agents: int, framework_port: int) -> None:
    """Passes each agent's byte to the framework (tagged with the agent) and the answer back."""
    framework = _connect_as(framework_port, b"M")
    links = [_accept(listener, b"A") for _ in range(agents)]
    selector = selectors.DefaultSelector()
    for number, link in enumerate(links):
        selector.register(link, selectors.EVENT_READ, number)
    selector.register(framework, selectors.EVENT_READ, -1)
    open_links = agents
    while open_links:
        for key, _ in selector.select():
            data = key.fileobj.recv(64)
            if not data:  # an agent whose worker is done (or the framework gone)
                if key.data == -1:
                    return
                selector.unregister(key.fileobj)
                open_links -= 1
                continue
            if key.data == -1:
                for number in data:
                    links[number].sendall(b"r")
            else:
                framework.sendall(bytes([key.data]))


def _floor_framework(listener: socket.socket) -> None:
    """Answers every byte at once: the launch, with no decision to make."""
    master = _accept(listener, b"M")
    while data := master.recv(64):
        master.sendall(data)


def floor_gaps(agents: int, tasks: int, seconds: float) -> list[float]:
    """The gap of a six-hop cycle whose processes do nothing but pass a byte along."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    framework_listener, master_listener = _listener(), _listener()
    framework = ctx.Process(target=_floor_framework, args=(framework_listener,))
    master = ctx.Process(target=_floor_master, args=(master_listener, agents, framework_listener.getsockname()[1]))
    relays = [
        ctx.Process(target=_floor_agent, args=(master_listener.getsockname()[1], tasks, seconds, results))
        for _ in range(agents)
    ]
    gaps = []
    try:
        for proc in (framework, master, *relays):
            proc.start()
        for _ in relays:  # the first go follows start-up, not a nap
            gaps += results.get(timeout=tasks * (seconds + 0.1) + 30)[1:]
    finally:
        for proc in (*relays, master, framework):
            if proc.pid is not None:
                proc.terminate()
                proc.join()
        framework_listener.close()
        master_listener.close()
    return gaps


# ---------------------------------------------------------------- the cold factor
@contextlib.contextmanager
def busy_cpus() -> Iterator[None]:
    """One lowest-priority busy loop per cpu while the block runs, so no cpu goes idle.

    Each loop also ends by itself once the bench is gone, so a killed bench leaves no cpu spinning.
    """
    loop = "import os\nos.nice(19)\nparent = os.getppid()\nwhile os.getppid() == parent: pass"
    loops = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.3)  # started and spinning
        yield
    finally:
        for proc in loops:
            proc.kill()
        for proc in loops:
            proc.wait()


def cold_factor(rounds: int = 40, idle: float = 0.05) -> dict[str, tuple[float, float]]:
    """Microseconds to pickle and unpickle one master-to-framework frame: back to back, and after ``idle`` s.

    Twice: as the wire sends it (the offer cycle's messages flattened, see
    ``jmesos/runtime/codec.py``) and as pickled dataclasses, interleaved so
    that both see the same machine.
    """
    from jmesos.core import messages as m
    from jmesos.core.model import Offer, TaskStatus
    from jmesos.runtime import codec

    frame = [
        m.StatusUpdate(TaskStatus("7", jmesos.TASK_FINISHED, agent_id="agent-1", framework_id="fw-1", uuid="u7")),
        m.ResourceOffers([Offer("o-8", "fw-1", "agent-1", "host", jmesos.Resources(cpus=1, mem=1024))]),
    ]
    ways = {
        "wire": lambda: codec.decode(pickle.loads(pickle.dumps(codec.encode(frame), protocol=pickle.HIGHEST_PROTOCOL))),
        "objects": lambda: pickle.loads(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)),
    }

    def once(way) -> float:
        start = time.perf_counter()
        way()
        return (time.perf_counter() - start) * 1e6

    hot, cold = {}, {name: [] for name in ways}
    for name, way in ways.items():
        for _ in range(100):
            once(way)
        hot[name] = statistics.median(once(way) for _ in range(rounds))
    for _ in range(rounds):
        for name, way in ways.items():
            time.sleep(idle)
            cold[name].append(once(way))
    return {name: (hot[name], statistics.median(cold[name])) for name in ways}


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
            jm, pool, floor, busy = [], [], [], []
            for _ in range(args.runs):
                jm += jmesos_gaps(cpus, args.tasks, ms / 1000)
                pool += pool_gaps(cpus, args.tasks, ms / 1000)
                floor += floor_gaps(cpus, args.tasks, ms / 1000)
                with busy_cpus():
                    busy += jmesos_gaps(cpus, args.tasks, ms / 1000)
            medians = (
                statistics.median(jm),
                statistics.median(pool),
                statistics.median(floor),
                statistics.median(busy),
            )
            rows.append((ms, cpus, *medians))
    frames = cold_factor()
    hot, cold = frames["wire"]
    objects_hot, objects_cold = frames["objects"]
    with busy_cpus():
        busy_cold = cold_factor()["wire"][1]
    print(f"\nidle gap between consecutive tasks on one cpu, median of {args.tasks} tasks per cpu x {args.runs} runs\n")
    print(
        f"{'task ms':>8}{'cpus':>6}{'jmesos gap ms':>15}{'pool gap ms':>13}{'6-hop floor ms':>16}{'jmesos, busy cpus':>19}"
    )
    for ms, cpus, jm, pool, floor, busy in rows:
        print(f"{ms:>8g}{cpus:>6}{jm:>15.2f}{pool:>13.2f}{floor:>16.2f}{busy:>19.2f}")
    print(
        f"\none master-to-framework frame, pickled and unpickled: {hot:.0f} us back to back, "
        f"{cold:.0f} us after 50 ms asleep ({cold / hot:.1f}x), "
        f"{busy_cold:.0f} us after 50 ms asleep with the cpus kept busy ({busy_cold / hot:.1f}x); "
        f"as pickled objects instead of the wire's tuples: {objects_hot:.0f} us and {objects_cold:.0f} us"
    )
    headline = {f"gap_ms_{ms:g}ms_{cpus}cpu": round(jm, 3) for ms, cpus, jm, *_ in rows}
    headline.update({f"pool_gap_ms_{ms:g}ms_{cpus}cpu": round(pool, 3) for ms, cpus, _, pool, *_ in rows})
    headline.update({f"floor_gap_ms_{ms:g}ms_{cpus}cpu": round(floor, 3) for ms, cpus, _, _, floor, _ in rows})
    headline.update({f"busy_cpus_gap_ms_{ms:g}ms_{cpus}cpu": round(busy, 3) for ms, cpus, *_, busy in rows})
    headline.update({"frame_us_hot": round(hot, 1), "frame_us_cold": round(cold, 1)})
    headline.update({"frame_us_cold_busy_cpus": round(busy_cold, 1)})
    headline.update({"objects_frame_us_hot": round(objects_hot, 1), "objects_frame_us_cold": round(objects_cold, 1)})
    print(json.dumps(headline))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
