"""pytest baselines: ``baselines/pytest/NAME.json`` (``harness.pytest-baseline/1``, one experiment
per test: see :mod:`harness.store.pytest_baseline`; a ``harness.results/1`` file of an older
harness is still read).

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
from harness.store.pytest_baseline import compact, read_baseline, write_baseline
from harness.store.results import Results, read_results


def baseline_path(settings: Settings, name: str) -> Path:
    return settings.baselines / "pytest" / f"{name}.json"


def load_baseline(settings: Settings, name: str) -> Results:
    path = baseline_path(settings, name)
    if not path.is_file():
        raise MissingBaseline(f"no pytest baseline {name!r} ({path}); make one with --harness-save {name}")
    return _read(path)


def _read(path: Path) -> Results:
    """A baseline in either format: the compact one, or a results file of an older harness."""
    with path.open("rb") as head:
        older = b'"harness.results/' in head.read(64)
    return read_results(path) if older else read_baseline(path)


def compare_test(baseline: Results, measured: Results, settings: Settings, root: Path) -> list[ExperimentVerdict]:
    """The verdict rows of one measured test against its stored trials (its sites kept as the
    baseline keeps them, paths relative to ``root``); none for a test the baseline lacks."""
    measured = compact(measured, root)
    nodeid = measured.experiments[0].id
    known = [e for e in baseline.experiments if e.id == nodeid]
    if not known:
        return []
    own = replace(baseline, experiments=tuple(known), trials=tuple(baseline.trials_of(nodeid)))
    options = GateOptions.from_settings(settings, gates=(REGRESSIONS,), bounds={})
    return list(compare(own, measured, options).experiments)


def regressions(rows: Sequence[ExperimentVerdict]) -> list[ExperimentVerdict]:
    return [r for r in rows if r.regressed]


def regression_message(nodeid: str, name: str, rows: Sequence[ExperimentVerdict], measured: Results) -> str:
    """The failure of a regressed test: its goal's change, and the call sites that moved most,
    each as ``function (file:line)`` (the line of the function that allocated most now)."""
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
            where = _lines_of(measured, row.phase)
            lines += [
                f"    {metric('alloc_bytes').format(m.delta, signed=True):>11}  {where.get(m.site, m.site)}"
                for m in row.top_sites
            ]
    return "\n".join(lines)


def _lines_of(measured: Results, phase: str) -> dict[str, str]:
    """``function (file)`` -> ``function (file:line)``: the line of each function that allocated most in ``phase``."""
    best: dict[str, tuple[int, str]] = {}
    for trial in measured.trials:
        found = trial.phase(phase)
        for site in found.sites if found is not None else ():
            label = f"{site.function} ({site.file})"
            size = abs(site.figures.get("alloc_bytes", 0))
            if site.line and size >= best.get(label, (-1, ""))[0]:
                best[label] = (size, f"{site.function} ({site.file}:{site.line})")
    return {label: shown for label, (_, shown) in best.items()}


def save_baseline(path: Path, measured: Sequence[Results], root: Path) -> None:
    """Write the measured tests into the baseline at ``path`` (paths relative to ``root``),
    keeping its tests that did not run now."""
    measured = [compact(r, root) for r in measured]
    ids = {r.experiments[0].id for r in measured}
    experiments = [r.experiments[0] for r in measured]
    trials = [t for r in measured for t in r.trials]
    if path.is_file():
        previous = _read(path)
        experiments = [e for e in previous.experiments if e.id not in ids] + experiments
        trials = [t for t in previous.trials if t.experiment not in ids] + trials
    write_baseline(path, replace(measured[-1], experiments=tuple(experiments), trials=tuple(trials)))
