"""Exercise checkers: run a student's code on a small, seeded, virtual cluster and say ✅ correct or ❌ with a hint.

Each checker prints one verdict line — ``✅ correct — ...`` or ``❌ not yet —
...`` followed by a ``hint:`` line — and returns a :class:`CheckResult` that
is true only when the answer is right.  A checker never passes silently: an
exception in the student's code, a missing method or an empty stub are all
reported as ❌ with what to do next.  Bad *arguments* to a checker (passing an
instance where a class is wanted, say) raise ``TypeError`` with a one-line
message instead, because that is a mistake in calling the checker, not in
the answer.

The checkers run the student's code on :class:`~.virtual.VirtualCluster` —
the real master and allocator on a virtual clock — so every student gets the
same verdict for the same code, in a fraction of a second.
"""

from __future__ import annotations

import copy
import inspect
import os
import random
import sysconfig
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..core.allocator import Policy
from ..core.events import Event
from ..core.resources import Resources
from ..core.scheduler import Scheduler
from . import measure
from .virtual import VirtualCluster
from .workloads import JobSpec, OneTaskAtATime, seeded_durations

__all__ = ["CheckResult", "check_packing", "check_policy", "check_completion_times", "check_prediction"]

CORRECT = "✅ correct"
NOT_YET = "❌ not yet"


@dataclass
class CheckResult:
    """The verdict of a checker: truthy when correct; ``message`` and ``hint`` say why."""

    exercise: str
    passed: bool
    message: str
    hint: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        if self.passed:
            return f"{CORRECT} — {self.message}"
        return f"{NOT_YET} — {self.message}" + (f"\n   hint: {self.hint}" if self.hint else "")

    def __repr__(self) -> str:
        return f"<CheckResult {self.exercise}: {'correct' if self.passed else 'not yet'}>"


def _verdict(exercise: str, passed: bool, message: str, hint: str = "", quiet: bool = False) -> CheckResult:
    result = CheckResult(exercise, passed, message, hint)
    if not quiet:
        print(result)
    return result


def _fmt(res: Resources) -> str:
    """Resources the way the lessons write them: ⟨4 cpus, 2 GiB⟩."""
    parts = []
    if res.cpus:
        parts.append(f"{res.cpus:g} cpu{'s' if res.cpus != 1 else ''}")
    if res.mem:
        mem = res.mem
        parts.append(f"{mem / 1024:g} GiB" if mem >= 1024 and (mem / 1024).is_integer() else f"{mem:g} MiB")
    return "⟨" + ", ".join(parts) + "⟩" if parts else "⟨nothing⟩"


# A packing run of a right answer takes a few hundred steps; a framework that keeps relaunching tasks the
# master refuses can take millions within the virtual hour, so a check stops it well before that.
_STEP_BUDGET = 50_000

_NOT_YOURS = tuple(
    os.path.normcase(os.path.abspath(path)) + os.sep
    for path in {
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),  # the jmesos package
        *(sysconfig.get_paths().get(key, "") for key in ("stdlib", "platstdlib", "purelib", "platlib")),
    }
    if path
)


def _where(exc: BaseException | None) -> str:
    """Where in the student's own code ``exc`` was raised, as ``" (line 4 of its cell: `...`)"``, or ''."""
    if exc is None:
        return ""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not os.path.normcase(os.path.abspath(f.filename)).startswith(_NOT_YOURS) and f.filename != __file__
    ]
    if not frames:
        return ""
    frame = frames[-1]
    place = "its cell" if "ipykernel_" in frame.filename else os.path.basename(frame.filename)
    line = (frame.line or "").strip()
    return f" (line {frame.lineno} of {place}: `{line}`)" if line else f" (line {frame.lineno} of {place})"


