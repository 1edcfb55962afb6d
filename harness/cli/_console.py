"""Consoles for command output: wide enough in CI logs that tables never fold."""

from __future__ import annotations

from rich.console import Console


def console(*, stderr: bool = False) -> Console:
    """A rich console; when not on a terminal, 200 columns instead of rich's 80."""
    out = Console(stderr=stderr)
    if not out.is_terminal:
        out = Console(stderr=stderr, width=200)
    return out
