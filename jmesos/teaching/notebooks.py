"""Run the lesson notebooks end to end with a real kernel and verify them (tests, Binder check, instructors).

    python -m jmesos.teaching.notebooks lessons/*.ipynb            # run as a student would (stubs unsolved)
    python -m jmesos.teaching.notebooks --solutions lessons/*.ipynb  # run with the reference solutions

With ``--solutions`` every exercise cell is replaced by the solution kept in
its metadata (see ``lessons/build.py``), and every cell tagged ``check`` must
print ``✅`` and no ``❌``.  In both modes a lesson fails on an error output or
a traceback printed to stderr (a scheduler callback failing in the
background).  Needs ``nbclient`` (installed with JupyterLab).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LessonRun", "run_lesson", "solved", "kernel_python", "main"]


def solved(nb: Any) -> Any:
    """A copy of notebook ``nb`` whose exercise cells hold their reference solutions."""
    import nbformat

    copy = nbformat.from_dict(nb)
    for cell in copy.cells:
        solution = cell.get("metadata", {}).get("jmesos", {}).get("solution")
        if cell.cell_type == "code" and solution is not None:
            cell.source = solution
    return copy


def _text(cell: Any) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


@dataclass
class LessonRun:
    """What happened when one notebook ran: time taken, the check cells' lines, and any problems."""

    path: Path
    seconds: float
    solutions: bool
    checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notebook: Any = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        status = "ok" if self.ok else f"{len(self.problems)} problem(s)"
        lines = [f"{self.path.name}: {status} in {self.seconds:.1f} s ({'solved' if self.solutions else 'as given'})"]
        lines += [f"   {line}" for line in self.checks]
        lines += [f"   PROBLEM: {p}" for p in self.problems]
        return "\n".join(lines)


def run_lesson(
    path: str | Path, *, solutions: bool = True, timeout: float = 180.0, kernel_name: str = "python3"
) -> LessonRun:
    """Execute the notebook at ``path`` in a fresh kernel (working directory: its folder) and verify it."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no notebook at {str(path)!r}")
    nb = nbformat.read(path, as_version=4)
    if solutions:
        nb = solved(nb)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    start = time.perf_counter()
    try:
        client.execute()
        crashed = ""
    except CellExecutionError as exc:  # pragma: no cover - allow_errors keeps going; kept for kernels that die
        crashed = str(exc)[:500]
    run = LessonRun(path, time.perf_counter() - start, solutions, notebook=nb)
    if crashed:
        run.problems.append(f"execution stopped: {crashed}")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                run.problems.append(f"cell {index} raised {out.get('ename')}: {out.get('evalue', '')[:300]}")
            elif (
                out.get("output_type") == "stream"
                and out.get("name") == "stderr"
                and "Traceback" in out.get("text", "")
            ):
                run.problems.append(f"cell {index} printed a traceback on stderr: {out['text'].strip()[-300:]}")
        if "check" in cell.get("metadata", {}).get("tags", []):
            text = _text(cell)
            verdicts = [line.strip() for line in text.splitlines() if line.strip()[:1] in ("✅", "❌")]
            run.checks.extend(verdicts or [f"(cell {index} printed no verdict)"])
            if solutions and ("✅" not in text or "❌" in text):
                run.problems.append(f"check cell {index} did not pass: {text.strip()[:300] or 'no output'}")
    return run


def kernel_python(kernel_name: str = "python3") -> str:
    """The interpreter a kernel named ``kernel_name`` runs (to confirm a check used the intended environment)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    NotebookClient(nb, timeout=60, kernel_name=kernel_name).execute()
    return _text(nb.cells[0]).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jmesos.teaching.notebooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", help="the .ipynb files to run")
    parser.add_argument("--solutions", action="store_true", help="run with the reference solutions; checks must pass")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds a single cell may take (default 180)")
    parser.add_argument("--kernel", default="python3", help="kernel name (default python3)")
    parser.add_argument("--save", metavar="DIR", help="write the executed notebooks (with outputs) into DIR")
    args = parser.parse_args(argv)
    print(f"kernel {args.kernel!r} runs {kernel_python(args.kernel)}")
    failed = 0
    total = 0.0
    for notebook in args.notebooks:
        run = run_lesson(notebook, solutions=args.solutions, timeout=args.timeout, kernel_name=args.kernel)
        total += run.seconds
        print(run, flush=True)
        if args.save:
            import nbformat

            Path(args.save).mkdir(parents=True, exist_ok=True)
            nbformat.write(run.notebook, Path(args.save) / Path(notebook).name)
        failed += not run.ok
    print(f"{len(args.notebooks) - failed} of {len(args.notebooks)} notebooks ok; {total:.1f} s in all")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
