"""Call-site profiles of a phase across replicates: the one aggregation every stage uses.

A trial's phase carries its :class:`~harness.store.sites.Site` records. Comparing two runs, or
showing one, needs each site's figures averaged over the replicates: a :class:`Profile`.
Backends that keep every site (native) make those means complete: a site missing from a
replicate allocated nothing there, so it counts as 0 and only sites that changed move.
Top-N backends (memray, tracemalloc) keep each replicate's top sites only; their means are a
floor, and said so in the docs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.store.results import TrialResult
from harness.store.sites import Grain, Roots, SiteKey
from harness.store.sites import site_label as site_label  # its home is harness.store.sites


@dataclass(frozen=True)
class Profile:
    """One phase's call sites, each figure averaged over the replicates that measured the phase."""

    phase: str
    #: How many replicates measured the phase (the divisor of every mean).
    replicates: int
    grain: Grain
    sites: Mapping[SiteKey, Mapping[str, float]]

    def figure(self, key: SiteKey, name: str) -> float:
        """Site ``key``'s mean ``name`` (0 where the site allocated nothing of that kind)."""
        return self.sites.get(key, {}).get(name, 0.0)

    def measured(self, names: Iterable[str]) -> tuple[str, ...]:
        """Those of ``names`` that some site of the profile carries, in the order given."""
        present = {name for figures in self.sites.values() for name in figures}
        return tuple(name for name in names if name in present)

    def top(self, name: str, limit: int | None = None) -> list[SiteKey]:
        """The sites with the largest ``name`` (by size), ties by key: the same order run after run."""
        ranked = sorted((k for k in self.sites if name in self.sites[k]), key=lambda k: (-abs(self.figure(k, name)), k))
        return ranked[:limit]


@dataclass(frozen=True)
class Move:
    """A site's mean figure on both sides of a comparison."""

    site: SiteKey
    baseline: float
    candidate: float

    @property
    def delta(self) -> float:
        return self.candidate - self.baseline


def profile_of(trials: Sequence[TrialResult], phase: str, *, root: Roots = "", grain: Grain = "line") -> Profile:
    """The profile of ``phase`` over the trials that measured it (a site absent from one counts 0 there)."""
    totals: dict[SiteKey, dict[str, float]] = {}
    runs = 0
    for trial in trials:
        measured = trial.phase(phase)
        if measured is None:
            continue
        runs += 1
        for site in measured.sites:
            row = totals.setdefault(site.key(root, grain), {})
            for name, value in site.figures.items():
                row[name] = row.get(name, 0.0) + value
    means = {key: {name: value / runs for name, value in row.items()} for key, row in totals.items()}
    return Profile(phase, runs, grain, means)


def changed_sites(before: Profile, after: Profile, name: str) -> list[Move]:
    """The sites whose mean ``name`` changed from ``before`` to ``after``, largest change first
    (like ``pprof -diff_base``): a site that did not change does not move."""
    keys = dict.fromkeys([*before.sites, *after.sites])
    moves = [Move(key, before.figure(key, name), after.figure(key, name)) for key in keys]
    moved = [move for move in moves if move.delta != 0]
    moved.sort(key=lambda move: (-abs(move.delta), move.site))
    return moved
