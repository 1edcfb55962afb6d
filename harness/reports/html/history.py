"""The history page's context: a chart per experiment and goal across the commits, the steps
marked and listed, the commits that could not be measured (their build failed, or their trials), and the
filters by family, workload and variant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.commits.timeline import FailureStep, Series, Step, Timeline
from harness.declare.metrics import metric
from harness.git import commit_url
from harness.reports.html.charts import Scale, Tick, labelled_ticks
from harness.reports.html.common import _anchor
from harness.reports.html.history_axis import (
    BOTTOM,
    DATES,
    HEIGHT,
    LABELS,
    LEFT,
    RIGHT,
    TOP,
    WIDTH,
    CommitLabel,
    DateLabel,
    commit_labels,
    date_labels,
)
from harness.reports.html.history_rows import (
    FailureRow,
    StepRow,
    change,
    direction,
    failure_row,
    not_measured,
    step_rows,
)


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    low_y: float
    high_y: float
    note: str
    #: The commit's page (from the repository's remote), or None.
    url: str | None = None


@dataclass(frozen=True)
class ChartStep:
    x: float
    anchor: str
    direction: str
    note: str


@dataclass(frozen=True)
class ChartMark:
    """A commit without results (``failed``), one where this experiment's trials failed
    (``trials``), or an environment break (``break``) on the axis."""

    x: float
    kind: str
    note: str


@dataclass(frozen=True)
class HistoryChart:
    title: str
    exact: bool
    #: The polylines through the points: one, broken where the experiment's trials failed.
    lines: tuple[str, ...]
    points: tuple[ChartPoint, ...]
    steps: tuple[ChartStep, ...]
    marks: tuple[ChartMark, ...]
    ticks: tuple[Tick, ...]
    labels: tuple[CommitLabel, ...]
    dates: tuple[DateLabel, ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    top: int = TOP
    bottom: int = BOTTOM
    labels_top: int = LABELS
    dates_top: int = DATES


def step_anchor(index: int, step: Step) -> str:
    return _anchor("step", f"{step.commit.short}-{step.experiment}-{step.measure}", index)


def failure_anchor(index: int, step: FailureStep) -> str:
    return _anchor("trials", f"{step.commit.short}-{step.experiment}", index)


def history_chart(
    series: Series,
    timeline: Timeline,
    steps: Sequence[tuple[str, Step]],
    notes: Mapping[int, str],
    failing: Sequence[tuple[str, FailureStep]] = (),
    urls: Sequence[str | None] = (),
) -> HistoryChart:
    """The series across the range: x is the commit's position, y its mean (and, for time, the
    replicates' range); ``urls`` holds each commit's page, in the timeline's order."""
    fmt = metric(series.metric).format
    count = max(len(timeline.commits) - 1, 1)
    x = Scale(0, count, LEFT, RIGHT)
    url_of = dict(enumerate(urls))
    values = [v for p in series.points for v in (p.values if not series.exact else (p.mean,))]
    lo, hi = min(values), max(values)
    # A flat series (most allocation figures are, most of the time) sits in the middle.
    pad = (hi - lo) * 0.08 if hi > lo else abs(hi) * 0.05 or 1.0
    y = Scale(lo - pad, hi + pad, BOTTOM, TOP)
    points = tuple(
        ChartPoint(x(p.position), y(p.mean), y(min(p.values)), y(max(p.values)), f"{notes[p.position]}: {fmt(p.mean)}")
        for p in series.points
    )
    # Each point links to its commit's page.
    points = tuple(replace(p, url=url_of.get(s.position)) for p, s in zip(points, series.points, strict=True))
    marks = _marks(series, timeline, x, notes)
    chart_steps = tuple(
        ChartStep(x(s.position), anchor, direction(s), f"{notes[s.position]}: {change(s, series.metric)}")
        for anchor, s in steps
    ) + tuple(
        ChartStep(x(f.position), anchor, "failing" if f.failing else "passing", f"{notes[f.position]}: {f.label}")
        for anchor, f in failing
    )
    binary = series.unit == "bytes"
    ticks = tuple(Tick(y(t), label) for t, label in labelled_ticks(lo - pad, hi + pad, fmt, 3, binary=binary))
    first = [*(s.position for _, s in steps), *(f.position for _, f in failing)]
    labels = commit_labels(timeline, x, first, url_of, notes)
    failed = {i for i, e in enumerate(timeline.entries) if e is not None and series.experiment in e.failed_experiments}
    lines = _lines(points, [x(i) for i in sorted(failed)])
    return HistoryChart(
        series.measure, series.exact, lines, points, chart_steps, marks, ticks, labels, date_labels(timeline, x)
    )


