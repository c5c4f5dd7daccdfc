"""Why each offer went where it did: the sentence and the JSON details of every decision.

Every :class:`~.base.OfferDecision` carries an ``explanation`` (one sentence
for people) and ``details`` (the same facts for programs: the order and
shares, who was skipped and why), and each round leaves a summary in
``allocator.last_round``.  They are written here, apart from the round's
mechanics, because they only read the allocator's state: these functions take
the allocator as their first argument and never change its books (except
recording a policy's failing ``reason()`` as an error).

:func:`explain_offer` runs once per offer, so it avoids comprehensions and
extra passes over the order.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..resources import Resources
from .base import OfferDecision
from .policies import Policy
from .state import AgentState, FrameworkState, RoleState

if TYPE_CHECKING:
    from .hierarchical import HierarchicalAllocator

__all__ = ["HEAD", "explain_offer", "why_skipped", "round_summary"]

_INF = math.inf
#: how many frameworks of the order an explanation lists
HEAD = 5


def _fmt_time(t: float) -> str:
    return "it revives" if t == _INF else f"t={t:.1f} s"


def explain_offer(
    alloc: HierarchicalAllocator,
    fw: FrameworkState,
    role: RoleState,
    agent: AgentState,
    offered: Resources,
    avail: int,
    now: float,
    share: float,
    role_share: float,
    why: str | None,
) -> OfferDecision:
    """The decision to offer ``offered`` of ``agent`` to ``fw``, with its explanation.

    ``share`` and ``role_share`` are the shares ``fw`` was chosen with (before
    the offer); ``avail`` the bitmask of frameworks that could have had the
    agent; ``why`` is set by the order() and decide() paths, None on the sort
    key path, where the policy's ``reason()`` and the skipped frameworks say
    why.
    """
    policy = alloc._active
    head = alloc._head(HEAD)
    skipped: list[dict[str, Any]] = []
    ahead = 0
    if why is None and head and head[0] is not fw and not policy.draws:
        ahead = alloc._position(fw)
        for other in head:
            if other is fw:
                break
            skipped.append(why_skipped(alloc, other, agent, avail))
    order = []
    shares = {}
    for f in head:  # one pass, no comprehension frames: this runs once per offer
        order.append(f.id)
        shares[f.id] = f.share
    shares[fw.id] = share
    if why is None:  # fw.share is still the share it was chosen with: _resort runs after this
        try:
            why = str(policy.reason(fw, role, len(alloc._roles)))
        except Exception as exc:  # only the words are lost
            alloc._error(f"policy {policy.name!r} raised {type(exc).__name__}: {exc} in reason()")
            why = alloc._default.reason(fw, role, len(alloc._roles))
        if not skipped and len(head) > 1 and type(policy).framework_key is Policy.framework_key:
            runner = head[1]
            if runner.share == share and runner.role == fw.role:  # say how the tie was broken
                if runner.count > fw.count - 1:
                    why += f", tied with {runner.id}, which has had more offers ({runner.count} vs {fw.count - 1})"
                else:
                    why += f", tied with {runner.id}, which registered later"
    text = f"{agent.id} went to {fw.id} because {why}"
    if skipped:
        text += "; " + ", ".join(f"{s['framework_id']} {s['text']}" for s in skipped)
        if ahead > len(skipped):
            text += f" ({ahead - len(skipped)} more ahead skipped)"
    details = {
        "round": alloc._round,
        "time": now,
        "policy": policy.name,
        "agent_id": agent.id,
        "framework_id": fw.id,
        "role": fw.role,
        "share": share,
        "role_share": role_share,
        "order": order,
        "shares": shares,
        "skipped": skipped,
        "skipped_count": ahead,
    }
    if alloc._fell_back:
        details["fallback_from"] = alloc._policy.name
    return OfferDecision(fw.id, agent.id, offered, text + ".", details)


def why_skipped(alloc: HierarchicalAllocator, fw: FrameworkState, agent: AgentState, avail: int) -> dict[str, Any]:
    """Why ``fw``, ahead in the order, was not offered ``agent``: a reason code and the words for it."""
    out: dict[str, Any] = {"framework_id": fw.id}
    if not fw.active:
        out.update(reason="inactive", text="is disconnected")
    elif fw.suppressed:
        out.update(reason="suppressed", text="is suppressed")
    elif agent.filtered & fw.bit:
        until = agent.filter_until(fw.bit)
        # JSON has no infinity: a filter that lasts until revive says until=None
        out.update(
            reason="filtered",
            until=None if until == _INF else until,
            text=f"was filtered until {_fmt_time(until)}",
        )
    elif alloc._active.partitions and not agent.owners & fw.bit:
        out.update(reason="partition", text="does not own this agent (static partition)")
    elif agent.rfree and not alloc._reservation_mask(agent) & fw.bit:
        out.update(reason="reserved", text="cannot use what is free here (reserved for another role)")
    elif fw.role in alloc._quota:
        out.update(reason="quota", text=f"is at role {fw.role!r}'s quota limit")
    else:
        out.update(reason="other", text="was skipped")
    return out


def round_summary(
    alloc: HierarchicalAllocator, now: float, offers: int, stats: dict[str, int], errors: list[str]
) -> dict[str, Any]:
    """What ``allocator.last_round`` says about a round (the master's ``allocation`` event)."""
    head = alloc._head(10)
    out = {
        "round": alloc._round,
        "time": now,
        "policy": alloc._active.name,
        "agents": stats["agents"],
        "offers": offers,
        "skipped_all_filtered": stats["filtered"],
        "skipped_no_candidate": stats["no_candidate"],
        "order": [f.id for f in head],
        "shares": {f.id: round(f.share, 6) for f in head},
        "errors": list(errors),
    }
    if alloc._fell_back:
        out["fallback_from"] = alloc._policy.name
    return out
