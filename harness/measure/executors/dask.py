"""The Dask executor: trials fanned out over the workers of a ``distributed`` cluster.

Each trial is one task; the task runs :func:`harness.measure.executors.run_in_child` on its worker,
so the trial still gets a fresh child interpreter, now on the worker's machine, and the
result comes back as plain data (a :class:`~harness.store.results.TrialResult`).

Workloads travel with the run: the client reads every ``*.py`` under the workloads
directory once and sends the bundle with each task; each worker uses the directory in place when it
sees the same files at the same path (a shared filesystem, or a ``LocalCluster``), else
writes the bundle to a temporary directory of its own, once per bundle, and runs from
there. Everything else the workloads import (the project's own package, third-party
packages) must be installed on the workers, with the same Python build, since allocation
figures depend on both.

A worker that dies mid-trial is the scheduler's business: it reschedules the task on
another worker until ``distributed.scheduler.allowed-failures`` deaths, then gives up with
``KilledWorker``, which becomes a failed trial. Clusters this executor starts itself allow
exactly one retry; a team's scheduler should be started with the same setting (see
docs/distributed.md). Results already collected are never lost: each is reported the
moment its future completes. The trial's child interpreter dies with the worker that
started it (see :mod:`harness.measure.executors.child`), so a lost worker leaves no orphan behind.

When the cluster has no worker at all for :data:`WORKER_GRACE_S` seconds, the run stops
with :class:`~harness.measure.executors.ExecutorLost` (the finished trials are saved by the
caller); a scheduler that cannot be reached fails within :data:`CONNECT_TIMEOUT_S`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from harness.errors import ConfigError, ExecutorLost
from harness.measure.executors import OnResult, TrialJob, _failed, run_in_child
from harness.store.results import TrialResult

if TYPE_CHECKING:
    from distributed import Client

#: Worker deaths a trial survives on a cluster this executor starts: one retry, then a failed trial.
ALLOWED_FAILURES = 1
#: Seconds to reach the scheduler: a connection on a network answers in far less; a wrong
#: address should fail now, not after the default 30 s.
CONNECT_TIMEOUT_S = 5.0
#: Seconds without any worker before the run stops: long enough for a nanny to restart a
#: worker or an autoscaler to add one, short enough that a dead cluster is noticed.
WORKER_GRACE_S = 10.0


class WorkerWatch:
    """Decides when a cluster is lost: no worker at all for ``grace_s`` seconds in a row."""

    def __init__(self, grace_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace_s = grace_s
        self._clock = clock
        self._empty_since: float | None = None

    def saw_progress(self) -> None:
        self._empty_since = None

    def lost(self, workers: int) -> bool:
        """Whether the cluster is lost, given how many workers it has now."""
        if workers > 0:
            self._empty_since = None
            return False
        now = self._clock()
        if self._empty_since is None:
            self._empty_since = now
        return now - self._empty_since >= self.grace_s


def _workers(client: Client) -> int:
    """How many workers the scheduler knows now; 0 when the scheduler itself is out of reach."""
    if client.status != "running":
        return 0
    try:
        info = client.scheduler_info(n_workers=-1)
    except (OSError, TimeoutError):
        return 0
    return len(info.get("workers", {}))


#: ``{relative path: file contents}`` of a workloads directory, and the paths the client saw.
Bundle = dict[str, Any]


def require_distributed() -> None:
    """Raise a one-line :class:`ConfigError` when ``distributed`` is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError("the dask executor needs `distributed`: pip install 'alloc-harness[dask]'") from None


