"""The verdict as an aligned text table, benchstat style: every figure with its spread and n."""

from __future__ import annotations

from collections.abc import Sequence

from harness.compare.verdict import Verdict
from harness.reports import figures

HEADER = ("experiment", "phase", "goal", "old", "new", "Δ mean %", "Δ mean % CI", "n", "decision")
#: Columns aligned to the right (numbers).
RIGHT = {3, 4, 5, 6, 7}


def table(rows: Sequence[Sequence[str]], right: set[int], indent: str = "") -> list[str]:
    """Rows padded into columns two spaces apart; columns in ``right`` aligned to the right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def render(verdict: Verdict) -> str:
    """The verdict for a terminal or a CI log: settings, table, top movers, bounds, decision."""
    lines = [
        *settings(verdict),
        "",
        *experiments(verdict),
        *top_movers(verdict),
        *bounds_checks(verdict),
        "",
        figures.verdict_line(verdict),
        *[f"  - {reason}" for reason in verdict.reasons],
    ]
    return "\n".join(lines) + "\n"


def settings(verdict: Verdict) -> list[str]:
    """The two sides compared and the rule's settings."""
    return [
        f"baseline:  {figures.side(verdict.baseline)}",
        f"candidate: {figures.side(verdict.candidate)}",
        f"confidence {verdict.confidence:.0%}, tolerance |Δ| ≥ {verdict.tolerance_pct:.2f}%, "
        f"erratic above CV {verdict.erratic_cv:.0%}",
        *filter(None, [figures.workloads_differ_line(verdict)]),
    ]


def experiments(verdict: Verdict) -> list[str]:
    """One aligned row per experiment, both sides with their spread."""
    if not verdict.experiments:
        return ["no experiments to compare"]
    rows = [
        (
            r.id,
            r.phase,
            r.goal,
            figures.spread(r.goal, r.baseline_values),
            figures.spread(r.goal, r.candidate_values),
            figures.delta(r),
            figures.interval(r),
            figures.trials(r),
            figures.decision(r),
        )
        for r in verdict.experiments
    ]
    return table([HEADER, *rows], RIGHT)


def top_movers(verdict: Verdict) -> list[str]:
    """The most changed call sites of each experiment that has any; nothing when none has."""
    movers = [r for r in verdict.experiments if r.top_sites]
    if not movers:
        return []
    lines = ["", "top movers (bytes per replicate, baseline -> candidate):"]
    for row in movers:
        sites = [
            (
                figures.bytes_delta(s.delta, signed=True),
                s.site,
                f"{figures.bytes_delta(s.baseline)} -> {figures.bytes_delta(s.candidate)}",
            )
            for s in row.top_sites
        ]
        lines += [f"  {row.id} {figures.goal(row)} ({row.decision})", *table(sites, {0}, indent="    ")]
    return lines


def bounds_checks(verdict: Verdict) -> list[str]:
    """Every bounds check with its worst replicate; nothing when no bound was set."""
    checks = list(verdict.bound_checks())
    if not checks:
        return []
    rows = [
        (
            "pass" if c.passed else "FAIL",
            r.id,
            figures.limit(c),
            f"{c.replicates_passed}/{c.replicates}",
            f"worst {figures.worst(c)}",
        )
        for r, c in checks
    ]
    return ["", "bounds checks (every replicate must pass):", *table(rows, {3}, indent="  ")]
