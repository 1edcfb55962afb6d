"""Overhead of each capture backend relative to the same workload run bare.

Runs three workloads in fresh interpreters, bare and under each backend, interleaved, and
prints the median wall time of the measured window, and of the whole capture including
post-processing, as ratios to bare, side by side. The two dict churns keep a table at a
fixed live size by inserting new keys and deleting the oldest: ``reuse`` inserts keys made
in setup (the window allocates almost nothing), ``alloc`` stores a new tuple value per
insert. ``calls`` is a call-heavy loop: small Python functions calling each other, which
allocate nothing untraced. ``bytes`` makes and drops two new 8-byte ``bytes`` per step, the
worst case of a hook (every step allocates and frees; no free list serves it), where
``native-totals``, the native backend without call sites, shows what the sites cost.
``cmalloc`` makes and drops a ``numpy.empty(2048)`` per step: a 16 KiB buffer numpy takes
from the C library's ``malloc`` and gives back with ``free`` (above its small-buffer cache),
which the native backend sees through its preloaded hook, plus a small array object::

    python benchmarks/overhead.py [--ops 200000] [--repeats 5] [--backends native,none]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from harness.measure.capture import Capture, make_capture
from harness.measure.capture.reach import child_environment

BACKENDS = ("none", "native", "native-totals", "tracemalloc", "memray")
WORKLOADS = ("reuse", "alloc", "calls", "bytes", "cmalloc")


def _inner(x: int) -> int:
    return x


def _outer(x: int) -> int:
    return _inner(x) + _inner(1)


def churn_plan(ops: int, live: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Keys made in setup: ``ops`` inserts, each paired with the delete of the oldest key."""
    import random

    rng = random.Random(1)
    keys = [rng.getrandbits(48) | (1 << 48) for _ in range(ops + live)]
    return keys[:live], list(zip(keys[live:], keys[:ops], strict=True))


def child(mode: str, workload: str, ops: int, live: int) -> dict[str, float]:
    import numpy

    warm, steps = churn_plan(ops, live)
    table = dict.fromkeys(warm, None)
    capture: Capture | None = None
    if mode == "native-totals":
        from harness.measure.capture.native import NativeCapture

        capture = NativeCapture(sites=False)
    elif mode != "bare":
        capture = make_capture(mode, top_sites=10, workdir=tempfile.mkdtemp())
    if capture is not None:
        capture.start_trial()
        capture.begin_phase()
    started, started_cpu = time.perf_counter(), time.thread_time()
    if workload == "reuse":
        for new, old in steps:
            table[new] = new
            del table[old]
    elif workload == "bytes":
        for new, old in steps:
            new.to_bytes(8, "little")
            old.to_bytes(8, "little")
    elif workload == "cmalloc":
        empty = numpy.empty
        for _ in itertools.repeat(None, ops):
            empty(2048)
    elif workload == "calls":
        for _ in itertools.repeat(None, ops):
            _outer(1)
            _outer(2)
    else:
        for new, old in steps:
            table[new] = (new, old)
            del table[old]
    window, window_cpu = time.perf_counter() - started, time.thread_time() - started_cpu
    if capture is not None:
        capture.end_phase()
        capture.finish()
    total = time.perf_counter() - started
    return {"window_s": window, "window_cpu_s": window_cpu, "total_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--live", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated (default: all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=WORKLOADS, default="reuse", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.workload, args.ops, args.live)))
        return
    modes = ("bare", *args.backends.split(","))
    print(f"dict churn: {args.ops} inserts + {args.ops} deletes at {args.live} live keys; calls: {args.ops} x 6 calls")
    print(f"median of {args.repeats} fresh interpreters per cell, ratio to bare; the window's CPU time (of its")
    print("thread) is what to read on a shared machine, where wall time also counts waiting for a core")
    header = f"{'workload':<9} {'backend':<14} {'window':>10} {'ratio':>7} {'window CPU':>11} {'ratio':>7}"
    print(f"{header} {'with post-processing':>22} {'ratio':>7}")
    for workload in WORKLOADS:
        times: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
        for _, mode in itertools.product(range(args.repeats), modes):  # interleaved: drift hits every mode
            command = [sys.executable, __file__, "--child", mode, "--workload", workload]
            command += ["--ops", str(args.ops), "--live", str(args.live)]
            # As a trial child is started: the native backend's hook preloaded, to see malloc.
            env = child_environment("native" if mode.startswith("native") else mode, dict(os.environ))
            out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
            times[mode].append(json.loads(out))
        bare = statistics.median(t["window_s"] for t in times["bare"])
        bare_cpu = statistics.median(t["window_cpu_s"] for t in times["bare"])
        for mode in modes:
            window = statistics.median(t["window_s"] for t in times[mode])
            cpu = statistics.median(t["window_cpu_s"] for t in times[mode])
            total = statistics.median(t["total_s"] for t in times[mode])
            print(
                f"{workload:<9} {mode:<14} {window * 1e3:>8.1f}ms {window / bare:>6.2f}x "
                f"{cpu * 1e3:>9.1f}ms {cpu / bare_cpu:>6.2f}x "
                f"{total * 1e3:>20.1f}ms {total / bare:>6.2f}x"
            )


if __name__ == "__main__":
    main()
