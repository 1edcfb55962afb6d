"""Which rows of a comparison are too noisy to judge (erratic: shown, not gated).

A row is erratic when the user marks it (``erratic`` in ``[tool.harness]``), when its
coefficient of variation is over ``erratic_cv``, or when its goal is noisy (time, resident
memory) and a side has fewer than ``noisy_replicates`` replicates.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.compare.stats import coefficient_of_variation
from harness.declare.selection import matches

#: A noisy goal gates only with this many replicates a side. With 3 a side, the bundled
#: suite's one timing goal failed about 1 A/A gate in 20: an interval from a few noisy values
#: a side is too often wrong at 90 %. With 10 a side and a spread of 4.4 % (that goal's), a Δ
#: of 5 % is 2.5 standard errors away: about 1 in 100 by chance. So time informs at the
#: default 5 replicates, and gates when a run asks for the replicates it needs.
NOISY_REPLICATES = 10


def noise(base_values: Sequence[float], cand_values: Sequence[float], paired: bool) -> float | None:
    """The coefficient of variation that says whether a row is too noisy to judge.

    Replicates run different seeds, and a figure may rightly depend on the seed (a different
    stream of keys). When the sides pair by seed, the comparison's noise is the spread of
    the per-seed ratios candidate/baseline, not the spread of the figures across seeds;
    otherwise it is the larger spread of the two sides.
    """
    if paired and len(base_values) >= 2 and all(b != 0 for b in base_values):
        return coefficient_of_variation([c / b for b, c in zip(base_values, cand_values, strict=True)])
    cvs = [coefficient_of_variation(v) for v in (base_values, cand_values) if v]
    return max(cvs) if cvs else None


def marked_erratic(patterns: Sequence[str], experiment_id: str, phase: str, goal: str) -> bool:
    """Whether a user's ``erratic`` entry names this experiment (and goal, when it names one)."""
    for pattern in patterns:
        target, _, named_goal = pattern.rpartition(":") if ":" in pattern else (pattern, "", "")
        if matches(experiment_id, target) and named_goal in ("", goal, f"{phase}.{goal}"):
            return True
    return False


def too_noisy(
    cv: float | None, exact: bool, replicates: tuple[int, int], erratic_cv: float, noisy_replicates: int
) -> bool:
    """Whether a row's figures are too noisy to gate: spread over ``erratic_cv``, or a noisy
    goal (not ``exact``) with fewer than ``noisy_replicates`` replicates on a side."""
    if not exact and min(replicates) < noisy_replicates:
        return True
    return cv is not None and cv > erratic_cv
