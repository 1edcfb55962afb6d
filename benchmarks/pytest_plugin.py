"""What the pytest plugin costs: one file of 20 measured tests, and a whole generated suite, beside pytest-memray.

Builds a small project in a temporary directory (a package under src/, a conftest fixture,
one test file of 20 tests, each marked with a limit for both plugins) and times, interleaved,
the wall time of the whole ``pytest`` run:

- ``no plugin``: neither harness nor pytest-memray;
- ``pytest-memray``: ``--memray`` (every test tracked, its limit checked);
- ``harness xN (BACKEND)``: the harness plugin with N replicates per test.

It prints the median, min and max of each, and the harness runs' ratio to pytest-memray's
next to the bound ``2 x pytest-memray + 2 s``; then the cost per measured test and replicate,
``(harness - no plugin) / (20 x N)``::

    python benchmarks/pytest_plugin.py [--repeats 5] [--backends native,tracemalloc]

Then the whole-suite case: a generated suite of ``--suite-files`` files of
``--suite-per-file`` tests (default 10 x 100: attribute lookups, pickling, regular
expressions; ``tests/end_to_end/generated_suite.py``), every test measured (a conftest hook
marks each one when the harness plugin is loaded), run bare, with ``--memray`` and with the
harness plugin at one replicate, each also under pytest-cov (``--cov``) but pytest-memray,
interleaved ``--suite-repeats`` times (default 1)::

    python benchmarks/pytest_plugin.py --suite-repeats 1 [--suite-files 10 --suite-per-file 100]

pytest-memray comes with the ``bench`` extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = 20
PYPROJECT = """
[tool.pytest.ini_options]
pythonpath = ["src"]
"""
PACKAGE = """
class Cell:
    __slots__ = ("key", "value")

    def __init__(self, key, value):
        self.key = key
        self.value = value


def table(keys):
    return {key: Cell(key, str(key)) for key in keys}
"""
CONFTEST = """
import contextlib

import pytest


@pytest.fixture
def keys():
    return list(range(1000))


class _Phases:
    def phase(self, name):
        return contextlib.nullcontext()

    def ops(self, n):
        pass


class _WithoutHarness:
    # The runs without the harness plugin: its fixture as a stand-in, its markers known.
    @pytest.fixture
    def harness_trial(self):
        return _Phases()


def pytest_configure(config):
    if not config.pluginmanager.hasplugin("harness"):
        config.pluginmanager.register(_WithoutHarness())
        config.addinivalue_line("markers", "harness_limits: (harness plugin absent)")
    if not config.pluginmanager.hasplugin("memray"):
        config.addinivalue_line("markers", "limit_memory: (pytest-memray absent)")
"""
HEADER = """
import pytest

from cells import Cell, table
"""
#: Four kinds of test, five of each: measured whole, with a fixture, in a phase, parametrized.
TEST_KINDS = (
    """
@pytest.mark.limit_memory("10 MB")
@pytest.mark.harness_limits(alloc_bytes="10 MiB")
def test_cells_{n}():
    made = [Cell(i, i) for i in range({size})]
""",
    """
@pytest.mark.limit_memory("10 MB")
@pytest.mark.harness_limits(alloc_bytes="10 MiB")
def test_table_{n}(keys):
    made = table(keys[:{size}])
""",
    """
@pytest.mark.limit_memory("10 MB")
@pytest.mark.harness_limits(alloc_bytes="10 MiB")
def test_phase_{n}(harness_trial, keys):
    with harness_trial.phase("fill"):
        made = table(keys[:{size}])
        harness_trial.ops({size})
""",
    """
@pytest.mark.limit_memory("10 MB")
@pytest.mark.harness_limits(alloc_bytes="10 MiB")
@pytest.mark.parametrize("text", ["a", "bb"])
def test_strings_{n}(text):
    made = [text * i for i in range({size})]
""",
)


def make_project(root: Path) -> None:
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "src" / "cells").mkdir(parents=True)
    (root / "src" / "cells" / "__init__.py").write_text(PACKAGE)
    (root / "tests").mkdir()
    (root / "tests" / "conftest.py").write_text(CONFTEST)
    tests = [HEADER]
    # 5 + 5 + 6 functions, and 2 parametrized ones of two tests each: TESTS tests.
    counts = (5, 5, 6, 2)
    for kind, count in zip(TEST_KINDS, counts, strict=True):
        tests += [kind.format(n=n, size=100 * (n + 1)) for n in range(count)]
    (root / "tests" / "test_cells.py").write_text("".join(tests))


def timed(command: list[str], root: Path, tests: int = TESTS) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, check=False, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    if f"{tests} passed" not in done.stdout:
        sys.exit(f"{' '.join(command)} did not pass {tests} tests:\n{done.stdout[-3000:]}")
    return took


#: Every test of the generated suite measured, when (and only when) the harness plugin runs.
SUITE_CONFTEST = """
import pytest


