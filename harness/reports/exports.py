"""A results file in the formats of the dashboards users already run.

- **Bencher Metric Format** (BMF, ``bencher run --adapter json``): an object of benchmarks
  (the experiment ids), each an object of measures (``phase.goal``), each
  ``{"value", "lower_value", "upper_value"}``: the mean over the replicates, and their lowest
  and highest.
- **github-action-benchmark** (``tool: customSmallerIsBetter``): a list of
  ``{"name", "unit", "value", "range", "extra"}``, one per experiment, phase and goal, every
  goal of harness being smaller-is-better.

Both carry the experiments' goals, phase by phase, over the trials that succeeded; an
experiment with no successful trial is left out (the gate, not a dashboard, reports it).
"""

from __future__ import annotations

from typing import Any

from harness.compare.goal_figures import figures
from harness.store.results import Results

FORMATS = ("bmf", "github-action-benchmark")
#: github-action-benchmark's name for each unit of a metric.
_UNITS = {"bytes": "bytes", "count": "allocations", "seconds": "s"}


def bencher_metric_format(results: Results) -> dict[str, dict[str, dict[str, float]]]:
    """``{experiment: {"phase.goal": {"value", "lower_value", "upper_value"}}}``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for figure in figures(results):
        out.setdefault(figure.experiment, {})[figure.measure] = {
            "value": figure.mean,
            "lower_value": min(figure.values),
            "upper_value": max(figure.values),
        }
    return out


def github_action_benchmark(results: Results) -> list[dict[str, Any]]:
    """``[{"name", "unit", "value", "range", "extra"}]`` for ``customSmallerIsBetter``."""
    commit = results.environment.git_commit or "unknown commit"
    return [
        {
            "name": f"{figure.experiment} {figure.measure}",
            "unit": _UNITS[figure.unit],
            "value": figure.mean,
            "range": f"± {(max(figure.values) - min(figure.values)) / 2:g}",
            "extra": f"{len(figure.values)} replicates at {commit[:10]}, backend {results.environment.backend}",
        }
        for figure in figures(results)
    ]


def export(results: Results, format_name: str) -> Any:
    """``results`` as plain JSON data in ``format_name`` (one of :data:`FORMATS`)."""
    if format_name == "bmf":
        return bencher_metric_format(results)
    return github_action_benchmark(results)
