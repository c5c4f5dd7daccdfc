# Source of lessons/01-resource-offers.ipynb (jupytext percent format; build with: python lessons/build.py)

# %% [markdown]
# # Lesson 1 — Resource offers: how Mesos shares a cluster
#
# **You will:** start a small cluster, watch the master hand out *resource offers*, write a framework that
# accepts some and declines others, see how *filters* change the flow of offers, kill a machine and watch a
# framework recover — and then write a scheduler that packs tasks into offers, checked by the notebook.
#
# **Time:** about 30 minutes of reading and thinking. The cells themselves run in well under two minutes.
# Run them from top to bottom (Shift-Enter); every number you read is printed by the cell that computes it.
#
# ## The idea in one paragraph
#
# A Mesos cluster has one **master**, many **agents** (the machines) and several **frameworks** (a Spark
# job, a Hadoop cluster, an MPI program, your own Python class). The master does *not* decide which task
# runs where. It decides **how much** each framework may have, and hands that out as **resource offers**:
# *"agent-2 has 2 cpus and 1 GiB free — do you want them?"*. Each framework's **scheduler** decides
# **whether** to use an offer and **which tasks** to run on it. Two deciders, two levels: *two-level
# scheduling*. The master stays small and general; each framework keeps its own scheduling smarts.

# %%
import time

import jmesos
from jmesos.teaching import measure, settle
from jmesos.widgets import Dashboard

cluster = jmesos.LocalCluster(
    agents=3,
    cpus=2,
    mem="1GiB",  # three small machines, 2 cpus and 1 GiB each
    allocation_interval=0.2,  # the master hands out offers every 0.2 s (Mesos's default is 1 s)
    ping_interval=0.25,  # health checks every 0.25 s, so a dead agent is noticed quickly
    seed=0,  # the master's own random choices are the same on every run (timings still vary a little)
)
print(cluster)
print("agents:", cluster.agents)

# %% [markdown]
# The cluster runs in background processes: a master and three agents. The dashboard below redraws as the
# cells further down run — keep it in view (its **Offers** tab lists every offer and what became of it).

# %%
Dashboard(cluster)

# %% [markdown]
# ## 1. Watching offers arrive
#
# A framework is a Python class with callbacks. The one that matters most is
# `resource_offers(driver, offers)`: the master calls it with a list of offers, and the framework answers
# each one through the `driver`. Our first framework only looks. It writes every offer down and declines
# it, adding a **filter**: `refuse_seconds=1` means *"don't offer me this agent again for one second"*.


# %%
class Watcher(jmesos.Scheduler):
    """Writes down every offer it gets, and declines it."""

    def __init__(self, refuse_seconds=1.0):
        self.refuse_seconds = refuse_seconds
        self.seen = []

    def resource_offers(self, driver, offers):
        for offer in offers:
            self.seen.append(offer)
            driver.decline_offer(offer.id, jmesos.Filters(refuse_seconds=self.refuse_seconds))


watcher = cluster.run_async(Watcher(), name="watcher")  # runs in the background
time.sleep(2)
watcher.driver.suppress_offers()  # "no more offers, please" ...
time.sleep(0.3)
watcher.stop()  # ... then leave

for offer in watcher.scheduler.seen[:6]:
    print(f"{offer.id:>5}  {offer.agent_id}  {offer.resources}")

# %% [markdown]
# Each offer is **one agent's free resources, for one framework**. The watcher was alone, so it was
# offered every agent — and offered it again each time its one-second filter ran out.
#
# Everything the cluster does is also an **event** in `cluster.events`: offers, answers, task states,
# agents coming and going. The lessons take every number from there. Here are the watcher's offers,
# counted from the log:

# %%
rows = [row for row in measure.offer_answers(cluster) if row["framework"] == "watcher"]
per_agent = {}
for row in rows:
    per_agent[row["agent"]] = per_agent.get(row["agent"], 0) + 1
print(f"{len(rows)} offers in about 2 s; per agent: {dict(sorted(per_agent.items()))}")
print(
    "what became of them:",
    {outcome: sum(r["outcome"] == outcome for r in rows) for outcome in ("accepted", "declined")},
)
first = cluster.events.filter("offer")[0]
print("\none raw event:", first.time, first.kind, {k: first.data[k] for k in ("offer_id", "agent_id", "resources")})
print("why that framework:", first.data["explanation"])

# %% [markdown]
# ## 2. A first framework: accept some offers, decline the rest
#
# To *accept* an offer, a framework launches tasks on it with `driver.launch_tasks([offer.id], tasks)`.
# A task names the resources it needs and what to run — here a Python function and its arguments. Whatever
# part of the offer the tasks do not use goes straight back to the master.
#
# This framework computes six squares, **one task per offer**, and declines offers it has no use for.


