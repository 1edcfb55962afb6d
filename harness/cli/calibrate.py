"""``harness calibrate``: an A/A run that measures each experiment's noise.

Runs every selected experiment twice over, as two sides of the same code interleaved
(A B A B ...), replicate i of both sides with the same seed, and compares them as ``harness
gate`` would. Any significant change found is a false positive. Prints per experiment and
goal the spread across seeds (CV), the A/A Δ mean % with its interval, and how far two runs
of one seed differ; then a ready-to-paste ``erratic = [...]`` line for ``[tool.harness]``
naming the experiments too noisy to gate. Exit 0 when there is no false positive, else 1.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.compare.verdict import ExperimentVerdict, Verdict

COMMAND = "calibrate"
HEADER = ("experiment", "phase", "goal", "mean", "CV", "seed repeat", "A/A Δ %", "A/A Δ % CI", "n", "decision")


def add_parser(sub: Any, name: str) -> None:
    from harness.cli._common import add_run_options

    parser = sub.add_parser(
        name,
        help="A/A run: measure noise, count false positives, suggest erratic marks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_options(parser)
    parser.add_argument("--confidence", type=float, help="confidence level of the intervals (default 0.9)")
    parser.add_argument(
        "--tolerance", type=float, dest="tolerance_pct", help="least |Δ mean %%| that counts (default 5)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.cli._common import discover_suite, measure_options, settings_from
    from harness.compare.gate import GateOptions, compare
    from harness.measure.pipeline import measure
    from harness.measure.scheduling import Side

    settings = settings_from(args).override(confidence=args.confidence, tolerance_pct=args.tolerance_pct)
    experiments = tuple(discover_suite(settings).select(args.patterns))
    sides = [Side(name, settings.project_root, settings.workloads, experiments) for name in ("A", "B")]
    results = measure(sides, settings, measure_options(args, settings))
    backend = str(results["A"].settings["backend"])
    verdict = compare(results["A"], results["B"], GateOptions.from_settings(settings))
    print(render(verdict, backend))
    return 0 if not false_positives(verdict) and not verdict.count("failed") else 1


def false_positives(verdict: Verdict) -> list[ExperimentVerdict]:
    """Rows where A/A found a significant change: the same code judged different."""
    return [r for r in verdict.experiments if r.regressed or r.improved]


def seed_repeat(row: ExperimentVerdict) -> float | None:
    """The largest difference between two runs of one seed, as a fraction of the mean (0: exact)."""
    if row.method not in ("paired", "exact") or not row.baseline_mean:
        return None
    pairs = zip(row.baseline_values, row.candidate_values, strict=True)
    return max(abs(a - b) for a, b in pairs) / abs(row.baseline_mean)


def too_noisy(row: ExperimentVerdict, verdict: Verdict) -> bool:
    """Whether the row cannot be gated at this tolerance: erratic, a false positive, or an A/A
    interval wider than the tolerance on either side of zero."""
    if row.erratic or row.decision in ("regression", "improvement"):
        return True
    low, high = row.ci_low_pct, row.ci_high_pct
    return low is not None and high is not None and max(-low, high) >= verdict.tolerance_pct


def erratic_marks(verdict: Verdict) -> list[str]:
    """The ``erratic`` entries to suggest: an experiment whose every goal is too noisy, else
    ``id:phase.goal`` for each noisy goal, so that its quiet goals still gate."""
    marks: list[str] = []
    for experiment_id in dict.fromkeys(r.id for r in verdict.experiments):
        rows = [r for r in verdict.experiments if r.id == experiment_id]
        noisy = [r for r in rows if too_noisy(r, verdict)]
        if noisy and len(noisy) == len(rows):
            marks.append(experiment_id)
        else:
            marks += [f"{r.id}:{r.phase}.{r.goal}" for r in noisy]
    return marks


def render(verdict: Verdict, backend: str) -> str:
    """The calibration report: the noise table, the false-positive count, the suggestion."""
    from harness.reports import figures
    from harness.reports.text import table

    rows: list[Sequence[str]] = [HEADER]
    for r in verdict.experiments:
        repeat = seed_repeat(r)
        rows.append(
            (
                r.id,
                r.phase,
                r.goal,
                figures.spread(r.goal, r.baseline_values + r.candidate_values),
                "-" if r.cv is None else f"{r.cv:.2%}",
                "-" if repeat is None else "exact" if repeat == 0 else f"{repeat:.2%}",
                figures.delta(r),
                figures.interval(r),
                figures.trials(r),
                figures.decision(r),
            )
        )
    positives = false_positives(verdict)
    lines = [
        f"A/A calibration: the same code as both sides ({backend}), confidence {verdict.confidence:.0%}, "
        f"tolerance |Δ| ≥ {verdict.tolerance_pct:.2f}%, erratic above CV {verdict.erratic_cv:.0%}",
        "",
        *table(rows, {3, 4, 5, 6, 7, 8}),
        "",
        f"false positives: {len(positives)} of {len(verdict.experiments)} goals",
    ]
    lines += [
        f"  - {r.id} {figures.goal(r)}: {r.decision} {figures.delta(r)}% {figures.interval(r)}" for r in positives
    ]
    failed = [r for r in verdict.experiments if r.decision == "failed"]
    lines += [f"failed: {r.id}: {r.error}" for r in dict((r.id, r) for r in failed).values()]
    noisy = erratic_marks(verdict)
    if noisy:
        lines += [
            "",
            "too noisy to gate at this tolerance; to show them without gating, add to [tool.harness]:",
            f"erratic = [{', '.join(json.dumps(i) for i in noisy)}]",
        ]
    else:
        lines += ["", "every experiment is quiet enough to gate: nothing to mark erratic"]
    return "\n".join(lines)
