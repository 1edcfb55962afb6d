"""The verdict view: a baseline against a candidate, per experiment and goal."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.compare.profiles import profile_of
from harness.compare.verdict import DECISIONS, ExperimentVerdict, Verdict
from harness.declare.metrics import metric
from harness.declare.selection import matches_any
from harness.declare.units import format_bytes, format_pct
from harness.reports.figures import workloads_differ_line
from harness.reports.flame import FlameGraph, flame_anchor, flame_graph
from harness.reports.html.charts import (
    ForestMark,
    PhaseChart,
    Scale,
    StripChart,
    forest_axis,
    forest_mark,
    phase_chart,
    strip_chart,
)
from harness.reports.html.common import (
    SiteRow,
    SiteTable,
    _anchor,
    _commit,
    _environment_rows,
    _params_text,
    _phase_means,
    site_table,
)
from harness.store.environment import Environment
from harness.store.results import ExperimentInfo, Results, TrialResult
from harness.store.sites import Roots

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
    #: Whose trials failed, on a failed row ("" otherwise).
    failed_side: str
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
    #: (phase · goal, decision) of each row, so that each badge of the header says what it judges.
    badges: tuple[tuple[str, str], ...]
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
    """The verdict's top movers of one row: sites (function, file and lines) whose bytes moved most."""
    if not row.top_sites:
        return None
    rows = []
    for move in row.top_sites:
        rows.append(
            SiteRow(
                move.function or move.site.partition(" (")[0],
                move.where,
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
    from harness.compare.calltree import explains, figure_of_goal, flame_tree

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


@dataclass(frozen=True)
class _Sources:
    """The results behind a verdict, where the page finds replicates, phases and sites."""

    infos: Mapping[str, ExperimentInfo]
    base_trials: Mapping[str, list[TrialResult]]
    cand_trials: Mapping[str, list[TrialResult]]
    #: The candidate's roots (site tables), and both sides' roots (flame graphs).
    root: Roots
    roots: tuple[Roots, Roots]
    #: Glob patterns (or substrings) of ids whose flame graphs are asked for.
    flames: Sequence[str]

    @classmethod
    def of(cls, baseline: Results | None, candidate: Results | None, flames: Sequence[str]) -> _Sources:
        from harness.compare.calltree import project_root

        source = candidate or baseline
        return cls(
            infos={e.id: e for r in (baseline, candidate) if r is not None for e in r.experiments},
            base_trials=_trials_by_id(baseline),
            cand_trials=_trials_by_id(candidate),
            root=source.environment.roots if source else (),
            roots=(project_root(baseline), project_root(candidate)),
            flames=flames,
        )


def _triple(entry: ExperimentVerdict) -> tuple[float, float, float]:
    """Δ %, and its interval, NaN where the row has none."""
    return (
        entry.delta_pct if entry.delta_pct is not None else math.nan,
        entry.ci_low_pct if entry.ci_low_pct is not None else math.nan,
        entry.ci_high_pct if entry.ci_high_pct is not None else math.nan,
    )


def _delta_key(entry: ExperimentVerdict, delta: float) -> float:
    """The Δ column's sort key: a change from zero (no percent) sorts past every percent, by its sign."""
    if entry.from_zero and entry.delta_abs is not None:
        delta = math.copysign(math.inf, entry.delta_abs)
    if math.isfinite(delta):
        return delta
    return 1e300 if delta > 0 else -1e300 if delta < 0 else 0.0


def _experiment_row(entry: ExperimentVerdict, anchor: str, scale: Scale) -> ExperimentRow:
    """One row of the verdict table, with its sort keys and its mark on the forest plot."""
    delta, low, high = _triple(entry)
    fmt = metric(entry.goal).format
    return ExperimentRow(
        anchor,
        entry.id,
        entry.family,
        entry.phase,
        entry.goal,
        fmt(entry.baseline_mean) if entry.baseline_mean is not None else "",
        entry.baseline_mean if entry.baseline_mean is not None else -1e300,
        fmt(entry.candidate_mean) if entry.candidate_mean is not None else "",
        entry.candidate_mean if entry.candidate_mean is not None else -1e300,
        entry.absolute_change() or format_pct(delta, 1, "%"),
        _delta_key(entry, delta),
        ""
        if entry.absolute or math.isnan(low) or math.isnan(high)
        else f"[{format_pct(low, 1, '%')}, {format_pct(high, 1, '%')}]",
        forest_mark(scale, delta, low, high),
        entry.decision,
        entry.failed_side or "",
        entry.erratic,
        f"{entry.replicates[0]} vs {entry.replicates[1]}",
        f"{sum(1 for b in entry.bounds if b.passed)}/{len(entry.bounds)}" if entry.bounds else "",
        all(b.passed for b in entry.bounds),
    )


def _experiment_detail(
    eid: str, group: Sequence[ExperimentVerdict], anchor: str, sources: _Sources
) -> ExperimentDetail:
    """The section of one experiment: replicates, phases, call sites, bounds and flame graphs."""
    info = sources.infos.get(eid)
    b_trials, c_trials = sources.base_trials.get(eid, []), sources.cand_trials.get(eid, [])
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
        profile = profile_of(c_trials, phase, root=sources.root)
        table = site_table(f"candidate · {phase} · top call sites", profile)
        if table is not None:
            sites.append(table)
    requested = matches_any(eid, sources.flames) if sources.flames else False
    first = group[0]
    return ExperimentDetail(
        anchor,
        eid,
        first.family,
        tuple(dict.fromkeys(e.decision for e in group)),
        tuple((f"{e.phase} · {e.goal.replace('_', ' ')}", e.decision) for e in group),
        _params_text(info.params if info else first.params),
        tuple(dict.fromkeys(e.error for e in group if e.error)),
        tuple(strips),
        chart,
        tuple(sites),
        tuple(_bound_rows(eid, group)),
        _flames(group, b_trials, c_trials, sources.roots, requested),
    )


def _bound_rows(eid: str, group: Sequence[ExperimentVerdict]) -> list[BoundRow]:
    return [
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


def verdict_context(
    verdict: Verdict,
    baseline: Results | None = None,
    candidate: Results | None = None,
    flames: Sequence[str] = (),
) -> dict[str, Any]:
    """What the verdict page shows; ``baseline`` and ``candidate`` add the phases, the call sites
    and a delta flame graph per regression and improvement (and per experiment that ``flames``,
    glob patterns of ids, asks for)."""
    sources = _Sources.of(baseline, candidate, flames)
    entries = verdict.experiments
    # Erratic rows are shown, not judged: their wide intervals are clipped (drawn as open
    # arrows) rather than squeezing the rows that are judged into a sliver around zero.
    triples = [_triple(e) for e in entries]
    judged = [t for t, e in zip(triples, entries, strict=True) if not e.erratic]
    axis, scale = forest_axis(judged or triples, verdict.tolerance_pct)
    by_id: dict[str, list[ExperimentVerdict]] = {}
    for entry in entries:
        by_id.setdefault(entry.id, []).append(entry)
    anchors = {eid: _anchor("exp", eid, i) for i, eid in enumerate(by_id)}
    rows = [_experiment_row(entry, anchors[entry.id], scale) for entry in entries]
    details = [_experiment_detail(eid, group, anchors[eid], sources) for eid, group in by_id.items()]
    return {
        "kind": "verdict",
        "title": f"harness · gate {'passed' if verdict.passed else 'failed'}",
        "passed": verdict.passed,
        # Once each: the reasons of a failed side repeat on every row of that side.
        "reasons": list(dict.fromkeys(verdict.reasons)),
        "gates": verdict.gates,
        "confidence": verdict.confidence,
        "tolerance": verdict.tolerance_pct,
        "erratic_cv": verdict.erratic_cv,
        "notices": list(dict.fromkeys(verdict.baseline.blind_spots + verdict.candidate.blind_spots)),
        "workloads_differ": workloads_differ_line(verdict),
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
        "bounds": [row for detail in details for row in detail.bounds],
        "counts": {d: verdict.count(d) for d in DECISIONS},
        "n_erratic": sum(1 for r in rows if r.erratic),
        "has_results": bool(sources.base_trials or sources.cand_trials),
    }


def _baseline_name(env: Environment) -> str:
    return env.baseline.name if env.baseline else ""
