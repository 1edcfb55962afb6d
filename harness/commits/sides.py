"""Checkouts as sides of a run: set up, built, and their experiments listed in a child.

Each side of ``compare`` and each commit of ``bisect`` is *a commit's code* run by *one set
of workloads*, as asv runs today's benchmarks against old commits. By default every side
runs the same workloads (the candidate's, or the working tree's for bisect), so that history
older than the workloads can be measured; ``--workloads-from each`` gives every commit its
own. The code under test comes from the commit (see :mod:`harness.commits.builds`), and its
experiments are listed by a child interpreter with that side's import path, never by
importing two checkouts' code into this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.commits.buildcache import BuildCache
from harness.commits.builds import Code, code_for, failure_cause, output_tail, run_command
from harness.commits.refs import Checkout
from harness.declare.config import Settings
from harness.declare.selection import check_patterns, matches_any
from harness.declare.spec import Experiment
from harness.errors import ConfigError, DiscoveryError, SetupError
from harness.measure import interpreter
from harness.measure.scheduling import Side
from harness.store.environment import Provenance

#: ``--workloads-from`` of compare: both sides run the candidate's workloads (else the working
#: tree's), or the working tree's, or each commit its own.
WORKLOADS_FROM_COMPARE = ("candidate", "worktree", "each")
#: ``--workloads-from`` of bisect: every commit runs the working tree's workloads, or its own.
WORKLOADS_FROM_BISECT = ("worktree", "each")


@dataclass(frozen=True)
class Workloads:
    """Which workloads the sides run: one directory for all of them, or each checkout's own."""

    #: Where the workloads lie relative to a project: looked up in each checkout for ``each``.
    subpath: Path
    #: The one directory every side runs, or None for each checkout's own.
    shared: Path | None
    #: Said in results and reports: ``candidate 3f2a9c1e20``, ``working tree``, ``each commit's own``.
    label: str
    #: The project the shared directory lies in (its file names are shown relative to it).
    shared_root: Path | None = None

    def directory(self, checkout: Checkout) -> Path:
        return self.shared if self.shared is not None else checkout.project_root / self.subpath

    def root(self, checkout: Checkout) -> Path:
        return self.shared_root if self.shared_root is not None else checkout.project_root


def workloads_subpath(settings: Settings) -> Path:
    """Where the workloads lie relative to the project, the same path looked up in every checkout."""
    try:
        return settings.workloads.resolve().relative_to(settings.project_root.resolve())
    except ValueError:
        raise ConfigError(
            f"workloads directory {settings.workloads} is outside the project {settings.project_root}; "
            "commits can be compared only on workloads that are part of them"
        ) from None


def shared_workloads(directory: Path, label: str, project_root: Path) -> Workloads:
    """Every side runs the workloads in ``directory``, part of ``project_root`` (a checkout's
    project, or the working tree's)."""
    if not directory.is_dir():
        raise DiscoveryError(f"workloads directory {directory} does not exist at the {label}")
    return Workloads(Path(), directory, label, project_root)


def own_workloads(settings: Settings) -> Workloads:
    """Every side runs the workloads of its own commit (none where the commit has none)."""
    return Workloads(workloads_subpath(settings), None, "each commit's own")


def side_of(name: str, checkout: Checkout, settings: Settings, workloads: Workloads, cache: BuildCache) -> Side:
    """The checkout as one side of a run: its setup command run, its code built, its experiments listed.

    A checkout without its own workloads directory (``each``) has no experiments: they are
    all ``new`` or ``missing`` in the verdict. Raises :class:`SetupError` or
    :class:`~harness.errors.BuildError` naming the commit when its setup or build fails, and
    :class:`DiscoveryError` naming it when a workload module fails to import there.
    """
    if settings.setup:
        run_setup(settings.setup, checkout)
    code = code_for(
        checkout.project_root,
        label=checkout.commit.short,
        content_id=checkout.content_id,
        project_subdir=checkout.project_subdir,
        setup=settings.setup,
        cache=cache,
        build_env=settings.build_env,
    )
    directory = workloads.directory(checkout)
    experiments: tuple[Experiment, ...] = ()
    if directory.is_dir():
        experiments = list_experiments(directory, code, cwd=checkout.project_root, label=checkout.commit.short)
    provenance = Provenance(
        git_commit=checkout.head,
        git_dirty=checkout.dirty,
        content_id=checkout.content_id,
        code=code.description,
        workloads_from=workloads.label,
        workloads_root=str(workloads.root(checkout)),
        code_root=str(code.import_path[0]) if code.import_path[0] != checkout.project_root else None,
        build_s=round(code.build_s, 3),
    )
    return Side(name, checkout.project_root, directory, experiments, code.import_path, provenance)


