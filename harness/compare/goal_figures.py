"""Each goal of a results file, phase by phase, with its replicates' values: what the exports
and the history read of a run."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from harness.declare.metrics import metric
from harness.store.results import Results


@dataclass(frozen=True)
class Figure:
    """One goal of one experiment's phase over its replicates."""

    experiment: str
    measure: str
    unit: str
    values: tuple[float, ...]
    #: The seed of each value's trial, in the same order.
    seeds: tuple[int, ...] = ()

    @property
    def mean(self) -> float:
        return math.fsum(self.values) / len(self.values)


def figures(results: Results) -> Iterator[Figure]:
    """Every goal of every experiment, per phase, with its replicates' values (in trial order)."""
    for info in results.experiments:
        trials = [t for t in results.trials_of(info.id) if t.ok]
        for goal in info.goals:
            phases = [goal.phase] if goal.phase else list(dict.fromkeys(p.name for t in trials for p in t.phases))
            for phase in phases:
                measured = [
                    (float(value), t.seed)
                    for t in trials
                    if (found := t.phase(phase)) is not None
                    and isinstance(value := found.metrics.get(goal.metric), int | float)
                ]
                if measured:
                    values, seeds = zip(*measured, strict=True)
                    yield Figure(info.id, f"{phase}.{goal.metric}", metric(goal.metric).unit, values, seeds)


def exact_means(results: Results) -> dict[tuple[str, str], float]:
    """The mean of each goal whose figures repeat exactly for a seed: ``{(experiment, "phase.metric"): mean}``."""
    return {(f.experiment, f.measure): f.mean for f in figures(results) if metric(f.measure.rsplit(".", 1)[1]).exact}
