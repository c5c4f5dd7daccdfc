"""Build the lesson notebooks from their readable sources in ``lessons/src/``.

    python lessons/build.py            # write lessons/NN-name.ipynb from lessons/src/NN-name.py
    python lessons/build.py --check    # fail if a committed notebook differs from its source
    python lessons/build.py --solved DIR   # also write copies with the solutions filled in (for instructors)

A source is a Python file in the jupytext "percent" format, so it reads (and
diffs) like a script: ``# %%`` starts a code cell, ``# %% [markdown]`` a
markdown cell whose lines start with ``# ``.  Three cell kinds of our own:

- ``# %% [exercise] NAME`` — a code cell the student completes (tagged ``exercise``);
- ``# %% [solution] NAME`` — not a cell: the reference answer for exercise NAME,
  kept in that cell's metadata (``jmesos.solution``) so the test suite, Binder
  check and instructors can run the notebook solved;
- ``# %% [check]`` — a code cell whose output must contain ``✅`` when the
  notebook runs solved (tagged ``check``).

Notebooks are written without outputs and with stable cell ids, so rebuilding
an unchanged source gives a byte-identical file.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from jmesos.teaching.notebooks import solved

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
MARKER = re.compile(r"^# %%(?: \[(?P<kind>[a-z]+)\])?(?: (?P<name>[\w-]+))?\s*$")


def parse(text: str, stem: str) -> nbformat.NotebookNode:
    """One source file's text → a notebook (no outputs)."""
    cells: list[tuple[str, str | None, list[str]]] = []
    current: tuple[str, str | None, list[str]] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        match = MARKER.match(line)
        if match:
            kind = match.group("kind") or "code"
            if kind not in ("code", "markdown", "exercise", "solution", "check"):
                raise SystemExit(f"{stem}.py:{lineno}: unknown cell kind [{kind}]")
            if kind in ("exercise", "solution") and not match.group("name"):
                raise SystemExit(f"{stem}.py:{lineno}: [{kind}] needs a name, e.g. '# %% [{kind}] packing'")
            current = (kind, match.group("name"), [])
            cells.append(current)
        elif current is None:
            if line.strip():  # a module docstring or header before the first cell is not part of the notebook
                continue
        else:
            current[2].append(line)
    solutions = {name: _strip(body) for kind, name, body in cells if kind == "solution"}
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    exercises = set()
    for kind, name, body in cells:
        if kind == "solution":
            continue
        source = _strip(body)
        cell_id = f"{stem[:2]}-{len(nb.cells):02d}"
        if kind == "markdown":
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in source.splitlines()]
            nb.cells.append(nbformat.v4.new_markdown_cell("\n".join(lines), id=cell_id))
            continue
        cell = nbformat.v4.new_code_cell(source, id=cell_id)
        if kind == "exercise":
            if name not in solutions:
                raise SystemExit(f"{stem}.py: exercise {name!r} has no '# %% [solution] {name}' cell")
            cell.metadata = {"tags": ["exercise"], "jmesos": {"exercise": name, "solution": solutions[name]}}
            exercises.add(name)
        elif kind == "check":
            cell.metadata = {"tags": ["check"]}
        nb.cells.append(cell)
    orphans = set(solutions) - exercises
    if orphans:
        raise SystemExit(f"{stem}.py: solution(s) {sorted(orphans)} have no exercise cell")
    return nb


def _strip(lines: list[str]) -> str:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return "\n".join(lines)


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a notebook differs from its source")
    parser.add_argument("--solved", metavar="DIR", help="also write solved copies into DIR")
    args = parser.parse_args(argv)
    stale = []
    for src in sorted(SOURCES.glob("[0-9]*.py")):
        nb = parse(src.read_text(encoding="utf-8"), src.stem)
        nbformat.validate(nb)
        target = HERE / f"{src.stem}.ipynb"
        text = render(nb)
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(target.name)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(HERE.parent)} ({len(nb.cells)} cells)")
        if args.solved:
            out = Path(args.solved)
            out.mkdir(parents=True, exist_ok=True)
            (out / target.name).write_text(render(solved(nb)), encoding="utf-8")
    if stale:
        print(f"out of date with lessons/src: {', '.join(stale)}; run: python lessons/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
