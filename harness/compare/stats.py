"""Δ mean % between a baseline and a candidate, with a confidence interval fit for a ratio.

The figure compared is, as in Datadog's SMP regression detector,

    Δ mean % = (mean candidate - mean baseline) / mean baseline * 100,

with a two-sided confidence interval (90 % unless told otherwise). Because the divisor is itself
an estimate, the interval is built for the *ratio* of means θ = μ_c / μ_b with Fieller's theorem
and then mapped to percent as 100 (θ - 1); dividing an interval for the difference by the
observed baseline mean would ignore the baseline's own uncertainty and cover too rarely.

Fieller's construction: θ is in the interval when the hypothesis μ_c - θ μ_b = 0 is not rejected
by a t test of the statistic ``mean(c) - θ mean(b)``. Squaring gives a quadratic inequality in θ;
when the baseline mean is not significantly different from zero the set is unbounded (or the
whole line), and the interval returned is then (-inf, +inf).

Nothing returned is ever NaN: zero variance, one trial and a zero baseline mean have defined
answers (see :func:`estimate_delta`), and input containing NaN or infinity raises ValueError.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

Samples: TypeAlias = Sequence[float] | npt.NDArray[np.floating[Any]]
"""Replicate values of one side: a list of floats or a 1-D numpy array."""

_Array: TypeAlias = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DeltaEstimate:
    """Δ mean % of candidate over baseline, its confidence interval and the summaries behind it.

    ``method`` says how the interval was obtained:

    * ``"paired"``: Fieller's interval on per-seed pairs (t with n - 1 degrees of freedom).
    * ``"welch"``: Fieller's interval for independent samples, Welch-Satterthwaite degrees of
      freedom.
    * ``"exact"``: both sides are constant, so the point is known exactly and the interval is
      [point, point].
    * ``"insufficient"``: a side has a single value and the other side varies; the point is
      returned with the interval (-inf, +inf).
    * ``"zero-baseline"``: the baseline mean is exactly zero but not every value is; Δ % is
      0 when the candidate mean is 0 too, else ±inf by the candidate's sign, and the interval
      is (-inf, +inf).

    A "paired" or "welch" interval is (-inf, +inf) when the baseline mean is not significantly
    different from zero at the requested confidence. ``ci_low_pct <= delta_pct <= ci_high_pct``
    always holds and no field is NaN. Means and sample sds (ddof=1; 0.0 for a single value)
    are in the metric's own unit.
    """

    delta_pct: float
    ci_low_pct: float
    ci_high_pct: float
    method: str
    n_baseline: int
    n_candidate: int
    baseline_mean: float
    candidate_mean: float
    baseline_sd: float
    candidate_sd: float


@dataclass(frozen=True)
class _Side:
    """One side's values rescaled by the shared power of two, and their summaries."""

    values: _Array
    mean: float
    var: float  # sample variance, ddof=1; exactly 0.0 for a constant side
    constant: bool


def _as_array(values: Samples, name: str) -> _Array:
    """The values as a 1-D float64 array; ValueError when empty, not 1-D or not all finite."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of numbers, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if not bool(np.all(np.isfinite(array))):
        raise ValueError(f"{name} contains NaN or infinity")
    return array


def _common_scale(*arrays: _Array) -> float:
    """A power of two near the largest magnitude, so that dividing by it is exact.

    Everything is computed on values divided by this scale: squares of byte counts near 1e200
    would otherwise overflow, and a power of two changes no bit of the ratio.
    """
    largest = max(float(np.max(np.abs(array))) for array in arrays)
    if largest == 0.0:
        return 1.0
    # frexp gives largest = m * 2**e with 0.5 <= m < 1; 2**(e-1) cannot overflow.
    return math.ldexp(1.0, math.frexp(largest)[1] - 1)


def _summarise(array: _Array, scale: float) -> _Side:
    values = array / scale
    if bool(np.all(values == values[0])):
        # The mean of n copies of 0.1 is not always 0.1 in floating point; a constant side
        # must compare exactly, so its mean is its value and its variance exactly zero.
        return _Side(values=values, mean=float(values[0]), var=0.0, constant=True)
    return _Side(
        values=values,
        mean=float(np.mean(values)),
        var=float(np.var(values, ddof=1)),
        constant=False,
    )


def _t_quantile(confidence: float, df: float) -> float:
    """The two-sided critical value of Student's t for the given confidence."""
    # Imported here, at the first interval: scipy takes most of a second to import, which a
    # pytest session holding tests to their limits (and never to an interval) should not pay.
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2.0, df))


