"""The built-in policies, a student's own policy, and what happens when a policy misbehaves."""

from __future__ import annotations

import pytest

from jmesos.core.allocator import (
    DRF,
    FairShare,
    Lottery,
    Policy,
    Priority,
    StaticPartition,
    get_policy,
    make_allocator,
    policy_names,
    register_policy,
)
from jmesos.core.resources import Resources

R = Resources
AGENT = R(cpus=2, mem=2048)


def cluster(policy="drf", agents=4, frameworks=("A", "B"), roles=None, **options):
    alloc = make_allocator(policy, **options)
    for i, f in enumerate(frameworks):
        alloc.add_framework(f, (roles or {}).get(f, f"r{i}"))
    for i in range(agents):
        alloc.add_agent(f"a{i}", AGENT)
    return alloc


def owners(decisions) -> dict[str, str]:
    return {d.agent_id: d.framework_id for d in decisions}


# -- registry ---------------------------------------------------------------------------------


def test_builtin_policies_are_registered():
    assert {"drf", "priority", "fair", "lottery", "static"} <= set(policy_names())
    assert get_policy("drf") is DRF
    assert make_allocator().policy.name == "drf"


def test_unknown_policy_name_says_what_exists():
    with pytest.raises(ValueError, match=r"policy='drff' is not a policy; use one of drf, priority, fair, lottery"):
        make_allocator("drff")


def test_options_go_to_the_policy_or_the_allocator_and_unknown_ones_are_named():
    alloc = make_allocator("lottery", seed=3, min_offer=R(cpus=1))
    assert alloc.policy.seed == 3
    make_allocator("drf", seed=3)  # a seed is welcome everywhere; only random policies use it
    with pytest.raises(ValueError, match=r"colour= is not an option of policy 'drf'; use one of allocation_interval"):
        make_allocator("drf", colour=3)
    with pytest.raises(ValueError, match="resource='gpu' is not a scalar resource"):
        make_allocator("fair", resource="gpu")
    with pytest.raises(ValueError, match=r"priorities\['x'\]='high' must be a number"):
        make_allocator("priority", priorities={"x": "high"})
    with pytest.raises(ValueError, match="is not a Policy subclass"):
        register_policy("bad", dict)


# -- the built-in policies ------------------------------------------------------------------------


def test_strict_priority_serves_the_high_priority_framework_first_and_can_starve_the_rest():
    alloc = cluster("priority", priorities={"B": 10})
    got = owners(alloc.allocate(0.0))
    assert set(got.values()) == {"B"}  # B takes every agent, A starves
    first = alloc.allocate(0.0)
    assert first == []
    alloc.suppress("B")
    for a in got:
        alloc.recover("B", a, AGENT, None, 1.0)
    got = owners(alloc.allocate(1.0))
    assert set(got.values()) == {"A"}
    assert "priority" in alloc.last_round["policy"]


def test_priority_by_role_and_explanation():
    alloc = cluster("priority", priorities={"r0": 5}, agents=1)
    (d,) = alloc.allocate(0.0)
    assert d.framework_id == "A"
    assert "its priority 5 was the highest" in d.explanation


def test_single_resource_fair_share_ignores_memory_where_drf_does_not():
    """A holds little cpu but most memory: cpu-only fair sharing still calls A the poorer; DRF calls B."""
    held = {"A": R(cpus=1, mem=14 * 1024), "B": R(cpus=4, mem=1024)}
    picks = {}
    for name in ("fair", "drf"):
        alloc = make_allocator(name)
        alloc.add_framework("A", "a")
        alloc.add_framework("B", "b")
        alloc.add_agent("busy", R(cpus=8, mem=16 * 1024), used=held)
        alloc.add_agent("new", R(cpus=8, mem=16 * 1024))
        (d,) = alloc.allocate(0.0, ["new"])
        picks[name] = (d.framework_id, d.explanation)
    assert picks["fair"][0] == "A" and "its cpus share 0.06 was the lowest" in picks["fair"][1]
    assert picks["drf"][0] == "B"


def test_fair_share_on_memory():
    alloc = make_allocator("fair", resource="mem")
    assert isinstance(alloc.policy, FairShare) and alloc.policy.measure == "mem share"


