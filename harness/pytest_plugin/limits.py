"""The limits of a measured test, and the report of a figure over its limit.

A test's limits are the project's defaults (``[tool.harness.pytest] limits``) updated by its
``harness_limits`` marker, key by key: the marker's ``alloc_count_per_op=5`` replaces the
default ``alloc_count_per_op``, ``net_bytes=None`` removes the default ``net_bytes``, and the
other defaults stay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from harness.compare.gate import bound_figures
from harness.compare.profiles import profile_of, site_label
from harness.declare.metrics import METRICS, explaining_figures, metric
from harness.declare.spec import Bound
from harness.errors import LimitError
from harness.store.results import TrialResult

SHOWN_SITES = 5


def limits_of(item: pytest.Item, defaults: Mapping[str, Any]) -> tuple[Bound, ...]:
    """The limits that apply to ``item``: the defaults, then its marker's, key by key."""
    table: dict[str, Any] = dict(defaults)
    marker = item.get_closest_marker("harness_limits")
    if marker is not None:
        for positional in marker.args:
            if not isinstance(positional, Mapping):
                raise LimitError('harness_limits takes limits as keywords or one dict, e.g. {"put.net_bytes": "1 MiB"}')
            table.update(positional)
        table.update(marker.kwargs)
    bounds = tuple(Bound.parse(key, limit) for key, limit in table.items() if limit is not None)
    for bound in bounds:
        if bound.metric not in METRICS:
            raise LimitError(f"harness_limits: unknown metric {bound.metric!r}; known: {', '.join(sorted(METRICS))}")
    return bounds


def over_limits(bounds: Sequence[Bound], trials: Sequence[TrialResult], root: str) -> list[str]:
    """One report per limit exceeded: its first phase over it in the first replicate over it."""
    reports = []
    for bound in bounds:
        problems = [p for p in (_over_limit(bound, trial, root) for trial in trials) if p]
        if problems:
            lines = problems[0].split("\n")
            if len(trials) > 1:
                lines[0] += f", over it in {len(problems)} of {len(trials)} replicates"
            reports.append("\n".join(lines))
    return reports


def _over_limit(bound: Bound, trial: TrialResult, root: str) -> str:
    """The report of the first phase of ``trial`` where ``bound`` is exceeded ("" when none is)."""
    phases = [trial.phase(bound.phase)] if bound.phase else list(trial.phases)
    if bound.phase and phases[0] is None:
        return f"  {bound.name}: the test measured no phase {bound.phase!r}"
    shown = metric(bound.metric)
    figures = bound_figures(trial, bound)
    first = phases[0] if phases else None
    if not figures and bound.metric.endswith("_per_op") and first is not None:
        return f"  {first.name}.{bound.metric}: no figure, the phase declared no operations (trial.ops(n))"
    for phase, value in figures:
        if phase is None:
            if not bound.allows(value):
                return f"  {bound.metric} = {shown.format(value)} > limit {shown.format(bound.upper)}"
            continue
        if not bound.allows(value):
            lines = [
                f"  {phase.name}.{bound.metric} = {shown.format(value)} > limit {shown.format(bound.upper)}"
                f" (replicate {trial.replicate}, seed {trial.seed})"
            ]
            lines += _site_lines(trial, phase.name, bound.metric, root)
            return "\n".join(lines)
    return ""


def _site_lines(trial: TrialResult, phase: str, metric_name: str, root: str) -> list[str]:
    """The top call sites of ``trial``'s ``phase`` by the figure closest to ``metric_name``."""
    profile = profile_of([trial], phase, root=root)
    key = next(iter(profile.measured(explaining_figures(metric_name))), None)
    if key is None:
        return []
    lines = [f"  top call sites of phase {phase} by {key}:"]
    for site in profile.top(key, SHOWN_SITES):
        lines.append(f"    {metric(key).format(profile.figure(site, key)):>10}  {site_label(site)}")
    return lines
