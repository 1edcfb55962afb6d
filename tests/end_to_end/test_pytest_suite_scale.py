"""The pytest plugin at suite scale: generated suites of hundreds of tests, every one measured: their
figures read the same in every session, and their baseline fits a repository."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import pytest
from generated_suite import write_suite

from harness.store.pytest_baseline import KEPT_SITES, read_baseline
from harness.store.results import read_results

pytest_plugins = ["pytester"]

ONCE = ("-p", "no:cacheprovider", "--harness-replicates", "1", "--harness-backend", "native")
#: Every figure of a phase but its timings.
Figures = dict[str, dict[str, float]]


def _figures(root: Path, name: str) -> Figures:
    """{nodeid: {metric: value}} of the baseline ``name``, without timings."""
    out: Figures = {}
    for trial in read_baseline(root.joinpath("baselines", "pytest", f"{name}.json")).trials:
        (phase,) = trial.phases
        out[trial.experiment] = {k: float(v) for k, v in phase.metrics.items() if "wall" not in k and v is not None}
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


HAS_XDIST = importlib.util.find_spec("xdist") is not None


def test_300_tests_read_the_same_in_two_sessions_reversed_selected_and_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pyproject="[tool.pytest.ini_options]\n")
    files = [str(p.relative_to(pytester.path)) for p in write_suite(pytester.path, files=6, per_file=50)]
    alone = pytester.runpytest_subprocess(*ONCE, "--harness-save", "first")
    alone.assert_outcomes(passed=300)
    _assert_short_summary(alone.outlines, "300 measured tests at 1 replicate", shown=10)
    gated = pytester.runpytest_subprocess(
        *ONCE,
        "--harness-save",
        "second",
        "--harness-baseline",
        "first",
        "--harness-json",
        "s.json",
        "--harness-html",
        "s.html",
    )
    gated.assert_outcomes(passed=300)
    # Nothing moved: the counts, and no test to show.
    _assert_short_summary(
        gated.outlines, "300 measured tests at 1 replicate against 'first': 0 regressed, 0 improved, 0 new", shown=0
    )
    assert len(read_results(pytester.path / "s.json").experiments) == 300
    page = pytester.path.joinpath("s.html").read_text()
    assert "tests/test_attrs_00.py::test_attrs[0]" in page and "<script src=" not in page
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
        # Every figure of every test, its peak included: exactly.
        assert _differing(_figures(pytester.path, name), first) == {}, name


def _assert_short_summary(lines: list[str], counts: str, shown: int) -> None:
    """The default summary: its counts, ``shown`` tests in a table (a header and a row each, or,
    wider than the terminal, a line for the id and one for the figures), one figure per cell at
    one replicate (no spread), and a line for each file written."""
    summary = lines[next(i for i, line in enumerate(lines) if "harness: measured tests" in line) + 1 :]
    summary = [line for line in summary[: next(i for i, line in enumerate(summary) if line.startswith("="))] if line]
    assert summary[0] == counts, summary
    rows = [line for line in summary if line.startswith("tests/")]
    assert len(rows) == shown, summary
    assert not any("±" in line for line in summary), summary
    assert len(summary) <= 1 + 2 + 2 * shown + 1 + 4, summary
    assert any(line.startswith("harness: baseline ") and " saved to " in line for line in summary), summary


#: The bound a baseline is held to: 5 MB for a suite of 1,661 tests at 3 replicates, so about
#: 1 KB per test and replicate.
BYTES_PER_TEST_AND_REPLICATE = 5_000_000 // (1661 * 3)


def test_a_baseline_of_1000_tests_fits_a_repository_and_loads_at_once(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pyproject="[tool.pytest.ini_options]\n")
    write_suite(pytester.path, files=10, per_file=100)
    pytester.runpytest_subprocess(*ONCE, "--harness-save", "main").assert_outcomes(passed=1000)
    path = pytester.path / "baselines" / "pytest" / "main.json"
    size = path.stat().st_size
    assert size <= 1000 * BYTES_PER_TEST_AND_REPLICATE, size
    started = time.perf_counter()
    baseline = read_baseline(path)
    assert time.perf_counter() - started < 2.0
    assert len(baseline.experiments) == 1000 and len(baseline.trials) == 1000
    # What a regression message and a flame graph need: the sites that moved most, paths
    # relative to the rootdir, and a remainder so that the sites add up to the phase.
    root = str(pytester.path)
    for trial in baseline.trials:
        (phase,) = trial.phases
        assert len(phase.sites) <= KEPT_SITES + 1
        assert sum(s.figures["alloc_bytes"] for s in phase.sites) == phase.metrics["alloc_bytes"]
        assert not any(root in frame for site in phase.sites for frame in site.stack)
    assert any(s.file.startswith("tests/test_") for t in baseline.trials for s in t.phases[0].sites)
