"""Selecting experiments by pattern: the one rule every command uses.

A pattern is an exact experiment id, a glob over ids (``flow_table.*[hashmap*``), or else a
substring (``flow_table``, ``spike_drain``). A pattern that matches nothing is an error,
so that a typo never gates an empty suite.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import TypeVar

from harness.errors import SelectionError

T = TypeVar("T")


def matches(experiment_id: str, pattern: str) -> bool:
    """Whether ``pattern`` selects ``experiment_id``."""
    if pattern == experiment_id:
        return True
    if "*" in pattern or "?" in pattern:
        # Brackets are part of ids, not character classes.
        escaped = pattern.replace("[", "[[]")
        return fnmatch.fnmatchcase(experiment_id, escaped)
    return pattern in experiment_id


def matches_any(experiment_id: str, patterns: Sequence[str]) -> bool:
    """Whether any pattern selects ``experiment_id`` (every id, for no pattern)."""
    return not patterns or any(matches(experiment_id, p) for p in patterns)


NO_MATCH = "no experiment matches {pattern!r} (try `harness list`)"


def check_patterns(ids: Iterable[str], patterns: Sequence[str], message: str = NO_MATCH) -> None:
    """:class:`SelectionError` for the first pattern that matches none of ``ids``.

    ``message`` is formatted with ``pattern``, to say where the experiments were looked for.
    """
    known = list(ids)
    for pattern in patterns:
        if not any(matches(i, pattern) for i in known):
            raise SelectionError(message.format(pattern=pattern))


def select(items: Sequence[T], ids: Sequence[str], patterns: Sequence[str], message: str = NO_MATCH) -> list[T]:
    """The items (one per id, in order) whose id a pattern selects; all of them for no pattern."""
    check_patterns(ids, patterns, message)
    return [item for item, i in zip(items, ids, strict=True) if matches_any(i, patterns)]


def the_one(ids: Sequence[str], pattern: str) -> str:
    """The one id of ``ids`` that ``pattern`` names; :class:`SelectionError` for none or several."""
    if pattern in ids:
        return pattern
    found = [i for i in ids if matches(i, pattern)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise SelectionError(f"no experiment matches {pattern!r} (see `harness list`)")
    raise SelectionError(f"{pattern!r} matches {len(found)} experiments ({', '.join(found[:3])}, ...): give one id")
