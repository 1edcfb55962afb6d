"""Every kind of test under the ``harness`` pytest plugin, on real pytest sessions (``pytester``):
the switch that measures every test, unittest methods, async tests, doctests, the kinds it
cannot measure, the user's options in the measuring process (coverage: test_pytest_coverage.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.declare.units import parse_quantity

pytest_plugins = ["pytester"]

ONCE = ("-p", "no:cacheprovider", "--harness-replicates", "1")


def _figure(out: str, nodeid: str, metric: str) -> float:
    """The figure a limit message reports for ``nodeid``: ``test.METRIC = FIGURE > limit ...``."""
    block = out[out.index(f"harness limit exceeded in {nodeid}") :]
    found = re.search(rf"test\.{metric} = (.+?) > limit", block)
    assert found is not None, out
    shown = found.group(1)
    counts = {"k": 1e3, "M": 1e6}
    if shown[-1] in counts:  # a count: 2.36k
        return float(shown[:-1]) * counts[shown[-1]]
    return parse_quantity(shown)


# -- the switch


PLAIN = """
def test_makes():
    made = [[i] for i in range(100)]
    assert len(made) == 100
"""


def test_every_test_is_measured_with_the_switch_or_the_setting_and_no_unmarked_one_without(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_plain=PLAIN)
    limited = "[tool.harness.pytest]\nlimits = {alloc_count = 10}\n"
    pytester.makefile(".toml", pyproject=limited)
    # Unmarked and no switch: run here, as pytest runs it, held to nothing.
    pytester.runpytest_subprocess(*ONCE).assert_outcomes(passed=1)
    # --harness: measured, and its 100 lists are over the project's limit.
    switched = pytester.runpytest_subprocess(*ONCE, "--harness")
    switched.assert_outcomes(failed=1)
    assert _figure(switched.stdout.str(), "test_plain.py::test_makes", "alloc_count") >= 100
    # measure = "all" in the project's settings does the same.
    pytester.makefile(".toml", pyproject=limited + 'measure = "all"\n')
    pytester.runpytest_subprocess(*ONCE).assert_outcomes(failed=1)


def test_an_unknown_measure_setting_is_one_clear_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain=PLAIN)
    pytester.makefile(".toml", pyproject='[tool.harness.pytest]\nmeasure = "every"\n')
    result = pytester.runpytest_subprocess(*ONCE, "--harness")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*[[]tool.harness.pytest[]] measure must be one of 'marked', 'all', not 'every'*"])


# -- unittest.TestCase

CASES = """
import unittest

import pytest


class TestStore(unittest.TestCase):
    def setUp(self):
        with open("runs.txt", "a") as runs:
            runs.write(self.id() + "\\n")
        self.rows = [[0] * 10 for _ in range(50)]

    def tearDown(self):
        self.rows = None

    @pytest.mark.harness_limits(alloc_count=0)
    def test_over_its_limit(self):
        self.made = [list(range(10)) for _ in range(100)]

    def test_grows(self):
        self.made = [[0] * {width} for _ in range(200)]

    def test_fails(self):
        self.assertEqual(len(self.rows), 49)

    @unittest.skip("not today")
    def test_skipped(self):
        raise AssertionError("never runs")


