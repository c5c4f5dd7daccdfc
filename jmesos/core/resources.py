"""Resources: the value type every part of jmesos counts with.

A ``Resources`` is an immutable bag of named quantities, as in Mesos: scalar
``cpus``, ``mem`` (MiB), ``disk`` (MiB) and ``gpus``, plus a set of ``ports``.
It supports ``+``, ``-``, ``<=`` (containment), ``*`` (scale), ``//`` (how many
copies fit) and :meth:`dominant_share`, which is what Dominant Resource Fairness
ranks frameworks by.

Scalars are kept in fixed point (thousandths), like Mesos, so that adding
ten tasks of ``cpus=0.1`` gives exactly one cpu.

Parsing is forgiving in form and strict in meaning: ``mem="2GiB"``,
``mem=2048`` (MiB), ``"cpus:2;mem:1GiB"`` and ``{"cpus": 2}`` all work, and
anything else raises a :class:`ResourceError` that names the field and the fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Union

__all__ = ["Resources", "ResourceError", "parse_size", "SCALARS", "RESOURCE_NAMES"]

#: Scalar resource names, in display order.
SCALARS: tuple[str, ...] = ("cpus", "mem", "disk", "gpus")
#: Every resource name jmesos knows.
RESOURCE_NAMES: tuple[str, ...] = SCALARS + ("ports",)
_SIZED = {"mem", "disk"}
_SCALE = 1000  # fixed point: thousandths

_UNITS = {
    "": 1.0,
    "b": 1.0 / 2**20,
    "k": 1.0 / 1024,
    "kb": 1e3 / 2**20,
    "kib": 1.0 / 1024,
    "m": 1.0,
    "mb": 1e6 / 2**20,
    "mib": 1.0,
    "g": 1024.0,
    "gb": 1e9 / 2**20,
    "gib": 1024.0,
    "t": 1024.0**2,
    "tb": 1e12 / 2**20,
    "tib": 1024.0**2,
}
_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


class ResourceError(ValueError):
    """A resource value or name that jmesos cannot understand; the message says how to fix it."""


Number = Union[int, float]
ResourcesLike = Union["Resources", Mapping[str, Any], str, None]


def parse_size(value: Any, field: str = "mem") -> float:
    """Return a size in MiB from a number (already MiB) or a string such as ``'2GiB'``."""
    if isinstance(value, bool):
        raise ResourceError(f"{field}={value!r} is not a size; use '2GiB' or a number of MiB")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = _SIZE_RE.match(value)
        unit = match.group(2).lower() if match else None
        if not match or unit not in _UNITS:
            raise ResourceError(f"{field}={value!r} is not a size; use '2GiB' or a number of MiB")
        number = float(match.group(1)) * _UNITS[unit]
    else:
        raise ResourceError(f"{field}={value!r} is not a size; use '2GiB' or a number of MiB")
    if not math.isfinite(number) or number < 0:
        raise ResourceError(f"{field}={value!r} must be a finite size of zero or more, e.g. '512MiB'")
    return number


def _parse_scalar(name: str, value: Any) -> int:
    """Parse one scalar into fixed-point thousandths."""
    if name in _SIZED:
        number = parse_size(value, name)
    else:
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise ResourceError(f"{name}={value!r} is not a number; use e.g. {name}=2") from None
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            raise ResourceError(f"{name}={value!r} is not a number; use e.g. {name}=2")
        if not math.isfinite(number) or number < 0:
            raise ResourceError(f"{name}={value!r} must be a finite number of zero or more, e.g. {name}=0.5")
    return round(number * _SCALE)


def _parse_ports(value: Any) -> frozenset[int]:
    """Parse ``'31000-31010,8080'``, a range, an int or an iterable of ints or (low, high) pairs into a set of ports."""
    if value is None:
        return frozenset()

    def bad() -> ResourceError:  # made only when needed: the value's repr may be long
        return ResourceError(
            f"ports={value!r} is not a port list; use '31000-31009', '8080,8081', [8080, 8081] or [(31000, 31009)]"
        )

    def port(p: Any) -> int:
        if isinstance(p, str) and p.strip().isdigit():
            return int(p)
        if isinstance(p, bool) or not isinstance(p, int):
            raise bad()
        return p

    def span(lo: Any, hi: Any) -> range:
        lo, hi = port(lo), port(hi)
        if lo > hi:
            raise ResourceError(f"ports={value!r} has the range {lo}-{hi}, which is empty; write it low-high")
        return range(lo, hi + 1)

    ports: set[int] = set()
    if isinstance(value, range):
        ports.update(value)
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        parts = (
            [value]
            if isinstance(value, int)
            else filter(None, (p.strip() for p in value.strip().strip("[]").split(",")))
        )
        for part in parts:
            if isinstance(part, str) and "-" in part:
                ports.update(span(*part.split("-", 1)))
            else:
                ports.add(port(part))
    elif isinstance(value, Iterable) and not isinstance(value, Mapping):
        for p in value:
            if isinstance(p, (tuple, list)):
                if len(p) != 2:
                    raise bad()
                ports.update(span(*p))
            else:
                ports.add(port(p))
    else:
        raise bad()
    if any(not (0 < p < 65536) for p in ports):
        raise ResourceError(f"ports={value!r} has a port outside 1-65535")
    return frozenset(ports)


def _format_ports(ports: frozenset[int]) -> str:
    """Format ports as compact ranges: ``'31000-31009,8080'``."""
    out, items = [], sorted(ports)
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return ",".join(out)


def _format_size(mib: float) -> str:
    if mib >= 1024 and float(mib / 1024).is_integer():
        return f"{int(mib // 1024)}GiB"
    if float(mib).is_integer():
        return f"{int(mib)}MiB"
    return f"{mib:g}MiB"


class Resources:
    """An immutable bag of resources: ``Resources(cpus=2, mem="1GiB", ports="31000-31009")``.

    ``mem`` and ``disk`` are in MiB when given as numbers.  Zero quantities are
    dropped, so ``Resources()`` is empty and falsy.
    """

    __slots__ = ("_scalars", "_ports", "_hash")

    def __init__(
        self,
        resources: ResourcesLike = None,
        /,
        *,
        cpus: Any = None,
        mem: Any = None,
        disk: Any = None,
        gpus: Any = None,
        ports: Any = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            name = next(iter(unknown))
            raise ResourceError(f"{name}={unknown[name]!r} is not a resource; use one of {', '.join(RESOURCE_NAMES)}")
        scalars: dict[str, int] = {}
        port_set: frozenset[int] = frozenset()
        if resources is not None:
            base = Resources.coerce(resources)
            scalars.update(base._scalars)
            port_set = base._ports
        for name, value in (("cpus", cpus), ("mem", mem), ("disk", disk), ("gpus", gpus)):
            if value is not None:
                scalars[name] = _parse_scalar(name, value)
        if ports is not None:
            port_set = _parse_ports(ports)
        self._scalars = {k: v for k, v in scalars.items() if v}
        self._ports = port_set
        self._hash: int | None = None

    # -- construction -----------------------------------------------------------------
    @classmethod
    def _raw(cls, scalars: dict[str, int], ports: frozenset[int]) -> Resources:
        new = object.__new__(cls)
        new._scalars = {k: v for k, v in scalars.items() if v}
        new._ports = ports
        new._hash = None
        return new

    @classmethod
    def coerce(cls, value: ResourcesLike, field: str = "resources") -> Resources:
        """Turn a ``Resources``, a mapping, a ``"cpus:2;mem:1GiB"`` string or ``None`` into Resources."""
        if isinstance(value, Resources):
            return value
        if value is None:
            return EMPTY
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, Mapping):
            unknown = [k for k in value if k not in RESOURCE_NAMES]
            if unknown:
                raise ResourceError(
                    f"{field} has unknown resource {unknown[0]!r}; use one of {', '.join(RESOURCE_NAMES)}"
                )
            return cls(**{k: v for k, v in value.items()})
        raise ResourceError(f"{field}={value!r} is not resources; use jmesos.Resources(cpus=1, mem='256MiB') or a dict")

    @classmethod
    def parse(cls, text: str) -> Resources:
        """Parse Mesos's text form, ``"cpus:2;mem:1GiB;ports:[31000-31009]"`` (``,`` also separates)."""
        fields: dict[str, str] = {}
        # split on ';' and on ',' that is not inside a ports list
        for part in re.split(r";|,(?![^\[]*\])(?=\s*[a-z]+\s*[:=])", text):
            part = part.strip()
            if not part:
                continue
            match = re.match(r"^([a-zA-Z_]+)\s*[:=]\s*(.+)$", part)
            if not match:
                raise ResourceError(f"resources {text!r}: {part!r} is not name:value; use 'cpus:2;mem:1GiB'")
            name, value = match.group(1), match.group(2).strip()
            if name not in RESOURCE_NAMES:
                raise ResourceError(
                    f"resources {text!r} has unknown resource {name!r}; use one of {', '.join(RESOURCE_NAMES)}"
                )
            fields[name] = value
        return cls(**fields)

    # -- access ------------------------------------------------------------------------
    def get(self, name: str) -> float:
        """The quantity of scalar ``name`` (0.0 when absent)."""
        return self._scalars.get(name, 0) / _SCALE

    @property
    def cpus(self) -> float:
        return self.get("cpus")

    @property
    def mem(self) -> float:
        """Memory in MiB."""
        return self.get("mem")

    @property
    def disk(self) -> float:
        """Disk in MiB."""
        return self.get("disk")

    @property
    def gpus(self) -> float:
        return self.get("gpus")

    @property
    def ports(self) -> frozenset[int]:
        return self._ports

    def scalars(self) -> dict[str, float]:
        """The scalar quantities as a plain dict (MiB for sizes)."""
        return {k: v / _SCALE for k, v in self._scalars.items()}

    def names(self) -> list[str]:
        names = [n for n in SCALARS if n in self._scalars]
        return names + (["ports"] if self._ports else [])

    # -- arithmetic ----------------------------------------------------------------------
    def __add__(self, other: ResourcesLike) -> Resources:
        other = Resources.coerce(other)
        scalars = dict(self._scalars)
        for k, v in other._scalars.items():
            scalars[k] = scalars.get(k, 0) + v
        return Resources._raw(scalars, self._ports | other._ports)

    __radd__ = __add__

    def __sub__(self, other: ResourcesLike) -> Resources:
        """Subtract; raises :class:`ResourceError` if ``other`` is not contained in ``self``."""
        other = Resources.coerce(other)
        if not other <= self:
            raise ResourceError(f"cannot subtract {other} from {self}: it is not contained")
        scalars = dict(self._scalars)
        for k, v in other._scalars.items():
            scalars[k] = scalars[k] - v
        return Resources._raw(scalars, self._ports - other._ports)

    def subtract_available(self, other: ResourcesLike) -> Resources:
        """Subtract as much of ``other`` as there is, never going below zero."""
        other = Resources.coerce(other)
        scalars = {k: max(0, v - other._scalars.get(k, 0)) for k, v in self._scalars.items()}
        return Resources._raw(scalars, self._ports - other._ports)

    def __mul__(self, factor: Number) -> Resources:
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 <= factor < math.inf:
            raise ResourceError(f"can only scale resources by a number of zero or more, not {factor!r}")
        if self._ports and factor != 1:
            raise ResourceError("cannot scale resources that hold ports")
        return Resources._raw({k: round(v * factor) for k, v in self._scalars.items()}, self._ports)

    __rmul__ = __mul__

    def __floordiv__(self, need: ResourcesLike) -> int:
        """How many copies of ``need`` fit in ``self`` (scalars only)."""
        need = Resources.coerce(need)
        if not need._scalars:
            raise ResourceError("cannot count how many empty resources fit; give the task some cpus or mem")
        return min(self._scalars.get(k, 0) // v for k, v in need._scalars.items())

    def __le__(self, other: ResourcesLike) -> bool:
        """``a <= b``: every quantity of ``a`` is available in ``b``."""
        other = Resources.coerce(other)
        theirs = other._scalars
        for k, v in self._scalars.items():
            if v > theirs.get(k, 0):
                return False
        return self._ports <= other._ports

    def __ge__(self, other: ResourcesLike) -> bool:
        return Resources.coerce(other) <= self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resources):
            try:
                other = Resources.coerce(other)  # type: ignore[arg-type]
            except ResourceError:
                return NotImplemented
        return self._scalars == other._scalars and self._ports == other._ports

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash((frozenset(self._scalars.items()), self._ports))
        return self._hash

    def __bool__(self) -> bool:
        return bool(self._scalars) or bool(self._ports)

    # -- fairness --------------------------------------------------------------------------
    def shares(self, total: ResourcesLike) -> dict[str, float]:
        """This bag's share of ``total`` for every scalar ``total`` has."""
        total = Resources.coerce(total)
        return {k: self._scalars.get(k, 0) / v for k, v in total._scalars.items() if v}

    def dominant_share(self, total: ResourcesLike) -> float:
        """The largest share of any scalar resource of ``total`` (the DRF paper's dominant share)."""
        total = Resources.coerce(total)
        best = 0.0
        for k, v in self._scalars.items():
            t = total._scalars.get(k, 0)
            if t:
                share = v / t
                if share > best:
                    best = share
        return best

    def dominant_resource(self, total: ResourcesLike) -> str | None:
        """The name of the resource that gives :meth:`dominant_share` (None when empty)."""
        shares = self.shares(total)
        return max(shares, key=shares.__getitem__) if any(shares.values()) else None

    # -- display and serialisation ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict: scalars as numbers (MiB for sizes), ports as a range string."""
        out: dict[str, Any] = {}
        for name in SCALARS:
            if name in self._scalars:
                value = self._scalars[name] / _SCALE
                out[name] = int(value) if value.is_integer() else value
        if self._ports:
            out["ports"] = _format_ports(self._ports)
        return out

    def __str__(self) -> str:
        parts = []
        for name in SCALARS:
            if name in self._scalars:
                value = self._scalars[name] / _SCALE
                parts.append(f"{name}:{_format_size(value) if name in _SIZED else f'{value:g}'}")
        if self._ports:
            parts.append(f"ports:[{_format_ports(self._ports)}]")
        return ";".join(parts) or "(none)"

    def __repr__(self) -> str:
        args = []
        for name in SCALARS:
            if name in self._scalars:
                value = self._scalars[name] / _SCALE
                args.append(f"{name}={_format_size(value)!r}" if name in _SIZED else f"{name}={value:g}")
        if self._ports:
            args.append(f"ports={_format_ports(self._ports)!r}")
        return f"Resources({', '.join(args)})"

    def __reduce__(self):  # compact pickling
        return (_rebuild, (self._scalars, self._ports))


def _rebuild(scalars: dict[str, int], ports: frozenset[int]) -> Resources:
    return Resources._raw(scalars, ports)


EMPTY = Resources()
