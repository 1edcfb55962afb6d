"""Measured tests under pytest-cov, on real pytest sessions (``pytester``): their lines are in
the session's coverage, and their figures are those of a session without ``--cov``."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.store.results import read_results

pytest_plugins = ["pytester"]

pytest.importorskip("pytest_cov")
# Imported here, once: pytester drops the modules a test imports, and coverage.py's C tracer
# cannot be imported twice in one process.
CoverageData = pytest.importorskip("coverage").CoverageData

STORE = """\
def fill(n):
    rows = []
    for i in range(n):
        rows.append([i] * 4)
    return rows


def drain(rows):
    while rows:
        rows.pop()
    return rows


def prepared():
    return [[0] * 8 for _ in range(20)]


def called_by_a_no_cover_test():
    return "traced by nobody"


def after_the_first_test():
    return "traced by the session itself"


def never():
    return "never called"
"""

CONFTEST = """
import pytest

from pkg.store import after_the_first_test, prepared


@pytest.fixture
def rows():
    return prepared()


def pytest_runtest_logfinish(nodeid, location):
    # In the session, once the first test is done with (before the no_cover test has
    # pytest-cov stop and start its tracer): the session's own tracer, paused while a
    # measured test runs in copies, traces this again.
    if nodeid.endswith("::test_fill"):
        after_the_first_test()
"""

TESTS = """
import pytest

from pkg.store import called_by_a_no_cover_test, drain, fill


def test_fill():
    assert len(fill(100)) == 100


def test_drain(harness_trial, rows):
    with harness_trial.phase("drain"):
        drain(rows)
    assert rows == []


@pytest.mark.no_cover
def test_not_covered():
    assert called_by_a_no_cover_test()
"""


def _project(pytester: pytest.Pytester) -> Path:
    pytester.mkpydir("pkg")
    pytester.path.joinpath("pkg", "store.py").write_text(STORE)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_store=TESTS)
    return pytester.path / "pkg" / "store.py"


def _line_of(source: str, text: str) -> int:
    return next(number for number, line in enumerate(source.splitlines(), 1) if text in line)


def _missed_lines_reported(result: pytest.RunResult) -> str:
    """The ``Missing`` column of pytest-cov's ``term-missing`` report for ``pkg/store.py``."""
    (row,) = [line for line in result.outlines if line.startswith("pkg/store.py")]
    return row.split("%", 1)[1].strip()


def _figures(path: Path) -> dict[tuple[str, int, str], tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every phase's figures (but its clock's) and sites, by test, replicate and phase."""
    figures = {}
    for trial in read_results(path).trials:
        for phase in trial.phases:
            metrics = {name: value for name, value in phase.metrics.items() if "wall" not in name}
            figures[trial.experiment, trial.replicate, phase.name] = (metrics, [s.to_json() for s in phase.sites])
    return figures


ARGS = ("-p", "no:cacheprovider", "--harness", "--harness-replicates", "2", "-W", "ignore::DeprecationWarning")


def test_the_lines_measured_tests_ran_are_covered_and_their_figures_are_those_without_cov(
    pytester: pytest.Pytester,
) -> None:
    store = _project(pytester)
    covered = pytester.runpytest_subprocess(
        *ARGS, "--cov=pkg", "--cov-context=test", "--cov-report=term-missing", "--harness-json", "cov.json"
    )
    covered.assert_outcomes(passed=3)
    out = covered.stdout.str()
    assert "coverage leaves out" not in out, out
    # pytest-cov's own report: what only the measured tests (and the fixture of one) ran is
    # covered; missed are what no test calls and what the no_cover test called.
    assert (
        _missed_lines_reported(covered) == f"{_line_of(STORE, 'traced by nobody')}, {_line_of(STORE, 'never called')}"
    )

    # The combined data file, with the test contexts pytest-cov's --cov-context=test gives.
    data = CoverageData(basename=str(pytester.path / ".coverage"))
    data.read()
    by_line = data.contexts_by_lineno(str(store))
    assert by_line[_line_of(STORE, "rows.append")] == ["test_store.py::test_fill|run"]
    assert by_line[_line_of(STORE, "rows.pop()")] == ["test_store.py::test_drain|run"]
    assert by_line[_line_of(STORE, "return [[0] * 8")] == ["test_store.py::test_drain|setup"]
    assert _line_of(STORE, 'return "traced by nobody"') not in by_line
    # No covering copy's data file is left beside it: pytest-cov combined them all.
    assert [p.name for p in pytester.path.glob(".coverage*")] == [".coverage"]

    # The same session without --cov: every figure and site of every phase, identical.
    plain = pytester.runpytest_subprocess(*ARGS, "--harness-json", "plain.json")
    plain.assert_outcomes(passed=3)
    with_cov, without_cov = _figures(pytester.path / "cov.json"), _figures(pytester.path / "plain.json")
    assert sorted(with_cov) == sorted(without_cov)
    assert len(with_cov) == 6  # three tests, two replicates, one phase each
    assert with_cov[("test_store.py::test_fill", 0, "test")][0]["alloc_count"] >= 100  # its 100 lists, at least
    assert with_cov == without_cov


UNTRACEABLE = """
import os


