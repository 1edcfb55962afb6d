"""The HTML report: one self-contained page a reviewer opens from a CI artifact.

:func:`write_html` renders either a verdict (baseline against candidate: the forest plot of
Δ mean %, every replicate of both sides, the top call sites and movers, the bounds checks)
or a single results file (the variants of each family side by side: which allocates,
retains and peaks least, with ratios). Pages are Jinja2 templates under ``templates/``
that extend ``base.html.j2``; charts are inline SVG computed here, so the file makes no
request of its own and works opened from disk with the network off. Everything that comes
from user code (names, parameters, file paths, docstrings) goes through autoescaping, and a
Content-Security-Policy lets no script run but the page's own (pinned by its hash).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import math
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from harness.metrics import metric
from harness.profiles import Roots, mean_sites, relative_file
from harness.reports.flame import FlameGraph, flame_anchor, flame_graph
from harness.results import ExperimentInfo, Results, TrialResult
from harness.units import format_bytes, format_pct
from harness.verdict import DECISIONS, ExperimentVerdict, Verdict

TEMPLATES = Path(__file__).with_name("templates")

#: The three questions of the variants view, each answered over a whole trial.
HEADLINES = (
    ("alloc_bytes", "allocates", "bytes allocated, summed over the phases", sum),
    ("net_bytes", "retains", "net bytes still held, summed over the phases", sum),
    ("peak_bytes", "peaks", "the highest peak of any phase, above that phase's start", max),
)
#: Per-phase rows of the variants view, most telling first.
PHASE_METRICS = ("alloc_bytes", "alloc_count", "kept_bytes", "net_bytes", "peak_bytes", "wall_s")
#: Timing is never deterministic: shown, never called a winner.
NOISY_METRICS = frozenset({"wall_s", "wall_s_per_op"})
TOP_SITES = 8


# ---------------------------------------------------------------------------------------------
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
            spread = 100 * statistics.stdev(numbers) / abs(mean) if len(numbers) > 1 and mean else 0.0
            summary = f"{fmt(mean)} ±{spread:.0f}%"
        else:
            mean, summary = math.nan, "no data"
        rows.append(StripRow(label, role, y, dots, scale(mean) if numbers else None, summary))
    height = 10 + len(groups) * STRIP_ROW + 22
    binary = metric(metric_name).unit == "bytes"
    ticks = tuple(Tick(scale(t), fmt(t)) for t in nice_ticks(lo, hi, binary=binary))
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
    ticks = tuple(Tick(y(t), format_bytes(t, signed=True)) for t in nice_ticks(lo, hi, 3, binary=True))
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
    return ForestMark(
        scale(low) if math.isfinite(low) else scale.start,
        scale(high) if math.isfinite(high) else scale.end,
        scale(delta) if math.isfinite(delta) else (scale.end if delta > 0 else scale.start),
        not math.isfinite(low) or low < scale.lo,
        not math.isfinite(high) or high > scale.hi,
    )


# ---------------------------------------------------------------------------------------------
# Shared pieces of both views.


@dataclass(frozen=True)
class SiteRow:
    function: str
    location: str
    cells: tuple[str, ...]
    delta: str = ""
    delta_sign: int = 0


@dataclass(frozen=True)
class SiteTable:
    title: str
    columns: tuple[str, ...]
    rows: tuple[SiteRow, ...]
    delta_title: str = ""

    @property
    def has_delta(self) -> bool:
        return bool(self.delta_title)


def _short_path(path: str, root: Roots | None) -> str:
    return relative_file(path, root or "")


def _site_metrics(rows: Iterable[Mapping[str, float]]) -> tuple[str, ...]:
    present = {name for row in rows for name in row}
    order = ("alloc_bytes", "alloc_count", "kept_bytes", "net_bytes", "net_count")
    return tuple(name for name in order if name in present)


def site_table(
    title: str,
    sites: Mapping[tuple[str, str, int], Mapping[str, float]],
    root: Roots | None,
    baseline: Mapping[tuple[str, str, int], Mapping[str, float]] | None = None,
    limit: int = TOP_SITES,
) -> SiteTable | None:
    """The top call sites by the first byte figure the backend measured (or, against a
    baseline, the sites whose figure moved most), with file, line and function."""
    metrics = _site_metrics([*sites.values(), *(baseline or {}).values()])
    if not metrics:
        return None
    key_metric = metrics[0]
    if baseline is None:
        ranked = sorted(sites, key=lambda k: -abs(sites[k].get(key_metric, 0.0)))
    else:
        keys = set(sites) | set(baseline)

        def moved(k: tuple[str, str, int]) -> float:
            return sites.get(k, {}).get(key_metric, 0.0) - baseline.get(k, {}).get(key_metric, 0.0)

        ranked = sorted((k for k in keys if moved(k)), key=lambda k: -abs(moved(k)))
    rows = []
    for key in ranked[:limit]:
        function, file, line = key
        figures = sites.get(key, {})
        cells = tuple(metric(m).format(figures[m]) if m in figures else "" for m in metrics)
        delta, sign = "", 0
        if baseline is not None:
            change = figures.get(key_metric, 0.0) - baseline.get(key, {}).get(key_metric, 0.0)
            delta, sign = metric(key_metric).format(change, signed=True), (change > 0) - (change < 0)
        rows.append(SiteRow(function, f"{_short_path(file, root)}:{line}", cells, delta, sign))
    if not rows:
        return None
    columns = tuple(m.replace("_", " ") for m in metrics)
    delta_title = f"Δ {key_metric.replace('_', ' ')}" if baseline is not None else ""
    return SiteTable(title, columns, tuple(rows), delta_title)


def _values(trials: Sequence[TrialResult], phase: str, name: str) -> list[tuple[float, str]]:
    out = []
    for trial in trials:
        measured = trial.phase(phase)
        value = measured.metrics.get(name) if measured else None
        if value is not None:
            out.append((float(value), f"replicate {trial.replicate} (seed {trial.seed})"))
    return out


def _phase_means(trials: Sequence[TrialResult]) -> list[tuple[str, float, float]]:
    names = list(dict.fromkeys(p.name for t in trials for p in t.phases))
    out = []
    for name in names:
        nets = [v for v, _ in _values(trials, name, "net_bytes")]
        peaks = [v for v, _ in _values(trials, name, "peak_bytes")]
        if nets:
            out.append((name, statistics.fmean(nets), statistics.fmean(peaks) if peaks else math.nan))
    return out


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "no parameters"


def _anchor(prefix: str, text: str, index: int) -> str:
    # Ids come from user text: keep letters and digits only, and make them unique by index.
    return f"{prefix}-{index}-{re.sub(r'[^A-Za-z0-9]+', '-', text).strip('-')[:60]}"


def _environment_rows(env: Mapping[str, Any]) -> list[tuple[str, str]]:
    keys = ("git_commit", "git_dirty", "python_version", "implementation", "platform", "backend", "hostname")
    rows = [(k.replace("_", " "), str(env[k])) for k in keys if env.get(k) not in (None, "")]
    rows += [
        (k.replace("_", " "), str(v)) for k, v in env.items() if k not in keys and isinstance(v, str | int | float)
    ]
    return rows


def _commit(env: Mapping[str, Any]) -> str:
    commit = env.get("git_commit") or env.get("commit")
    if not commit:
        return "no commit"
    return f"{str(commit)[:12]}{' (dirty)' if env.get('git_dirty') else ''}"


# ---------------------------------------------------------------------------------------------
# The variants view: one results file.


@dataclass(frozen=True)
class Headline:
    """One question (allocates, retains, peaks) answered for every variant of a group."""

    question: str
    explanation: str
    winner: str
    cells: tuple[tuple[str, str, bool], ...]  # per variant: value, ratio to the best, is best


@dataclass(frozen=True)
class MetricRow:
    phase: str
    metric: str
    noisy: bool
    cells: tuple[tuple[str, str, bool], ...]


@dataclass(frozen=True)
class VariantGroup:
    """The variants of one family that ran the same workload with the same parameters."""

    anchor: str
    family: str
    workload: str
    params: str
    variants: tuple[str, ...]
    experiment_ids: tuple[str, ...]
    failed: tuple[str, ...]
    headlines: tuple[Headline, ...]
    rows: tuple[MetricRow, ...]
    strips: tuple[StripChart, ...]
    phase_charts: tuple[PhaseChart, ...]
    sites: tuple[SiteTable, ...]


def _compare(
    values: Mapping[str, float | None], fmt: Callable[..., str], *, judge: bool
) -> tuple[str, tuple[tuple[str, str, bool], ...]]:
    """Each variant's value, its ratio to the least (or its distance, when the least is not
    positive), and the name of the least; no winner when all are equal or ``judge`` is off."""
    present = {k: v for k, v in values.items() if v is not None}
    best = min(present.values()) if present else None
    distinct = len(set(present.values())) > 1
    cells = []
    for value in values.values():
        if value is None or best is None:
            cells.append(("", "", False))
            continue
        if not distinct:
            relation = "="
        elif best > 0:
            relation = f"\N{MULTIPLICATION SIGN}{value / best:.2f}"
        else:
            relation = fmt(value - best, signed=True)
        if judge and distinct and value == best:
            relation = "least"
        cells.append((fmt(value), relation, judge and distinct and value == best))
    winner = next((k for k, v in present.items() if v == best), "") if judge and distinct else ""
    return winner, tuple(cells)


def _trial_total(trial: TrialResult, name: str, combine: Callable[[Iterable[float]], float]) -> float | None:
    values = [float(v) for p in trial.phases if (v := p.metrics.get(name)) is not None]
    return combine(values) if values else None


def _variant_group(index: int, members: Sequence[ExperimentInfo], results: Results) -> VariantGroup:
    first = members[0]
    root = results.environment.get("project_root")
    trials = {e.variant: [t for t in results.trials_of(e.id) if t.ok] for e in members}
    failed = tuple(
        f"{t.experiment} replicate {t.replicate}: {t.error}"
        for e in members
        for t in results.trials_of(e.id)
        if not t.ok
    )
    variants = tuple(e.variant for e in members)
    headlines, strips = [], []
    for name, question, explanation, combine in HEADLINES:
        totals = {
            v: [
                (total, f"replicate {t.replicate}")
                for t in trials[v]
                if (total := _trial_total(t, name, combine)) is not None
            ]
            for v in variants
        }
        if not any(totals.values()):
            continue
        means = {v: statistics.fmean(x for x, _ in totals[v]) if totals[v] else None for v in variants}
        winner, cells = _compare(means, metric(name).format, judge=True)
        headlines.append(Headline(question, explanation, winner, cells))
        strips.append(strip_chart(f"{question}: {explanation}", name, [(v, "variant", totals[v]) for v in variants]))
    phases = list(dict.fromkeys(p.name for v in variants for t in trials[v] for p in t.phases))
    rows = []
    for phase in phases:
        for name in PHASE_METRICS:
            per_variant = {v: [x for x, _ in _values(trials[v], phase, name)] for v in variants}
            if not any(per_variant.values()):
                continue
            means = {v: statistics.fmean(xs) if xs else None for v, xs in per_variant.items()}
            _, cells = _compare(means, metric(name).format, judge=name not in NOISY_METRICS)
            rows.append(MetricRow(phase, name.replace("_", " "), name in NOISY_METRICS, cells))
    by_phase = {v: _phase_means(trials[v]) for v in variants}
    shared = phase_levels(list(by_phase.values()))
    charts = [c for v in variants if (c := phase_chart(v, [(v, "variant", by_phase[v])], shared)) is not None]
    sites = []
    for v in variants:
        for phase in phases:
            table = site_table(f"{v} · {phase}", mean_sites(trials[v], phase), root)
            if table is not None:
                sites.append(table)
    label = f"{first.family}.{first.workload}[{_params_text(first.params)}]"
    return VariantGroup(
        _anchor("group", label, index),
        first.family,
        first.workload,
        _params_text(first.params),
        variants,
        tuple(e.id for e in members),
        failed,
        tuple(headlines),
        tuple(rows),
        tuple(strips),
        tuple(charts),
        tuple(sites),
    )


def results_context(results: Results) -> dict[str, Any]:
    """What the variants page shows, computed from one results file."""
    groups: dict[tuple[str, str, str], list[ExperimentInfo]] = {}
    for info in results.experiments:
        key = (info.family, info.workload, json.dumps(dict(info.params), sort_keys=True, default=str))
        groups.setdefault(key, []).append(info)
    view = [_variant_group(i, members, results) for i, members in enumerate(groups.values())]
    families = list(dict.fromkeys(g.family for g in view))
    trials = results.trials
    return {
        "kind": "results",
        "title": "harness · variants side by side",
        "created": results.created,
        "environment": _environment_rows(results.environment),
        "commit": _commit(results.environment),
        "settings": [(k.replace("_", " "), str(v)) for k, v in results.settings.items()],
        "families": families,
        "groups": view,
        "n_experiments": len(results.experiments),
        "n_trials": len(trials),
        "n_failed": sum(1 for t in trials if not t.ok),
        "interrupted": results.interrupted,
    }


# ---------------------------------------------------------------------------------------------
# The verdict view: a baseline against a candidate.


@dataclass(frozen=True)
class BoundRow:
    experiment: str
    name: str
    upper: str
    passed: bool
    tally: str
    worst: str


@dataclass(frozen=True)
class ExperimentRow:
    """One row of the experiments table: one experiment's goal metric on one phase."""

    anchor: str
    id: str
    family: str
    phase: str
    goal: str
    baseline: str
    baseline_sort: float
    candidate: str
    candidate_sort: float
    delta: str
    delta_sort: float
    interval: str
    mark: ForestMark | None
    decision: str
    erratic: bool
    replicates: str
    bounds: str
    bounds_ok: bool