def bundle_workloads(project_root: Path, workloads_dir: Path) -> Bundle:
    """Every ``*.py`` under ``workloads_dir`` with its contents, and a digest naming the whole set."""
    files = {
        str(path.relative_to(workloads_dir)): path.read_bytes()
        for path in sorted(workloads_dir.rglob("*.py"))
        if "__pycache__" not in path.parts
    }
    digest = hashlib.sha256()
    for name, content in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    try:
        relative = str(workloads_dir.resolve().relative_to(project_root.resolve()))
    except ValueError:
        relative = "workloads"
    return {
        "digest": digest.hexdigest()[:16],
        "project_root": str(project_root),
        "workloads_dir": str(workloads_dir),
        "relative": relative,
        "files": files,
    }


#: Where each bundle was placed, by its digest and the client's paths: the same workloads
#: may come from several checkouts (a history runs today's workloads at every commit), and
#: each must run from its own project root.
_placed: dict[tuple[str, str, str], tuple[str, str]] = {}
_placed_lock = threading.Lock()


def _same_files(directory: Path, files: Mapping[str, bytes]) -> bool:
    try:
        return all((directory / name).read_bytes() == content for name, content in files.items())
    except OSError:
        return False


def place_workloads(bundle: Bundle) -> tuple[str, str]:
    """On a worker: the (project root, workloads dir) to run ``bundle`` from.

    The client's own paths when this machine has identical files there (so call sites keep
    the same file names as a local run), else a private copy under the temporary directory,
    written once per bundle and per worker process.
    """
    key = (bundle["digest"], bundle["project_root"], bundle["workloads_dir"])
    with _placed_lock:
        known = _placed.get(key)
        if known is not None:
            return known
        if _same_files(Path(bundle["workloads_dir"]), bundle["files"]):
            placed = (bundle["project_root"], bundle["workloads_dir"])
        else:
            root = Path(tempfile.gettempdir()) / f"harness-project-{bundle['digest']}"
            if not root.is_dir():
                # Written beside and renamed, so a second worker on this machine never sees half a copy.
                staging = Path(tempfile.mkdtemp(prefix=".harness-project-", dir=tempfile.gettempdir()))
                for name, content in bundle["files"].items():
                    target = staging / bundle["relative"] / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content)
                try:
                    os.rename(staging, root)
                except OSError:
                    shutil.rmtree(staging, ignore_errors=True)
            placed = (str(root), str(root / bundle["relative"]))
        _placed[key] = placed
        return placed


def run_on_worker(job: TrialJob, bundle: Bundle) -> tuple[TrialResult, str]:
    """The task: one trial in a fresh child interpreter on this worker, and this machine's name."""
    project_root, workloads_dir = place_workloads(bundle)
    # The project root on the import path moves with the workloads; a side's built code
    # (the build cache) must be on a filesystem the workers share.
    python_path = tuple(project_root if p == bundle["project_root"] else p for p in job.spec.python_path)
    spec = replace(job.spec, project_root=project_root, workloads_dir=workloads_dir, python_path=python_path)
    return run_in_child(replace(job, spec=spec)), socket.gethostname()


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[str]:
    """A ``LocalCluster`` of ``workers`` one-thread worker processes; yields its scheduler address."""
    import dask
    from distributed import LocalCluster

    with (
        dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}),
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=40
        ) as cluster,
    ):
        yield str(cluster.scheduler_address)


