"""The ``harness`` pytest plugin, driven through pytest itself (``pytester``) as a project would."""

from __future__ import annotations

import importlib.util
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.store.pytest_baseline import read_baseline

pytest_plugins = ["pytester"]

LEAN = ("-p", "no:cacheprovider")
ONCE = (*LEAN, "--harness-replicates", "1")

# Exactly K allocations per operation: a loop with no calls but K object creations (a call
# would add the interpreter's own transient frame objects to the count).
MAKES = """
import itertools
import pytest

class Sized:
    __slots__ = ("link",)

def make(trial):
    with trial.phase("make"):
        for _ in itertools.repeat(None, 10_000):
            a = Sized(); b = Sized(); c = Sized()
        trial.ops(10_000)

@pytest.mark.harness_limits(alloc_count_per_op=3.5)
def test_within(harness_trial):
    make(harness_trial)

@pytest.mark.harness_limits({"make.alloc_count_per_op": 2})
def test_over(harness_trial):
    make(harness_trial)

def test_untouched():
    assert 1 + 1 == 2
"""


def test_limits_pass_and_fail_with_the_figure_the_limit_and_the_sites(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_allocs=MAKES)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "harness limit exceeded in test_allocs.py::test_over" in out
    # The figure (3 objects per op, plus the loop's few fixed allocations) and the limit.
    figure = re.search(r"make\.alloc_count_per_op = (\S+) > limit 2\b", out)
    assert figure is not None, out
    assert 3.0 <= float(figure.group(1)) < 3.01
    # The top call site is the line making the three objects: 30k allocations.
    site = re.search(r"top call sites of phase make by alloc_count:\n\s+(\S+)\s+make \(test_allocs\.py:(\d+)\)", out)
    assert site is not None, out
    assert site.group(1) == "30k"
    assert (
        pytester.path.joinpath("test_allocs.py")
        .read_text()
        .splitlines()[int(site.group(2)) - 1]
        .strip()
        .startswith("a = Sized()")
    )


GROWS = """
import pytest

@pytest.mark.harness(goal="make.alloc_bytes_per_op")
def test_build(harness_trial):
    keys = list(range(2000))
    with harness_trial.phase("make"):
        table = {{k: [k] * {width} for k in keys}}
        harness_trial.ops(len(keys))
"""


def test_baseline_passes_on_the_same_code_and_fails_on_a_regression(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_grow=GROWS.format(width=1))
    args = ("-p", "no:cacheprovider", "--harness-replicates", "2")
    saved = pytester.runpytest_subprocess(*args, "--harness-save", "main")
    saved.assert_outcomes(passed=1)
    path = pytester.path.joinpath("baselines", "pytest", "main.json")
    assert json.loads(path.read_text())["schema"] == "harness.pytest-baseline/1"
    baseline = read_baseline(path)
    assert [e.id for e in baseline.experiments] == ["test_grow.py::test_build"]
    assert len(baseline.trials) == 2 and all(t.ok for t in baseline.trials)

    same = pytester.runpytest_subprocess(*args, "--harness-baseline", "main")
    same.assert_outcomes(passed=1)

    # Lists of 8 items instead of 1: more bytes per op on every seed.
    pytester.makepyfile(test_grow=GROWS.format(width=8))
    grown = pytester.runpytest_subprocess(*args, "--harness-baseline", "main")
    grown.assert_outcomes(failed=1)
    out = grown.stdout.str()
    assert "harness regression in test_grow.py::test_build against baseline 'main'" in out
    delta = re.search(r"make\.alloc_bytes_per_op: \S+ \S+ -> \S+ \S+ \(\+(\d+\.\d)%", out)
    assert delta is not None, out
    assert float(delta.group(1)) > 20  # 8-item lists (120 B) instead of 1-item ones (64 B)
    # The site that moved, by function, file and line: the dict comprehension's.
    site = re.search(
        r"call sites that moved most \(bytes per replicate\):\n\s+\+\S+ \S+\s+\S+ \(test_grow\.py:(\d+)\)", out
    )
    assert site is not None, out
    assert "table = {" in pytester.path.joinpath("test_grow.py").read_text().splitlines()[int(site.group(1)) - 1]
    # The summary table shows the change against the baseline, with its interval.
    table = out[out.index("harness: measured tests") :]
    assert "change vs 'main'" in table
    assert re.search(r"test_grow\.py::test_build\s+make\s+2 .* alloc_bytes_per_op \+\d+\.\d% \[\+", table), table


