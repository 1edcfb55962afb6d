"""The results file: every trial of a run with the environment it ran in.

Format ``harness.results/1`` (JSON)::

    {"schema": "harness.results/1", "created": ISO-8601, "interrupted": false,
     "environment": {"python_version", "implementation", "platform", "machine",
                     "harness_version", "backend", "git_commit", "git_dirty", "hostname"},
     "settings": {"replicates", "base_seed", "backend", "timeout_s", "top_sites"},
     "experiments": [{"id", "family", "workload", "variant", "params", "goals", "bounds"}],
     "trials": [{"experiment", "replicate", "seed", "status", "error", "wall_s",
                 "rss_peak_bytes", "phases": [{"name", "metrics": {...}, "sites": [...]}]}]}

Files are written atomically (a temporary file renamed over the target), so a reader never
sees half a file and an interrupted write never damages the previous one.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, ResultsError
from harness.spec import Bound, Experiment, Goal

if TYPE_CHECKING:
    import pandas as pd

SCHEMA = "harness.results/1"


@dataclass(frozen=True)
class PhaseResult:
    """What one phase of one trial measured."""

    name: str
    metrics: Mapping[str, float | int | None]
    sites: tuple[Mapping[str, Any], ...] = ()


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

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def phase(self, name: str) -> PhaseResult | None:
        return next((p for p in self.phases if p.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "replicate": self.replicate,
            "seed": self.seed,
            "status": self.status,
            "error": self.error,
            "wall_s": self.wall_s,
            "rss_peak_bytes": self.rss_peak_bytes,
            "phases": [{"name": p.name, "metrics": dict(p.metrics), "sites": list(p.sites)} for p in self.phases],
        }

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
            phases=tuple(
                PhaseResult(str(p["name"]), _figures(p["metrics"]), tuple(p.get("sites", ()))) for p in data["phases"]
            ),
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
class Results:
    """All trials of one run."""

    environment: Mapping[str, Any]
    settings: Mapping[str, Any]
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
            "environment": dict(self.environment),
            "settings": dict(self.settings),
            "experiments": [
                {
                    "id": e.id,
                    "family": e.family,
                    "workload": e.workload,
                    "variant": e.variant,
                    "params": dict(e.params),
                    "goals": [str(g) for g in e.goals],
                    "bounds": [
                        {"name": b.name, "metric": b.metric, "phase": b.phase, "upper": b.upper} for b in e.bounds
                    ],
                }
                for e in self.experiments
            ],
            "trials": [t.to_json() for t in self.trials],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Results:
        experiments = tuple(
            ExperimentInfo(
                id=e["id"],
                family=e["family"],
                workload=e["workload"],
                variant=e["variant"],
                params=e["params"],
                goals=tuple(Goal.parse(g) for g in e["goals"]),
                bounds=tuple(Bound(b["name"], b["metric"], float(b["upper"]), b.get("phase")) for b in e["bounds"]),
            )
            for e in data["experiments"]
        )
        trials = tuple(TrialResult.from_json(t) for t in data["trials"])
        return cls(
            environment=data["environment"],
            settings=data["settings"],
            experiments=experiments,
            trials=trials,
            created=data.get("created", ""),
            interrupted=bool(data.get("interrupted", False)),
        )


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` so that ``path`` is always either old or new, never partial."""
    write_text_atomic(path, json.dumps(data, indent=1, allow_nan=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that ``path`` is always either old or new, never partial."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file owner-only; give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_results(results: Results, path: Path) -> None:
    """Write a results file atomically."""
    write_json_atomic(path, results.to_json())


def read_json(path: Path, schema_prefix: str) -> dict[str, Any]:
    """A JSON document whose ``schema`` starts with ``schema_prefix``, or one clear :class:`ResultsError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: cannot be read: {exc}") from None
    try:
        data: dict[str, Any] = json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON (truncated or corrupt?): {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise ResultsError(f"{path}: not a results file: {exc}") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(schema, str) or not schema.startswith(schema_prefix):
        raise ResultsError(f"{path}: not a {schema_prefix.rstrip('/')} file (schema {schema!r})")
    return data


def refuse_constant(name: str) -> Any:
    """For ``json.loads(parse_constant=...)``: a ``ValueError`` for NaN and Infinity."""
    # Python's json reads NaN and Infinity, which no file of ours holds (they are written with
    # allow_nan=False): a figure that is not a number is a corrupt file, refused on reading.
    raise ValueError(f"{name} is not a figure")


def read_versioned(path: Path, schema: str) -> dict[str, Any]:
    """A JSON document of exactly ``schema`` (e.g. ``harness.results/1``), or one clear error."""
    family = schema.rsplit("/", 1)[0] + "/"
    data = read_json(path, family)
    if data["schema"] != schema:
        raise ResultsError(f"{path}: schema {data['schema']} is not supported by this harness ({schema})")
    return data


def read_results(path: Path) -> Results:
    """Load a results (or baseline) file, checking its schema."""
    data = read_versioned(path, SCHEMA)
    try:
        return Results.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ResultsError(f"{path}: malformed results file: missing or bad field {exc}") from None
    except HarnessError as exc:
        raise ResultsError(f"{path}: malformed results file: {exc}") from None


def load_results(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A results file as a pandas DataFrame: one row per trial x phase, one column per metric.

    Columns: ``experiment, family, workload, variant, params`` (JSON text), ``replicate,
    seed, status, error, phase, rss_peak_bytes`` and then every metric the phase carries
    (``alloc_bytes``, ``alloc_bytes_per_op``, ``net_bytes``, ...; NaN where the backend did
    not measure it). A failed trial has one row with ``phase`` empty and its ``error``.
    """
    import pandas as pd

    results = read_results(Path(path))
    info = {e.id: e for e in results.experiments}
    rows: list[dict[str, Any]] = []
    for trial in results.trials:
        exp = info.get(trial.experiment)
        base = {
            "experiment": trial.experiment,
            "family": exp.family if exp else None,
            "workload": exp.workload if exp else None,
            "variant": exp.variant if exp else None,
            "params": json.dumps(dict(exp.params), sort_keys=True) if exp else None,
            "replicate": trial.replicate,
            "seed": trial.seed,
            "status": trial.status,
            "error": trial.error,
            "rss_peak_bytes": trial.rss_peak_bytes,
        }
        if not trial.phases:
            rows.append({**base, "phase": None})
        for phase in trial.phases:
            rows.append({**base, "phase": phase.name, **phase.metrics})
    return pd.DataFrame(rows)


def git_state(directory: Path) -> tuple[str | None, bool | None]:
    """The commit checked out in ``directory`` and whether the tree has changes (None outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(status.strip())


def environment(project_root: Path, backend: str) -> dict[str, Any]:
    """Where a run happened: what makes its allocation figures comparable, or not."""
    from harness import __version__

    commit, dirty = git_state(project_root)
    memray_version = None
    if backend == "memray":
        from importlib.metadata import version

        memray_version = version("memray")
    return {
        "python_version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": socket.gethostname(),
        "harness_version": __version__,
        "backend": backend,
        "memray_version": memray_version,
        "git_commit": commit,
        "git_dirty": dirty,
        "project_root": str(project_root),
    }


def experiment_infos(experiments: Sequence[Experiment]) -> tuple[ExperimentInfo, ...]:
    return tuple(ExperimentInfo.of(e) for e in experiments)
