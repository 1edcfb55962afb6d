"""What the pytest plugin costs per measured test, and whether replicates can share a child.

Builds a small project in a temporary directory (a package under src/, a conftest fixture,
tests measured whole) and times, for a test making 100 objects and for one making 10,000
after a 10,000-key fixture, interleaved, the median wall time of:

- ``bare``: ``pytest NODEID`` with the harness plugin disabled;
- ``measured (BACKEND)``: ``pytest NODEID`` with the plugin, one replicate, one child;
- ``child alone (BACKEND)``: the child session the plugin starts, by itself.

Then it measures two tests three ways, with seeds 1, 2, 3: one child per replicate (what
the plugin does), one child running the three replicates in turn, and one child running
seed 1 three times; and prints each replicate's figures, so that one can see whether a
shared child reproduces a fresh one's. The second test calls a function that imports a
module lazily, as libraries do::

    python benchmarks/pytest_plugin.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYPROJECT = """
[tool.pytest.ini_options]
pythonpath = ["src"]
"""
PACKAGE = """
class Cell:
    __slots__ = ("value",)


def parse_all(texts):
    # A lazy import, as libraries make them: the first call in an interpreter pays it.
    from fractions import Fraction

    return [Fraction(text) for text in texts]
"""
CONFTEST = """
import pytest


@pytest.fixture
def keys():
    return list(range(10_000))
"""
TESTS = """
import pytest

from cells import Cell, parse_all


@pytest.mark.harness(ops=100)
def test_small():
    cells = [Cell() for _ in range(100)]


@pytest.mark.harness(ops=10_000)
def test_fill(keys):
    table = {key: Cell() for key in keys}


@pytest.mark.harness(ops=100)
def test_parse():
    parse_all(["1/3"] * 100)
"""
NODEIDS = {name: f"tests/test_cells.py::{name}" for name in ("test_small", "test_fill", "test_parse")}
FIGURES = ("alloc_bytes", "alloc_count", "kept_bytes", "net_bytes", "net_count", "peak_bytes")


def make_project(root: Path) -> None:
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "src" / "cells").mkdir(parents=True)
    (root / "src" / "cells" / "__init__.py").write_text(PACKAGE)
    (root / "tests").mkdir()
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "conftest.py").write_text(CONFTEST)
    (root / "tests" / "test_cells.py").write_text(TESTS)


def child_command(root: Path, nodeid: str, spec: Path) -> list[str]:
    return [
        sys.executable, "-m", "pytest", nodeid, "--rootdir", str(root), "-p", "no:harness",
        "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "harness.pytest_plugin.child",
        f"--harness-child={spec}", "-q", "--no-header", "--basetemp", str(root / "basetemp"),
    ]  # fmt: skip


def run_child(root: Path, nodeid: str, backend: str, replicates: list[tuple[int, int]]) -> list[dict[str, object]]:
    """One child measuring ``replicates`` in turn, with PYTHONHASHSEED of the first; their phases."""
    from harness.pytest_plugin.child import ChildSpec

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        spec = Path(tmp) / "spec.json"
        spec.write_text(ChildSpec(nodeid, tuple(replicates), backend, 10, str(out)).to_json())
        env = {**os.environ, "PYTHONHASHSEED": str(replicates[0][1])}
        command = child_command(root, nodeid, spec)
        subprocess.run(command, cwd=root, env=env, check=False, stdout=subprocess.DEVNULL)
        data = json.loads(out.read_text())
    return [{"seed": r["seed"], **r["phases"][0]["metrics"]} for r in data["replicates"]]


def timed(command: list[str], root: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def costs(root: Path, nodeid: str, repeats: int, backends: list[str]) -> None:
    from harness.pytest_plugin.child import ChildSpec

    pytest_cmd = [sys.executable, "-m", "pytest", nodeid, "-q", "-p", "no:cacheprovider"]
    commands: dict[str, tuple[list[str], dict[str, str] | None]] = {"bare": ([*pytest_cmd, "-p", "no:harness"], None)}
    for backend in backends:
        commands[f"measured ({backend})"] = ([*pytest_cmd, "--harness-backend", backend], None)
        spec = root / f"spec-{backend}.json"
        spec.write_text(ChildSpec(nodeid, ((0, 1),), backend, 10, str(root / f"out-{backend}.json")).to_json())
        env = {**os.environ, "PYTHONHASHSEED": "1"}
        commands[f"child alone ({backend})"] = (child_command(root, nodeid, spec), env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, (command, command_env) in commands.items():
            times[name].append(timed(command, root, command_env))
    bare = statistics.median(times["bare"])
    print(f"wall time per `pytest {nodeid}`, median of {repeats} (interleaved):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<26} {median:6.2f} s  {median / bare:5.1f}x bare  (+{median - bare:.2f} s)")


def replicates(root: Path, nodeid: str, backend: str) -> None:
    seeds = [(0, 1), (1, 2), (2, 3)]
    modes = {
        "a child per replicate": [row for pair in seeds for row in run_child(root, nodeid, backend, [pair])],
        "one child, seeds 1 2 3": run_child(root, nodeid, backend, seeds),
        "one child, seed 1 x3": run_child(root, nodeid, backend, [(0, 1), (1, 1), (2, 1)]),
    }
    print(f"\n{nodeid}: figures of the phase `test` per replicate ({backend}):")
    print(f"  {'mode':<24} {'seed':>4} " + " ".join(f"{f:>11}" for f in FIGURES))
    for mode, rows in modes.items():
        for row in rows:
            print(f"  {mode:<24} {row['seed']:>4} " + " ".join(f"{row.get(f, '-'):>11}" for f in FIGURES))
    fresh = modes["a child per replicate"]
    for mode in ("one child, seeds 1 2 3", "one child, seed 1 x3"):
        same = [all(a.get(f) == b.get(f) for f in FIGURES) for a, b in zip(fresh, modes[mode], strict=True)]
        print(f"  {mode}: replicates equal to a fresh child's: {sum(same)} of {len(same)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", default="memray,tracemalloc")
    args = parser.parse_args()
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        root = Path(tmp)
        make_project(root)
        for name in ("test_small", "test_fill"):
            costs(root, NODEIDS[name], args.repeats, backends)
        for name in ("test_fill", "test_parse"):
            for backend in backends:
                replicates(root, NODEIDS[name], backend)


if __name__ == "__main__":
    main()
