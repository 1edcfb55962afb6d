"""Comparing a candidate with a baseline: per-goal decisions, bounds checks, the verdict.

The rule (DESIGN.md, after Datadog's SMP regression detector): for each experiment, phase and
goal metric, Δ mean % of the candidate over the baseline and its confidence interval come from
:func:`harness.compare.stats.estimate_delta`, paired by seed when both sides ran the same seeds. The
row is a ``regression`` when the change is in the metric's bad direction, ``|Δ| >= tolerance``
and the interval excludes zero; an ``improvement`` under the same conditions in the good
direction; else ``no_change``. Erratic rows (coefficient of variation above ``erratic_cv`` on
either side, or marked by the user) keep their decision but do not gate. Bounds checks are
absolute limits every candidate replicate must meet.

Nothing unmeasured passes. The gate always fails on an experiment whose trials failed on
either side (its rows are ``failed``, with the side that failed; a failed baseline is never
read as ``new``), on a candidate with no finished trial at all, and on an interrupted
candidate run. It fails on a gating regression, a failed bounds check and an experiment the
baseline has and the candidate lacks (``missing``) as ``gates`` selects: all three unless the
user leaves some out (``--allow-missing`` leaves out ``missing``). ``reasons`` holds one line
per cause: per failed side of an experiment, per regressed goal, per failed bounds check.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from harness.compare.movers import explained
from harness.compare.noise import NOISY_REPLICATES, marked_erratic, noise, too_noisy
from harness.compare.stats import estimate_delta
from harness.compare.unmeasured import SideFailure, failed_side, side_failures, unmeasured_reasons
from harness.compare.verdict import BoundCheck, Decision, ExperimentVerdict, FailedSide, Verdict
from harness.declare.config import BOUNDS, GATES, MISSING, REGRESSIONS, ConfiguredBound, parse_bounds
from harness.declare.metrics import METRICS, metric
from harness.declare.selection import check_patterns, matches, matches_any
from harness.declare.spec import Bound, Goal
from harness.errors import ConfigError, EnvironmentMismatch, MetricNotMeasured
from harness.store.environment import BaselineInfo
from harness.store.results import ExperimentInfo, PhaseResult, Results, TrialResult
from harness.store.sites import Roots

if TYPE_CHECKING:
    from harness.declare.config import Settings


@dataclass(frozen=True)
class GateOptions:
    """How to judge: the settings of a gate (see :meth:`from_settings`)."""

    confidence: float = 0.9
    tolerance_pct: float = 5.0
    erratic_cv: float = 0.1
    #: Marked erratic by the user: experiment ids, globs or substrings, each optionally with
    #: ``:phase.metric`` or ``:metric`` to mark one goal only (``"flow_table.flood*:lookup.wall_s_per_op"``).
    erratic: tuple[str, ...] = ()
    #: ``{experiment pattern: {"phase.metric": limit}}`` from ``[tool.harness] bounds``.
    bounds: Mapping[str, Mapping[str, str | int | float]] = field(default_factory=dict)
    gates: tuple[str, ...] = GATES
    #: Only these experiments (ids, globs or substrings); all when empty.
    patterns: tuple[str, ...] = ()
    allow_env_mismatch: bool = False
    top_sites: int = 5
    #: Replicates each side needs before a goal whose figures are noisy (time, resident
    #: memory) can fail the gate; with fewer, its row is shown as erratic.
    noisy_replicates: int = NOISY_REPLICATES

    @functools.cached_property
    def configured_bounds(self) -> tuple[ConfiguredBound, ...]:
        """:attr:`bounds` parsed, once for all experiments; :class:`ConfigError` where they do not parse."""
        return parse_bounds(self.bounds)

    @classmethod
    def from_settings(cls, settings: Settings, *, allow_missing: bool = False, **changes: Any) -> GateOptions:
        """The options of a project's settings, with ``changes`` (``None`` values ignored) on
        top; ``allow_missing`` (``--allow-missing``) takes :data:`MISSING` out of the gates."""
        options = cls(
            confidence=settings.confidence,
            tolerance_pct=settings.tolerance_pct,
            erratic_cv=settings.erratic_cv,
            erratic=tuple(settings.erratic),
            bounds=settings.bounds,
            gates=tuple(settings.gate),
        )
        given = {k: v for k, v in changes.items() if v is not None}
        chosen = cls(**{**options.__dict__, **given})
        if allow_missing:
            chosen = replace(chosen, gates=tuple(g for g in chosen.gates if g != MISSING))
        return chosen


def compare(
    baseline: Results,
    candidate: Results,
    options: GateOptions | None = None,
    *,
    baseline_info: BaselineInfo | None = None,
) -> Verdict:
    """The verdict on ``candidate`` against ``baseline`` (see the module docstring for the rule).

    Rows come in the candidate's experiment order, then experiments only the baseline has
    (``missing``). Raises :class:`EnvironmentMismatch` unless ``allow_env_mismatch``,
    :class:`SelectionError` for a pattern that matches no experiment of either side,
    :class:`MetricNotMeasured` for a goal or bound metric a side did not measure, and
    :class:`~harness.errors.DeclarationError` or :class:`ConfigError` for a bad bound.
    """
    opts = options or GateOptions()
    bad_gates = set(opts.gates) - set(GATES)
    if bad_gates:
        raise ConfigError(f"unknown gate {sorted(bad_gates)}; choose from {', '.join(GATES)}")
    if not opts.allow_env_mismatch:
        differ = baseline.environment.mismatches(candidate.environment)
        if differ:
            raise EnvironmentMismatch(
                f"baseline and candidate ran in different environments ({'; '.join(differ)}), so their allocation"
                " figures are not comparable; re-make the baseline here, or pass --allow-env-mismatch"
            )
    base_infos = {e.id: e for e in baseline.experiments}
    cand_infos = {e.id: e for e in candidate.experiments}
    ids = list(cand_infos) + [i for i in base_infos if i not in cand_infos]
    check_patterns(ids, opts.patterns, "no experiment of the baseline or the results matches {pattern!r}")
    ids = [i for i in ids if matches_any(i, opts.patterns)]
    roots = (baseline.environment.roots, candidate.environment.roots)
    rows: list[ExperimentVerdict] = []
    failures: list[SideFailure] = []
    for experiment_id in ids:
        base_info, cand_info = base_infos.get(experiment_id), cand_infos.get(experiment_id)
        failed = side_failures(base_info, cand_info, baseline, candidate)
        failures += failed
        rows.extend(_judge_experiment(base_info, cand_info, baseline, candidate, opts, roots, failed))
    reasons = unmeasured_reasons(candidate, failures, ids) + _reasons(rows, opts.gates, set(cand_infos))
    return Verdict(
        passed=not reasons,
        confidence=opts.confidence,
        tolerance_pct=opts.tolerance_pct,
        baseline=baseline.environment.with_baseline(baseline_info),
        candidate=candidate.environment,
        experiments=tuple(rows),
        erratic_cv=opts.erratic_cv,
        gates=tuple(opts.gates),
        reasons=tuple(reasons),
    )


def _reasons(rows: Sequence[ExperimentVerdict], gates: Sequence[str], declared: set[str]) -> list[str]:
    """One line per cause of failure in the rows, in row order (failed sides aside)."""
    reasons = []
    for row in rows:
        if not row.fails_gate(tuple(gates)):
            continue
        if row.decision == "missing":
            # A whole experiment the candidate lacks is one reason; a phase it no longer has, one per goal.
            what = row.id if row.id not in declared else f"{row.id} {row.phase}.{row.goal}"
            reasons.append(f"{what}: missing in the candidate (--allow-missing lets it pass)")
        elif row.regressed and REGRESSIONS in gates:
            reasons.append(f"{row.id} {row.phase}.{row.goal}: regression {row.change_text()}")
        if BOUNDS in gates:
            for check in row.bounds:
                if not check.passed:
                    reasons.append(
                        f"{row.id}, bounds check {check.name}: "
                        f"{check.replicates_passed}/{check.replicates} replicates passed"
                    )
    # An experiment has one row per phase and goal; its failure or absence is one reason.
    return list(dict.fromkeys(reasons))


def _goal_phases(goal: Goal, trials: Sequence[TrialResult]) -> list[str]:
    if goal.phase is not None:
        return [goal.phase]
    return list(dict.fromkeys(p.name for t in trials for p in t.phases))


def _values(
    trials: Sequence[TrialResult], phase: str, name: str, side: str, experiment_id: str, backend: str
) -> dict[int, float]:
    """The metric of ``phase`` per seed, over the trials that measured the phase."""
    values: dict[int, float] = {}
    for trial in trials:
        result = trial.phase(phase)
        if result is None:
            continue
        if name not in result.metrics:
            raise MetricNotMeasured(
                f"{experiment_id}: goal {phase}.{name} was not measured in the {side} "
                f"(backend {backend} does not measure it; try --backend memray or another goal)"
            )
        value = result.metrics[name]
        if value is None:
            raise MetricNotMeasured(
                f"{experiment_id}: goal {phase}.{name} has no value in the {side}: "
                f"the workload declared no operations in phase {phase!r} (call trial.ops(n))"
            )
        values[trial.seed] = float(value)
    return values


def _judge_experiment(
    base_info: ExperimentInfo | None,
    cand_info: ExperimentInfo | None,
    baseline: Results,
    candidate: Results,
    opts: GateOptions,
    roots: tuple[Roots, Roots],
    failures: Sequence[SideFailure],
) -> list[ExperimentVerdict]:
    """The rows of one experiment: one per phase and goal, bounds attached to one row each."""
    info = cand_info or base_info
    assert info is not None
    base_trials = [t for t in baseline.trials_of(info.id) if t.ok] if base_info else []
    cand_all = candidate.trials_of(info.id) if cand_info else []
    cand_trials = [t for t in cand_all if t.ok]
    failed = (failed_side(failures), "; ".join(f.line for f in failures)) if failures else None
    base_backend = str(baseline.environment.backend)
    cand_backend = str(candidate.environment.backend)
    rows: list[ExperimentVerdict] = []
    for goal in info.goals:
        phases = _goal_phases(goal, cand_trials or base_trials) or ["-"]
        for phase in phases:
            base = _values(base_trials, phase, goal.metric, "baseline", info.id, base_backend)
            cand = _values(cand_trials, phase, goal.metric, "candidate", info.id, cand_backend)
            if cand_trials and base_trials and not base and not cand:
                raise MetricNotMeasured(f"{info.id}: goal {phase}.{goal.metric}: no trial measured a phase {phase!r}")
            rows.append(
                _judge(
                    info,
                    phase,
                    goal.metric,
                    base,
                    cand,
                    cand_info is None,
                    failed,
                    marked_erratic(opts.erratic, info.id, phase, goal.metric),
                    opts,
                )
            )
    if cand_info is not None and rows:
        checks = _bound_checks(cand_info, cand_all, opts)
        rows = _attach_bounds(rows, checks)
    return [
        explained(row, base_trials, cand_trials, roots, opts.top_sites)
        if row.decision in ("regression", "improvement") and opts.top_sites
        else row
        for row in rows
    ]


def _judge(
    info: ExperimentInfo,
    phase: str,
    goal: str,
    base: Mapping[int, float],
    cand: Mapping[int, float],
    missing: bool,
    failed: tuple[FailedSide | None, str] | None,
    user_erratic: bool,
    opts: GateOptions,
) -> ExperimentVerdict:
    """One row: the Δ estimate when both sides have values, and its decision.

    An exact figure pairs by seed (the seed is all it depends on). A noisy one (time) does
    not: its noise has nothing to do with the seed, so it is judged unpaired, its spread is
    that of each side, and it is erratic (shown, not gated) with fewer than
    :attr:`GateOptions.noisy_replicates` replicates a side.
    """
    exact = metric(goal).exact
    paired = exact and bool(base) and sorted(base) == sorted(cand)
    base_values = tuple(base[s] for s in (sorted(base) if paired else base))
    cand_values = tuple(cand[s] for s in (sorted(cand) if paired else cand))
    common: dict[str, Any] = {
        "id": info.id,
        "family": info.family,
        "workload": info.workload,
        "variant": info.variant,
        "params": dict(info.params),
        "phase": phase,
        "goal": goal,
        "replicates": (len(base_values), len(cand_values)),
        "baseline_values": base_values,
        "candidate_values": cand_values,
        "baseline_mean": math.fsum(base_values) / len(base_values) if base_values else None,
        "candidate_mean": math.fsum(cand_values) / len(cand_values) if cand_values else None,
        "error": failed[1] if failed else None,
        "failed_side": failed[0] if failed else None,
    }
    cv = noise(base_values, cand_values, paired)
    erratic = user_erratic or too_noisy(cv, exact, common["replicates"], opts.erratic_cv, opts.noisy_replicates)
    if not (base_values and cand_values):
        # A phase can come and go with the code, like an experiment.
        decision: Decision = "failed" if failed else "missing" if missing or base_values else "new"
        return ExperimentVerdict(decision=decision, erratic=erratic, cv=cv, **common)
    estimate = estimate_delta(base_values, cand_values, confidence=opts.confidence, paired=paired)
    common.update(baseline_mean=estimate.baseline_mean, candidate_mean=estimate.candidate_mean)
    pcts = (estimate.delta_pct, estimate.ci_low_pct, estimate.ci_high_pct)
    decision = "failed" if failed else decide(goal, *pcts, opts.tolerance_pct)
    # A change from nothing has no percent (it is infinite): the row reads by its absolute change.
    delta_pct, ci_low_pct, ci_high_pct = (None,) * 3 if estimate.baseline_mean == 0 != estimate.candidate_mean else pcts
    return ExperimentVerdict(
        decision=decision,
        delta_pct=delta_pct,
        ci_low_pct=ci_low_pct,
        ci_high_pct=ci_high_pct,
        method=estimate.method,
        erratic=erratic,
        cv=cv,
        **common,
    )


def decide(goal: str, delta_pct: float, ci_low_pct: float, ci_high_pct: float, tolerance_pct: float) -> Decision:
    """``regression``, ``improvement`` or ``no_change`` for a Δ % and its interval (erratic aside).

    A change counts when ``|Δ| >= tolerance`` and the interval excludes zero; its direction is
    bad or good by the metric's ``lower_is_better``. A change from zero is ±∞ %: it counts,
    whatever the tolerance, when its interval excludes zero, which :func:`estimate_delta`
    grants only to exact figures (every replicate 0 before, every one the same after); a
    noisy figure from zero has the interval (-∞, +∞) and reads as no change.
    """
    excludes_zero = ci_low_pct > 0 or ci_high_pct < 0
    if not (excludes_zero and abs(delta_pct) >= tolerance_pct):
        return "no_change"
    worse = delta_pct > 0 if metric(goal).lower_is_better else delta_pct < 0
    return "regression" if worse else "improvement"


def experiment_bounds(info: ExperimentInfo, configured: Sequence[ConfiguredBound]) -> list[Bound]:
    """The experiment's declared bounds, overridden or extended by the configured ones its id matches."""
    bounds = {b.name: b for b in info.bounds}
    for each in configured:
        if matches(info.id, each.pattern):
            bounds[each.bound.name] = each.bound
    return list(bounds.values())


