"""The rows of the history page's tables: the steps of exact and time figures, the steps
where trials start or stop failing, and the commits that could not be measured."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.commits.timeline import FailureStep, Series, Step, Timeline
from harness.compare.calltree import explains, figure_of_goal
from harness.declare.metrics import absolute_change, metric
from harness.declare.units import format_pct
from harness.git import commit_url
from harness.reports.flame import flame_anchor
from harness.reports.step_command import explain_command


@dataclass(frozen=True)
class StepRow:
    anchor: str
    sha: str
    short: str
    url: str | None
    date: str
    subject: str
    experiment: str
    family: str
    workload: str
    variant: str
    measure: str
    phase: str
    figure: str
    kind: str
    before: str
    after: str
    delta: str
    delta_pct: float
    interval: str
    direction: str
    flame: str | None
    #: The ``harness explain`` command of the step's own phase and figure (allocation steps only).
    explain: str | None
    unmeasured_between: int
    #: ``workload files that differ from PARENT: ...``, or "" when the step's workloads are its parent's.
    workloads_note: str = ""


@dataclass(frozen=True)
class FailureRow:
    """A step between measured and failing trials, in the table of steps."""

    anchor: str
    sha: str
    short: str
    url: str | None
    date: str
    subject: str
    experiment: str
    family: str
    workload: str
    variant: str
    label: str
    before: str
    after: str
    direction: str
    reason: str
    unmeasured_between: int


def pct(value: float) -> str:
    return format_pct(value, places=2, suffix="%")


def change(step: Step, name: str) -> str:
    """A step's Δ %, or its absolute change from or to zero."""
    return absolute_change(name, step.before, step.after) or pct(step.delta_pct)


def direction(step: Step) -> str:
    # Every goal is a cost (bytes, counts, seconds): more is a regression.
    return "regression" if step.after > step.before else "improvement"


def step_row(
    anchor: str,
    step: Step,
    series: Series,
    flame: str | None,
    explain: str | None,
    url: str | None,
    differ: Sequence[str] = (),
) -> StepRow:
    fmt = metric(series.metric).format
    absolute = absolute_change(series.metric, step.before, step.after)
    interval = "" if absolute else f"[{pct(step.ci_low_pct)}, {pct(step.ci_high_pct)}]"
    phase, goal = step.measure.rsplit(".", 1)
    figure = figure_of_goal(goal)
    return StepRow(
        anchor,
        step.commit.sha,
        step.commit.short,
        url,
        step.commit.author_date[:10],
        step.commit.subject,
        step.experiment,
        series.family,
        series.workload,
        series.variant,
        step.measure,
        phase,
        figure,
        step.kind,
        fmt(step.before),
        fmt(step.after),
        absolute or pct(step.delta_pct),
        step.delta_pct,
        interval,
        direction(step),
        # The step's own graph on the commit's flame page (a page holds each phase and figure).
        f"{flame}#{flame_anchor(step.experiment, phase, figure)}" if flame else None,
        explain,
        step.unmeasured_between,
        f"workload files that differ from {step.parent.short}: {', '.join(differ)}" if differ else "",
    )


def failure_row(anchor: str, step: FailureStep, url: str | None) -> FailureRow:
    states = ("measured", "trials failed") if step.failing else ("trials failed", "measured")
    return FailureRow(
        anchor,
        step.commit.sha,
        step.commit.short,
        url,
        step.commit.author_date[:10],
        step.commit.subject,
        step.experiment,
        step.family,
        step.workload,
        step.variant,
        step.label,
        *states,
        "regression" if step.failing else "improvement",
        step.reason,
        step.unmeasured_between,
    )


def not_measured(timeline: Timeline, web: str | None) -> list[dict[str, Any]]:
    """The commits without results, and those where an experiment's trials failed, oldest first."""
    rows = []
    for commit, entry in zip(timeline.commits, timeline.entries, strict=True):
        if entry is None or entry.failure is None:
            continue
        reasons = [("", entry.error)] if entry.error is not None else list(entry.trials_failed)
        what = "build or setup" if entry.error is not None else "trials"
        rows.append(
            {
                "short": commit.short,
                "sha": entry.sha,
                "url": commit_url(web, entry.sha),
                "date": entry.author_date[:10],
                "subject": commit.subject,
                "what": what,
                "reasons": reasons,
            }
        )
    return rows


def step_rows(
    timeline: Timeline,
    anchored: Sequence[tuple[str, Step]],
    flames: Mapping[tuple[str, str], str],
    differ: Mapping[tuple[str, str], Sequence[str]],
    store: Path,
    urls: Sequence[str | None],
) -> list[StepRow]:
    """A row per step: an allocation step links its flame graph and shows its explain command."""
    by_key = {(s.experiment, s.measure): s for s in timeline.series}
    return [
        step_row(
            anchor,
            s,
            by_key[(s.experiment, s.measure)],
            flames.get((s.commit.sha, s.experiment)) if s.kind == "exact" else None,
            explain_command(s, store) if s.kind == "exact" and explains(s.measure.rsplit(".", 1)[1]) else None,
            urls[s.position],
            differ.get((s.parent.sha, s.commit.sha), ()),
        )
        for anchor, s in anchored
    ]
