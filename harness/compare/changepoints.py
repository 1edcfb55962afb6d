"""Candidate change points of a noisy figure (time) along a history: where its level may have moved.

Adjacent means of a timing goal differ at every commit, so the steps of time cannot be "any
change". They are found in two stages:

1. **Cuts**, by PELT (``ruptures``) on the series of each commit's level, the median of its
   replicates, with the l2 cost and a penalty of ``3 σ² log T`` (T commits). A change of
   level in Gaussian noise lowers the l2 cost by about ``σ² χ²₁``, whose largest of T
   chances is near ``2 σ² log T``; the factor 3 keeps pure noise from passing. σ² is the
   noise of one commit's level, the larger of two estimates: the median of the commits'
   variances (times π/2 over the replicates, a median's), and the robust spread of adjacent
   levels (the median absolute difference, scaled to a standard deviation). The second
   matters: a commit's replicates run back to back, so a machine busier for one commit than
   the next moves all of them together, and their own spread understates the noise between
   commits. Medians throughout, because load makes single replicates slow: one trial that
   met a burst must neither move its commit's level nor inflate the noise so much that a
   threefold change of a short history goes unseen.
2. **A level that moved beyond the tolerance**: a cut is a candidate only when the mean
   levels of the two segments around it (the commits between the previous and next cuts) differ by at
   least the gate's tolerance. A segment may be a single commit, so a step at the newest
   commit, or between two commits of a sampled history, is a candidate too.

These are candidates, never steps: commits measured minutes or hours apart saw different
loads, and nothing in their figures tells a slower commit from a busier machine. A history
reports a candidate only after it is confirmed by measuring its two commits again,
interleaved in one run, and judging them by the gate's own rule (:mod:`harness.commits.confirm`).

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

from harness.errors import ChangePointsUnavailable

#: Below this many measured commits, a change point cannot be told from noise.
MIN_COMMITS = 4
PENALTY_FACTOR = 3.0


@dataclass(frozen=True)
class ChangePoint:
    """The level may have moved at ``index`` (the first commit of the new level), from
    ``before`` to ``after``, the mean levels of the segments around it."""

    index: int
    before: float
    after: float

    @property
    def delta_pct(self) -> float:
        return (self.after / self.before - 1.0) * 100.0 if self.before else math.inf


def _noise_of_levels(samples: Sequence[Sequence[float]], levels: Sequence[float]) -> float:
    """The variance of one commit's level: from each commit's replicates, or from the spread of
    adjacent levels when that is larger (see the module docstring)."""
    spread = [statistics.variance(s) * math.pi / 2 / len(s) for s in samples if len(s) > 1]
    within = statistics.median(spread) if spread else 0.0
    # For Gaussian noise, median |m[i+1] - m[i]| is 0.6745 * sqrt(2) * sigma.
    between = (statistics.median(abs(b - a) for a, b in itertools.pairwise(levels)) / (0.6745 * math.sqrt(2))) ** 2
    return max(within, between)


def _cuts(levels: Sequence[float], noise: float) -> list[int]:
    try:
        import numpy as np
        import ruptures
    except ImportError:
        raise ChangePointsUnavailable("ruptures is not installed on this interpreter") from None
    signal = np.asarray(levels, dtype=float).reshape(-1, 1)
    # A floor, so that a series whose replicates happened to agree exactly is not all change points.
    floor = (1e-6 * statistics.fmean(abs(m) for m in levels)) ** 2
    penalty = PENALTY_FACTOR * max(noise, floor) * math.log(len(levels))
    ends = ruptures.Pelt(model="l2", min_size=1, jump=1).fit(signal).predict(pen=penalty)
    return [int(end) for end in ends[:-1]]


def change_points(samples: Sequence[Sequence[float]], *, tolerance_pct: float) -> list[ChangePoint]:
    """The candidate change points of a series given as each commit's replicate values, oldest first."""
    if len(samples) < MIN_COMMITS or any(not s for s in samples):
        return []
    levels = [statistics.median(s) for s in samples]
    cuts = _cuts(levels, _noise_of_levels(samples, levels))
    edges = [0, *cuts, len(samples)]
    found = []
    for before, cut, after in zip(edges, edges[1:], edges[2:], strict=False):
        point = ChangePoint(cut, statistics.fmean(levels[before:cut]), statistics.fmean(levels[cut:after]))
        if abs(point.delta_pct) >= tolerance_pct:
            found.append(point)
    return found
