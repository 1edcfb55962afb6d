"""The one measuring pipeline: sides in, results out.

Every command that runs trials (``run``, ``gate``, ``calibrate``, ``compare``, ``bisect``)
and the pytest plugin call :func:`measure`. It resolves the backend, refuses before any
trial runs a goal or bound the backend cannot measure, runs the trials where the executor
says with a progress bar, keeps a journal of finished trials when the run is recorded, and
turns Ctrl-C, SIGTERM or a lost executor into saved partial results and one exception.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.declare.config import Settings
from harness.declare.metrics import METRICS
from harness.errors import HarnessError, Interrupted, MetricNotMeasured, ResultsError, RunStopped
from harness.measure.capture import measured_metrics, resolve_backend
from harness.measure.executors import Executor
from harness.measure.scheduling import Side
from harness.store.results import ExperimentInfo, Results, experiment_infos, save_results

#: Figures every backend gives: the trial's clock, its declared operations and its RSS.
ALWAYS_MEASURED = frozenset({"ops", "wall_s", "wall_s_per_op", "rss_peak_bytes"})


@dataclass(frozen=True)
class MeasureOptions:
    """How to run, beyond the settings: where, whether to record, whether to resume."""

    executor: Executor | None = None
    #: A backend other than the settings' (``gate`` runs the baseline's).
    backend: str | None = None
    #: The results file of a recorded run (one per side beside it when there are several);
    #: its journal lies beside it. None: nothing is written.
    record: Path | None = None
    resume: bool = False
    progress: bool = True
    #: Refuse goals and bounds the backend cannot measure (commands that judge them), or only
    #: say so (``harness run``, which measures what the backend measures and judges nothing).
    strict_goals: bool = True
    note: Callable[[str], None] = lambda line: print(f"harness: {line}", file=sys.stderr)


def unmeasured(experiments: Sequence[ExperimentInfo], backend: str) -> list[str]:
    """One line per goal or bound naming a metric ``backend`` never measures (a workload's own
    counters are taken on trust)."""
    measured = set(measured_metrics(backend))
    problems = []
    for info in experiments:
        named = [("goal", str(g), g.metric) for g in info.goals] + [("bound", b.name, b.metric) for b in info.bounds]
        for what, text, name in named:
            if name in ALWAYS_MEASURED or name not in METRICS:
                continue
            if name.removesuffix("_per_op") not in measured:
                problems.append(
                    f"{info.id}: {what} {text} is not measured by backend {backend} "
                    f"(it measures {', '.join(sorted(measured))}); use another backend or goal"
                )
    return problems


def results_paths(record: Path, sides: Sequence[Side]) -> dict[str, Path]:
    """Where each side's results go: ``record`` itself for one side, else ``STEM.SIDE.json`` beside it."""
    if len(sides) == 1:
        return {sides[0].name: record}
    return {side.name: record.with_name(f"{record.stem}.{side.name}{record.suffix}") for side in sides}


def measure(sides: Sequence[Side], settings: Settings, options: MeasureOptions | None = None) -> dict[str, Results]:
    """Run every trial of every side; one :class:`Results` per side name.

    Raises :class:`MetricNotMeasured` before running, :class:`Interrupted` on Ctrl-C or
    SIGTERM and :class:`~harness.errors.HarnessError` when the executor is lost, in both
    cases after saving the finished trials of a recorded run.
    """
    from harness.measure.executors import make_executor

    opts = options or MeasureOptions()
    backend = resolve_backend(opts.backend or settings.backend)
    problems = [line for side in sides for line in unmeasured(experiment_infos(side.experiments), backend)]
    if problems and opts.strict_goals:
        raise MetricNotMeasured(problems[0])
    for line in dict.fromkeys(problems):
        opts.note(f"note: {line}")
    executor = opts.executor or make_executor("local", jobs=settings.jobs)
    if opts.record is None:
        return _finish(_run(sides, settings, backend, executor, opts.progress), {})
    from harness.measure.journal import JournaledExecutor, header_for, journal_path, open_journal

    paths = results_paths(opts.record, sides)
    for path in paths.values():
        if path.is_dir():
            # Found now, not after the last trial, when the results could not be written.
            raise ResultsError(f"{path} is a directory; the results need a file name (--out FILE)")
    header = header_for(sides, settings, backend)
    with open_journal(journal_path(opts.record), header, resume=opts.resume, note=opts.note) as journal:
        journaled = JournaledExecutor(executor, journal)
        try:
            results = _run(sides, settings, backend, journaled, opts.progress)
        except RunStopped as stopped:
            _save(stopped.results, paths)
            trials = sum(len(r.trials) for r in stopped.results.values())
            where = ", ".join(str(p) for p in paths.values())
            message = f"{stopped}; {trials} finished trials saved in {where} (`--resume` runs the rest)"
            raise HarnessError(message) from None
        _save(results, paths)
        if not any(r.interrupted for r in results.values()):
            journal.remove()
    if journaled.reused:
        opts.note(f"{journaled.reused} trials reused from the journal, {journaled.ran} run")
    return _finish(results, paths)


def _run(
    sides: Sequence[Side], settings: Settings, backend: str, executor: Executor, progress: bool
) -> dict[str, Results]:
    if progress:
        from harness.measure.progress import run_with_progress

        return run_with_progress(sides, settings, backend, executor)
    from harness.measure.scheduling import execute

    return execute(sides, settings, backend, executor=executor)


def _save(results: Mapping[str, Results], paths: Mapping[str, Path]) -> None:
    for name, path in paths.items():
        save_results(results[name], path)


def _finish(results: dict[str, Results], paths: Mapping[str, Path]) -> dict[str, Results]:
    if any(r.interrupted for r in results.values()):
        raise Interrupted(sum(len(r.trials) for r in results.values()), tuple(paths.values()))
    return results
