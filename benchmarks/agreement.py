"""Whether the native backend's net change agrees with tracemalloc's, on the whole bundled suite.

Runs ``harness run`` over every bundled experiment once with ``--backend native`` and once
with ``--backend tracemalloc`` (or the ``--other`` backend), then prints, per experiment and
phase, both ``net_bytes`` and ``net_count``, the gap in bytes and the gap in % of the other
backend's figure (``-`` where that is 0 and so is the gap), and the largest gap::

    python benchmarks/agreement.py [--replicates 1] [--jobs 2] [--other tracemalloc]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def net_figures(backend: str, replicates: int, jobs: int, out: Path) -> dict[tuple[str, int, str], dict[str, Any]]:
    """Every phase's metrics, by (experiment, replicate, phase), from one run of the suite."""
    command = [sys.executable, "-m", "harness", "run", "-n", str(replicates), "-j", str(jobs), "--backend", backend]
    result = subprocess.run([*command, "--out", str(out)], cwd=ROOT, capture_output=True, text=True, check=False)
    if not out.exists():
        sys.exit(f"harness run --backend {backend} wrote no results: {result.stderr.strip()}")
    data = json.loads(out.read_text(encoding="utf-8"))
    return {(t["experiment"], t["replicate"], p["name"]): p["metrics"] for t in data["trials"] for p in t["phases"]}


def gap_pct(native: int, other: int) -> str:
    if native == other:
        return "0.000%" if other else "-"
    return f"{100 * (native - other) / abs(other):+.3f}%" if other else "inf"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--other", default="tracemalloc", choices=("tracemalloc", "memray"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        native = net_figures("native", args.replicates, args.jobs, Path(tmp) / "native.json")
        other = net_figures(args.other, args.replicates, args.jobs, Path(tmp) / "other.json")
    width = max(len(f"{e} {p}") for e, _, p in native) + 2
    print(f"net_bytes and net_count, native vs {args.other}, harness run -n {args.replicates} -j {args.jobs}")
    header = f"{'native':>12} {args.other:>12} {'gap B':>7} {'gap %':>9} {'count':>13}"
    print(f"{'experiment phase':<{width}} {header}")
    worst = (0.0, "")
    for key in sorted(native.keys() | other.keys()):
        experiment, replicate, phase = key
        label = f"{experiment} {phase}" + (f" ({replicate})" if args.replicates > 1 else "")
        if key not in native or key not in other:
            print(f"{label:<{width}} missing under {'native' if key not in native else args.other}")
            continue
        n, o = native[key], other[key]
        gap = n["net_bytes"] - o["net_bytes"]
        counts = f"{n['net_count']}/{o['net_count']}"
        print(
            f"{label:<{width}} {n['net_bytes']:>12} {o['net_bytes']:>12} {gap:>+7} "
            f"{gap_pct(n['net_bytes'], o['net_bytes']):>9} {counts:>13}"
        )
        share = abs(gap) / max(abs(o["net_bytes"]), 1)
        if share > worst[0]:
            worst = (share, label)
    agreeing = sum(1 for k in native.keys() & other.keys() if native[k]["net_bytes"] == other[k]["net_bytes"])
    print(f"{agreeing} of {len(native.keys() & other.keys())} phases byte-identical", end="")
    print(f"; largest gap {100 * worst[0]:.3f}% ({worst[1]})" if worst[1] else "")


if __name__ == "__main__":
    main()
