"""Wall time of the bundled suite on each executor: ``--jobs 1``, ``--jobs 2``, and Dask on 2 local workers.

Usage, from the repository root::

    python benchmarks/executors.py                 # 1 replicate of every bundled experiment
    python benchmarks/executors.py --replicates 2 --workloads workloads

Each configuration runs the suite through the public API (:func:`harness.measure.scheduling.execute`)
with the same settings; the Dask one runs on a ``LocalCluster`` of two one-thread worker
processes, started before the clock starts (its start-up is shown on its own line). Prints
one row per configuration: wall time, trials, failed trials, and the speed-up over
``--jobs 1`` (its wall time over theirs).
Allocation figures are checked equal across the three runs (alloc_count per trial and
phase), since a faster executor that measured something else would be no use.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness.declare.config import load_settings
from harness.declare.discovery import discover
from harness.declare.units import format_seconds
from harness.measure.capture import resolve_backend
from harness.measure.executors import Executor
from harness.measure.executors.dask import DaskExecutor, local_cluster
from harness.measure.executors.local import LocalExecutor
from harness.measure.scheduling import Side, execute
from harness.store.results import Results

ROOT = Path(__file__).resolve().parent.parent


def alloc_counts(results: Results) -> dict[tuple[str, int, str], object]:
    return {(t.experiment, t.replicate, p.name): p.metrics.get("alloc_count") for t in results.trials for p in t.phases}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=1)
    parser.add_argument("--workloads", type=Path, default=ROOT / "workloads")
    args = parser.parse_args(argv)

    settings = load_settings(ROOT).override(replicates=args.replicates, workloads=args.workloads.resolve())
    backend = resolve_backend(settings.backend)
    suite = discover(settings.workloads, settings.project_root)
    side = Side("", settings.project_root, settings.workloads, suite.experiments)
    trials = len(suite.experiments) * settings.replicates
    shape = f"{len(suite.experiments)} experiments x {settings.replicates} replicates = {trials} trials"
    print(f"{shape}, backend {backend}")

    rows: list[tuple[str, float, Results]] = []

    def timed(label: str, make: Callable[[], Executor]) -> None:
        started = time.perf_counter()
        results = execute([side], settings, backend, executor=make())[""]
        rows.append((label, time.perf_counter() - started, results))
        print(f"  {label}: {format_seconds(rows[-1][1])}", file=sys.stderr)

    timed("local --jobs 1", lambda: LocalExecutor(1))
    timed("local --jobs 2", lambda: LocalExecutor(2))
    started = time.perf_counter()
    with local_cluster(2) as address:
        startup = time.perf_counter() - started
        timed("dask, 2 local workers", lambda: DaskExecutor(address))

    reference = rows[0][1]
    print(f"\n{'executor':<24} {'wall':>10} {'trials':>7} {'failed':>7} {'speed-up':>12}")
    for label, wall, results in rows:
        counts = f"{len(results.trials):>7} {len(results.failed()):>7}"
        print(f"{label:<24} {format_seconds(wall):>10} {counts} {reference / wall:>11.2f}x")
    print(f"(dask cluster start-up, not included above: {format_seconds(startup)})")
    same = all(alloc_counts(r) == alloc_counts(rows[0][2]) for _, _, r in rows)
    print(f"alloc_count identical across executors: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