@dataclass(frozen=True)
class ExperimentDetail:
    anchor: str
    id: str
    family: str
    decisions: tuple[str, ...]
    params: str
    errors: tuple[str, ...]
    strips: tuple[StripChart, ...]
    phase_chart: PhaseChart | None
    sites: tuple[SiteTable, ...]
    bounds: tuple[BoundRow, ...]
    flames: tuple[FlameGraph, ...] = ()


def _trials_by_id(results: Results | None) -> dict[str, list[TrialResult]]:
    if results is None:
        return {}
    out: dict[str, list[TrialResult]] = {}
    for trial in results.trials:
        if trial.ok:
            out.setdefault(trial.experiment, []).append(trial)
    return {k: sorted(v, key=lambda t: t.replicate) for k, v in out.items()}


def _mover_table(row: ExperimentVerdict) -> SiteTable | None:
    """The verdict's top movers of one row: sites (function and file) whose bytes moved most."""
    if not row.top_sites:
        return None
    rows = []
    for move in row.top_sites:
        function, _, where = move.site.partition(" (")
        rows.append(
            SiteRow(
                function,
                where.removesuffix(")"),
                (format_bytes(move.baseline), format_bytes(move.candidate)),
                format_bytes(move.delta, signed=True),
                (move.delta > 0) - (move.delta < 0),
            )
        )
    title = f"{row.phase} · top movers against the baseline (bytes per replicate)"
    return SiteTable(title, ("baseline", "candidate"), tuple(rows), "Δ")


