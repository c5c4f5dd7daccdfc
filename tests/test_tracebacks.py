"""Tracebacks from agents get the notebook's own source lines back, and nothing else."""

from __future__ import annotations

import linecache

from jmesos.runtime.tracebacks import remember_source, with_notebook_sources


def test_missing_lines_of_notebook_code_are_filled_in_and_present_ones_left_alone():
    remember_source("<cell-a>", "x = 1\nratio(x, 0)\n")
    remember_source("<cell-b>", "def ratio(a, b):\n    return a / b\n")
    agent_text = (
        "Traceback (most recent call last):\n"
        '  File "<cell-a>", line 2, in <module>\n'
        '  File "<cell-b>", line 2, in ratio\n'
        "    return a / b\n"
        "           ~~^~~\n"
        "ZeroDivisionError: division by zero\n"
    )
    assert with_notebook_sources(agent_text) == (
        "Traceback (most recent call last):\n"
        '  File "<cell-a>", line 2, in <module>\n'
        "    ratio(x, 0)\n"
        '  File "<cell-b>", line 2, in ratio\n'
        "    return a / b\n"
        "           ~~^~~\n"
        "ZeroDivisionError: division by zero\n"
    )


def test_files_on_disk_and_unknown_lines_are_not_guessed(tmp_path):
    here = tmp_path / "module.py"
    here.write_text("print('this machine has another version')\n")
    linecache.getline(str(here), 1)  # now cached, as a file read from disk
    text = (
        f'  File "{here}", line 1, in f\n  File "<cell-c>", line 1, in g\n  File "<nowhere>", line 9, in h\nValueError'
    )
    remember_source("<cell-c>", "")
    assert with_notebook_sources(text) == text
