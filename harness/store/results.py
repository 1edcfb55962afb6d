"""The results file: every trial of a run with the environment it ran in.

Format ``harness.results/1`` (JSON)::

    {"schema": "harness.results/1", "created": ISO-8601, "interrupted": false,
     "environment": {"python_version", "implementation", "platform", "machine",
                     "harness_version", "backend", "git_commit", "git_dirty", "hostname"},
     "settings": {"replicates", "base_seed", "backend", "timeout_s", "top_sites"},
     "experiments": [{"id", "family", "workload", "variant", "params", "goals", "bounds"}],
     "trials": [{"experiment", "replicate", "seed", "status", "error", "wall_s",
                 "rss_peak_bytes", "phases": [{"name", "metrics": {...}, "sites": [...]}],
                 "stderr" (a failed trial's: the last lines its child printed, when it printed any)}]}

Files are written atomically and read with a schema check (:mod:`harness.store.jsonfile`); the
environment comes from :mod:`harness.store.environment`, the pandas view from
:mod:`harness.store.dataframe`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.declare.spec import Bound, Experiment, Goal
from harness.errors import HarnessError, ResultsError
from harness.store.environment import Environment
from harness.store.jsonfile import read_versioned, write_json_atomic
from harness.store.sites import Site

SCHEMA = "harness.results/1"


@dataclass(frozen=True)
class PhaseResult:
    """What one phase of one trial measured."""

    name: str
    metrics: Mapping[str, float | int | None]
    sites: tuple[Site, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "metrics": dict(self.metrics), "sites": [site.to_json() for site in self.sites]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PhaseResult:
        """A phase as :meth:`to_json` or a trial wrote it; ``KeyError``/``TypeError``/``ValueError`` if malformed."""
        sites = tuple(Site.from_json(site) for site in data.get("sites", ()))
        return cls(str(data["name"]), _figures(data["metrics"]), sites)


@dataclass(frozen=True)
class TrialResult:
    """One trial: its phases when it succeeded, its reason when it failed."""

    experiment: str
    replicate: int
    seed: int
    status: str
    phases: tuple[PhaseResult, ...] = ()
    error: str | None = None
    wall_s: float = 0.0
    rss_peak_bytes: int | None = None
    #: A failed trial's evidence beside its one-line ``error``: the last lines of its stderr
    #: (a traceback, faulthandler's stack of a crash, a C library's message).
    stderr: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def phase(self, name: str) -> PhaseResult | None:
        return next((p for p in self.phases if p.name == name), None)

    def to_json(self) -> dict[str, Any]:
        data = {
            "experiment": self.experiment,
            "replicate": self.replicate,
            "seed": self.seed,
            "status": self.status,
            "error": self.error,
            "wall_s": self.wall_s,
            "rss_peak_bytes": self.rss_peak_bytes,
            "phases": [phase.to_json() for phase in self.phases],
        }
        if self.stderr is not None:
            data["stderr"] = self.stderr
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrialResult:
        """A trial as :meth:`to_json` wrote it; ``KeyError``/``TypeError``/``ValueError`` when malformed."""
        return cls(
            experiment=data["experiment"],
            replicate=int(data["replicate"]),
            seed=int(data["seed"]),
            status=data["status"],
            error=data.get("error"),
            wall_s=float(data.get("wall_s", 0.0)),
            rss_peak_bytes=data.get("rss_peak_bytes"),
            phases=tuple(PhaseResult.from_json(phase) for phase in data["phases"]),
            stderr=data.get("stderr"),
        )


def _figures(metrics: Mapping[str, Any]) -> Mapping[str, float | int | None]:
    """``metrics`` when every figure is a number or null; ``ValueError`` naming the first that is not."""
    for name, value in metrics.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{name!r}: {value!r} is not a figure")
    return metrics


@dataclass(frozen=True)
class ExperimentInfo:
    """An experiment as stored in a results file (its declaration, without the code)."""

    id: str
    family: str
    workload: str
    variant: str
    params: Mapping[str, Any]
    goals: tuple[Goal, ...]
    bounds: tuple[Bound, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "family": self.family,
            "workload": self.workload,
            "variant": self.variant,
            "params": dict(self.params),
            "goals": [str(g) for g in self.goals],
            "bounds": [b.to_json() for b in self.bounds],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExperimentInfo:
        return cls(
            id=data["id"],
            family=data["family"],
            workload=data["workload"],
            variant=data["variant"],
            params=data["params"],
            goals=tuple(Goal.parse(g) for g in data["goals"]),
            bounds=tuple(Bound.from_json(b) for b in data["bounds"]),
        )

    @classmethod
    def of(cls, experiment: Experiment) -> ExperimentInfo:
        return cls(
            experiment.id,
            experiment.family,
            experiment.workload,
            experiment.variant,
            dict(experiment.params),
            experiment.goals,
            experiment.bounds,
        )


@dataclass(frozen=True)
class RunSettings:
    """The settings a run measured with, as its results record them (one flat JSON object)."""

    replicates: int | None = None
    base_seed: int | None = None
    backend: str | None = None
    timeout_s: float | None = None
    top_sites: int | None = None
    jobs: int | None = None
    #: Where trials ran: ``local`` or ``dask``, and for dask its scheduler, how many trials each
    #: machine ran, and whether their times compare (one machine only).
    executor: str | None = None
    scheduler: str | None = None
    trial_hosts: Mapping[str, int] | None = None
    timing_comparable: bool | None = None
    #: Keys of a file written by another version of harness, kept so that rewriting it loses nothing.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The fields that are set, in their order, then the extra keys."""
        given = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**{k: v for k, v in given.items() if v is not None}, **self.extra}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSettings:
        if not isinstance(data, Mapping):
            raise TypeError(f"settings {data!r} is not an object")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(
            **{k: v for k, v in data.items() if k in known}, extra={k: v for k, v in data.items() if k not in known}
        )


