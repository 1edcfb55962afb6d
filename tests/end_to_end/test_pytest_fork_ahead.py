"""A zygote forks the copy for the next test while a test runs: the copy waits for its request,
so tests never overlap, each test's timeout counts from its own start, and each failed copy's
stderr is its own (the two stderr files alternate). While it waits, it writes again the pages
of its zygote's that a copy before it wrote, so that its own test does not wait for the kernel
to copy them."""

from __future__ import annotations

import mmap
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


#: Each test writes a byte of each page of an 8 MiB buffer its zygote made, counting the page
#: faults it takes meanwhile: each a page copied, unless its copy wrote that page ahead.
WRITES = """
import mmap
import resource
from pathlib import Path

import pytest

LOG = Path(__file__).parent / "faults.log"
DATA = bytearray(range(256)) * (32 * 1024)


@pytest.mark.harness
@pytest.mark.parametrize("n", range(40))
def test_writes(n):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for at in range(0, len(DATA), mmap.PAGESIZE):
        DATA[at] = 255 - DATA[at]
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    with LOG.open("a") as log:
        log.write(f"{n} {faults}\\n")
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


@pytest.mark.skipif(sys.platform != "linux", reason="pages are listed from /proc/self/pagemap")
def test_a_copy_writes_ahead_the_pages_the_copies_before_it_wrote(pytester: pytest.Pytester) -> None:
    """The first copy lists what it wrote, and so does one in 16 (each writes nothing ahead, and
    takes a fault per page); a copy forked once a list is there takes next to none."""
    _project(pytester, "test_writes", WRITES)
    result = pytester.runpytest_subprocess(*LEAN, "tests/test_writes.py")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*40 passed*"])
    pages = 8 * 1024 * 1024 // mmap.PAGESIZE
    faults = dict(line.split() for line in pytester.path.joinpath("tests", "faults.log").read_text().splitlines())
    counts = [int(faults[str(n)]) for n in range(40)]
    assert counts[0] >= pages  # the first copy: no list yet
    assert all(counts[n] >= pages for n in (16, 32)), counts  # the copies that list
    written_ahead = [n for n, count in enumerate(counts) if count < pages // 16]
    # Copy 1 was forked before copy 0 could list; the others after, unless the machine was slow.
    assert len(written_ahead) >= 30, counts


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
