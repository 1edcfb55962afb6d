"""The pytest plugin at suite scale: 300 generated tests, every one measured, read the same
in every session, whatever the order, the selection or the number of workers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from generated_suite import write_suite

pytest_plugins = ["pytester"]

ONCE = ("-p", "no:cacheprovider", "--harness-replicates", "1", "--harness-backend", "native")
#: Every figure of a phase but its timings.
Figures = dict[str, dict[str, float]]


def _figures(root: Path, name: str) -> Figures:
    """{nodeid: {metric: value}} of the baseline ``name``, without timings."""
    data = json.loads(root.joinpath("baselines", "pytest", f"{name}.json").read_text())
    out: Figures = {}
    for trial in data["trials"]:
        (phase,) = trial["phases"]
        out[trial["experiment"]] = {k: v for k, v in phase["metrics"].items() if "wall" not in k}
    return out


def _differing(got: Figures, expected: Figures, metrics: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """The tests of ``got`` whose figures (or only ``metrics`` of them) differ from ``expected``'s."""
    differ = {}
    for test, figures in got.items():
        keys = figures.keys() if metrics is None else metrics
        moved = {k: (figures[k], expected[test][k]) for k in keys if figures[k] != expected[test][k]}
        if moved:
            differ[test] = moved
    return differ


#: What a test allocates, keeps, and holds at its end: exact in every session.
HELD = {"alloc_bytes", "alloc_count", "kept_bytes", "kept_count", "net_bytes", "net_count"}
HAS_XDIST = importlib.util.find_spec("xdist") is not None


def test_300_tests_read_the_same_in_two_sessions_reversed_selected_and_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pyproject="[tool.pytest.ini_options]\n")
    files = [str(p.relative_to(pytester.path)) for p in write_suite(pytester.path, files=6, per_file=50)]
    pytester.runpytest_subprocess(*ONCE, "--harness-save", "first").assert_outcomes(passed=300)
    pytester.runpytest_subprocess(*ONCE, "--harness-save", "second").assert_outcomes(passed=300)
    pytester.runpytest_subprocess(*ONCE, *reversed(files), "--harness-save", "reversed").assert_outcomes(passed=300)
    selected = pytester.runpytest_subprocess(*ONCE, "-k", "attrs_03 or pickles or 7]", "--harness-save", "selected")
    selected.assert_outcomes(passed=165, deselected=135)
    first = _figures(pytester.path, "first")
    assert len(first) == 300
    # The tests really differ, so that equality is not equality of nothing.
    assert len({f["alloc_bytes"] for f in first.values()}) > 100
    assert min(f["kept_count"] for f in first.values()) < max(f["kept_count"] for f in first.values())
    sessions = ["second", "reversed", "selected"]
    if HAS_XDIST:
        spread = pytester.runpytest_subprocess(*ONCE, "-p", "xdist", "-n", "2", "--harness-save", "xdist")
        spread.assert_outcomes(passed=300)
        sessions.append("xdist")
    for name in sessions:
        assert _differing(_figures(pytester.path, name), first, HELD) == {}, name
    # The peak is not held to this yet: a name the test made and the type cache evicts
    # inside the window can move it by a string or two (see docs/pytest.md).