def test_dies_when_traced():
    import coverage

    if coverage.Coverage.current() is not None:
        os._exit(3)  # a test that cannot run under coverage
"""


def test_a_measured_test_that_no_copy_could_run_under_coverage_is_named_in_one_line(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_untraceable=UNTRACEABLE)
    result = pytester.runpytest_subprocess(*ARGS, "--cov", "--cov-report=")
    result.assert_outcomes(passed=1)  # measured, untraced, it passed
    notices = [line for line in result.outlines if line.startswith("harness: coverage leaves out")]
    assert notices == [
        "harness: coverage leaves out 1 measured test that no copy could run under coverage:"
        " test_untraceable.py::test_dies_when_traced: the covering process exited with code 3 (seed 1): no output"
    ], result.stdout.str()


def test_under_xdist_the_workers_covering_copies_are_combined_too(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    _project(pytester)
    result = pytester.runpytest_subprocess(*ARGS, "-n", "2", "--cov=pkg", "--cov-report=term-missing")
    result.assert_outcomes(passed=3)
    assert _missed_lines_reported(result) == f"{_line_of(STORE, 'traced by nobody')}, {_line_of(STORE, 'never called')}"


UNRULY_WHEN_TRACED = """
import os
import time
from pathlib import Path

import coverage

from pkg.store import drain, fill


def traced():
    return coverage.Coverage.current() is not None


def test_fill():
    assert len(fill(100)) == 100


def test_hangs_when_traced():
    if traced():
        Path("hanging").touch()
        time.sleep(600)


def test_dies_when_traced():
    if traced():
        os._exit(3)


def test_drain():
    assert drain([1, 2]) == []
"""


def test_a_covering_process_that_dies_or_hangs_loses_that_tests_lines_only(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(test_store=UNRULY_WHEN_TRACED)
    pytester.makefile(".toml", pyproject="[tool.harness]\ntimeout_s = 5\n")
    result = pytester.runpytest_subprocess(*ARGS, "--cov=pkg", "--cov-report=term-missing")
    result.assert_outcomes(passed=4)  # measured, untraced, they passed
    # What test_fill ran before the covering process hung is saved; test_drain, after the
    # hang and the death, is covered by the processes started again. No test takes the fixture.
    missed = [_line_of(STORE, text) for text in ("return [[0] * 8", "traced by nobody", "never called")]
    assert _missed_lines_reported(result) == ", ".join(map(str, missed))
    notices = [line for line in result.outlines if line.startswith("harness: coverage leaves out")]
    assert notices == [
        "harness: coverage leaves out 2 measured tests that no copy could run under coverage:"
        " test_store.py::test_hangs_when_traced: the covering process timed out after 5 s (seed 1) (and 1 more)"
    ], result.stdout.str()
    assert [p.name for p in pytester.path.glob(".coverage*")] == [".coverage"]


def _covering_processes(root: Path) -> list[int]:
    """The zygotes of ``root``'s session, and their copies, still alive on this machine."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            ours = entry.name.isdigit() and b"--harness-zygote=" in entry.joinpath("cmdline").read_bytes()
            if ours and entry.joinpath("cwd").resolve() == root.resolve():
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_ctrl_c_while_a_test_is_covered_leaves_no_process_and_no_data_file(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(test_store=UNRULY_WHEN_TRACED)
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", *ARGS, "--cov=pkg", "test_store.py"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    # The covering process hangs in its second test, with the first one's lines in its data file.
    while not (pytester.path / "hanging").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(pytester.path.glob(".coverage.*")), "the covering process wrote no data file"
    session.send_signal(signal.SIGINT)
    out, _ = session.communicate(timeout=60)
    assert session.returncode == 2, out  # pytest's exit code for an interrupted session
    deadline = time.monotonic() + 10
    while _covering_processes(pytester.path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _covering_processes(pytester.path) == []
    assert list(pytester.path.glob(".coverage*")) == []
