"""Offer mechanics around every policy, checked the way Mesos's own allocator tests check them.

Filters, suppress/revive, resources coming back, minimum offer size,
reservations, quota, revocation, explanations and ``allocate(agent_ids)``.
Pure and fast: no master, no processes, time is a number.
"""

from __future__ import annotations

import math

import pytest

from jmesos.core.allocator import FOREVER, HierarchicalAllocator, OfferDecision, make_allocator
from jmesos.core.resources import Resources

R = Resources
AGENT = R(cpus=2, mem=1024)


def offers(decisions: list[OfferDecision]) -> dict[str, str]:
    """agent id -> framework id."""
    return {d.agent_id: d.framework_id for d in decisions}


def decline(alloc: HierarchicalAllocator, decisions, refuse=None, now=0.0) -> None:
    for d in decisions:
        alloc.recover(d.framework_id, d.agent_id, d.resources, refuse, now)


# -- who gets what ---------------------------------------------------------------------------


def test_a_new_agent_goes_to_the_framework_with_the_smallest_dominant_share():
    alloc = make_allocator()
    alloc.add_framework("f1")
    alloc.add_framework("f2")
    alloc.add_agent("a1", AGENT, used={"f1": AGENT})
    assert alloc.allocate(0.0) == []  # nothing free
    alloc.add_agent("a2", AGENT)
    (d,) = alloc.allocate(1.0)
    assert (d.framework_id, d.agent_id, d.resources) == ("f2", "a2", AGENT)
    assert "f2 because its dominant share 0.00 was the lowest" in d.explanation


def test_coarse_grained_each_framework_gets_a_whole_agent():
    """Mesos's CoarseGrained: two frameworks, two agents: one whole agent each."""
    alloc = make_allocator()
    alloc.add_agent("a1", AGENT)
    alloc.add_agent("a2", AGENT)
    alloc.add_framework("f1", "role1")
    alloc.add_framework("f2", "role2")
    got = offers(alloc.allocate(0.0))
    assert sorted(got.values()) == ["f1", "f2"]


def test_equal_shares_get_equal_allocations_over_time():
    """Mesos's SameShareFairness: ties alternate instead of favouring the first name."""
    alloc = make_allocator()
    alloc.add_framework("f1")
    alloc.add_framework("f2")
    alloc.add_agent("a1", AGENT)
    counts = {"f1": 0, "f2": 0}
    for i in range(10):
        (d,) = alloc.allocate(float(i))
        counts[d.framework_id] += 1
        decline(alloc, [d], None, float(i))
    assert counts == {"f1": 5, "f2": 5}


def test_weights_change_shares_in_proportion():
    """A role of weight 2 ends with twice the agents of a role of weight 1."""
    alloc = make_allocator(weights={"big": 2.0})
    alloc.add_framework("fb", "big")
    alloc.add_framework("fs", "small")
    for i in range(30):
        alloc.add_agent(f"a{i:02d}", AGENT)
    got = offers(alloc.allocate(0.0))
    counts = {f: list(got.values()).count(f) for f in ("fb", "fs")}
    assert counts == {"fb": 20, "fs": 10}
    shares = alloc.shares()
    assert shares["fb"] == pytest.approx(2 * shares["fs"])


def test_update_weights_takes_effect_on_the_next_round():
    alloc = make_allocator()
    alloc.add_framework("fb", "big")
    alloc.add_framework("fs", "small")
    for i in range(30):
        alloc.add_agent(f"a{i:02d}", AGENT)
    alloc.update_weights({"big": 4})
    got = list(offers(alloc.allocate(0.0)).values())
    assert (got.count("fb"), got.count("fs")) == (24, 6)


def test_hierarchical_roles_first_then_frameworks_within_the_role():
    """Role 'a' has two frameworks; role 'b' one: b gets half the agents, a's two share the other half."""
    alloc = make_allocator()
    alloc.add_framework("a1", "a")
    alloc.add_framework("a2", "a")
    alloc.add_framework("b1", "b")
    for i in range(8):
        alloc.add_agent(f"x{i}", AGENT)
    got = list(offers(alloc.allocate(0.0)).values())
    assert (got.count("a1"), got.count("a2"), got.count("b1")) == (2, 2, 4)
    assert alloc.role_shares() == {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}


# -- filters ----------------------------------------------------------------------------------


