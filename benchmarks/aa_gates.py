"""A/A gates of the bundled suite: how often the defaults fail a gate on unchanged code.

Runs the bundled suite RUNS times on the same code with the defaults (``harness run``, the
default replicates, ``-j 2``), gates every run against every other (RUNS x (RUNS - 1) ordered
pairs, ``harness gate --results B --baseline A``), and prints how many gates failed and on
which rows. Then, to show that the gate still sees what it should, it injects a +2 % change
into every exact allocation goal of each candidate (its per-trial figures scaled by 1.02)
and gates it at ``--tolerance 1``: every such gate must fail::

    python benchmarks/aa_gates.py [--runs 5] [--jobs 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.declare.metrics import metric

ROOT = Path(__file__).resolve().parent.parent


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def inject(results: Path, out: Path, factor: float) -> int:
    """``results`` with every exact goal's figure scaled by ``factor`` in every trial; how many goals."""
    data: dict[str, Any] = json.loads(results.read_text())
    goals = {e["id"]: [g for g in e["goals"] if metric(g.split(".")[-1]).exact] for e in data["experiments"]}
    for trial in data["trials"]:
        for phase in trial.get("phases") or ():
            for goal in goals.get(trial["experiment"], ()):
                name = goal.split(".")[-1]
                named_phase = goal.split(".")[0] if "." in goal else None
                if named_phase in (None, phase["name"]) and isinstance(phase["metrics"].get(name), int | float):
                    phase["metrics"][name] *= factor
    out.write_text(json.dumps(data))
    return sum(len(g) for g in goals.values())


def verdict_of(baseline: Path, candidate: Path, *extra: str) -> tuple[int, list[str], int]:
    """The gate's exit code, the rows that fail it, and how many rows it judged."""
    done = harness("gate", "--baseline", str(baseline), "--results", str(candidate), "--format", "json", *extra)
    if done.returncode == 2:
        sys.exit(f"gate failed to run: {done.stderr.strip()}")
    data = json.loads(done.stdout)
    failing = [
        f"{row['id']} {row['phase']}.{row['goal']} {row['delta_pct']:+.2f}%"
        for row in data["experiments"]
        if row["fails_gate"]
    ]
    return done.returncode, failing, len(data["experiments"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="harness-aa-") as tmp:
        runs = []
        started = time.perf_counter()
        for index in range(args.runs):
            out = Path(tmp) / f"run-{index}.json"
            done = harness("run", "-j", str(args.jobs), "-o", str(out))
            if done.returncode != 0:
                sys.exit(f"run {index} failed:\n{done.stderr[-2000:]}")
            runs.append(out)
        print(
            f"{args.runs} runs of the bundled suite (defaults, -j {args.jobs}) in {time.perf_counter() - started:.0f} s"
        )
        pairs = list(itertools.permutations(runs, 2))
        failed = 0
        rows = 0
        for baseline, candidate in pairs:
            code, failing, judged = verdict_of(baseline, candidate)
            rows += judged
            if code != 0:
                failed += 1
                print(f"  A/A gate {baseline.stem} -> {candidate.stem} FAILED: {'; '.join(failing)}")
        print(f"A/A: {failed} of {len(pairs)} ordered pairs failed the gate ({rows} goal comparisons)")
        caught = 0
        for baseline, candidate in pairs:
            injected = Path(tmp) / f"{candidate.stem}-plus2.json"
            goals = inject(candidate, injected, 1.02)
            code, _, _ = verdict_of(baseline, injected, "--tolerance", "1")
            caught += code == 1
        print(
            f"injected +2 % into every exact goal ({goals} goals), --tolerance 1: {caught} of {len(pairs)} gates failed"
        )


if __name__ == "__main__":
    main()
