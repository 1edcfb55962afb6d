"""How a verdict's figures are written in every report: percents, intervals, marks, sides."""

from __future__ import annotations

from collections.abc import Callable

from harness.compare.verdict import BoundCheck, ExperimentVerdict, Verdict
from harness.declare.metrics import metric
from harness.declare.units import format_pct
from harness.reports.summary import format_cell
from harness.store.environment import Environment

#: The SMP marks: significantly better, significantly worse (or failed), no significant change.
BETTER, WORSE, SAME = "\u2705", "\u274c", "\u2796"


#: ``+10.00``, ``-0.31``, ``+∞``; ``n/a`` for a figure that does not exist.
pct = format_pct


def interval(row: ExperimentVerdict, places: int = 2) -> str:
    """``[+9.80, +10.20]``; empty when the row has none (``new``, ``failed``, from or to zero)."""
    if row.ci_low_pct is None or row.ci_high_pct is None or row.absolute:
        return ""
    return f"[{pct(row.ci_low_pct, places)}, {pct(row.ci_high_pct, places)}]"


def delta(row: ExperimentVerdict, places: int = 2) -> str:
    """Δ mean % of the row, or what stands in for it: the absolute change of a row from or to
    zero (``0 B → 711 KiB (+711 KiB)``), else the decision (``new``, ``missing``, ``failed``)."""
    absolute = row.absolute_change()
    if absolute is not None:
        return absolute
    if row.delta_pct is None:
        return row.decision
    return pct(row.delta_pct, places)


def spread(goal: str, values: tuple[float, ...]) -> str:
    """``420.1 B ±0%``: the mean of the replicates with its unit and spread; ``-`` for none."""
    return format_cell(goal, values) if values else "-"


def mark(row: ExperimentVerdict) -> str:
    """BETTER for a significant improvement, WORSE for a gating regression or a failure, else SAME."""
    if row.gated:
        return WORSE
    if row.improved:
        return BETTER
    return SAME


def decision(row: ExperimentVerdict) -> str:
    """The decision word, naming the side whose trials failed and noting an erratic row (shown, not gated)."""
    if row.decision == "failed" and row.failed_side:
        return f"failed ({row.failed_side})"
    return f"{row.decision} (erratic)" if row.erratic else row.decision


def goal(row: ExperimentVerdict) -> str:
    """``fill.alloc_bytes_per_op``: the phase and the metric judged."""
    return f"{row.phase}.{row.goal}"


def trials(row: ExperimentVerdict) -> str:
    """``5/5``: replicates of baseline / candidate."""
    return f"{row.replicates[0]}/{row.replicates[1]}"


def limit(check: BoundCheck) -> str:
    """``fill.peak_bytes ≤ 64 MiB``."""
    return f"{check.name} ≤ {metric(check.metric).format(check.upper)}"


def worst(check: BoundCheck) -> str:
    return "-" if check.worst is None else metric(check.metric).format(check.worst)


def bytes_delta(value: float, *, signed: bool = False) -> str:
    """A site's bytes per replicate, with unit."""
    return metric("alloc_bytes").format(value, signed=signed)


def side(env: Environment) -> str:
    """``main, commit 8c294435 (CPython 3.11.7, memray)``: which code, where, measured how."""
    parts = [env.baseline.name] if env.baseline and env.baseline.name else []
    if env.git_commit:
        parts.append(f"commit {env.git_commit[:8]}{'-dirty' if env.git_dirty else ''}")
    where = f"({env.interpreter}, {env.backend or '?'})"
    return " ".join([", ".join(parts), where]) if parts else where


#: What the line of :func:`workloads_differ` starts with, in every format.
WORKLOADS_DIFFER = "workload files that differ between the sides"


def workloads_differ(verdict: Verdict) -> tuple[str, ...]:
    """The workload files the two sides ran in different versions (paths relative to the
    project), as the sides' provenance names them; empty when none did, or none was said."""
    return tuple(dict.fromkeys((verdict.baseline.workloads_differ or ()) + (verdict.candidate.workloads_differ or ())))


def workloads_differ_line(verdict: Verdict, name: Callable[[str], str] = str) -> str:
    """``workload files that differ between the sides: workloads/lru.py (why it matters)``,
    each file written by ``name`` (a code span in markdown); "" when none differed."""
    files = workloads_differ(verdict)
    if not files:
        return ""
    return (
        f"{WORKLOADS_DIFFER}: {', '.join(name(f) for f in files)} (each side ran its own version: an experiment "
        "they declare may have moved, or come and gone, by the workload's change rather than the code's)"
    )


def verdict_line(verdict: Verdict) -> str:
    """``Passed. All quality gates passed.`` or ``Failed. 2 quality gates failed.``"""
    if verdict.passed:
        return "Passed. All quality gates passed."
    count = len(verdict.reasons)
    return f"Failed. {count} quality gate{'s' if count != 1 else ''} failed."
