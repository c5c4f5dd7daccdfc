"""Shipping callables and values: what goes by value, what by name, and what must not go at all."""

from __future__ import annotations

import pytest

import jmesos
from jmesos.runtime.serialize import SerializationError, dumps_call, dumps_value, loads_call, loads_value


def test_a_function_using_an_imported_package_ships_it_by_name():
    """dill sends modules outside site-packages by value: jmesos itself under pip install -e."""
    work = lambda: jmesos.Resources(cpus=1)  # noqa: E731 - a lambda goes by value, with what it uses
    fn, args, kwargs = loads_call(dumps_call(work))
    assert fn() == jmesos.Resources(cpus=1)
    assert len(dumps_call(work)) < 5_000  # the name, not the package's objects


def test_an_open_file_is_refused_not_reopened_on_the_other_side(tmp_path):
    """dill reopens a file by its path and mode: 'w' would empty the notebook's own file."""
    path = tmp_path / "data.txt"
    with open(path, "w") as out:
        out.write("important data\n")
        out.flush()
        with pytest.raises(SerializationError, match="is an open file, which does not travel; open it where"):
            dumps_value(out, by_value=True)
        with pytest.raises(SerializationError, match="is an open file"):
            dumps_call(lambda: out.write("x"))
    assert path.read_text() == "important data\n"


def test_plain_values_and_notebook_functions_round_trip():
    assert loads_value(dumps_value({"a": [1, 2.5, "x"]})) == {"a": [1, 2.5, "x"]}
    square = lambda x: x * x  # noqa: E731
    fn, args, kwargs = loads_call(dumps_call(square, (7,)))
    assert fn(*args, **kwargs) == 49
