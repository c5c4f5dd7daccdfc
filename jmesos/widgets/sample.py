"""A made-up but faithful event log, to see (and test) the views without starting a cluster.

:func:`sample_events` plays a small two-framework run the way the master
records one: agents register, a DRF-like allocator offers each free agent to
the framework with the lowest dominant share, frameworks accept (launching
tasks, some with a data location) or decline, tasks run and finish or fail, an
offer times out, and an agent dies half way through.  Every protocol step is
also a ``message`` event, so the message trace has something to show.

It imports nothing from Jupyter, so tests and benchmarks can use it too.
"""

from __future__ import annotations

import heapq
import random
from typing import Any

from ..core.events import Event
from ..core.resources import Resources

__all__ = ["sample_events"]


def sample_events(
    seed: int = 0,
    agents: int = 4,
    duration: float = 30.0,
    kill_agent_at: float | None = 14.0,
    frameworks: tuple[tuple[str, dict[str, Any]], ...] = (
        ("analytics", {"cpus": 1, "mem": 512}),
        ("web-batch", {"cpus": 1.5, "mem": 128}),
    ),
) -> list[Event]:
    """A plausible event log of ``duration`` seconds on ``agents`` agents of 4 cpus and 2 GiB.

    ``frameworks`` lists ``(name, task resources)``; the first one gives its
    tasks a data location (a preferred agent), so the locality view has data.
    """
    if not isinstance(agents, int) or agents < 1:
        raise ValueError(f"agents={agents!r} must be a positive int, e.g. agents=4")
    rng = random.Random(seed)
    events: list[Event] = []
    t0 = 1000.0

    def rec(t: float, kind: str, source: str = "master", dest: str = "", /, **data: Any) -> None:
        events.append(Event(round(t0 + t, 4), kind, source, dest, data))

    def msg(t: float, src: str, dst: str, type_: str, /, **data: Any) -> None:
        rec(t, "message", src, dst, type=type_, **data)

    total = Resources()
    free: dict[str, Resources] = {}
    agent_total: dict[str, Resources] = {}
    for i in range(1, agents + 1):
        agent_id = f"agent-{i}"
        res = Resources(cpus=4, mem=2048)
        t = 0.05 * i
        msg(t, agent_id, "master", "RegisterAgent", hostname=f"node{i}", resources=res.to_dict())
        rec(
            t,
            "agent_added",
            agent_id,
            agent_id=agent_id,
            hostname=f"node{i}",
            resources=res.to_dict(),
            attributes={"rack": f"r{(i - 1) // 2 + 1}"},
        )
        msg(t, "master", agent_id, "AgentRegistered", agent_id=agent_id)
        free[agent_id], agent_total[agent_id] = res, res
        total = total + res

    fw_ids = []
    need: dict[str, Resources] = {}
    for j, (name, task_res) in enumerate(frameworks):
        fid = f"{name}"
        t = 0.5 + 0.3 * j
        msg(t, fid, "master", "RegisterFramework", name=name, role="*")
        rec(t, "framework_added", fid, framework_id=fid, name=name, role="*")
        msg(t, "master", fid, "FrameworkRegistered", framework_id=fid)
        fw_ids.append(fid)
        need[fid] = Resources(task_res)

    used: dict[str, Resources] = {f: Resources() for f in fw_ids}
    running: list[tuple[float, str, str, str, Resources]] = []  # (end, fid, task_id, agent_id, res)
    alive = set(free)
    seq = {"offer": 0, "task": 0}
    timed_out_once = False

    def share(fid: str) -> float:
        return used[fid].dominant_share(total) if total else 0.0

    def shares_event(t: float) -> None:
        all_used = sum(used.values(), Resources())
        rec(
            t,
            "shares",
            shares={f: round(share(f), 4) for f in fw_ids},
            used=all_used.to_dict(),
            total=total.to_dict(),
            utilization={k: round(v, 4) for k, v in all_used.shares(total).items()},
        )

    t = 1.0
    while t < duration:
        # tasks that end before this round
        while running and running[0][0] <= t:
            end, fid, task_id, agent_id, res = heapq.heappop(running)
            if agent_id not in alive:
                continue
            state = "TASK_FAILED" if rng.random() < 0.08 else "TASK_FINISHED"
            msg(end, agent_id, "master", "StatusUpdate", task_id=task_id, state=state, agent_id=agent_id)
            rec(
                end,
                "task_state",
                agent_id,
                task_id=task_id,
                framework_id=fid,
                agent_id=agent_id,
                state=state,
                reason="REASON_TASK_FAILED" if state == "TASK_FAILED" else "REASON_NONE",
                message="ZeroDivisionError: division by zero" if state == "TASK_FAILED" else "",
            )
            msg(end, "master", fid, "StatusUpdate", task_id=task_id, state=state, agent_id=agent_id)
            free[agent_id] = free[agent_id] + res
            used[fid] = used[fid].subtract_available(res)
        if kill_agent_at is not None and t >= kill_agent_at and "agent-2" in alive and agents >= 2:
            agent_id = "agent-2"
            alive.discard(agent_id)
            why = "missed 3 health checks (1s apart)"
            for _end, fid, task_id, aid, res in list(running):
                if aid == agent_id:
                    rec(
                        t,
                        "task_state",
                        "master",
                        task_id=task_id,
                        framework_id=fid,
                        agent_id=aid,
                        state="TASK_LOST",
                        reason="REASON_AGENT_REMOVED",
                        message=f"agent {aid} was removed: {why}",
                    )
                    msg(t, "master", fid, "StatusUpdate", task_id=task_id, state="TASK_LOST", agent_id=aid)
                    used[fid] = used[fid].subtract_available(res)
            running = [r for r in running if r[3] != agent_id]
            heapq.heapify(running)
            total = total.subtract_available(agent_total[agent_id])
            rec(t, "agent_removed", agent_id, agent_id=agent_id, reason=why)
            for fid in fw_ids:
                msg(t, "master", fid, "AgentLost", agent_id=agent_id)
            kill_agent_at = None
        # one allocation round: each free agent to the framework with the lowest dominant share
        for agent_id in sorted(alive):
            if not free[agent_id] or not any(need[f] <= free[agent_id] for f in fw_ids):
                continue
            order = sorted(fw_ids, key=share)
            fid = order[0]
            seq["offer"] += 1
            offer_id = f"o-{seq['offer']}"
            res = free[agent_id]
            explanation = f"{agent_id} went to {fid}: lowest dominant share {share(fid):.2f}" + (
                f" (next: {order[1]} at {share(order[1]):.2f})" if len(order) > 1 else ""
            )
            rec(
                t,
                "offer",
                "master",
                fid,
                offer_id=offer_id,
                framework_id=fid,
                agent_id=agent_id,
                resources=res.to_dict(),
                explanation=explanation,
                details={"order": [[f, round(share(f), 4)] for f in order]},
            )
            msg(
                t,
                "master",
                fid,
                "ResourceOffers",
                offers=[{"offer_id": offer_id, "agent_id": agent_id, "resources": res.to_dict()}],
            )
            answer = t + rng.uniform(0.02, 0.25)
            if not timed_out_once and t > 6 and fid == fw_ids[-1]:
                timed_out_once = True
                rec(
                    t + 2.0,
                    "offer_rescinded",
                    "master",
                    fid,
                    offer_id=offer_id,
                    framework_id=fid,
                    agent_id=agent_id,
                    reason="not answered within offer_timeout=2s",
                )
                msg(t + 2.0, "master", fid, "RescindOffer", offer_id=offer_id)
                continue
            fits = free[agent_id] // need[fid] if need[fid] else 0
            n = min(fits, rng.randint(0, 3))
            if n == 0:
                msg(answer, fid, "master", "Decline", offer_ids=[offer_id], refuse_seconds=1.0)
                rec(
                    answer,
                    "offer_declined",
                    fid,
                    offer_id=offer_id,
                    framework_id=fid,
                    agent_id=agent_id,
                    refuse_seconds=1.0,
                )
                continue
            tasks = []
            for _ in range(n):
                seq["task"] += 1
                task_id = f"{fid}-t{seq['task']}"
                tasks.append(task_id)
                locality: list[str] = []
                if fid == fw_ids[0]:
                    locality = [rng.choice(sorted(agent_total))]
                rec(
                    answer,
                    "task_launched",
                    fid,
                    agent_id,
                    task_id=task_id,
                    name=task_id,
                    framework_id=fid,
                    agent_id=agent_id,
                    resources=need[fid].to_dict(),
                    locality=locality,
                    local=(agent_id in locality) if locality else None,
                    kind="python",
                )
                rec(
                    answer,
                    "task_state",
                    "master",
                    task_id=task_id,
                    framework_id=fid,
                    agent_id=agent_id,
                    state="TASK_STAGING",
                    reason="REASON_NONE",
                    message="",
                )
                free[agent_id] = free[agent_id] - need[fid]
                used[fid] = used[fid] + need[fid]
                start = answer + rng.uniform(0.05, 0.3)
                rec(
                    start,
                    "task_state",
                    agent_id,
                    task_id=task_id,
                    framework_id=fid,
                    agent_id=agent_id,
                    state="TASK_RUNNING",
                    reason="REASON_NONE",
                    message="",
                )
                heapq.heappush(running, (start + rng.uniform(1.5, 6.0), fid, task_id, agent_id, need[fid]))
            msg(answer, fid, "master", "Accept", offer_ids=[offer_id], tasks=tasks, task_count=len(tasks))
            rec(
                answer,
                "offer_accepted",
                fid,
                offer_id=offer_id,
                framework_id=fid,
                agent_id=agent_id,
                tasks=tasks,
                task_count=len(tasks),
            )
            msg(answer, "master", agent_id, "RunTasks", tasks=tasks, task_count=len(tasks))
            shares_event(answer)
        for agent_id in sorted(alive):
            msg(t + 0.5, "master", agent_id, "Ping")
            msg(t + 0.51, agent_id, "master", "Pong")
        shares_event(t + 0.6)
        t += 1.0
    events.sort(key=lambda e: e.time)
    return events
