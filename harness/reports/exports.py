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

A history store exports every measured commit, oldest author date first, each without the
experiments whose trials failed there (:func:`harness.commits.history.measured_part`):

- **bmf**: a list of ``{"commit", "author_date", "subject", "results"}``, ``results`` being
  that commit's BMF, for one ``bencher run --hash COMMIT`` each (Bencher takes one report
  per run);
- **github-action-benchmark**: the action's own data file (``{"lastUpdate", "repoUrl",
  "entries": {name: [{"commit", "date", "tool", "benches"}]}}``), which its dashboard reads
  as ``data.js`` once prefixed with ``window.BENCHMARK_DATA = ``; it seeds that dashboard
  with the whole history.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from harness.commits.history import Entry, HistoryStore, measured_part
from harness.compare.goal_figures import figures
from harness.git import commit_url
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


def _measured(store: HistoryStore) -> list[Entry]:
    return sorted(
        (e for e in store.entries().values() if e.measured), key=lambda e: _dt.datetime.fromisoformat(e.author_date)
    )


def _milliseconds(moment: _dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def export_history(store: HistoryStore, format_name: str, *, name: str = "harness", web: str | None = None) -> Any:
    """Every measured commit of ``store`` in ``format_name``, oldest author date first (see the
    module docstring); ``web`` is the repository's web page (:func:`harness.git.web_url`),
    from which github-action-benchmark's ``repoUrl`` and each commit's ``url`` come (empty
    without one)."""
    measured = _measured(store)
    if format_name == "bmf":
        return [
            {
                "commit": e.sha,
                "author_date": e.author_date,
                "subject": e.subject,
                "results": bencher_metric_format(measured_part(e, store.results(e))),
            }
            for e in measured
        ]
    benchmarks = [
        {
            "commit": {
                "id": e.sha,
                "message": e.subject,
                "timestamp": e.author_date,
                "url": commit_url(web, e.sha) or "",
            },
            "date": _milliseconds(_dt.datetime.fromisoformat(e.author_date)),
            "tool": "customSmallerIsBetter",
            "benches": github_action_benchmark(measured_part(e, store.results(e))),
        }
        for e in measured
    ]
    return {"lastUpdate": _milliseconds(_dt.datetime.now(_dt.UTC)), "repoUrl": web or "", "entries": {name: benchmarks}}
