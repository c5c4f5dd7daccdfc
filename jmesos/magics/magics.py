"""The ``%mesos`` magics: drive a jmesos cluster from notebook cells.

One line magic with subcommands (``%mesos start``, ``%mesos agents`` ...) and
one cell magic (``%%mesos task``), each a thin layer over the public Python
API (:class:`jmesos.LocalCluster`) and the event log's fold
(:class:`jmesos.core.state.ClusterState`).  Defaults are traitlets config
traits, so a profile can say ``c.MesosMagics.agents = 8``.

Errors are one line that names what is wrong and how to fix it (IPython's
``UsageError``), never a traceback from inside jmesos: a student's mistake
should read like advice, not like a crash.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import difflib
import keyword
import os
import re
import shlex
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser
from IPython.display import display
from traitlets import Bool, Float, Integer, Unicode

from ..core.model import Filters, InvalidArgument, TaskInfo
from ..core.resources import ResourceError, Resources
from ..core.scheduler import Scheduler
from ..core.state import ClusterState
from ..core.states import TaskState, state_named
from ..widgets import tables
from ..widgets.feed import feed_for

__all__ = ["MesosMagics"]

#: the cluster a previous load of the extension started, so ``%reload_ext jmesos`` keeps it
_SURVIVORS: dict[int, Any] = {}
_PROG = "%mesos"


def _parser(name: str, help_: str, description: str = "") -> MagicArgumentParser:
    # IPython's help formatter adds the "%" itself
    parser = MagicArgumentParser(prog=f"mesos {name}", description=description or help_, add_help=False)
    parser.help_line = help_  # type: ignore[attr-defined]
    return parser


def _number(field: str, kind: type = float, minimum: float = 0.0, example: str = "2") -> Callable[[str], Any]:
    """An argparse type whose error names the option, what it needs and an example."""
    what = "a whole number" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what} like {field} {example}, not {text!r}") from None
        if value < minimum or value != value:
            raise argparse.ArgumentTypeError(f"must be {minimum:g} or more, like {field} {example}, not {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _positive_int(field: str) -> Callable[[str], int]:
    return _number(field, int, 1, "20")


def _build_parsers() -> dict[str, MagicArgumentParser]:
    p: dict[str, MagicArgumentParser] = {}
    start = p["start"] = _parser(
        "start",
        "start a local cluster in the background and show its dashboard",
        "Start a master and agents in subprocesses (they die with the kernel) and show the live dashboard. "
        "Defaults come from the MesosMagics config (%config MesosMagics).",
    )
    start.add_argument(
        "--agents", type=_number("--agents", int, 0, "4"), help="number of agents (default: MesosMagics.agents)"
    )
    start.add_argument(
        "--cpus", type=_number("--cpus", float, 0.001, "2"), help="cpus per agent (default: MesosMagics.cpus)"
    )
    start.add_argument("--mem", help="memory per agent, e.g. 1GiB or 512 (MiB) (default: MesosMagics.mem)")
    start.add_argument("--policy", help="allocation policy: drf, priority, ... (default: MesosMagics.policy)")
    start.add_argument(
        "--seed", type=_number("--seed", int, -(2**63), "42"), help="random seed for policies that use one"
    )
    start.add_argument(
        "--allocation-interval",
        type=_number("--allocation-interval", float, 0.001, "1.0"),
        help="seconds between allocation rounds (default 1)",
    )
    start.add_argument(
        "--offer-timeout",
        type=_number("--offer-timeout", float, 0.001, "5"),
        help="rescind offers not answered in this many seconds",
    )
    start.add_argument(
        "--host",
        help="address the master listens on (default 127.0.0.1; 0.0.0.0 lets agents on other hosts reach it)",
    )
    start.add_argument("--no-dashboard", action="store_true", help="do not display the dashboard")
    start.add_argument(
        "--as", dest="var", default="cluster", help="notebook variable to bind the cluster to (default: cluster)"
    )
    p["stop"] = _parser("stop", "stop the cluster (frameworks, agents and their tasks, then the master)")
    p["status"] = _parser("status", "one line about the cluster: agents, frameworks, tasks, utilisation")
    dash = p["dashboard"] = _parser("dashboard", "show the live dashboard (again), or some of its views")
    dash.add_argument(
        "views", nargs="*", help="views to show: cluster offers allocation tasks locality trace (default: all)"
    )
    p["agents"] = _parser("agents", "table of agents: used/offered/total resources, tasks, alive, dead or shut down")
    p["frameworks"] = _parser("frameworks", "table of frameworks: dominant share, tasks, offers, locality")
    tasks = p["tasks"] = _parser("tasks", "table of tasks, live ones first")
    tasks.add_argument("--last", type=_positive_int("--last"), default=30, help="how many (default 30)")
    tasks.add_argument("--framework", help="only this framework's tasks")
    tasks.add_argument("--state", help="only tasks in this state, e.g. RUNNING or TASK_FAILED")
    offers = p["offers"] = _parser(
        "offers", "table of offers: outstanding, then the latest answered, with the allocator's reason"
    )
    offers.add_argument(
        "--last", type=_positive_int("--last"), default=20, help="how many answered offers (default 20)"
    )
    add = p["add-agent"] = _parser(
        "add-agent",
        "start one more agent (or, with --engines, one on each ipyparallel engine)",
        "Start one more agent on this machine; with --engines, one on the host of each engine of the running "
        "ipyparallel cluster of a profile (ipcluster start -n 4), which must reach the master (%mesos start --host "
        "0.0.0.0 for engines on other hosts).",
    )
    add.add_argument("--cpus", type=_number("--cpus", float, 0.001, "2"), help="its cpus (default: the cluster's)")
    add.add_argument("--mem", help="its memory, e.g. 2GiB (default: the cluster's)")
    add.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an attribute, e.g. --attr rack=r2 (repeatable)",
    )
    add.add_argument("--engines", action="store_true", help="one agent on each engine of an ipyparallel cluster")
    add.add_argument("--profile", default="default", help="that cluster's ipyparallel profile (default: default)")
    kill = p["kill-agent"] = _parser("kill-agent", "SIGKILL an agent, as a machine failure would")
    kill.add_argument("agent_id", help="e.g. agent-2 (see %%mesos agents)")
    kt = p["kill-task"] = _parser("kill-task", "kill a task (of a framework started from this notebook)")
    kt.add_argument("task_id")
    kt.add_argument("--framework", help="its framework id, if several frameworks used the same task id")
    logs = p["logs"] = _parser("logs", "what a task printed")
    logs.add_argument("task_id")
    logs.add_argument("--stderr", action="store_true", help="show stderr instead of stdout")
    events = p["events"] = _parser("events", "the latest events of the log")
    events.add_argument("--last", type=_positive_int("--last"), default=20, help="how many (default 20)")
    events.add_argument("--kind", help="only events of this kind, e.g. offer, task_state, message")
    save = p["save-events"] = _parser("save-events", "save the event log as JSON Lines (replay it with %mesos replay)")
    save.add_argument("file")
    replay = p["replay"] = _parser("replay", "replay a saved event log with a time slider")
    replay.add_argument("file")
    run = p["run"] = _parser(
        "run",
        "register a framework defined in the notebook and run it in the background",
        "EXPR is evaluated in the notebook: a jmesos.Scheduler instance, or a Scheduler class (instantiated with no arguments).",
    )
    run.add_argument("expr", nargs="+", help="e.g. MyFramework() or MyFramework")
    run.add_argument("--name", help="framework name (default: the class name)")
    run.add_argument("--role", default="*", help="role for fair sharing (default *)")
    run.add_argument(
        "--wait", action="store_true", help="block until the framework stops (Ctrl-C / interrupt stops it)"
    )
    use = p["use"] = _parser("use", "make %mesos drive a cluster you created in Python: %mesos use my_cluster")
    use.add_argument("expr", nargs="+")
    hp = p["help"] = _parser("help", "help on a subcommand: %mesos help start")
    hp.add_argument("subcommand", nargs="?")
    task = p["task"] = _parser(
        "task",
        "(cell magic) run the cell's code as a task on the cluster and show its output and result",
        "%%mesos task runs the cell in a Python process on an agent, with copies of the notebook variables it "
        "reads (changes to them stay on the agent). Its prints are shown, and its last expression is the result.",
    )
    task.add_argument(
        "--cpus", type=_number("--cpus", float, 0.001, "1"), default=1.0, help="cpus for the task (default 1)"
    )
    task.add_argument("--mem", default="128MiB", help="memory for the task (default 128MiB)")
    task.add_argument("--agent", help="run on this agent (e.g. agent-2)")
    task.add_argument(
        "--timeout",
        type=_number("--timeout", float, 0.001, "60"),
        default=120.0,
        help="give up after this many seconds (default 120)",
    )
    return p


PARSERS = _build_parsers()


_EXPR_OPTIONS = re.compile(r"\s--(?:name|role|wait|help)\b|\s-h\b")


def _parse_expr(sub: str, line: str) -> argparse.Namespace | None:
    """``%mesos run EXPR [--name N] [--role R] [--wait]``: EXPR verbatim (quotes kept), then the options.

    Returns None after printing the help when asked for it.
    """
    body = line.strip()[len(sub) :]
    match = _EXPR_OPTIONS.search(body)
    expr, options = (body[: match.start()], body[match.start() :]) if match else (body, "")
    try:
        words = shlex.split(options)
    except ValueError as exc:
        raise UsageError(f"cannot read {options.strip()!r}: {exc}; check the quotes") from None
    if "-h" in words or "--help" in words:
        print(_help_text(sub))
        return None
    if not expr.strip():
        example = "MyFramework()" if sub == "run" else "my_cluster"
        raise UsageError(f"%mesos {sub} needs an expression, e.g. %mesos {sub} {example}")
    args = _parse(sub, [*words, "EXPR"])  # the positional is filled in verbatim below
    args.expr = [expr.strip()]
    return args


def _parse(sub: str, words: list[str]) -> argparse.Namespace:
    """Parse a subcommand's options; a mistake is one line that says where to read more."""
    try:
        return PARSERS[sub].parse_args(words)
    except UsageError as exc:
        form = "%%mesos task" if sub == "task" else f"%mesos {sub}"
        raise UsageError(f"{form}: {exc} (%mesos help {sub})") from None


