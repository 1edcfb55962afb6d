"""What the pytest plugin costs per measured test, and whether replicates can share a child.

Builds a small project in a temporary directory (a package under src/, a conftest fixture,
one test measured whole) and times, interleaved, the median wall time of:

- ``bare``: ``pytest NODEID`` with the harness plugin disabled;
- ``measured (BACKEND)``: ``pytest NODEID`` with the plugin, one replicate, one child;
- ``child alone (BACKEND)``: the child session the plugin starts, by itself.

Then it measures one test three ways, with seeds 1, 2, 3: one child per replicate (what the
plugin does), one child running the three replicates in turn, and one child running seed 1
three times; and prints each replicate's figures, so that one can see whether a shared
child reproduces a fresh one's::

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
"""
CONFTEST = """
import pytest


@pytest.fixture
def keys():
    return list(range(10_000))
"""
TESTS = """
import pytest

from cells import Cell


@pytest.mark.harness(ops=10_000)
def test_fill(keys):
    table = {key: Cell() for key in keys}
"""
NODEID = "tests/test_cells.py::test_fill"
FIGURES = ("alloc_bytes", "alloc_count", "kept_bytes", "net_bytes", "net_count", "peak_bytes")


def make_project(root: Path) -> None:
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "src" / "cells").mkdir(parents=True)
    (root / "src" / "cells" / "__init__.py").write_text(PACKAGE)
    (root / "tests").mkdir()
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "conftest.py").write_text(CONFTEST)
    (root / "tests" / "test_cells.py").write_text(TESTS)


def child_command(root: Path, spec: Path) -> list[str]:
    return [
        sys.executable, "-m", "pytest", NODEID, "--rootdir", str(root), "-p", "no:harness",
        "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "harness.pytest_support.child",
        "--harness-child", str(spec), "-q", "--no-header", "--basetemp", str(root / "basetemp"),
    ]  # fmt: skip


def run_child(root: Path, backend: str, replicates: list[tuple[int, int]]) -> list[dict[str, object]]:
    """One child measuring ``replicates`` in turn, with PYTHONHASHSEED of the first; their phases."""
    from harness.pytest_support.child import ChildSpec

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        spec = Path(tmp) / "spec.json"
        spec.write_text(ChildSpec(NODEID, tuple(replicates), backend, 10, str(out)).to_json())
        env = {**os.environ, "PYTHONHASHSEED": str(replicates[0][1])}
        subprocess.run(child_command(root, spec), cwd=root, env=env, check=False, stdout=subprocess.DEVNULL)
        data = json.loads(out.read_text())
    return [{"seed": r["seed"], **r["phases"][0]["metrics"]} for r in data["replicates"]]


def timed(command: list[str], root: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def costs(root: Path, repeats: int, backends: list[str]) -> None:
    pytest_cmd = [sys.executable, "-m", "pytest", NODEID, "-q", "-p", "no:cacheprovider"]
    commands: dict[str, tuple[list[str], dict[str, str] | None]] = {"bare": ([*pytest_cmd, "-p", "no:harness"], None)}
    specs = {}
    for backend in backends:
        commands[f"measured ({backend})"] = ([*pytest_cmd, "--harness-backend", backend], None)
        from harness.pytest_support.child import ChildSpec

        spec = root / f"spec-{backend}.json"
        spec.write_text(ChildSpec(NODEID, ((0, 1),), backend, 10, str(root / f"out-{backend}.json")).to_json())
        specs[backend] = spec
        env = {**os.environ, "PYTHONHASHSEED": "1"}
        commands[f"child alone ({backend})"] = (child_command(root, spec), env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, (command, env) in commands.items():
            times[name].append(timed(command, root, env))
    bare = statistics.median(times["bare"])
    print(f"wall time per `pytest {NODEID}`, median of {repeats} (interleaved):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<24} {median:6.2f} s  {median / bare:5.1f}x bare  (+{median - bare:.2f} s)")


def replicates(root: Path, backend: str) -> None:
    seeds = [(0, 1), (1, 2), (2, 3)]
    modes = {
        "a child per replicate": [row for pair in seeds for row in run_child(root, backend, [pair])],
        "one child, seeds 1 2 3": run_child(root, backend, seeds),
        "one child, seed 1 x3": run_child(root, backend, [(0, 1), (1, 1), (2, 1)]),
    }
    print(f"\nfigures of the phase `test` per replicate ({backend}):")
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
        costs(root, args.repeats, backends)
        for backend in backends:
            replicates(root, backend)


if __name__ == "__main__":
    main()
