"""Command-line option types and a parser whose errors fit on one line, shared by every ``python -m jmesos`` command."""

from __future__ import annotations

import argparse
import math
import re
from typing import Any, NoReturn

__all__ = ["CommandParser", "seconds", "count", "as_option"]


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``--help`` shows the usage), exit code 2."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument (\S+): (?=\1[ =])", "", message)  # our messages name the option already
        self.exit(2, f"{self.prog}: error: {message}\n")


def seconds(option: str, example: str = "1.0", *, optional: bool = False) -> Any:
    """An argparse type: a positive, finite number of seconds (with ``optional``, also ``none``)."""

    def parse(text: str) -> float | None:
        if optional and text.strip().lower() == "none":
            return None
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0 < value < math.inf:
            raise argparse.ArgumentTypeError(
                f"{option} {text!r} must be a positive number of seconds, e.g. {option} {example}"
            )
        return value

    return parse


def count(option: str, low: int, high: int | None = None, example: str = "3") -> Any:
    """An argparse type: a whole number from ``low`` to ``high`` (None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{option} {text!r} must be {bound}, e.g. {option} {example}")
        return value

    return parse


def as_option(message: str, name: str) -> str:
    """A library error about ``name=`` reworded for the command line's ``--name``."""
    option = "--" + name.replace("_", "-")
    out = re.sub(rf"\b{name}=(?=\S)", f"{option} ", message)
    return out if option in out else f"{option}: {message}"
