"""What the dashboard costs while a framework runs 10,000 tasks: widget traffic and kernel CPU.

A real Jupyter kernel (started with jupyter_client, as a notebook server
would) starts a ``LocalCluster``, displays a live ``Dashboard`` and runs a
framework of ``--tasks`` tiny Python tasks.  Meanwhile this process plays the
front end's channel: it reads the kernel's iopub stream and timestamps every
widget ``comm_msg``.  Figures:

- widget messages per second: the busiest 1-second window and the mean over
  the run (the budget is ~10/s), and the bytes they carried;
- kernel CPU spent on visualisation: the feed thread's CPU time (folding
  events, building snapshots, serialising and sending updates) plus the time
  spent receiving event batches on the cluster's thread, as a share of one
  core over the run (the budget is 10%);
- for context, the events per second the views kept up with, and the whole
  kernel process's CPU share (the framework's driver runs in the kernel too).

Scenarios: ``lazy`` (the default dashboard: only the visible tab is computed)
and ``all-views`` (every view computed on every tick, as if six were visible:
the worst case).

Run: ``python bench/bench_widgets.py`` (about a minute; ``--tasks 2000`` for a
quick run).  The last line is one JSON object of headline figures.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import textwrap
import time
from typing import Any

from jupyter_client.manager import start_new_kernel

SETUP = """
import json, time, resource, threading
import jmesos
from jmesos.widgets import Dashboard
from jmesos.widgets.snapshot import VIEWS

class Many(jmesos.Scheduler):
    '''Launch n tiny tasks as fast as offers allow, then stop.'''
    def __init__(self, n):
        self.n, self.launched, self.done = n, 0, 0
        self.need = jmesos.Resources(cpus=0.1, mem=16)
    def resource_offers(self, driver, offers):
        for offer in offers:
            tasks, left = [], offer.resources
            while self.launched < self.n and self.need <= left:
                self.launched += 1
                tasks.append(jmesos.TaskInfo(name=f"t{{self.launched}}", resources=self.need, fn=time.sleep, args=({task_seconds},)))
                left = left - self.need
            driver.launch_tasks([offer.id], tasks, jmesos.Filters(refuse_seconds=0.01))
    def status_update(self, driver, status):
        if status.is_terminal:
            self.done += 1
            if self.done == self.n:
                driver.stop()

cluster = jmesos.LocalCluster(agents={agents}, cpus=4, mem="4GiB")
dash = Dashboard(cluster, lazy={lazy})
display(dash)
time.sleep(1.0)  # let the first updates go out
"""

RUN = """
feed = dash._feed
before = feed.stats()
usage0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
handle = cluster.run_async(Many({tasks}), name="many")
handle.wait(600)
run_seconds = time.perf_counter() - t0
time.sleep(0.6)  # the last updates
usage1 = resource.getrusage(resource.RUSAGE_SELF)
after = feed.stats()
print("RESULT", json.dumps(dict(
    run_seconds=run_seconds,
    events=after["received"] - before["received"],
    feed_cpu=after["cpu_seconds"] - before["cpu_seconds"],
    feed_busy=after["busy_seconds"] - before["busy_seconds"],
    receive=after["receive_seconds"] - before["receive_seconds"],
    ticks=after["ticks"] - before["ticks"],
    sent=after["messages_sent"] - before["messages_sent"],
    process_cpu=(usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime),
    log_dropped=cluster.events.dropped,
)))
cluster.stop()
"""


def _execute(kc: Any, code: str, on_iopub: Any, timeout: float = 900) -> list[str]:
    """Run ``code``; feed every iopub message to ``on_iopub``; return the lines printed."""
    msg_id = kc.execute(code)
    printed: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError("the kernel did not finish in time") from None
        on_iopub(msg)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            printed.extend(content["text"].splitlines())
        elif kind == "error":
            raise RuntimeError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return printed


def scenario(name: str, tasks: int, agents: int, lazy: bool, task_seconds: float) -> dict[str, Any]:
    km, kc = start_new_kernel(kernel_name="python3")
    comm_msgs: list[tuple[float, int]] = []

    def on_iopub(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "comm_msg":
            size = len(json.dumps(msg["content"])) + sum(len(b) for b in msg.get("buffers") or [])
            comm_msgs.append((time.monotonic(), size))

    try:
        _execute(kc, "import json", on_iopub)
        _execute(kc, SETUP.format(agents=agents, lazy=lazy, task_seconds=task_seconds), on_iopub)
        start = time.monotonic()
        lines = _execute(kc, RUN.format(tasks=tasks), on_iopub)
        end = time.monotonic()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    result = json.loads(next(line for line in lines if line.startswith("RESULT "))[7:])
    run = [(t, n) for t, n in comm_msgs if start <= t <= end]
    times = [t for t, _ in run]
    busiest = max((sum(1 for u in times if t <= u < t + 1.0) for t in times), default=0)
    seconds = result["run_seconds"]
    figures = {
        "scenario": name,
        "tasks": tasks,
        "task_seconds": task_seconds,
        "run_seconds": round(seconds, 2),
        "events": result["events"],
        "events_per_second": round(result["events"] / seconds),
        "widget_messages": len(run),
        "widget_messages_per_second_max_1s": busiest,
        "widget_messages_per_second_mean": round(len(run) / (end - start), 2),
        "widget_kbytes_per_second_mean": round(sum(n for _, n in run) / 1024 / (end - start), 1),
        "viz_cpu_seconds": round(result["feed_cpu"] + result["receive"], 3),
        "viz_core_share": round((result["feed_cpu"] + result["receive"]) / seconds, 4),
        "kernel_process_core_share": round(result["process_cpu"] / seconds, 3),
        "feed_ticks": result["ticks"],
        "log_dropped": result["log_dropped"],
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument(
        "--task-seconds", type=float, default=0.1, help="each task sleeps this long (0: as fast as the cluster goes)"
    )
    args = parser.parse_args()
    results = []
    for name, lazy in (("lazy", True), ("all-views", False)):
        figures = scenario(name, args.tasks, args.agents, lazy, args.task_seconds)
        results.append(figures)
        print(
            textwrap.dedent(f"""
            [{name}] {figures["tasks"]} tasks in {figures["run_seconds"]} s ({figures["events_per_second"]} events/s into the views)
              widget messages: {figures["widget_messages"]} in the run; busiest second {figures["widget_messages_per_second_max_1s"]}/s, \
mean {figures["widget_messages_per_second_mean"]}/s, {figures["widget_kbytes_per_second_mean"]} KiB/s
              visualisation CPU: {figures["viz_cpu_seconds"]} s = {100 * figures["viz_core_share"]:.1f}% of one core \
(whole kernel process: {100 * figures["kernel_process_core_share"]:.0f}%, it also runs the framework's driver)
        """).strip()
        )
        sys.stdout.flush()
    lazy, full = results
    print(
        json.dumps(
            {
                "tasks": args.tasks,
                "task_seconds": args.task_seconds,
                "widget_msgs_per_s_max": max(r["widget_messages_per_second_max_1s"] for r in results),
                "viz_core_share_lazy": lazy["viz_core_share"],
                "viz_core_share_all_views": full["viz_core_share"],
                "events_per_s": lazy["events_per_second"],
                "run_seconds": lazy["run_seconds"],
            }
        )
    )


if __name__ == "__main__":
    main()