def test_a_missing_baseline_is_one_clear_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_grow=GROWS.format(width=1))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--harness-baseline", "nope", "--harness-replicates", "1"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no pytest baseline 'nope'*make one with --harness-save nope*"])


# A project as projects are laid out: a package under src/ (importable through the ini's
# pythonpath), fixtures in conftest.py, tests in a package of their own with a helper module.
PYPROJECT = """
[tool.pytest.ini_options]
pythonpath = ["src"]
{harness}
"""

CELLS = """
class Cell:
    __slots__ = ("value",)


class Pair:
    __slots__ = ("left", "right")
"""

CONFTEST = """
import pytest

from cells import Cell


@pytest.fixture(scope="session")
def registry():
    return {"made": 0}


@pytest.fixture
def keys():
    return list(range(1000))


@pytest.fixture
def small():
    return [Cell() for _ in range(10)]


@pytest.fixture
def big():
    return [Cell() for _ in range(50_000)]
"""

# Loops with no calls, so that each makes exactly one object per key (a call would add the
# frame object memray's profile hook makes CPython create).
HELPERS = """
import itertools

from cells import Cell


def make_cells(trial, n):
    with trial.phase("make"):
        for _ in itertools.repeat(None, n):
            cell = Cell()
        trial.ops(n)
"""


def _project(pytester: pytest.Pytester, tests: dict[str, str], harness: str = "") -> None:
    pytester.makefile(".toml", pyproject=PYPROJECT.format(harness=harness))
    pytester.mkdir("src")
    pytester.mkpydir("src/cells").joinpath("__init__.py").write_text(CELLS)
    package = pytester.mkpydir("tests")
    package.joinpath("conftest.py").write_text(CONFTEST)
    package.joinpath("helpers.py").write_text(HELPERS)
    for name, text in tests.items():
        package.joinpath(f"{name}.py").write_text(text)


def _saved(pytester: pytest.Pytester, name: str) -> dict[str, dict[str, Any]]:
    """The phases of each test in the baseline ``name``, by node id: {nodeid: {phase: metrics}}."""
    baseline = read_baseline(pytester.path.joinpath("baselines", "pytest", f"{name}.json"))
    out: dict[str, dict[str, Any]] = {}
    for trial in baseline.trials:
        out[trial.experiment] = {p.name: dict(p.metrics) for p in trial.phases}
    return out


EXACT = ("alloc_bytes", "alloc_count", "kept_bytes", "kept_count", "ops")