def test_lottery_is_reproducible_with_a_seed_and_follows_the_tickets():
    def draws(seed):
        alloc = make_allocator("lottery", seed=seed, weights={"heavy": 3})
        alloc.add_framework("H", "heavy")
        alloc.add_framework("L", "light")
        alloc.add_agent("a", AGENT)
        out = []
        for i in range(2000):
            (d,) = alloc.allocate(float(i))
            out.append(d.framework_id)
            alloc.recover(d.framework_id, "a", d.resources, None, float(i))
        return out

    first = draws(7)
    assert first == draws(7)
    assert first != draws(8)
    assert 0.70 < first.count("H") / len(first) < 0.80  # 3 tickets of 4
    alloc = make_allocator(Lottery(seed=1))
    alloc.add_framework("X")
    alloc.add_agent("a", AGENT)
    (d,) = alloc.allocate(0.0)
    assert "won the lottery draw (seed 1)" in d.explanation


def test_lottery_never_draws_a_filtered_or_suppressed_framework():
    alloc = cluster("lottery", agents=1, frameworks=("A", "B", "C"), seed=0)
    alloc.suppress("A")
    (d,) = alloc.allocate(0.0)
    alloc.recover(d.framework_id, "a0", AGENT, 100.0, 0.0)
    other = ({"B", "C"} - {d.framework_id}).pop()
    for i in range(20):
        (d2,) = alloc.allocate(1.0 + i)
        assert d2.framework_id == other
        alloc.recover(other, "a0", AGENT, None, 1.0 + i)


def test_static_partitioning_pins_frameworks_to_their_agents():
    alloc = cluster("static", agents=6, frameworks=("A", "B"), partitions={"A": ["a0", "a1"], "B": ["a2"]})
    decisions = alloc.allocate(0.0)
    assert owners(decisions) == {"a0": "A", "a1": "A", "a2": "B"}  # a3..a5 belong to nobody
    assert decisions[0].explanation == "a0 went to A because the agent is in its static partition."
    # B cannot use A's agents even when A leaves them idle
    for a in ("a0", "a1"):
        alloc.recover("A", a, AGENT, None, 1.0)
    alloc.suppress("A")
    assert alloc.allocate(1.0) == []


def test_static_partitioning_without_a_map_splits_agents_evenly():
    alloc = cluster("static", agents=8, frameworks=("A", "B", "C", "D"))
    got = owners(alloc.allocate(0.0))
    assert [got[f"a{i}"] for i in range(8)] == ["A", "A", "B", "B", "C", "C", "D", "D"]


def test_static_partition_by_role_uses_drf_inside_the_partition():
    alloc = make_allocator(StaticPartition({"batch": ["a0", "a1", "a2", "a3"]}))
    alloc.add_framework("b1", "batch")
    alloc.add_framework("b2", "batch")
    alloc.add_framework("web", "web")
    for i in range(6):
        alloc.add_agent(f"a{i}", AGENT)
    got = list(owners(alloc.allocate(0.0)).values())
    assert sorted(got) == ["b1", "b1", "b2", "b2"]


def test_switching_policy_at_runtime():
    alloc = cluster("drf", agents=2)
    alloc.set_policy("priority")
    assert alloc.policy.name == "priority"
    alloc.set_policy(Priority({"B": 1}))
    assert set(owners(alloc.allocate(0.0)).values()) == {"B"}


# -- a student's policy ---------------------------------------------------------------------------


class Newest(Policy):
    """Offer each agent to the framework that registered last."""

    def order(self, agent, candidates, view):
        return sorted(candidates, reverse=True)


def test_a_students_policy_in_a_few_lines():
    register_policy("newest", Newest)
    alloc = cluster("newest", agents=1)
    (d,) = alloc.allocate(0.0)
    assert d.framework_id == "B"
    assert d.explanation == "a0 went to B because policy 'newest' ranked it first of 2 candidates (B, A)."
    assert d.details["policy"] == "newest"
    assert alloc.errors == []


def test_a_students_policy_sees_the_cluster():
    seen = {}

    class Snoop(Policy):
        def order(self, agent, candidates, view):
            seen.update(
                agent=agent.id,
                available=agent.available,
                candidates=list(candidates),
                share=view.share("A"),
                role=view.role("A"),
                weight=view.weight("r0"),
                total=view.total,
                now=view.now,
            )
            return candidates

    alloc = cluster(Snoop, agents=1)
    alloc.allocate(3.5)
    assert seen == {
        "agent": "a0",
        "available": AGENT,
        "candidates": ["A", "B"],
        "share": 0.0,
        "role": "r0",
        "weight": 1.0,
        "total": AGENT,
        "now": 3.5,
    }


