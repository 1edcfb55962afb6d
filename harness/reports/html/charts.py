"""Chart geometry: plain numbers the templates draw as inline SVG (strips, phases, forest plot)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from harness.declare.metrics import metric
from harness.declare.units import format_bytes, format_pct, format_spread

# Chart geometry: plain numbers the templates draw as SVG.


@dataclass(frozen=True)
class Scale:
    """A linear map from values in ``[lo, hi]`` to pixels in ``[start, end]``."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        if self.hi == self.lo:
            return round((self.start + self.end) / 2, 1)
        clamped = min(max(value, self.lo), self.hi)
        return round(self.start + (clamped - self.lo) / (self.hi - self.lo) * (self.end - self.start), 1)


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


def nice_ticks(lo: float, hi: float, count: int = 4, *, binary: bool = False) -> list[float]:
    """Round values between ``lo`` and ``hi`` (1, 2, 2.5 or 5 times a power of ten apart);
    with ``binary``, round in the KiB, MiB or GiB the range is best read in."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    unit = 1.0
    if binary:
        magnitude = max(abs(lo), abs(hi))
        unit = next((float(u) for u in (1024**3, 1024**2, 1024) if magnitude >= u), 1.0)
    lo, hi = lo / unit, hi / unit
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = []
    value = math.ceil(lo / step - 1e-9) * step
    while value <= hi + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value * unit)
        value += step
    return ticks


def labelled_ticks(
    lo: float, hi: float, fmt: Callable[[float], str], count: int = 4, *, binary: bool = False
) -> list[tuple[float, str]]:
    """Round values between ``lo`` and ``hi`` with their labels, no label twice: where the
    format's precision would print two ticks alike (2.008, 2.008, 2.007 over a narrow range),
    fewer ticks, then the range's ends, then one."""
    for wanted in range(count, 0, -1):
        ticks = [(t, fmt(t)) for t in nice_ticks(lo, hi, wanted, binary=binary)]
        if len({label for _, label in ticks}) == len(ticks):
            return ticks
    ends = [(lo, fmt(lo)), (hi, fmt(hi))]
    return ends if ends[0][1] != ends[1][1] else [((lo + hi) / 2, fmt((lo + hi) / 2))]


def _domain(values: Iterable[float], *, include_zero: bool = True) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad if lo < 0 else lo, hi + pad
    return lo, hi


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    note: str


@dataclass(frozen=True)
class StripRow:
    """One group of values (a variant, or the baseline or the candidate), one dot per replicate."""

    label: str
    role: str
    y: float
    dots: tuple[Dot, ...]
    mean_x: float | None
    summary: str


@dataclass(frozen=True)
class StripChart:
    title: str
    width: int
    height: int
    plot_left: int
    plot_right: int
    rows: tuple[StripRow, ...]
    ticks: tuple[Tick, ...]
    zero_x: float | None


STRIP_WIDTH, STRIP_LABEL, STRIP_ROW = 440, 110, 22


def strip_chart(
    title: str, metric_name: str, groups: Sequence[tuple[str, str, Sequence[tuple[float, str]]]]
) -> StripChart:
    """Every replicate of each group as a dot on one shared axis, the mean as a bar.

    ``groups`` holds ``(label, role, [(value, note), ...])``; identical values (allocation
    figures often are) are spread vertically so the reader can still count them.
    """
    fmt = metric(metric_name).format
    lo, hi = _domain(v for _, _, values in groups for v, _ in values)
    hi += (hi - lo) * 0.04
    right = STRIP_WIDTH - 96
    scale = Scale(lo, hi, STRIP_LABEL, right)
    rows = []
    for index, (label, role, values) in enumerate(groups):
        y = 10 + index * STRIP_ROW + STRIP_ROW / 2
        dots = tuple(
            Dot(scale(v), round(y + ((i % 5) - 2) * 2.2, 1), f"{label} · {note}: {fmt(v)}")
            for i, (v, note) in enumerate(values)
        )
        numbers = [v for v, _ in values]
        if numbers:
            mean = statistics.fmean(numbers)
            summary = format_spread(numbers, fmt)
        else:
            mean, summary = math.nan, "no data"
        rows.append(StripRow(label, role, y, dots, scale(mean) if numbers else None, summary))
    height = 10 + len(groups) * STRIP_ROW + 22
    binary = metric(metric_name).unit == "bytes"
    ticks = tuple(Tick(scale(t), label) for t, label in labelled_ticks(lo, hi, fmt, binary=binary))
    return StripChart(
        title, STRIP_WIDTH, height, STRIP_LABEL, right, tuple(rows), ticks, scale(0.0) if lo < 0 < hi else None
    )


@dataclass(frozen=True)
class PhaseMark:
    x: float
    level_y: float
    peak_y: float
    note: str


@dataclass(frozen=True)
class PhaseSeries:
    label: str
    role: str
    points: str
    marks: tuple[PhaseMark, ...]


@dataclass(frozen=True)
class PhaseChart:
    """In-use bytes across the phases: the level at each phase's end, and its peak inside."""

    title: str
    width: int
    height: int
    base_y: float
    series: tuple[PhaseSeries, ...]
    columns: tuple[Tick, ...]
    ticks: tuple[Tick, ...]


PHASE_WIDTH, PHASE_HEIGHT, PHASE_LEFT, PHASE_TOP, PHASE_BOTTOM = 260, 150, 62, 10, 118


