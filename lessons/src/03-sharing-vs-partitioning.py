# Source of lessons/03-sharing-vs-partitioning.ipynb (jupytext percent format; build with: python lessons/build.py)

# %% [markdown]
# # Lesson 3 — Sharing a cluster versus partitioning it
#
# **You will:** run the same mixed workload twice — once on a cluster carved into a fixed slice per
# framework, once on a cluster the frameworks share through offers — and compare utilisation over time and
# job completion times. Before you look, you will *predict* which framework gains most from sharing;
# then you will write the code that measures it.
#
# **Time:** about 30 minutes. The cells run in under two minutes.
#
# ## The claim
#
# The Mesos paper's first argument is economic. Giving each framework its own static partition of
# machines wastes them: a framework's slice sits idle between its jobs while another framework queues.
# Sharing the whole cluster at the grain of tasks lets each framework borrow what the others are not using.
# On 96 machines with four real workloads the paper measured jobs finishing 1.14×, 2.10×, 1.26× and
# 0.96× as fast as under static partitioning (one workload was slightly *slower*), with about 10% higher
# cpu and 17% higher memory utilisation. Here is the laptop-sized version.
#
# ## The workload
#
# Three frameworks, each running one job, on four agents of ⟨2 cpus, 2 GiB⟩. Task durations are drawn
# from seeded random generators, so everyone runs exactly the same tasks.

# %%
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import jmesos
from jmesos.teaching import JobSpec, measure, run_workload, seeded_durations
from jmesos.widgets import Replay

workload = [
    JobSpec("batch", jmesos.Resources(cpus=1, mem="256MiB"), seeded_durations(1, 16, 0.3, 0.8), arrive=0.0),
    JobSpec("ml", jmesos.Resources(cpus=1, mem="512MiB"), seeded_durations(2, 16, 1.0, 1.5), arrive=1.0),
    JobSpec("web", jmesos.Resources(cpus=0.5, mem="128MiB"), seeded_durations(3, 12, 0.1, 0.3), arrive=2.0),
]
for job in workload:
    work = sum(job.durations) * job.need.cpus
    print(
        f"{job.name:>5}: {len(job.durations):2d} tasks of {str(job.need):<18} arriving at {job.arrive:.0f} s, "
        f"{work:5.1f} cpu-seconds of work"
    )

# %% [markdown]
# **Static partitioning.** Each framework gets its own machines, as an operator might have split them:
# batch, which arrives first, gets two agents, ml and web get one each. (Compare that split with the work
# each job has, printed above.) The `"static"` policy offers an agent only to the framework that owns it.
#
# **Sharing.** The same four agents, offered to everyone under DRF (lesson 2). Each job packs as many
# tasks into an offer as fit (lesson 1's exercise), and declines what it cannot use.

# %% [markdown]
# ### Exercise, part 1: predict
#
# Before running anything: which framework will gain most from sharing — that is, whose job will finish
# the most times faster on the shared cluster than on its partition? Think about how much work each has,
# how big its slice is, and who is busy when it arrives. Write your answer down (a name) and keep it.

# %% [exercise] prediction
my_prediction = None  # YOUR ANSWER: "batch", "ml" or "web"

# %% [solution] prediction
my_prediction = "ml"

# %% [markdown]
# ## Run it both ways
#
# `run_workload` starts each job at its arrival time (seconds after the call) and waits until all are
# done. About 12 seconds for the partitioned cluster, 6 for the shared one. Times are measured on the wall
# clock, so your numbers will differ from your neighbour's by a few percent — the conclusions will not.

# %%
partitions = {"batch": ["agent-1", "agent-2"], "ml": ["agent-3"], "web": ["agent-4"]}
settings = dict(agents=4, cpus=2, mem="2GiB", allocation_interval=0.2, seed=0)

with jmesos.LocalCluster(**settings, policy="static", policy_options={"partitions": partitions}) as cluster:
    run_workload(cluster, workload)
    static_log = cluster.events
print("partitioned run done:", len(static_log), "events")

with jmesos.LocalCluster(**settings, policy="drf") as cluster:
    run_workload(cluster, workload)
    shared_log = cluster.events
print("shared run done:", len(shared_log), "events")

# %% [markdown]
# ## Utilisation over time
#
# Utilisation is the fraction of the cluster's cpus (or memory) held by running tasks, read from the log:
# it rises at each `task_launched` event and falls at each task's final `task_state`.

# %%
figure = make_subplots(rows=1, cols=2, subplot_titles=("cpus", "memory"), shared_yaxes=True)
for col, resource in enumerate(("cpus", "mem"), start=1):
    for label, log, color in (("partitioned", static_log, "#d62728"), ("shared", shared_log, "#1f77b4")):
        times, used = measure.utilisation(log, resource)
        figure.add_trace(
            go.Scatter(x=times, y=used, name=label, line=dict(shape="hv", color=color), showlegend=col == 1),
            row=1,
            col=col,
        )