def test_a_filter_longer_than_the_interval_keeps_the_agent_away_until_it_expires():
    """Mesos's OfferFilter: decline for 2 intervals; no offer after 1, an offer after 2."""
    alloc = make_allocator(allocation_interval=1.0)
    alloc.add_framework("f")
    alloc.add_agent("a", AGENT)
    (d,) = alloc.allocate(0.0)
    decline(alloc, [d], refuse=2.0, now=0.0)
    assert alloc.filters() == {"f": {"a": 2.0}}
    assert alloc.next_deadline() == 2.0
    assert alloc.allocate(1.0) == []
    assert alloc.last_round["skipped_all_filtered"] == 1
    (d,) = alloc.allocate(2.0)
    assert d.framework_id == "f"
    assert alloc.filters() == {}


def test_a_short_filter_is_not_dropped_before_the_next_round():
    """Mesos's SmallOfferFilterTimeout: a 1 s filter with a 60 s interval still applies at the next round."""
    alloc = make_allocator(allocation_interval=60.0)
    alloc.add_framework("f1")
    alloc.add_framework("f2")
    alloc.add_agent("a1", AGENT, used={"f1": AGENT})
    alloc.add_agent("a2", AGENT)
    (d,) = alloc.allocate(0.0)
    assert (d.framework_id, d.agent_id) == ("f2", "a2")
    decline(alloc, [d], refuse=1.0, now=0.0)
    # the filter's own second is over, but the next round (t=60) must still honour it
    (d,) = alloc.allocate(60.0)
    assert (d.framework_id, d.agent_id) == ("f1", "a2")
    assert "f2 was filtered until t=60.0 s" in d.explanation
    assert d.details["skipped"][0]["reason"] == "filtered"
    decline(alloc, [d], None, 60.0)
    (d,) = alloc.allocate(120.0)  # the round after: the filter is gone
    assert (d.framework_id, d.agent_id) == ("f2", "a2")


def test_filters_are_per_framework_and_agent():
    alloc = make_allocator()
    alloc.add_framework("f1")
    alloc.add_framework("f2")
    alloc.add_agent("a1", AGENT)
    alloc.add_agent("a2", AGENT)
    got = alloc.allocate(0.0)
    assert offers(got) == {"a1": "f1", "a2": "f2"}
    decline(alloc, [d for d in got if d.framework_id == "f1"], refuse=10.0)
    decline(alloc, [d for d in got if d.framework_id == "f2"], refuse=None)
    # f1 refused a1 only: a1 goes to f2; a2 (not refused by anyone) goes to f1
    assert offers(alloc.allocate(1.0)) == {"a1": "f2", "a2": "f1"}


def test_zero_or_missing_refuse_seconds_installs_no_filter():
    alloc = make_allocator()
    alloc.add_framework("f")
    alloc.add_agent("a", AGENT)
    (d,) = alloc.allocate(0.0)
    decline(alloc, [d], refuse=0.0)
    assert alloc.filters() == {}
    assert len(alloc.allocate(0.5)) == 1


def test_a_forever_filter_lasts_until_revive():
    alloc = make_allocator()
    alloc.add_framework("f")
    alloc.add_agent("a", AGENT)
    (d,) = alloc.allocate(0.0)
    decline(alloc, [d], refuse=FOREVER)
    assert alloc.filters() == {"f": {"a": math.inf}}
    assert alloc.next_deadline() is None
    assert alloc.allocate(1e12) == []
    alloc.revive("f", 1e12)
    assert len(alloc.allocate(1e12)) == 1


# -- resources come back ------------------------------------------------------------------------


def test_resources_come_back_when_a_task_finishes():
    alloc = make_allocator()
    alloc.add_framework("f")
    alloc.add_agent("a", R(cpus=4, mem=4096))
    (d,) = alloc.allocate(0.0)
    task = R(cpus=1, mem=1024)
    alloc.recover("f", "a", d.resources - task, None, 0.0)  # accepted one task, rest back
    (d2,) = alloc.allocate(1.0)
    assert d2.resources == R(cpus=3, mem=3072)
    decline(alloc, [d2], None, 1.0)
    assert alloc.allocation("f") == task
    alloc.recover("f", "a", task, None, 2.0)  # the task finished
    assert alloc.allocation("f") == R()
    (d3,) = alloc.allocate(2.0)
    assert d3.resources == R(cpus=4, mem=4096)


