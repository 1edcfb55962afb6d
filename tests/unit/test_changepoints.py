"""Candidate change points of time along a history: a real shift is one at its commit, noise is not.

A candidate is not a step yet: the history confirms it by measuring again (tests/end_to_end/test_history_time.py).
"""

from __future__ import annotations

import importlib.util
import random

import pytest

from harness.compare.changepoints import MIN_COMMITS, change_points
from harness.errors import ChangePointsUnavailable

HAS_RUPTURES = importlib.util.find_spec("ruptures") is not None


def series(rng: random.Random, commits: int, shift_at: int | None, shift: float, sd: float = 0.03) -> list[list[float]]:
    """Three replicates a commit around 1.0 (seconds), the level ``1 + shift`` from ``shift_at`` on."""
    level = [1.0 + (shift if shift_at is not None and i >= shift_at else 0.0) for i in range(commits)]
    return [[rng.gauss(mean, sd) for _ in range(3)] for mean in level]


@pytest.mark.skipif(not HAS_RUPTURES, reason="ruptures does not install on this CPython")
def test_a_shift_is_found_at_its_commit_with_the_levels_around_it() -> None:
    found = change_points(series(random.Random(7), 30, 12, 0.25), tolerance_pct=5)
    assert [point.index for point in found] == [12]
    assert 0.97 < found[0].before < 1.03 and 1.22 < found[0].after < 1.28
    assert 20 < found[0].delta_pct < 30


@pytest.mark.skipif(not HAS_RUPTURES, reason="ruptures does not install on this CPython")
def test_a_step_of_a_short_sampled_history_is_found_despite_one_slow_replicate() -> None:
    # Four sampled commits, the time tripled from the third; one trial of it met a burst of
    # load. Means and pooled variances let that one trial hide the step; medians do not.
    samples = [[1.0, 1.02, 0.99], [1.01, 0.98, 1.0], [3.0, 9.0, 3.01], [3.02, 2.99, 3.0]]
    assert [point.index for point in change_points(samples, tolerance_pct=5)] == [2]


@pytest.mark.skipif(not HAS_RUPTURES, reason="ruptures does not install on this CPython")
def test_a_step_at_the_newest_commit_is_a_candidate() -> None:
    found = change_points(series(random.Random(5), 10, 9, 1.0), tolerance_pct=5)
    assert [point.index for point in found] == [9]


@pytest.mark.skipif(not HAS_RUPTURES, reason="ruptures does not install on this CPython")
def test_noise_and_a_change_below_the_tolerance_are_not_change_points() -> None:
    rng = random.Random(11)
    assert change_points(series(rng, 30, None, 0.0), tolerance_pct=5) == []
    # A real but small shift (2%) is below the gate's tolerance of 5%.
    assert change_points(series(rng, 30, 15, 0.02, sd=0.002), tolerance_pct=5) == []


def test_a_history_too_short_has_no_change_points() -> None:
    short = series(random.Random(3), MIN_COMMITS - 1, 1, 1.0)
    assert change_points(short, tolerance_pct=5) == []


@pytest.mark.skipif(HAS_RUPTURES, reason="ruptures is installed here")
def test_without_ruptures_the_history_is_told_why_time_has_no_steps() -> None:
    with pytest.raises(ChangePointsUnavailable, match="ruptures is not installed"):
        change_points(series(random.Random(5), 10, 5, 0.5), tolerance_pct=5)
