"""What runs on an agent for ``%%mesos task``: the cell's code, IPython style.

Kept apart from the magics so that the agent's worker, which imports this
function to run it, never imports IPython.
"""

from __future__ import annotations

import ast
from typing import Any

from ..runtime.serialize import loads_value

__all__ = ["run_cell"]


def run_cell(code: str, filename: str = "<%%mesos task>", variables: dict[str, bytes] | None = None) -> Any:
    """Run ``code`` and return the value of its last expression (None if it ends in a statement).

    Like a notebook cell: ``print`` goes to the task's stdout (``%mesos logs``)
    and the last expression is the result shown under the cell.  The cell's
    namespace starts with ``variables``: copies of the notebook variables it
    reads, serialised by the magic (name -> bytes).
    """
    __tracebackhide__ = True  # a failing cell's traceback starts at the cell, as in the notebook
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for name, blob in (variables or {}).items():
        try:
            namespace[name] = loads_value(blob)
        except Exception as exc:  # noqa: BLE001 - e.g. a module the agent does not have
            raise RuntimeError(
                f"the notebook variable {name!r} cannot be loaded on this agent ({type(exc).__name__}: {exc}); "
                "install what it needs where the agents run, or build it inside the cell"
            ) from None
    tree = ast.parse(code, filename, "exec")
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        tree.body.pop()
        exec(compile(tree, filename, "exec"), namespace)  # noqa: S102 - running the user's cell is the point
        return eval(compile(ast.Expression(last.value), filename, "eval"), namespace)  # noqa: S307
    exec(compile(tree, filename, "exec"), namespace)  # noqa: S102
    return None
