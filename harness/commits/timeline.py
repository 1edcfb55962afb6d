"""A history store read as series and steps: what the history page and the command line show.

**Series.** One per experiment and goal (``phase.metric``): the replicate values of each
measured commit, at the commit's position in the range.

**Steps, by method.**

* A figure that repeats exactly for a seed (the allocation metrics) steps wherever two
  adjacent measured commits differ; the step is pinned to the later commit, with the paired
  interval of its Δ (exact, for a figure every seed repeats).
* A noisy figure (time) steps only where measuring the two commits around a change point of
  :mod:`harness.compare.changepoints` again, interleaved, confirmed it by the gate's rule
  (:mod:`harness.commits.timesteps`), with the interval of that re-measurement; the other
  change points are candidates, listed apart.

* An experiment whose trials failed at a commit (:mod:`harness.commits.history`) has no point
  there, and a change between measured and failing is a step of its own, a
  :class:`FailureStep`: "trials fail from here" at the first commit whose trials fail after
  one where they passed, "trials pass again from here" at the fix.

Two adjacent measured commits that ran on different interpreters or backends
(:data:`~harness.store.environment.COMPARABLE_ON`) are not compared: that boundary is an
environment break, drawn on the page, and never a step.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from harness.commits.confirmations import Confirmations
from harness.commits.history import Entry, HistoryStore, measured_part
from harness.commits.refs import Commit
from harness.commits.timesteps import CONFIRMED, time_steps
from harness.compare.goal_figures import Figure, figures
from harness.compare.stats import DeltaEstimate, estimate_delta
from harness.declare.metrics import metric
from harness.errors import ChangePointsUnavailable
from harness.store.results import ExperimentInfo, Results


@dataclass(frozen=True)
class Point:
    """The replicate values of one goal at one measured commit."""

    position: int
    values: tuple[float, ...]
    seeds: tuple[int, ...]

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)


@dataclass(frozen=True)
class Series:
    experiment: str
    family: str
    workload: str
    variant: str
    measure: str
    unit: str
    points: tuple[Point, ...]

    @property
    def metric(self) -> str:
        return self.measure.rsplit(".", 1)[1]

    @property
    def exact(self) -> bool:
        return metric(self.metric).exact


@dataclass(frozen=True)
class Step:
    """A goal's level changed at ``commit`` (against ``parent``, the measured commit before it)."""

    experiment: str
    measure: str
    position: int
    commit: Entry
    parent: Entry
    before: float
    after: float
    delta_pct: float
    ci_low_pct: float
    ci_high_pct: float
    method: str
    #: ``exact`` (any change of a figure that repeats), ``change point`` (of a noisy one, confirmed by
    #: measuring again), or, for the candidates of a timeline, ``not confirmed`` or ``to confirm``.
    kind: str
    #: Commits between the parent and the commit that have no results (failed or not tried).
    unmeasured_between: int


@dataclass(frozen=True)
class FailureStep:
    """The trials of ``experiment`` fail from ``commit`` on (``failing``) or pass again there,
    against ``parent``, the commit with results before it."""

    experiment: str
    family: str
    workload: str
    variant: str
    position: int
    commit: Entry
    parent: Entry
    failing: bool
    #: The first failure's reason at the commit that fails (the commit, or the parent for a fix).
    reason: str
    unmeasured_between: int

    @property
    def label(self) -> str:
        return "trials fail from here" if self.failing else "trials pass again from here"


@dataclass(frozen=True)
class EnvironmentBreak:
    """Adjacent measured commits that ran in environments whose figures do not compare."""

    position: int
    commit: Entry
    parent: Entry
    differences: tuple[str, ...]


@dataclass(frozen=True)
class Timeline:
    commits: tuple[Commit, ...]
    entries: tuple[Entry | None, ...]
    series: tuple[Series, ...]
    steps: tuple[Step, ...]
    breaks: tuple[EnvironmentBreak, ...]
    #: Why time has no steps here, when it cannot have any (the change-point library is missing).
    time_note: str | None = None
    failure_steps: tuple[FailureStep, ...] = ()
    #: Change points of time that are not steps: not confirmed, or not measured again yet.
    candidates: tuple[Step, ...] = ()

    @property
    def measured(self) -> list[int]:
        """The positions of the commits with results (some of whose experiments may have failed)."""
        return [i for i, e in enumerate(self.entries) if e is not None and e.measured]

    @property
    def trials_failed(self) -> list[int]:
        """The positions of the commits where the trials of an experiment failed."""
        return [i for i, e in enumerate(self.entries) if e is not None and e.trials_failed]

    @property
    def not_measurable(self) -> list[int]:
        """The positions of the commits that have no results: their build or setup failed."""
        return [i for i, e in enumerate(self.entries) if e is not None and e.error is not None]


@dataclass(frozen=True)
class _Measured:
    position: int
    entry: Entry
    results: Results


