"""A file's zygote is forked by its directory's mother: one pytest start per directory and
seed, and a zygote's or a mother's death told as a started zygote's would be."""

from __future__ import annotations

import pytest

from harness.pytest_plugin.mothers import MOTHERS_KEPT, mothers_usable

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.skipif(not mothers_usable(), reason="zygotes are started on their own here")

LEAN = ("-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:memray")

#: Imported by each pytest process that loads the root's conftest: the session and each mother
#: (its zygotes are forked after).
COUNTING_CONFTEST = """
import os

with open(os.path.join(os.path.dirname(__file__), "starts.txt"), "a") as starts:
    starts.write(f"{os.getpid()}\\n")
"""

#: Imported by each zygote as it collects its file.
COUNTED = """
import os
import sys

import pytest

if any(arg.startswith("--harness-zygote") for arg in sys.argv):
    with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "zygotes.txt"), "a") as zygotes:
        zygotes.write(f"{os.getpid()}\\n")


@pytest.mark.harness
def test_keeps():
    kept = [bytearray(64) for _ in range(10)]
    assert kept
"""


def test_one_pytest_start_per_directory_and_seed_and_one_zygote_per_file_and_seed(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(COUNTING_CONFTEST)
    for directory in ("one", "two"):
        pytester.mkpydir(directory)
        for name in ("test_a", "test_b"):
            pytester.path.joinpath(directory, f"{name}.py").write_text(COUNTED)
    result = pytester.runpytest_subprocess(*LEAN, "--harness-replicates", "2", "one", "two")
    result.assert_outcomes(passed=4)
    starts = pytester.path.joinpath("starts.txt").read_text().split()
    assert len(starts) == 1 + 2 * 2  # the session, and a mother per directory and seed
    zygotes = pytester.path.joinpath("zygotes.txt").read_text().split()
    assert len(set(zygotes)) == len(zygotes) == 4 * 2  # a zygote per file and seed
    assert not set(zygotes) & set(starts)


DIES_COLLECTING = """
import ctypes
import sys

import pytest


def crash():
    ctypes.string_at(0)


if any(arg.startswith("--harness-zygote") for arg in sys.argv):
    crash()


@pytest.mark.harness
def test_never_measured():
    pass
"""

FINE = """
import pytest


@pytest.mark.harness
def test_measured():
    pass
"""


def test_a_zygote_that_dies_is_told_by_its_code_and_stderr_and_its_mother_forks_the_next(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_a_dies=DIES_COLLECTING, test_b_fine=FINE)
    result = pytester.runpytest_subprocess(*LEAN, "--harness-replicates", "1")
    result.assert_outcomes(passed=1, errors=1)
    # faulthandler wrote the zygote's stack to the zygote's own stderr, not its mother's.
    result.stdout.fnmatch_lines(
        ["*harness: the measuring pytest session killed by SIGSEGV in crash (test_a_dies.py:8)*"]
    )


NO_MOTHER_HERE = """
import sys

if "--harness-mother" in sys.argv:
    raise RuntimeError("this directory cannot be measured")
"""


def test_a_mother_that_cannot_start_fails_its_tests_with_why(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(NO_MOTHER_HERE)
    pytester.makepyfile(test_fine=FINE)
    result = pytester.runpytest_subprocess(*LEAN, "--harness-replicates", "1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*harness: the measuring pytest session exited with code *", "*cannot be measured*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the session itself ran to its end


#: Run in a copy (copy, zygote, mother, session): how many mothers the session has alive.
COUNTS_MOTHERS = """
import os
from pathlib import Path

import pytest


def _parent(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.harness
def test_counts():
    session = _parent(_parent(os.getppid()))
    mothers = 0
    for entry in Path("/proc").iterdir():
        try:
            ours = entry.name.isdigit() and _parent(entry.name) == session
            command = entry.joinpath("cmdline").read_bytes()
        except OSError:
            continue
        mothers += ours and b"--harness-mother" in command
    with open(Path(__file__).parent.parent / "mothers.txt", "a") as counts:
        counts.write(f"{mothers}\\n")
"""


def test_a_session_keeps_a_bounded_number_of_mothers_whose_zygotes_have_ended(pytester: pytest.Pytester) -> None:
    directories = [f"d{n}" for n in range(MOTHERS_KEPT + 3)]
    for directory in directories:
        pytester.mkpydir(directory).joinpath("test_count.py").write_text(COUNTS_MOTHERS)
    result = pytester.runpytest_subprocess(*LEAN, "--harness-replicates", "1", *directories)
    result.assert_outcomes(passed=len(directories))
    counts = [int(n) for n in pytester.path.joinpath("mothers.txt").read_text().split()]
    # One more per directory until the bound; past it, an idle one ends as another starts.
    assert counts == [min(n + 1, MOTHERS_KEPT) for n in range(len(directories))], counts
