"""The allocator inside the pure master: explanations reach the event log, a broken policy never stops it."""

from __future__ import annotations

from jmesos.core import messages as m
from jmesos.core.allocator import Policy, register_policy
from jmesos.core.model import Filters

from .harness import Harness


class Crashes(Policy):
    """A student's first attempt: it raises on every agent."""

    def order(self, agent, candidates, view):
        raise KeyError("share")


def test_a_crashing_policy_is_logged_and_the_master_keeps_offering_with_drf():
    register_policy("crashes", Crashes)
    h = Harness(policy="crashes")
    h.add_framework("F", name="F")
    h.add_agent("A", "cpus:4;mem:4096")
    (offer,) = h.offers("F")
    assert offer.explanation.startswith(f"{offer.agent_id} went to {offer.framework_id} because its dominant share")
    errors = [e for e in h.events if e.kind == "error"]
    assert errors and "policy 'crashes' raised KeyError: 'share' in order()" in errors[0].data["message"]
    assert "falling back to drf" in errors[0].data["message"]
    assert h.master.allocator.policy.name == "drf"


def test_offer_events_carry_the_explanation_and_filters_show_in_it():
    h = Harness()
    agent = h.add_agent("A", "cpus:4;mem:4096")
    f1 = h.add_framework("F1", name="F1")
    (first,) = h.offers("F1")
    f2 = h.add_framework("F2", name="F2")
    h.send("F1", m.Decline(f1, [first.id], Filters(refuse_seconds=30)))
    (second,) = h.offers("F2")
    h.send("F2", m.Decline(f2, [second.id], Filters(refuse_seconds=0)))
    h.advance(1.0)
    (third,) = h.offers("F2")
    # F1 and F2 have had one offer each: F1 comes first in the order but has filtered the agent
    assert third.explanation == (
        f"{agent} went to {f2} because its dominant share 0.00 was the lowest; {f1} was filtered until t=30.0 s."
    )
    events = [e for e in h.events if e.kind == "offer"]
    assert len(events) == 3 and events[-1].data["explanation"] == third.explanation
