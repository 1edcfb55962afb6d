"""The x axis of a history chart: a label per commit that fits (short hashes turned upright,
thinned where commits are too close to label each), each a link to the commit's page, and
the dates below."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.commits.timeline import Timeline
from harness.reports.html.charts import Scale

WIDTH, LEFT, RIGHT, TOP, BOTTOM = 560, 78, 548, 12, 132
#: Below the plot: the marks of commits not measured, each commit's label (turned upright,
#: hanging from ``LABELS``), then the dates on ``DATES``.
LABELS, DATES = BOTTOM + 18, BOTTOM + 78
HEIGHT = DATES + 6
#: The least distance between two commit labels (an upright label is one line of 10 px
#: text thick) and between two dates (a date is ten characters wide), in pixels.
LABEL_GAP, DATE_GAP = 12.0, 66.0


@dataclass(frozen=True)
class CommitLabel:
    """A commit's short hash under the axis, a link to its page where the repository has one."""

    x: float
    label: str
    url: str | None
    note: str


@dataclass(frozen=True)
class DateLabel:
    """A date under the axis: the author date of the commit at ``x``, the first of its day;
    ``text_x`` keeps the text inside the chart."""

    x: float
    text_x: float
    label: str


def spaced(positions: Iterable[int], x: Scale, gap: float, *, first: Iterable[int] = ()) -> list[int]:
    """The positions whose labels are drawn, in order: those of ``first`` (the steps), then the
    others from the oldest, each kept only at ``gap`` pixels or more from every label kept."""
    kept: list[float] = []
    chosen = []
    for position in dict.fromkeys([*first, *positions]):
        where = x(position)
        at = bisect.bisect_left(kept, where)
        if any(abs(kept[j] - where) < gap for j in (at - 1, at) if 0 <= j < len(kept)):
            continue
        kept.insert(at, where)
        chosen.append(position)
    return sorted(chosen)


def date_labels(timeline: Timeline, x: Scale) -> tuple[DateLabel, ...]:
    """The author date of the first commit tried on each day, as many as fit without
    overlapping (a commit not tried has no date in the store)."""
    days: dict[str, int] = {}
    for position, entry in enumerate(timeline.entries):
        if entry is not None:
            days.setdefault(entry.author_date[:10], position)
    label = {position: day for day, position in days.items()}
    half = DATE_GAP / 2
    return tuple(
        DateLabel(x(i), min(max(x(i), LEFT - 10 + half), WIDTH - half), label[i])
        for i in spaced(days.values(), x, DATE_GAP)
    )


def commit_labels(
    timeline: Timeline, x: Scale, first: Iterable[int], urls: Mapping[int, str | None], notes: Mapping[int, str]
) -> tuple[CommitLabel, ...]:
    """A label for every commit there is room for, those of ``first`` (the steps) before the others."""
    return tuple(
        CommitLabel(x(i), timeline.commits[i].short[:7], urls.get(i), notes[i])
        for i in spaced(range(len(timeline.commits)), x, LABEL_GAP, first=first)
    )
