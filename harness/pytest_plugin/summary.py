"""The summary of measured tests at the end of a pytest session (as pytest-benchmark prints its own).

By default it fits a terminal, whatever the suite's size: a line of counts, then a table of
the regressions and of the :data:`MOST` tests that moved most against the baseline (without
one, that allocated most), then, with a baseline, how many tests moved by less than the
tolerance, the tests most moved (or allocating) first. ``--harness-table=all`` shows every
test, in the session's order. A row is a test and phase: the mean of each figure over the
replicates (with its spread, at two replicates or more) and, with ``--harness-baseline``, the
change of the test's goal with its confidence interval. Where a row is wider than the
terminal (a parametrized test's id is often half of it), each test's id gets a line of its
own above its rows.
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
    erratic: bool = False
    #: ``0 B → 711 KiB (+711 KiB)`` for a change from or to zero (no percent to show).
    absolute: str | None = None

    @classmethod
    def of(cls, row: ExperimentVerdict) -> Delta:
        return cls(
            row.phase,
            row.goal,
            row.decision,
            row.delta_pct,
            row.ci_low_pct,
            row.ci_high_pct,
            erratic=row.erratic,
            absolute=row.absolute_change(),
        )

    @property
    def regressed(self) -> bool:
        """The gate's rule, as :attr:`ExperimentVerdict.regressed` applies it."""
        return self.decision == "regression" and not self.erratic

    @property
    def moved_under_tolerance(self) -> bool:
        """Judged no change, though its interval excludes zero: a move smaller than the tolerance."""
        low, high = self.ci_low_pct, self.ci_high_pct
        return self.decision == "no_change" and low is not None and high is not None and (low > 0 or high < 0)

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

    def to_report(self) -> dict[str, Any]:
        """This test as plain data for its report, which an xdist worker sends to the controller."""
        data = self.to_json()
        _REPORTED[id(data)] = (data, self)  # the data held, so that no other object takes its id
        return data

    @classmethod
    def from_report(cls, data: Mapping[str, Any]) -> MeasuredTest:
        """The test :meth:`to_report` made ``data`` of: the object itself in the process that made
        it (its thousands of sites are not parsed again), else read from ``data``."""
        made = _REPORTED.pop(id(data), None)
        return made[1] if made is not None and made[0] is data else cls.from_json(data)


#: The tests of the reports this process made, by the identity of their data, until reported.
_REPORTED: dict[int, tuple[Mapping[str, Any], MeasuredTest]] = {}


#: Tests shown by default beside the regressions: those that moved (or allocated) most.
MOST = 10
#: What ``--harness-table`` chooses: the short summary, or every test.
TABLES = ("short", "all")


def _figure(values: Sequence[float], name: str) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return metric(name).format(values[0])  # one replicate has no spread to show
    return format_spread(values, metric(name).format)


def _moved(test: MeasuredTest) -> float:
    return max((abs(d.delta_pct) for d in test.deltas if d.delta_pct is not None), default=-1.0)


def _allocated(test: MeasuredTest) -> float:
    return max((float(p.metrics.get("alloc_bytes") or 0) for t in test.results.trials for p in t.phases), default=0.0)


def summary_lines(
    tests: Sequence[MeasuredTest],
    baseline: str | None,
    table: str = "short",
    tolerance_pct: float | None = None,
    width: int | None = None,
) -> list[str]:
    """The summary: its counts, then the table (``short``: the regressions, then the tests that
    moved most, most first; ``all``: every test), then how many tests moved under the tolerance.
    Its lines fit ``width`` columns where a test's id and one row of figures each do."""
    regressed = [t for t in tests if any(d.regressed for d in t.deltas)]
    lines = [_counts(tests, regressed, baseline)]
    shown = list(tests)
    if table != "all":
        ranked = sorted(tests, key=_moved if baseline else _allocated, reverse=True)
        regressed_ids = {id(t) for t in regressed}
        shown = [t for t in ranked if id(t) in regressed_ids]
        shown += [t for t in ranked[:MOST] if id(t) not in regressed_ids and (not baseline or _moved(t) > 0)]
    if shown:
        title = "tests measured" if table == "all" else ("moved most" if baseline else "allocated most")
        lines += [f"{title}:", *_table(shown, baseline, width)]
    if len(shown) < len(tests):
        hidden = f"{len(tests) - len(shown)} more" if shown else f"none of the {len(tests)} moved"
        lines.append(f"({hidden}; --harness-table=all shows every test)")
    under = [t for t in tests if any(d.moved_under_tolerance for d in t.deltas)]
    if under and tolerance_pct is not None:
        lines.append(
            f"{len(under)} tests moved by less than the tolerance ({tolerance_pct:g}%) and passed:"
            " see docs/pytest.md, 'Choosing a tolerance'"
        )
    return lines


def _counts(tests: Sequence[MeasuredTest], regressed: Sequence[MeasuredTest], baseline: str | None) -> str:
    replicates = sorted({len(t.results.trials) for t in tests})
    plural = "" if replicates == [1] else "s"
    counts = f"{len(tests)} measured tests at {'/'.join(map(str, replicates))} replicate{plural}"
    if not baseline:
        return counts
    decisions = [d.decision for t in tests for d in t.deltas]
    new = sum(1 for t in tests if not t.compared)
    improved = sum(1 for t in tests if any(d.decision == "improvement" for d in t.deltas))
    return f"{counts} against {baseline!r}: {len(regressed)} regressed, {improved} improved, {new} new" + (
        f", {decisions.count('failed')} failed" if "failed" in decisions else ""
    )


#: How far a test's rows are indented under its id, when the ids have lines of their own.
_INDENT = "  "


def _table(tests: Sequence[MeasuredTest], baseline: str | None, width: int | None) -> list[str]:
    """The table, aligned, one line per test and phase; where that is wider than ``width``, the
    test's id on a line of its own, its rows under it."""
    header = ["phase", "n", *COLUMNS]
    if baseline:
        header.append(f"change vs {baseline!r}")
    rows: list[tuple[str, list[str]]] = []  # (test id, its row without the id)
    for test in tests:
        trials = [t for t in test.results.trials if t.ok]
        phases = list(dict.fromkeys(p.name for t in trials for p in t.phases))
        for phase_name in phases:
            found = [p for t in trials if (p := t.phase(phase_name)) is not None]
            row = [phase_name, str(len(found))]
            for name in COLUMNS.values():
                values = [float(v) for p in found if (v := p.metrics.get(name)) is not None]
                row.append(_figure(values, name))
            if baseline:
                deltas = [d.shown() for d in test.deltas if d.phase == phase_name]
                row.append("; ".join(deltas) if deltas else ("-" if test.compared else "new"))
            rows.append((test.nodeid, row))
    right = {i + 1 for i, title in enumerate(header) if title in COLUMNS or title == "n"}
    flat = _aligned([["test", *header], *([nodeid, *row] for nodeid, row in rows)], right)
    if width is None or max(map(len, flat)) <= width:
        return flat
    aligned = _aligned([header, *(row for _, row in rows)], {i - 1 for i in right})
    stacked = [_INDENT + aligned[0]]
    for index, (nodeid, _) in enumerate(rows):
        if index == 0 or rows[index - 1][0] != nodeid:
            stacked.append(nodeid)
        stacked.append(_INDENT + aligned[index + 1])
    return stacked


def _aligned(rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """``rows`` as lines of aligned cells, those of the columns ``right`` to the right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip()
        for r in rows
    ]
