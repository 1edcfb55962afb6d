"""The calibration report: the A/A noise table, the false positives and the erratic marks to add."""

from __future__ import annotations

import json
from collections.abc import Sequence

from harness.compare.calibration import erratic_marks, false_positives, seed_repeat
from harness.compare.verdict import Verdict
from harness.reports import figures
from harness.reports.text import table

HEADER = ("experiment", "phase", "goal", "mean", "CV", "seed repeat", "A/A Δ %", "A/A Δ % CI", "n", "decision")


def render(verdict: Verdict, backend: str) -> str:
    """The calibration report: the noise table, the false-positive count, the suggestion."""

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
