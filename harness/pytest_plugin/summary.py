"""The table of measured tests at the end of a pytest session (as pytest-benchmark prints its own).

One row per test and phase: the mean of each figure over the replicates (with its spread
when the replicates differ) and, with ``--harness-baseline``, the change of the test's goal
against the baseline with its confidence interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.compare.verdict import ExperimentVerdict
from harness.declare.metrics import metric
from harness.declare.units import format_pct, format_spread
from harness.store.results import Results

#: The figures shown, by column title.
COLUMNS = {
    "alloc": "alloc_bytes",
    "allocs": "alloc_count",
    "kept": "kept_bytes",
    "net": "net_bytes",
    "peak": "peak_bytes",
}


@dataclass(frozen=True)
class Delta:
    """The change of one goal of a test against the baseline."""

    phase: str
    goal: str
    decision: str
    delta_pct: float | None
    ci_low_pct: float | None
    ci_high_pct: float | None
    #: ``0 B → 711 KiB (+711 KiB)`` for a change from or to zero (no percent to show).
    absolute: str | None = None

    @classmethod
    def of(cls, row: ExperimentVerdict) -> Delta:
        return cls(
            row.phase, row.goal, row.decision, row.delta_pct, row.ci_low_pct, row.ci_high_pct, row.absolute_change()
        )

    def shown(self) -> str:
        decision = "" if self.decision == "no_change" else f" {self.decision}"
        if self.absolute is not None:
            return f"{self.goal} {self.absolute}{decision}"
        if self.delta_pct is None:
            return self.decision
        interval = ""
        if self.ci_low_pct is not None and self.ci_high_pct is not None:
            interval = f" [{format_pct(self.ci_low_pct, 1)} .. {format_pct(self.ci_high_pct, 1)}]"
        return f"{self.goal} {format_pct(self.delta_pct, 1, '%')}{interval}{decision}"


@dataclass(frozen=True)
class MeasuredTest:
    """What one measured test contributes to the session: its results and its deltas.

    Sent from an xdist worker to the controller inside the test's call report, as plain data.
    """

    results: Results
    deltas: tuple[Delta, ...] = ()
    compared: bool = False

    @property
    def nodeid(self) -> str:
        return self.results.experiments[0].id

    def to_json(self) -> dict[str, Any]:
        return {
            "results": self.results.to_json(),
            "deltas": [d.__dict__ for d in self.deltas],
            "compared": self.compared,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MeasuredTest:
        return cls(
            Results.from_json(data["results"]), tuple(Delta(**d) for d in data["deltas"]), bool(data["compared"])
        )


def _figure(values: Sequence[float], name: str) -> str:
    if not values:
        return "-"
    return format_spread(values, metric(name).format)


def summary_lines(tests: Sequence[MeasuredTest], baseline: str | None) -> list[str]:
    """The table, aligned, one line per test and phase."""
    header = ["test", "phase", "n", *COLUMNS]
    if baseline:
        header.append(f"change vs {baseline!r}")
    rows = [header]
    for test in tests:
        trials = [t for t in test.results.trials if t.ok]
        phases = list(dict.fromkeys(p.name for t in trials for p in t.phases))
        for phase_name in phases:
            found = [p for t in trials if (p := t.phase(phase_name)) is not None]
            row = [test.nodeid, phase_name, str(len(found))]
            for name in COLUMNS.values():
                values = [float(v) for p in found if (v := p.metrics.get(name)) is not None]
                row.append(_figure(values, name))
            if baseline:
                deltas = [d.shown() for d in test.deltas if d.phase == phase_name]
                row.append("; ".join(deltas) if deltas else ("-" if test.compared else "new"))
            rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    right = {i for i, title in enumerate(header) if title in COLUMNS or title == "n"}
    return [
        "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip()
        for r in rows
    ]
