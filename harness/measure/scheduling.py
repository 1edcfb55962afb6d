"""Scheduling and running trials: experiments x replicates, interleaved, with a progress bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.declare.config import Settings, memory_limit_bytes, memory_limit_origin
from harness.declare.spec import Experiment
from harness.errors import ExecutorLost, RunStopped
from harness.measure.capture.reach import say_blind_spots
from harness.measure.executors import Executor, TrialJob, executor_settings
from harness.measure.executors.local import LocalExecutor
from harness.measure.here import environment
from harness.measure.signals import sigterm_as_interrupt
from harness.measure.trial import TrialSpec
from harness.store.environment import Provenance
from harness.store.results import Results, RunSettings, TrialResult, experiment_infos


@dataclass(frozen=True)
class Side:
    """One side of a run: which code (project root, workloads dir) runs which experiments."""

    name: str
    project_root: Path
    workloads_dir: Path
    experiments: tuple[Experiment, ...]
    #: Where this side's trials import the code under test from (default: the project root).
    import_path: tuple[Path, ...] = ()
    #: What the results' environment says of this side's code (its commit, build, workloads).
    provenance: Provenance | None = None

    @property
    def python_path(self) -> tuple[str, ...]:
        return tuple(str(p) for p in (self.import_path or (self.project_root,)))


def seed_of(settings: Settings, replicate: int) -> int:
    """Replicate ``i`` always runs with seed ``base_seed + i``, so both sides of a comparison pair."""
    return settings.base_seed + replicate


def schedule(sides: Sequence[Side], settings: Settings, backend: str) -> list[TrialJob]:
    """Every trial, interleaved: replicate 0 of every experiment of every side, then replicate 1, ...

    Interleaving spreads any drift of the machine (thermal, other load) evenly over the
    experiments and over both sides of a comparison, instead of letting it land on one.
    """
    jobs = []
    memory_limit = memory_limit_bytes(settings)
    limit_origin = memory_limit_origin(settings)
    for replicate in range(settings.replicates):
        for experiment_index in range(max((len(s.experiments) for s in sides), default=0)):
            for side in sides:
                if experiment_index >= len(side.experiments):
                    continue
                experiment = side.experiments[experiment_index]
                spec = TrialSpec(
                    project_root=str(side.project_root),
                    workloads_dir=str(side.workloads_dir),
                    module=experiment.module,
                    family=experiment.family,
                    workload=experiment.workload,
                    variant=experiment.variant,
                    params=dict(experiment.params),
                    seed=seed_of(settings, replicate),
                    replicate=replicate,
                    backend=backend,
                    top_sites=settings.top_sites,
                    python_path=side.python_path,
                    memory_limit=memory_limit,
                    memory_limit_origin=limit_origin,
                )
                jobs.append(TrialJob(experiment.id, spec, settings.timeout_s, side.name))
    return jobs


ProgressCallback = Callable[[TrialJob, TrialResult], None]


def execute(
    sides: Sequence[Side],
    settings: Settings,
    backend: str,
    *,
    executor: Executor | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Results]:
    """Run every trial of every side; return one :class:`Results` per side.

    On Ctrl-C (or SIGTERM) the trials finished so far are returned with ``interrupted``
    set, and :class:`KeyboardInterrupt` is not raised: the caller saves them. When the
    executor is lost, :class:`RunStopped` carries them instead.
    """
    jobs = schedule(sides, settings, backend)
    collected: dict[str, list[TrialResult]] = {side.name: [] for side in sides}
    say_blind_spots(backend)

    def on_result(job: TrialJob, result: TrialResult) -> None:
        collected[job.side].append(result)
        if progress is not None:
            progress(job, result)

    interrupted = False
    lost: ExecutorLost | None = None
    runner = executor or LocalExecutor(settings.jobs)
    try:
        with sigterm_as_interrupt():
            runner.run(jobs, on_result)
    except KeyboardInterrupt:
        interrupted = True
    except ExecutorLost as exc:
        interrupted, lost = True, exc
    run_settings = RunSettings.from_json(
        {
            "replicates": settings.replicates,
            "base_seed": settings.base_seed,
            "backend": backend,
            "timeout_s": settings.timeout_s,
            "top_sites": settings.top_sites,
            "jobs": settings.jobs,
            **executor_settings(runner),
        }
    )
    out = {}
    for side in sides:
        trials = sorted(collected[side.name], key=lambda t: (t.experiment, t.replicate))
        out[side.name] = Results(
            environment=environment(side.project_root, backend, side.provenance),
            settings=run_settings,
            experiments=experiment_infos(side.experiments),
            trials=tuple(trials),
            interrupted=interrupted,
        )
    if lost is not None:
        raise RunStopped(str(lost), out)
    return out