def _replicate_values(values: Sequence[float]) -> list[tuple[float, str]]:
    return [(v, f"replicate {i}") for i, v in enumerate(values)]


def _flames(
    group: Sequence[ExperimentVerdict],
    b_trials: Sequence[TrialResult],
    c_trials: Sequence[TrialResult],
    roots: tuple[Roots, Roots],
    requested: bool,
) -> tuple[FlameGraph, ...]:
    """The delta flame graph of each regressed or improved allocation goal (of every row when
    ``requested``), one per phase and figure."""
    from harness.flame import explains, figure_of_goal, flame_tree

    if not (b_trials or c_trials):
        return ()
    graphs: dict[tuple[str, str], FlameGraph] = {}
    for entry in group:
        figure = figure_of_goal(entry.goal)
        wanted = requested or (entry.decision in ("regression", "improvement") and explains(entry.goal))
        if not wanted or (entry.phase, figure) in graphs:
            continue
        tree = flame_tree(entry.id, entry.phase, b_trials, c_trials, figure=figure, roots=roots)
        if not (tree.baseline_replicates or tree.candidate_replicates):
            continue
        title = f"{entry.phase} · {entry.goal.replace('_', ' ')} · {entry.decision.replace('_', ' ')}"
        graphs[(entry.phase, figure)] = flame_graph(tree, flame_anchor(entry.id, entry.phase, figure), title)
    return tuple(graphs.values())


