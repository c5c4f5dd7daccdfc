"""Policies by name: register your own, build an allocator with one.

::

    from jmesos.core.allocator import Policy, register_policy, make_allocator

    class Newest(Policy):
        def order(self, agent, candidates, view):
            return list(reversed(candidates))

    register_policy("newest", Newest)
    allocator = make_allocator("newest")

``make_allocator`` passes the options :class:`HierarchicalAllocator` knows
(``min_offer``, ``quota``, ...) to it and the rest to the policy's
constructor (``seed`` for the lottery, ``priorities``, ``resource``,
``partitions``), so one call configures both.
"""

from __future__ import annotations

import inspect
from typing import Any, Union

from .hierarchical import HierarchicalAllocator
from .policies import DRF, FairShare, Lottery, Policy, Priority, StaticPartition

__all__ = ["register_policy", "get_policy", "policy_names", "make_allocator", "resolve_policy", "BUILTIN_POLICIES"]

#: the policies every process knows by name; a name registered in a notebook exists only in that
#: process, so a cluster running its master elsewhere must ship the class itself (``get_policy(name)``)
BUILTIN_POLICIES: tuple[str, ...] = ("drf", "priority", "fair", "lottery", "static")

_POLICIES: dict[str, type[Policy]] = {}


def register_policy(name: str, cls: type[Policy] | None = None, *, replace: bool = True) -> Any:
    """Make ``cls`` available as ``name`` (``make_allocator(name)``, ``LocalCluster(policy=name)``).

    Registering a name again replaces the earlier class (re-running a notebook
    cell just works) unless ``replace=False``.  Returns ``cls``; without
    ``cls`` it is a class decorator::

        @register_policy("newest")
        class Newest(Policy):
            def order(self, agent, candidates, view):
                return candidates[::-1]
    """
    if cls is None:
        return lambda c: register_policy(name, c, replace=replace)
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name={name!r} must be a non-empty string, e.g. register_policy('mine', Mine)")
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise ValueError(
            f"cls={cls!r} is not a Policy subclass; write `class Mine(Policy): def order(self, agent, candidates, view): ...`"
        )
    if name in BUILTIN_POLICIES and name in _POLICIES and _POLICIES[name] is not cls:
        # a master in another process knows the built-in by this name, so the two would differ
        raise ValueError(f"{name!r} is a built-in policy; register yours under another name, e.g. 'my-{name}'")
    if not replace and name in _POLICIES and _POLICIES[name] is not cls:
        raise ValueError(f"policy {name!r} is already registered; pick another name or pass replace=True")
    _POLICIES[name] = cls
    if cls.name in ("custom", Policy.name) or cls.name == getattr(cls.__mro__[1], "name", None):
        cls.name = name
    return cls


def policy_names() -> list[str]:
    """The registered policy names."""
    return list(_POLICIES)


def get_policy(name: str) -> type[Policy]:
    """The policy class registered as ``name``."""
    try:
        return _POLICIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"policy={name!r} is not a policy; use one of {', '.join(_POLICIES)}") from None


def resolve_policy(policy: Union[str, Policy, type], **options: Any) -> Policy:
    """A policy instance from a name, a class or an instance."""
    if isinstance(policy, Policy):
        if options:
            raise ValueError(f"policy options {sorted(options)} given with a policy instance; pass them to its class")
        return policy
    cls = get_policy(policy) if isinstance(policy, str) else policy
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise ValueError(f"policy={policy!r} is not a policy; use one of {', '.join(_POLICIES)} or a Policy subclass")
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        params = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if "seed" in options and "seed" not in params and not takes_any:
        # a seed asks for reproducible runs; a policy without randomness is reproducible already
        options = {k: v for k, v in options.items() if k != "seed"}
    unknown = [k for k in options if k not in params and not takes_any]
    if unknown:
        accepted = [k for k in params if k != "self"] + _ALLOCATOR_OPTIONS
        raise ValueError(
            f"{unknown[0]}= is not an option of policy {getattr(cls, 'name', cls.__name__)!r}; "
            f"use one of {', '.join(accepted) or 'none'}"
        )
    return cls(**options)


_ALLOCATOR_OPTIONS = [
    name for name in inspect.signature(HierarchicalAllocator.__init__).parameters if name not in ("self", "policy")
]


def make_allocator(policy: Union[str, Policy, type] = "drf", **options: Any) -> HierarchicalAllocator:
    """A :class:`HierarchicalAllocator` running ``policy``, e.g. ``make_allocator("lottery", seed=7)``.

    Allocator options: ``allocation_interval``, ``min_offer``, ``weights``,
    ``reservations``, ``quota``, ``revocation_grace``.  Any other option goes
    to the policy's constructor.
    """
    mine = {k: options.pop(k) for k in list(options) if k in _ALLOCATOR_OPTIONS}
    return HierarchicalAllocator(resolve_policy(policy, **options), **mine)


for _name, _cls in (
    ("drf", DRF),
    ("priority", Priority),
    ("fair", FairShare),
    ("lottery", Lottery),
    ("static", StaticPartition),
):
    register_policy(_name, _cls)