def _fieller_offsets(a: float, b: float, c: float) -> tuple[float, float] | None:
    """Solve a·u² - 2·b·u - c <= 0 for the offset u = θ - θ̂ from the point ratio.

    ``c >= 0``, so when ``a > 0`` the solutions are a finite interval containing 0; when
    ``a <= 0`` they are unbounded and None is returned. The roots are taken in the form that
    does not subtract nearly equal numbers, so a very tight interval keeps its precision.
    """
    if not a > 0.0:
        return None
    root = math.sqrt(b * b + a * c)
    q = b + root if b >= 0.0 else b - root
    if q == 0.0:
        # b == 0 and c == 0: the statistic has no variance, the ratio is known exactly.
        return (0.0, 0.0)
    first, second = q / a, -c / q
    return (min(first, second), max(first, second))


def _paired_offsets(base: _Side, cand: _Side, ratio: float, confidence: float) -> tuple[float, float] | None:
    """Fieller's interval for μ_c/μ_b from per-seed pairs (b_i, c_i), as offsets from ``ratio``.

    Statistic: the mean of d_i(θ) = c_i - θ b_i over the n pairs, whose sample variance
    V(θ) = s_cc - 2θ s_bc + θ² s_bb uses the pairs' covariance, so a per-seed component shared by
    both sides cancels. Assumes the pairs are independent draws of a bivariate normal; then
    mean(d)/sqrt(V/n) is exactly t with n - 1 degrees of freedom at the true θ, and the
    interval's coverage is exact.

    Writing θ = ratio + u and e_i = c_i - ratio·b_i (the residuals at the point estimate, whose
    mean is 0) the inequality mean(d)² <= (t²/n)·V(θ) becomes
    (b̄² - q s_bb) u² - 2 (-q cov(b, e)) u - q var(e) <= 0 with q = t²/n; computing var(e) and
    cov(b, e) from residuals avoids the cancellation of expanding V.
    """
    n = base.values.size
    t = _t_quantile(confidence, n - 1)
    q = t * t / n
    residuals = cand.values - ratio * base.values
    centred_base = base.values - base.mean
    centred_resid = residuals - float(np.mean(residuals))
    cov_base_resid = float(np.dot(centred_base, centred_resid)) / (n - 1)
    var_resid = float(np.dot(centred_resid, centred_resid)) / (n - 1)
    return _fieller_offsets(
        base.mean * base.mean - q * base.var,
        -q * cov_base_resid,
        q * var_resid,
    )


def _welch_offsets(base: _Side, cand: _Side, ratio: float, confidence: float) -> tuple[float, float] | None:
    """Fieller's interval for μ_c/μ_b from independent samples, as offsets from ``ratio``.

    Statistic: c̄ - θ b̄ with variance v_c + θ² v_b (v = s²/n per side, variances not assumed
    equal). Its degrees of freedom come from Welch-Satterthwaite evaluated at the point ratio,
    df = (v_c + θ̂² v_b)² / (v_c²/(n_c - 1) + θ̂⁴ v_b²/(n_b - 1)), as in the usual
    "Fieller-Welch" interval (e.g. Tamhane & Logan 2004). Assumes independent, roughly normal
    replicates; coverage is then close to nominal, like Welch's test for a difference.

    With θ = ratio + u the inequality (c̄ - θ b̄)² <= t² (v_c + θ² v_b) becomes
    (b̄² - t² v_b) u² - 2 (t² θ̂ v_b) u - t² (v_c + θ̂² v_b) <= 0.
    """
    n_b, n_c = base.values.size, cand.values.size
    v_b, v_c = base.var / n_b, cand.var / n_c
    w_b = ratio * ratio * v_b
    # Share of the statistic's variance that the candidate contributes; with v_c == 0 all of it
    # is the baseline's (the limit of the formula), which also covers w_b == 0 there.
    share = v_c / (v_c + w_b) if v_c > 0.0 else 0.0
    df = 1.0 / (share * share / (n_c - 1) + (1.0 - share) ** 2 / (n_b - 1))
    t = _t_quantile(confidence, df)
    t2 = t * t
    return _fieller_offsets(
        base.mean * base.mean - t2 * v_b,
        t2 * ratio * v_b,
        t2 * (v_c + w_b),
    )