def _exact(saved: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """The figures memray measures itself, which repeat exactly: {nodeid: {phase: figures}}."""
    return {test: {p: {k: m[k] for k in EXACT} for p, m in phases.items()} for test, phases in saved.items()}


def _assert_nets_close(one: dict[str, dict[str, Any]], other: dict[str, dict[str, Any]]) -> None:
    """net and peak come from tracemalloc, which under memray also sees a few objects of memray's
    own bookkeeping, more or fewer from run to run."""
    assert one.keys() == other.keys()
    for test in one:
        for phase, figures in one[test].items():
            assert abs(figures["net_count"] - other[test][phase]["net_count"]) <= 4, (test, phase)
            assert abs(figures["peak_bytes"] - other[test][phase]["peak_bytes"]) <= 2048, (test, phase)


FEATURES = """
import pytest

from cells import Cell, Pair

from .helpers import make_cells


@pytest.mark.harness_limits(alloc_count_per_op=1.01)
def test_with_fixtures(harness_trial, keys, registry):
    registry["made"] += len(keys)
    make_cells(harness_trial, len(keys))


@pytest.mark.harness_limits({"make.alloc_count_per_op": 0.5})
def test_over_its_limit(harness_trial, keys):
    make_cells(harness_trial, len(keys))


class TestInAClass:
    def test_method(self, harness_trial, keys):
        make_cells(harness_trial, 2 * len(keys))


@pytest.mark.harness(ops=100)
@pytest.mark.parametrize("kind", [Cell, Pair], ids=["cell", "pair"])
def test_parametrized(kind, registry):
    made = [kind() for _ in range(100)]


@pytest.mark.harness
def test_assertion(keys):
    print("printed in the child")
    assert len(keys) == 3


@pytest.fixture
def database():
    raise RuntimeError("no database here")


@pytest.mark.harness
def test_broken_fixture(database):
    pass


@pytest.mark.harness
def test_skipped(keys):
    pytest.skip("not on this platform")


@pytest.mark.harness
@pytest.mark.xfail(reason="known to fail")
def test_xfailed(keys):
    assert not keys
"""


def test_a_project_s_fixtures_classes_parameters_and_relative_imports_are_measured(pytester: pytest.Pytester) -> None:
    _project(pytester, {"test_features": FEATURES})
    result = pytester.runpytest_subprocess(*ONCE, "-rsx", "--harness-save", "run")
    result.assert_outcomes(passed=4, failed=2, errors=1, skipped=1, xfailed=1)
    # A skip and an xfail in the child are this session's, with their reasons and places.
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1[]] tests/test_features.py:*: not on this platform", "XFAIL *test_xfailed - known to fail"]
    )
    out = result.stdout.str()
    saved = _saved(pytester, "run")
    # A function-scoped and a session-scoped fixture from conftest: 1000 cells, one per op
    # (and the loop's few own objects).
    fixtures = saved["tests/test_features.py::test_with_fixtures"]["make"]
    assert fixtures["ops"] == 1000 and 1000 <= fixtures["alloc_count"] < 1010, fixtures
    # Over its limit: the figure, the limit and the line that made the objects.
    assert "harness limit exceeded in tests/test_features.py::test_over_its_limit" in out
    assert re.search(r"make\.alloc_count_per_op = 1\.00\d > limit 0\.5 \(replicate 0, seed 1\)", out), out
    site = re.search(
        r"top call sites of phase make by alloc_count:\n\s+(\S+)\s+make_cells \(tests/helpers\.py:(\d+)\)", out
    )
    assert site is not None, out
    assert site.group(1) == "1k" and HELPERS.splitlines()[int(site.group(2)) - 1].strip() == "cell = Cell()"
    # A method of a test class, through a relative import.
    method = saved["tests/test_features.py::TestInAClass::test_method"]["make"]
    assert 2000 <= method["alloc_count"] < 2010, method
    # Parametrized with classes (not data), each measured whole under its id.
    cell = saved["tests/test_features.py::test_parametrized[cell]"]["test"]
    pair = saved["tests/test_features.py::test_parametrized[pair]"]["test"]
    assert cell["ops"] == pair["ops"] == 100
    assert cell["alloc_count"] == pair["alloc_count"]
    assert pair["alloc_bytes"] - cell["alloc_bytes"] == 100 * 8  # one more slot per object
    # A failing assertion reads as pytest's own, rewritten, in the test's own file.
    assert "assert 1000 == 3" in out and "where 1000 = len([0, 1, 2, 3, 4, 5, ...])" in out
    result.stdout.fnmatch_lines(
        ["tests/test_features.py:*: AssertionError", "*- Captured stdout call -*", "printed in the child"]
    )
    # An error in a fixture is an error at setup, with the child's traceback.
    result.stdout.fnmatch_lines(["*ERROR at setup of test_broken_fixture*", "E * RuntimeError: no database here"])
    # The summary table lists every measured test that passed in its child.
    table = out[out.index("harness: measured tests") :]
    for nodeid in ("test_with_fixtures", "TestInAClass::test_method", "test_parametrized[pair]"):
        assert f"tests/test_features.py::{nodeid}" in table


REPEATED = """
import pytest

from cells import Pair

from .helpers import make_cells


class TestCells:
    def test_make(self, harness_trial, keys):
        make_cells(harness_trial, len(keys))


@pytest.mark.harness(ops=100)
@pytest.mark.parametrize("kind", [Pair], ids=["pair"])
def test_build(kind, keys):
    made = {key: kind() for key in keys[:100]}
"""

HAS_XDIST = importlib.util.find_spec("xdist") is not None


def test_figures_repeat_exactly_across_sessions_and_under_xdist(pytester: pytest.Pytester) -> None:
    _project(pytester, {"test_repeated": REPEATED})
    args = ONCE
    pytester.runpytest_subprocess(*args, "--harness-save", "first").assert_outcomes(passed=2)
    pytester.runpytest_subprocess(*args, "--harness-save", "second").assert_outcomes(passed=2)
    first, second = _saved(pytester, "first"), _saved(pytester, "second")
    assert len(first) == 2
    assert _exact(first) == _exact(second)
    _assert_nets_close(first, second)
    if not HAS_XDIST:
        pytest.skip("pytest-xdist is not installed")
    distributed = pytester.runpytest_subprocess(*args, "-p", "xdist", "-n", "2", "--harness-save", "distributed")
    distributed.assert_outcomes(passed=2)
    # The workers' tests reach the controller: its table lists them, and it alone saves them.
    assert "tests/test_repeated.py::TestCells::test_make" in distributed.stdout.str()
    spread = _saved(pytester, "distributed")
    assert _exact(spread) == _exact(first)
    _assert_nets_close(spread, first)


