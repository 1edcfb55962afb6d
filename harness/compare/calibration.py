"""The A/A rules: when the same code, judged against itself, shows noise instead of a change.

``harness calibrate`` runs every experiment as two sides of the same code and compares them
as a gate would; these rules read that verdict: which rows are false positives, how far two
runs of one seed differ, which goals are too noisy to gate at the tolerance, and so which
``erratic`` marks to suggest.
"""

from __future__ import annotations

from harness.compare.verdict import ExperimentVerdict, Verdict


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
