"""Properties that hold for every policy, whatever happens: checked with Hypothesis.

A model "master" holds every offer the allocator makes until it gives the
resources back (decline, task end, framework exit) or the agent goes away.
Whatever the sequence of events and whichever policy runs — including a
student's policy that answers at random or with garbage — no offer ever
exceeds what an agent has free, the same resources are never offered twice,
and the allocator's own books balance.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from jmesos.core.allocator import Policy, make_allocator
from jmesos.core.allocator.state import to_resources
from jmesos.core.resources import Resources

R = Resources
ROLES = ["*", "a", "b"]


class RandomOrder(Policy):
    """A student's policy that shuffles the candidates (valid answers)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def order(self, agent, candidates, view):
        out = list(candidates)
        self.rng.shuffle(out)
        return out[: self.rng.randint(0, len(out))]


class Chaotic(Policy):
    """A student's policy that sometimes answers nonsense or raises."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def order(self, agent, candidates, view):
        roll = self.rng.random()
        if roll < 0.1:
            raise RuntimeError("boom")
        if roll < 0.2:
            return ["nobody"]
        return list(candidates)


class GreedyPlanner(Policy):
    """Explicit decisions: split each agent in two halves for two frameworks (sometimes over-asking)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def decide(self, agents, view):
        fws = view.frameworks
        out = []
        for a in agents:
            if not fws:
                break
            half = Resources._raw({k: v // 2 for k, v in a.available._scalars.items()}, frozenset())
            if not half:
                continue
            f = self.rng.choice(fws)
            out.append((f, a.id, half))
            if self.rng.random() < 0.05:
                out.append((f, a.id, a.available))  # over-asks: must be rejected whole
        return out


POLICIES = {
    "drf": lambda seed: make_allocator("drf"),
    "priority": lambda seed: make_allocator("priority", priorities={"a": 2, "f1": 5}),
    "fair": lambda seed: make_allocator("fair"),
    "lottery": lambda seed: make_allocator("lottery", seed=seed),
    "static": lambda seed: make_allocator("static"),
    "random-order": lambda seed: make_allocator(RandomOrder(seed)),
    "chaotic": lambda seed: make_allocator(Chaotic(seed)),
    "planner": lambda seed: make_allocator(GreedyPlanner(seed)),
    "quota": lambda seed: make_allocator(
        quota={"a": {"guarantee": R(cpus=2), "limit": R(cpus=6, mem=6000)}},
        min_offer=R(cpus=0.5),
        revocation_grace=2.0,
        reservations={"ag1": {"b": R(cpus=1, mem=512)}, "ag3": {"a": R(cpus=2)}},
        weights={"b": 2},
    ),
}

resources_st = st.builds(
    lambda c, m, p: R(cpus=c, mem=m, ports=range(31000, 31000 + p) if p else None),
    st.integers(1, 8),
    st.sampled_from([256, 1024, 4096]),
    st.integers(0, 4),
)


def scalars_le(a: Resources, b: Resources) -> bool:
    return all(v <= b._scalars.get(k, 0) for k, v in a._scalars.items())


class AllocatorMachine(RuleBasedStateMachine):
    policy = "drf"

    @initialize(seed=st.integers(0, 3))
    def start(self, seed):
        self.alloc = POLICIES[self.policy](seed)
        self.now = 0.0
        self.agents: dict[str, Resources] = {}
        self.frameworks: dict[str, dict] = {}
        #: (framework, agent) -> list of held pieces, as the master would keep them
        self.held: dict[tuple[str, str], list[Resources]] = {}
        self.n = 0
        for role in ("a", "b"):  # a small cluster to start from, so most runs make offers
            self.add_framework(role)
            self.add_agent(R(cpus=4, mem=4096, ports="31000-31003"))

    # -- events ------------------------------------------------------------------------------
    @rule(total=resources_st)
    def add_agent(self, total):
        self.n += 1
        aid = f"ag{self.n}"
        self.alloc.add_agent(aid, total)
        self.agents[aid] = total

    @precondition(lambda self: self.agents)
    @rule(data=st.data())
    def remove_agent(self, data):
        aid = data.draw(st.sampled_from(sorted(self.agents)))
        self.alloc.remove_agent(aid)
        del self.agents[aid]
        for key in [k for k in self.held if k[1] == aid]:
            del self.held[key]

    @rule(role=st.sampled_from(ROLES))
    def add_framework(self, role):
        self.n += 1
        fid = f"f{self.n}"
        self.alloc.add_framework(fid, role, now=self.now)
        self.frameworks[fid] = {"role": role, "active": True, "suppressed": False}

    @precondition(lambda self: self.frameworks)
    @rule(data=st.data())
    def remove_framework(self, data):
        fid = data.draw(st.sampled_from(sorted(self.frameworks)))
        if data.draw(st.booleans()):  # the master recovers first ... or forgets to
            for (f, a), pieces in list(self.held.items()):
                if f == fid:
                    for piece in pieces:
                        self.alloc.recover(f, a, piece, None, self.now)
        self.alloc.remove_framework(fid)
        del self.frameworks[fid]
        for key in [k for k in self.held if k[0] == fid]:
            del self.held[key]

    @precondition(lambda self: self.frameworks)
    @rule(data=st.data(), what=st.sampled_from(["suppress", "revive", "deactivate", "activate"]))
    def toggle(self, data, what):
        fid = data.draw(st.sampled_from(sorted(self.frameworks)))
        state = self.frameworks[fid]
        if what == "suppress":
            self.alloc.suppress(fid)
            state["suppressed"] = True
        elif what == "revive":
            self.alloc.revive(fid, self.now)
            state["suppressed"] = False
        elif what == "deactivate":
            self.alloc.deactivate_framework(fid)
            state["active"] = False
        else:
            self.alloc.activate_framework(fid)
            state["active"] = True

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 5.0]))
    def tick(self, dt):
        self.now += dt

    @rule(weight=st.sampled_from([0.5, 1.0, 3.0]), role=st.sampled_from(ROLES))
    def weights(self, weight, role):
        self.alloc.update_weights({role: weight})

    @precondition(lambda self: self.held)
    @rule(data=st.data(), refuse=st.sampled_from([None, 0.0, 0.5, 3.0, 1e9]), part=st.booleans())
    def recover(self, data, refuse, part):
        key = data.draw(st.sampled_from(sorted(self.held)))
        pieces = self.held[key]
        piece = pieces.pop(data.draw(st.integers(0, len(pieces) - 1)))
        if part and piece._scalars:  # give back half, keep the rest (a task launched)
            half = Resources._raw({k: v // 2 for k, v in piece._scalars.items()}, frozenset())
            pieces.append(piece - half)
            piece = half
        if not pieces:
            del self.held[key]
        self.alloc.recover(key[0], key[1], piece, refuse, self.now)

    @rule(data=st.data(), subset=st.booleans())
    def allocate(self, data, subset):
        agent_ids = None
        if subset and self.agents:
            agent_ids = data.draw(st.lists(st.sampled_from(sorted(self.agents)), max_size=3))
        free_before = {a: self.free(a) for a in self.agents}
        decisions = self.alloc.allocate(self.now, agent_ids)
        event(f"{self.policy}: {'some' if decisions else 'no'} offers")
        if self.alloc.errors:
            event(f"{self.policy}: policy error caught")
        self.alloc.revocations(self.now)
        given: dict[str, Resources] = {}
        for d in decisions:
            assert d.agent_id in self.agents, f"offered unknown agent {d.agent_id}"
            assert agent_ids is None or d.agent_id in agent_ids
            fw = self.frameworks.get(d.framework_id)
            assert fw is not None, f"offered to unknown framework {d.framework_id}"
            assert fw["active"] and not fw["suppressed"], f"offered to {fw}"
            assert d.resources, "empty offer"
            assert d.explanation.startswith(f"{d.agent_id} went to {d.framework_id} because")
            already = given.get(d.agent_id, R())
            assert not (already.ports & d.resources.ports), "the same ports offered twice"
            given[d.agent_id] = already + d.resources
            self.held.setdefault((d.framework_id, d.agent_id), []).append(d.resources)
        for aid, res in given.items():
            assert scalars_le(res, free_before[aid]), f"offered {res} of {aid}, only {free_before[aid]} free"
            assert res.ports <= free_before[aid].ports

    # -- invariants --------------------------------------------------------------------------
    def free(self, aid: str) -> Resources:
        out = self.agents[aid]
        for (_f, a), pieces in self.held.items():
            if a == aid:
                for p in pieces:
                    out = out.subtract_available(p)
        return out

    @invariant()
    def books_balance(self):
        if not hasattr(self, "alloc"):
            return
        alloc = self.alloc
        for aid, total in self.agents.items():
            agent = alloc._agents[aid]
            held = R()
            for pieces in agent.alloc.values():
                for p in pieces:
                    held = held + p
            free = alloc.available(aid)
            assert free + held == total, f"{aid}: free {free} + held {held} != total {total}"
            model_held = R()
            for (_f, a), pieces in self.held.items():
                if a == aid:
                    for p in pieces:
                        model_held = model_held + p
            assert held == model_held, f"{aid}: allocator holds {held}, the master {model_held}"
        for fid in self.frameworks:
            want = R()
            for (f, _a), pieces in self.held.items():
                if f == fid:
                    for p in pieces:
                        want = want + p
            assert alloc.allocation(fid) == to_resources(want._scalars)
        assert set(alloc.shares()) == set(self.frameworks)
        if alloc._flat is not None:
            alloc._flat.check()
        else:
            alloc._role_sorter.check()
            for role in alloc._roles.values():
                role.sorter.check()
        assert sorted(alloc.order()) == sorted(self.frameworks)


def _machine_for(policy: str):
    machine = type(f"Machine_{policy.replace('-', '_')}", (AllocatorMachine,), {"policy": policy})
    machine.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    return machine.TestCase


for _policy in POLICIES:
    globals()[f"TestProperties_{_policy.replace('-', '_')}"] = _machine_for(_policy)
