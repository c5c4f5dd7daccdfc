"""A failed task's traceback, as a student should read it: their own frames, with their own lines.

Two halves, one on each side of the wire.  The worker drops jmesos's own
frames (:func:`visible`).  The notebook fills in the source lines the agent
could not show (:func:`with_notebook_sources`): code typed into a notebook cell
exists only in the kernel's :mod:`linecache`, so an agent prints the frame of a
notebook function as a bare ``File "/tmp/ipykernel_.../123.py", line 2``.
"""

from __future__ import annotations

import linecache
import re
from types import TracebackType

__all__ = ["visible", "with_notebook_sources", "remember_source"]

_FRAME = re.compile(r'^(\s*)File "(.+)", line (\d+), in ')


def visible(tb: TracebackType | None) -> TracebackType | None:
    """``tb`` without the frames that set ``__tracebackhide__`` (IPython's convention).

    jmesos's own code between the worker and the user's code (e.g. what runs a
    ``%%mesos task`` cell) marks itself so, and a student's traceback starts at
    their own line, as it does in the notebook.
    """
    head = last = None
    while tb is not None:
        following = tb.tb_next
        frame = tb.tb_frame
        if not (frame.f_locals.get("__tracebackhide__") or frame.f_globals.get("__tracebackhide__")):
            if last is None:
                head = tb
            else:
                last.tb_next = tb
            last = tb
        tb = following
    if last is not None:
        last.tb_next = None
    return head


def remember_source(filename: str, code: str) -> None:
    """Keep ``code`` in this process's linecache under ``filename``, as IPython does with its cells."""
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)


def with_notebook_sources(text: str) -> str:
    """``text`` (a formatted traceback) with the lines of notebook code the agent could not show.

    Only sources this process holds in memory (IPython's cells, ``%%mesos
    task`` cells) are used: a file on disk here may differ from the agent's.
    """
    lines = text.split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        out.append(line)
        frame = _FRAME.match(line)
        if frame is None:
            continue
        indent, filename, number = frame.group(1), frame.group(2), int(frame.group(3))
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if following.startswith(indent + "  "):  # the agent showed the line
            continue
        entry = linecache.cache.get(filename)
        if entry is None or len(entry) != 4 or entry[1] is not None or not 0 < number <= len(entry[2]):
            continue
        source = entry[2][number - 1].strip()
        if source:
            out.append(f"{indent}  {source}")
    return "\n".join(out)