def sides_of(
    named: Sequence[tuple[str, Checkout]], settings: Settings, workloads: Workloads, cache: BuildCache
) -> list[Side]:
    """:func:`side_of` for every (name, checkout), set up and built side by side (two builds
    of a compare take the time of one on two cores); the first failure is raised."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=len(named) or 1, thread_name_prefix="harness-build")
    try:
        futures = [pool.submit(side_of, name, checkout, settings, workloads, cache) for name, checkout in named]
        return [future.result() for future in futures]
    finally:
        # On an error or Ctrl-C, do not wait here for the other build: its worktree goes next.
        pool.shutdown(wait=False, cancel_futures=True)


def list_experiments(directory: Path, code: Code, *, cwd: Path, label: str) -> tuple[Experiment, ...]:
    """The experiments ``directory`` declares, imported in a child with the side's code first."""
    with tempfile.TemporaryDirectory(prefix="harness-list-") as scratch:
        out = Path(scratch) / "experiments.json"
        done = subprocess.run(
            interpreter.command("harness.measure.listing_child", str(directory), str(out)),
            cwd=cwd,
            env=interpreter.environment(code.import_path),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        try:
            data = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            tail = [line for line in done.stderr.splitlines() if line.strip()][-1:]
            raise DiscoveryError(
                f"at {label}: listing the workloads failed with exit code {done.returncode}"
                + (f": {tail[0].strip()}" if tail else "")
            ) from None
    if "error" in data:
        raise DiscoveryError(f"at {label}: {data['error']}")
    return tuple(Experiment.from_json(e) for e in data["experiments"])


def run_setup(command: str, checkout: Checkout) -> float:
    """Run the ``[tool.harness] setup`` command in the checkout's project; its seconds taken.

    The command runs with a shell, so ``python gen.py && make data`` works as typed. It is for
    what a wheel build cannot do (a data file, a generated module); the build that follows
    installs the code. ``pip install`` inside it goes to a scratch directory
    (``PIP_TARGET``), never into the environment harness runs in. Raises
    :class:`SetupError` with the exit code and the last lines of its output on failure.
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="harness-setup-") as scratch:
        environment = {
            **os.environ,
            # `python` and `pip` in the command are the interpreter harness runs on.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "PIP_TARGET": scratch,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        done = run_command(command, checkout.project_root, environment)
    if done.returncode != 0:
        cause = failure_cause(done.stdout)
        raise SetupError(
            f"setup command {command!r} failed at {checkout.commit.short} with exit code {done.returncode}"
            + (f": {cause}" if cause is not None else output_tail(done.stdout))
        )
    return time.perf_counter() - started


def select(sides: Sequence[Side], patterns: Sequence[str]) -> list[Side]:
    """Each side with only the experiments matching a pattern (all for none).

    A pattern must match an experiment of at least one side, so that a typo never
    compares an empty suite.
    """
    message = "{pattern!r} names no commit, and no experiment matches it at either commit (try `harness list`)"
    check_patterns((e.id for side in sides for e in side.experiments), patterns, message)
    return [
        replace(side, experiments=tuple(e for e in side.experiments if matches_any(e.id, patterns))) for side in sides
    ]


def workloads_from(choice: str, settings: Settings, working_tree: Path, candidate: Checkout | None = None) -> Workloads:
    """The workloads ``--workloads-from`` names: each commit's own, the working tree's, or the
    candidate's (where it has them; else the working tree's, and said so by the label)."""
    if choice == "each":
        return own_workloads(settings)
    subpath = workloads_subpath(settings)
    if choice == "candidate" and candidate is not None and (candidate.project_root / subpath).is_dir():
        label = f"candidate {candidate.commit.short}"
        return shared_workloads(candidate.project_root / subpath, label, candidate.project_root)
    return shared_workloads(working_tree / subpath, "working tree", working_tree)
