"""Every lesson runs end to end with a real kernel: solved, its check cells print ✅; as given, it still runs.

The notebooks are executed with nbclient exactly as committed, except that
for the solved run each exercise cell is replaced by the reference solution
kept in its metadata (see ``lessons/build.py``) — so a check cell checks the
code that actually ran.  The "as given" run is what a student who has not
done the exercises gets: hints, and no errors.  Both runs must stop every
cluster they start (``no_leaks``).  Wall times are printed (``-s``) and
recorded as test properties; they are not asserted (see DESIGN.md).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

from jmesos.teaching.notebooks import run_lesson

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("[0-9][0-9]-*.ipynb"))


def test_the_three_lessons_exist():
    assert [p.name for p in LESSONS] == [
        "01-resource-offers.ipynb",
        "02-drf.ipynb",
        "03-sharing-vs-partitioning.ipynb",
    ]


def test_notebooks_are_built_from_their_sources():
    spec = importlib.util.spec_from_file_location("lessons_build", LESSONS_DIR / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.main(["--check"]) == 0, "a notebook is out of date; run: python lessons/build.py"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_committed_notebooks_are_small_and_have_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert path.stat().st_size < 60_000
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    tags = [tag for cell in nb.cells for tag in cell.get("metadata", {}).get("tags", [])]
    assert "exercise" in tags and "check" in tags


@pytest.mark.notebook
@pytest.mark.timeout(400)
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs_solved_and_its_checks_pass(path, no_leaks, record_property):
    run = run_lesson(path, solutions=True, timeout=180)
    record_property("seconds", round(run.seconds, 1))
    print(f"\n{run}")
    assert run.ok, str(run)
    assert run.checks and all(line.startswith("✅") for line in run.checks), str(run)


@pytest.mark.notebook
@pytest.mark.timeout(400)
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs_as_given_and_its_exercise_checks_give_hints(path, no_leaks, record_property):
    run = run_lesson(path, solutions=False, timeout=180)
    record_property("seconds", round(run.seconds, 1))
    print(f"\n{run}")
    assert run.ok, str(run)
    # an unanswered exercise is never reported correct
    assert any(line.startswith("❌") for line in run.checks), str(run)


def _markdown(name):
    nb = nbformat.read(LESSONS_DIR / name, as_version=4)
    return " ".join(" ".join(cell.source.split()) for cell in nb.cells if cell.cell_type == "markdown")


def _code(name, index):
    nb = nbformat.read(LESSONS_DIR / name, as_version=4)
    return [cell.source for cell in nb.cells if cell.cell_type == "code"][index]


def test_lesson_2_says_how_much_memory_the_papers_example_leaves_idle():
    import jmesos

    total = jmesos.Resources(cpus=9, mem="18GiB")
    held = jmesos.Resources(cpus=1, mem="4GiB") * 3 + jmesos.Resources(cpus=3, mem="1GiB") * 2  # A 3 tasks, B 2
    idle_gb = (total.mem - held.mem) / 1024
    text = _markdown("02-drf.ipynb")
    said = re.findall(r"(\d+) GB of memory stay idle", text)
    assert said == [f"{idle_gb:g}"], f"the lesson says {said} GB stay idle; A 3 and B 2 tasks leave {idle_gb:g} GB"


def test_lesson_3_names_the_job_with_the_most_work_as_its_first_cell_prints_it():
    namespace = {}
    exec(_code("03-sharing-vs-partitioning.ipynb", 0), namespace)  # the workload: no cluster, no plots shown
    work = {job.name: sum(job.durations) * job.need.cpus for job in namespace["workload"]}
    most = max(work, key=work.get)
    text = _markdown("03-sharing-vs-partitioning.ipynb")
    named = re.findall(r"\**(\w+)\**,? (?:has|with) the most work", text)
    assert named and set(named) == {most}, f"the text says {named} has the most work; the printed work is {work}"