def timeline(
    store: HistoryStore,
    commits: Sequence[Commit],
    *,
    confidence: float,
    tolerance_pct: float,
    confirmations: Confirmations | None = None,
) -> Timeline:
    """The series, steps and breaks of ``commits`` (oldest first) as ``store`` holds them; time
    steps only where ``confirmations`` confirm them."""
    known = store.entries()
    entries = tuple(known.get(str(c.sha)) for c in commits)
    measured = [_Measured(i, e, store.results(e)) for i, e in enumerate(entries) if e is not None and e.measured]
    series = _series(measured)
    breaks = tuple(_breaks(measured))
    steps = list(_exact_steps(series, measured, breaks))
    time_note: str | None = None
    candidates: list[Step] = []
    try:
        for step in _time_steps(series, measured, breaks, confidence, tolerance_pct, confirmations):
            (steps if step.kind == CONFIRMED else candidates).append(step)
    except ChangePointsUnavailable as exc:
        time_note = f"time has no steps here: {exc}"
    steps.sort(key=lambda s: (s.position, s.experiment, s.measure))
    failing = tuple(_failure_steps(measured))
    candidates.sort(key=lambda s: (s.position, s.experiment, s.measure))
    return Timeline(tuple(commits), entries, series, tuple(steps), breaks, time_note, failing, tuple(candidates))


def _failure_steps(measured: Sequence[_Measured]) -> list[FailureStep]:
    """Each change of an experiment between measured and failing at adjacent commits that declare it."""
    last: dict[str, _Measured] = {}
    out = []
    for each in measured:
        reasons = dict(each.entry.trials_failed)
        for info in each.results.experiments:
            parent = last.get(info.id)
            last[info.id] = each
            if parent is None or (info.id in reasons) == (info.id in parent.entry.failed_experiments):
                continue
            reason = reasons.get(info.id) or dict(parent.entry.trials_failed)[info.id]
            out.append(
                FailureStep(
                    info.id,
                    info.family,
                    info.workload,
                    info.variant,
                    each.position,
                    each.entry,
                    parent.entry,
                    info.id in reasons,
                    reason,
                    each.position - parent.position - 1,
                )
            )
    return out


def _series(measured: Sequence[_Measured]) -> tuple[Series, ...]:
    infos: dict[str, ExperimentInfo] = {}
    found: dict[tuple[str, str], tuple[Figure, list[Point]]] = {}
    for each in measured:
        infos.update({info.id: info for info in each.results.experiments})
        # The replicates that survived a failure are no measurement.
        for figure in figures(measured_part(each.entry, each.results)):
            _, points = found.setdefault((figure.experiment, figure.measure), (figure, []))
            points.append(Point(each.position, figure.values, figure.seeds))
    out = []
    for (experiment, measure), (figure, points) in found.items():
        info = infos[experiment]
        out.append(Series(experiment, info.family, info.workload, info.variant, measure, figure.unit, tuple(points)))
    return tuple(out)


def _breaks(measured: Sequence[_Measured]) -> list[EnvironmentBreak]:
    out = []
    for parent, commit in itertools.pairwise(measured):
        differ = parent.results.environment.mismatches(commit.results.environment)
        if differ:
            out.append(EnvironmentBreak(commit.position, commit.entry, parent.entry, tuple(differ)))
    return out


def _step(
    series: Series, before: Point, after: Point, by_position: dict[int, _Measured], estimate: DeltaEstimate, kind: str
) -> Step:
    """The step of ``series`` from ``before`` (the parent's point) to ``after``, as ``estimate`` measures it."""
    return Step(
        series.experiment,
        series.measure,
        after.position,
        by_position[after.position].entry,
        by_position[before.position].entry,
        estimate.baseline_mean,
        estimate.candidate_mean,
        estimate.delta_pct,
        estimate.ci_low_pct,
        estimate.ci_high_pct,
        estimate.method,
        kind,
        after.position - before.position - 1,
    )


def _exact_steps(
    series: Sequence[Series], measured: Sequence[_Measured], breaks: Sequence[EnvironmentBreak]
) -> list[Step]:
    by_position = {m.position: m for m in measured}
    broken = {b.position for b in breaks}
    out = []
    for each in (s for s in series if s.exact):
        for before, after in itertools.pairwise(each.points):
            if after.position in broken or before.mean == after.mean:
                continue
            estimate = estimate_delta(before.values, after.values, paired=before.seeds == after.seeds)
            out.append(_step(each, before, after, by_position, estimate, "exact"))
    return out


def _time_steps(
    series: Sequence[Series],
    measured: Sequence[_Measured],
    breaks: Sequence[EnvironmentBreak],
    confidence: float,
    tolerance_pct: float,
    confirmations: Confirmations | None,
) -> list[Step]:
    """The change points of each noisy series, within each run between environment breaks:
    the confirmed ones (kind ``change point``) and the candidates that are not."""
    by_position = {m.position: m for m in measured}
    shas = {m.position: m.entry.sha for m in measured}
    cuts = [b.position for b in breaks]
    out = []
    for each in (s for s in series if not s.exact):
        runs = _runs(each.points, cuts)
        for found in time_steps(each, runs, shas, confirmations, confidence=confidence, tolerance_pct=tolerance_pct):
            out.append(_step(each, found.before, found.after, by_position, found.estimate, found.kind))
    return out


def _runs(points: Sequence[Point], cuts: Sequence[int]) -> list[list[Point]]:
    """``points`` split where an environment break starts a new run."""
    runs: list[list[Point]] = [[]]
    for point in points:
        if point.position in cuts and runs[-1]:
            runs.append([])
        runs[-1].append(point)
    return runs
