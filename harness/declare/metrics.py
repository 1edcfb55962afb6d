"""The metrics a phase can carry: their names, units and which direction is better.

The base metrics are measured by a capture backend (see ``harness.measure.capture``); each of them
also has a ``*_per_op`` form, the base figure divided by the operations the workload declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from harness.declare.units import format_bytes, format_count, format_seconds

Unit = Literal["bytes", "count", "seconds"]


@dataclass(frozen=True)
class Metric:
    """One measured quantity of a phase."""

    name: str
    unit: Unit
    description: str
    lower_is_better: bool = True
    #: Whether a trial's figure repeats exactly for its seed (heap figures), or carries the
    #: machine's noise whatever the seed (time, resident memory): the gate judges the two apart.
    exact: bool = True

    def format(self, value: float, *, signed: bool = False) -> str:
        """The value with its unit, e.g. ``"1.50 KiB"``."""
        if self.unit == "bytes":
            return format_bytes(value, signed=signed)
        if self.unit == "seconds":
            return format_seconds(value)
        return format_count(value, signed=signed)


_BASE = (
    Metric("alloc_bytes", "bytes", "bytes allocated inside the phase, freed or not"),
    Metric("alloc_count", "count", "allocations made inside the phase, freed or not"),
    Metric("kept_bytes", "bytes", "bytes allocated inside the phase and still alive at its end"),
    Metric("kept_count", "count", "allocations made inside the phase and still alive at its end"),
    Metric("net_bytes", "bytes", "in-use bytes at the end of the phase minus at its start"),
    Metric("net_count", "count", "live allocations at the end of the phase minus at its start"),
    Metric("peak_bytes", "bytes", "highest in-use bytes inside the phase, above its start"),
    Metric("wall_s", "seconds", "wall-clock duration of the phase", exact=False),
)
#: Metrics that have a ``*_per_op`` form.
PER_OP_BASES = tuple(m.name for m in _BASE)
OPS = Metric("ops", "count", "operations the workload declared for the phase", lower_is_better=False)

METRICS: dict[str, Metric] = {m.name: m for m in _BASE}
METRICS["ops"] = OPS
for _m in _BASE:
    METRICS[f"{_m.name}_per_op"] = Metric(
        f"{_m.name}_per_op", _m.unit, f"{_m.description}, per operation", exact=_m.exact
    )
METRICS["rss_peak_bytes"] = Metric(
    "rss_peak_bytes", "bytes", "peak resident set size of the trial process", exact=False
)


def metric(name: str) -> Metric:
    """The metric called ``name``; a workload's own counters are counts where lower is better."""
    known = METRICS.get(name)
    if known is not None:
        return known
    return Metric(name, "count", "a counter the workload recorded")


def absolute_change(name: str, before: float, after: float) -> str | None:
    """``0 B → 711 KiB (+711 KiB)`` for a change of metric ``name`` from or to zero; None for
    any other change (or none). Its percent would be ±∞ or -100, of no use to a reader: this is
    the one way every report and message writes such a change."""
    if (before == 0) == (after == 0):
        return None
    unit = metric(name)
    change = after - before
    signed = unit.format(change, signed=True)
    if not signed.startswith(("+", "-")):
        signed = ("+" if change > 0 else "-") + unit.format(abs(change))
    return f"{unit.format(before)} → {unit.format(after)} ({signed})"


def with_per_op(measured: Mapping[str, float | int | None]) -> dict[str, float | int | None]:
    """The measured figures plus their ``*_per_op`` forms (``None`` when the phase declared no ops)."""
    out: dict[str, float | int | None] = dict(measured)
    ops = measured.get("ops") or 0
    for base in PER_OP_BASES:
        value = measured.get(base)
        if value is not None:
            out[f"{base}_per_op"] = value / ops if ops else None
    return out


#: The figures a call site carries (a backend fills those it measures), in the order of the
#: native backend's rows.
SITE_FIGURES = ("alloc_count", "alloc_bytes", "kept_count", "kept_bytes", "net_count", "net_bytes")
#: A goal with no figure of its own at a site, and the figure that explains it there: a peak
#: is made of what is kept at its height; a time, of what the phase allocated.
_EXPLAINED_BY = {"peak_bytes": "kept_bytes", "wall_s": "alloc_bytes", "rss_peak_bytes": "alloc_bytes"}


def explaining_figures(goal: str) -> tuple[str, ...]:
    """The site figures that explain a change of ``goal``, best first: its own, its companion of
    the other kind (bytes for a count, counts for bytes), then those of its kind, allocated
    before net before kept, then those of the other kind. The one rule by which the movers of a
    verdict, the call tree and a test over its limit choose a site figure."""
    base = goal.removesuffix("_per_op")
    own = base if base in SITE_FIGURES else _EXPLAINED_BY.get(base, "alloc_bytes")
    prefix, kind = own.rsplit("_", 1)
    other = "count" if kind == "bytes" else "bytes"
    order = [own, f"{prefix}_{other}"]
    for each_kind in (kind, other):
        order += [f"{name}_{each_kind}" for name in ("alloc", "net", "kept")]
    return tuple(dict.fromkeys(order))