SETUP_HEAVY = """
from .helpers import make_cells


def test_after_a_big_fixture(harness_trial, big):
    make_cells(harness_trial, 1000)


def test_after_a_small_fixture(harness_trial, small):
    make_cells(harness_trial, 1000)
"""


def test_fixture_setup_is_never_in_a_phase(pytester: pytest.Pytester) -> None:
    _project(pytester, {"test_setup_heavy": SETUP_HEAVY})
    pytester.runpytest_subprocess(*ONCE, "--harness-save", "run").assert_outcomes(passed=2)
    saved = _saved(pytester, "run")
    after_big = saved["tests/test_setup_heavy.py::test_after_a_big_fixture"]
    after_small = saved["tests/test_setup_heavy.py::test_after_a_small_fixture"]
    # 50k cells made by a fixture change nothing in the phase: its own 1000 cells, exactly.
    exact = _exact({"big": after_big, "small": after_small})
    assert exact["big"] == exact["small"]
    assert 1000 <= after_big["make"]["alloc_count"] < 1010
    _assert_nets_close({"test": after_big}, {"test": after_small})
    assert abs(after_big["make"]["net_bytes"]) < 2048  # not the fixture's 50k cells (2.3 MiB)


DEFAULT_LIMITED = """
import pytest

from .helpers import make_cells


def test_default_limit(harness_trial, keys):
    make_cells(harness_trial, len(keys))


@pytest.mark.harness_limits(alloc_count_per_op=1.5)
def test_own_limit(harness_trial, keys):
    make_cells(harness_trial, len(keys))


def test_not_measured(keys):
    assert keys
"""


def test_the_pyproject_default_limit_applies_to_every_measured_test_and_a_marker_overrides_it(
    pytester: pytest.Pytester,
) -> None:
    _project(
        pytester,
        {"test_default_limited": DEFAULT_LIMITED},
        harness='[tool.harness.pytest]\nlimits = {alloc_count_per_op = 0.5, net_bytes = "1 MiB"}',
    )
    result = pytester.runpytest_subprocess(*LEAN)
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "harness limit exceeded in tests/test_default_limited.py::test_default_limit" in out
    assert re.search(r"make\.alloc_count_per_op = 1\.00\d > limit 0\.5", out), out
    assert "test_own_limit" not in out.split("short test summary")[1]


def test_an_unknown_pytest_setting_is_one_clear_failure(pytester: pytest.Pytester) -> None:
    _project(pytester, {"test_default_limited": DEFAULT_LIMITED}, harness="[tool.harness.pytest]\nlimit = 3")
    result = pytester.runpytest_subprocess(*LEAN)
    result.assert_outcomes(errors=2, passed=1)  # the test that is not measured runs as usual
    result.stdout.fnmatch_lines(["*unknown setting [[]tool.harness.pytest[]].limit; known: limits*"])


UNRULY = """
import os
import time
import pytest

@pytest.mark.harness
def test_greedy(harness_trial):
    held = []
    with harness_trial.phase("grow"):
        while True:
            held.append(bytearray(16 * 1024 * 1024))

@pytest.mark.harness
def test_hangs(harness_trial):
    with harness_trial.phase("wait"):
        time.sleep(600)

@pytest.mark.harness
def test_leaves():
    os._exit(3)

@pytest.mark.harness
def test_fine(harness_trial):
    with harness_trial.phase("make"):
        made = [str(i) for i in range(100)]
        harness_trial.ops(len(made))
"""