# %%
def square(x):
    return x * x


class Squares(jmesos.Scheduler):
    """Squares 0..n-1, one task per offer; stops when every result is in."""

    def __init__(self, n):
        self.todo = list(range(n))
        self.results = {}
        self.n = n

    def resource_offers(self, driver, offers):
        need = jmesos.Resources(cpus=1, mem="128MiB")
        for offer in offers:
            if self.todo and need <= offer.resources:  # does one task fit in this offer?
                i = self.todo.pop(0)
                task = jmesos.TaskInfo(name=f"square-{i}", resources=need, fn=square, args=(i,))
                driver.launch_tasks([offer.id], [task], jmesos.Filters(refuse_seconds=0))  # accept
            else:
                driver.decline_offer(offer.id, jmesos.Filters(refuse_seconds=1))  # decline

    def status_update(self, driver, status):
        if status.state == jmesos.TASK_FINISHED:
            self.results[status.task_id] = status.data  # a Python task's return value
        elif status.is_terminal:  # failed or lost: queue it again
            self.todo.append(int(status.task_id.split("-")[1]))
        if len(self.results) == self.n:
            driver.stop()


squares = cluster.run(Squares(6), name="squares", timeout=30)  # blocks until driver.stop()
print("results:", sorted(squares.results.values()))

# %% [markdown]
# The offers the framework got, and its answers, from the log. Notice how an agent comes back a moment
# after an accept: the part of the offer the task did not use was returned and offered again. An offer
# still out when the framework stops is *rescinded*: the master takes it back.

# %%
for row in measure.offer_answers(cluster):
    if row["framework"] == "squares":
        print(
            f"{row['time']:6.2f} s  {row['offer']:>5}  {row['agent']}  {str(row['resources']):<30} "
            f"{row['outcome']:<9} {row['tasks']} task(s)"
        )
states = [e.data["state"] for e in cluster.events.filter("task_state") if e.data["task_id"] == "square-0"]
print("\nthe life of task square-0:", " → ".join(states))

# %% [markdown]
# ## 3. Filters: how long a "no" lasts
#
# Declining is free to say but not free to do: every offer is a message, and while an agent sits in an
# offer nobody else can use it. So a decline carries a filter, `refuse_seconds`, and the master keeps that
# agent away from the framework for that long (Mesos's default is 5 s). Watch the effect: the same
# watcher, three times, with three filters, for 1.5 s each.

# %%
for refuse in (0.2, 1.0, 5.0):
    name = f"watcher-{refuse:g}s"
    handle = cluster.run_async(Watcher(refuse_seconds=refuse), name=name)
    time.sleep(1.5)
    handle.driver.suppress_offers()
    time.sleep(0.3)
    handle.stop()
    got = sum(1 for row in measure.offer_answers(cluster) if row["framework"] == name)
    print(f"refuse_seconds={refuse:<3g}: {got:2d} offers ({got / len(cluster.agents):.1f} per agent)")

# %% [markdown]
# A short filter keeps a framework in the loop (it hears about resources soon after they free up) at the
# price of many messages; a long one is quiet, but slow to notice change. Filters are only an
# optimisation — a framework can always say no. (A filter always lasts at least one allocation round;
# a shorter one could expire before the master ever applied it.)
#
# ## 4. When a machine dies
#
# The master checks on every agent with regular pings. An agent that misses three in a row is declared
# gone: its tasks are reported **`TASK_LOST`** to their frameworks, and each framework decides what to
# do — here, run the lost tasks again somewhere else.


# %%
class Sleepers(jmesos.Scheduler):
    """Runs n tasks that each sleep `seconds` on one cpu, one per offer; re-launches any that are lost."""

    def __init__(self, n, seconds):
        self.todo = [f"sleep-{i}" for i in range(n)]
        self.seconds = seconds
        self.n = n
        self.finished = set()
        self.lost = []

    def resource_offers(self, driver, offers):
        need = jmesos.Resources(cpus=1, mem="128MiB")
        for offer in offers:
            if self.todo and need <= offer.resources:
                task = jmesos.TaskInfo(name=self.todo.pop(0), resources=need, fn=time.sleep, args=(self.seconds,))
                driver.launch_tasks([offer.id], [task], jmesos.Filters(refuse_seconds=0))
            else:
                driver.decline_offer(offer.id, jmesos.Filters(refuse_seconds=1))

    def status_update(self, driver, status):
        if status.state == jmesos.TASK_FINISHED:
            self.finished.add(status.task_id)
            if len(self.finished) == self.n:
                driver.stop()
        elif status.state == jmesos.TASK_LOST:
            self.lost.append((status.task_id, status.agent_id))
            self.todo.append(status.task_id)  # run it again elsewhere
            driver.revive_offers()  # and clear our filters, so offers come at once

    def agent_lost(self, driver, agent_id):
        print(f"  [framework] heard that {agent_id} is gone")