def test_resources_come_back_when_a_framework_exits():
    alloc = make_allocator()
    alloc.add_framework("f1")
    alloc.add_framework("f2")
    alloc.add_agent("a", AGENT)
    (d,) = alloc.allocate(0.0)
    assert d.framework_id == "f1"
    alloc.suppress("f2")
    alloc.remove_framework("f1")  # without recovering first: the allocator frees what it held
    alloc.revive("f2")
    (d,) = alloc.allocate(1.0)
    assert (d.framework_id, d.resources) == ("f2", AGENT)
    assert "f1" not in alloc.shares()


def test_resources_come_back_when_an_agent_is_lost():
    alloc = make_allocator()
    alloc.add_framework("f1")
    alloc.add_framework("f2")
    alloc.add_agent("a1", AGENT)
    alloc.add_agent("a2", AGENT)
    got = alloc.allocate(0.0)
    assert alloc.shares() == {"f1": 0.5, "f2": 0.5}
    alloc.remove_agent("a1")
    assert alloc.shares()["f1" if offers(got)["a1"] == "f1" else "f2"] == 0.0
    assert alloc.total() == AGENT
    # a recover for the lost agent is ignored quietly (the master may race with the loss)
    alloc.recover(offers(got)["a1"], "a1", AGENT, 5.0, 1.0)
    assert alloc.errors == []


def test_recovering_more_than_was_held_is_reported_not_raised():
    alloc = make_allocator()
    alloc.add_framework("f")
    alloc.add_agent("a", AGENT)
    alloc.allocate(0.0)
    alloc.recover("f", "a", R(cpus=3, mem=1024), None, 0.0)
    assert alloc.available("a") == AGENT  # clipped to what was held
    assert "held only" in alloc.drain_errors()[0]
    assert alloc.errors == []


# -- suppress, revive, deactivate ----------------------------------------------------------------


def test_suppress_stops_offers_and_revive_brings_them_back():
    alloc = make_allocator()
    alloc.add_framework("f")
    alloc.add_agent("a", AGENT)
    alloc.suppress("f")
    assert alloc.allocate(0.0) == []
    alloc.revive("f", 1.0)
    assert len(alloc.allocate(1.0)) == 1


def test_revive_clears_filters():
    alloc = make_allocator()
    alloc.add_framework("f")
    alloc.add_agent("a", AGENT)
    decline(alloc, alloc.allocate(0.0), refuse=100.0)
    assert alloc.allocate(1.0) == []
    alloc.revive("f", 1.0)
    assert len(alloc.allocate(1.0)) == 1


def test_a_suppressed_framework_is_skipped_and_the_explanation_says_so():
    alloc = make_allocator()
    alloc.add_framework("f1")
    alloc.add_framework("f2")
    alloc.add_agent("a", AGENT)
    alloc.suppress("f1")
    (d,) = alloc.allocate(0.0)
    assert d.framework_id == "f2"
    assert "f1 is suppressed" in d.explanation
    assert d.details["skipped"] == [{"framework_id": "f1", "reason": "suppressed", "text": "is suppressed"}]


def test_an_inactive_framework_gets_no_offers_until_activated():
    alloc = make_allocator()
    alloc.add_framework("f", active=False)
    alloc.add_agent("a", AGENT)
    assert alloc.allocate(0.0) == []
    alloc.activate_framework("f")
    assert len(alloc.allocate(1.0)) == 1
    alloc.recover("f", "a", AGENT, None, 1.0)
    alloc.deactivate_framework("f")
    assert alloc.allocate(2.0) == []


# -- rounds ------------------------------------------------------------------------------------------


def test_allocate_with_agent_ids_only_offers_those_agents():
    alloc = make_allocator()
    alloc.add_framework("f")
    for a in ("a1", "a2", "a3"):
        alloc.add_agent(a, AGENT)
    assert offers(alloc.allocate(0.0, ["a2", "nope", "a2"])) == {"a2": "f"}
    assert offers(alloc.allocate(0.0, "a3")) == {"a3": "f"}
    assert offers(alloc.allocate(0.0)) == {"a1": "f"}


def test_nothing_is_offered_twice():
    alloc = make_allocator()
    alloc.add_framework("f1")
    alloc.add_framework("f2")
    alloc.add_agent("a", AGENT)
    assert len(alloc.allocate(0.0)) == 1
    assert alloc.allocate(0.0) == []  # still outstanding


