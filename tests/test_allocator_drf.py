"""DRF through the allocator: the DRF paper's worked example and Mesos's sorter behaviours."""

from __future__ import annotations

from jmesos.core.allocator import HierarchicalAllocator, make_allocator
from jmesos.core.resources import Resources

R = Resources


def run_greedy(alloc: HierarchicalAllocator, needs: dict[str, Resources], rounds: int = 50) -> dict[str, int]:
    """Progressive filling: each offer goes to the lowest share; its framework launches ONE task and returns the rest.

    A framework whose task does not fit declines with a long filter, so the loop ends when nobody can run more.
    """
    tasks = dict.fromkeys(needs, 0)
    now = 0.0
    for _ in range(rounds):
        decisions = alloc.allocate(now)
        if not decisions:
            break
        for d in decisions:
            need = needs[d.framework_id]
            if need <= d.resources:
                tasks[d.framework_id] += 1
                alloc.recover(d.framework_id, d.agent_id, d.resources - need, None, now)
            else:
                alloc.recover(d.framework_id, d.agent_id, d.resources, 1000, now)
        now += 1.0
    return tasks


def test_drf_paper_example_a3_b2():
    alloc = make_allocator("drf")
    alloc.add_agent("agent-1", R(cpus=9, mem="18GiB"))
    alloc.add_framework("A")
    alloc.add_framework("B")
    tasks = run_greedy(alloc, {"A": R(cpus=1, mem="4GiB"), "B": R(cpus=3, mem="1GiB")})
    assert tasks == {"A": 3, "B": 2}
    shares = alloc.shares()
    assert abs(shares["A"] - 2 / 3) < 1e-9 and abs(shares["B"] - 2 / 3) < 1e-9


def test_drf_paper_example_whoever_registers_first():

    alloc = make_allocator("drf")
    alloc.add_agent("big", R(cpus=9, mem="18GiB"))
    alloc.add_framework("B")  # registration order must not matter
    alloc.add_framework("A")
    tasks = run_greedy(alloc, {"A": R(cpus=1, mem="4GiB"), "B": R(cpus=3, mem="1GiB")})
    assert tasks == {"A": 3, "B": 2}


def test_explanation_names_the_lowest_share():
    alloc = make_allocator()
    alloc.add_agent("agent-1", R(cpus=4, mem="8GiB"))
    alloc.add_agent("agent-2", R(cpus=4, mem="8GiB"))
    alloc.add_framework("A")
    alloc.add_framework("B")
    d1, d2 = alloc.allocate(0.0)
    assert (d1.framework_id, d2.framework_id) == ("A", "B")
    assert d2.explanation.startswith("agent-2 went to B because its dominant share 0.00 was the lowest")
    assert d2.details["order"] == ["B", "A"]
    assert d2.details["shares"] == {"B": 0.0, "A": 0.5}


def test_the_worked_example_explains_each_step():
    alloc = make_allocator()
    alloc.add_agent("agent-1", R(cpus=9, mem="18GiB"))
    alloc.add_framework("A")
    alloc.add_framework("B")
    said = []
    allocate = alloc.allocate

    def recording(now, agent_ids=None):
        decisions = allocate(now, agent_ids)
        said.extend(d.explanation for d in decisions)
        return decisions

    alloc.allocate = recording
    run_greedy(alloc, {"A": R(cpus=1, mem="4GiB"), "B": R(cpus=3, mem="1GiB")})
    assert said[:6] == [
        "agent-1 went to A because its dominant share 0.00 was the lowest, tied with B, which registered later.",
        "agent-1 went to B because its dominant share 0.00 was the lowest.",
        "agent-1 went to A because its dominant share 0.22 was the lowest.",
        "agent-1 went to B because its dominant share 0.33 was the lowest.",
        "agent-1 went to A because its dominant share 0.44 was the lowest.",
        "agent-1 went to B because its dominant share 0.67 was the lowest, "
        "tied with A, which has had more offers (3 vs 2).",
    ]


def test_weighted_roles_in_the_explanation():
    alloc = make_allocator(weights={"prod": 2})
    alloc.add_framework("p", "prod")
    alloc.add_framework("d", "dev")
    alloc.add_agent("x", R(cpus=4, mem=4096), used={"p": R(cpus=2, mem=2048)})
    alloc.add_agent("y", R(cpus=4, mem=4096), used={"d": R(cpus=1, mem=1024)})
    (d1, d2) = alloc.allocate(0.0)
    # prod's weighted share 0.25 / 2 = 0.125 beats dev's 0.125 / 1 on the tie-break (fewer offers, then name)
    assert d1.framework_id == "d"
    assert "in role 'dev', whose dominant share 0.12 was the lowest" in d1.explanation
    assert "/ weight 2" in d2.explanation