def verdict_context(
    verdict: Verdict,
    baseline: Results | None = None,
    candidate: Results | None = None,
    flames: Sequence[str] = (),
) -> dict[str, Any]:
    """What the verdict page shows; ``baseline`` and ``candidate`` add the phases, the call sites
    and a delta flame graph per regression and improvement (and per experiment that ``flames``,
    glob patterns of ids, asks for)."""
    from fnmatch import fnmatchcase

    from harness.flame import project_root

    tolerance = verdict.tolerance_pct
    entries = verdict.experiments
    infos = {e.id: e for r in (baseline, candidate) if r is not None for e in r.experiments}
    base_trials, cand_trials = _trials_by_id(baseline), _trials_by_id(candidate)
    source = candidate or baseline
    root = str(source.environment.get("project_root") or "") if source else None
    triples = [
        (
            e.delta_pct if e.delta_pct is not None else math.nan,
            e.ci_low_pct if e.ci_low_pct is not None else math.nan,
            e.ci_high_pct if e.ci_high_pct is not None else math.nan,
        )
        for e in entries
    ]
    # Erratic rows are shown, not judged: their wide intervals are clipped (drawn as open
    # arrows) rather than squeezing the rows that are judged into a sliver around zero.
    judged = [t for t, e in zip(triples, entries, strict=True) if not e.erratic]
    axis, scale = forest_axis(judged or triples, tolerance)
    by_id: dict[str, list[ExperimentVerdict]] = {}
    for entry in entries:
        by_id.setdefault(entry.id, []).append(entry)
    anchors = {eid: _anchor("exp", eid, i) for i, eid in enumerate(by_id)}
    rows = []
    for entry, (delta, low, high) in zip(entries, triples, strict=True):
        fmt = metric(entry.goal).format
        rows.append(
            ExperimentRow(
                anchors[entry.id],
                entry.id,
                entry.family,
                entry.phase,
                entry.goal,
                fmt(entry.baseline_mean) if entry.baseline_mean is not None else "",
                entry.baseline_mean if entry.baseline_mean is not None else -1e300,
                fmt(entry.candidate_mean) if entry.candidate_mean is not None else "",
                entry.candidate_mean if entry.candidate_mean is not None else -1e300,
                format_pct(delta, 1, "%"),
                delta if math.isfinite(delta) else (1e300 if delta > 0 else -1e300 if delta < 0 else 0.0),
                f"[{format_pct(low, 1, '%')}, {format_pct(high, 1, '%')}]"
                if not (math.isnan(low) or math.isnan(high))
                else "",
                forest_mark(scale, delta, low, high),
                entry.decision,
                entry.erratic,
                f"{entry.replicates[0]} vs {entry.replicates[1]}",
                f"{sum(1 for b in entry.bounds if b.passed)}/{len(entry.bounds)}" if entry.bounds else "",
                all(b.passed for b in entry.bounds),
            )
        )
    details = []
    all_bounds = []
    for eid, group in by_id.items():
        info = infos.get(eid)
        b_trials, c_trials = base_trials.get(eid, []), cand_trials.get(eid, [])
        strips = [
            strip_chart(
                f"{entry.phase} · {entry.goal.replace('_', ' ')}",
                entry.goal,
                [
                    ("baseline", "baseline", _replicate_values(entry.baseline_values)),
                    ("candidate", "candidate", _replicate_values(entry.candidate_values)),
                ],
            )
            for entry in group
            if entry.baseline_values or entry.candidate_values
        ]
        chart = phase_chart(
            "in-use bytes across the phases",
            [
                (label, label, means)
                for label, means in (("baseline", _phase_means(b_trials)), ("candidate", _phase_means(c_trials)))
                if means
            ],
        )
        sites = [table for entry in group if (table := _mover_table(entry)) is not None]
        for phase in dict.fromkeys(p.name for t in c_trials for p in t.phases):
            table = site_table(f"candidate · {phase} · top call sites", mean_sites(c_trials, phase), root)
            if table is not None:
                sites.append(table)
        bounds = [
            BoundRow(
                eid,
                check.name,
                metric(check.metric).format(check.upper),
                check.passed,
                f"{check.replicates_passed}/{check.replicates}",
                metric(check.metric).format(check.worst) if check.worst is not None else "",
            )
            for entry in group
            for check in entry.bounds
        ]
        all_bounds.extend(bounds)
        requested = any(fnmatchcase(eid, pattern) or pattern in eid for pattern in flames)
        roots = (project_root(baseline), project_root(candidate))
        flame_graphs = _flames(group, b_trials, c_trials, roots, requested)
        first = group[0]
        details.append(
            ExperimentDetail(
                anchors[eid],
                eid,
                first.family,
                tuple(dict.fromkeys(e.decision for e in group)),
                _params_text(info.params if info else first.params),
                tuple(dict.fromkeys(e.error for e in group if e.error)),
                tuple(strips),
                chart,
                tuple(sites),
                tuple(bounds),
                flame_graphs,
            )
        )
    counts = {d: verdict.count(d) for d in DECISIONS}
    return {
        "kind": "verdict",
        "title": f"harness · gate {'passed' if verdict.passed else 'failed'}",
        "passed": verdict.passed,
        "reasons": verdict.reasons,
        "gates": verdict.gates,
        "confidence": verdict.confidence,
        "tolerance": tolerance,
        "erratic_cv": verdict.erratic_cv,
        "baseline_env": _environment_rows(verdict.baseline),
        "candidate_env": _environment_rows(verdict.candidate),
        "baseline_commit": _commit(verdict.baseline),
        "candidate_commit": _commit(verdict.candidate),
        "baseline_name": _baseline_name(verdict.baseline),
        "created": (candidate.created if candidate else "") or "",
        "families": list(dict.fromkeys(r.family for r in rows)),
        "rows": rows,
        "axis": axis,
        "details": details,
        "bounds": all_bounds,
        "counts": counts,
        "n_erratic": sum(1 for r in rows if r.erratic),
        "has_results": bool(base_trials or cand_trials),
    }


