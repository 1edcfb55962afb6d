"""Change points of a noisy figure (time) along a history: where its level moved for real.

Adjacent means of a timing goal differ at every commit, so the steps of time cannot be "any
change". They are found in two stages:

1. **Candidates**, by PELT (``ruptures``) on the series of per-commit means with the l2
   cost and a penalty of ``3 σ² log T`` (T commits). A change of mean in Gaussian noise
   lowers the l2 cost by about ``σ² χ²₁``, whose largest of T chances is near
   ``2 σ² log T``; the factor 3 keeps pure noise from passing. σ² is the noise of one
   commit's mean, the larger of two estimates: the replicates' pooled variance over their
   number, and the robust spread of adjacent means (the median absolute difference, scaled
   to a standard deviation). The second matters: a commit's replicates run back to back, so
   a machine busier for one commit than the next moves all of them together, and their own
   spread understates the noise between commits.
2. **Confirmation**: each candidate's two neighbouring segments (the commits between the
   previous and next change points) are compared with Welch's interval over their commits'
   means at the gate's confidence, the commit being the unit whose noise is independent.
   The change is kept only when the interval excludes 0 and the point is beyond the
   tolerance, the gate's own rule for a regression or an improvement. A segment of one
   commit cannot confirm a change, so a step at the newest commit shows once a commit
   follows it.

PELT was chosen over E-Divisive (apache-otava, signal-processing-algorithms) because
ruptures is a small, maintained library whose only dependencies (numpy, scipy) harness
already has, while otava pins numpy and scipy to single releases and pulls in cloud
clients, and signal-processing-algorithms supports CPython 3.11 only. ruptures declares
CPython < 3.14; where it is not installed, :func:`change_points` raises
:class:`ChangePointsUnavailable` and the history says so instead of guessing.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from harness.compare.stats import DeltaEstimate, estimate_delta

#: Below this many measured commits, a change point cannot be told from noise.
MIN_COMMITS = 4
PENALTY_FACTOR = 3.0


class ChangePointsUnavailable(RuntimeError):
    """The change-point library is not installed on this interpreter."""


@dataclass(frozen=True)
class ChangePoint:
    """The level changed at ``index`` (the first commit of the new level), by ``estimate``."""

    index: int
    estimate: DeltaEstimate


def _noise_of_means(samples: Sequence[Sequence[float]], means: Sequence[float]) -> float:
    """The variance of one commit's mean: from each commit's replicates, or from the spread of
    adjacent means when that is larger (see the module docstring)."""
    pooled = [(statistics.variance(s), len(s)) for s in samples if len(s) > 1]
    within = 0.0
    if pooled:
        degrees = sum(n - 1 for _, n in pooled)
        variance = sum(v * (n - 1) for v, n in pooled) / degrees
        within = variance / statistics.fmean(n for _, n in pooled)
    # For Gaussian noise, median |m[i+1] - m[i]| is 0.6745 * sqrt(2) * sigma.
    between = (statistics.median(abs(b - a) for a, b in itertools.pairwise(means)) / (0.6745 * math.sqrt(2))) ** 2
    return max(within, between)


def _candidates(means: Sequence[float], noise: float) -> list[int]:
    try:
        import numpy as np
        import ruptures
    except ImportError:
        raise ChangePointsUnavailable("ruptures is not installed on this interpreter") from None
    signal = np.asarray(means, dtype=float).reshape(-1, 1)
    # A floor, so that a series whose replicates happened to agree exactly is not all change points.
    floor = (1e-6 * statistics.fmean(abs(m) for m in means)) ** 2
    penalty = PENALTY_FACTOR * max(noise, floor) * math.log(len(means))
    ends = ruptures.Pelt(model="l2", min_size=1, jump=1).fit(signal).predict(pen=penalty)
    return [int(end) for end in ends[:-1]]


def change_points(samples: Sequence[Sequence[float]], *, confidence: float, tolerance_pct: float) -> list[ChangePoint]:
    """The confirmed change points of a series given as each commit's replicate values, oldest first."""
    if len(samples) < MIN_COMMITS or any(not s for s in samples):
        return []
    means = [statistics.fmean(s) for s in samples]
    cuts = _candidates(means, _noise_of_means(samples, means))
    edges = [0, *cuts, len(samples)]
    confirmed = []
    for before, cut, after in zip(edges, edges[1:], edges[2:], strict=False):
        left, right = means[before:cut], means[cut:after]
        if len(left) < 2 or len(right) < 2:
            continue
        estimate = estimate_delta(left, right, confidence=confidence)
        significant = estimate.ci_low_pct > 0 or estimate.ci_high_pct < 0
        if significant and abs(estimate.delta_pct) > tolerance_pct:
            confirmed.append(ChangePoint(cut, estimate))
    return confirmed
