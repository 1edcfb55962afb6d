"""The metrics a phase can carry: their names, units and which direction is better.

The base metrics are measured by a capture backend (see ``harness.capture``); each of them
also has a ``*_per_op`` form, the base figure divided by the operations the workload declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from harness.units import format_bytes, format_count, format_seconds

Unit = Literal["bytes", "count", "seconds"]


@dataclass(frozen=True)
class Metric:
    """One measured quantity of a phase."""

    name: str
    unit: Unit
    description: str
    lower_is_better: bool = True

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
    Metric("wall_s", "seconds", "wall-clock duration of the phase"),
)
#: Metrics that have a ``*_per_op`` form.
PER_OP_BASES = tuple(m.name for m in _BASE)
OPS = Metric("ops", "count", "operations the workload declared for the phase", lower_is_better=False)

METRICS: dict[str, Metric] = {m.name: m for m in _BASE}
METRICS["ops"] = OPS
for _m in _BASE:
    METRICS[f"{_m.name}_per_op"] = Metric(f"{_m.name}_per_op", _m.unit, f"{_m.description}, per operation")
METRICS["rss_peak_bytes"] = Metric("rss_peak_bytes", "bytes", "peak resident set size of the trial process")


def metric(name: str) -> Metric:
    """The metric called ``name``; a workload's own counters are counts where lower is better."""
    known = METRICS.get(name)
    if known is not None:
        return known
    return Metric(name, "count", "a counter the workload recorded")


def with_per_op(measured: Mapping[str, float | int | None]) -> dict[str, float | int | None]:
    """The measured figures plus their ``*_per_op`` forms (``None`` when the phase declared no ops)."""
    out: dict[str, float | int | None] = dict(measured)
    ops = measured.get("ops") or 0
    for base in PER_OP_BASES:
        value = measured.get(base)
        if value is not None:
            out[f"{base}_per_op"] = value / ops if ops else None
    return out
