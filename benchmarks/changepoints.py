"""How often the candidate change points of time cry wolf, and how often they find a real shift.

Every candidate costs a confirmation (its two commits measured again, interleaved, 2 x 10
trials; harness/commits/confirm.py), which is what makes it a step or not: the share of
flat histories with a candidate is the share that pays for one.

Simulated timing histories of 30 commits, 3 replicates a commit, each replicate Gaussian
around its commit's level with a coefficient of variation of 5% (about what the bundled
suite's timing goals show on these machines). Prints, at the gate's defaults (confidence
0.9, tolerance 5%):

* the share of flat histories with any candidate (a confirmation each pays for);
* the same where each commit's replicates also share a load factor (CV 10%): a machine
  busier for one commit than the next, which the replicates' own spread does not show;
* the share of histories with a +20% step at commit 15 where exactly that commit is found;
* the share with a +6% step (just over the tolerance) where commit 15 is among those found.

    python benchmarks/changepoints.py [--histories 500] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.compare.changepoints import change_points

COMMITS, REPLICATES, CV, AT = 30, 3, 0.05, 15


def history(rng: random.Random, shift: float, load_cv: float = 0.0) -> list[list[float]]:
    out = []
    for i in range(COMMITS):
        level = (1.0 + (shift if i >= AT else 0.0)) * rng.gauss(1.0, load_cv)
        out.append([rng.gauss(level, CV) for _ in range(REPLICATES)])
    return out


def found(rng: random.Random, shift: float, load_cv: float = 0.0) -> list[int]:
    samples = history(rng, shift, load_cv)
    return [point.index for point in change_points(samples, tolerance_pct=5.0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--histories", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng, n = random.Random(args.seed), args.histories
    flat = sum(1 for _ in range(n) if found(rng, 0.0))
    loaded = sum(1 for _ in range(n) if found(rng, 0.0, load_cv=0.10))
    exact = sum(1 for _ in range(n) if found(rng, 0.20) == [AT])
    small = sum(1 for _ in range(n) if AT in found(rng, 0.06))
    print(f"{n} simulated histories each: {COMMITS} commits, {REPLICATES} replicates, CV {CV:.0%}")
    print(f"  flat history, any candidate:           {flat:4d}/{n} = {flat / n:6.1%}")
    print(f"  flat, load CV 10% per commit, any:     {loaded:4d}/{n} = {loaded / n:6.1%}")
    print(f"  +20% at commit {AT}, exactly that one:  {exact:4d}/{n} = {exact / n:6.1%}")
    print(f"  +6% at commit {AT}, found there:        {small:4d}/{n} = {small / n:6.1%}")


if __name__ == "__main__":
    main()
