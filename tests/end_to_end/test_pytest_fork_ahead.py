"""A zygote forks the copy for the next test while a test runs: the copy waits for its request,
so tests never overlap, each test's timeout counts from its own start, and each failed copy's
stderr is its own (the two stderr files alternate)."""

from __future__ import annotations

import sys

import pytest

from harness.measure.launcher import run_as_copy

pytest_plugins = ["pytester"]

LEAN = ("-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:memray", "--harness-replicates", "1")

PYPROJECT = """
[tool.pytest.ini_options]
markers = ["harness"]

[tool.harness]
timeout_s = {timeout}
"""

#: Each test writes when it starts and ends: the copy forked ahead must not start before the
#: test before it ends. Each takes 60% of the timeout: counted from the fork of a copy forked
#: while the test before it ran, the second and third would run past it.
SPANS = """
import time
from pathlib import Path

import pytest

LOG = Path(__file__).parent / "spans.log"


def _span(name, seconds):
    with LOG.open("a") as log:
        log.write(f"{name} start {time.monotonic()}\\n")
    time.sleep(seconds)
    with LOG.open("a") as log:
        log.write(f"{name} end {time.monotonic()}\\n")


@pytest.mark.harness
@pytest.mark.parametrize("name", ["first", "second", "third"])
def test_span(name):
    _span(name, 1.2)
"""

#: Two copies that crash one after the other: faulthandler writes each crash's stack to its
#: copy's stderr file (they alternate), and each error names its own test's frame.
CRASHES = """
import ctypes

import pytest


@pytest.mark.harness
def test_crashes_first():
    ctypes.string_at(0)


@pytest.mark.harness
def test_crashes_second():
    ctypes.string_at(0)


@pytest.mark.harness
def test_passes():
    pass


@pytest.mark.harness
def test_passes_after():
    pass
"""


def _project(pytester: pytest.Pytester, name: str, text: str, timeout: float = 60) -> None:
    pytester.makefile(".toml", pyproject=PYPROJECT.format(timeout=timeout))
    pytester.mkpydir("tests").joinpath(f"{name}.py").write_text(text)


def test_tests_never_overlap_and_each_timeout_counts_from_its_own_start(pytester: pytest.Pytester) -> None:
    _project(pytester, "test_spans", SPANS, timeout=2)
    result = pytester.runpytest_subprocess(*LEAN, "tests/test_spans.py")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*3 passed*"])
    events = [line.split() for line in pytester.path.joinpath("tests", "spans.log").read_text().splitlines()]
    names = [(name, edge) for name, edge, _ in events]
    assert names == [(n, e) for n in ("first", "second", "third") for e in ("start", "end")]
    times = [float(at) for _, _, at in events]
    assert times == sorted(times)


def test_each_failed_copy_is_told_by_its_own_stderr(pytester: pytest.Pytester) -> None:
    _project(pytester, "test_crashes", CRASHES)
    result = pytester.runpytest_subprocess(*LEAN, "tests/test_crashes.py")
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["*2 passed, 2 errors*"])
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_crashes_first*",
            "harness: the measuring process killed by SIGSEGV in test_crashes_first (test_crashes.py:9) (seed 1)",
            "*ERROR at setup of test_crashes_second*",
            "harness: the measuring process killed by SIGSEGV in test_crashes_second (test_crashes.py:14) (seed 1)",
        ]
    )


@pytest.mark.skipif(sys.platform != "linux", reason="the zygote's serving loop in C is built on Linux")
def test_a_copy_that_raises_before_its_work_still_says_how_it_left() -> None:
    """``run_as_copy`` writes the copy's code on its pipe to the zygote before it leaves, whatever happened."""
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the copy
        os.close(read)
        run_as_copy(_raises, None, done=write)
    os.close(write)
    code = os.read(read, 1)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert code == bytes([1])
    assert os.waitstatus_to_exitcode(status) == 1


def _raises() -> int:
    raise RuntimeError("before any work")
