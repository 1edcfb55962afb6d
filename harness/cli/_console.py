"""Consoles for command output: as wide as the terminal, or as ``COLUMNS`` says, else 200 columns."""

from __future__ import annotations

import os

from rich.console import Console

#: The width of output that goes to no terminal and has no ``COLUMNS``: a CI log, a file.
NO_TERMINAL_WIDTH = 200


def console(*, stderr: bool = False) -> Console:
    """A rich console; when not on a terminal, ``COLUMNS`` wide if set (rich reads it), else
    :data:`NO_TERMINAL_WIDTH` instead of rich's 80, so that a log keeps every column."""
    out = Console(stderr=stderr)
    if not out.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        out = Console(stderr=stderr, width=NO_TERMINAL_WIDTH)
    return out
