"""Time ``harness history`` over the 31 commits of a small library, and the share builds take.

The library is the tests' fixture (``tests/end_to_end/realprojects.library_history``): a
src-layout package built as a wheel at each commit, two variants, three goals, 31 commits
with one regression and one broken build. Each run measures every commit into a fresh store,
``-j 2``, with ``-n`` replicates:

* **cold**: an empty build cache, so every commit is built (what a first history costs);
* **warm**: the same commits again into another fresh store, the builds taken from the cache
  (what re-measuring with new workloads costs);
* **every 4th**: ``--every 4`` from a cold cache, the step then narrowed by bisection.

For each run it prints the minutes, and from the store's index the seconds spent making
commits ready (checkout, build, install) and measuring them, as shares of the run.

    python benchmarks/history.py [-n 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "end_to_end"))

from realprojects import COMMITS, library_history


def timed_history(root: Path, store: Path, cache: Path, replicates: int, *extra: str) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "history",
            "HEAD",
            "--store",
            str(store),
            "-n",
            str(replicates),
            "-j",
            "2",
            *list(extra),
        ],
        cwd=root,
        env={**os.environ, "HARNESS_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "allocation steps: 2\n" not in done.stdout:
        raise SystemExit(f"history exited with {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    entries = json.loads((store / "index.json").read_text())["commits"]
    spent = {
        "commits": float(len(entries)),
        "ready": sum(e.get("ready_s") or 0.0 for e in entries),
        "measure": sum(e.get("measure_s") or 0.0 for e in entries),
    }
    return elapsed, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--replicates", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        project, _ = library_history(Path(scratch) / "lib")
        runs = [
            ("cold", "cold-cache", ()),
            ("warm", "cold-cache", ()),
            ("every 4th, cold", "sampled-cache", ("--every", "4")),
        ]
        print(f"harness history over {COMMITS} commits, -j 2, -n {args.replicates}, CPython {sys.version.split()[0]}")
        for index, (label, cache, extra) in enumerate(runs):
            store = Path(scratch) / f"store-{index}"
            elapsed, spent = timed_history(project.root, store, Path(scratch) / cache, args.replicates, *extra)
            print(
                f"  {label:16} {elapsed / 60:5.2f} min  {int(spent['commits']):2d} commits"
                f"  ready (checkout, build, install) {spent['ready']:6.1f} s = {spent['ready'] / elapsed:4.0%}"
                f"  measure {spent['measure']:6.1f} s = {spent['measure'] / elapsed:4.0%}"
            )


if __name__ == "__main__":
    main()
