"""Executors: where trials run. Each trial is one fresh child interpreter, whatever the executor.

An executor takes :class:`TrialJob` values and reports each :class:`~harness.results.TrialResult`
as it arrives; the order of arrival does not matter, since allocation figures of a trial
depend only on its code, parameters and seed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness import interpreter
from harness.capture.reach import child_environment
from harness.errors import HarnessError
from harness.results import PhaseResult, TrialResult
from harness.trial import EXIT_WORKLOAD_FAILED, TrialSpec, memory_limit_reason


class ExecutorLost(HarnessError):
    """The executor cannot run trials any more (every worker gone, the scheduler lost)."""


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
    from harness.errors import ConfigError

    chosen = name or ("dask" if scheduler else "local")
    if chosen == "local":
        if scheduler:
            raise ConfigError("--scheduler needs --executor dask")
        from harness.executors.local import LocalExecutor

        return LocalExecutor(jobs)
    if chosen == "dask":
        from harness.executors.dask import DaskExecutor

        return DaskExecutor(scheduler, workers=jobs)
    raise ConfigError(f"unknown executor {chosen!r}; choose one of: {', '.join(EXECUTORS)}")


def executor_settings(executor: Executor) -> dict[str, object]:
    """What the results file records about where trials ran (``{"executor": "local"}`` by default)."""
    describe = getattr(executor, "describe", None)
    return dict(describe()) if callable(describe) else {"executor": "local"}


def _signal_reason(returncode: int) -> str:
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    hint = " (out of memory?)" if -returncode == signal.SIGKILL else ""
    return f"killed by {name}{hint}"


#: How a child that ran out of memory outside Python's reach (the interpreter's start, a C
#: extension, a backend's own allocations) ends: aborted, or with the error printed.
_OOM_SIGNALS = (-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGBUS)
_OOM_WORDS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory")


def _out_of_memory(returncode: int, stderr: str) -> bool:
    return returncode in _OOM_SIGNALS or (returncode != 0 and any(word in stderr for word in _OOM_WORDS))


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def run_in_child(job: TrialJob, started: Callable[[subprocess.Popen[bytes]], None] | None = None) -> TrialResult:
    """Run one trial in a fresh interpreter; every way it can end becomes a :class:`TrialResult`."""
    spec = job.spec
    with tempfile.TemporaryDirectory(prefix="harness-trial-") as workdir:
        spec_path = Path(workdir) / "spec.json"
        out_path = Path(workdir) / "out.json"
        spec_path.write_text(spec.to_json(), encoding="utf-8")
        # A session of its own: Ctrl-C reaches the parent only, which then stops children itself.
        process = subprocess.Popen(
            interpreter.command("harness.executors.child", str(os.getpid()), str(spec_path), str(out_path)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=child_environment(spec.backend, dict(interpreter.environment(spec.python_path, seed=spec.seed))),
            cwd=spec.project_root,
            start_new_session=True,
        )
        if started is not None:
            started(process)
        try:
            _, stderr_bytes = process.communicate(timeout=job.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return _failed(job, f"timed out after {job.timeout_s:g} s")
        stderr = stderr_bytes.decode("utf-8", "replace")
        if spec.memory_limit and _out_of_memory(process.returncode, stderr) and not out_path.exists():
            return _failed(job, memory_limit_reason(spec.memory_limit))
        if process.returncode < 0:
            return _failed(job, _signal_reason(process.returncode))
        if not out_path.exists():
            return _failed(job, f"child exited with code {process.returncode}: {_last_line(stderr) or 'no output'}")
        try:
            outcome = json.loads(out_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return _failed(job, "child wrote a corrupt result")
    if process.returncode not in (0, EXIT_WORKLOAD_FAILED) or outcome.get("status") != "ok":
        return _failed(
            job, outcome.get("error") or f"child exited with code {process.returncode}", outcome.get("wall_s", 0.0)
        )
    return TrialResult(
        experiment=job.experiment,
        replicate=spec.replicate,
        seed=spec.seed,
        status="ok",
        phases=tuple(PhaseResult.from_json(p) for p in outcome["phases"]),
        wall_s=float(outcome["wall_s"]),
        rss_peak_bytes=outcome.get("rss_peak_bytes"),
    )


def _failed(job: TrialJob, reason: str, wall_s: float = 0.0) -> TrialResult:
    return TrialResult(
        experiment=job.experiment,
        replicate=job.spec.replicate,
        seed=job.spec.seed,
        status="failed",
        error=reason,
        wall_s=wall_s,
    )
