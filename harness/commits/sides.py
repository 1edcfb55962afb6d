"""Checkouts as sides of a run: set up, built, and their experiments listed in a child.

Each side of ``compare``, each commit of ``bisect`` and of ``history`` is *a commit's code*
run by *that commit's workloads*, composed file by file (``--workloads-from own``, the
default): every file under the workloads directory that exists at the commit is the
commit's own, and today's files (the candidate's, else the working tree's; the working
tree's for bisect and history) fill in only those the commit lacks. So a variant whose code
lives in the workloads is measured as it is at each commit, and commits older than the
workloads are still measured with today's. ``candidate`` and ``worktree`` give every side
one set of workloads, as asv runs today's benchmarks against old commits; ``each`` gives
every commit its own files only. The code under test comes from the commit (see
:mod:`harness.commits.builds`), and its experiments are listed by a child interpreter with
that side's import path, never by importing two checkouts' code into this process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
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
from harness.store.results import Results

#: ``--workloads-from`` of compare: each side its own files with the candidate's filling in
#: (else the working tree's), both sides the candidate's, both the working tree's, or each
#: commit its own files only.
WORKLOADS_FROM_COMPARE = ("own", "candidate", "worktree", "each")
#: ``--workloads-from`` of bisect and history: each commit its own files with the working
#: tree's filling in, every commit the working tree's, or each commit its own files only.
WORKLOADS_FROM_COMMITS = ("own", "worktree", "each")

#: Never part of a workloads directory: what Python writes beside the modules it imports.
_NOT_WORKLOADS = ("__pycache__",)


@dataclass(frozen=True)
class Workloads:
    """Which workloads the sides run: one directory for all of them, each checkout's own, or
    each checkout's own files with today's filling in."""

    #: Where the workloads lie relative to a project: looked up in each checkout but for a shared set.
    subpath: Path
    #: Today's workloads: the one directory every side runs, or (``own``) the files that fill
    #: in where a commit has none; None for each checkout's own files only.
    today: Path | None
    #: Said in results and reports: ``own, else candidate 3f2a9c1e20``, ``working tree``, ...
    label: str
    #: The project today's directory lies in (its file names are shown relative to it).
    today_root: Path | None = None
    #: Whether a checkout's own files come first (``own``), or today's are the only ones.
    own_first: bool = False

    def place(self, checkout: Checkout) -> Placed:
        """Where ``checkout``'s workloads are. For ``own``, the checkout's own directory (a
        temporary checkout, removed with it), with today's files added where it has none, so
        that a workload reaching a file beside it or elsewhere in the project finds its
        commit's. :class:`DiscoveryError` when they cannot be added."""
        own = checkout.project_root / self.subpath
        if self.today is None:
            return Placed(own, checkout.project_root)
        if not self.own_first:
            return Placed(self.today, self.today_root or self.today)
        added: tuple[str, ...] = ()
        if not own.is_dir() or own.resolve() != self.today.resolve():
            try:
                added = fill_in(own, self.today)
            except OSError as exc:
                raise DiscoveryError(f"at {checkout.commit.short}: cannot add today's workload files: {exc}") from None
        return Placed(own, checkout.project_root, tuple((self.subpath / name).as_posix() for name in added))


@dataclass(frozen=True)
class Placed:
    """A side's workloads directory, the root its file names are shown relative to, and the
    files of today's added to it (paths relative to the project)."""

    directory: Path
    root: Path
    added: tuple[str, ...] = ()


def fill_in(directory: Path, today: Path) -> tuple[str, ...]:
    """Copy into ``directory`` each file of ``today`` that it lacks (its own files stay as
    they are); the names copied, relative to it."""
    added = []
    for name in workload_files(today):
        target = directory / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(today / name, target)
            added.append(name)
    return tuple(added)


