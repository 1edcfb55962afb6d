"""Which kinds of test the plugin measures, and why it measures no other.

Measured: test functions and methods (sync, or async under pytest-asyncio or anyio),
``unittest.TestCase`` methods (``IsolatedAsyncioTestCase``'s too; ``setUp`` and ``tearDown``
with them) and doctests. Any other item a plugin collects (a linter's check, a YAML case),
an async generator test, or an async test no known plugin runs, runs as pytest runs it, and
the session lists it as *not measured*, with the reason, at its end: never silently.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from _pytest.doctest import DoctestItem
from _pytest.unittest import TestCaseFunction

#: How many node ids the summary names per reason; the rest are counted.
SHOWN_PER_REASON = 3


def is_doctest(item: pytest.Item) -> bool:
    return isinstance(item, DoctestItem)


def is_unittest(item: pytest.Item) -> bool:
    return isinstance(item, TestCaseFunction)


def is_async_runner_item(item: pytest.Item) -> bool:
    """Whether an async test function is run by a plugin whose runner the window can sit inside."""
    return type(item).__module__.startswith("pytest_asyncio") or item.get_closest_marker("anyio") is not None


def unmeasurable(item: pytest.Item) -> str | None:
    """Why the plugin cannot measure ``item`` (one line), or None when it can."""
    if is_doctest(item):
        return None
    if not isinstance(item, pytest.Function):
        return f"a {type(item).__name__} item: only test functions, unittest methods and doctests are measured"
    if is_unittest(item):
        return None  # IsolatedAsyncioTestCase's too: its event loop runs inside the window
    function = item.function
    if inspect.isasyncgenfunction(function):
        return "an async generator test"
    if inspect.iscoroutinefunction(function) and not is_async_runner_item(item):
        return "an async test run by neither pytest-asyncio nor anyio"
    return None


@dataclass(frozen=True)
class NotMeasured:
    """A test the session was asked to measure and could not, and why."""

    nodeid: str
    reason: str


def not_measured_lines(tests: Sequence[NotMeasured]) -> list[str]:
    """One line per reason: how many tests, and the first few of them."""
    by_reason: dict[str, list[str]] = {}
    for test in tests:
        by_reason.setdefault(test.reason, []).append(test.nodeid)
    lines = []
    for reason, nodeids in by_reason.items():
        shown = ", ".join(nodeids[:SHOWN_PER_REASON])
        more = f" and {len(nodeids) - SHOWN_PER_REASON} more" if len(nodeids) > SHOWN_PER_REASON else ""
        lines.append(f"{len(nodeids)} not measured, {reason}: {shown}{more}")
    return lines
