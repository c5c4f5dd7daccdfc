"""Starting another Python interpreter that imports this same jmesos.

The supervisor a ``LocalCluster`` starts, and the agent an ipyparallel engine
starts, are fresh interpreters (``python -m ...``).  They must import jmesos
from where their parent did, whether it is installed or a source checkout.
"""

from __future__ import annotations

import os

__all__ = ["jmesos_env"]


def jmesos_env() -> dict[str, str]:
    """This process's environment, with jmesos importable from where this process imports it, output unbuffered."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")  # its log shows what it printed last, even if it is killed
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.basename(package_root) not in ("site-packages", "dist-packages"):  # never ahead of the stdlib
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env