def test_a_greedy_test_fails_on_the_memory_limit_and_a_hanging_one_on_its_timeout_alone(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, {"test_unruly": UNRULY}, harness='[tool.harness]\nmemory_limit = "384 MiB"\ntimeout_s = 20')
    result = pytester.runpytest_subprocess(*ONCE)
    # The greedy test fails on the limit (the MemoryError it raised in its copy); the hanging
    # one is stopped by its zygote, before its call is reported.
    result.assert_outcomes(passed=1, failed=1, errors=2)
    out = result.stdout.str()
    assert "harness: the measuring process exited with code 3 (seed 1):\nno output" in out, out
    # Each in one line: the limit, or the timeout.
    failures = out.split("= FAILURES =")[1]
    assert "_ test_greedy _" in failures, out
    assert "\nharness: memory limit 384 MiB exceeded (seed 1)\n" in failures, out
    assert "harness: the measuring process timed out after 20 s (seed 1)" in out, out
    assert "tests/test_unruly.py::test_fine" in out.split("harness: measured tests")[1]


ORDERED = """
import re

import pytest

PATTERN = r"(?P<key>[a-z]+)=(?P<value>[0-9]+)"


@pytest.mark.harness
def test_warms_the_cache():
    re.compile(PATTERN)


@pytest.mark.harness
def test_compiles():
    made = [re.compile(PATTERN).match(f"k{i}=1") for i in range(50)]


@pytest.mark.harness
def test_empty():
    pass


@pytest.mark.harness
def test_plain(keys):
    made = [str(key) for key in keys]


@pytest.mark.limit_memory("1 MB")
@pytest.mark.harness
def test_memray_marker(keys):
    made = [str(key) for key in keys]


@pytest.mark.no_such_marker
@pytest.mark.harness
def test_unknown_marker(keys):
    made = [str(key) for key in keys]
"""
#: Every heap figure of the native backend, which repeat exactly.
HEAP = ("alloc_bytes", "alloc_count", "kept_bytes", "kept_count", "net_bytes", "net_count", "peak_bytes")
NATIVE = (*ONCE, "--harness-backend", "native")


def _heap(saved: dict[str, dict[str, Any]], test: str) -> dict[str, int]:
    return {k: saved[f"tests/test_ordered.py::{test}"]["test"][k] for k in HEAP}


def _assert_same_heap(got: dict[str, int], expected: dict[str, int], test: str) -> None:
    """Every heap figure, exactly."""
    assert got == expected, (test, got, expected)


def test_a_test_reads_the_same_alone_in_its_file_after_a_cache_warming_test_and_under_xdist(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, {"test_ordered": ORDERED})
    whole = pytester.runpytest_subprocess(*NATIVE, "--harness-save", "file")
    whole.assert_outcomes(passed=6)
    alone = pytester.runpytest_subprocess(*NATIVE, "tests/test_ordered.py::test_compiles", "--harness-save", "alone")
    alone.assert_outcomes(passed=1)
    backwards = pytester.runpytest_subprocess(*NATIVE, "-k", "compiles or warms", "--harness-save", "selected")
    backwards.assert_outcomes(passed=2)
    in_file, by_itself, selected = _saved(pytester, "file"), _saved(pytester, "alone"), _saved(pytester, "selected")
    compiles = _heap(in_file, "test_compiles")
    assert compiles["alloc_count"] >= 100  # 50 matches, and the compiled pattern's lookups
    # In its file, after a test that compiled the same pattern: what it reads alone.
    _assert_same_heap(_heap(by_itself, "test_compiles"), compiles, "alone")
    _assert_same_heap(_heap(selected, "test_compiles"), compiles, "selected")
    if HAS_XDIST:
        spread = pytester.runpytest_subprocess(*NATIVE, "-p", "xdist", "-n", "2", "--harness-save", "xdist")
        spread.assert_outcomes(passed=6)
        distributed = _saved(pytester, "xdist")
        for test in ("test_warms_the_cache", "test_compiles", "test_empty", "test_plain"):
            _assert_same_heap(_heap(distributed, test), _heap(in_file, test), test)


def test_an_empty_test_reads_nothing_and_a_marker_changes_nothing(pytester: pytest.Pytester) -> None:
    _project(pytester, {"test_ordered": ORDERED})
    result = pytester.runpytest_subprocess(*NATIVE, "--harness-save", "file")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*PytestUnknownMarkWarning: Unknown pytest.mark.no_such_marker*"])
    saved = _saved(pytester, "file")
    # The window holds the test's own body: an empty one allocates nothing there.
    assert _heap(saved, "test_empty") == dict.fromkeys(HEAP, 0)
    plain = _heap(saved, "test_plain")
    assert plain["alloc_count"] >= 1000
    # A marker pytest warns about, or one of a profiler the copies do not load (pytest-memray):
    # nothing of either is in the window.
    assert _heap(saved, "test_unknown_marker") == plain
    assert _heap(saved, "test_memray_marker") == plain