@dataclass(frozen=True)
class Results:
    """All trials of one run."""

    environment: Environment
    settings: RunSettings
    experiments: tuple[ExperimentInfo, ...]
    trials: tuple[TrialResult, ...]
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    interrupted: bool = False

    def trials_of(self, experiment_id: str) -> list[TrialResult]:
        """The trials of one experiment, by replicate."""
        return sorted((t for t in self.trials if t.experiment == experiment_id), key=lambda t: t.replicate)

    def failed(self) -> list[TrialResult]:
        return [t for t in self.trials if not t.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "created": self.created,
            "interrupted": self.interrupted,
            "environment": self.environment.to_json(),
            "settings": self.settings.to_json(),
            "experiments": [e.to_json() for e in self.experiments],
            "trials": [t.to_json() for t in self.trials],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Results:
        experiments = tuple(ExperimentInfo.from_json(e) for e in data["experiments"])
        trials = tuple(TrialResult.from_json(t) for t in data["trials"])
        return cls(
            environment=Environment.from_json(data["environment"]),
            settings=RunSettings.from_json(data["settings"]),
            experiments=experiments,
            trials=trials,
            created=data.get("created", ""),
            interrupted=bool(data.get("interrupted", False)),
        )


def save_results(results: Results, path: Path) -> None:
    """Write a results file atomically."""
    write_json_atomic(path, results.to_json())


def read_results(path: Path) -> Results:
    """Load a results (or baseline) file, checking its schema."""
    data = read_versioned(path, SCHEMA)
    try:
        return Results.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ResultsError(f"{path}: malformed results file: missing or bad field {exc}") from None
    except HarnessError as exc:
        raise ResultsError(f"{path}: malformed results file: {exc}") from None


def experiment_infos(experiments: Sequence[Experiment]) -> tuple[ExperimentInfo, ...]:
    return tuple(ExperimentInfo.of(e) for e in experiments)
