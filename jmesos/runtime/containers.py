"""Isolation: the limits a task's processes run under, and cleaning up after them.

Mesos puts every executor in a *container*: a set of cgroups sized to the
resources of the tasks it runs, so a task that takes more memory than it asked
for is stopped (and reported as ``REASON_CONTAINER_LIMITATION_MEMORY``)
instead of hurting its neighbours.  jmesos does the same with whatever this
machine lets an unprivileged or containerised process use:

- ``cgroups`` v1 (``memory.limit_in_bytes`` and ``memory.memsw.limit_in_bytes``
  so swap is no escape; ``cpu.shares``, optionally ``cpu.cfs_quota_us``) or v2
  (``memory.max``, ``memory.swap.max``, ``cpu.weight``, optionally
  ``cpu.max``).  The kernel's OOM killer stops the container and counts it in
  ``memory.oom_control``/``memory.events``, which is how the agent tells an
  out-of-memory death from a crash;
- ``rlimit``: ``RLIMIT_AS`` per process, where cgroups are not writable.  An
  allocation past the limit fails (``MemoryError`` in Python,
  ``Cannot allocate memory`` from C programs) rather than being killed;
- ``none``: no limits.

Every cgroup the agent makes lives under ``<agent's own cgroup>/jmesos-agent-<pid>/``,
so whoever outlives a SIGKILLed agent (the supervisor) can find and remove it
with :func:`cleanup_agent_cgroups`, killing whatever is still inside with
:func:`kill_cgroup_tree` — that catches a shell task's grandchildren, which a
parent-death signal does not.

A container is one directory per controller; creating one costs a few
``mkdir``/``write`` system calls, so the Python executor makes one per worker
process, once, and only rewrites its limits when a task's size differs.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import sys
import time
from collections.abc import Iterable

__all__ = [
    "Isolator",
    "Container",
    "make_isolator",
    "kill_cgroup_tree",
    "cleanup_agent_cgroups",
    "agent_cgroup_paths",
    "descendants",
    "own_children",
    "tree_snapshot",
    "signal_snapshot",
    "CGROUP_PREFIX",
    "EXECUTOR_OVERHEAD_MIB",
    "ISOLATION_MODES",
]

#: Name prefix of an agent's cgroup directory: ``jmesos-agent-<agent pid>``.
CGROUP_PREFIX = "jmesos-agent-"
#: Memory (MiB) a container gets on top of its task's ``mem``: the Python
#: interpreter that runs it (Mesos adds 32 MiB of executor memory the same way).
EXECUTOR_OVERHEAD_MIB = 32.0
ISOLATION_MODES = ("auto", "cgroups", "rlimit", "none")
_CFS_PERIOD_US = 100_000
_MIB = 1 << 20


# ------------------------------------------------------------------------------ discovery
def _mounts() -> tuple[dict[str, tuple[str, str]], tuple[str, str] | None]:
    """Cgroup v1 mounts by controller (mount point, mount root) and the cgroup2 mount, from mountinfo."""
    v1: dict[str, tuple[str, str]] = {}
    v2: tuple[str, str] | None = None
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return v1, v2
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point, fstype = fields[3], fields[4], tail[0]
        if fstype == "cgroup2" and v2 is None:
            v2 = (point, root)
        elif fstype == "cgroup":
            for option in tail[2].split(","):
                if option in ("memory", "cpu") and option not in v1:
                    v1[option] = (point, root)
    return v1, v2


def _own_cgroups(pid: int | None = None) -> tuple[dict[str, str], str | None]:
    """This process's (or ``pid``'s) cgroup path per v1 controller, and its v2 path."""
    v1: dict[str, str] = {}
    v2: str | None = None
    try:
        with open(f"/proc/{pid or 'self'}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return v1, v2
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2 = path
        for name in controllers.split(","):
            if name in ("memory", "cpu"):
                v1[name] = path
    return v1, v2


def _join(mount: tuple[str, str], path: str) -> str:
    point, root = mount
    if root != "/" and (path == root or path.startswith(root + "/")):
        path = path[len(root) :]
    return os.path.join(point, path.lstrip("/"))


def _writable(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK)


def _v1_parents(pid: int | None = None) -> dict[str, str]:
    mounts, _ = _mounts()
    own, _ = _own_cgroups(pid)
    return {c: _join(mounts[c], own[c]) for c in ("memory", "cpu") if c in mounts and c in own}


def _v2_parent(pid: int | None = None) -> str | None:
    _, mount = _mounts()
    _, own = _own_cgroups(pid)
    if mount is None or own is None:
        return None
    return _join(mount, own)


def agent_cgroup_paths(agent_pid: int) -> list[str]:
    """Where the agent with ``agent_pid``, started in this process's cgroups, keeps its cgroups."""
    name = f"{CGROUP_PREFIX}{int(agent_pid)}"
    paths = [os.path.join(parent, name) for parent in _v1_parents().values()]
    v2 = _v2_parent()
    if v2 is not None:
        paths.append(os.path.join(v2, name))
    return paths


