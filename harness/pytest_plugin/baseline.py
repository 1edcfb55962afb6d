"""pytest baselines: ``baselines/pytest/NAME.json`` (a ``harness.results/1`` file, one experiment per test).

Saving merges (tests that did not run keep their stored trials); comparing judges one test
against its stored trials under the gate's rule (:func:`harness.compare.gate.compare`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from harness.compare.gate import GateOptions, compare
from harness.compare.verdict import ExperimentVerdict
from harness.declare.config import REGRESSIONS, Settings
from harness.declare.metrics import metric
from harness.declare.units import format_pct
from harness.errors import MissingBaseline
from harness.store.results import Results, read_results, save_results


def baseline_path(settings: Settings, name: str) -> Path:
    return settings.baselines / "pytest" / f"{name}.json"


def load_baseline(settings: Settings, name: str) -> Results:
    path = baseline_path(settings, name)
    if not path.is_file():
        raise MissingBaseline(f"no pytest baseline {name!r} ({path}); make one with --harness-save {name}")
    return read_results(path)


def compare_test(baseline: Results, measured: Results, settings: Settings) -> list[ExperimentVerdict]:
    """The verdict rows of one measured test against its stored trials; none for a test the baseline lacks."""
    nodeid = measured.experiments[0].id
    known = [e for e in baseline.experiments if e.id == nodeid]
    if not known:
        return []
    own = replace(baseline, experiments=tuple(known), trials=tuple(baseline.trials_of(nodeid)))
    options = GateOptions.from_settings(settings, gates=(REGRESSIONS,), bounds={})
    return list(compare(own, measured, options).experiments)


def regressions(rows: Sequence[ExperimentVerdict]) -> list[ExperimentVerdict]:
    return [r for r in rows if r.regressed]


def regression_message(nodeid: str, name: str, rows: Sequence[ExperimentVerdict]) -> str:
    lines = [f"harness regression in {nodeid} against baseline {name!r}"]
    for row in rows:
        shown = metric(row.goal)
        before, after = shown.format(row.baseline_mean or 0.0), shown.format(row.candidate_mean or 0.0)
        change = (
            f"{format_pct(row.delta_pct, 1, '%')}, {format_pct(row.ci_low_pct, 1, '%')}"
            f" .. {format_pct(row.ci_high_pct, 1, '%')}"
        )
        if row.absolute:
            # From or to zero: the percent says nothing (±∞, -100); the bytes do.
            change = f"{metric(row.goal).format(row.delta_abs or 0.0, signed=True)}"
        lines.append(
            f"  {row.phase}.{row.goal}: {before} -> {after} ({change} at {row.replicates[1]} replicates), regression"
        )
        if row.top_sites:
            lines.append("  call sites that moved most (bytes per replicate):")
            lines += [f"    {metric('alloc_bytes').format(m.delta, signed=True):>11}  {m.site}" for m in row.top_sites]
    return "\n".join(lines)


def save_baseline(path: Path, measured: Sequence[Results]) -> None:
    """Write the measured tests into the baseline at ``path``, keeping its tests that did not run now."""
    ids = {r.experiments[0].id for r in measured}
    experiments = [r.experiments[0] for r in measured]
    trials = [t for r in measured for t in r.trials]
    if path.is_file():
        previous = read_results(path)
        experiments = [e for e in previous.experiments if e.id not in ids] + experiments
        trials = [t for t in previous.trials if t.experiment not in ids] + trials
    save_results(replace(measured[-1], experiments=tuple(experiments), trials=tuple(trials)), path)