def _levels(phases: Sequence[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """``(phase, net, peak)`` to ``(phase, level at its end, peak level)`` above the first phase's start."""
    level, out = 0.0, []
    for name, net, peak in phases:
        peak_level = level + (peak if math.isfinite(peak) else max(net, 0.0))
        level += net
        out.append((name, level, max(peak_level, level)))
    return out


def _clip(label: str, chars: int) -> str:
    """``label`` cut to ``chars`` characters (an ellipsis marks the cut), so axis labels do not overlap."""
    return label if len(label) <= chars else label[: max(chars - 1, 1)] + "\N{HORIZONTAL ELLIPSIS}"


def phase_levels(series: Sequence[Sequence[tuple[str, float, float]]]) -> tuple[float, float]:
    """The value range of the levels and peaks of several series, for charts that share a scale."""
    return _domain(v for phases in series for _, level, peak in _levels(phases) for v in (level, peak))


def phase_chart(
    title: str,
    series: Sequence[tuple[str, str, Sequence[tuple[str, float, float]]]],
    domain: tuple[float, float] | None = None,
) -> PhaseChart | None:
    """A small chart of memory rising and falling back across phases, or None with under two phases.

    ``series`` holds ``(label, role, [(phase, mean net_bytes, mean peak_bytes), ...])``; the
    series share one scale (``domain``, or their own range) so they compare by height.
    """
    columns = list(dict.fromkeys(name for _, _, phases in series for name, _, _ in phases))
    if len(columns) < 2:
        return None
    lo, hi = domain or phase_levels([phases for _, _, phases in series])
    y = Scale(lo, hi, PHASE_BOTTOM, PHASE_TOP)
    step = (PHASE_WIDTH - PHASE_LEFT - 10) / len(columns)
    x_of = {name: PHASE_LEFT + step * (i + 0.5) for i, name in enumerate(columns)}
    offsets = [0.0] if len(series) == 1 else [-5.0 + 10.0 * i / (len(series) - 1) for i in range(len(series))]
    out = []
    for (label, role, phases), offset in zip(series, offsets, strict=True):
        marks = tuple(
            PhaseMark(
                round(x_of[name] + offset, 1),
                y(level),
                y(peak),
                f"{label} · after {name}: {format_bytes(level, signed=True)}, peak {format_bytes(peak, signed=True)}",
            )
            for name, level, peak in _levels(phases)
        )
        points = " ".join([f"{PHASE_LEFT},{y(0.0)}", *(f"{m.x},{m.level_y}" for m in marks)])
        out.append(PhaseSeries(label, role, points, marks))
    signed = partial(format_bytes, signed=True)
    ticks = tuple(Tick(y(t), label) for t, label in labelled_ticks(lo, hi, signed, 3, binary=True))
    return PhaseChart(
        title,
        PHASE_WIDTH,
        PHASE_HEIGHT,
        y(0.0),
        tuple(out),
        tuple(Tick(round(x, 1), _clip(name, int(step / 5.5))) for name, x in x_of.items()),
        ticks,
    )


@dataclass(frozen=True)
class ForestMark:
    """One experiment's Δ % and its interval on the shared forest axis."""

    low: float
    high: float
    point: float
    open_low: bool
    open_high: bool
    #: -1 or +1 where Δ itself lies beyond the axis (drawn as an arrow at that end with
    #: ``value`` beside it, not as a point clipped to the edge); 0 on the axis.
    off_scale: int = 0
    value: str = ""


@dataclass(frozen=True)
class ForestAxis:
    width: int
    zero: float
    band_low: float
    band_high: float
    ticks: tuple[Tick, ...]

    @property
    def band_width(self) -> float:
        return round(self.band_high - self.band_low, 1)


FOREST_WIDTH = 200


def forest_axis(intervals: Iterable[tuple[float, float, float]], tolerance_pct: float) -> tuple[ForestAxis, Scale]:
    """A symmetric axis around 0 wide enough for every finite interval (capped at ±100 %)."""
    extent = max(
        [abs(v) for triple in intervals for v in triple if math.isfinite(v)] + [2 * tolerance_pct, 1.0],
    )
    extent = min(extent, 100.0) * 1.08
    scale = Scale(-extent, extent, 8, FOREST_WIDTH - 8)
    ticks = tuple(Tick(scale(t), f"{t:+g}%" if t else "0") for t in nice_ticks(-extent, extent, 4))
    axis = ForestAxis(FOREST_WIDTH, scale(0.0), scale(-tolerance_pct), scale(tolerance_pct), ticks)
    return axis, scale


def forest_mark(scale: Scale, delta: float, low: float, high: float) -> ForestMark | None:
    """Where an interval sits; a side beyond the axis (or infinite) is drawn as an open arrow."""
    if not math.isfinite(delta) and not (math.isfinite(low) or math.isfinite(high)):
        return None
    off_scale = (delta > scale.hi) - (delta < scale.lo) if not math.isnan(delta) else 0
    return ForestMark(
        scale(low) if math.isfinite(low) else scale.start,
        scale(high) if math.isfinite(high) else scale.end,
        scale(delta) if math.isfinite(delta) else (scale.end if delta > 0 else scale.start),
        not math.isfinite(low) or low < scale.lo,
        not math.isfinite(high) or high > scale.hi,
        off_scale,
        format_pct(delta, 0, "%") if off_scale else "",
    )
