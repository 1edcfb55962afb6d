"""Parsing and formatting of quantities: ``"64 MiB"`` to bytes and back."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Sequence

from harness.errors import DeclarationError

_BYTE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)\s*$")


def parse_quantity(text: str | int | float) -> float:
    """Return the number a bound means: ``"64 MiB"`` -> 67108864.0, ``3`` -> 3.0.

    Units are bytes (B, KB, MB, GB in powers of 1000; KiB, MiB, GiB in powers of 1024);
    a bare number is taken as it is (a count, or bytes).
    """
    if isinstance(text, bool):
        raise DeclarationError(f"not a quantity: {text!r}")
    if isinstance(text, int | float):
        if math.isnan(text):
            raise DeclarationError("not a quantity: nan")
        return float(text)
    match = _QUANTITY.match(text)
    if match is None:
        raise DeclarationError(f"not a quantity: {text!r} (expected e.g. '64 MiB', '512 KB' or '3')")
    number, unit = float(match.group(1)), match.group(2).lower()
    if not unit:
        return number
    if unit not in _BYTE_UNITS:
        known = ", ".join(("B", "KB", "MB", "GB", "KiB", "MiB", "GiB"))
        raise DeclarationError(f"unknown unit {match.group(2)!r} in {text!r} (known: {known})")
    return number * _BYTE_UNITS[unit]


def format_bytes(value: float, *, signed: bool = False) -> str:
    """``1536`` -> ``"1.50 KiB"``; binary units, three significant figures."""
    sign = "+" if signed and value > 0 else ""
    if math.isnan(value):
        return "n/a"
    magnitude = abs(value)
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        # From 1000 of the smaller unit on, so that three figures never need an exponent (1010 KiB).
        if magnitude >= size * 1000 / 1024:
            return f"{sign}{value / size:.3g} {unit}".replace("e+0", "e")
    return f"{sign}{value:.4g} B"


def format_count(value: float, *, signed: bool = False) -> str:
    """``1234567`` -> ``"1.23M"``: counts with SI suffixes."""
    sign = "+" if signed and value > 0 else ""
    if math.isnan(value):
        return "n/a"
    magnitude = abs(value)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if magnitude >= size:
            return f"{sign}{value / size:.3g}{unit}"
    return f"{sign}{value:.4g}"


def format_seconds(value: float) -> str:
    """``0.0123`` -> ``"12.3 ms"``."""
    if math.isnan(value):
        return "n/a"
    magnitude = abs(value)
    for unit, size in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if magnitude >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def mean_and_spread(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation as a percentage of it (0 for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2 or mean == 0:
        return mean, 0.0
    return mean, 100 * statistics.stdev(values) / abs(mean)


def format_spread(values: Sequence[float], unit: Callable[[float], str]) -> str:
    """``1.50 KiB ±0%``: the mean in ``unit`` and the spread of ``values``, benchstat style.

    The one way every table, chart and message writes replicates' figures."""
    mean, spread = mean_and_spread(values)
    return f"{unit(mean)} ±{spread:.0f}%"


def format_pct(value: float | None, places: int = 2, suffix: str = "") -> str:
    """A change in percent, signed: ``+10.00``, ``-0.31``, ``+∞``; ``n/a`` for none (or NaN).

    The one way every report and message writes a Δ %; ``suffix`` is ``"%"`` where the
    column or sentence does not say it already.
    """
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return ("+∞" if value > 0 else "-∞") + suffix
    text = f"{value:+.{places}f}"
    # -0.00 reads as a change; it is none at this precision.
    return (text.replace("-", "+", 1) if float(text) == 0 else text) + suffix
