# Source of lessons/02-drf.ipynb (jupytext percent format; build with: python lessons/build.py)

# %% [markdown]
# # Lesson 2 — Dominant Resource Fairness
#
# **You will:** compute dominant shares by hand, reproduce the DRF paper's worked example on a live
# cluster, see what weights do, compare DRF with single-resource fair sharing and strict priority — and then
# write an allocation policy of your own and check how fair it is.
#
# **Time:** about 30 minutes. The cells run in well under two minutes, top to bottom.
#
# ## Fair, when there is more than one resource
#
# With one resource, "fair" is easy: give everyone the same share. A cluster has several — cpus and memory
# at least — and frameworks want them in different mixes. A machine-learning job may want lots of memory
# and little cpu; a compression job the opposite. What should "the same share" mean?
#
# **Dominant Resource Fairness** (Ghodsi et al., NSDI 2011, and the default in Mesos) answers: look at each
# framework's share of every resource, and call the *largest* one its **dominant share**. DRF then keeps
# offering resources to the framework whose dominant share is smallest. Think of it as equalising what
# each framework holds *of the resource it needs most*.

# %%
import time

import plotly.graph_objects as go

import jmesos
from jmesos.teaching import OneTaskAtATime, expect, fairness, measure, settle, show_source
from jmesos.widgets import Replay

total = jmesos.Resources(cpus=9, mem="18GiB")
need = {"A": jmesos.Resources(cpus=1, mem="4GiB"), "B": jmesos.Resources(cpus=3, mem="1GiB")}

for name, task in need.items():
    share = task.shares(total)
    print(
        f"one task of {name} {task}: {share['cpus']:.3f} of the cpus, {share['mem']:.3f} of the memory"
        f" → dominant resource: {task.dominant_resource(total)}, dominant share {task.dominant_share(total):.3f}"
    )

# %% [markdown]
# This is the example of the DRF paper: a cluster of ⟨9 cpus, 18 GB⟩; framework A runs tasks of
# ⟨1 cpu, 4 GB⟩ (memory is its dominant resource, 2/9 per task), B runs tasks of ⟨3 cpus, 1 GB⟩ (cpu
# dominates, 1/3 per task).
#
# **DRF by hand.** Start with nothing allocated. Repeatedly give one task to the framework with the smallest
# dominant share, as long as its task still fits (a framework whose task no longer fits drops out). This
# is called *progressive filling*:


# %%
def progressive_filling(total, need):
    """DRF played by hand: one task at a time to the smallest dominant share, while tasks fit."""
    held = {name: jmesos.Resources() for name in need}
    while True:
        used = sum(held.values(), jmesos.Resources())
        fits = [name for name in need if used + need[name] <= total]
        if not fits:
            return held
        pick = min(fits, key=lambda name: (held[name].dominant_share(total), name))
        held[pick] = held[pick] + need[pick]
        shares = ", ".join(f"{n} {held[n].dominant_share(total):.3f}" for n in need)
        print(f"give one task to {pick:<2} → dominant shares: {shares}")


