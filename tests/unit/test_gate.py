"""harness.compare.gate on results built in-process: the rule, pairing, erratic marks, bounds, top movers.

Real trials are exercised in test_gate_cli.py; here the inputs are exact, so every figure of
the verdict can be checked against a hand computation.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.compare.gate import GateOptions, MetricNotMeasured, compare, decide
from harness.declare.config import BOUNDS, MISSING, REGRESSIONS, Settings
from harness.declare.spec import Bound, Goal
from harness.errors import ConfigError, EnvironmentMismatch, SelectionError
from harness.store.environment import Environment
from harness.store.results import ExperimentInfo, PhaseResult, Results, TrialResult
from harness.store.sites import Site

ENV = {"python_version": "3.11.7", "implementation": "CPython", "backend": "memray", "project_root": "/a"}


def info(variant: str, goal: str = "work.alloc_bytes_per_op", bounds: Sequence[Bound] = ()) -> ExperimentInfo:
    return ExperimentInfo(f"cache.churn[{variant}]", "cache", "churn", variant, {}, (Goal.parse(goal),), tuple(bounds))


def trials(
    variant: str,
    values: Sequence[float],
    seeds: Sequence[int] | None = None,
    metric: str = "alloc_bytes_per_op",
    sites: Sequence[dict[str, Any]] = (),
    extra: dict[str, float] | None = None,
) -> list[TrialResult]:
    return [
        TrialResult(
            experiment=f"cache.churn[{variant}]",
            replicate=i,
            seed=(seeds[i] if seeds else i + 1),
            status="ok",
            phases=(PhaseResult("work", {metric: v, **(extra or {})}, tuple(Site.from_json(s) for s in sites)),),
        )
        for i, v in enumerate(values)
    ]


def results(infos: Sequence[ExperimentInfo], all_trials: Sequence[TrialResult], **env: Any) -> Results:
    return Results(Environment(**{**ENV, **env}), {}, tuple(infos), tuple(all_trials), created="")


def one(base: Sequence[float], cand: Sequence[float], options: GateOptions | None = None, **kw: Any) -> Any:
    verdict = compare(
        results([info("a")], trials("a", base, **kw)), results([info("a")], trials("a", cand, **kw)), options
    )
    (row,) = verdict.experiments
    return verdict, row


def test_equal_deterministic_figures_are_no_change_with_a_zero_interval() -> None:
    verdict, row = one([100.0] * 5, [100.0] * 5)
    assert (row.decision, row.delta_pct, row.ci_low_pct, row.ci_high_pct, row.method) == (
        "no_change",
        0.0,
        0.0,
        0.0,
        "exact",
    )
    assert verdict.passed and verdict.reasons == ()


def test_a_deterministic_rise_past_the_tolerance_is_a_regression_at_its_exact_size() -> None:
    verdict, row = one([200.0] * 5, [212.0] * 5)
    assert row.decision == "regression" and row.delta_pct == pytest.approx(6.0)
    assert row.ci_low_pct == row.ci_high_pct == pytest.approx(6.0)
    assert not verdict.passed and "regression +6.00%" in verdict.reasons[0]
    # Below the tolerance it is noted as no change; a lower tolerance catches it.
    assert one([200.0] * 5, [208.0] * 5)[1].decision == "no_change"
    assert one([200.0] * 5, [208.0] * 5, GateOptions(tolerance_pct=3))[1].decision == "regression"


def test_an_exact_figure_from_zero_is_a_regression_whatever_the_tolerance_and_reads_absolute() -> None:
    verdict, row = one([0.0] * 3, [24.0] * 3, GateOptions(tolerance_pct=1e9))
    assert (row.decision, row.from_zero, row.delta_abs) == ("regression", True, 24.0)
    assert row.delta_pct is row.ci_low_pct is row.ci_high_pct is None
    assert verdict.reasons == ("cache.churn[a] work.alloc_bytes_per_op: regression 0 B → 24 B (+24 B)",)
    data = verdict.to_json()["experiments"][0]
    assert (data["from_zero"], data["delta_abs"], data["delta_pct"], data["ci_low_pct"]) == (True, 24.0, None, None)
    # To zero keeps its percent (-100) and reads absolute too; it is no change from zero.
    _, fixed = one([24.0] * 3, [0.0] * 3)
    assert (fixed.decision, fixed.from_zero, fixed.delta_pct) == ("improvement", False, -100.0)
    assert fixed.change_text() == "24 B → 0 B (-24 B)"


def test_a_noisy_figure_from_zero_is_no_change() -> None:
    goal = "work.wall_s_per_op"
    base = results([info("a", goal)], trials("a", [0.0, 0.0, 0.0], metric="wall_s_per_op"))
    cand = results([info("a", goal)], trials("a", [0.1, 0.3, 0.2], metric="wall_s_per_op"))
    (row,) = compare(base, cand).experiments
    assert (row.decision, row.from_zero, row.delta_pct) == ("no_change", True, None)
    assert row.change_text().startswith("0 ns → 200 ms (+200 ms")


def test_replicates_pair_by_seed_and_the_pairing_removes_seed_noise() -> None:
    base = [100.0, 140.0, 90.0, 120.0, 110.0]
    cand = [v * 1.07 for v in base]
    _, paired = one(base, cand)
    assert paired.method == "exact" and paired.decision == "regression"
    assert paired.ci_low_pct == pytest.approx(7.0) and paired.ci_high_pct == pytest.approx(7.0)
    # The same figures from different seeds cannot be paired: the seed-to-seed spread then
    # makes the interval wide, and +7% is not significant.
    verdict = compare(
        results([info("a")], trials("a", base)),
        results([info("a")], trials("a", cand, seeds=[11, 12, 13, 14, 15])),
        GateOptions(erratic_cv=1.0),
    )
    (welch,) = verdict.experiments
    assert welch.method == "welch" and welch.decision == "no_change"
    assert welch.ci_low_pct < 0 < welch.ci_high_pct
    assert welch.delta_pct == pytest.approx(paired.delta_pct)


def test_the_goal_direction_comes_from_the_metric() -> None:
    assert decide("alloc_bytes_per_op", +10, +8, +12, 5) == "regression"
    assert decide("alloc_bytes_per_op", -10, -12, -8, 5) == "improvement"
    # More operations is better: fewer is the regression.
    assert decide("ops", -10, -12, -8, 5) == "regression"
    assert decide("ops", +10, +8, +12, 5) == "improvement"
    # An interval that holds zero is no change, whatever the size.
    assert decide("alloc_bytes_per_op", +30, -1, +61, 5) == "no_change"


def test_erratic_rows_are_shown_but_do_not_gate() -> None:
    # Marked by the user, with a glob over ids.
    verdict, row = one([100.0] * 3, [150.0] * 3, GateOptions(erratic=("cache.churn[a*",)))
    assert (row.decision, row.erratic, verdict.passed) == ("regression", True, True)
    # The JSON says so per row: a consumer counting rows that fail the gate gets the gate's answer.
    (data,) = verdict.to_json()["experiments"]
    assert (data["decision"], data["fails_gate"]) == ("regression", False)
    gated, counted = one([100.0] * 3, [150.0] * 3, GateOptions())
    assert not gated.passed and gated.to_json()["experiments"][0]["fails_gate"] is True
    # Under a gate that does not judge regressions, the same row does not count.
    assert not counted.fails_gate(("bounds",))
    # Or one goal of it only.
    assert one([100.0] * 3, [150.0] * 3, GateOptions(erratic=("churn:work.alloc_bytes_per_op",)))[1].erratic
    assert one([100.0] * 3, [150.0] * 3, GateOptions(erratic=("churn:alloc_bytes_per_op",)))[1].erratic
    assert not one([100.0] * 3, [150.0] * 3, GateOptions(erratic=("churn:work.net_bytes",)))[1].erratic
    # Or too noisy: paired by seed, the per-seed ratios candidate/baseline spread too much.
    levels = [100.0, 160.0, 70.0, 130.0]
    ratios = [1.3, 1.8, 1.4, 1.6]
    verdict, row = one(levels, [v * r for v, r in zip(levels, ratios, strict=True)])
    assert row.erratic and row.cv == pytest.approx(statistics.stdev(ratios) / statistics.fmean(ratios))  # 0.144
    assert row.decision == "regression" and verdict.passed
    verdict, row = one(levels, [v * r for v, r in zip(levels, ratios, strict=True)], GateOptions(erratic_cv=0.5))
    assert not row.erratic and not verdict.passed
    # A figure that rightly depends on the seed, changed by the same ratio on every seed, is
    # not noise: it is judged, and fails the gate.
    verdict, row = one(levels, [v * 1.5 for v in levels])
    assert not row.erratic and row.cv == pytest.approx(0.0) and not verdict.passed
    # Unpaired (different seeds), the spread of each side is all there is to go on.
    verdict = compare(
        results([info("a")], trials("a", levels)),
        results([info("a")], trials("a", [v * 1.5 for v in levels], seeds=[11, 12, 13, 14])),
    )
    (row,) = verdict.experiments
    assert row.erratic and row.cv == pytest.approx(statistics.stdev(levels) / statistics.fmean(levels))


def test_a_failed_candidate_trial_fails_the_gate() -> None:
    cand = trials("a", [100.0, 100.0])
    cand.append(TrialResult("cache.churn[a]", 2, 3, "failed", error="KeyError: 7 (cache.py:12)"))
    verdict = compare(results([info("a")], trials("a", [100.0] * 3)), results([info("a")], cand))
    (row,) = verdict.experiments
    assert row.decision == "failed" and row.replicates == (3, 2) and row.failed_side == "candidate"
    assert verdict.reasons == ("cache.churn[a]: candidate: 1 of 3 trials failed: KeyError: 7 (cache.py:12)",)
    assert not verdict.passed


def _crashed(variant: str, n: int, error: str) -> list[TrialResult]:
    return [TrialResult(f"cache.churn[{variant}]", i, i + 1, "failed", error=error) for i in range(n)]


def test_a_baseline_whose_trials_failed_fails_the_gate_and_is_never_new() -> None:
    crash = 'killed by SIGSEGV\nFatal Python error: Segmentation fault\n  File "lib.py", line 3 in get'
    exp = info("a", goal="work.alloc_bytes_per_op")
    verdict = compare(results([exp], _crashed("a", 3, crash)), results([exp], trials("a", [100.0] * 3)))
    (row,) = verdict.experiments
    assert (row.decision, row.failed_side, row.replicates) == ("failed", "baseline", (0, 3))
    # The stored error as it is, on one line.
    line = (
        "baseline: 3 of 3 trials failed: killed by SIGSEGV | Fatal Python error: Segmentation fault"
        ' | File "lib.py", line 3 in get'
    )
    assert verdict.reasons == (f"cache.churn[a]: {line}",)
    assert row.error == line
    assert not verdict.passed
    assert verdict.to_json()["experiments"][0]["failed_side"] == "baseline"


def test_both_sides_failing_is_one_reason_per_side_not_one_per_goal() -> None:
    exp = ExperimentInfo(
        "cache.churn[a]",
        "cache",
        "churn",
        "a",
        {},
        tuple(Goal.parse(g) for g in ("work.alloc_bytes_per_op", "work.net_bytes_per_op")),
        (),
    )
    verdict = compare(results([exp], _crashed("a", 2, "exit code 3")), results([exp], _crashed("a", 2, "MemoryError")))
    assert {(r.decision, r.failed_side) for r in verdict.experiments} == {("failed", "both")}
    assert verdict.reasons == (
        "cache.churn[a]: baseline: 2 of 2 trials failed: exit code 3",
        "cache.churn[a]: candidate: 2 of 2 trials failed: MemoryError",
    )


def test_new_experiments_pass_and_missing_ones_fail_unless_allowed() -> None:
    baseline = results([info("old")], trials("old", [1.0, 1.0]))
    candidate = results([info("fresh")], trials("fresh", [1.0, 1.0]))
    verdict = compare(baseline, candidate)
    assert [(r.variant, r.decision, r.replicates) for r in verdict.experiments] == [
        ("fresh", "new", (0, 2)),
        ("old", "missing", (2, 0)),
    ]
    assert verdict.reasons == ("cache.churn[old]: missing in the candidate (--allow-missing lets it pass)",)
    assert [row["fails_gate"] for row in verdict.to_json()["experiments"]] == [False, True]
    allowed = compare(baseline, candidate, GateOptions(gates=(REGRESSIONS, BOUNDS)))
    assert allowed.passed and allowed.reasons == ()
    assert [r.variant for r in compare(baseline, candidate, GateOptions(patterns=("fresh",))).experiments] == ["fresh"]
    with pytest.raises(SelectionError, match="typo"):
        compare(baseline, candidate, GateOptions(patterns=("typo",)))


def test_allow_missing_takes_the_missing_gate_out_of_the_settings_gates() -> None:
    settings = Settings(project_root=Path("/p"), workloads=Path("/p/w"), baselines=Path("/p/b"))
    assert MISSING in GateOptions.from_settings(settings).gates
    assert GateOptions.from_settings(settings, allow_missing=True).gates == (REGRESSIONS, BOUNDS)


def test_a_candidate_with_no_finished_trial_fails() -> None:
    baseline = results([info("a")], trials("a", [1.0, 1.0]))
    verdict = compare(baseline, results([], []), GateOptions(gates=(REGRESSIONS, BOUNDS)))
    assert not verdict.passed
    assert verdict.reasons == ("the candidate has no finished trial: nothing was measured",)


def test_bounds_count_replicates_from_the_declaration_and_the_settings() -> None:
    peaks = [50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0, 130.0, 140.0]
    declared = Bound.parse("work.peak_bytes", "135 B")
    exp = info("a", bounds=[declared])
    cand = [
        TrialResult(
            t.experiment, t.replicate, t.seed, "ok", (PhaseResult("work", {**t.phases[0].metrics, "peak_bytes": p}),)
        )
        for t, p in zip(trials("a", [1.0] * 10), peaks, strict=True)
    ]
    base = results([exp], trials("a", [1.0] * 10))
    verdict = compare(base, results([exp], cand))
    ((_, check),) = list(verdict.bound_checks())
    assert (check.replicates_passed, check.replicates, check.passed, check.worst) == (9, 10, False, 140.0)
    assert verdict.reasons == ("cache.churn[a], bounds check work.peak_bytes: 9/10 replicates passed",)
    # [tool.harness] bounds override the declaration; a looser one passes.
    loose = GateOptions(bounds={"cache.churn*": {"work.peak_bytes": "1 KiB"}})
    ((_, check),) = list(compare(base, results([exp], cand), loose).bound_checks())
    assert (check.upper, check.replicates_passed, check.passed) == (1024.0, 10, True)
    # Bounds can be left out of the gate.
    assert compare(base, results([exp], cand), GateOptions(gates=("regressions",))).passed
    with pytest.raises(ConfigError, match=r"bounds\.cache\.work\.peak_bytes: unknown unit .MiBB"):
        compare(base, results([exp], cand), GateOptions(bounds={"cache": {"work.peak_bytes": "64 MiBB"}}))


def test_a_goal_the_results_do_not_carry_is_refused() -> None:
    exp = info("a", goal="work.alloc_bytes_per_op")
    measured = trials("a", [100.0] * 2, metric="net_bytes_per_op")
    with pytest.raises(MetricNotMeasured, match="alloc_bytes_per_op"):
        compare(results([exp], measured), results([exp], measured))


def test_other_environments_are_refused_unless_allowed() -> None:
    baseline = results([info("a")], trials("a", [1.0] * 2))
    candidate = results([info("a")], trials("a", [1.0] * 2), python_version="3.12.1", backend="tracemalloc")
    with pytest.raises(EnvironmentMismatch, match=r"python_version 3.11.7 vs 3.12.1; backend memray vs tracemalloc"):
        compare(baseline, candidate)
    assert compare(baseline, candidate, GateOptions(allow_env_mismatch=True)).passed


def test_top_movers_match_a_function_whose_lines_moved_in_another_checkout() -> None:
    def site(root: str, function: str, line: int, size: int) -> dict[str, Any]:
        return {"function": function, "file": f"{root}/workloads/cache.py", "line": line, "alloc_bytes": size}

    before = [site("/a", "put", 10, 1000), site("/a", "get", 20, 500), site("/a", "evict", 30, 300)]
    after = [site("/b", "put", 14, 2000), site("/b", "get", 25, 500), site("/b", "grow", 40, 100)]
    baseline = results([info("a")], trials("a", [100.0] * 2, sites=before))
    candidate = results([info("a")], trials("a", [120.0] * 2, sites=after), project_root="/b")
    (row,) = compare(baseline, candidate).experiments
    assert row.decision == "regression"
    assert [(s.site, s.baseline, s.candidate, s.delta) for s in row.top_sites] == [
        # Named by the candidate's line where it allocates more, by the baseline's where less.
        ("put (workloads/cache.py:14)", 1000.0, 2000.0, 1000.0),
        ("evict (workloads/cache.py:30)", 300.0, 0.0, -300.0),
        ("grow (workloads/cache.py:40)", 0.0, 100.0, 100.0),
    ]


def test_a_goal_phase_that_went_away_is_missing_and_one_never_measured_is_refused() -> None:
    exp = info("a", goal="work.alloc_bytes_per_op")
    renamed = [
        TrialResult(t.experiment, t.replicate, t.seed, "ok", (PhaseResult("busy", t.phases[0].metrics),))
        for t in trials("a", [1.0, 1.0])
    ]
    verdict = compare(results([exp], trials("a", [1.0, 1.0])), results([exp], renamed))
    assert [(r.phase, r.decision, r.replicates) for r in verdict.experiments] == [("work", "missing", (2, 0))]
    assert verdict.reasons == (
        "cache.churn[a] work.alloc_bytes_per_op: missing in the candidate (--allow-missing lets it pass)",
    )
    with pytest.raises(MetricNotMeasured, match="no trial measured a phase 'work'"):
        compare(results([exp], renamed), results([exp], renamed))


def _timed(base: Sequence[float], cand: Sequence[float]) -> Any:
    """A timing goal, compared with the default options."""
    goal = "work.wall_s_per_op"
    base_results = results([info("a", goal)], trials("a", base, metric="wall_s_per_op"))
    cand_results = results([info("a", goal)], trials("a", cand, metric="wall_s_per_op"))
    verdict = compare(base_results, cand_results)
    (row,) = verdict.experiments
    return verdict, row


def test_a_timing_goal_is_judged_unpaired_and_gates_only_with_enough_replicates() -> None:
    # Time does not depend on the seed: the same noise in the same seed order is not a pairing.
    slower = [1.0, 1.1, 0.9]
    verdict, row = _timed([1.0, 1.1, 0.9], [s * 1.3 for s in slower])
    assert (row.method, row.decision) == ("welch", "regression")
    # Three replicates a side cannot gate a noisy figure: shown, as erratic, never counted.
    assert row.erratic and verdict.passed and not row.fails_gate(verdict.gates)
    # With the replicates a noisy figure needs, the same change fails the gate.
    base = [1.0, 1.02, 0.98, 1.01, 0.99] * 2
    verdict, row = _timed(base, [b * 1.3 for b in base])
    assert (row.decision, row.erratic, verdict.passed) == ("regression", False, False)
    # An allocation figure with three replicates still gates, paired by seed.
    verdict, row = one([100.0, 110.0, 90.0], [130.0, 144.0, 116.0])
    assert (row.method, row.regressed, verdict.passed) == ("paired", True, False)