def _record_exceptions(obj: Any, names: tuple[str, ...], into: list[BaseException]) -> None:
    """Wrap ``obj``'s methods ``names`` so that an exception they raise is also kept in ``into`` (then re-raised)."""
    for name in names:
        method = getattr(obj, name, None)
        if not callable(method):
            continue

        def wrapper(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            try:
                return _method(*args, **kwargs)
            except BaseException as exc:
                into.append(exc)
                raise

        try:
            setattr(obj, name, wrapper)
        except (AttributeError, TypeError):  # __slots__ or a read-only attribute: do without the line number
            pass


def _require_class(value: Any, base: type, base_name: str, checker: str, example: str) -> type:
    if isinstance(value, base):
        raise TypeError(f"{checker} wants your class, not an instance: write {checker}({type(value).__name__})")
    if not (isinstance(value, type) and issubclass(value, base)):
        raise TypeError(f"{checker} wants a subclass of {base_name}, e.g. {example}; got {value!r:.60}")
    return value


# ======================================================================================
# Lesson 1: pack as many tasks into each offer as fit
# ======================================================================================


@dataclass
class _PackingCase:
    title: str
    agents: int
    cpus: float
    mem: str
    n: int
    need: Resources


_PACKING_CASES = [
    _PackingCase("cpus run out first", 2, 4, "2GiB", 20, Resources(cpus=1, mem="256MiB")),
    _PackingCase("memory runs out first", 2, 4, "1GiB", 12, Resources(cpus=0.5, mem="300MiB")),
    _PackingCase("fewer tasks than room", 1, 8, "4GiB", 3, Resources(cpus=1, mem="256MiB")),
]


def check_packing(packer: type, *, quiet: bool = False) -> CheckResult:
    """Check lesson 1's exercise: ``packer(n=..., need=...)`` must pack every offer as full as it can.

    Runs the class on three small virtual clusters (cpus binding, memory
    binding, fewer tasks than room) and reads the event log: every offer must
    carry as many tasks as fit in it (or as many as are left), no task may be
    refused by the master, every offer must be answered, and all tasks must
    finish.  Tasks do not execute here; each "runs" for one virtual second.
    """
    _require_class(packer, Scheduler, "jmesos.Scheduler", "check_packing", "check_packing(Packer)")
    packed: list[str] = []
    total = 0
    for case in _PACKING_CASES:
        try:
            scheduler = packer(n=case.n, need=case.need)
        except Exception as exc:
            return _verdict(
                "packing",
                False,
                f"{packer.__name__}(n={case.n}, need={case.need!r}) failed: {type(exc).__name__}: {exc}",
                "keep the __init__(self, n, need, ...) signature from the exercise cell",
                quiet,
            )
        raised: list[BaseException] = []
        _record_exceptions(scheduler, ("resource_offers", "status_update"), raised)
        cluster = VirtualCluster(
            case.agents, case.cpus, case.mem, allocation_interval=0.2, task_seconds=1.0, quiet=True
        )
        driver = cluster.add_framework(scheduler, name="packer")
        try:
            cluster.run(max_steps=_STEP_BUDGET)
            endless = False
        except RuntimeError:  # out of budget (or virtual time stood still): judge what happened so far
            endless = True
        events = cluster.events.filter()
        end = max(cluster.now, events[-1].time if events else 0.0)
        problem = _packing_problem(case, events, driver, end, raised[0] if raised else None)
        if problem is None and endless:
            problem = (
                f"your framework was still busy after {end:.0f} virtual seconds and "
                f"{sum(e.kind == 'task_launched' for e in events)} task launches, for {case.n} tasks",
                "launch each task id once, and call driver.stop() once all have finished "
                "(keep the status_update method from the exercise cell)",
            )
        if problem is not None:
            message, hint = problem
            return _verdict("packing", False, f"[{case.title}] {message}", hint, quiet)
        packed.append(
            f"{_first_wave(cluster.events.filter())} per {_fmt(Resources(cpus=case.cpus, mem=case.mem))} offer when {case.title}"
        )
        total += case.n
    return _verdict(
        "packing",
        True,
        f"every offer was packed full ({'; '.join(packed)}), and all {total} tasks finished.",
        quiet=quiet,
    )


def _first_wave(events: list[Event]) -> int:
    """How many tasks the first accepted offer carried (for the summary line)."""
    for e in events:
        if e.kind == "offer_accepted" and e.data.get("task_count"):
            return int(e.data["task_count"])
    return 0


def _packing_problem(
    case: _PackingCase, events: list[Event], driver: Any, end: float | None = None, raised: BaseException | None = None
) -> tuple[str, str] | None:
    """What is wrong with one packing run, as (message, hint), or None when it is right.

    ``end`` is the virtual time the run stopped at (default: the last event's); ``raised`` the first
    exception the student's callbacks raised, to point at its line.
    """
    if driver.errors:
        error = driver.errors[0]
        if "NotImplementedError" in error:
            return (
                f"{error}",
                "replace the `raise NotImplementedError` line in resource_offers with your packing loop",
            )
        method = "status_update" if ".status_update raised" in error else "resource_offers"
        return (
            f"{error}{_where(raised)}",
            f"fix that error in your {method}: when a callback raises, the driver reports it and goes on, and any "
            "offer the callback had not answered yet stays unanswered",
        )
    refused = [e for e in events if e.kind == "task_state" and e.data.get("state") == "TASK_ERROR"]
    if refused:
        why = refused[0].data.get("message", "")
        if "left" in why or "needs" in why:
            hint = (
                "you launched more tasks than fit: after adding a task, subtract its resources from what is left "
                "of the offer, and compare *all* resources (`need <= free` does), not only cpus"
            )
        elif "already in use" in why or "appears twice" in why:
            hint = "give every task its own task_id (the ids in self.todo are unique; launch each one once)"
        elif "agent" in why:
            hint = "build tasks for the offer's agent (leave agent_id out, or use offer.agent_id)"
        else:
            hint = "the master refuses tasks that are malformed or do not fit; see its message"
        return (f"the master refused {len(refused)} task(s); the first: {why}", hint)
    # every offer must carry as many tasks as fit, or as many as were still waiting
    launched = 0
    offers: dict[str, tuple[float, Resources]] = {}
    answered: set[str] = set()
    for e in events:
        d = e.data
        if e.kind == "offer":
            offers[d["offer_id"]] = (e.time, Resources.coerce(d.get("resources") or None))
        elif e.kind == "task_launched":
            launched += 1
        elif e.kind in ("offer_accepted", "offer_declined"):
            oid = d["offer_id"]
            answered.add(oid)
            if oid not in offers:
                continue
            count = int(d.get("task_count", 0) or 0) if e.kind == "offer_accepted" else 0
            before = launched - count
            left = case.n - before
            offered = offers[oid][1]
            room = min(left, int(offered // case.need))
            if count < room:
                if count == 0:
                    hint = "you declined an offer with room to spare; launch tasks on it while the next one still fits"
                elif count == 1:
                    hint = (
                        "you launch one task per offer; keep adding tasks while the next one still fits in what is left"
                    )
                else:
                    hint = "keep adding tasks until the next one no longer fits (or none are left), not a fixed number"
                return (
                    f"offer {oid} on {d['agent_id']} had {_fmt(offered)}: room for {room} task(s) of "
                    f"{_fmt(case.need)} with {left} still waiting, but you launched {count}",
                    hint,
                )
        elif e.kind == "offer_rescinded" and d.get("offer_id") in offers and d["offer_id"] not in answered:
            # taken back before the framework answered: fine if the agent went away at once, not if it sat unanswered
            when, offered = offers[d["offer_id"]]
            if e.time - when > 0.5:
                return (
                    f"offer {d['offer_id']} ({_fmt(offered)}) was never answered, so nobody else could use it",
                    "answer every offer: launch tasks on it, or decline it (driver.launch_tasks([offer.id], []) declines)",
                )
            answered.add(d["offer_id"])
    if end is None:
        end = events[-1].time if events else 0.0
    for oid, (when, offered) in offers.items():
        if oid not in answered and end - when > 0.5:
            return (
                f"offer {oid} ({_fmt(offered)}) was never answered, so nobody else could use it",
                "answer every offer: launch tasks on it, or decline it (driver.launch_tasks([offer.id], []) declines)",
            )
    finished = {e.data["task_id"] for e in events if e.kind == "task_state" and e.data.get("state") == "TASK_FINISHED"}
    if len(finished) < case.n:
        return (
            f"only {len(finished)} of {case.n} tasks finished within an hour of virtual time",
            "launch a task for every id in self.todo (and remove it from self.todo once launched)",
        )
    if not driver.done:
        return (
            f"all {case.n} tasks finished but the framework kept running",
            "keep the status_update method from the exercise cell: it calls driver.stop() when all are done",
        )
    return None


# ======================================================================================
# Lesson 2: write an allocation policy (DRF by hand) and check its fairness
# ======================================================================================


@dataclass
class _PolicyCase:
    title: str
    agents: list[dict[str, Any]]
    demands: dict[str, Resources]


_POLICY_CASES = [
    _PolicyCase(
        "the DRF paper's example",
        [{"cpus": 9, "mem": "18GiB"}],
        {"A": Resources(cpus=1, mem="4GiB"), "B": Resources(cpus=3, mem="1GiB")},
    ),
    _PolicyCase(
        "a memory-hungry and a small framework",
        [{"cpus": 18, "mem": "36GiB"}],
        {"M": Resources(cpus=1, mem="6GiB"), "S": Resources(cpus=1, mem="2GiB")},
    ),
    _PolicyCase(
        "three frameworks",
        [{"cpus": 12, "mem": "24GiB"}],
        {
            "A": Resources(cpus=1, mem="4GiB"),
            "B": Resources(cpus=3, mem="1GiB"),
            "C": Resources(cpus=2, mem="2GiB"),
        },
    ),
]


def run_policy_case(policy: Any, case: _PolicyCase, **policy_options: Any) -> VirtualCluster:
    """Run one of the policy scenarios (each framework takes one task per offer) until it settles."""
    cluster = VirtualCluster(
        case.agents,
        policy=policy,
        policy_options=policy_options,
        allocation_interval=0.2,
        task_seconds=10_000,
        quiet=True,
    )
    for name, need in case.demands.items():
        cluster.add_framework(OneTaskAtATime(need), name=name, role=name.lower())
    cluster.run(until=20.0)
    return cluster


class _Spy:
    """Wraps a policy's ``order``: hands it the candidates shuffled, and records each choice against DRF."""

    def __init__(self, policy: Policy, seed: int) -> None:
        self.rng = random.Random(seed)
        self.inner = policy.order
        self.wrong: list[str] = []
        self.cpu_only = 0
        self.mem_only = 0
        self.unchanged = 0  # calls answered with the candidates exactly as given
        self.calls = 0
        self.raised: list[BaseException] = []  # what the policy's order() raised, to point at the line
        # for each wrong first choice, which mistaken yardsticks would have made the same choice
        self.wrong_calls = 0
        self.explained: Counter = Counter()

    def __call__(self, agent: Any, candidates: list[str], view: Any) -> Any:
        shuffled = list(candidates)
        self.rng.shuffle(shuffled)
        try:
            ranked = self.inner(agent, list(shuffled), view)
        except BaseException as exc:
            self.raised.append(exc)
            raise
        if isinstance(ranked, (list, tuple)) and ranked and len(candidates) > 1:
            self.calls += 1
            self.unchanged += list(ranked) == shuffled
            shares = {f: view.share(f) for f in candidates}
            best = min(shares.values())
            first = ranked[0]
            if first in shares and shares[first] > best + 1e-9:
                total = view.total
                held = {f: view.allocation(f) for f in candidates}
                cpu = {f: held[f].cpus / total.cpus if total.cpus else 0.0 for f in candidates}
                mem = {f: held[f].mem / total.mem if total.mem else 0.0 for f in candidates}
                if cpu[first] <= min(cpu.values()) + 1e-9:
                    self.cpu_only += 1
                if mem[first] <= min(mem.values()) + 1e-9:
                    self.mem_only += 1
                self.wrong_calls += 1
                for name, key in (
                    ("cpu", lambda f: cpu[f]),
                    ("mem", lambda f: mem[f]),
                    ("sum", lambda f: cpu[f] + mem[f]),
                    ("min", lambda f: min(cpu[f], mem[f])),
                ):
                    if key(first) <= min(key(f) for f in candidates) + 1e-9:
                        self.explained[name] += 1
                if not self.wrong:
                    lowest = min(shares, key=shares.get)
                    self.wrong.append(
                        f"when {agent.id} was on offer, {first} held {_fmt(held[first])} (dominant share "
                        f"{shares[first]:.2f}) and {lowest} held {_fmt(held[lowest])} ({shares[lowest]:.2f}), "
                        f"but your order() put {first} first"
                    )
        return ranked


def _overrides(cls: type) -> bool:
    return any(
        getattr(cls, hook) is not getattr(Policy, hook)
        for hook in ("order", "decide", "framework_key", "role_key", "share")
    )


def check_policy(policy: Any, *, quiet: bool = False) -> CheckResult:
    """Check lesson 2's exercise: a :class:`~jmesos.core.allocator.Policy` that allocates like DRF.

    ``policy`` is your Policy subclass (or an instance of it).  On three
    scenarios each framework takes one task per offer; the checker hands
    your ``order()`` the candidates *shuffled* (so returning them unchanged
    is not enough) and checks that every agent went to a framework with the
    smallest dominant share.  It also checks the policy never raised or
    returned something invalid (the allocator would quietly fall back to
    DRF), and that the outcome equals the built-in DRF's.  On success it
    prints each scenario's tasks, dominant shares and fairness properties.
    """
    if isinstance(policy, Policy):
        cls, make = type(policy), (lambda: copy.deepcopy(policy))
    else:
        cls = _require_class(policy, Policy, "jmesos.Policy", "check_policy", "check_policy(MyDRF)")
        try:
            cls()
        except Exception as exc:
            return _verdict(
                "policy",
                False,
                f"{cls.__name__}() failed: {type(exc).__name__}: {exc}",
                "give your policy an __init__ with no required arguments (or none at all)",
                quiet,
            )
        make = cls
    if not _overrides(cls):
        return _verdict(
            "policy",
            False,
            f"{cls.__name__} changes nothing: it is the built-in DRF",
            "write an order(self, agent, candidates, view) method that returns the candidates sorted by dominant share",
            quiet,
        )
    lines = []
    for i, case in enumerate(_POLICY_CASES):
        instance = make()
        spy = _Spy(instance, seed=i)
        instance.order = spy  # the instance attribute wins over the class's method
        cluster = run_policy_case(instance, case)
        errors = [e.data.get("message", "") for e in cluster.events if e.kind == "error" and e.source == "allocator"]
        errors += [str(x) for x in getattr(cluster.master.allocator, "errors", [])]
        if errors:
            # what the student needs is the error; how the allocator carries on after it is not their concern
            first = errors[0].replace(f"policy {instance.name!r}", cls.__name__, 1).split("; falling back to")[0]
            raised = spy.raised[0] if spy.raised else None
            if "NotImplementedError" in first:
                hint = "replace `raise NotImplementedError` with your code"
            elif isinstance(raised, TypeError) and "positional argument" in str(raised) and not _where(raised):
                hint = "keep the signature from the exercise cell: def order(self, agent, candidates, view)"
            elif raised is not None:
                first += _where(raised)
                hint = (
                    "fix that error in your order(); view.allocation(f) and view.total are jmesos.Resources, "
                    "with .cpus and .mem"
                )
            else:
                hint = "order() must return a list of the candidate framework ids, each once"
            return _verdict("policy", False, f"[{case.title}] the allocator reports: {first}", hint, quiet)
        if spy.wrong:
            explained = [name for name in ("cpu", "mem", "sum", "min") if spy.explained[name] == spy.wrong_calls]
            if spy.unchanged == spy.calls:
                hint = (
                    "you return the candidates in the order given; sort them yourself (the checker shuffles them). "
                    "If you do sort, your key gave every framework the same value: check it "
                    "(`/` divides, `//` rounds a share down to 0)"
                )
            elif 1 <= len(explained) <= 2:
                yardsticks = {
                    "cpu": "cpu shares only",
                    "mem": "memory shares only",
                    "sum": "the sum of the shares",
                    "min": "each framework's smallest share",
                }
                hint = (
                    f"you seem to compare {' (or '.join(yardsticks[name] for name in explained)}"
                    f"{')' if len(explained) == 2 else ''}; DRF compares each framework's *largest* share of any "
                    "resource (the max of its cpu and memory shares)"
                )
            else:
                hint = (
                    "sort by dominant share, smallest first: for framework f, the max over resources of "
                    "view.allocation(f).<r> / view.total.<r>"
                )
            return _verdict("policy", False, f"[{case.title}] {spy.wrong[0]}", hint, quiet)
        # these scenarios have one DRF outcome whatever the tie-breaking, so the counts must match exactly
        reference = run_policy_case("drf", case)
        mine, theirs = measure.tasks_launched(cluster.events), measure.tasks_launched(reference.events)
        if mine != theirs:
            return _verdict(
                "policy",
                False,
                f"[{case.title}] your policy ran {_counts(mine)} tasks, DRF runs {_counts(theirs)}",
                "offer each agent to the framework with the smallest dominant share (the largest of its cpu and "
                "memory shares)",
                quiet,
            )
        report = fairness(cluster.events, case.demands)
        lines.append(f"   {case.title}: {report.summary()}")
    result = _verdict("policy", True, "your policy allocates like DRF in every scenario:", quiet=quiet)
    if not quiet:
        print("\n".join(lines))
    return result


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no"


# ======================================================================================
# Fairness properties, from the event log
# ======================================================================================


@dataclass
class FairnessReport:
    """Tasks, dominant shares and DRF's fairness properties of one allocation (read from the event log)."""

    tasks: dict[str, int]
    shares: dict[str, float]
    sharing_incentive: dict[str, bool]
    envy: dict[str, list[str]]
    pareto_efficient: bool

    @property
    def envy_free(self) -> bool:
        return not any(self.envy.values())

    def summary(self) -> str:
        tasks = ", ".join(f"{k} {v} tasks (share {self.shares.get(k, 0):.2f})" for k, v in self.tasks.items())
        si = (
            "✓"
            if all(self.sharing_incentive.values())
            else "✗ " + ",".join(k for k, ok in self.sharing_incentive.items() if not ok)
        )
        ef = "✓" if self.envy_free else "✗"
        pe = "✓" if self.pareto_efficient else "✗"
        return f"{tasks}; sharing incentive {si}, envy-free {ef}, Pareto-efficient {pe}"

    def row(self) -> dict[str, Any]:
        """One flat dict per allocation, for a table of several policies."""
        out: dict[str, Any] = {}
        for k in self.tasks:
            out[f"{k} tasks"] = self.tasks[k]
            out[f"{k} share"] = round(self.shares.get(k, 0.0), 2)
        out["sharing incentive"] = all(self.sharing_incentive.values())
        out["envy-free"] = self.envy_free
        out["Pareto-efficient"] = self.pareto_efficient
        return out


def fairness(events: Any, demands: Mapping[str, Any], weights: Mapping[str, float] | None = None) -> FairnessReport:
    """DRF's properties for frameworks ``demands`` (name → one task's resources), from the event log.

    - *sharing incentive*: each framework runs at least as many tasks as it
      could on its slice of every resource to itself — 1/n of each with n
      frameworks, or w/Σw with ``weights`` (name → weight);
    - *envy-free*: no framework could run more tasks with another's
      allocation (scaled by their weights' ratio, when weighted);
    - *Pareto-efficient*: no framework's next task fits in what any agent has left.
    """
    demands = {k: Resources.coerce(v, f"demands[{k!r}]") for k, v in demands.items()}
    weights = {k: float((weights or {}).get(k, 1.0)) for k in demands}
    if any(w <= 0 for w in weights.values()):
        raise ValueError(f"weights={weights!r} must all be positive numbers")
    evs = measure._events(events)
    total = measure.cluster_total(evs)
    held = measure.allocations(evs)
    running = measure.running_tasks(evs)
    tasks = {name: len(running.get(name, {})) for name in demands}
    shares = {name: held.get(name, Resources()).dominant_share(total) for name in demands}
    weight_sum = sum(weights.values())
    sharing = {
        name: tasks[name] >= int((total * (weights[name] / weight_sum)) // need) for name, need in demands.items()
    }
    envy: dict[str, list[str]] = {}
    for name, need in demands.items():
        envy[name] = [
            other
            for other in demands
            if other != name
            and int((held.get(other, Resources()) * (weights[name] / weights[other])) // need) > tasks[name]
        ]
    free = _free_per_agent(evs)
    pareto = not any(need <= left for need in demands.values() for left in free.values())
    return FairnessReport(tasks, shares, sharing, envy, pareto)


def _free_per_agent(events: list[Event]) -> dict[str, Resources]:
    agents: dict[str, Resources] = {}
    live: dict[tuple[str, str], tuple[str, Resources]] = {}
    for e in events:
        d = e.data
        if e.kind == "agent_added":
            agents[d["agent_id"]] = Resources.coerce(d.get("resources") or None)
        elif e.kind == "agent_removed":
            agents.pop(d["agent_id"], None)
        elif e.kind == "task_launched":
            live[(d["framework_id"], d["task_id"])] = (d["agent_id"], Resources.coerce(d.get("resources") or None))
        elif e.kind == "task_state" and d.get("state") in measure.TERMINAL:
            live.pop((d["framework_id"], d["task_id"]), None)
    free = dict(agents)
    for agent_id, res in live.values():
        if agent_id in free:
            free[agent_id] = free[agent_id].subtract_available(res)
    return free


# ======================================================================================
# Lesson 3: measure completion times from the log; predict who gains from sharing
# ======================================================================================

#: the small workload check_completion_times measures (a miniature of lesson 3's).  Not every task in it
#: finishes: ml is a search that stops once three of its four trials are done, so the master kills the
#: trial still running (ml's last task_state is TASK_KILLED), and agent-2 dies at 0.9 s (_TIMING_AGENT_DIES), so
#: the tasks on it are TASK_LOST and run again elsewhere.  An answer that takes a framework's last
#: task_state event of any kind, instead of its last TASK_FINISHED, is caught in both runs.
_TIMING_JOBS = [
    JobSpec("batch", Resources(cpus=1, mem="256MiB"), seeded_durations(1, 12, 0.2, 0.6), arrive=0.2),
    JobSpec("ml", Resources(cpus=1, mem="512MiB"), seeded_durations(2, 4, 1.0, 1.5), arrive=0.7, enough=3),
    JobSpec("web", Resources(cpus=0.5, mem="128MiB"), seeded_durations(3, 6, 0.1, 0.3), arrive=1.3),
]
_TIMING_AGENT_DIES = ("agent-2", 0.9)


def _virtual_workload(
    jobs: list[JobSpec], policy: Any = "drf", *, kill: tuple[str, float] | None = None, **policy_options: Any
) -> VirtualCluster:
    from .workloads import Job

    cluster = VirtualCluster(
        4,
        2,
        "2GiB",
        policy=policy,
        policy_options=policy_options,
        allocation_interval=0.2,
        task_seconds=lambda task: float(task.args[0]),
        quiet=True,
    )
    for spec in jobs:
        cluster.add_framework(Job(spec), name=spec.name, role=spec.name, at=spec.arrive)
    if kill is not None:
        cluster.kill_agent(kill[0], at=kill[1])
    cluster.run()
    return cluster


def check_completion_times(fn: Callable[[Any], Mapping[str, float]], *, quiet: bool = False) -> CheckResult:
    """Check lesson 3's measuring function: ``fn(events) -> {framework name: completion time in seconds}``.

    Runs a small three-job workload on a virtual cluster, shared and statically
    partitioned, and compares ``fn``'s answer on each log with the reference
    (:func:`jmesos.teaching.measure.completion_times`); virtual times are
    exact, so the answers must agree to a microsecond.  Some tasks of the
    workload do not finish (one is killed, some are lost with their agent),
    so an answer must look at the *finished* tasks only.
    """
    if not callable(fn) or isinstance(fn, type):
        raise TypeError(
            f"check_completion_times wants your function, e.g. check_completion_times(completion_times); got {fn!r:.60}"
        )
    params = [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
    if len(params) != 1:
        raise TypeError(
            f"{getattr(fn, '__name__', fn)} must take exactly one argument, the event log; it takes {len(params)}"
        )
    for label, policy, options in (
        ("shared", "drf", {}),
        (
            "partitioned",
            "static",
            {"partitions": {"batch": ["agent-1", "agent-2"], "ml": ["agent-3"], "web": ["agent-4"]}},
        ),
    ):
        cluster = _virtual_workload(_TIMING_JOBS, policy, kill=_TIMING_AGENT_DIES, **options)
        expected = measure.completion_times(cluster.events)
        try:
            got = fn(cluster.events)
        except Exception as exc:
            hint = (
                "replace `raise NotImplementedError` with your code"
                if isinstance(exc, NotImplementedError)
                else "iterate over the events; use e.kind, e.time and e.data['framework_id'] / e.data['state']"
            )
            return _verdict(
                "completion times", False, f"[{label}] your function raised {type(exc).__name__}: {exc}", hint, quiet
            )
        if not isinstance(got, Mapping):
            return _verdict(
                "completion times",
                False,
                f"[{label}] your function returned {type(got).__name__}, not a dict",
                "return a dict: framework name -> seconds",
                quiet,
            )
        if set(got) != set(expected):
            hint = (
                "your dict is empty, so no event matched your tests: compare e.kind with 'framework_added' and "
                "'task_state', and e.data['state'] with 'TASK_FINISHED' (exactly, in capitals)"
                if not got
                else "key the dict by the name in each framework_added event (e.data['name'])"
            )
            return _verdict(
                "completion times",
                False,
                f"[{label}] your dict has keys {sorted(map(str, got))}, expected the framework names {sorted(expected)}",
                hint,
                quiet,
            )
        for name in expected:
            value = got[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return _verdict(
                    "completion times",
                    False,
                    f"[{label}] for {name!r} you give {value!r:.60}, not a number of seconds",
                    "each value must be a float: last finish time minus arrival time",
                    quiet,
                )
        wrong = [name for name, seconds in expected.items() if abs(got[name] - seconds) > 1e-6]
        if wrong:
            name = wrong[0]
            mine, theirs = _two_numbers(got[name], expected[name])
            return _verdict(
                "completion times",
                False,
                f"[{label}] for {name!r} you say {mine} s, the log says {theirs} s",
                _completion_hint(cluster.events, got, expected, wrong),
                quiet,
            )
    return _verdict(
        "completion times",
        True,
        "your function reads completion times from the log exactly, for shared and partitioned runs "
        "(with tasks killed and lost as well as finished).",
        quiet=quiet,
    )


def _two_numbers(mine: float, theirs: float) -> tuple[str, str]:
    """Both numbers to 3 decimals, or to as many more (up to 6) as it takes to show that they differ."""
    for digits in range(3, 7):
        a, b = f"{mine:.{digits}f}", f"{theirs:.{digits}f}"
        if a != b:
            break
    return a, b


def _completion_hint(events: Any, got: Mapping[str, Any], expected: Mapping[str, float], wrong: list[str]) -> str:
    """What the wrong values ``got[name]`` for ``wrong`` frameworks seem to measure, and what to measure instead."""
    evs = measure._events(events)
    names = measure.framework_names(evs)
    arrived = {name: _arrival(evs, name) for name in expected}

    def near(value: float, time: float | None) -> bool:
        return time is not None and abs(value - time) < 1e-6

    if all(near(got[n], expected[n] + arrived[n]) for n in wrong):
        return "you measured from time 0; measure from the framework's own framework_added event (its arrival)"
    removed = {names.get(e.data["framework_id"]): e.time for e in evs if e.kind == "framework_removed"}
    # every framework, not only the wrong ones: ml's leftover task is killed at the very time ml is removed
    if all(near(got[n], removed.get(n, -1.0) - arrived[n]) for n in expected):
        return (
            "you measured to the framework_removed event; a job stops a moment after its last task finishes "
            "(and its tasks still running are killed then): measure to its last TASK_FINISHED task_state event"
        )
    # a task_state event that is not a finish, at the very time a wrong value measures to
    ending: dict[str, Event] = {}
    for e in evs:
        name = names.get(e.data.get("framework_id"), "")
        if (
            e.kind == "task_state"
            and name in wrong
            and e.data.get("state") != "TASK_FINISHED"
            and near(got[name], e.time - arrived[name])
        ):
            ending[name] = e
    if ending:
        name, e = next(iter(ending.items()))
        state = e.data.get("state")
        verb = "ended" if state in measure.TERMINAL else "became"
        return (
            f"{name}'s task {e.data.get('task_id')} {verb} {state} at {e.time:.3f} s (its last TASK_FINISHED is at "
            f"{expected[name] + arrived[name]:.3f} s), and that is where you stopped the clock. Not every "
            "task_state event is a finish: a task can also fail, be killed or be lost with its agent, and each "
            "of those is a task_state event too. Count only those whose e.data['state'] is 'TASK_FINISHED'"
        )
    if all(any(abs(got[n] - round(expected[n], d)) < 1e-9 for d in range(4)) for n in wrong):
        return "so close: did you round? return the exact difference (round only when you print it)"
    return (
        "completion time = time of the framework's last TASK_FINISHED task_state event minus the "
        "time of its framework_added event"
    )


def _arrival(events: Any, name: str) -> float:
    for e in events:
        if e.kind == "framework_added" and e.data.get("name") == name:
            return e.time
    return 0.0


def check_prediction(prediction: Any, speedups: Mapping[str, float], *, quiet: bool = False) -> CheckResult:
    """Compare a prediction (a framework name) with the measured ``speedups`` (name → static time / shared time)."""
    if not isinstance(speedups, Mapping) or not speedups:
        raise TypeError("check_prediction wants the measured speedups as a dict, e.g. {'batch': 1.9, 'ml': 1.2}")
    winner = max(speedups, key=speedups.get)
    ranking = ", ".join(f"{k} ×{v:.2f}" for k, v in sorted(speedups.items(), key=lambda kv: -kv[1]))
    if isinstance(prediction, str) and prediction not in speedups:
        # "ML", " ml" or '"ml"' name a framework as well as "ml" does
        spelled = {str(name).lower(): name for name in speedups}
        prediction = spelled.get(prediction.strip().strip("'\"").strip().lower(), prediction)
    if not isinstance(prediction, str) or prediction not in speedups:
        return _verdict(
            "prediction",
            False,
            f"my_prediction={prediction!r} is not one of {sorted(speedups)}",
            "set my_prediction to the name of a framework, before looking at the results",
            quiet,
        )
    if prediction == winner:
        return _verdict("prediction", True, f"{winner} gained most ({ranking}).", quiet=quiet)
    return _verdict(
        "prediction",
        False,
        f"you predicted {prediction}, but {winner} gained most ({ranking})",
        f"look at which framework's static partition was smallest for its work, and who was idle while {winner} ran",
        quiet,
    )


def counts(events: Any) -> Counter:
    """Tasks launched per framework name (a shorthand lessons use)."""
    return measure.tasks_launched(events)
