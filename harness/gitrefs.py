"""Git commits as sides of a comparison: refs resolved, checked out in temporary worktrees.

``harness compare`` and ``harness bisect`` measure code at other commits without touching
the user's working tree: each commit is checked out with ``git worktree add --detach`` in a
temporary directory, and every worktree made is removed again when the ``with`` block ends,
whether it ends normally, by an error, by Ctrl-C or by SIGTERM (a cancelled CI job).
The word ``WORKTREE`` names the current working tree, uncommitted changes included.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError, DiscoveryError, GitError, SelectionError, SetupError

if TYPE_CHECKING:
    from harness.config import Settings
    from harness.run import Side

#: The ref that stands for the working tree as it is, uncommitted changes included.
WORKTREE = "WORKTREE"
#: Branches tried, in order, when the remote does not say which one is the default.
DEFAULT_BRANCHES = ("origin/main", "origin/master", "main", "master")


@dataclass(frozen=True)
class Commit:
    """A resolved ref: the commit's full hash and subject, or the working tree (``sha`` None)."""

    ref: str
    sha: str | None
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:10] if self.sha else WORKTREE

    def __str__(self) -> str:
        if self.sha is None:
            return f"{WORKTREE} (uncommitted changes included)"
        shown = self.short if self.ref in (self.sha, self.short) else f"{self.ref} ({self.short})"
        return f"{shown} {self.subject}"


def git(repo: Path, *args: str) -> str:
    """The stripped stdout of ``git args`` in ``repo``; :class:`GitError` with git's message on failure."""
    try:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()[-1]
        raise GitError(f"git {' '.join(args)}: {message}")
    return done.stdout.strip()


def repo_root(start: Path) -> Path:
    """The top of the git work tree containing ``start``; :class:`GitError` outside one."""
    try:
        return Path(git(start, "rev-parse", "--show-toplevel")).resolve()
    except GitError:
        raise GitError(f"{start} is not inside a git repository (compare and bisect need one)") from None


def resolve(repo: Path, ref: str) -> Commit:
    """The commit ``ref`` names (``WORKTREE`` for the working tree); :class:`GitError` if none."""
    if ref == WORKTREE:
        return Commit(ref, None, "")
    try:
        sha = git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    except GitError:
        raise GitError(f"{ref!r} is not a commit of {repo} (a branch, tag, hash or {WORKTREE})") from None
    return Commit(ref, sha, git(repo, "log", "-1", "--format=%s", sha))


def is_ref(repo: Path, text: str) -> bool:
    """Whether ``text`` names a commit (or is ``WORKTREE``)."""
    try:
        resolve(repo, text)
    except GitError:
        return False
    return True


def default_branch(repo: Path) -> str:
    """The branch pull requests go to: the remote's HEAD, else the first of ``DEFAULT_BRANCHES``."""
    try:
        return git(repo, "symbolic-ref", "--short", "refs/remotes/origin/HEAD")
    except GitError:
        pass
    for name in DEFAULT_BRANCHES:
        if is_ref(repo, name):
            return name
    raise GitError(f"no default branch found in {repo} (tried {', '.join(DEFAULT_BRANCHES)}); name the base ref")


def merge_base(repo: Path, a: str, b: str = "HEAD") -> Commit:
    """The best common ancestor of ``a`` and ``b``: what a branch is compared with by default."""
    sha = git(repo, "merge-base", resolve(repo, a).sha or "HEAD", resolve(repo, b).sha or "HEAD")
    return Commit(f"merge-base({a}, {b})", sha, git(repo, "log", "-1", "--format=%s", sha))


def first_parent_range(repo: Path, good: Commit, bad: Commit) -> list[Commit]:
    """The commits after ``good`` up to ``bad``, oldest first, following first parents only.

    This is ``git rev-list --first-parent GOOD..BAD``: on a main line whose side branches
    were merged, each merge counts as one step, as its branch landed.
    """
    if good.sha is None or bad.sha is None:
        raise GitError(f"bisect needs two commits, not {WORKTREE}")
    listed = git(repo, "rev-list", "--first-parent", "--reverse", "--format=%H %s", f"{good.sha}..{bad.sha}")
    commits = []
    for line in listed.splitlines():
        if line.startswith("commit "):
            continue
        sha, _, subject = line.partition(" ")
        commits.append(Commit(sha, sha, subject))
    return commits


@dataclass(frozen=True)
class Checkout:
    """One commit on disk: its worktree (or the working tree) and the project inside it."""

    commit: Commit
    #: The top of the checkout (a worktree's directory, or the repository's work tree).
    top: Path
    #: Where the project (its pyproject.toml) sits inside the checkout.
    project_root: Path