def workload_files(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` (helpers and data included) by its path relative to it:
    the SHA-256 of its bytes. Empty when there is no such directory."""
    if not directory.is_dir():
        return {}
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not set(_NOT_WORKLOADS) & set(path.relative_to(directory).parts)
    }


def differing(a: Mapping[str, str] | None, b: Mapping[str, str] | None) -> tuple[str, ...]:
    """The files that one of ``a`` and ``b`` (SHA-256 by path, as a side's provenance keeps
    them) has and the other lacks, or has with other content; none when either is unknown
    (results of an older harness)."""
    if a is None or b is None:
        return ()
    return tuple(name for name in sorted(a.keys() | b.keys()) if a.get(name) != b.get(name))


def results_differ(before: Results, after: Results) -> tuple[str, ...]:
    """The workload files two measured commits ran in different versions (paths relative to the project)."""
    return differing(before.environment.workloads_sha256, after.environment.workloads_sha256)


def workloads_subpath(settings: Settings) -> Path:
    """Where the workloads lie relative to the project, the same path looked up in every checkout."""
    try:
        return settings.workloads.resolve().relative_to(settings.project_root.resolve())
    except ValueError:
        raise ConfigError(
            f"workloads directory {settings.workloads} is outside the project {settings.project_root}; "
            "commits can be compared only on workloads that are part of them"
        ) from None


def shared_workloads(project_root: Path, subpath: Path, label: str, *, own_first: bool = False) -> Workloads:
    """Every side runs the workloads at ``subpath`` of ``project_root`` (a checkout's project,
    or the working tree's); with ``own_first``, only the files a side's commit lacks."""
    directory = project_root / subpath
    if not directory.is_dir():
        raise DiscoveryError(f"workloads directory {directory} does not exist at the {label}")
    return Workloads(subpath, directory, f"own, else {label}" if own_first else label, project_root, own_first)


def own_workloads(settings: Settings) -> Workloads:
    """Every side runs the workloads of its own commit (none where the commit has none)."""
    return Workloads(workloads_subpath(settings), None, "each commit's own")


def side_of(name: str, checkout: Checkout, settings: Settings, workloads: Workloads, cache: BuildCache) -> Side:
    """The checkout as one side of a run: its setup command run, its code built, its experiments listed.

    A checkout without its own workloads directory (``each``) has no experiments: they are
    all ``new`` or ``missing`` in the verdict. A workload file of the commit that does not
    import (it needs a helper today's files give otherwise) is a :class:`DiscoveryError`
    naming the commit, as is one whose code lacks what the workloads use. Raises :class:`SetupError` or
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
    placed = workloads.place(checkout)
    directory, root = placed.directory, placed.root
    experiments: tuple[Experiment, ...] = ()
    if directory.is_dir():
        try:
            experiments = list_experiments(directory, code, cwd=checkout.project_root, label=checkout.commit.short)
        except DiscoveryError as exc:
            if not placed.added:
                raise
            # A path in the message may be one of today's files, put there for the commit.
            more = len(placed.added) - 5
            shown = ", ".join(placed.added[:5]) + (f" and {more} more" if more > 0 else "")
            raise DiscoveryError(f"{exc} (today's files it lacked: {shown})") from None
    provenance = Provenance(
        git_commit=checkout.head,
        git_dirty=checkout.dirty,
        content_id=checkout.content_id,
        code=code.description,
        workloads_from=workloads.label,
        workloads_root=str(root),
        workloads_sha256={(workloads.subpath / k).as_posix(): sha for k, sha in workload_files(directory).items()},
        code_root=str(code.import_path[0]) if code.import_path[0] != checkout.project_root else None,
        build_s=round(code.build_s, 3),
    )
    return Side(name, checkout.project_root, directory, experiments, code.import_path, provenance)


def sides_of(
    named: Sequence[tuple[str, Checkout]], settings: Settings, workloads: Workloads, cache: BuildCache
) -> list[Side]:
    """:func:`side_of` for every (name, checkout), set up and built side by side (two builds
    of a compare take the time of one on two cores); the first failure is raised. Each
    side's provenance names the workload files that differ between the sides."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=len(named) or 1, thread_name_prefix="harness-build")
    try:
        futures = [pool.submit(side_of, name, checkout, settings, workloads, cache) for name, checkout in named]
        built = [future.result() for future in futures]
    finally:
        # On an error or Ctrl-C, do not wait here for the other build: its worktree goes next.
        pool.shutdown(wait=False, cancel_futures=True)
    files = [side.provenance.workloads_sha256 if side.provenance else None for side in built]
    differ = tuple(sorted({name for other in files[1:] for name in differing(files[0], other)}))
    return [with_workloads_differ(side, differ) for side in built]


def with_workloads_differ(side: Side, differ: tuple[str, ...]) -> Side:
    """``side`` with ``differ`` (the workload files that differ from the other side's) in its provenance."""
    if side.provenance is None:
        return side
    return replace(side, provenance=replace(side.provenance, workloads_differ=differ))


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
    """The workloads ``--workloads-from`` names: each commit's own files with today's filling
    in (``own``), today's only, or each commit's own only (``each``). Today's are the
    candidate's (``candidate``, or ``own`` with a candidate; where it has them), else the
    working tree's, and the label says whose."""
    if choice == "each":
        return own_workloads(settings)
    subpath = workloads_subpath(settings)
    own_first = choice == "own"
    if choice in ("candidate", "own") and candidate is not None and (candidate.project_root / subpath).is_dir():
        label = f"candidate {candidate.commit.short}"
        return shared_workloads(candidate.project_root, subpath, label, own_first=own_first)
    return shared_workloads(working_tree, subpath, "working tree", own_first=own_first)