def pytest_collection_modifyitems(config, items):
    if config.pluginmanager.hasplugin("harness"):
        for item in items:
            item.add_marker(pytest.mark.harness)
"""


#: pytest-cov on the generated suite's own files, with no report (its data file is removed after each run).
COV = ("--cov=tests", "--cov-report=")


def whole_suite(files: int, per_file: int, repeats: int) -> None:
    """Time a generated suite run bare, under pytest-memray and measured whole by harness."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "end_to_end"))
    from generated_suite import write_suite

    tests = files * per_file
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    commands = {
        "no plugin": [*pytest_cmd, "-p", "no:harness", "-p", "no:memray"],
        "pytest-memray": [*pytest_cmd, "-p", "no:harness", "--memray"],
        "harness x1 (native)": [*pytest_cmd, "-p", "no:memray", "--harness-replicates", "1"],
        # Under pytest-cov: the measured tests covered by their files' covering copies.
        "no plugin --cov": [*pytest_cmd, "-p", "no:harness", "-p", "no:memray", *COV],
        "harness x1 --cov": [*pytest_cmd, "-p", "no:memray", "--harness-replicates", "1", *COV],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="harness-bench-suite-") as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
        write_suite(root, files, per_file, marker="")
        (root / "tests" / "conftest.py").write_text(SUITE_CONFTEST)
        for _ in range(repeats):
            for name, command in commands.items():
                times[name].append(timed(command, root, tests))
                (root / ".coverage").unlink(missing_ok=True)
    memray = statistics.median(times["pytest-memray"])
    print(f"\npytest on a generated suite of {tests} tests in {files} files, every one measured:")
    print(f"wall time over {repeats} interleaved runs (load {os.getloadavg()[0]:.1f})\n")
    print(f"  {'':<24} {'median':>8} {'min':>8} {'max':>8}  {'vs memray':>9}  per test")
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"  {name:<24} {median:7.2f}s {min(values):7.2f}s {max(values):7.2f}s  {median / memray:8.2f}x"
            f"  {median / tests * 1000:6.1f} ms"
        )
    medians = {name: statistics.median(values) for name, values in times.items()}
    harness_cov = medians["harness x1 --cov"] - medians["harness x1 (native)"]
    plain_cov = medians["no plugin --cov"] - medians["no plugin"]
    print(
        f"\n  --cov adds {harness_cov / tests * 1000:.1f} ms per measured test to harness"
        f" ({plain_cov / tests * 1000:.1f} ms per test to a session without it)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", default="native", help="harness backends to time, comma-separated")
    parser.add_argument("--suite-files", type=int, default=10, help="files of the generated suite (0: no suite)")
    parser.add_argument("--suite-per-file", type=int, default=100, help="tests per file of the generated suite")
    parser.add_argument("--suite-repeats", type=int, default=1, help="interleaved runs of the generated suite")
    args = parser.parse_args()
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cells.py"]
    commands = {
        "no plugin": [*pytest_cmd, "-p", "no:harness", "-p", "no:memray"],
        "pytest-memray": [*pytest_cmd, "-p", "no:harness", "--memray"],
    }
    replicates = (1, 3)
    for backend in args.backends.split(","):
        for n in replicates:
            commands[f"harness x{n} ({backend})"] = [
                *pytest_cmd, "-p", "no:memray", "--harness-backend", backend, "--harness-replicates", str(n),
            ]  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        root = Path(tmp)
        make_project(root)
        for command in commands.values():
            timed(command, root)  # a warm-up run of each: imports cached, files in the page cache
        for _ in range(args.repeats):
            for name, command in commands.items():
                times[name].append(timed(command, root))
    medians = {name: statistics.median(values) for name, values in times.items()}
    bare, memray = medians["no plugin"], medians["pytest-memray"]
    print(f"pytest on one file of {TESTS} measured tests: wall time over {args.repeats} interleaved runs")
    print(f"(python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})\n")
    print(f"  {'':<24} {'median':>8} {'min':>8} {'max':>8}  {'vs memray':>9}  per test and replicate")
    for name, values in times.items():
        median = medians[name]
        line = f"  {name:<24} {median:7.2f}s {min(values):7.2f}s {max(values):7.2f}s  {median / memray:8.2f}x"
        if name.startswith("harness"):
            n = int(name.split()[1][1:])
            line += f"  {(median - bare) / (TESTS * n) * 1000:6.0f} ms"
        print(line)
    bound = 2 * memray + 2.0
    for name in medians:
        if name.startswith("harness x1"):
            verdict = "within" if medians[name] <= bound else "OVER"
            print(f"\n  {name}: {medians[name]:.2f} s, {verdict} the bound 2 x pytest-memray + 2 s = {bound:.2f} s")
    if args.suite_files > 0:
        whole_suite(args.suite_files, args.suite_per_file, args.suite_repeats)


if __name__ == "__main__":
    main()