def test_an_empty_order_offers_the_agent_to_nobody():
    class Nobody(Policy):
        def order(self, agent, candidates, view):
            return []

    alloc = cluster(Nobody, agents=2)
    assert alloc.allocate(0.0) == []
    assert alloc.errors == []


def test_a_faster_student_policy_with_a_sort_key():
    class MostOffersFirst(Policy):
        def framework_key(self, framework):
            return (-framework.count, framework.slot)

    alloc = cluster(MostOffersFirst, agents=4, roles={"A": "r", "B": "r"})
    assert set(owners(alloc.allocate(0.0)).values()) == {"A"}


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda c: 1 / 0, "raised ZeroDivisionError: division by zero in order() for agent 'a0'"),
        (lambda c: ["Z"], "returned 'Z', which is not a candidate (candidates: A, B) from order()"),
        (lambda c: ["A", "A"], "returned 'A' twice from order()"),
        (lambda c: "A", "returned str 'A' (expected a list of framework ids) from order()"),
        (lambda c: [1], "returned 1 in its list (expected framework id strings such as 'A') from order()"),
    ],
)
def test_a_bad_order_is_reported_and_drf_takes_over(answer, message):
    class Buggy(Policy):
        def order(self, agent, candidates, view):
            return answer(candidates)

    register_policy("buggy", Buggy)
    alloc = cluster("buggy", agents=2)
    got = alloc.allocate(0.0)
    assert owners(got) == {"a0": "A", "a1": "B"}  # DRF served this very round
    (error,) = alloc.errors
    assert error.startswith(f"policy 'buggy' {message}")
    assert error.endswith("falling back to drf for this round and after")
    assert alloc.policy.name == "drf" and alloc.configured_policy.name == "buggy"
    assert alloc.last_round["errors"] == [error] and alloc.last_round["fallback_from"] == "buggy"
    assert got[0].details["fallback_from"] == "buggy"
    assert alloc.drain_errors() == [error] and alloc.errors == []
    for d in got:
        alloc.recover(d.framework_id, d.agent_id, d.resources, None, 1.0)
    assert len(alloc.allocate(1.0)) == 2 and alloc.errors == []  # still DRF, no new error
    alloc.set_policy("buggy")  # trying again is explicit
    assert alloc.policy.name == "buggy"


def test_a_share_that_is_not_a_number_is_reported_and_drf_takes_over():
    """A NaN share compares false with everything: it starved B without a word."""

    class NotANumber(Policy):
        def share(self, allocation, total):
            return float("nan")

    alloc = cluster(NotANumber, agents=2)
    got = alloc.allocate(0.0)
    assert owners(got) == {"a0": "A", "a1": "B"}
    (error,) = alloc.errors
    assert error.startswith("policy 'NotANumber' ")  # an unregistered class is named by its class
    assert "share() returned nan; it must be a number" in error and "falling back to drf" in error


def test_a_built_in_policy_name_cannot_be_taken():
    """A master in another process knows 'drf' as the built-in: the two clusters would differ."""

    class Mine(Policy):
        pass

    with pytest.raises(
        ValueError, match="'drf' is a built-in policy; register yours under another name, e.g. 'my-drf'"
    ):
        register_policy("drf", Mine)
    assert get_policy("drf") is DRF


@pytest.mark.parametrize(
    "plan, message",
    [
        ([("A", "a0", AGENT), ("B", "a0", R(cpus=1))], "more than the (none) free (offered twice?)"),
        ([("A", "a0", R(cpus=3))], "more than the cpus:2;mem:2GiB free"),
        ([("A", "nowhere", AGENT)], "an unknown agent 'nowhere'"),
        ([("Z", "a0", AGENT)], "unknown framework 'Z'"),
        ([("A", "a0")], "('A', 'a0') (expected (framework_id, agent_id, resources))"),
        ([("A", "a0", {"cpu": 1})], "bad resources for 'A' on 'a0'"),
        (42, "raised TypeError"),
    ],
)
def test_a_bad_decide_is_rejected_whole_and_drf_takes_over(plan, message):
    class Planner(Policy):
        def decide(self, agents, view):
            return plan

    alloc = cluster(Planner, agents=2)
    got = alloc.allocate(0.0)
    assert owners(got) == {"a0": "A", "a1": "B"}
    (error,) = alloc.errors
    assert message in error and "falling back to drf" in error


