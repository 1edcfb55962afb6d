"""What both views of the report share: constants, site tables, replicate values, anchors."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.compare.profiles import Profile
from harness.declare.metrics import metric
from harness.store.environment import Environment
from harness.store.results import TrialResult

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

    @property
    def location_title(self) -> str:
        """``file:line`` where the rows name lines, ``file`` where the data holds files only."""
        return "file:line" if any(re.search(r":\d+$", row.location) for row in self.rows) else "file"


def _site_metrics(profile: Profile) -> tuple[str, ...]:
    return profile.measured(("alloc_bytes", "alloc_count", "kept_bytes", "net_bytes", "net_count"))


def site_table(title: str, profile: Profile, limit: int = TOP_SITES) -> SiteTable | None:
    """The top call sites of ``profile`` by the first byte figure the backend measured, with
    file (as the profile names it), line and function."""
    metrics = _site_metrics(profile)
    if not metrics:
        return None
    rows = []
    for key in profile.top(metrics[0], limit):
        function, file, line = key
        figures = profile.sites[key]
        cells = tuple(metric(m).format(figures[m]) if m in figures else "" for m in metrics)
        rows.append(SiteRow(function, f"{file}:{line}", cells))
    if not rows:
        return None
    return SiteTable(title, tuple(m.replace("_", " ") for m in metrics), tuple(rows))


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


def _environment_rows(env: Environment) -> list[tuple[str, str]]:
    keys = ("git_commit", "git_dirty", "python_version", "implementation", "platform", "backend", "hostname")
    fields = env.to_json()
    rows = [(k.replace("_", " "), str(fields[k])) for k in keys if fields.get(k) not in (None, "")]
    rows += [
        (k.replace("_", " "), str(v)) for k, v in fields.items() if k not in keys and isinstance(v, str | int | float)
    ]
    return rows


def _commit(env: Environment) -> str:
    return env.commit_label or "no commit"