by_hand = progressive_filling(total, need)
print({name: int(held // need[name]) for name, held in by_hand.items()}, "tasks")

# %% [markdown]
# A gets 3 tasks, B gets 2, and both end with a dominant share of 2/3: A holds 12 of 18 GB, B holds
# 6 of 9 cpus. Neither can grow, because all 9 cpus are in use.
#
# ## The paper's example on a live cluster
#
# Now let the real master do it. One agent with ⟨9 cpus, 18 GiB⟩, and two frameworks that want tasks
# forever, taking **one task per offer** — so every offer is a fresh decision by the allocator, as in
# progressive filling. Here is the framework (it is in `jmesos.teaching`, so the checkers use the same code):

# %%
show_source(OneTaskAtATime)


# %%
def finish(cluster, *handles):
    """Ask the frameworks for no more offers, let the last answers arrive, then stop the cluster."""
    for handle in handles:
        handle.driver.suppress_offers()
    time.sleep(0.3)
    cluster.stop()


paper = jmesos.LocalCluster(
    agents=0,  # no machine yet: both frameworks register first, so neither gets a head start
    allocation_interval=0.2,
    seed=0,
)
a = paper.run_async(OneTaskAtATime(need["A"]), name="A")
b = paper.run_async(OneTaskAtATime(need["B"]), name="B")
paper.add_agent(cpus=9, mem="18GiB")  # now the machine joins, and the offers begin
settle(paper)  # wait until no task has been launched for a second

for row in measure.offer_answers(paper)[:7]:
    print(
        f"{row['offer']:>4} → {row['framework']}: {str(row['resources']):<28} {row['outcome']:<9}"
        f" | {row['explanation']}"
    )

# %% [markdown]
# Each line is one offer, with the allocator's own explanation of why it went to that framework: the
# shares it compared are what each framework held at that moment, and they step up just like the
# hand-played version above. Once the cpus are gone, what is left (memory only) fits nobody's task, and is
# declined. The results, read from the log:

# %% [check]
expect("tasks per framework", dict(sorted(measure.tasks_launched(paper).items())), {"A": 3, "B": 2})
shares = {name: round(share, 2) for name, share in sorted(measure.dominant_shares(paper).items())}
shares_ok = expect("dominant shares", shares, {"A": 0.67, "B": 0.67})

# %% [markdown]
# The same run as a replay: the **allocation** tab plots both dominant shares over time, climbing in turns
# to 2/3; the **offers** tab shows each offer and its answer. Drag the slider to step through it.
#
# The solid lines are what each framework's tasks hold. The faint dashed ones are the share as the
# allocator counts it, which includes offers not answered yet: while A holds the offer of the whole
# agent, A is at 100%: resources out on offer count as allocated, and nobody else is offered them until
# A answers.

# %%
Replay(paper.events, views=["allocation", "offers"])

# %%
finish(paper, a, b)

# %% [markdown]
# ## Weights, and two other policies
#
# DRF is one policy among several an organisation might want. To see them disagree we need a workload
# with more room. On one agent of ⟨18 cpus, 36 GiB⟩:
#
# - **M** is memory-hungry: tasks of ⟨1 cpu, 6 GiB⟩;
# - **S** is small: tasks of ⟨1 cpu, 2 GiB⟩.
#
# We run it four times, each time with a different allocation policy:
#
# 1. **DRF**, the default;
# 2. **weighted DRF**, with S's role given weight 2: S is entitled to twice M's dominant share;
# 3. **single-resource fair sharing** (`"fair"`): equal shares of *cpus only*, the way slot-based
#    schedulers such as Hadoop's fair scheduler count — memory is ignored;
# 4. **strict priority** (`"priority"`), with M above S: M is always offered first.
#
# For each, besides tasks and dominant shares, `fairness()` checks DRF's promises from the log:
# *sharing incentive* (everyone does at least as well as with their own 1/n slice of the cluster — their
# weighted slice, when weighted), *envy-freeness* (nobody could run more tasks with someone else's
# allocation) and *Pareto efficiency* (nobody's next task fits in what is left).

# %%
shapes = {"M": jmesos.Resources(cpus=1, mem="6GiB"), "S": jmesos.Resources(cpus=1, mem="2GiB")}
policies = {
    "DRF": ("drf", {}, None),
    "weighted DRF (S ×2)": ("drf", {"weights": {"s": 2}}, {"S": 2}),
    "fair (cpus only)": ("fair", {"resource": "cpus"}, None),
    "priority (M first)": ("priority", {"priorities": {"m": 1}}, None),
}


def experiment(policy, options=None, weights=None):
    """Run M and S under `policy` until the allocation settles; return the fairness report from the log."""
    cluster = jmesos.LocalCluster(
        agents=0,
        allocation_interval=0.2,
        policy=policy,
        policy_options=options,
        seed=0,
    )
    handles = [cluster.run_async(OneTaskAtATime(shape), name=name, role=name.lower()) for name, shape in shapes.items()]
    cluster.add_agent(cpus=18, mem="36GiB")
    settle(cluster)
    report = fairness(cluster, shapes, weights)
    finish(cluster, *handles)
    return report


reports = {}
for label, (policy, options, weights) in policies.items():
    reports[label] = experiment(policy, options, weights)
    print(f"{label:<20} {reports[label].summary()}")

# %%
figure = go.Figure(
    [
        go.Bar(
            name=name,
            x=list(reports),
            y=[r.shares[name] for r in reports.values()],
            text=[f"{r.tasks[name]} tasks" for r in reports.values()],
            textposition="outside",
        )
        for name in shapes
    ],
    layout=go.Layout(
        title="Dominant share of M and S under four policies (from the event log)",
        yaxis=dict(title="dominant share", range=[0, 1.15]),
        barmode="group",
        height=380,
    ),
)
figure.show()

# %% [markdown]
# **Reading the results.**
#
# - **DRF** equalises the dominant shares: M holds half the memory, S half the cpus, and all three
#   properties hold.
# - **Weighted DRF** gives S twice M's dominant share; measured against *weighted* slices (S's is 2/3 of
#   the cluster, M's 1/3) it keeps its promises too.
# - **cpu-only fair sharing** looks fair by its own yardstick (cpu shares), but memory is what M needs
#   most, and it is never counted: M takes more memory than DRF would give it, and S ends up with fewer tasks
#   than it could run on half the cluster by itself — sharing incentive fails.
# - **Strict priority** does what it says: M goes first and takes all the memory, and S starves. Sometimes
#   that is exactly what an organisation wants (production before experiments); it is not fair.
#
# ## Exercise: your own allocation policy
#
# In jmesos, an allocation policy is a small class. The allocator does the mechanics (filters, offers,
# bookkeeping) and, for each agent with free resources, asks the policy's `order(agent, candidates, view)`
# who should be offered it: `candidates` are the ids of the frameworks that may get the agent now; return
# them in the order to offer — the first one gets the whole agent.
#
# Write DRF yourself. For each candidate `f`, `view.allocation(f)` is the `Resources` it holds
# (`.cpus`, `.mem`) and `view.total` the cluster's. Sort the candidates so that the smallest dominant share
# comes first. (The checker hands your `order()` the candidates shuffled, so returning them unchanged will
# not do.)


# %% [exercise] policy
class MyDRF(jmesos.Policy):
    """Offer each agent to the framework with the smallest dominant share."""

    def order(self, agent, candidates, view):
        # YOUR CODE HERE: return the candidates sorted by dominant share, smallest first.
        raise NotImplementedError("sort the candidates by dominant share")


# %% [solution] policy
class MyDRF(jmesos.Policy):
    """Offer each agent to the framework with the smallest dominant share."""

    def order(self, agent, candidates, view):
        total = view.total

        def dominant_share(framework):
            held = view.allocation(framework)
            return max(held.cpus / total.cpus, held.mem / total.mem)

        return sorted(candidates, key=dominant_share)


# %% [check]
from jmesos.teaching import check_policy

policy_ok = check_policy(MyDRF)

# %% [markdown]
# Your policy is a real one: the allocator runs it unchanged. Here it drives M and S on a `VirtualCluster` —
# the same master and allocator code, on a virtual clock, inside this notebook, so the answer comes at once
# and the same every time. Compare with the built-in DRF above. (A live cluster takes it too:
# `jmesos.LocalCluster(policy=MyDRF)` sends your class to the master's process.)

# %% [check]
from jmesos.teaching import VirtualCluster

if policy_ok:
    virtual = VirtualCluster(
        agents=[{"cpus": 18, "mem": "36GiB"}], policy=MyDRF(), allocation_interval=0.2, task_seconds=1000
    )
    for name, shape in shapes.items():
        virtual.add_framework(OneTaskAtATime(shape), name=name, role=name.lower())
    virtual.run(until=10)
    mine = fairness(virtual, shapes)
    print(mine.summary())
    expect("tasks under your policy", mine.tasks, reports["DRF"].tasks)
else:
    print("❌ finish the exercise above first (the check cell shows what to fix).")

# %% [markdown]
# **Going further** (not checked): make your policy honour weights — `view.role(f)` is a framework's role
# and `view.weight(role)` its weight; divide the dominant share by the weight. Or invent a policy of your
# own (oldest framework first? fewest tasks first?), run `experiment(YourPolicy())` and look at which
# fairness properties it keeps.
#
# **To discuss.**
#
# 1. DRF is *strategy-proof*: a framework cannot get more by lying about its demands. Why would
#    single-resource fair sharing tempt a framework to lie, and about what?
# 2. In the paper's example both frameworks end at 2/3 and 4 GB of memory stay idle. Is that waste?
#    Could any allocation use them without making someone worse off?
# 3. Mesos applies DRF *through offers*: the master picks who is offered, the framework picks what to take.
#    What could a framework that accepts everything it is offered do to DRF's guarantees? (Think of
#    what our frameworks did by taking one task per offer.)
