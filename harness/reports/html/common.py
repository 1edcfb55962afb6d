"""What both views of the report share: constants, site tables, replicate values, anchors."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.metrics import metric
from harness.profiles import Roots, relative_file
from harness.results import TrialResult

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
