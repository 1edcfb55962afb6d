"""Change points of time along a history: a real shift is found at its commit, noise is not."""

from __future__ import annotations

import importlib.util
import random

import pytest

from harness.compare.changepoints import MIN_COMMITS, ChangePointsUnavailable, change_points

HAS_RUPTURES = importlib.util.find_spec("ruptures") is not None


def series(rng: random.Random, commits: int, shift_at: int | None, shift: float, sd: float = 0.03) -> list[list[float]]:
    """Three replicates a commit around 1.0 (seconds), the level ``1 + shift`` from ``shift_at`` on."""
    level = [1.0 + (shift if shift_at is not None and i >= shift_at else 0.0) for i in range(commits)]
    return [[rng.gauss(mean, sd) for _ in range(3)] for mean in level]


@pytest.mark.skipif(not HAS_RUPTURES, reason="ruptures does not install on this CPython")
def test_a_shift_is_found_at_its_commit_with_an_interval_around_it() -> None:
    found = change_points(series(random.Random(7), 30, 12, 0.25), confidence=0.9, tolerance_pct=5)
    assert [point.index for point in found] == [12]
    estimate = found[0].estimate
    assert estimate.method == "welch"
    assert estimate.ci_low_pct < 25 < estimate.ci_high_pct and estimate.ci_low_pct > 5


@pytest.mark.skipif(not HAS_RUPTURES, reason="ruptures does not install on this CPython")
def test_noise_and_a_change_below_the_tolerance_are_not_change_points() -> None:
    rng = random.Random(11)
    assert change_points(series(rng, 30, None, 0.0), confidence=0.9, tolerance_pct=5) == []
    # A real but small shift (2%) is below the gate's tolerance of 5%.
    assert change_points(series(rng, 30, 15, 0.02, sd=0.002), confidence=0.9, tolerance_pct=5) == []


def test_a_history_too_short_has_no_change_points() -> None:
    short = series(random.Random(3), MIN_COMMITS - 1, 1, 1.0)
    assert change_points(short, confidence=0.9, tolerance_pct=5) == []


@pytest.mark.skipif(HAS_RUPTURES, reason="ruptures is installed here")
def test_without_ruptures_the_history_is_told_why_time_has_no_steps() -> None:
    with pytest.raises(ChangePointsUnavailable, match="ruptures is not installed"):
        change_points(series(random.Random(5), 10, 5, 0.5), confidence=0.9, tolerance_pct=5)