def _lines(points: Sequence[ChartPoint], gaps: Sequence[float]) -> tuple[str, ...]:
    """The polylines through ``points``, cut at each x of ``gaps``: no line crosses a commit
    where the figure could not be measured because its trials failed."""
    runs: list[list[ChartPoint]] = [[]]
    for point in points:
        if runs[-1] and any(runs[-1][-1].x < gap < point.x for gap in gaps):
            runs.append([])
        runs[-1].append(point)
    return tuple(" ".join(f"{p.x},{p.y}" for p in run) for run in runs if run)


def _marks(series: Series, timeline: Timeline, x: Scale, notes: Mapping[int, str]) -> tuple[ChartMark, ...]:
    """The commits without results, those where the series' experiment failed, and the environment breaks."""
    marks = [
        ChartMark(x(i), "failed", f"{notes[i]}: {entry.error}")
        for i, entry in enumerate(timeline.entries)
        if entry is not None and not entry.measured
    ]
    marks += [
        ChartMark(x(i), "trials", f"{notes[i]}: {reason}")
        for i, entry in enumerate(timeline.entries)
        if entry is not None
        for experiment, reason in entry.trials_failed
        if experiment == series.experiment
    ]
    marks += [
        ChartMark(x(b.position), "break", f"{notes[b.position]}: {'; '.join(b.differences)}") for b in timeline.breaks
    ]
    return tuple(marks)


def _sections(
    timeline: Timeline,
    experiments: Mapping[str, list[HistoryChart]],
    rows: Sequence[StepRow],
    failure_rows: Sequence[FailureRow],
) -> list[dict[str, Any]]:
    """A section per experiment: its charts, and how many steps of either kind it has."""
    first = {s.experiment: s for s in reversed(timeline.series)}
    return [
        {
            "id": experiment,
            "anchor": _anchor("experiment", experiment, index),
            "family": first[experiment].family,
            "workload": first[experiment].workload,
            "variant": first[experiment].variant,
            "charts": charts,
            "steps": sum(1 for r in rows if r.experiment == experiment)
            + sum(1 for f in failure_rows if f.experiment == experiment),
        }
        for index, (experiment, charts) in enumerate(experiments.items())
    ]


def history_context(
    timeline: Timeline,
    *,
    title: str,
    revisions: str,
    flames: Mapping[tuple[str, str], str],
    store: Path,
    web: str | None = None,
    workloads_differ: Mapping[tuple[str, str], Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The context of ``history.html.j2``; ``flames`` maps (commit sha, experiment) to the flame
    page's path, ``store`` is the store's directory as the reader names it (in the ``explain``
    commands), ``web`` the repository's web page (:func:`harness.git.web_url`), or None,
    ``workloads_differ`` (parent sha, commit sha) to the workload files that differ."""
    notes = {i: f"{c.short} {c.subject}" for i, c in enumerate(timeline.commits)}
    urls = [commit_url(web, c.sha) if c.sha else None for c in timeline.commits]
    anchored = [(step_anchor(i, s), s) for i, s in enumerate(timeline.steps)]
    rows = step_rows(timeline, anchored, flames, workloads_differ or {}, store, urls)
    failing = [(failure_anchor(i, f), f) for i, f in enumerate(timeline.failure_steps)]
    failure_rows = [failure_row(anchor, f, urls[f.position]) for anchor, f in failing]
    experiments: dict[str, list[HistoryChart]] = {}
    for each in timeline.series:
        own = [(a, s) for a, s in anchored if (s.experiment, s.measure) == (each.experiment, each.measure)]
        own_failing = [(a, f) for a, f in failing if f.experiment == each.experiment]
        chart = history_chart(each, timeline, own, notes, own_failing, urls)
        experiments.setdefault(each.experiment, []).append(chart)
    sections = _sections(timeline, experiments, rows, failure_rows)
    failed = not_measured(timeline, web)
    untried = sum(1 for e in timeline.entries if e is None)
    return {
        "kind": "history",
        "title": title,
        "revisions": revisions,
        "n_commits": len(timeline.commits),
        "n_measured": len(set(timeline.measured) - set(timeline.trials_failed)),
        "n_failed": len(timeline.not_measurable),
        "n_trials_failed": len(timeline.trials_failed),
        "n_untried": untried,
        "steps": rows,
        "failure_steps": failure_rows,
        "failed": failed,
        "breaks": timeline.breaks,
        "sections": sections,
        "families": sorted({s["family"] for s in sections}),
        "workloads": sorted({s["workload"] for s in sections}),
        "variants": sorted({s["variant"] for s in sections}),
        "time_note": timeline.time_note,
        "newest": timeline.commits[-1] if timeline.commits else None,
    }
