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
                values = tuple(
                    float(value)
                    for t in trials
                    if (found := t.phase(phase)) is not None
                    and isinstance(value := found.metrics.get(goal.metric), int | float)
                )
                if values:
                    yield Figure(info.id, f"{phase}.{goal.metric}", metric(goal.metric).unit, values)