def _baseline_name(env: Mapping[str, Any]) -> str:
    meta = env.get("baseline")
    if isinstance(meta, Mapping):
        return str(meta.get("name") or "")
    return ""


# ---------------------------------------------------------------------------------------------
# Rendering.


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = partial(format_pct, places=1, suffix="%")
    env.filters["bytes"] = format_bytes
    return env


def render(context: Mapping[str, Any]) -> str:
    """The page for a context from :func:`results_context` or :func:`verdict_context`."""
    from markupsafe import Markup

    env = _environment()
    script = env.get_template("script.html.j2").render()
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    page = env.get_template(f"{context['kind']}.html.j2")
    from harness import __version__

    generated = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return str(
        page.render(
            **context, script=Markup(script), script_hash=f"sha256-{digest}", version=__version__, generated=generated
        )
    )


def render_html(
    subject: Results | Verdict,
    *,
    baseline: Results | None = None,
    candidate: Results | None = None,
    flames: Sequence[str] = (),
) -> str:
    """The report page for a verdict or, for a results file alone, the variants of each family side by side."""
    if isinstance(subject, Results):
        return render(results_context(subject))
    return render(verdict_context(subject, baseline, candidate, flames))


def write_html(
    subject: Results | Verdict,
    path: str | Path,
    *,
    baseline: Results | None = None,
    candidate: Results | None = None,
    flames: Sequence[str] = (),
) -> Path:
    """Write the report page to ``path`` atomically and return the path.

    ``baseline`` and ``candidate`` are the results a verdict compared; with them the page
    shows every replicate, the phases, the call sites and the delta flame graphs of the
    regressions and improvements (and of the experiments ``flames`` names), without them
    the verdict's figures.
    """
    from harness.jsonfile import write_text_atomic

    target = Path(path)
    write_text_atomic(target, render_html(subject, baseline=baseline, candidate=candidate, flames=flames))
    return target
