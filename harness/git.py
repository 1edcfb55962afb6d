"""Running git, and the state of a work tree: the one place harness asks git anything.

Every stage may need it (a run records its commit, a journal checks that a resumed run is
the same code, compare and bisect check commits out), so it sits beside the stages.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from harness.errors import GitError


def git(repo: Path, *args: str) -> str:
    """The stripped stdout of ``git args`` in ``repo``; :class:`GitError` with git's message on failure."""
    done = git_answer(repo, *args)
    stdout, stderr = (stream.decode("utf-8", "replace").strip() for stream in (done.stdout, done.stderr))
    if done.returncode != 0:
        message = (stderr or stdout or f"exit code {done.returncode}").splitlines()[-1]
        raise GitError(f"git {' '.join(args)}: {message}")
    return stdout


def git_answer(repo: Path, *args: str, timeout_s: float | None = None) -> subprocess.CompletedProcess[bytes]:
    """git's whole answer, its exit code and raw output, for a caller that reads NUL-separated
    names or that cleans up whatever git says; :class:`GitError` where git is not installed
    or did not answer within ``timeout_s``."""
    try:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False, timeout=timeout_s)
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {' '.join(args)} did not answer within {timeout_s:g} s") from None


def repo_root(start: Path) -> Path:
    """The top of the git work tree containing ``start``; :class:`GitError` outside one."""
    try:
        return Path(git(start, "rev-parse", "--show-toplevel")).resolve()
    except GitError:
        raise GitError(f"{start} is not inside a git repository (compare and bisect need one)") from None


def locate(project: Path) -> tuple[Path, Path]:
    """The repository a project lies in, and the project's directory inside it (``.`` at its top)."""
    repo = repo_root(project)
    project = project.resolve()
    return repo, project.relative_to(repo) if project.is_relative_to(repo) else Path()


def tree_state(directory: Path) -> tuple[str | None, bool | None]:
    """The commit checked out in ``directory`` (None before the first commit) and whether its
    tracked files changed; (None, None) outside a git work tree or without git."""
    try:
        status = git(directory, "status", "--porcelain", "--untracked-files=no")
    except (GitError, OSError):
        return None, None
    try:
        head: str | None = git(directory, "rev-parse", "--verify", "--quiet", "HEAD")
    except GitError:
        head = None
    return head, bool(status)


def diff_digest(directory: Path) -> str | None:
    """A digest of the uncommitted changes to tracked files: a dirty tree is the same code only
    when its changes are the same."""
    try:
        # Bounded: a digest is a nicety of the environment record, never worth a hung run.
        diff = git_answer(directory, "diff", "HEAD", "--no-ext-diff", "--binary", timeout_s=30).stdout
    except (GitError, OSError):
        return None
    return hashlib.sha256(diff).hexdigest()[:16]