def test_minimum_offer_size_holds_back_fragments():
    alloc = make_allocator(min_offer=R(cpus=1, mem=512))
    alloc.add_framework("f")
    alloc.add_agent("a", R(cpus=4, mem=4096))
    (d,) = alloc.allocate(0.0)
    alloc.recover("f", "a", R(cpus=0.5, mem=3000), None, 0.0)  # a fragment: too few cpus to offer
    assert alloc.allocate(1.0) == []
    alloc.recover("f", "a", R(cpus=0.5), None, 1.0)  # a task finished: now 1 cpu, 3000 MiB
    (d,) = alloc.allocate(2.0)
    assert d.resources == R(cpus=1, mem=3000)


def test_default_minimum_is_mesos_cpus_or_mem():
    alloc = make_allocator()
    alloc.add_framework("f")
    alloc.add_agent("a", R(cpus=0.001, mem=16, disk=100))
    assert alloc.allocate(0.0) == []
    alloc.remove_agent("a")
    alloc.add_agent("b", R(cpus=0, mem=64))
    assert len(alloc.allocate(0.0)) == 1


# -- reservations ---------------------------------------------------------------------------------


def test_static_reservations_are_offered_only_to_their_role():
    """Mesos's Reservations: reserved resources go to their role; unreserved to anyone."""
    alloc = make_allocator(
        reservations={
            "a1": {"role1": R(cpus=2, mem=1024)},
            "a2": {"role2": R(cpus=2, mem=1024)},
            "a3": {"role3": R(cpus=1, mem=1024)},
        }
    )
    alloc.add_agent("a1", R(cpus=2, mem=1024))
    alloc.add_agent("a2", R(cpus=3, mem=2048))
    alloc.add_agent("a3", R(cpus=1, mem=1024))
    alloc.add_framework("f1", "role1")
    got = alloc.allocate(0.0)
    # f1 gets all of a1 and the unreserved part of a2; a3 (role3) is never offered
    assert {(d.agent_id, d.resources) for d in got} == {("a1", R(cpus=2, mem=1024)), ("a2", R(cpus=1, mem=1024))}
    alloc.add_framework("f2", "role2")
    (d,) = alloc.allocate(1.0)
    assert (d.framework_id, d.agent_id, d.resources) == ("f2", "a2", R(cpus=2, mem=1024))
    # what f2 gives back returns to role2's reservation, not to the unreserved pool
    decline(alloc, [d], None, 1.0)
    alloc.suppress("f2")
    assert alloc.allocate(2.0) == []


def test_reserve_after_registration_and_bad_reservations():
    alloc = make_allocator()
    alloc.add_agent("a", R(cpus=4, mem=4096))
    alloc.reserve("a", "prod", R(cpus=2, mem=2048))
    alloc.add_framework("dev", "dev")
    alloc.add_framework("prod", "prod")
    got = {d.framework_id: d.resources for d in alloc.allocate(0.0)}
    # dev (first in order) gets the unreserved half; prod then still gets its reserved half
    assert got == {"dev": R(cpus=2, mem=2048), "prod": R(cpus=2, mem=2048)}
    with pytest.raises(ValueError, match="only .* is free"):
        alloc.reserve("a", "other", R(cpus=64))


# -- quota -----------------------------------------------------------------------------------------


def test_quota_limit_cuts_offers_and_then_stops_them():
    alloc = make_allocator(quota={"capped": {"limit": R(cpus=3, mem=3072)}})
    alloc.add_framework("f", "capped")
    alloc.add_agent("a1", AGENT)
    alloc.add_agent("a2", AGENT)
    got = alloc.allocate(0.0)
    assert [d.resources for d in got] == [AGENT, R(cpus=1, mem=1024)]
    assert alloc.allocation("f") == R(cpus=3, mem=2048)
    assert alloc.allocate(1.0) == []  # at its cpu limit
    assert alloc.available("a2") == R(cpus=1, mem=0)


def test_a_role_below_its_guarantee_is_offered_first():
    alloc = make_allocator(quota={"gold": {"guarantee": R(cpus=4, mem=2048)}})
    alloc.add_framework("plain", "plain")
    alloc.add_framework("g", "gold")
    alloc.add_agent("a0", AGENT, used={"g": R(cpus=0, mem=0)})
    for i in range(1, 4):
        alloc.add_agent(f"a{i}", AGENT)
    got = alloc.allocate(0.0)
    # gold takes the first two agents (its guarantee), then DRF alternates
    assert [d.framework_id for d in got][:2] == ["g", "g"]


