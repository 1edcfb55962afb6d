"""The local executor: up to ``jobs`` child interpreters at once on this machine, and never
more than its cores (:func:`~harness.declare.config.usable_jobs`) nor than the trials to run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from harness.declare.config import usable_jobs
from harness.measure.executors import OnResult, TrialJob, run_in_child
from harness.store.results import TrialResult


class LocalExecutor:
    """Threads that each wait on one child process; the children do the work in parallel."""

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = usable_jobs(jobs)
        self._children: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    def _started(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._children = {p for p in self._children if p.poll() is None}
            self._children.add(process)

    def _run_one(self, job: TrialJob) -> TrialResult:
        return run_in_child(job, started=self._started)

    def run(self, jobs: Sequence[TrialJob], on_result: OnResult) -> None:
        """Run every job; on Ctrl-C, stop the children and re-raise, having reported what finished."""
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.jobs, len(jobs))), thread_name_prefix="harness-trial")
        pending: dict[Future[TrialResult], TrialJob] = {}
        queue = list(reversed(jobs))
        try:
            while queue or pending:
                while queue and len(pending) < self.jobs:
                    job = queue.pop()
                    pending[pool.submit(self._run_one, job)] = job
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    on_result(pending.pop(future), future.result())
        except BaseException:
            self._kill_children()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _kill_children(self) -> None:
        with self._lock:
            for process in self._children:
                if process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