def test_a_good_decide_can_split_an_agent():
    class Splitter(Policy):
        def decide(self, agents, view):
            return [(f, a.id, R(cpus=1, mem=1024)) for a in agents for f in ("A", "B")]

    alloc = cluster(Splitter, agents=2)
    got = alloc.allocate(0.0)
    assert [(d.framework_id, d.agent_id) for d in got] == [("A", "a0"), ("B", "a0"), ("A", "a1"), ("B", "a1")]
    assert alloc.errors == []
    assert "chose it in decide()" in got[0].explanation
    assert alloc.allocate(0.0) == []  # nothing left: a second decide() plan would be over-allocating


def test_a_policy_that_breaks_mid_round_keeps_the_good_offers():
    calls = []

    class Flaky(Policy):
        def order(self, agent, candidates, view):
            calls.append(agent.id)
            if len(calls) == 2:
                raise RuntimeError("oops")
            return list(reversed(candidates))

    alloc = cluster(Flaky, agents=3)
    got = alloc.allocate(0.0)
    assert [d.agent_id for d in got] == ["a0", "a1", "a2"]
    assert got[0].framework_id == "B"  # Flaky's choice, kept
    assert "RuntimeError: oops" in alloc.errors[0]


@pytest.mark.parametrize(
    "hook, body, message",
    [
        (
            "framework_key",
            lambda self, fw: 1 / 0,
            "raised ZeroDivisionError: division by zero in share(), framework_key",
        ),
        ("framework_key", lambda self, fw: None if fw.id == "B" else (0,), "raised TypeError"),
        ("role_key", lambda self, role: {"a": 1}, "raised TypeError"),
        ("share", lambda self, alloc, total: alloc["nope"], "raised KeyError: 'nope' in share()"),
    ],
)
def test_a_failing_fast_hook_falls_back_to_drf_without_breaking_the_books(hook, body, message):
    Broken = type("Broken", (Policy,), {hook: body})
    alloc = make_allocator(Broken)  # may already fail while sorting the empty cluster: fine
    # framework keys are only compared within a role, role keys only between roles
    alloc.add_framework("A", "r0")
    alloc.add_framework("B", "r1" if hook == "role_key" else "r0")
    alloc.add_agent("a0", AGENT)
    alloc.add_agent("a1", AGENT)
    got = alloc.allocate(0.0)
    assert sorted(d.framework_id for d in got) == ["A", "B"]
    assert alloc.policy.name == "drf"
    assert any(message in e for e in alloc.errors), alloc.errors
    for d in got:
        alloc.recover(d.framework_id, d.agent_id, d.resources, None, 1.0)
    assert len(alloc.allocate(1.0)) == 2


def test_a_failing_draw_or_reason_is_caught():
    class BadDraw(Lottery):
        def draw(self, candidates, weights):
            return "somebody"

    alloc = cluster(BadDraw(seed=1), agents=2)
    got = alloc.allocate(0.0)
    assert sorted(d.framework_id for d in got) == ["A", "B"]
    assert "draw() returned 'somebody', not one of its candidates" in alloc.errors[0]

    class BadWords(DRF):
        def reason(self, framework, role, roles):
            raise RuntimeError("speechless")

    alloc = cluster(BadWords, agents=1)
    (d,) = alloc.allocate(0.0)
    assert d.explanation.startswith("a0 went to A because its dominant share 0.00 was the lowest")
    assert "speechless" in alloc.errors[0]
    assert alloc.policy.name != "drf" or isinstance(alloc.policy, BadWords)  # only the words were lost


def test_the_documented_example_runs():
    class FewestCpus(Policy):
        """Offer each agent to the framework holding the fewest cpus."""

        def order(self, agent, candidates, view):
            return sorted(candidates, key=lambda f: view.allocation(f).cpus)

    register_policy("fewest-cpus", FewestCpus)
    alloc = make_allocator("fewest-cpus")
    alloc.add_framework("big")
    alloc.add_framework("small")
    alloc.add_agent("held", R(cpus=8, mem=1024), used={"big": R(cpus=8, mem=64)})
    alloc.add_agent("new", AGENT)
    (d,) = alloc.allocate(0.0, ["new"])
    assert d.framework_id == "small" and "policy 'fewest-cpus' ranked it first" in d.explanation


def test_register_policy_as_a_decorator():
    @register_policy("newest-first")
    class NewestFirst(Policy):
        def order(self, agent, candidates, view):
            return candidates[::-1]

    assert get_policy("newest-first") is NewestFirst and NewestFirst.name == "newest-first"
    alloc = cluster("newest-first", agents=1)
    assert alloc.allocate(0.0)[0].framework_id == "B"
    with pytest.raises(ValueError, match="already registered"):
        register_policy("newest-first", Newest, replace=False)