def _help_text(sub: str) -> str:
    """A subcommand's help as plain text: no reST ``::`` line, and ``%%mesos task`` as it must be typed."""
    text = PARSERS[sub].format_help()
    if not text.startswith("::"):
        return text.rstrip() + "\n"
    # IPython's formatter writes the usage as a reST literal block: take it out, and line up its lines again
    usage, _, rest = text[2:].lstrip("\n").partition("\n\n")
    first, *more = textwrap.dedent(usage).splitlines()
    if sub == "task":
        first = first.replace(f"{_PROG} task", "%%mesos task", 1)
    indent = " " * (first.find(" [") + 1 if " [" in first else 4)
    return "\n".join([first, *(indent + line.strip() for line in more)]) + "\n\n" + rest.rstrip() + "\n"


def _overview() -> str:
    width = max(len(n) for n in PARSERS) + 2
    lines = [
        "Drive a jmesos cluster: %mesos SUBCOMMAND [options]; %%mesos task for a cell.",
        "",
        "Subcommands:",
    ]
    for name, parser in PARSERS.items():
        lines.append(f"  {name.ljust(width)}{parser.help_line}")  # type: ignore[attr-defined]
    lines += [
        "",
        "%mesos help SUBCOMMAND shows its options. Defaults (agents, cpus, mem, policy, ...) are",
        "config traits: %config MesosMagics, or c.MesosMagics.agents = 8 in an IPython profile.",
    ]
    return "\n".join(lines)