HANGS = """
import time
from pathlib import Path

import pytest


@pytest.mark.harness
def test_hangs():
    Path(__file__).with_name("hanging").touch()
    time.sleep(600)
"""


def _measuring_processes(root: Path) -> list[int]:
    """The processes of ``root``'s zygotes still alive on this machine: mothers, zygotes and
    copies (each has a mother's or a zygote's command line, and works in ``root``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = entry.joinpath("cmdline").read_bytes()
                here = entry.joinpath("cwd").resolve() == root.resolve()
            except OSError:
                continue
            if b"--harness-zygote=" in command and here:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_ctrl_c_stops_the_zygote_and_the_test_it_runs(pytester: pytest.Pytester) -> None:
    _project(pytester, {"test_interrupted": HANGS})
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", *ONCE, "tests/test_interrupted.py"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    hanging = pytester.path / "tests" / "hanging"
    while not hanging.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert hanging.exists()
    # The copy that runs the hanging test, its zygote, the copy forked ahead for the next
    # test, and the zygote's mother with the zygote it forked ahead for the next file.
    assert len(_measuring_processes(pytester.path)) >= 3
    session.send_signal(signal.SIGINT)
    out, _ = session.communicate(timeout=60)
    assert session.returncode == 2, out  # pytest's exit code for an interrupted session
    assert b"KeyboardInterrupt" in out
    deadline = time.monotonic() + 10
    while _measuring_processes(pytester.path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _measuring_processes(pytester.path) == []


FIRST_FILE = """
import time
from pathlib import Path

import pytest

COLLECTED = Path(__file__).parent / "second_collected"


@pytest.mark.harness
def test_starts():
    pass


@pytest.mark.harness
def test_finds_the_next_file_collected():
    # Runs in a copy of the first file's zygote, before the second file's turn.
    deadline = time.monotonic() + 60
    while not COLLECTED.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert COLLECTED.exists()
"""

SECOND_FILE = """
import sys
from pathlib import Path

import pytest

if any(arg.startswith("--harness-zygote") for arg in sys.argv):
    Path(__file__).parent.joinpath("second_collected").touch()


@pytest.mark.harness
def test_measured():
    pass
"""


def test_the_next_file_s_zygote_starts_while_the_file_before_it_is_measured(pytester: pytest.Pytester) -> None:
    _project(pytester, {"test_a_first": FIRST_FILE, "test_b_second": SECOND_FILE})
    result = pytester.runpytest_subprocess(*ONCE, "-p", "no:randomly")
    result.assert_outcomes(passed=3)


REPORTED_WHILE_NEXT_RUNS = """
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.harness
def test_first():
    pass


@pytest.mark.harness
def test_second():
    HERE.joinpath("second_started").touch()
"""

WAITS_FOR_THE_NEXT_COPY = """
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def pytest_runtest_logreport(report):
    # In the session (not its zygotes): while the first test is reported, the copy that
    # measures the second has started already.
    if report.when == "call" and report.nodeid.endswith("test_first") and "--harness-zygote" not in str(sys.argv):
        deadline = time.monotonic() + float(os.environ["WAIT_S"])
        while not HERE.joinpath("second_started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        HERE.joinpath("overlapped").write_text(str(HERE.joinpath("second_started").exists()))
"""


def test_the_next_test_s_copy_runs_while_the_test_before_it_is_reported(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(pytester, {"test_pipelined": REPORTED_WHILE_NEXT_RUNS})
    monkeypatch.setenv("WAIT_S", "60")
    pytester.path.joinpath("tests", "conftest.py").write_text(CONFTEST + WAITS_FOR_THE_NEXT_COPY)
    result = pytester.runpytest_subprocess(*ONCE, "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert pytester.path.joinpath("tests", "overlapped").read_text() == "True"
    # With -x a failure stops the session: no test is run ahead of its turn.
    pytester.path.joinpath("tests", "second_started").unlink()
    monkeypatch.setenv("WAIT_S", "2")  # long enough for a copy asked for ahead, which it never is
    result = pytester.runpytest_subprocess(*ONCE, "-p", "no:randomly", "-x")
    result.assert_outcomes(passed=2)
    assert pytester.path.joinpath("tests", "overlapped").read_text() == "False"