class DaskExecutor:
    """Runs trials as tasks on a Dask cluster: ``scheduler`` (``tcp://HOST:PORT``), or a
    ``LocalCluster`` of ``workers`` processes started for the run when no address is given."""

    def __init__(
        self,
        scheduler: str | None = None,
        workers: int = 2,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        worker_grace_s: float = WORKER_GRACE_S,
        poll_s: float = 1.0,
    ) -> None:
        require_distributed()
        self.scheduler = scheduler
        self.workers = workers
        self.connect_timeout_s = connect_timeout_s
        self.worker_grace_s = worker_grace_s
        self.poll_s = poll_s
        self._hosts: Counter[str] = Counter()
        self._address: str | None = None

    def run(self, jobs: Sequence[TrialJob], on_result: OnResult) -> None:
        """Run every job on the cluster; on Ctrl-C, cancel what is left and re-raise."""
        with contextlib.ExitStack() as stack:
            address = self.scheduler or stack.enter_context(local_cluster(self.workers))
            client = stack.enter_context(self._connect(address))
            self._address = address
            self._run(client, jobs, on_result)

    @contextlib.contextmanager
    def _connect(self, address: str) -> Iterator[Client]:
        from distributed import Client

        try:
            client = Client(address, timeout=self.connect_timeout_s, set_as_default=False)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        with client:
            yield client

    def _run(self, client: Client, jobs: Sequence[TrialJob], on_result: OnResult) -> None:
        bundles: dict[tuple[str, str], Bundle] = {}
        waiting = list(reversed(jobs))
        pending: dict[Any, TrialJob] = {}
        # Filled by the client's own thread as each task ends; read with a timeout, so that a
        # cluster without workers is noticed while nothing arrives.
        finished: queue.Queue[Any] = queue.Queue()

        def submit_more() -> None:
            # No more tasks in flight than the cluster has threads: a worker then holds only the
            # trial it is running, so its death makes only that trial suspect, and the order of
            # the schedule (interleaved replicates) is the order the trials start in.
            threads = max(sum(client.nthreads().values()), 1)  # type: ignore[no-untyped-call]
            while waiting and len(pending) < threads:
                job = waiting.pop()
                where = (job.spec.project_root, job.spec.workloads_dir)
                if where not in bundles:
                    bundles[where] = bundle_workloads(Path(where[0]), Path(where[1]))
                # The bundle goes with each task rather than scattered once: scattered data dies
                # with the workers holding it, and the trials needing it would be cancelled.
                future = client.submit(run_on_worker, job, bundles[where], pure=False)
                pending[future] = job
                future.add_done_callback(finished.put)  # type: ignore[no-untyped-call]

        watch = WorkerWatch(self.worker_grace_s)
        try:
            submit_more()
            while pending:
                try:
                    future = finished.get(timeout=self.poll_s)
                except queue.Empty:
                    if watch.lost(_workers(client)):
                        raise ExecutorLost(
                            f"every Dask worker of {self._address} is gone (none for {self.worker_grace_s:g} s); "
                            "the run stops"
                        ) from None
                    continue
                job = pending.pop(future)
                result = self._outcome(future, job)
                # Released at once: a result held only by a worker would be computed again if
                # that worker died later.
                future.release()
                on_result(job, result)
                watch.saw_progress()
                submit_more()
        except BaseException:
            with contextlib.suppress(Exception):
                client.cancel(list(pending), force=True)  # type: ignore[no-untyped-call]
            raise

    def _outcome(self, future: Any, job: TrialJob) -> TrialResult:
        """The trial a finished task returned, or a failed trial saying why the task has none."""
        if future.status == "finished":
            result, host = future.result()
            self._hosts[host] += 1
            return cast(TrialResult, result)
        try:
            error: object = future.exception()
        except BaseException as exc:  # noqa: BLE001 - a cancelled task raises instead of returning
            error = exc
        return _failed(job, _task_failure(future.status, error))

    def describe(self) -> dict[str, Any]:
        """What the results file records about this executor: the scheduler, and per machine
        how many trials it ran; timing is comparable only when every trial ran on one machine."""
        return {
            "executor": "dask",
            "scheduler": self._address or self.scheduler or "local",
            "trial_hosts": dict(sorted(self._hosts.items())),
            "timing_comparable": len(self._hosts) <= 1,
        }


def _task_failure(status: str, exc: object) -> str:
    """Why a task produced no result: a worker that kept dying, or the worker's own error."""
    if not isinstance(exc, BaseException):
        return f"the task ended {status} on the cluster"
    if type(exc).__name__ == "KilledWorker":
        return f"every worker that ran it died (KilledWorker: {exc})"
    return f"worker error: {type(exc).__name__}: {exc}"