def test_bad_quota_and_options_raise_value_errors_naming_the_field():
    with pytest.raises(ValueError, match="guarantee .* exceeds limit"):
        make_allocator(quota={"r": {"guarantee": R(cpus=4), "limit": R(cpus=2)}})
    with pytest.raises(ValueError, match="fraction must be in"):
        make_allocator(quota={"r": {"guarantee": 1.5}})
    with pytest.raises(ValueError, match="unknown key 'max'"):
        make_allocator(quota={"r": {"max": R(cpus=2)}})
    with pytest.raises(ValueError, match=r"weights\['r'\]=-1 must be > 0"):
        make_allocator(weights={"r": -1})
    with pytest.raises(ValueError, match="allocation_interval"):
        make_allocator(allocation_interval="soon")
    with pytest.raises(ValueError, match="min_offer"):
        make_allocator(min_offer={"cpu": 1})
    alloc = make_allocator()
    with pytest.raises(ValueError, match="already added"):
        alloc.add_framework("f")
        alloc.add_framework("f")
    with pytest.raises(ValueError, match="framework_id"):
        alloc.add_framework("")


# -- revocation ------------------------------------------------------------------------------------


def _revocation_cluster(grace: float = 5.0) -> HierarchicalAllocator:
    alloc = make_allocator(quota={"gold": {"guarantee": 0.5}}, revocation_grace=grace)
    alloc.add_framework("hog", "plain")
    for i in range(4):
        alloc.add_agent(f"a{i}", AGENT)
    got = alloc.allocate(0.0)
    assert len(got) == 4  # the hog takes everything (long tasks)
    return alloc


def test_revocation_after_the_grace_period_serves_a_framework_below_its_guarantee():
    alloc = _revocation_cluster(grace=5.0)
    alloc.add_framework("g", "gold", now=1.0)
    assert alloc.allocate(1.0) == []  # nothing free: gold starves
    assert alloc.next_deadline() == 6.0
    assert alloc.revocations(3.0) == []  # still in its grace period
    revs = alloc.revocations(6.0)
    assert [r.framework_id for r in revs] == ["hog", "hog"]  # two agents = gold's half
    assert all(r.resources == AGENT for r in revs)
    assert "below its guarantee" in revs[0].reason
    assert alloc.revocations(6.5) == []  # the grace period starts again
    # the master kills the tasks: the resources come back and go to gold
    for r in revs:
        alloc.recover(r.framework_id, r.agent_id, r.resources, None, 7.0)
    got = alloc.allocate(7.0)
    assert [d.framework_id for d in got] == ["g", "g"]
    assert alloc.revocations(20.0) == []


def test_no_revocation_without_a_grace_period_or_when_free_resources_exist():
    alloc = make_allocator(quota={"gold": {"guarantee": 0.5}})
    alloc.add_framework("hog", "plain")
    alloc.add_agent("a0", AGENT)
    alloc.allocate(0.0)
    alloc.add_framework("g", "gold")
    alloc.allocate(1.0)
    assert alloc.revocations(100.0) == []
    alloc = _revocation_cluster()
    alloc.add_agent("spare", AGENT)
    alloc.add_framework("g", "gold", now=1.0)
    alloc.allocate(1.0)  # the spare agent goes to gold: not starving yet, it can be offered
    alloc.suppress("g")
    alloc.allocate(2.0)
    assert alloc.revocations(100.0) == []  # suppressed: it asked for nothing


# -- explanations ----------------------------------------------------------------------------------


def test_every_decision_explains_itself_with_order_and_shares():
    alloc = make_allocator()
    alloc.add_framework("A")
    alloc.add_framework("B")
    alloc.add_agent("agent-1", R(cpus=4, mem=8192))
    alloc.add_agent("agent-2", R(cpus=4, mem=8192), used={"B": R(cpus=2, mem=2048)})
    (d1, d2) = alloc.allocate(0.0)
    assert (d1.framework_id, d2.framework_id) == ("A", "B")
    decline(alloc, [d1], refuse=12.4, now=0.0)  # A declines agent-1 for 12.4 s
    (d,) = alloc.allocate(1.0)
    assert (d.agent_id, d.framework_id) == ("agent-1", "B")
    assert d.explanation == (
        "agent-1 went to B because its dominant share 0.50 was the lowest; A was filtered until t=12.4 s."
    )
    assert d.details["skipped"] == [
        {"framework_id": "A", "reason": "filtered", "until": 12.4, "text": "was filtered until t=12.4 s"}
    ]
    assert d.details["order"] == ["A", "B"]
    assert d.details["shares"] == {"A": 0.0, "B": 0.5}
    assert d.details["policy"] == "drf"
    assert d.details["skipped_count"] == 1
    summary = alloc.last_round
    assert summary["offers"] == 1 and summary["policy"] == "drf" and summary["errors"] == []
    assert summary["order"] == ["A", "B"] and summary["shares"] == {"A": 0.0, "B": 1.0}