figure.update_layout(height=330, title="Share of the cluster in use (from the event log)")
figure.update_xaxes(title="seconds since the cluster started")
figure.show()

for label, log in (("partitioned", static_log), ("shared", shared_log)):
    print(
        f"{label:>11}: mean utilisation cpus {measure.mean_utilisation(log, 'cpus'):.0%}, "
        f"memory {measure.mean_utilisation(log, 'mem'):.0%} (from the first arrival to the last task)"
    )

# %% [markdown]
# ### Exercise, part 2: measure job completion times
#
# A job's **completion time** is the time from its arrival — its framework's `framework_added` event — to
# the end of its last task — the last `task_state` event of that framework whose state is
# `"TASK_FINISHED"`. Write `completion_times(events)`, returning a dict `{framework name: seconds}`.
#
# Careful: not every `task_state` event is a finish. A task reports `TASK_RUNNING` when it starts, and it
# can end `TASK_FAILED`, `TASK_KILLED` or `TASK_LOST` (with its agent) instead of `TASK_FINISHED`. The
# checker's workload has some, so your function must tell them apart.
#
# Each event has `e.kind`, `e.time` (seconds) and `e.data`, a dict: a `framework_added` event has
# `e.data["framework_id"]` and `e.data["name"]`; a `task_state` event has `e.data["framework_id"]` and
# `e.data["state"]`.


# %% [exercise] completion
def completion_times(events):
    """Framework name -> seconds from its arrival to its last finished task."""
    # YOUR CODE HERE
    raise NotImplementedError("measure the completion times from the events")


# %% [solution] completion
def completion_times(events):
    """Framework name -> seconds from its arrival to its last finished task."""
    names, arrived, last = {}, {}, {}
    for e in events:
        if e.kind == "framework_added":
            names[e.data["framework_id"]] = e.data["name"]
            arrived[e.data["framework_id"]] = e.time
        elif e.kind == "task_state" and e.data["state"] == "TASK_FINISHED":
            last[e.data["framework_id"]] = e.time
    return {names[f]: last[f] - arrived[f] for f in last}


# %% [check]
from jmesos.teaching import check_completion_times

timing_ok = check_completion_times(completion_times)

# %% [markdown]
# The checker ran your function on a small workload of its own (on a virtual cluster, so its answers are
# exact): one agent dies, so the tasks on it are lost and run again, and ml stops once three of its four
# trials are done, so the master kills the fourth. Now use it on our two runs:

# %%
measure_with = completion_times if timing_ok else measure.completion_times
if not timing_ok:
    print("(your function is not finished yet, so these numbers come from jmesos.teaching.measure)")
static_times, shared_times = measure_with(static_log), measure_with(shared_log)
speedups = {name: static_times[name] / shared_times[name] for name in static_times}
for name in static_times:
    print(
        f"{name:>5}: partitioned {static_times[name]:5.2f} s, shared {shared_times[name]:5.2f} s "
        f"→ ×{speedups[name]:.2f}"
    )

figure = go.Figure(
    [
        go.Bar(name="partitioned", x=list(static_times), y=list(static_times.values()), marker_color="#d62728"),
        go.Bar(name="shared", x=list(static_times), y=[shared_times[n] for n in static_times], marker_color="#1f77b4"),
    ],
    layout=go.Layout(title="Job completion time (s), lower is better", barmode="group", height=330),
)
figure.show()

# %% [markdown]
# And your prediction:

# %% [check]
from jmesos.teaching import check_prediction

prediction_ok = check_prediction(my_prediction, speedups)

# %% [markdown]
# ## Reading the results
#
# - **ml** has the most work for the smallest slice: on its one agent its sixteen tasks run two at a
#   time. Shared, it borrows the cpus batch and web are not using.
# - **batch** is busy from the start; shared, it has the whole cluster until the others arrive, then has
#   to share it.
# - **web** arrives last into a busy cluster. Its partition was idle and waiting for it; shared, it must
#   wait for others' tasks to finish. Small jobs can gain little or even lose, as one of the paper's
#   workloads did (0.96×).
# - The partitioned cluster is idle much of the time: the slices of finished or not-yet-arrived frameworks
#   cannot be lent out.
#
# Replay the shared run with the slider (the **Allocation** tab shows each framework's share over time):

# %%
Replay(shared_log)

# %% [markdown]
# **To discuss.**
#
# 1. What would make static partitioning win? (Think of a framework whose tasks need a whole machine, on a
#    shared cluster full of small tasks: *fragmentation*.)
# 2. Under sharing, web waited for others' tasks to end. What would change if the others' tasks ran for
#    hours instead of a second? What does the paper suggest (guaranteed allocations, revocation)?
# 3. The paper reports utilisation gains of 10–17% but speedups up to 2.1×. How can a small utilisation
#    gain give a large speedup for one framework?
