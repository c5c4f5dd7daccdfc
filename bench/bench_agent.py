"""The agent alone: per-task overhead and round trip, against a fake master in this process.

    python bench/bench_agent.py [--tasks 20000] [--inflight 200] [--isolation auto]

- round trip: one no-op Python task at a time, RunTasks sent -> TASK_FINISHED received (median, p99);
- throughput: ``--inflight`` no-op tasks kept in flight, every update acknowledged;
- agent CPU per task: user+system time of the agent process only (not its workers), divided by tasks.

No master, allocator or driver is involved, so these are the agent's own costs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from jmesos.core import messages as m
from jmesos.core.model import TaskInfo
from jmesos.core.resources import Resources
from jmesos.core.states import TaskState
from jmesos.runtime.serialize import dumps_call
from jmesos.runtime.wire import Hub

PROFILED = (  # the agent under a CPU-time profiler (wall time would charge it for being preempted)
    "import cProfile, sys, time; from jmesos.runtime.agent import main; out = sys.argv.pop(1); "
    "p = cProfile.Profile(time.process_time); p.enable()\ntry: main(sys.argv[1:])\nfinally: p.disable(); p.dump_stats(out)"
)


def noop(x=None):
    return x


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of process ``pid`` (not its children)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


class FakeMaster:
    def __init__(self, secret: bytes) -> None:
        self.hub = Hub(secret, "master")
        self.address = self.hub.listen("127.0.0.1", 0)
        self.channel = None
        self.agent_id = None
        self.finished = 0
        self.done_at: dict[str, float] = {}

    def pump(self, timeout: float) -> None:
        for event in self.hub.poll(timeout):
            if event.kind == "connected":
                self.channel = event.channel
            elif event.kind == "messages":
                for msg in event.messages:
                    if isinstance(msg, m.RegisterAgent):
                        self.agent_id = "agent-1"
                        self.hub.send(event.channel, m.AgentRegistered("agent-1", 5.0))
                    elif isinstance(msg, m.StatusUpdate):
                        s = msg.status
                        self.hub.send(event.channel, m.StatusUpdateAck(s.framework_id, s.task_id, s.uuid))
                        if s.state.is_terminal:
                            if s.state != TaskState.TASK_FINISHED:
                                raise SystemExit(f"task {s.task_id} ended {s.state}: {s.message}")
                            self.finished += 1
                            self.done_at[s.task_id] = time.perf_counter()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--inflight", type=int, default=200)
    parser.add_argument("--roundtrips", type=int, default=2000)
    parser.add_argument("--isolation", default="auto")
    parser.add_argument("--profile", default=None, help="write a cProfile of the agent process to this file")
    args = parser.parse_args()
    secret = os.urandom(16).hex().encode()
    work = tempfile.mkdtemp(prefix="jmesos-bench-agent-")
    with open(os.path.join(work, "secret"), "wb") as f:
        f.write(secret)
    master = FakeMaster(secret)
    agent = subprocess.Popen(
        [
            sys.executable,
            *(["-c", PROFILED, args.profile] if args.profile else ["-m", "jmesos.runtime.agent"]),
            "--master",
            f"{master.address[0]}:{master.address[1]}",
            "--secret-file",
            os.path.join(work, "secret"),
            "--work-dir",
            work,
            "--cpus",
            "2",
            "--mem",
            "4GiB",
            "--isolation",
            args.isolation,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while master.agent_id is None and time.monotonic() < deadline:
            master.pump(0.05)
        need = Resources(cpus=0.01, mem=16)
        counter = 0

        def task() -> TaskInfo:
            nonlocal counter
            counter += 1
            return TaskInfo(task_id=f"t{counter}", resources=need, payload=dumps_call(noop, (counter,)))

        # warm up: workers forked, function cached
        for _ in range(200):
            master.hub.send(master.channel, m.RunTasks("fw-1", [task()]))
        while master.finished < 200:
            master.pump(0.05)

        # round trip, one task at a time
        samples = []
        for _ in range(args.roundtrips):
            t = task()
            start = time.perf_counter()
            master.hub.send(master.channel, m.RunTasks("fw-1", [t]))
            master.hub.flush()
            while t.task_id not in master.done_at:
                master.pump(0.01)
            samples.append(master.done_at[t.task_id] - start)
        samples.sort()
        print(
            f"round trip: median {statistics.median(samples) * 1e3:.3f} ms, p99 {samples[int(len(samples) * 0.99)] * 1e3:.3f} ms"
        )

        # throughput with tasks in flight
        base = master.finished
        cpu0 = cpu_seconds(agent.pid)
        start = time.perf_counter()
        sent = 0
        while master.finished - base < args.tasks:
            room = min(args.inflight - (sent - (master.finished - base)), args.tasks - sent)
            if room > 0:
                master.hub.send(master.channel, m.RunTasks("fw-1", [task() for _ in range(room)]))
                sent += room
            master.pump(0.01)
        elapsed = time.perf_counter() - start
        user, system = (b - a for a, b in zip(cpu0, cpu_seconds(agent.pid), strict=False))
        print(
            f"throughput: {args.tasks / elapsed:,.0f} tasks/s with {args.inflight} in flight "
            f"({elapsed:.2f} s for {args.tasks})"
        )
        print(
            f"agent CPU per task: {(user + system) / args.tasks * 1e6:.1f} us "
            f"(user {user / args.tasks * 1e6:.1f}, system {system / args.tasks * 1e6:.1f}; agent process only)"
        )
        workers = subprocess.run(["pgrep", "-P", str(agent.pid)], capture_output=True, text=True).stdout.split()
        print(f"workers in the pool: {len(workers)}")
    finally:
        agent.terminate()
        agent.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
