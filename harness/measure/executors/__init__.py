"""Executors: where trials run. Each trial is one fresh child interpreter, whatever the executor.

An executor takes :class:`TrialJob` values and reports each :class:`~harness.store.results.TrialResult`
as it arrives; the order of arrival does not matter, since allocation figures of a trial
depend only on its code, parameters and seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.measure import interpreter
from harness.measure.capture.reach import child_environment
from harness.measure.launcher import Ended, run_child
from harness.measure.memory_limit import too_low_reason
from harness.measure.trial import EXIT_WORKLOAD_FAILED, TrialSpec, started_marker
from harness.store.results import PhaseResult, TrialResult


@dataclass(frozen=True)
class TrialJob:
    """One trial to run: which experiment and replicate, and the spec the child gets."""

    experiment: str
    spec: TrialSpec
    timeout_s: float
    #: Which side of a comparison the trial belongs to ("" for a plain run).
    side: str = ""


OnResult = Callable[[TrialJob, TrialResult], None]


class Executor(Protocol):
    """Runs jobs, calling ``on_result`` once per job (from the calling thread or not)."""

    def run(self, jobs: Sequence[TrialJob], on_result: OnResult) -> None: ...


EXECUTORS = ("local", "dask")


def make_executor(name: str | None, *, jobs: int = 1, scheduler: str | None = None) -> Executor:
    """The executor ``harness run --executor NAME`` means: ``local`` (a pool of ``jobs``), or
    ``dask`` on ``scheduler`` (a local cluster of ``jobs`` workers when no address is given).
    A scheduler address alone implies ``dask``."""
    from harness.declare.config import usable_jobs
    from harness.errors import ConfigError

    chosen = name or ("dask" if scheduler else "local")
    if chosen == "local":
        if scheduler:
            raise ConfigError("--scheduler needs --executor dask")
        from harness.measure.executors.local import LocalExecutor

        return LocalExecutor(jobs)
    if chosen == "dask":
        from harness.measure.executors.dask import DaskExecutor

        # A local cluster runs on this machine's cores; a scheduler's workers are its own.
        return DaskExecutor(scheduler, workers=jobs if scheduler else usable_jobs(jobs))
    raise ConfigError(f"unknown executor {chosen!r}; choose one of: {', '.join(EXECUTORS)}")


def executor_settings(executor: Executor) -> dict[str, object]:
    """What the results file records about where trials ran (``{"executor": "local"}`` by default)."""
    describe = getattr(executor, "describe", None)
    return dict(describe()) if callable(describe) else {"executor": "local"}


def run_in_child(job: TrialJob, started: Callable[[subprocess.Popen[bytes]], None] | None = None) -> TrialResult:
    """Run one trial in a fresh interpreter; every way it can end becomes a :class:`TrialResult`."""
    spec = job.spec
    with tempfile.TemporaryDirectory(prefix="harness-trial-") as workdir:
        spec_path = Path(workdir) / "spec.json"
        out_path = Path(workdir) / "out.json"
        spec_path.write_text(spec.to_json(), encoding="utf-8")
        ended = run_child(
            interpreter.command("harness.measure.executors.child", str(os.getpid()), str(spec_path), str(out_path)),
            env=child_environment(spec.backend, dict(interpreter.environment(spec.python_path, seed=spec.seed))),
            cwd=spec.project_root,
            timeout_s=job.timeout_s,
            started=started,
            memory_limit=spec.memory_limit,
        )
        if ended.timed_out or ended.returncode < 0 or not out_path.exists():
            # Out of memory only where it left nothing: a result written says what happened.
            limit = None if out_path.exists() else spec.memory_limit
            reason = _death(ended, spec, limit, started_marker(workdir).exists())
            return _failed(job, reason, stderr=ended.stderr_tail())
        try:
            outcome = json.loads(out_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return _failed(job, "child wrote a corrupt result", stderr=ended.stderr_tail())
    returncode = ended.returncode
    if returncode not in (0, EXIT_WORKLOAD_FAILED) or outcome.get("status") != "ok":
        reason = outcome.get("error") or f"child exited with code {returncode}"
        return _failed(job, reason, outcome.get("wall_s", 0.0), stderr=ended.stderr_tail())
    return TrialResult(
        experiment=job.experiment,
        replicate=spec.replicate,
        seed=spec.seed,
        status="ok",
        phases=tuple(PhaseResult.from_json(p) for p in outcome["phases"]),
        wall_s=float(outcome["wall_s"]),
        rss_peak_bytes=outcome.get("rss_peak_bytes"),
    )


def _death(ended: Ended, spec: TrialSpec, limit: int | None, started: bool) -> str:
    """Why a child that left no outcome ended, in one line: a lack of memory before the trial
    started is a limit too low to start; the rest is what :meth:`Ended.death` reads."""
    lacked_memory = ended.out_of_memory() or ended.killed_at_resident is not None
    if limit and not started and not ended.timed_out and lacked_memory:
        return too_low_reason(limit, spec.memory_limit_origin)
    return ended.death(limit, root=spec.project_root) or ended.exit_reason(root=spec.project_root)


def _failed(job: TrialJob, reason: str, wall_s: float = 0.0, *, stderr: str = "") -> TrialResult:
    return TrialResult(
        experiment=job.experiment,
        replicate=job.spec.replicate,
        seed=job.spec.seed,
        status="failed",
        error=reason,
        wall_s=wall_s,
        stderr=stderr or None,
    )