def _full_help() -> str:
    parts = [_overview(), ""]
    for name in PARSERS:
        parts.append(f"--- {_PROG} {name}" if name != "task" else "--- %%mesos task")
        parts.append(_help_text(name).strip())
        parts.append("")
    return "\n".join(parts)


def _why_ended(cluster: Any) -> str | None:
    """Why the cluster no longer runs (None while it runs): a cluster whose master died is *over*, not stopped."""
    if getattr(cluster, "running", True) is not False:
        return None
    over = getattr(cluster, "over", None)
    return f"this cluster is over: {over}" if over else "this cluster is stopped"


def _ended(cluster: Any) -> str | None:
    """:func:`_why_ended` with the fix, as one line (None while the cluster runs)."""
    why = _why_ended(cluster)
    return f"{why}; start a new one with %mesos start" if why else None


#: how long add-agent --engines waits for the engines of a cluster that has none yet (seconds)
ENGINE_WAIT = 5.0
#: the most lines of a failure's details an error shows (an agent's log tail)
_DETAIL_LINES = 25

#: names a task cell may reach for that only exist in IPython, not in the plain Python of an agent
_IPYTHON_ONLY = frozenset({"display", "get_ipython", "clear_output", "In", "Out", "HTML", "Markdown", "Image"})
_IPYTHON_NAME_ERROR = re.compile(r"NameError: name '(\w+)' is not defined")
_CELL_HINT = "task cells run plain Python on an agent: no IPython magics (%, !), display() or get_ipython()"


