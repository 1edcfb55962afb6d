"""The native hook's own cost per allocation, on the loop where it shows most.

Each mode runs in a fresh interpreter: bare, the native hooks with totals only, and with
call sites. The loop makes and drops two 8-byte ``bytes`` per step at two lines (no free
list serves them, so every step allocates and frees twice, and the site alternates). Each
interpreter measures ``--windows`` windows of the loop in a row (thread CPU time); the
fastest window of each mode is compared with bare, per allocate-and-free pair::

    python benchmarks/hook_cost.py [--steps 200000] [--windows 7]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

MODES = ("bare", "totals", "sites")


def child(mode: str, steps: int, windows: int) -> list[float]:
    keys = [i * 7919 for i in range(steps)]
    native = None
    if mode != "bare":
        import harness._native as _native

        native = _native
        native.start(mode == "sites")
    times = []
    for _ in range(windows):
        if native is not None:
            native.begin()
        started = time.thread_time()
        for key in keys:
            key.to_bytes(8, "little")
            key.to_bytes(8, "big")
        times.append(time.thread_time() - started)
        if native is not None:
            native.end()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--windows", type=int, default=7)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.windows)))
        return
    fastest = {}
    for mode in MODES:
        command = [sys.executable, __file__, "--child", mode, "--steps", str(args.steps)]
        out = subprocess.run([*command, "--windows", str(args.windows)], capture_output=True, text=True, check=True)
        fastest[mode] = min(json.loads(out.stdout))
    pairs = 2 * args.steps
    print(f"{pairs} allocate-and-free pairs per window, fastest of {args.windows} windows (thread CPU time)")
    for mode in MODES:
        ratio = fastest[mode] / fastest["bare"]
        extra_ns = (fastest[mode] - fastest["bare"]) / pairs * 1e9
        print(f"{mode:<7} {fastest[mode] * 1e3:>7.1f} ms  {ratio:>5.2f}x  {extra_ns:>+6.1f} ns/pair")


if __name__ == "__main__":
    main()