def test_an_agent_can_grow_and_shrink():
    alloc = make_allocator()
    alloc.add_framework("f")
    alloc.add_agent("a", R(cpus=2, mem=1024))
    (d,) = alloc.allocate(0.0)
    alloc.recover("f", "a", R(cpus=1, mem=512), None, 0.0)  # f keeps 1 cpu, 512 MiB
    alloc.update_agent("a", R(cpus=4, mem=1024))
    assert alloc.available("a") == R(cpus=3, mem=512)
    assert alloc.total() == R(cpus=4, mem=1024)
    assert alloc.shares() == {"f": 0.5}
    alloc.update_agent("a", R(cpus=1, mem=512), attributes={"rack": "r2"})
    assert alloc.available("a") == R()  # the task still holds its share; nothing is free
    assert alloc.allocate(1.0) == []
    with pytest.raises(ValueError, match="no agent 'b'"):
        alloc.update_agent("b", R(cpus=1))


def test_tick_expires_filters_without_a_round():
    alloc = make_allocator()
    alloc.add_framework("f")
    alloc.add_agent("a", AGENT)
    decline(alloc, alloc.allocate(0.0), refuse=5.0)
    assert alloc.tick(4.0) == [] and alloc.filters() != {}
    assert alloc.tick(5.0) == [] and alloc.filters() == {}


def test_explanations_are_plain_json():
    import json

    alloc = make_allocator()
    alloc.add_framework("A")
    alloc.add_framework("B")
    alloc.add_agent("b", AGENT, used={"B": AGENT})  # B is ahead of nobody
    alloc.add_agent("a", AGENT)
    decline(alloc, alloc.allocate(0.0), refuse=FOREVER)  # A declines agent a for good
    (d,) = alloc.allocate(1.0)
    assert "A was filtered until it revives" in d.explanation
    assert d.details["skipped"][0]["until"] is None
    text = json.dumps({"explanation": d.explanation, "details": d.details, "round": alloc.last_round}, allow_nan=False)
    assert json.loads(text)["details"]["framework_id"] == "B"


def test_a_filter_on_leftovers_lifts_when_the_agent_has_more_to_offer():
    """Mesos's RefusedOfferFilter: a decline filter holds only while the agent offers no more than was refused."""
    alloc = make_allocator()
    for f in ("f1", "f2", "f3"):
        alloc.add_framework(f)
    alloc.add_agent("a", R(cpus=4, mem=4096))
    (d,) = alloc.allocate(0.0)
    task = R(cpus=3, mem=1024)
    leftover = d.resources - task
    alloc.recover(d.framework_id, "a", leftover, 60.0, 0.0)  # accepted a task, refused the rest for 60 s
    for f in ("f2", "f3"):  # the others refuse the same leftovers: one grouped record
        (d2,) = alloc.allocate(1.0)
        assert (d2.framework_id, d2.resources) == (f, leftover)
        alloc.recover(f, "a", d2.resources, 60.0, 1.0)
    assert alloc.allocate(2.0) == []
    assert len(alloc._agents["a"].refused) == 1
    alloc.recover("f1", "a", task, None, 3.0)  # the task ends: the agent has more than anyone refused
    assert alloc.filters() == {}
    (d3,) = alloc.allocate(3.0)
    assert d3.resources == R(cpus=4, mem=4096)


def test_a_filter_without_refused_resources_stays_until_it_expires():
    alloc = make_allocator()
    alloc.add_framework("f")
    alloc.add_agent("a", AGENT)
    alloc.allocate(0.0)
    alloc.recover("f", "a", R(), 30.0, 0.0)  # a filter about nothing in particular (e.g. from the bench)
    alloc.recover("f", "a", AGENT, None, 0.0)
    assert alloc.filters() == {"f": {"a": 30.0}}