sleepers = cluster.run_async(Sleepers(6, seconds=2.5), name="sleepers")
settle(cluster, quiet=0.5)  # wait until the six tasks are placed
where = {
    e.data["task_id"]: e.data["agent_id"]
    for e in cluster.events.filter("task_launched")
    if e.data["framework_id"] == sleepers.framework_id
}
victim = max(sorted(set(where.values())), key=list(where.values()).count)
killed_at = cluster.events[-1].time
print(f"tasks placed: {where}\nkilling {victim} at t = {killed_at:.2f} s")
cluster.kill_agent(victim)
sleepers.wait(timeout=30)
print("all sleepers done")

# %% [markdown]
# What the log says happened after the kill:

# %%
removed = next(e for e in cluster.events.filter("agent_removed") if e.data["agent_id"] == victim)
print(
    f"t = {removed.time:.2f} s  master removes {victim} ({removed.data['reason']}), "
    f"{removed.time - killed_at:.2f} s after the kill"
)
for e in cluster.events.filter(["task_state", "task_launched"], since=killed_at):
    if e.data["framework_id"] != sleepers.framework_id:
        continue
    if e.kind == "task_state" and e.data["state"] == "TASK_LOST":
        print(f"t = {e.time:.2f} s  {e.data['task_id']} is TASK_LOST")
    elif e.kind == "task_launched":
        print(f"t = {e.time:.2f} s  {e.data['task_id']} launched again on {e.data['agent_id']}")
finished = sum(
    1
    for e in cluster.events.filter("task_state")
    if e.data["framework_id"] == sleepers.framework_id and e.data["state"] == "TASK_FINISHED"
)
print(f"\n{finished} of 6 tasks finished; lost and re-run: {sorted(t for t, _ in sleepers.scheduler.lost)}")

# %% [markdown]
# The master only knows *that* the agent stopped answering; it keeps no copy of the tasks' work. Recovery
# is the framework's job, and this one recovers by running the lost tasks again. Let's replace the dead
# machine before the exercise.

# %%
new_agent = cluster.add_agent()
print("added", new_agent, "— agents now:", cluster.agents)

# %% [markdown]
# ## 5. Exercise: pack the offers
#
# `Squares` and `Sleepers` launch **one task per offer**. When an agent has room for several tasks, each
# extra task waits for another offer — more messages, more rounds. Finish `resource_offers` below so that
# each offer carries **as many tasks as fit** (or as many as are left).
#
# What you need:
#
# - `self.need <= free` — does one more task fit in `free`? (It compares *every* resource.)
# - `free = free - self.need` — what is left after adding one;
# - `self.todo.pop(0)` gives the next task id; `self.task(task_id)` builds its `TaskInfo`.
#
# The last line (already there) accepts with your list of tasks; an empty list declines, with a short
# filter so the master does not bounce the same offer straight back. Then run the check cell: it runs your
# class on three small virtual clusters (one where cpus run out first, one where memory does, one with fewer
# tasks than room) and tells you ✅ or what went wrong.


# %% [exercise] packing
class Packer(jmesos.Scheduler):
    """Runs n tasks that each need `need`, packing as many as fit into every offer."""

    def __init__(self, n=24, need=jmesos.Resources(cpus=1, mem="128MiB"), seconds=0.3):
        self.todo = [f"pack-{i}" for i in range(n)]  # ids of the tasks still to launch
        self.need = need
        self.seconds = seconds
        self.n = n
        self.finished = 0

    def task(self, task_id):
        """The TaskInfo of one of our tasks: it sleeps `seconds` on `need`."""
        return jmesos.TaskInfo(name=task_id, resources=self.need, fn=time.sleep, args=(self.seconds,))

    def resource_offers(self, driver, offers):
        for offer in offers:
            free = offer.resources
            tasks = []
            # YOUR CODE HERE: while self.todo is not empty and self.need fits in free,
            # move the next task id into `tasks` (as self.task(task_id)) and take self.need off free.
            raise NotImplementedError("pack the tasks into this offer")
            driver.launch_tasks([offer.id], tasks, jmesos.Filters(refuse_seconds=0 if tasks else 0.2))

    def status_update(self, driver, status):
        if status.state == jmesos.TASK_FINISHED:
            self.finished += 1
            if self.finished == self.n:
                driver.stop()
        elif status.is_terminal:  # lost or failed: run it again
            self.todo.append(status.task_id)
            driver.revive_offers()


