"""What capture costs on the whole bundled suite: ``harness run -j 2`` with the default
backend against the same trials with ``--backend none`` (timings only), side by side.

Each backend runs the suite ``--repeats`` times, alternating, from the repository root; the
median wall time of each and their ratio are printed::

    python benchmarks/suite_cost.py [--replicates 5] [--jobs 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_suite(backend: str | None, replicates: int, jobs: int, out: Path) -> float:
    """Seconds one ``harness run`` of the whole suite takes (``None``: the default backend)."""
    command = [sys.executable, "-m", "harness", "run", "-n", str(replicates), "-j", str(jobs), "--out", str(out)]
    if backend is not None:
        command += ["--backend", backend]
    started = time.perf_counter()
    # Exit 1 only says that some trial failed; the count is checked below.
    subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"default": [], "none": []}
    trials: dict[str, tuple[str, int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for label, backend in (("default", None), ("none", "none")):
                out = Path(tmp) / f"{label}.json"
                times[label].append(run_suite(backend, args.replicates, args.jobs, out))
                data = json.loads(out.read_text())
                ok = sum(t["status"] == "ok" for t in data["trials"])
                phases = sum(p["metrics"]["wall_s"] for t in data["trials"] for p in t.get("phases", []))
                trials[label] = (data["environment"]["backend"], ok, phases)
    print(f"bundled suite, harness run -n {args.replicates} -j {args.jobs}, median of {args.repeats}")
    print(f"{'backend':<14} {'trials ok':>9} {'phases':>9} {'run':>9} {'ratio':>7}")
    reference = statistics.median(times["none"])
    for label in ("default", "none"):
        backend, ok, phases = trials[label]
        wall = statistics.median(times[label])
        print(f"{backend:<14} {ok:>9} {phases:>8.1f}s {wall:>8.1f}s {wall / reference:>6.2f}x")


if __name__ == "__main__":
    main()
