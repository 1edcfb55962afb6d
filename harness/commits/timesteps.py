"""Which steps of time a history reports: the confirmed ones only.

The candidates come from :func:`harness.compare.changepoints.change_points` on each run of
a noisy series between environment breaks. A step of time is a pair of commits whose
change the gate confirmed on measuring both again, interleaved in one run
(:mod:`harness.commits.confirmations`), in the direction the history saw it (up where the
history's level rose, down where it fell), whether the pair was a
candidate or a half of a confirmed step that narrowing split. The direction matters for
what the history reports: a re-measurement of two equal commits passes the gate's rule by
chance in either direction (at most 1 - confidence together), and only the half of those
that agrees with the history's own noise can make a step. A confirmed pair that holds a narrower confirmed pair
of the same goal gives way to it: the step is where narrowing pinned it. A candidate is
otherwise shown as ``not confirmed`` (measured again, and the gate saw no change: the
machine moved, not the code) or ``to confirm`` (not measured again yet), never as a step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.commits.confirmations import Confirmations, confirms
from harness.compare.changepoints import change_points
from harness.compare.stats import DeltaEstimate, estimate_delta
from harness.compare.verdict import ExperimentVerdict

if TYPE_CHECKING:
    from harness.commits.timeline import Point, Series

#: The kinds of a time change point: a step, and the two kinds of candidates that are not.
CONFIRMED = "change point"
NOT_CONFIRMED = "not confirmed"
TO_CONFIRM = "to confirm"


@dataclass(frozen=True)
class TimeStep:
    """A change of a noisy series from ``before`` to ``after``, as ``estimate`` measures it."""

    before: Point
    after: Point
    estimate: DeltaEstimate
    kind: str


def time_steps(
    series: Series,
    runs: Sequence[Sequence[Point]],
    shas: Mapping[int, str],
    confirmations: Confirmations | None,
    *,
    confidence: float,
    tolerance_pct: float,
) -> list[TimeStep]:
    """The confirmed steps of ``series`` and its candidates that are not; ``runs`` are its
    points split at environment breaks, ``shas`` the commit of each position."""
    out = _confirmed(series, shas, confirmations, confidence) if confirmations is not None else []
    for run in runs:
        for found in change_points([p.values for p in run], tolerance_pct=tolerance_pct):
            before, after = run[found.index - 1], run[found.index]
            row = None
            if confirmations is not None:
                row = confirmations.row(series.experiment, series.measure, shas[before.position], shas[after.position])
            if row is None:
                history = estimate_delta(before.values, after.values, confidence=confidence)
                out.append(TimeStep(before, after, history, TO_CONFIRM))
            elif not _agrees(row, before, after):
                again = _estimate(row, confidence) or estimate_delta(before.values, after.values, confidence=confidence)
                out.append(TimeStep(before, after, again, NOT_CONFIRMED))
    return out


def _agrees(row: ExperimentVerdict, before: Point, after: Point) -> bool:
    """Whether the gate confirms the change from ``before`` to ``after`` in the history's direction."""
    return confirms(row) and row.delta_pct is not None and (row.delta_pct > 0) == (after.mean > before.mean)


def _estimate(row: ExperimentVerdict, confidence: float) -> DeltaEstimate | None:
    """The Δ of a re-measured goal over its two sides (None when a side has no value)."""
    if not (row.baseline_values and row.candidate_values):
        return None
    return estimate_delta(row.baseline_values, row.candidate_values, confidence=confidence)


def _confirmed(
    series: Series, shas: Mapping[int, str], confirmations: Confirmations, confidence: float
) -> list[TimeStep]:
    """The narrowest confirmed pairs of ``series`` whose two commits it has points of."""
    points = {shas[p.position]: p for p in series.points}
    found: list[tuple[Point, Point, DeltaEstimate]] = []
    for older, newer in confirmations.pairs(series.experiment):
        if older not in points or newer not in points:
            continue
        row = confirmations.row(series.experiment, series.measure, older, newer)
        agrees = row is not None and _agrees(row, points[older], points[newer])
        estimate = _estimate(row, confidence) if row is not None and agrees else None
        if estimate is not None:
            found.append((points[older], points[newer], estimate))
    spans = {(a.position, b.position) for a, b, _ in found}
    return [
        TimeStep(a, b, estimate, CONFIRMED)
        for a, b, estimate in found
        if not any(a.position <= c and d <= b.position and (c, d) != (a.position, b.position) for c, d in spans)
    ]
