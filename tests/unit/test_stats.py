"""Tests of harness.compare.stats: coverage of the Δ % intervals by simulation, and the exact cases."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from harness.compare.stats import (
    DeltaEstimate,
    coefficient_of_variation,
    estimate_delta,
    is_erratic,
)

Array = npt.NDArray[np.float64]
Generator = Callable[[np.random.Generator], tuple[Array, Array]]

DRAWS = 1000
TRUE_DELTA_PCT = 10.0


def _independent(rng: np.random.Generator) -> tuple[Array, Array]:
    """Baseline ~ N(1000, 30), candidate ~ N(1100, 30), 10 replicates each, independent."""
    return rng.normal(1000.0, 30.0, 10), rng.normal(1000.0 * 1.1, 30.0, 10)


def _shared_seed(rng: np.random.Generator) -> tuple[Array, Array]:
    """10 seeds whose workload size varies (sd 100) and affects both sides; noise sd 10 each.

    The candidate scales the per-seed figure by 1.1, so μ_c / μ_b = 1.1 exactly.
    """
    per_seed = 1000.0 + rng.normal(0.0, 100.0, 10)
    baseline = per_seed + rng.normal(0.0, 10.0, 10)
    candidate = 1.1 * per_seed + rng.normal(0.0, 10.0, 10)
    return baseline, candidate


def _simulate(generate: Generator, *, paired: bool, seed: int) -> tuple[float, float, list[DeltaEstimate]]:
    """Share of DRAWS 90 % intervals covering the true Δ, their median width, and the estimates."""
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(DRAWS):
        baseline, candidate = generate(rng)
        estimates.append(estimate_delta(baseline, candidate, paired=paired))
    covered = sum(e.ci_low_pct <= TRUE_DELTA_PCT <= e.ci_high_pct for e in estimates)
    width = float(np.median([e.ci_high_pct - e.ci_low_pct for e in estimates]))
    return covered / DRAWS, width, estimates


def _no_nan(estimate: DeltaEstimate) -> bool:
    return not any(isinstance(value, float) and math.isnan(value) for value in dataclasses.asdict(estimate).values())


# --- coverage --------------------------------------------------------------------------------


def test_unpaired_interval_covers_true_delta_at_nominal_rate() -> None:
    coverage, _, estimates = _simulate(_independent, paired=False, seed=20240601)
    assert {e.method for e in estimates} == {"welch"}
    assert 0.87 <= coverage <= 0.93, coverage


def test_paired_interval_covers_true_delta_at_nominal_rate() -> None:
    coverage, _, estimates = _simulate(_shared_seed, paired=True, seed=20240602)
    assert {e.method for e in estimates} == {"paired"}
    assert 0.87 <= coverage <= 0.93, coverage


def test_unpaired_coverage_with_unequal_sizes_and_spreads() -> None:
    # Welch's degrees of freedom matter here: 6 tight baseline values, 15 noisy candidate ones.
    def generate(rng: np.random.Generator) -> tuple[Array, Array]:
        return rng.normal(1000.0, 30.0, 6), rng.normal(1000.0 * 1.1, 120.0, 15)

    coverage, _, _ = _simulate(generate, paired=False, seed=20240603)
    assert 0.87 <= coverage <= 0.93, coverage


def test_pairing_narrows_the_interval_when_the_seed_component_dominates() -> None:
    _, paired_width, _ = _simulate(_shared_seed, paired=True, seed=20240604)
    _, unpaired_width, _ = _simulate(_shared_seed, paired=False, seed=20240604)
    assert paired_width < unpaired_width / 3, (paired_width, unpaired_width)


# --- the interval against direct computations ------------------------------------------------

BASELINE = [98.0, 102.0, 100.0, 97.0, 103.0, 101.0]
CANDIDATE = [108.0, 112.0, 109.0, 111.0, 115.0]


def test_unpaired_interval_matches_fieller_welch_computed_directly() -> None:
    b, c = np.array(BASELINE), np.array(CANDIDATE)
    mb, mc = b.mean(), c.mean()
    vb, vc = b.var(ddof=1) / b.size, c.var(ddof=1) / c.size
    r = mc / mb
    df = (vc + r**2 * vb) ** 2 / (vc**2 / (c.size - 1) + r**4 * vb**2 / (b.size - 1))
    t = stats.t.ppf(0.95, df)
    # (mc - θ mb)² = t² (vc + θ² vb), solved by the schoolbook quadratic formula.
    a, half_b, const = mb**2 - t**2 * vb, mb * mc, mc**2 - t**2 * vc
    root = math.sqrt(half_b**2 - a * const)
    low, high = (half_b - root) / a, (half_b + root) / a

    estimate = estimate_delta(BASELINE, CANDIDATE)
    assert estimate.method == "welch"
    assert estimate.delta_pct == pytest.approx((mc / mb - 1) * 100, rel=1e-12)
    assert estimate.ci_low_pct == pytest.approx((low - 1) * 100, rel=1e-9)
    assert estimate.ci_high_pct == pytest.approx((high - 1) * 100, rel=1e-9)
    assert (estimate.n_baseline, estimate.n_candidate) == (6, 5)
    assert estimate.baseline_mean == pytest.approx(mb)
    assert estimate.candidate_sd == pytest.approx(c.std(ddof=1))


def test_unpaired_bounds_are_where_scipys_welch_test_reaches_the_critical_value() -> None:
    # Fieller's interval inverts Welch's test of c against θ·b (df fixed at the point ratio).
    b, c = np.array(BASELINE), np.array(CANDIDATE)
    estimate = estimate_delta(b, c, confidence=0.95)
    df = stats.ttest_ind(c, (c.mean() / b.mean()) * b, equal_var=False).df
    critical = stats.t.ppf(0.975, df)
    for bound, sign in ((estimate.ci_low_pct, 1.0), (estimate.ci_high_pct, -1.0)):
        theta = 1 + bound / 100
        statistic = stats.ttest_ind(c, theta * b, equal_var=False).statistic
        assert statistic == pytest.approx(sign * critical, rel=1e-9)


def test_paired_bounds_are_where_scipys_paired_test_has_p_equal_alpha() -> None:
    rng = np.random.default_rng(7)
    b, c = _shared_seed(rng)
    estimate = estimate_delta(b, c, paired=True, confidence=0.9)
    for bound in (estimate.ci_low_pct, estimate.ci_high_pct):
        p_value = stats.ttest_rel(c, (1 + bound / 100) * b).pvalue
        assert p_value == pytest.approx(0.10, rel=1e-9)


def test_constant_baseline_reduces_to_the_one_sample_t_interval() -> None:
    # With a known baseline the ratio's interval is the candidate mean's t interval over it.
    candidate = [103.0, 99.0, 108.0, 104.0]
    interval = stats.ttest_1samp(candidate, 0.0).confidence_interval(0.9)
    for paired in (False, True):
        estimate = estimate_delta([100.0] * 4, candidate, paired=paired)
        assert estimate.ci_low_pct == pytest.approx(interval.low - 100, rel=1e-9)
        assert estimate.ci_high_pct == pytest.approx(interval.high - 100, rel=1e-9)


def test_interval_is_scale_free_even_near_float_limits() -> None:
    small = estimate_delta(BASELINE, CANDIDATE)
    huge = estimate_delta([v * 1e300 for v in BASELINE], [v * 1e300 for v in CANDIDATE])
    assert huge.ci_low_pct == pytest.approx(small.ci_low_pct, rel=1e-12)
    assert huge.ci_high_pct == pytest.approx(small.ci_high_pct, rel=1e-12)
    assert math.isfinite(huge.baseline_mean)
    assert math.isfinite(huge.candidate_sd)


# --- exact and degenerate cases --------------------------------------------------------------


def _triple(estimate: DeltaEstimate) -> tuple[float, float, float]:
    return estimate.delta_pct, estimate.ci_low_pct, estimate.ci_high_pct


@pytest.mark.parametrize("paired", [False, True])
def test_identical_constant_samples_are_exactly_zero(paired: bool) -> None:
    estimate = estimate_delta([4096.0] * 5, [4096.0] * 5, paired=paired)
    assert _triple(estimate) == (0.0, 0.0, 0.0)
    assert estimate.method == "exact"
    assert (estimate.baseline_sd, estimate.candidate_sd) == (0.0, 0.0)


def test_constant_floats_whose_mean_rounds_are_still_exactly_equal() -> None:
    estimate = estimate_delta([0.1] * 10, [0.1] * 10)
    assert _triple(estimate) == (0.0, 0.0, 0.0)
    assert estimate.baseline_mean == 0.1


@pytest.mark.parametrize("paired", [False, True])
def test_different_constant_samples_give_the_exact_point(paired: bool) -> None:
    estimate = estimate_delta([100.0] * 3, [110.0] * 3, paired=paired)
    assert _triple(estimate) == (10.0, 10.0, 10.0)
    assert estimate.method == "exact"


def test_single_values_are_taken_as_deterministic() -> None:
    estimate = estimate_delta([100.0], [110.0])
    assert _triple(estimate) == (10.0, 10.0, 10.0)
    assert estimate.method == "exact"


@pytest.mark.parametrize(("baseline", "candidate"), [([100.0], [110.0, 112.0]), ([100.0, 104.0], [110.0])])
def test_one_value_against_spread_is_insufficient(baseline: list[float], candidate: list[float]) -> None:
    estimate = estimate_delta(baseline, candidate)
    assert estimate.method == "insufficient"
    assert (estimate.ci_low_pct, estimate.ci_high_pct) == (-math.inf, math.inf)
    assert math.isfinite(estimate.delta_pct)


def test_identical_pairs_with_spread_are_zero_without_width() -> None:
    values = [1000.0, 1200.0, 900.0, 1100.0]
    estimate = estimate_delta(values, values, paired=True)
    assert _triple(estimate) == (0.0, 0.0, 0.0)
    assert estimate.method == "exact"  # every seed changed by the same ratio (here 1)


def test_constant_paired_difference_still_carries_the_baselines_uncertainty() -> None:
    # c_i = b_i + 20 exactly: the difference is known, but Δ % divides by an estimated mean.
    baseline = [1000.0, 1200.0, 900.0, 1100.0]
    estimate = estimate_delta(baseline, [v + 20.0 for v in baseline], paired=True)
    assert estimate.delta_pct == pytest.approx(20.0 / 1050.0 * 100)
    assert 0.0 < estimate.ci_low_pct < estimate.delta_pct < estimate.ci_high_pct < 10.0


def test_zero_candidate_is_exactly_minus_100_percent() -> None:
    for paired in (False, True):
        estimate = estimate_delta([10.0, 12.0, 11.0], [0.0, 0.0, 0.0], paired=paired)
        assert _triple(estimate) == (-100.0, -100.0, -100.0)


def test_zero_baseline() -> None:
    assert _triple(estimate_delta([0.0, 0.0], [0.0, 0.0])) == (0.0, 0.0, 0.0)
    assert _triple(estimate_delta([0.0, 0.0], [5.0, 5.0])) == (math.inf,) * 3
    assert _triple(estimate_delta([0.0], [-5.0])) == (-math.inf,) * 3

    spread = estimate_delta([0.0, 0.0], [4.0, 6.0])
    assert spread.method == "zero-baseline"
    assert _triple(spread) == (math.inf, -math.inf, math.inf)
    both_zero_means = estimate_delta([-1.0, 1.0], [-2.0, 2.0])
    assert _triple(both_zero_means) == (0.0, -math.inf, math.inf)


def test_baseline_indistinguishable_from_zero_gives_an_unbounded_interval() -> None:
    estimate = estimate_delta([0.1, -0.05, 0.2, -0.1], [1.0, 2.0, 1.5])
    assert estimate.method == "welch"
    assert math.isfinite(estimate.delta_pct)
    assert (estimate.ci_low_pct, estimate.ci_high_pct) == (-math.inf, math.inf)


EDGE_CASES: list[tuple[list[float], list[float], bool]] = [
    ([1.0], [1.0], False),
    ([1.0], [2.0], True),
    ([0.0], [0.0], False),
    ([0.0], [1.0, 2.0], False),
    ([0.0, 0.0], [0.0, 1.0], True),
    ([1.0, 2.0], [0.0], False),
    ([5.0, 5.0, 5.0], [5.0, 6.0, 7.0], False),
    ([5.0, 6.0, 7.0], [5.0, 5.0, 5.0], True),
    ([-3.0, -2.0, -4.0], [-3.5, -2.5, -4.5], False),
    ([1e-300, 2e-300], [1.0, 2.0], False),
    ([1e300, -1e300, 1.5e300], [1e300, 1.7e308], False),
    ([5e-324, 5e-324], [1.0, 1.0], False),
]


@pytest.mark.parametrize(("baseline", "candidate", "paired"), EDGE_CASES)
def test_no_nan_escapes(baseline: list[float], candidate: list[float], paired: bool) -> None:
    estimate = estimate_delta(baseline, candidate, paired=paired)
    assert _no_nan(estimate), estimate
    assert estimate.ci_low_pct <= estimate.delta_pct <= estimate.ci_high_pct


@pytest.mark.parametrize(
    ("baseline", "candidate"),
    [([1.0, math.nan], [1.0, 2.0]), ([1.0, 2.0], [math.nan]), ([1.0, math.inf], [1.0, 2.0])],
)
def test_non_finite_input_raises(baseline: list[float], candidate: list[float]) -> None:
    with pytest.raises(ValueError, match="NaN or infinity"):
        estimate_delta(baseline, candidate)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="empty"):
        estimate_delta([], [1.0])
    with pytest.raises(ValueError, match="equal lengths"):
        estimate_delta([1.0, 2.0], [1.0, 2.0, 3.0], paired=True)
    for confidence in (0.0, 1.0, 1.5, math.nan):
        with pytest.raises(ValueError, match="confidence"):
            estimate_delta([1.0, 2.0], [1.0, 2.0], confidence=confidence)


def test_higher_confidence_gives_a_wider_interval() -> None:
    narrow = estimate_delta(BASELINE, CANDIDATE, confidence=0.8)
    wide = estimate_delta(BASELINE, CANDIDATE, confidence=0.99)
    assert wide.ci_low_pct < narrow.ci_low_pct < narrow.ci_high_pct < wide.ci_high_pct


def test_estimate_is_frozen() -> None:
    estimate = estimate_delta([1.0], [1.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        estimate.delta_pct = 1.0  # type: ignore[misc]


# --- spread ----------------------------------------------------------------------------------


def test_coefficient_of_variation() -> None:
    assert coefficient_of_variation([1.0, 2.0, 3.0]) == pytest.approx(0.5)
    assert coefficient_of_variation([-1.0, -2.0, -3.0]) == pytest.approx(0.5)
    assert coefficient_of_variation([7.0, 7.0, 7.0]) == 0.0
    assert coefficient_of_variation([0.1] * 10) == 0.0
    assert coefficient_of_variation([7.0]) == 0.0
    assert coefficient_of_variation([-1.0, 1.0]) == math.inf
    with pytest.raises(ValueError, match="empty"):
        coefficient_of_variation([])
    with pytest.raises(ValueError, match="NaN"):
        coefficient_of_variation([1.0, math.nan])


def test_is_erratic() -> None:
    assert is_erratic([1.0, 2.0, 3.0], 0.1)
    assert not is_erratic([100.0, 101.0, 99.0], 0.1)
    assert not is_erratic([5.0, 5.0], 0.0)
    with pytest.raises(ValueError, match="threshold"):
        is_erratic([1.0, 2.0], -0.1)


def test_the_same_ratio_on_every_seed_is_exact_however_far_apart_the_seeds() -> None:
    # A figure that depends on the seed but is deterministic for each: levels 1, 8, 27 spread
    # so widely that Fieller's interval would be unbounded, yet every pair says +10 %.
    baseline = [1.0, 8.0, 27.0]
    estimate = estimate_delta(baseline, [v * 1.1 for v in baseline], paired=True)
    assert estimate.method == "exact"
    assert _triple(estimate) == pytest.approx((10.0, 10.0, 10.0))
    # One seed off by a little: back to Fieller, and a real interval around the point.
    estimate = estimate_delta([*baseline, 64.0], [1.1, 8.8, 29.7, 70.0], paired=True)
    assert estimate.method == "paired" and estimate.ci_low_pct < estimate.delta_pct < estimate.ci_high_pct