def bound_figures(trial: TrialResult, bound: Bound) -> list[tuple[PhaseResult | None, float]]:
    """The figures of ``trial`` a bound limits: its phase's, or every phase's when it names
    none (the trial's own for ``rss_peak_bytes``, with no phase). Phases without the figure
    are left out. The one rule for what a bound applies to, for the gate and the pytest plugin.
    """
    if bound.metric == "rss_peak_bytes":
        return [] if trial.rss_peak_bytes is None else [(None, float(trial.rss_peak_bytes))]
    phases = [trial.phase(bound.phase)] if bound.phase else list(trial.phases)
    return [(p, float(v)) for p in phases if p is not None and (v := p.metrics.get(bound.metric)) is not None]


def _bound_value(trial: TrialResult, bound: Bound) -> float | None:
    """The trial's figure for a bound: the highest of :func:`bound_figures`."""
    figures = [value for _, value in bound_figures(trial, bound)]
    return max(figures) if figures else None


def _bound_checks(info: ExperimentInfo, trials: Sequence[TrialResult], opts: GateOptions) -> list[BoundCheck]:
    """Every bound of the experiment checked on every candidate trial (a failed trial does not pass)."""
    checks = []
    for bound in experiment_bounds(info, opts.configured_bounds):
        ok_values = [(_bound_value(t, bound), t) for t in trials if t.ok]
        measured = [v for v, _ in ok_values if v is not None]
        if ok_values and not measured:
            known = bound.metric in METRICS
            raise MetricNotMeasured(
                f"{info.id}: bounds check {bound.name} names a metric the candidate did not measure"
                + ("" if known else f" ({bound.metric!r} is neither a metric nor a counter the workload recorded)")
            )
        passed = sum(1 for v in measured if bound.allows(v))
        checks.append(
            BoundCheck(
                name=bound.name,
                metric=bound.metric,
                upper=bound.upper,
                replicates_passed=passed,
                replicates=len(trials),
                passed=passed == len(trials) and bool(trials),
                worst=max(measured) if measured else None,
            )
        )
    return checks


def _attach_bounds(rows: list[ExperimentVerdict], checks: Sequence[BoundCheck]) -> list[ExperimentVerdict]:
    """Each check on the row of its phase, else on the first row, so that each appears once."""
    placed: dict[int, list[BoundCheck]] = {}
    for check in checks:
        index = next((i for i, r in enumerate(rows) if r.phase == check.phase), 0)
        placed.setdefault(index, []).append(check)
    return [replace(row, bounds=tuple(placed.get(i, ()))) for i, row in enumerate(rows)]
