"""Call-site profiles of a phase across replicates: the one aggregation every stage uses.

A trial's phase carries its sites as records (``function``, ``file``, ``line``, figures such
as ``alloc_bytes``, and a ``stack`` where the backend keeps one). Comparing two runs, or
showing one, needs each site's figures averaged over the replicates. Backends that keep
every site (native) make those means complete: a site missing from a replicate allocated
nothing there, so it counts as 0 and only sites that changed move. Top-N backends (memray,
tracemalloc) keep each replicate's top sites only; their means are a floor, and said so in
the docs.

Sites are keyed by line (for tables of one run) or by function (for movers between two
runs, where a line that moved within its function must not read as two changes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from harness.results import Results, TrialResult

#: (function, file relative to the project, line; 0 when keyed by function).
SiteKey = tuple[str, str, int]
Grain = Literal["line", "function"]


#: The directories a side's file names are shown relative to: its project root, and the root
#: of the project its workloads came from when that is another checkout (compare).
Roots = str | tuple[str, ...]


def roots_of(results: Results | None) -> tuple[str, ...]:
    """The roots of a side (see :data:`Roots`), from its results' environment."""
    if results is None:
        return ()
    env = results.environment
    return tuple(str(env[k]) for k in ("project_root", "workloads_root") if env.get(k))


def relative_file(file: str, root: Roots) -> str:
    """``file`` relative to the first root that holds it (unchanged outside every root)."""
    for each in (root,) if isinstance(root, str) else root:
        prefix = each.rstrip("/") + "/" if each else ""
        if prefix and file.startswith(prefix):
            return file[len(prefix) :]
    return file


def site_key(site: Mapping[str, Any], root: Roots = "", grain: Grain = "line") -> SiteKey:
    """The key of a site record at ``grain``: the same function in two checkouts, or after
    its lines moved (``function`` grain), gets the same key."""
    file = relative_file(str(site.get("file", "?")), root)
    line = int(site.get("line", 0) or 0) if grain == "line" else 0
    return (str(site.get("function", "?")), file, line)


def figures_of(site: Mapping[str, Any]) -> dict[str, float]:
    """The numeric figures of a site record (its position and stack left out)."""
    return {
        name: float(value)
        for name, value in site.items()
        if name != "line" and isinstance(value, int | float) and not isinstance(value, bool)
    }


def mean_sites(
    trials: Sequence[TrialResult],
    phase: str,
    *,
    root: Roots = "",
    grain: Grain = "line",
    figures: Callable[[Mapping[str, Any]], Mapping[str, float]] = figures_of,
) -> dict[SiteKey, dict[str, float]]:
    """Each site of ``phase`` with its figures averaged over the trials that measured the
    phase (a site absent from a trial counts as 0 there)."""
    totals: dict[SiteKey, dict[str, float]] = {}
    runs = 0
    for trial in trials:
        measured = trial.phase(phase)
        if measured is None:
            continue
        runs += 1
        for site in measured.sites:
            row = totals.setdefault(site_key(site, root, grain), {})
            for name, value in figures(site).items():
                row[name] = row.get(name, 0.0) + value
    return {key: {k: v / runs for k, v in row.items()} for key, row in totals.items()} if runs else {}


def site_label(key: SiteKey) -> str:
    """``function (file)``, with ``:line`` when keyed by line."""
    function, file, line = key
    return f"{function} ({file}:{line})" if line else f"{function} ({file})"