class TestLoop(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.block = bytearray(5_000_000)

    @pytest.mark.harness_limits(alloc_bytes="1 MiB")
    async def test_awaits(self):
        self.made = [list(range(10)) for _ in range(100)]


class TestExpected(unittest.TestCase):
    @unittest.expectedFailure
    def test_expected(self):
        self.assertEqual(1, 2)


class TestBrokenSetUp(unittest.TestCase):
    def setUp(self):
        raise RuntimeError("broken setUp")

    @unittest.expectedFailure
    def test_expected_but_its_setup_breaks(self):
        pass
"""


def test_a_unittest_suite_runs_once_measured_with_setup_and_judged(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_store=CASES.replace("{width}", "1"))
    # Without the plugin: what unittest makes of each test, which the plugin must not change.
    bare = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:harness")
    bare.assert_outcomes(passed=3, failed=2, skipped=1, xfailed=1)
    pytester.path.joinpath("runs.txt").unlink()
    result = pytester.runpytest_subprocess(*ONCE, "--harness")
    # The same, but the two tests over their limits fail.
    result.assert_outcomes(passed=1, failed=4, skipped=1, xfailed=1)
    out = result.stdout.str()
    # Each test ran once, in its measuring copy: setUp wrote one line per test, none for the skipped one.
    runs = pytester.path.joinpath("runs.txt").read_text().split()
    assert sorted(runs) == sorted(f"test_store.TestStore.test_{t}" for t in ("fails", "grows", "over_its_limit"))
    # The limit judges the figures of setUp, the test and tearDown: setUp's 50 lists and the test's 100.
    assert _figure(out, "test_store.py::TestStore::test_over_its_limit", "alloc_count") >= 150
    lines = pytester.path.joinpath("test_store.py").read_text().splitlines()
    set_up_line = next(n for n, line in enumerate(lines, 1) if "self.rows = [[0]" in line)
    assert f"<listcomp> (test_store.py:{set_up_line})" in out, out  # setUp's lists, in the window
    # An IsolatedAsyncioTestCase's asyncSetUp (5 MB), run by its event loop, in the window too.
    assert _figure(out, "test_store.py::TestLoop::test_awaits", "alloc_bytes") >= 5_000_000
    # unittest's own failures are the tests' failures; a setUp that breaks is no expected failure.
    assert "AssertionError: 50 != 49" in out
    assert "RuntimeError: broken setUp" in out
    assert "test_store.py::TestStore::test_grows" in out[out.index("harness: measured tests") :]


def test_a_unittest_baseline_is_saved_and_gates_a_regression(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_store=CASES.replace("{width}", "1"))
    args = ("-p", "no:cacheprovider", "--harness", "--harness-replicates", "2", "-k", "grows")
    saved = pytester.runpytest_subprocess(*args, "--harness-save", "main")
    saved.assert_outcomes(passed=1)
    assert "harness: baseline 'main' saved to" in saved.stdout.str()
    pytester.runpytest_subprocess(*args, "--harness-baseline", "main").assert_outcomes(passed=1)
    pytester.makepyfile(test_store=CASES.replace("{width}", "50"))
    grown = pytester.runpytest_subprocess(*args, "--harness-baseline", "main")
    grown.assert_outcomes(failed=1)
    assert "harness regression in test_store.py::TestStore::test_grows against baseline 'main'" in grown.stdout.str()


# -- async tests

ASYNC = """
import pytest

pytestmark = pytest.mark.harness_limits(alloc_bytes="100 KiB")


@pytest.mark.asyncio
async def test_under_asyncio():
    made = [list(range(1000)) for _ in range(100)]
    assert len(made) == 100


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_under_anyio():
    made = [list(range(1000)) for _ in range(100)]
    assert len(made) == 100
"""


def test_an_async_test_s_body_is_in_its_window_under_pytest_asyncio_and_anyio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_async=ASYNC)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess(*ONCE)
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    # 100 lists of 1000 ints: at least 100 x (1000 pointers) plus the ints above 256, made in the body.
    for test in ("test_under_asyncio", "test_under_anyio"):
        alloc = _figure(out, f"test_async.py::{test}", "alloc_bytes")
        assert 100 * 1000 * 8 <= alloc < 4 * 1024**2, (test, alloc)


# -- doctests, and what is not measured

MODULE = '''
def doubled(items):
    """
    >>> len(doubled([[1]] * 500))
    1000
    """
    return [list(item) for item in items * 2]
'''

NO_RUNNER = """
async def test_awaits():
    pass


def test_opens_no_phase(harness_trial):
    pass
"""

CONFTEST_ITEMS = """
import pytest


class CheckItem(pytest.Item):
    def runtest(self):
        assert self.path.read_text().startswith("ok")


class CheckFile(pytest.File):
    def collect(self):
        yield CheckItem.from_parent(self, name="check")


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".check":
        return CheckFile.from_parent(parent, path=file_path)
"""


def test_a_doctest_is_measured_and_a_kind_that_cannot_be_is_listed_with_its_reason(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(shapes=MODULE, test_no_runner=NO_RUNNER, conftest=CONFTEST_ITEMS)
    pytester.path.joinpath("data.check").write_text("ok\n")
    pytester.makefile(".toml", pyproject="[tool.harness.pytest]\nlimits = {alloc_count = 500}\n")
    result = pytester.runpytest_subprocess(*ONCE, "--harness", "--doctest-modules")
    # The doctest is measured and held to the limit; the async test and the check run here, as
    # usual (pytest fails an async test that no plugin runs).
    result.assert_outcomes(passed=2, failed=2)
    out = result.stdout.str()
    assert _figure(out, "shapes.py::shapes.doubled", "alloc_count") >= 1000
    listed = out[out.index("harness: tests not measured") :]
    assert "1 not measured, an async test run by neither pytest-asyncio nor anyio: test_no_runner.py::test_awaits" in (
        listed
    )
    assert "1 not measured, a CheckItem item: only test functions, unittest methods and doctests are measured:" in (
        listed
    )
    # A test measured in its copy whose window never opened is said to be so, not shown empty.
    assert "1 not measured, no phase was measured: its window never opened: test_no_runner.py::test_opens_no_phase" in (
        listed
    )


# -- the user's options reach the measuring process

OPTIONS_CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--flavour", default="plain")
    parser.addini("answer", "an ini value", default="none")
"""

PLUGGED = """
import pytest


@pytest.fixture
def plugged():
    return "from the plugin"
"""

OPTIONS = """
import warnings

import pytest


def test_conftest_option(request):
    assert request.config.getoption("--flavour") == "salty"


def test_ini_override(request):
    assert request.config.getini("answer") == "42"


def test_warnings_are_errors():
    with pytest.raises(UserWarning):
        warnings.warn("loud", UserWarning)


def test_plugin_fixture(plugged):
    assert plugged == "from the plugin"
"""


def test_conftest_options_ini_overrides_warning_filters_and_plugins_reach_the_measuring_process(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(OPTIONS_CONFTEST)
    pytester.makepyfile(plugged=PLUGGED, test_options=OPTIONS)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")  # a warning, an error under -W error
    args = ("--flavour", "salty", "-o", "answer=42", "-W", "error", "-p", "plugged")
    # The same session without the plugin, then measured: the same four passes.
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:harness", *args).assert_outcomes(passed=4)
    result = pytester.runpytest_subprocess(*ONCE, "--harness", *args, "test_options.py")
    result.assert_outcomes(passed=4)
    table = result.stdout.str()[result.stdout.str().index("harness: measured tests") :]
    assert all(f"test_options.py::{t}" in table for t in ("test_conftest_option", "test_plugin_fixture"))


# -- zygotes kept across files

INTERLEAVING_CONFTEST = """
import os

import pytest

# Imported once by each pytest process: the session, and each zygote (its copies are forked after).
with open("starts.txt", "a") as starts:
    starts.write(f"{os.getpid()}\\n")


@pytest.fixture(scope="session", params=["first", "second", "third"])
def flavour(request):
    return request.param
"""

INTERLEAVED = """
import os
import sys

# Imported once by each zygote, as it collects its file.
if any(arg.startswith("--harness-zygote") for arg in sys.argv):
    with open("zygotes.txt", "a") as zygotes:
        zygotes.write(f"{os.getpid()}\\n")


def test_uses(flavour):
    assert flavour
"""


def test_a_session_scoped_parametrized_fixture_interleaving_files_makes_one_zygote_per_file(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(INTERLEAVING_CONFTEST)
    pytester.makepyfile(**{f"test_file_{n}": INTERLEAVED for n in range(4)})
    result = pytester.runpytest_subprocess(*ONCE, "--harness", "-v")
    result.assert_outcomes(passed=12)
    # pytest runs the files in turn for each value of the fixture: 0 1 2 3 0 1 2 3 0 1 2 3.
    order = re.findall(r"test_file_(\d)\.py::test_uses\[\w+\] PASSED", result.stdout.str())
    assert order == [str(n) for n in range(4)] * 3, order
    zygotes = pytester.path.joinpath("zygotes.txt").read_text().split()
    assert len(set(zygotes)) == len(zygotes) == 4  # one zygote per file, not one per change of file
    processes = pytester.path.joinpath("starts.txt").read_text().split()
    # Two pytest starts: this session, and the mother of the directory's zygotes.
    assert len(processes) == 1 + 1


def test_the_options_forwarded_are_the_command_line_s_less_its_paths_and_what_a_zygote_must_not_do(
    pytester: pytest.Pytester,
) -> None:
    from harness.pytest_plugin.forward import forwarded_options

    pytester.makepyfile(test_a="def test_one():\n    pass\n")
    args = [
        *("-vx", "-k", "one", "test_a.py::test_one", "-o", "console_output_style=classic", "-m", "not slow"),
        *("--lf", "-Werror", "-p", "no:randomly", "--pdb", "--tb=short", "--maxfail", "2", "."),
        *("-p", "xdist", "-n", "2", "--dist=loadfile", "--harness-save", "main", "--harness-json=s.json"),
        *("--junitxml", "report.xml", "--deselect", "test_a.py::test_two"),
        *("--cov", "--cov-report=", "--", "test_a.py"),
    ]
    config = pytester.parseconfig(*args)
    # Not what selects tests, spreads them, or is harness's own: a zygote's command line is
    # the same in every session of its file.
    assert forwarded_options(config) == [
        *("-vx", "-o", "console_output_style=classic", "-Werror", "-p", "no:randomly"),
        *("--tb=short", "--maxfail", "2", "--cov", "--cov-report="),
    ]


FIRST_FILE = """
import os
import sys
from pathlib import Path

import pytest

if any(arg.startswith("--harness-zygote") for arg in sys.argv):  # collected by a zygote
    Path(__file__).with_name(f"zygote-{os.getpid()}").touch()


def test_measured():
    pass


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass
"""

SECOND_FILE = """
from pathlib import Path


def test_the_first_file_s_zygotes_have_ended():
    zygotes = [p.name.removeprefix("zygote-") for p in Path(__file__).parent.glob("zygote-*")]
    assert zygotes  # each wrote its pid as it collected the first file
    alive = [pid for pid in zygotes if Path("/proc", pid).exists()]
    assert alive == []
"""


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads the processes in /proc")
def test_a_file_s_zygotes_end_with_its_last_test_even_a_skipped_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_first=FIRST_FILE, test_second=SECOND_FILE)
    result = pytester.runpytest_subprocess(*ONCE, "--harness", "-p", "no:randomly")
    result.assert_outcomes(passed=2, skipped=1)


LOGGING = """
import logging

import pytest


def test_unmeasured_logs():
    logging.getLogger("suite").warning("written by the session")


@pytest.mark.harness
def test_measured():
    pass
"""


def test_the_session_s_log_file_and_output_capture_stay_the_session_s(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_logging=LOGGING)
    pytester.makefile(".toml", pyproject='[tool.pytest.ini_options]\nlog_file = "ini.log"\n')
    # The measured test's zygote starts after the first test logged: it must not truncate either log.
    result = pytester.runpytest_subprocess(*ONCE, "--log-file=given.log", "-s", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert "written by the session" in pytester.path.joinpath("given.log").read_text()
    pytester.path.joinpath("given.log").unlink()
    pytester.runpytest_subprocess(*ONCE, "-p", "no:randomly").assert_outcomes(passed=2)
    assert "written by the session" in pytester.path.joinpath("ini.log").read_text()
