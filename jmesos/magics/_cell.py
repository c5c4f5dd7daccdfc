"""What runs on an agent for ``%%mesos task``: the cell's code, IPython style.

Kept apart from the magics so that the agent's worker, which imports this
function to run it, never imports IPython.
"""

from __future__ import annotations

import ast
from typing import Any

__all__ = ["run_cell"]


def run_cell(code: str, filename: str = "<%%mesos task>") -> Any:
    """Run ``code`` in a fresh namespace and return the value of its last expression (None if it ends in a statement).

    Like a notebook cell: ``print`` goes to the task's stdout (``%mesos logs``)
    and the last expression is the result shown under the cell.
    """
    tree = ast.parse(code, filename, "exec")
    namespace: dict[str, Any] = {"__name__": "__main__"}
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        tree.body.pop()
        exec(compile(tree, filename, "exec"), namespace)  # noqa: S102 - running the user's cell is the point
        return eval(compile(ast.Expression(last.value), filename, "eval"), namespace)  # noqa: S307
    exec(compile(tree, filename, "exec"), namespace)  # noqa: S102
    return None
