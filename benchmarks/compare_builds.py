"""Time ``harness compare`` of two commits of a src-layout project with a cold and a warm build cache.

The first compare builds both commits' wheels; the second, identical, takes them from the
cache. Prints each run's wall time (median of --runs pairs) and their ratio, measured side
by side. Uses the fixture project of the tests (tests/realprojects.py) in a temp dir.

    python benchmarks/compare_builds.py [--runs 3]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from realprojects import LRU_ID, lrukit, regress_lru


def timed_compare(project_root: Path, base: str, head: str, cache: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "harness", "compare", base, head, LRU_ID, "--format", "json"],
        cwd=project_root,
        env={**os.environ, "HARNESS_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 1:  # the regression must be found, or the timing means nothing
        raise SystemExit(f"compare exited with {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cold, warm = [], []
    with tempfile.TemporaryDirectory() as scratch:
        project = lrukit(Path(scratch) / "lrukit")
        base = project.git("rev-parse", "HEAD")
        regress_lru(project)
        head = project.commit("wrap values")
        for run in range(args.runs):
            cache = Path(scratch) / f"cache-{run}"
            cold.append(timed_compare(project.root, base, head, cache))
            warm.append(timed_compare(project.root, base, head, cache))
    first, second = statistics.median(cold), statistics.median(warm)
    for label, median, runs in (("cold (builds 2 wheels)", first, cold), ("warm (builds nothing)", second, warm)):
        print(f"compare, {label:24} median {median:6.2f} s  (min {min(runs):.2f}, max {max(runs):.2f})")
    print(f"warm / cold: {second / first:.2f}x  ({args.runs} pairs, run alternately)")


if __name__ == "__main__":
    main()
