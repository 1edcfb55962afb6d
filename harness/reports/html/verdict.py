"""The verdict view: a baseline against a candidate, per experiment and goal."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.metrics import metric
from harness.profiles import Roots, mean_sites
from harness.reports.flame import FlameGraph, flame_anchor, flame_graph
from harness.reports.html.charts import (
    ForestMark,
    PhaseChart,
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
from harness.results import Results, TrialResult
from harness.units import format_bytes, format_pct
from harness.verdict import DECISIONS, ExperimentVerdict, Verdict

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