# ------------------------------------------------------------------------------ killing
def _read_pids(path: str) -> list[int]:
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return []


def _walk_bottom_up(path: str) -> list[str]:
    out: list[str] = []
    try:
        for root, _dirs, _files in os.walk(path, topdown=False):
            out.append(root)
    except OSError:
        pass
    return out


def _signal_pids(pids: Iterable[int], sig: int) -> None:
    me = os.getpid()
    for pid in pids:
        if pid != me and pid > 0:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def signal_cgroup_tree(path: str, sig: int) -> int:
    """Send ``sig`` to every process in cgroup ``path`` and its sub-cgroups; returns how many."""
    count = 0
    for directory in _walk_bottom_up(path):
        pids = _read_pids(directory)
        _signal_pids(pids, sig)
        count += len(pids)
    return count


def kill_cgroup_tree(path: str, timeout: float = 2.0) -> bool:
    """SIGKILL every process in cgroup ``path`` (and below), then remove the cgroups.

    This is what cleans up after an agent that was SIGKILLed: its workers and
    shell tasks die with it (parent-death signal), but what a shell task
    started in the background does not; it is still in the cgroup.  Returns
    True when ``path`` is gone.  Safe to call on a path that does not exist.
    """
    if not os.path.isdir(path):
        return True
    deadline = time.monotonic() + timeout
    kill_file = os.path.join(path, "cgroup.kill")  # cgroup v2, Linux 5.14+: atomic, catches forks
    while True:
        if os.path.exists(kill_file):
            try:
                _write(kill_file, "1")
            except OSError:
                pass
        signal_cgroup_tree(path, signal.SIGKILL)
        for directory in _walk_bottom_up(path):
            try:
                os.rmdir(directory)
            except FileNotFoundError:
                pass
            except OSError:
                pass
        if not os.path.isdir(path):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def cleanup_agent_cgroups(agent_pid: int, timeout: float = 2.0) -> bool:
    """Kill what is left in the cgroups of the agent ``agent_pid`` (forked from this process) and remove them."""
    ok = True
    for path in agent_cgroup_paths(agent_pid):
        ok = kill_cgroup_tree(path, timeout) and ok
    return ok


