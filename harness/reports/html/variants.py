"""The variants view: one results file, the variants of each family side by side."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.compare.profiles import profile_of
from harness.declare.metrics import metric
from harness.reports.html.charts import PhaseChart, StripChart, phase_chart, phase_levels, strip_chart
from harness.reports.html.common import (
    HEADLINES,
    NOISY_METRICS,
    PHASE_METRICS,
    SiteTable,
    _anchor,
    _commit,
    _environment_rows,
    _params_text,
    _phase_means,
    _values,
    site_table,
)
from harness.store.results import ExperimentInfo, Results, TrialResult
from harness.store.sites import Roots

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


#: The successful trials of each variant of a group, by variant name.
Trials = Mapping[str, Sequence[TrialResult]]


@dataclass(frozen=True)
class _Totals:
    """One headline question's per-replicate totals over the phases, for every variant."""

    metric: str
    question: str
    explanation: str
    by_variant: Mapping[str, Sequence[tuple[float, str]]]


def _variant_group(index: int, members: Sequence[ExperimentInfo], results: Results) -> VariantGroup:
    first = members[0]
    trials = {e.variant: [t for t in results.trials_of(e.id) if t.ok] for e in members}
    variants = tuple(e.variant for e in members)
    phases = list(dict.fromkeys(p.name for v in variants for t in trials[v] for p in t.phases))
    answered = _headline_totals(trials, variants)
    label = f"{first.family}.{first.workload}[{_params_text(first.params)}]"
    return VariantGroup(
        _anchor("group", label, index),
        first.family,
        first.workload,
        _params_text(first.params),
        variants,
        tuple(e.id for e in members),
        _failures(members, results),
        tuple(_headline(t) for t in answered),
        _metric_rows(trials, variants, phases),
        tuple(_strip(t) for t in answered),
        _phase_charts(trials, variants),
        _site_tables(trials, variants, phases, results.environment.roots),
    )


def _failures(members: Sequence[ExperimentInfo], results: Results) -> tuple[str, ...]:
    """One line per failed trial of the group: which, and its error."""
    return tuple(
        f"{t.experiment} replicate {t.replicate}: {t.error}"
        for e in members
        for t in results.trials_of(e.id)
        if not t.ok
    )


def _headline_totals(trials: Trials, variants: Sequence[str]) -> list[_Totals]:
    """The totals of every headline question that any trial answers."""
    out = []
    for name, question, explanation, combine in HEADLINES:
        totals = {
            v: [
                (total, f"replicate {t.replicate}")
                for t in trials[v]
                if (total := _trial_total(t, name, combine)) is not None
            ]
            for v in variants
        }
        if any(totals.values()):
            out.append(_Totals(name, question, explanation, totals))
    return out


def _headline(totals: _Totals) -> Headline:
    """The question answered for every variant by its mean total, the least one named."""
    means = {v: statistics.fmean(x for x, _ in xs) if xs else None for v, xs in totals.by_variant.items()}
    winner, cells = _compare(means, metric(totals.metric).format, judge=True)
    return Headline(totals.question, totals.explanation, winner, cells)


def _strip(totals: _Totals) -> StripChart:
    """Every replicate's total of every variant, as dots on one axis."""
    groups = [(v, "variant", xs) for v, xs in totals.by_variant.items()]
    return strip_chart(f"{totals.question}: {totals.explanation}", totals.metric, groups)


def _metric_rows(trials: Trials, variants: Sequence[str], phases: Sequence[str]) -> tuple[MetricRow, ...]:
    """One row per phase and metric that any variant measured; noisy metrics name no winner."""
    rows = []
    for phase in phases:
        for name in PHASE_METRICS:
            per_variant = {v: [x for x, _ in _values(trials[v], phase, name)] for v in variants}
            if not any(per_variant.values()):
                continue
            means = {v: statistics.fmean(xs) if xs else None for v, xs in per_variant.items()}
            _, cells = _compare(means, metric(name).format, judge=name not in NOISY_METRICS)
            rows.append(MetricRow(phase, name.replace("_", " "), name in NOISY_METRICS, cells))
    return tuple(rows)


def _phase_charts(trials: Trials, variants: Sequence[str]) -> tuple[PhaseChart, ...]:
    """Each variant's memory across its phases, all on one shared scale."""
    by_phase = {v: _phase_means(trials[v]) for v in variants}
    shared = phase_levels(list(by_phase.values()))
    return tuple(c for v in variants if (c := phase_chart(v, [(v, "variant", by_phase[v])], shared)) is not None)


def _site_tables(trials: Trials, variants: Sequence[str], phases: Sequence[str], root: Roots) -> tuple[SiteTable, ...]:
    """The top call sites of each variant in each phase it measured any."""
    tables = []
    for v in variants:
        for phase in phases:
            table = site_table(f"{v} · {phase}", profile_of(trials[v], phase, root=root))
            if table is not None:
                tables.append(table)
    return tuple(tables)


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
        "notices": results.environment.blind_spots,
        "commit": _commit(results.environment),
        "settings": [(k.replace("_", " "), str(v)) for k, v in results.settings.to_json().items()],
        "families": families,
        "groups": view,
        "n_experiments": len(results.experiments),
        "n_trials": len(trials),
        "n_failed": sum(1 for t in trials if not t.ok),
        "interrupted": results.interrupted,
    }
