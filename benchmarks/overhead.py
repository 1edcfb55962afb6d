"""Overhead of each capture backend relative to the same workload run bare.

Runs two dict-churn workloads in fresh interpreters, bare and under each backend,
interleaved, and prints the median wall time of the measured window, and of the whole
capture including post-processing, as ratios to bare. Both keep a table at a fixed live
size by inserting new keys and deleting the oldest: ``reuse`` inserts keys made in setup
(the window allocates almost nothing), ``alloc`` stores a new tuple value per insert::

    python benchmarks/overhead.py [--ops 200000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time

MODES = ("bare", "tracemalloc", "memray")
WORKLOADS = ("reuse", "alloc")


def churn_plan(ops: int, live: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Keys made in setup: ``ops`` inserts, each paired with the delete of the oldest key."""
    import random

    rng = random.Random(1)
    keys = [rng.getrandbits(48) | (1 << 48) for _ in range(ops + live)]
    return keys[:live], list(zip(keys[live:], keys[:ops], strict=True))


def child(mode: str, workload: str, ops: int, live: int) -> dict[str, float]:
    warm, steps = churn_plan(ops, live)
    table = dict.fromkeys(warm, None)
    capture = None
    if mode != "bare":
        from harness.capture import make_capture

        capture = make_capture(mode, top_sites=10, workdir=tempfile.mkdtemp())
        capture.start_trial()
        capture.begin_phase()
    started = time.perf_counter()
    if workload == "reuse":
        for new, old in steps:
            table[new] = new
            del table[old]
    else:
        for new, old in steps:
            table[new] = (new, old)
            del table[old]
    window = time.perf_counter() - started
    if capture is not None:
        capture.end_phase()
        capture.finish()
    total = time.perf_counter() - started
    return {"window_s": window, "total_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--live", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=WORKLOADS, default="reuse", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.workload, args.ops, args.live)))
        return
    print(f"dict churn: {args.ops} inserts + {args.ops} deletes at {args.live} live keys, median of {args.repeats}")
    print(f"{'workload':<9} {'backend':<12} {'window':>10} {'ratio':>7} {'with post-processing':>22} {'ratio':>7}")
    for workload in WORKLOADS:
        times: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
        for _, mode in itertools.product(range(args.repeats), MODES):  # interleaved: drift hits every mode
            command = [sys.executable, __file__, "--child", mode, "--workload", workload]
            command += ["--ops", str(args.ops), "--live", str(args.live)]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            times[mode].append(json.loads(out))
        bare = statistics.median(t["window_s"] for t in times["bare"])
        for mode in MODES:
            window = statistics.median(t["window_s"] for t in times[mode])
            total = statistics.median(t["total_s"] for t in times[mode])
            print(
                f"{workload:<9} {mode:<12} {window * 1e3:>8.1f}ms {window / bare:>6.2f}x "
                f"{total * 1e3:>20.1f}ms {total / bare:>6.2f}x"
            )


if __name__ == "__main__":
    main()