def _sweep_stale(parent: str) -> None:
    """Remove ``jmesos-agent-<pid>`` cgroups of agents that are no longer alive (a previous crash)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(CGROUP_PREFIX):
            continue
        try:
            pid = int(name[len(CGROUP_PREFIX) :])
        except ValueError:
            continue
        if pid == os.getpid() or os.path.exists(f"/proc/{pid}"):
            continue
        kill_cgroup_tree(os.path.join(parent, name), timeout=0.5)


def _stat(pid: int | str) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state, ppid, ...); None if it is gone.

    The name is cut at its last ``)``: a command can have spaces and brackets in it.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2 :].split()
    except (OSError, ValueError):
        return None


def start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot): tells it from a later process given its pid.

    None when it is gone, a zombie, or there is no ``/proc``.
    """
    fields = _stat(pid)
    if fields is None or fields[0] == b"Z" or len(fields) < 20:
        return None
    return int(fields[19])


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, from /proc (for killing a process tree without cgroups)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        fields = _stat(entry)
        try:
            ppid = int(fields[1])  # type: ignore[index]
        except (TypeError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), to tell it from a later process given the same pid."""
    fields = _stat(pid)
    try:
        return int(fields[19])  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return None


def tree_snapshot(pid: int) -> list[tuple[int, int]]:
    """``pid``'s descendants now, as (pid, start time).

    A killed task's children may ignore SIGTERM and outlive it; once it is gone they
    belong to another parent and a walk from it no longer finds them.  Without cgroups,
    this list is how the SIGKILL after the grace period still reaches them.
    """
    return [(child, start) for child in descendants(pid) if (start := _start_time(child)) is not None]


def signal_snapshot(snapshot: list[tuple[int, int]], sig: int) -> None:
    """``sig`` to each process of ``snapshot`` that is still the same process."""
    for pid, start in snapshot:
        if _start_time(pid) == start:
            try:
                os.kill(pid, sig)
            except OSError:
                pass


def own_children() -> list[int]:
    """This process's children (running or ended, not yet reaped); empty where the kernel cannot say.

    Read with bare ``os`` calls, no file object: a worker asks after every task, on
    the way to its next one, and there the answer is nearly always one empty read.
    """
    try:
        fd = os.open(f"/proc/self/task/{os.getpid()}/children", os.O_RDONLY)
    except OSError:  # no /proc, or a kernel built without the children file
        return []
    try:
        data = chunk = os.read(fd, 4096)
        while chunk:
            chunk = os.read(fd, 4096)
            data += chunk
        return [int(pid) for pid in data.split()]
    except (OSError, ValueError):
        return []
    finally:
        os.close(fd)


def _limit_bytes(mem_mib: float) -> int:
    """The memory limit of a container for a task of ``mem_mib`` (-1: unlimited)."""
    return int((mem_mib + EXECUTOR_OVERHEAD_MIB) * _MIB) if mem_mib else -1


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read_int_field(path: str, key: str) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        return None
    return None


# ------------------------------------------------------------------------------ containers
class Container:
    """A place to run processes under limits.  This base class limits nothing (``isolation='none'``)."""

    kind = "none"
    #: cgroup directories of this container (empty without cgroups)
    paths: tuple[str, ...] = ()

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.mem: float | None = None
        self.cpus: float | None = None

    def set_limits(self, mem_mib: float, cpus: float) -> bool:
        """Size the container for ``mem_mib`` MiB and ``cpus``; False if it cannot shrink that far now."""
        self.mem, self.cpus = mem_mib, cpus
        return True

    def add(self, pid: int) -> None:
        """Move process ``pid`` into the container (its children follow it)."""

    def join(self) -> None:
        """Move the calling process into the container (used in a child between fork and exec)."""

    def apply_rlimits(self, base_bytes: int = 0) -> None:
        """Apply per-process limits to the calling process (rlimit isolation only)."""

    def oom_kills(self) -> int:
        """How many times the kernel killed a process here for exceeding the memory limit."""
        return 0

    def pids(self) -> list[int]:
        return []

    def signal(self, sig: int) -> None:
        """Send ``sig`` to every process in the container."""

    def destroy(self, timeout: float = 0.0) -> bool:
        """Kill what is left and remove the cgroups; False if they are still busy (try again later)."""
        return True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} mem={self.mem} cpus={self.cpus}>"


class RlimitContainer(Container):
    """``RLIMIT_AS`` for each process: allocations past ``mem`` (+ the interpreter's own) fail."""

    kind = "rlimit"

    def apply_rlimits(self, base_bytes: int = 0) -> None:
        limit = resource.RLIM_INFINITY
        if self.mem:
            limit = int(base_bytes + (self.mem + EXECUTOR_OVERHEAD_MIB) * _MIB)
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY and (limit == resource.RLIM_INFINITY or limit > hard):
            limit = hard
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


class _CgroupContainer(Container):
    def __init__(self, name: str, paths: dict[str, str], cpu_quota: bool) -> None:
        super().__init__(name)
        self._paths = paths
        self.paths = tuple(paths.values())
        self.cpu_quota = cpu_quota
        self._emptied = False
        self._made: list[str] = []
        for path in self.paths:
            os.mkdir(path)
            self._made.append(path)

    def add(self, pid: int) -> None:
        for path in self.paths:
            _write(os.path.join(path, "cgroup.procs"), str(pid))

    def join(self) -> None:
        self.add(os.getpid())

    def pids(self) -> list[int]:
        seen: set[int] = set()
        for path in self.paths:
            for directory in _walk_bottom_up(path):
                seen.update(_read_pids(directory))
        return sorted(seen)

    def signal(self, sig: int) -> None:
        _signal_pids(self.pids(), sig)

    def destroy(self, timeout: float = 0.0) -> bool:
        gone = True
        memory = self._paths.get("memory")
        if memory is not None and not self._emptied and not _read_pids(memory):
            self._emptied = True
            try:  # give back its page cache now, so the kernel does not keep the cgroup around as a zombie
                _write(os.path.join(memory, "memory.force_empty"), "0")
            except OSError:
                pass
        for path in self.paths:
            gone = kill_cgroup_tree(path, timeout) and gone
        return gone


class CgroupV1Container(_CgroupContainer):
    """Cgroups v1: a directory in the memory hierarchy and one in the cpu hierarchy."""

    kind = "cgroups-v1"

    def set_limits(self, mem_mib: float, cpus: float) -> bool:
        memory = self._paths.get("memory")
        if memory is not None and mem_mib != self.mem:
            value = _limit_bytes(mem_mib)
            limit = os.path.join(memory, "memory.limit_in_bytes")
            memsw = os.path.join(memory, "memory.memsw.limit_in_bytes")
            has_memsw = os.path.exists(memsw)
            old = _limit_bytes(self.mem or 0)  # a new cgroup starts unlimited
            growing = (value == -1) or (old != -1 and value > old)
            try:
                # memsw must stay >= limit: raise memsw first when growing, lower it last when shrinking
                if has_memsw and growing:
                    _write(memsw, str(value))
                _write(limit, str(value))
                if has_memsw and not growing:
                    _write(memsw, str(value))
            except OSError as exc:
                if exc.errno in (errno.EBUSY, errno.EINVAL):
                    return False  # more in use than the new limit: the caller starts afresh
                raise
            self.mem = mem_mib
        cpu = self._paths.get("cpu")
        if cpu is not None and cpus != self.cpus:
            _write(os.path.join(cpu, "cpu.shares"), str(max(2, round(1024 * cpus)) if cpus else 2))
            if self.cpu_quota:
                quota = max(1000, round(cpus * _CFS_PERIOD_US)) if cpus else -1
                _write(os.path.join(cpu, "cpu.cfs_quota_us"), str(quota))
        self.cpus = cpus
        return True

    def oom_kills(self) -> int:
        memory = self._paths.get("memory")
        if memory is None:
            return 0
        count = _read_int_field(os.path.join(memory, "memory.oom_control"), "oom_kill")
        if count is not None:
            return count
        try:  # kernels before 4.13 have no oom_kill counter: hitting the limit is the next best sign
            with open(os.path.join(memory, "memory.failcnt")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return 0


class CgroupV2Container(_CgroupContainer):
    """Cgroups v2: one directory in the unified hierarchy."""

    kind = "cgroups-v2"

    def set_limits(self, mem_mib: float, cpus: float) -> bool:
        (path,) = self.paths
        if mem_mib != self.mem:
            value = str(int((mem_mib + EXECUTOR_OVERHEAD_MIB) * _MIB)) if mem_mib else "max"
            try:
                _write(os.path.join(path, "memory.max"), value)
            except OSError as exc:
                if exc.errno in (errno.EBUSY, errno.EINVAL):
                    return False
                raise
            swap = os.path.join(path, "memory.swap.max")
            if os.path.exists(swap):
                try:
                    _write(swap, "0")
                except OSError:
                    pass
            self.mem = mem_mib
        if cpus != self.cpus:
            weight = os.path.join(path, "cpu.weight")
            if os.path.exists(weight):
                _write(weight, str(min(10000, max(1, round(100 * cpus)))))
                if self.cpu_quota:
                    quota = f"{max(1000, round(cpus * _CFS_PERIOD_US))} {_CFS_PERIOD_US}" if cpus else "max"
                    _write(os.path.join(path, "cpu.max"), quota)
            self.cpus = cpus
        return True

    def oom_kills(self) -> int:
        (path,) = self.paths
        return _read_int_field(os.path.join(path, "memory.events"), "oom_kill") or 0


# ------------------------------------------------------------------------------ isolators
class Isolator:
    """Makes containers of one kind for one agent; :meth:`cleanup` removes them all."""

    kind = "none"
    #: True when exceeding memory is detected and reported as REASON_CONTAINER_LIMITATION_MEMORY
    enforces_memory = False

    def __init__(self, cpu_quota: bool = False) -> None:
        self.cpu_quota = cpu_quota
        self._seq = 0

    def _name(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq}"

    def container(self, prefix: str = "c") -> Container:
        """A new, empty container (raises OSError if the system refuses)."""
        return Container(self._name(prefix))

    def cleanup(self) -> None:
        """Kill everything still contained and remove the agent's cgroups."""

    def describe(self) -> str:
        return self.kind


class RlimitIsolator(Isolator):
    kind = "rlimit"
    enforces_memory = True

    def container(self, prefix: str = "c") -> Container:
        return RlimitContainer(self._name(prefix))


class CgroupIsolator(Isolator):
    """Cgroups under ``<own cgroup>/jmesos-agent-<pid>/`` for each controller."""

    enforces_memory = True

    def __init__(self, roots: dict[str, str], version: int, cpu_quota: bool = False) -> None:
        super().__init__(cpu_quota)
        self.roots = roots
        self.version = version
        self.kind = f"cgroups-v{version}"

    def container(self, prefix: str = "c") -> Container:
        name = self._name(prefix)
        paths = {controller: os.path.join(root, name) for controller, root in self.roots.items()}
        cls = CgroupV1Container if self.version == 1 else CgroupV2Container
        container = cls(name, paths, self.cpu_quota)
        return container

    def cleanup(self) -> None:
        for root in self.roots.values():
            kill_cgroup_tree(root, timeout=2.0)

    def describe(self) -> str:
        return f"{self.kind} under {', '.join(self.roots.values())}"


def _try_v1(cpu_quota: bool) -> CgroupIsolator | None:
    parents = _v1_parents()
    memory = parents.get("memory")
    if memory is None or not _writable(memory):
        return None
    name = f"{CGROUP_PREFIX}{os.getpid()}"
    roots: dict[str, str] = {}
    for controller in ("memory", "cpu"):
        parent = parents.get(controller)
        if parent is None or not _writable(parent):
            continue
        _sweep_stale(parent)
        root = os.path.join(parent, name)
        try:
            os.makedirs(root, exist_ok=True)
        except OSError:
            if controller == "memory":
                return None
            continue
        roots[controller] = root
    if "memory" not in roots:
        return None
    isolator = CgroupIsolator(roots, 1, cpu_quota)
    try:  # prove it works end to end: a limit can be written
        probe = isolator.container("probe")
        probe.set_limits(64, 1)
        probe.destroy(1.0)
    except OSError:
        isolator.cleanup()
        return None
    return isolator


def _try_v2(cpu_quota: bool) -> CgroupIsolator | None:
    parent = _v2_parent()
    if parent is None or not _writable(parent):
        return None
    try:
        with open(os.path.join(parent, "cgroup.controllers")) as f:
            available = f.read().split()
    except OSError:
        return None
    if "memory" not in available:
        return None
    wanted = [c for c in ("memory", "cpu") if c in available]
    try:  # fails (EBUSY) when our own cgroup holds processes: v2's "no internal processes" rule
        _write(os.path.join(parent, "cgroup.subtree_control"), " ".join(f"+{c}" for c in wanted))
    except OSError:
        try:
            with open(os.path.join(parent, "cgroup.subtree_control")) as f:
                if "memory" not in f.read().split():
                    return None
        except OSError:
            return None
    _sweep_stale(parent)
    root = os.path.join(parent, f"{CGROUP_PREFIX}{os.getpid()}")
    try:
        os.makedirs(root, exist_ok=True)
        _write(os.path.join(root, "cgroup.subtree_control"), " ".join(f"+{c}" for c in wanted))
    except OSError:
        kill_cgroup_tree(root, 0.5)
        return None
    isolator = CgroupIsolator({"unified": root}, 2, cpu_quota)
    try:
        probe = isolator.container("probe")
        probe.set_limits(64, 1)
        probe.destroy(1.0)
    except OSError:
        isolator.cleanup()
        return None
    return isolator


def make_isolator(mode: str = "auto", cpu_quota: bool = False) -> Isolator:
    """The isolator for ``mode``: ``auto`` (cgroups v1, else v2, else rlimit), ``cgroups``, ``rlimit`` or ``none``.

    ``cpu_quota`` adds a hard CPU cap (CFS quota) to the proportional share;
    off by default, as in Mesos, because it also throttles the interpreter's
    own work for tiny tasks.  ``cgroups`` raises RuntimeError when no cgroup
    memory controller is writable here.
    """
    if mode not in ISOLATION_MODES:
        raise ValueError(f"isolation={mode!r} must be one of {', '.join(ISOLATION_MODES)}")
    if mode == "none":
        return Isolator(cpu_quota)
    if mode == "rlimit" or not sys.platform.startswith("linux"):
        if mode == "cgroups":
            raise RuntimeError("isolation='cgroups' needs Linux; use isolation='rlimit' or 'auto'")
        return RlimitIsolator(cpu_quota)
    isolator = _try_v1(cpu_quota) or _try_v2(cpu_quota)
    if isolator is not None:
        return isolator
    if mode == "cgroups":
        parents = _v1_parents()
        raise RuntimeError(
            "isolation='cgroups' but no writable cgroup memory controller was found "
            f"(v1 memory: {parents.get('memory') or 'not mounted'}; v2: {_v2_parent() or 'not mounted'}); "
            "run the agent where it may create cgroups, or use isolation='auto' or 'rlimit'"
        )
    return RlimitIsolator(cpu_quota)


def warm_up_attach() -> None:
    """Pay the first cgroup attach of this process now, so the agents forked from it do not.

    On these kernels the first time a process moves a child into a cgroup
    costs 10-20 ms (a one-off kernel set-up inherited across fork); after it,
    an attach costs a fraction of a millisecond.  The supervisor calls this
    once before forking agents, so no framework's first task waits for it.
    Does nothing where cgroups are not writable.
    """
    isolator = _try_v1(False) or _try_v2(False)
    if isolator is None:
        return
    container = isolator.container("warm")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(write_end)
        os.read(read_end, 1)
        os._exit(0)
    os.close(read_end)
    try:
        container.add(pid)
    except OSError:
        pass
    finally:
        os.close(write_end)
        os.waitpid(pid, 0)
        container.destroy(1.0)
        isolator.cleanup()


def signal_tree(pid: int, container: Container, sig: int) -> None:
    """``sig`` to process ``pid``, its process group, its descendants and its container.

    The container (a cgroup) catches everything the process started, even
    what left its group; without cgroups the /proc walk stands in for it.
    """
    targets = set(descendants(pid)) if not container.paths else set()
    for kill, target in ((os.killpg, pid), (os.kill, pid), *((os.kill, t) for t in targets)):
        try:
            kill(target, sig)
        except OSError:
            pass
    try:
        container.signal(sig)
    except OSError:
        pass