def estimate_delta(
    baseline: Samples,
    candidate: Samples,
    *,
    confidence: float = 0.9,
    paired: bool = False,
) -> DeltaEstimate:
    """Δ mean % of ``candidate`` over ``baseline`` with a ``confidence`` two-sided interval.

    ``paired=True`` says replicate i of both sides ran with the same seed: the sides must then
    have the same length, and the interval uses Fieller's theorem on the pairs (method
    ``"paired"``, exact coverage for bivariate-normal pairs). Otherwise the sides are taken as
    independent and the interval is Fieller's with Welch-Satterthwaite degrees of freedom (method
    ``"welch"``, approximately nominal coverage for roughly normal replicates). Either interval is
    (-inf, +inf) when the baseline mean is not significantly non-zero, since the ratio is then
    unbounded.

    Special cases, checked in this order, none of which yields NaN:

    * Both sides constant (every value equal; a single value counts as constant, so one trial
      per side of a deterministic metric is taken at face value): method ``"exact"`` with the
      interval [Δ, Δ]. Equal values give 0; a zero baseline gives ±inf by the candidate's sign.
    * Baseline mean exactly 0 with some spread: method ``"zero-baseline"``, Δ 0 when the
      candidate mean is 0 too, else ±inf by its sign, and interval (-inf, +inf).
    * A side with a single value while the other varies: method ``"insufficient"``, the point
      Δ with interval (-inf, +inf).

    A side with zero variance against one that varies needs no special case: Fieller's interval
    then only reflects the varying side (e.g. an exactly 0 candidate gives [-100, -100]).
    Raises ValueError for empty or non-finite input, a confidence outside (0, 1), or paired
    sides of different lengths.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    base_array = _as_array(baseline, "baseline")
    cand_array = _as_array(candidate, "candidate")
    if paired and base_array.size != cand_array.size:
        raise ValueError(
            f"paired samples need equal lengths, got {base_array.size} baseline and {cand_array.size} candidate values"
        )
    scale = _common_scale(base_array, cand_array)
    base, cand = _summarise(base_array, scale), _summarise(cand_array, scale)

    def result(delta: float, low: float, high: float, method: str) -> DeltaEstimate:
        return DeltaEstimate(
            delta_pct=delta,
            ci_low_pct=low,
            ci_high_pct=high,
            method=method,
            n_baseline=int(base_array.size),
            n_candidate=int(cand_array.size),
            baseline_mean=base.mean * scale,
            candidate_mean=cand.mean * scale,
            baseline_sd=math.sqrt(base.var) * scale,
            candidate_sd=math.sqrt(cand.var) * scale,
        )

    if base.constant and cand.constant:
        if cand.mean == base.mean:
            return result(0.0, 0.0, 0.0, "exact")
        if base.mean == 0.0:
            signed_inf = math.copysign(math.inf, cand.mean)
            return result(signed_inf, signed_inf, signed_inf, "exact")
        exact = 100.0 * (cand.mean - base.mean) / base.mean
        return result(exact, exact, exact, "exact")

    if base.mean == 0.0:
        delta = 0.0 if cand.mean == 0.0 else math.copysign(math.inf, cand.mean)
        return result(delta, -math.inf, math.inf, "zero-baseline")

    if paired and base_array.size >= 2 and bool(np.all(base_array != 0)):
        # Every seed changed by one and the same ratio (0 % for the same code): a figure that
        # depends on the seed but is deterministic for each. Fieller's interval is then the
        # point itself, or unbounded when the seeds' levels spread widely; the data leave no
        # doubt, so the point it is.
        ratios = cand_array / base_array
        if np.ptp(ratios) <= 1e-12 * abs(float(ratios[0])):
            exact = 100.0 * (float(ratios[0]) - 1.0)
            return result(exact, exact, exact, "exact")

    delta = 100.0 * (cand.mean - base.mean) / base.mean
    if base_array.size < 2 or cand_array.size < 2:
        return result(delta, -math.inf, math.inf, "insufficient")

    ratio = cand.mean / base.mean
    if paired:
        offsets, method = _paired_offsets(base, cand, ratio, confidence), "paired"
    else:
        offsets, method = _welch_offsets(base, cand, ratio, confidence), "welch"
    if offsets is None:
        return result(delta, -math.inf, math.inf, method)
    return result(delta, delta + 100.0 * offsets[0], delta + 100.0 * offsets[1], method)


def coefficient_of_variation(values: Samples) -> float:
    """Sample sd (ddof=1) over |mean|: 0.0 for constant values (or a single one), inf for a
    zero mean with spread. Raises ValueError for empty or non-finite input."""
    array = _as_array(values, "values")
    side = _summarise(array, _common_scale(array))
    if side.constant:
        return 0.0
    if side.mean == 0.0:
        return math.inf
    # Both figures carry the same scale, which cancels.
    return math.sqrt(side.var) / abs(side.mean)


def is_erratic(values: Samples, threshold: float) -> bool:
    """True when the replicates' coefficient of variation exceeds ``threshold`` (e.g. 0.1 for
    10 %), the sign that a metric is too noisy for a Δ % gate to mean much."""
    if not threshold >= 0.0:
        raise ValueError(f"threshold must be a non-negative number, got {threshold!r}")
    return coefficient_of_variation(values) > threshold