@magics_class
class MesosMagics(Magics):
    """The ``%mesos`` magics.  ``%mesos help`` lists the subcommands."""

    agents = Integer(4, help="Agents started by %mesos start.").tag(config=True)
    cpus = Float(2.0, help="cpus per agent for %mesos start.").tag(config=True)
    mem = Unicode("1GiB", help="Memory per agent for %mesos start, e.g. '1GiB' or '512' (MiB).").tag(config=True)
    policy = Unicode("drf", help="Allocation policy for %mesos start: drf, priority, ...").tag(config=True)
    seed = Integer(None, allow_none=True, help="Random seed for %mesos start (None: random).").tag(config=True)
    allocation_interval = Float(1.0, help="Seconds between allocation rounds for %mesos start.").tag(config=True)
    offer_timeout = Float(
        None, allow_none=True, help="Rescind unanswered offers after this many seconds (None: never)."
    ).tag(config=True)
    dashboard = Bool(True, help="Show the dashboard after %mesos start.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.cluster: Any = _SURVIVORS.pop(id(shell), None)
        self.handles: dict[str, Any] = {}
        self._cell_tasks = 0
        self._engine_clients: list[Any] = []  # ipyparallel clients opened by add-agent --engines

    # ------------------------------------------------------------------ entry point
    @line_cell_magic
    def mesos(self, line: str = "", cell: str | None = None) -> Any:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"cannot read {line!r}: {exc}; check the quotes") from None
        if cell is not None:
            if not words or words[0] != "task":
                raise UsageError(
                    "the cell form is %%mesos task [--cpus C] [--mem M] [--agent ID] [--timeout S]; "
                    "for the rest use %mesos"
                )
            if "-h" in words[1:] or "--help" in words[1:]:
                print(_help_text("task"))
                return None
            args = _parse("task", words[1:])
            return self._guard(lambda: self._task(args, cell))
        if not words:
            print(_overview())
            return None
        sub, rest = words[0], words[1:]
        if sub in ("run", "use"):
            # EXPR is Python: keep its quotes and spacing, take only the options after it
            parsed = _parse_expr(sub, line)
            return None if parsed is None else self._guard(lambda: getattr(self, "_" + sub)(parsed))
        if sub in ("-h", "--help"):
            sub, rest = "help", rest
        parser = PARSERS.get(sub)
        if parser is None or sub == "task":
            if sub == "task":
                hint = " (use the cell magic: %%mesos task, with the code below it)"
            else:
                low = sub.lower()
                near = difflib.get_close_matches(low, [*PARSERS, "run", "use"], n=2, cutoff=0.7)
                near += [name for name in PARSERS if name.startswith(low) or name.endswith("-" + low)]
                near = list(dict.fromkeys(near))[:3]
                hint = f" (did you mean {' or '.join(near)}?)" if near else ""
            raise UsageError(f"unknown subcommand {sub!r}{hint}; %mesos help lists them")
        if "-h" in rest or "--help" in rest:
            print(_help_text(sub))
            return None
        args = _parse(sub, rest)
        handler = getattr(self, "_" + sub.replace("-", "_"))
        return self._guard(lambda: handler(args))

    mesos.__doc__ = _full_help()

    def _guard(self, fn: Callable[[], Any]) -> Any:
        """Turn jmesos's own errors into one line with the fix (IPython shows UsageError without a traceback)."""
        try:
            return fn()
        except UsageError:
            raise
        except (
            InvalidArgument,
            ResourceError,
            ValueError,
            TypeError,
            RuntimeError,
            TimeoutError,
            OSError,
            KeyError,
        ) as exc:
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            if isinstance(exc, (InvalidArgument, ResourceError, ValueError, TypeError, KeyError)):
                lines = lines[:1]  # bad input: the line that names the field and the fix
            elif len(lines) > _DETAIL_LINES:  # a failure's details (an agent's log tail) say why: keep them
                lines = [*lines[:_DETAIL_LINES], f"... ({len(lines) - _DETAIL_LINES} more lines)"]
            raise UsageError("\n".join(lines)) from None

    # ------------------------------------------------------------------ helpers
    def _need_cluster(self, running: bool = True) -> Any:
        """The cluster the magics drive; ``running=False`` also accepts a stopped one (its log is still readable)."""
        if self.cluster is None:
            raise UsageError("no cluster yet; start one with %mesos start (or %mesos use my_cluster)")
        if running:
            ended = _ended(self.cluster)
            if ended is not None:
                raise UsageError(ended)
        return self.cluster

    def _state(self) -> tuple[Any, ClusterState]:
        feed = feed_for(self._need_cluster(running=False).events)
        return feed, feed.sync()

    def _show(self, make: Callable[[ClusterState], Any]) -> None:
        feed, _ = self._state()
        with feed.locked():
            table = make(feed.state)
        display(table)

    def _in_kernel(self) -> bool:
        return getattr(self.shell, "kernel", None) is not None

    # ------------------------------------------------------------------ lifecycle
    def _start(self, args: argparse.Namespace) -> Any:
        if self.cluster is not None and getattr(self.cluster, "running", False):
            raise UsageError("a cluster is already running; %mesos stop it first (or use it: %mesos status)")
        from ..runtime.cluster import LocalCluster

        self._close_engine_clients()  # those of a cluster that ended by itself
        options: dict[str, Any] = {
            "agents": args.agents if args.agents is not None else self.agents,
            "cpus": args.cpus if args.cpus is not None else self.cpus,
            "mem": args.mem if args.mem is not None else self.mem,
            "policy": args.policy if args.policy is not None else self.policy,
            "seed": args.seed if args.seed is not None else self.seed,
            "allocation_interval": args.allocation_interval
            if args.allocation_interval is not None
            else self.allocation_interval,
            "offer_timeout": args.offer_timeout if args.offer_timeout is not None else self.offer_timeout,
        }
        if args.host is not None:
            options["host"] = args.host
        if not args.var.isidentifier():
            raise UsageError(f"--as {args.var!r} is not a Python name; use e.g. --as cluster")
        if keyword.iskeyword(args.var) or keyword.issoftkeyword(args.var):
            raise UsageError(
                f"--as {args.var!r} is a Python keyword, which cannot name a variable; use e.g. --as cluster"
            )
        if hasattr(builtins, args.var):
            raise UsageError(
                f"--as {args.var!r} would hide Python's builtin {args.var}() in the notebook; use e.g. --as cluster"
                if callable(getattr(builtins, args.var))
                else f"--as {args.var!r} would hide Python's builtin {args.var!r} in the notebook; use e.g. --as cluster"
            )
        self.cluster = LocalCluster(**options)
        self.handles.clear()
        bound = self._bind(args.var, self.cluster)
        where = ":".join(map(str, self.cluster.address)) if getattr(self.cluster, "address", None) else "?"
        each = Resources(cpus=options["cpus"], mem=options["mem"])
        print(
            f"jmesos cluster at {where}: {tables.count(options['agents'], 'agent')} × {each}; policy {options['policy']}"
            + (f"; in the variable {bound!r}" if bound else "")
        )
        if self.dashboard and not args.no_dashboard and self._in_kernel():
            from ..widgets import Dashboard

            display(Dashboard(self.cluster))
        return None

    def _bind(self, name: str, cluster: Any) -> str | None:
        """Put the cluster in the notebook's namespace, unless that would overwrite something of the user's."""
        if self.shell is None:
            return None
        current = self.shell.user_ns.get(name)
        if current is not None and not hasattr(current, "run_async"):
            print(f"(not binding the cluster to {name!r}: that name is in use; pass --as NAME)")
            return None
        self.shell.user_ns[name] = cluster
        return name

    def _stop(self, args: argparse.Namespace) -> None:
        if self.cluster is None:
            raise UsageError("no cluster to stop; %mesos start one")
        was_running = self.cluster.running
        over = getattr(self.cluster, "over", None)  # read before stop(), which makes it plain 'stopped'
        self.cluster.stop()  # also after its master died: what is left of it goes
        self._close_engine_clients()
        if was_running:
            print("cluster stopped: frameworks, agents (and their tasks) and master are gone")
        else:
            why = f"this cluster is over: {over}" if over else "the cluster had already stopped"
            print(f"{why} (its tables and events stay readable); %mesos start a new one")

    def _use(self, args: argparse.Namespace) -> None:
        expr = " ".join(args.expr)
        value = self._eval(expr)
        if not hasattr(value, "events") or not hasattr(value, "run_async"):
            raise UsageError(f"{expr!r} is not a cluster; create one with cluster = jmesos.LocalCluster(...)")
        self.cluster = value
        print(f"%mesos now drives {value!r}")

    def _status(self, args: argparse.Namespace) -> None:
        cluster = self._need_cluster(running=False)
        feed, _ = self._state()
        with feed.locked():
            s = feed.state.summary()
            counted = {a.agent_id for a in feed.state.alive_agents()}
        util = ", ".join(f"{k} {100 * v:.0f}%" for k, v in s["utilization"].items() if k in ("cpus", "mem"))
        gone = tables.gone_parts(s)
        running = _ended(cluster) is None
        alive = "alive" if running else "alive when it ended"
        unnoticed = [a for a in getattr(cluster, "exited_agents", []) if a in counted] if running else []
        if unnoticed:  # killed here a moment ago: the master learns it only from missed health checks
            alive += f" ({', '.join(unnoticed)} of them killed; the master notices when its health checks fail)"
        left = f" ({s['left_frameworks']} left)" if s["left_frameworks"] else ""
        print(
            f"{cluster!r}\n{tables.count(s['agents'], 'agent')} {alive}{''.join(', ' + g for g in gone)}, "
            f"{tables.count(s['frameworks'], 'framework')}{left}, {s['running']} tasks running, "
            f"{s['finished']} finished, {s['failed']} failed/lost, {s['offers']} open offers; utilisation {util or 'n/a'}; "
            f"{s['events']} events over {s['time']:.1f}s"
        )

    def _dashboard(self, args: argparse.Namespace) -> Any:
        cluster = self._need_cluster()
        from ..widgets import Dashboard
        from ..widgets.snapshot import VIEWS

        views = args.views or list(VIEWS)
        unknown = [v for v in views if v not in VIEWS]
        if unknown:
            raise UsageError(f"{unknown[0]!r} is not a view; use some of: {' '.join(VIEWS)}")
        display(Dashboard(cluster, views=views))

    def _replay(self, args: argparse.Namespace) -> None:
        from ..widgets import Replay

        display(Replay(args.file))

    # ------------------------------------------------------------------ tables
    def _agents(self, args: argparse.Namespace) -> None:
        ended = _why_ended(self._need_cluster(running=False))
        self._show(lambda s: tables.agents_table(s, ended=ended))

    def _frameworks(self, args: argparse.Namespace) -> None:
        self._show(tables.frameworks_table)

    def _tasks(self, args: argparse.Namespace) -> None:
        task_state = None
        if args.state is not None:
            found = state_named(args.state)
            task_state = found.value if found is not None else None
            if task_state is None:
                raise UsageError(
                    f"--state {args.state!r} is not a task state; use one of {', '.join(TaskState.__members__)} "
                    "(or without TASK_, e.g. --state failed)"
                )
        feed, _ = self._state()
        with feed.locked():
            framework = self._framework_id(feed.state, args.framework) if args.framework is not None else None
            table = tables.tasks_table(feed.state, last=args.last, framework=framework, task_state=task_state)
        display(table)

    @staticmethod
    def _framework_id(state: ClusterState, given: str) -> str:
        """The id of the framework ``given`` names (by id or by name); a name that matches none is one line."""
        if given in state.frameworks:
            return given
        ids = [fw.framework_id for fw in state.frameworks.values() if fw.name == given]
        if len(ids) == 1:
            return ids[0]
        if ids:
            raise UsageError(f"--framework {given!r} names {len(ids)} frameworks; pass one id: {', '.join(ids)}")
        known = [
            fw.framework_id if fw.name == fw.framework_id else f"{fw.framework_id} ({fw.name})"
            for fw in state.frameworks.values()
        ]
        raise UsageError(
            f"--framework {given!r} is not a framework of this cluster; use one of: {', '.join(known) or '(none yet)'}"
        )

    def _offers(self, args: argparse.Namespace) -> None:
        self._show(lambda s: tables.offers_table(s, last=args.last))

    def _events(self, args: argparse.Namespace) -> None:
        cluster = self._need_cluster(running=False)
        log = cluster.events
        events = log.last(args.last, kind=args.kind)  # opens only the newest chunks of a long log
        if args.kind is not None and not events:
            kinds = sorted({e.kind for e in log})
            raise UsageError(
                f"--kind {args.kind!r} matches no event; kinds in the log: {', '.join(kinds) or '(none yet)'}"
            )
        start = log[0].time if len(log) else None
        display(tables.events_table(events, last=args.last, kind=args.kind, start=start))

    def _save_events(self, args: argparse.Namespace) -> None:
        cluster = self._need_cluster(running=False)
        fix = "give a file path ending in .jsonl, e.g. %mesos save-events run.jsonl"
        if os.path.isdir(args.file):
            where = os.path.join(args.file, "events.jsonl")
            raise UsageError(f"{args.file!r} is a directory; give a file path ending in .jsonl, e.g. {where}")
        try:
            path = cluster.events.save(args.file)
        except OSError as exc:
            raise UsageError(f"cannot save the events to {args.file!r} ({exc.strerror or exc}); {fix}") from None
        print(
            f"saved {len(cluster.events)} events to {str(path)!r}; replay with %mesos replay {shlex.quote(str(path))}"
        )

    # ------------------------------------------------------------------ agents and tasks
    def _add_agent(self, args: argparse.Namespace) -> None:
        cluster = self._need_cluster()
        attributes = {}
        for item in args.attr:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UsageError(f"--attr {item!r} must be KEY=VALUE, e.g. --attr rack=r2")
            attributes[key] = value
        if args.profile != "default" and not args.engines:
            raise UsageError("--profile picks the ipyparallel cluster for --engines; add --engines")
        if args.engines and "engine" in attributes:
            raise UsageError("--attr engine=... is set by --engines to each agent's engine id; choose another name")
        if args.engines:
            client = self._engine_client(args.profile)
            try:
                agent_ids = cluster.add_engine_agents(
                    client, cpus=args.cpus, mem=args.mem, attributes=attributes or None
                )
            except BaseException:
                client.close()
                raise
            self._engine_clients.append(client)  # the cluster reaches its engine agents through it
            print(f"added {', '.join(agent_ids)}: one on each engine of the ipyparallel profile {args.profile!r}")
            return
        agent_id = cluster.add_agent(cpus=args.cpus, mem=args.mem, attributes=attributes or None)
        print(f"added {agent_id}")

    def _engine_client(self, profile: str) -> Any:
        """A client of the running ipyparallel cluster of ``profile``; a missing one is one line with the fix."""
        from ..runtime.engines import import_ipyparallel

        try:
            ipp = import_ipyparallel()
        except ImportError as exc:
            raise UsageError(str(exc)) from None
        try:
            client = ipp.Client(profile=profile)
        except (OSError, TimeoutError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(
                f"cannot connect to an ipyparallel cluster in profile {profile!r} ({first}); "
                f"start one with: ipcluster start -n 4 --profile {profile}"
            ) from None
        deadline = time.monotonic() + ENGINE_WAIT  # just after ipcluster start, the engines are still on their way
        while not client.ids and time.monotonic() < deadline:
            time.sleep(0.1)
        if not client.ids:
            client.close()
            raise UsageError(
                f"the ipyparallel cluster of profile {profile!r} has no engines (waited {ENGINE_WAIT:g}s); "
                f"start some with: ipcluster engines -n 4 --profile {profile} (or ipcluster start -n 4 --profile {profile})"
            )
        return client

    def _close_engine_clients(self) -> None:
        for client in self._engine_clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing what is already broken
                pass
        self._engine_clients.clear()

    def _kill_agent(self, args: argparse.Namespace) -> None:
        cluster = self._need_cluster()
        cluster.kill_agent(args.agent_id)
        # the cluster hears of the exit a moment later: wait for it, so the next cell sees the agent gone
        deadline = time.monotonic() + 2.0
        while args.agent_id in (getattr(cluster, "agents", None) or ()) and time.monotonic() < deadline:
            time.sleep(0.02)
        print(
            f"killed {args.agent_id} (SIGKILL); the master notices when its health checks fail, then its tasks are LOST"
        )

    def _kill_task(self, args: argparse.Namespace) -> None:
        cluster = self._need_cluster()
        feed, _ = self._state()
        with feed.locked():
            task = feed.state.task(args.task_id, args.framework)
            ended = task.state if task is not None and task.terminal else None
        if ended is not None:
            raise UsageError(f"{args.task_id} has already ended ({ended}); there is nothing to kill")
        cluster.kill_task(args.task_id, framework_id=args.framework)
        print(f"asked to kill {args.task_id}")

    def _logs(self, args: argparse.Namespace) -> None:
        cluster = self._need_cluster(running=False)
        stream = "stderr" if args.stderr else "stdout"
        text = cluster.logs(args.task_id, stream=stream)
        print(
            text if text else f"(task {args.task_id} has printed nothing on {stream})",
            end="" if text.endswith("\n") else "\n",
        )

    # ------------------------------------------------------------------ frameworks
    def _eval(self, expr: str) -> Any:
        try:
            return eval(expr, self.shell.user_ns if self.shell is not None else {})  # noqa: S307 - the user's own notebook
        except Exception as exc:
            raise UsageError(f"could not evaluate {expr!r}: {type(exc).__name__}: {exc}") from None

    def _run(self, args: argparse.Namespace) -> Any:
        cluster = self._need_cluster()
        expr = " ".join(args.expr)
        scheduler = self._eval(expr)
        if isinstance(scheduler, type):
            if not issubclass(scheduler, Scheduler):
                raise UsageError(
                    f"{expr} is not a jmesos.Scheduler subclass; define class MyFramework(jmesos.Scheduler)"
                )
            try:
                scheduler = scheduler()
            except TypeError as exc:
                raise UsageError(
                    f"{expr}() needs arguments ({exc}); pass an instance: %mesos run {expr}(...)"
                ) from None
        if not callable(getattr(scheduler, "resource_offers", None)):
            raise UsageError(
                f"{expr} is a {type(scheduler).__name__}, not a framework; pass a jmesos.Scheduler instance, e.g. %mesos run MyFramework()"
            )
        name = args.name or type(scheduler).__name__
        handle = cluster.run_async(scheduler, name=name, role=args.role)
        self.handles[str(handle.framework_id)] = handle
        print(
            f"framework {name!r} registered as {handle.framework_id!r} (role {args.role}); watch it in the dashboard or %mesos frameworks"
        )
        if args.wait:
            try:
                while not handle.done:
                    try:
                        handle.wait(0.5)
                    except TimeoutError:
                        continue
            except KeyboardInterrupt:
                handle.stop()
                print(f"interrupted: framework {handle.framework_id!r} stopped")
        return handle

    def _help(self, args: argparse.Namespace) -> None:
        if args.subcommand is None:
            print(_overview())
            return
        if args.subcommand not in PARSERS:
            raise UsageError(f"no subcommand {args.subcommand!r}; %mesos help lists them")
        print(_help_text(args.subcommand))

    # ------------------------------------------------------------------ %%mesos task
    def _task(self, args: argparse.Namespace, cell: str) -> Any:
        cluster = self._need_cluster()
        from ..runtime.tracebacks import remember_source
        from ._cell import run_cell

        code = textwrap.dedent(cell)
        try:
            tree = ast.parse(code, "<%%mesos task>", "exec")
        except SyntaxError as exc:
            lines = code.splitlines()
            bad = lines[exc.lineno - 1].lstrip() if exc.lineno and 0 < exc.lineno <= len(lines) else ""
            hint = f" ({_CELL_HINT})" if bad.startswith(("%", "!")) else ""
            raise UsageError(f"the cell has a syntax error on line {exc.lineno}: {exc.msg}{hint}") from None
        try:
            need = Resources(cpus=args.cpus, mem=args.mem)
        except ResourceError as exc:
            raise UsageError(str(exc)) from None
        self._check_fits(cluster, need, args.agent)
        self._cell_tasks += 1
        task_id = f"cell-{self._cell_tasks}"
        variables = self._cell_variables(tree)
        filename = f"<%%mesos task {task_id}>"
        remember_source(filename, code)  # so a traceback from the agent shows the cell's lines here
        task = TaskInfo(
            name=task_id, resources=need, fn=run_cell, args=(code, filename), kwargs={"variables": variables}
        )
        scheduler = _CellTask(task, args.agent, need)
        handle = cluster.run_async(scheduler, name=f"%%mesos task {task_id}")
        try:
            try:
                finished = self._wait_for(cluster, scheduler, args.timeout)
            finally:
                handle.stop()  # on an interrupt too: stopping the framework kills its task
        except KeyboardInterrupt:
            # what it printed so far, then one line: an interrupt is the student's own doing, not a crash
            self._print_logs(cluster, task_id, handle.framework_id, scheduler.launched_on)
            where = (
                f"{task_id} killed on {scheduler.launched_on}"
                if scheduler.launched_on
                else f"{task_id} given up while it waited for an offer of {need}"
            )
            raise UsageError(f"interrupted: {where}") from None
        if not finished:
            self._print_logs(cluster, task_id, handle.framework_id, scheduler.launched_on)
            raise UsageError(
                f"{task_id} did not finish within --timeout {args.timeout:g}s"
                + ("" if scheduler.launched_on else f" (no agent offered {need}; ask for less or %mesos add-agent)")
            )
        status = scheduler.status
        assert status is not None
        out = cluster.logs(task_id, framework_id=handle.framework_id)
        err = cluster.logs(task_id, stream="stderr", framework_id=handle.framework_id)
        if out:
            print(out, end="" if out.endswith("\n") else "\n")
        state = str(status.state)
        if state != "TASK_FINISHED":
            detail = (status.message or err or "").rstrip()
            if detail:
                print(detail, file=sys.stderr)
            where = f" on {scheduler.launched_on}" if scheduler.launched_on else ""
            missing = _IPYTHON_NAME_ERROR.findall(detail)
            hint = f" ({_CELL_HINT})" if any(name in _IPYTHON_ONLY for name in missing) else ""
            raise UsageError(f"{task_id} ended {state}{where}" + ("; its error is above" if detail else "") + hint)
        if err:
            print(err, end="" if err.endswith("\n") else "\n", file=sys.stderr)
        return status.data

    @staticmethod
    def _wait_for(cluster: Any, scheduler: _CellTask, timeout: float) -> bool:
        """Wait until the cell's task ends (False: ``timeout`` passed); give up at once if it never can."""
        deadline = time.monotonic() + timeout
        while not scheduler.finished.wait(min(0.25, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return False
            ended = _ended(cluster)
            if ended is not None:
                raise UsageError(ended)
            live = getattr(cluster, "agents", None)
            if scheduler.agent is not None and scheduler.launched_on is None and isinstance(live, list):
                if scheduler.agent not in live:
                    raise UsageError(f"--agent {scheduler.agent!r} is gone (killed or shut down); use one of {live}")
        return True

    @staticmethod
    def _print_logs(cluster: Any, task_id: str, framework_id: Any, launched_on: str | None) -> None:
        """What an unfinished task printed so far (nothing if it never launched, or its log cannot be read)."""
        if launched_on is None:
            return
        for stream, file in (("stdout", sys.stdout), ("stderr", sys.stderr)):
            try:
                text = cluster.logs(task_id, stream=stream, framework_id=framework_id)
            except Exception:  # noqa: BLE001 - the one line that follows says what happened
                continue
            if text:
                print(text, end="" if text.endswith("\n") else "\n", file=file)

    def _check_fits(self, cluster: Any, need: Resources, agent: str | None) -> None:
        """Refuse at once a task no live agent could ever take, instead of waiting --timeout for an offer."""
        feed, _ = self._state()
        with feed.locked():
            alive = {a.agent_id: a for a in feed.state.alive_agents()}
        live = getattr(cluster, "agents", None)  # the cluster knows first when an agent it started was killed
        if isinstance(live, list | tuple):
            alive = {a: view for a, view in alive.items() if a in live}
        if agent is not None:
            if agent not in alive:
                near = [a for a in alive if a.lower() == agent.lower()]
                hint = f" (did you mean {near[0]}?)" if near else ""
                raise UsageError(
                    f"--agent {agent!r} is not a live agent of this cluster{hint}; use one of {list(alive)}"
                )
            candidates = [alive[agent]]
        else:
            candidates = list(alive.values())
        if not candidates:
            raise UsageError("this cluster has no live agent to run the cell; %mesos add-agent")
        if any(need <= a.total for a in candidates):
            return
        short = {k: v for k, v in need.scalars().items() if all(a.total.get(k) < v for a in candidates)}
        asked = Resources(**short) if short else need
        largest = max(candidates, key=lambda a: tuple(a.total.get(k) for k in (*short, "cpus", "mem")))
        add = " ".join(
            f"--{k} {Resources(**{k: v})}".replace(f"{k}:", "") for k, v in short.items() if k in ("cpus", "mem")
        )
        fix = f"ask for less or %mesos add-agent {add}".rstrip()
        if agent is not None:
            raise UsageError(f"{agent} has {largest.total} in all, not {asked}; {fix}, or leave out --agent")
        raise UsageError(f"no agent of this cluster has {asked} in all (the largest has {largest.total}); {fix}")

    def _cell_variables(self, tree: ast.Module) -> dict[str, bytes]:
        """Serialised copies of the notebook variables the cell reads; a line on stderr for each that cannot go.

        Functions and classes defined in the notebook go by value (dill), so
        they work on the agent as they do here; modules go by name.
        """
        from ..runtime.serialize import SerializationError, dumps_value

        def not_sent(name: str, why: str) -> None:
            print(f"{name} was not sent to the agent: {why}", file=sys.stderr)

        too_big = f"(over {CELL_VARIABLE_LIMIT >> 20} MiB); load or build it inside the cell"
        user_ns = self.shell.user_ns if self.shell is not None else {}
        hidden = getattr(self.shell, "user_ns_hidden", {})
        names = sorted(
            {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
        )
        variables: dict[str, bytes] = {}
        for name in names:
            if name not in user_ns or name in hidden or _IPYTHON_HISTORY.fullmatch(name):
                continue
            value = user_ns[name]
            size = getattr(value, "nbytes", 0)
            if isinstance(size, int) and size > CELL_VARIABLE_LIMIT:
                not_sent(name, f"it holds {size / 2**20:.0f} MiB {too_big}")
                continue
            try:
                blob = dumps_value(value, f"the notebook variable {name!r}", by_value=True)
            except SerializationError:
                not_sent(name, f"a {type(value).__qualname__} cannot be serialised; create it inside the cell")
                continue
            if len(blob) > CELL_VARIABLE_LIMIT:
                not_sent(name, f"it takes {len(blob) / 2**20:.0f} MiB serialised {too_big}")
                continue
            variables[name] = bytes(blob)
        return variables


#: A notebook variable bigger than this is not copied to the agent for ``%%mesos task``.
CELL_VARIABLE_LIMIT = 64 << 20
#: IPython's output history (``_``, ``__``, ``_3``, ``_i3`` ...): never what a cell means to send.
_IPYTHON_HISTORY = re.compile(r"_{1,3}|_i{1,3}|_i?\d+|_[ido]h")


class _CellTask(Scheduler):
    """A one-task framework: take the first offer that fits (on ``agent`` if given), run the cell, stop."""

    def __init__(self, task: Any, agent: str | None, need: Resources) -> None:
        self.task = task
        self.agent = agent
        self.need = need
        self.launched_on: str | None = None
        self.status: Any = None
        self.finished = threading.Event()

    def resource_offers(self, driver: Any, offers: list[Any]) -> None:
        for offer in offers:
            fits = self.need <= offer.resources and (self.agent is None or offer.agent_id == self.agent)
            if self.launched_on is None and fits:
                self.launched_on = offer.agent_id
                driver.launch_tasks([offer.id], [self.task])
            else:
                driver.decline_offer(offer.id, Filters(refuse_seconds=1.0))

    def status_update(self, driver: Any, status: Any) -> None:
        if status.task_id == self.task.task_id and status.is_terminal:
            self.status = status
            self.finished.set()