# %% [solution] packing
class Packer(jmesos.Scheduler):
    """Runs n tasks that each need `need`, packing as many as fit into every offer."""

    def __init__(self, n=24, need=jmesos.Resources(cpus=1, mem="128MiB"), seconds=0.3):
        self.todo = [f"pack-{i}" for i in range(n)]  # ids of the tasks still to launch
        self.need = need
        self.seconds = seconds
        self.n = n
        self.finished = 0

    def task(self, task_id):
        """The TaskInfo of one of our tasks: it sleeps `seconds` on `need`."""
        return jmesos.TaskInfo(name=task_id, resources=self.need, fn=time.sleep, args=(self.seconds,))

    def resource_offers(self, driver, offers):
        for offer in offers:
            free = offer.resources
            tasks = []
            while self.todo and self.need <= free:
                tasks.append(self.task(self.todo.pop(0)))
                free = free - self.need
            driver.launch_tasks([offer.id], tasks, jmesos.Filters(refuse_seconds=0 if tasks else 0.2))

    def status_update(self, driver, status):
        if status.state == jmesos.TASK_FINISHED:
            self.finished += 1
            if self.finished == self.n:
                driver.stop()
        elif status.is_terminal:  # lost or failed: run it again
            self.todo.append(status.task_id)
            driver.revive_offers()


# %% [check]
from jmesos.teaching import check_packing

packing_ok = check_packing(Packer)

# %% [markdown]
# Once the check passes, race your packer against a one-task-per-offer version of itself on the live
# cluster: 24 small tasks of ⟨0.25 cpus, 64 MiB⟩ and 0.3 s each. Eight of them fit in one agent's
# ⟨2 cpus, 1 GiB⟩, so the whole job fits in the three agents at once — if the framework packs. Count how
# many offers each version used, how long after registering its last task started, and how long it took.


# %%
class OneByOne(Packer):
    """The same framework, but only one task per offer."""

    def resource_offers(self, driver, offers):
        for offer in offers:
            tasks = [self.task(self.todo.pop(0))] if self.todo and self.need <= offer.resources else []
            driver.launch_tasks([offer.id], tasks, jmesos.Filters(refuse_seconds=0 if tasks else 0.2))


small = jmesos.Resources(cpus=0.25, mem="64MiB")
if packing_ok:
    for name, framework in (("one-by-one", OneByOne(need=small)), ("packer", Packer(need=small))):
        cluster.run(framework, name=name, timeout=60)
        used = sum(1 for row in measure.offer_answers(cluster) if row["framework"] == name and row["tasks"])
        names = measure.framework_names(cluster)
        arrived = next(e.time for e in cluster.events.filter("framework_added") if e.data["name"] == name)
        last_start = max(
            e.time for e in cluster.events.filter("task_launched") if names[e.data["framework_id"]] == name
        )
        took = measure.completion_times(cluster)[name]
        print(
            f"{name:>10}: {used:2d} offers, last task started {last_start - arrived:.2f} s after registering, "
            f"24 tasks done in {took:.2f} s"
        )
else:
    print("Finish the exercise above first (the check cell shows what to fix).")

# %% [markdown]
# The packer needs one offer per agent: all 24 tasks start in the first round of offers, and the job is
# done in little more than one task's 0.3 s. One task per offer needs 24 offers. After each launch the
# rest of the offer goes back to the master, which offers it again only at its next allocation round
# (every 0.2 s here) or when a task on that agent ends — so its last tasks start more than half a second
# after the first, and the job takes more than twice as long. Every extra offer is a round trip between
# master and framework, and a wait for the next round; on a real cluster, where messages cross the
# network and rounds are a second apart (Mesos's default), each one costs more still.
#
# ## Wrapping up
#
# Stop the cluster — this ends the master, the agents and every task they were running.

# %%
cluster.stop()
print(cluster)

# %% [markdown]
# **What you saw.** The master turns free resources into offers; frameworks accept them by launching
# tasks, or decline them with a filter that says how long to stay away. The master notices a dead agent by
# missed health checks and reports its tasks lost; the framework decides how to recover.
#
# **To discuss.**
#
# 1. The master never learns what a framework *wanted*, only what it accepted. What can go wrong with
#    that — for a framework that needs 8 cpus on one machine at once, say (the paper calls this
#    *hoarding* and *fragmentation*)?
# 2. Who should choose `refuse_seconds`: the framework, the master, or the cluster operator? What would
#    you pick for a web service, a batch job, an MPI job?
# 3. The master kept no state about the sleepers' work, yet the job finished. What would have to change
#    if the *master* died instead?