@contextmanager
def checkouts(repo: Path, commits: Sequence[Commit], project_subdir: Path = Path()) -> Iterator[list[Checkout]]:
    """Each commit checked out in its own worktree under one temporary directory.

    ``project_subdir`` is where the project lies inside the repository. The working tree
    (``WORKTREE``) is used in place. On leaving the block, for any reason, every worktree
    made is removed and git's records of them pruned, so ``git worktree list`` is as before.
    """
    # The engine's handler: a cancelled CI job (SIGTERM) unwinds like Ctrl-C, through ``finally``.
    from harness.run import sigterm_as_interrupt

    parent = Path(tempfile.mkdtemp(prefix="harness-worktrees-"))
    made: list[Path] = []
    try:
        with sigterm_as_interrupt():
            out = []
            for index, commit in enumerate(commits):
                if commit.sha is None:
                    out.append(Checkout(commit, repo, repo / project_subdir))
                    continue
                path = parent / f"{index}-{commit.short}"
                made.append(path)
                git(repo, "worktree", "add", "--detach", "--quiet", str(path), commit.sha)
                out.append(Checkout(commit, path, path / project_subdir))
            yield out
    finally:
        with _ignoring_sigint():
            _remove(repo, parent, made)


@contextmanager
def _ignoring_sigint() -> Iterator[None]:
    """A second Ctrl-C while worktrees are being removed must not leave half of them behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _remove(repo: Path, parent: Path, made: Sequence[Path]) -> None:
    for path in made:
        # --force: the setup command or a trial may have left untracked files behind.
        subprocess.run(
            ["git", "worktree", "remove", "--force", "--force", str(path)], cwd=repo, capture_output=True, check=False
        )
    shutil.rmtree(parent, ignore_errors=True)
    subprocess.run(["git", "worktree", "prune"], cwd=repo, capture_output=True, check=False)


def run_setup(command: str, checkout: Checkout) -> float:
    """Run the ``[tool.harness] setup`` command in the checkout's project; its seconds taken.

    The command runs with a shell, so ``pip install -e . && make ext`` works as typed.
    Raises :class:`SetupError` with the exit code and the last lines of its output on failure.
    """
    import time

    started = time.perf_counter()
    done = subprocess.run(
        command,
        shell=True,
        cwd=checkout.project_root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        check=False,
    )
    if done.returncode != 0:
        tail = [line for line in done.stdout.strip().splitlines() if line.strip()][-5:]
        output = ("; last output: " + " | ".join(s.strip() for s in tail)) if tail else ""
        raise SetupError(
            f"setup command {command!r} failed at {checkout.commit.short} with exit code {done.returncode}{output}"
        )
    return time.perf_counter() - started


# --- checkouts as sides of a run -------------------------------------------------------------


def workloads_subpath(settings: Settings) -> Path:
    """Where the workloads lie relative to the project, the same path looked up in every checkout."""
    try:
        return settings.workloads.resolve().relative_to(settings.project_root.resolve())
    except ValueError:
        raise ConfigError(
            f"workloads directory {settings.workloads} is outside the project {settings.project_root}; "
            "commits can be compared only on workloads that are part of them"
        ) from None


def side_of(name: str, checkout: Checkout, settings: Settings) -> Side:
    """The checkout as one side of a run: its setup command run, its experiments discovered.

    A checkout without the workloads directory has no experiments (they are all ``new`` or
    ``missing`` in the verdict), rather than being an error: a branch may add the first ones.
    Raises :class:`SetupError` when the setup command fails, and :class:`DiscoveryError`,
    naming the commit, when a workload module fails to import there.
    """
    from harness.discovery import discover
    from harness.run import Side

    if settings.setup:
        run_setup(settings.setup, checkout)
    workloads = checkout.project_root / workloads_subpath(settings)
    if not workloads.is_dir():
        return Side(name, checkout.project_root, workloads, ())
    before = set(sys.modules)
    try:
        suite = discover(workloads, checkout.project_root)
    except DiscoveryError as exc:
        raise DiscoveryError(f"at {checkout.commit.short}: {exc}") from None
    finally:
        _forget_modules(before, checkout.top)
    return Side(name, checkout.project_root, workloads, suite.experiments)


def _forget_modules(before: set[str], top: Path) -> None:
    """Drop the modules imported from ``top`` while discovering, but the workload modules.

    Workload modules have names unique to their path; the code under test they import
    (``import mylib``) does not, and the other checkout must import its own ``mylib``.
    """
    prefix = str(top.resolve()) + os.sep
    for name in set(sys.modules) - before:
        if name.startswith("harness_workloads_"):
            continue
        file = getattr(sys.modules[name], "__file__", None) or ""
        if os.path.realpath(file).startswith(prefix):
            del sys.modules[name]


def select(sides: Sequence[Side], patterns: Sequence[str]) -> list[Side]:
    """Each side with only the experiments matching a pattern (all for none).

    A pattern must match an experiment of at least one side, so that a typo never
    compares an empty suite.
    """
    from dataclasses import replace

    from harness.discovery import matches

    if not patterns:
        return list(sides)
    for pattern in patterns:
        if not any(matches(e.id, pattern) for side in sides for e in side.experiments):
            raise SelectionError(
                f"{pattern!r} names no commit, and no experiment matches it at either commit (try `harness list`)"
            )
    return [
        replace(side, experiments=tuple(e for e in side.experiments if any(matches(e.id, p) for p in patterns)))
        for side in sides
    ]
