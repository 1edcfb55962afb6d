"""Running git, and the state of a work tree: the one place harness asks git anything.

Every stage may need it (a run records its commit, a journal checks that a resumed run is
the same code, compare and bisect check commits out), so it sits beside the stages.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import urllib.parse
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


def remote_url(repo: Path, remote: str = "origin") -> str | None:
    """The URL of ``remote`` (``git remote get-url``); None without that remote, outside a
    repository or without git."""
    try:
        done = git_answer(repo, "remote", "get-url", remote, timeout_s=10)
    except GitError:
        return None
    url = done.stdout.decode("utf-8", "replace").strip()
    return url if done.returncode == 0 and url else None


#: Hosts whose web pages of a commit are known, and the path from the repository to one.
_COMMIT_PATHS = (("gitlab", "/-/commit/"), ("github", "/commit/"))


def web_url(remote: str | None) -> str | None:
    """The repository's web page for a GitHub or GitLab remote, in any of the forms git takes:
    ``https://github.com/o/r(.git)``, ``git@github.com:o/r.git``, ``ssh://git@host[:port]/o/r.git``,
    ``https://gitlab.com/group/sub/r``; None for another host or form (a local path)."""
    if not remote:
        return None
    text = remote.strip()
    scp = re.fullmatch(r"(?:[\w.+-]+@)?([\w.-]+):(?!//)(?!\d+/)(.+)", text)
    if "://" in text:
        parsed = urllib.parse.urlsplit(text)
        if parsed.scheme not in ("https", "http", "ssh", "git", "git+ssh"):
            return None
        host, path = parsed.hostname or "", parsed.path
    elif scp:
        host, path = scp.group(1), scp.group(2)
    else:
        return None
    path = path.strip("/").removesuffix(".git").strip("/")
    if not host or "/" not in path or _commit_path(host) is None:
        return None
    return f"https://{host.lower()}/{path}"


def _commit_path(host: str) -> str | None:
    return next((tail for name, tail in _COMMIT_PATHS if name in host.lower()), None)


def commit_url(web: str | None, sha: str) -> str | None:
    """The page of commit ``sha`` under the repository page ``web`` (from :func:`web_url`)."""
    if web is None:
        return None
    tail = _commit_path(urllib.parse.urlsplit(web).hostname or "")
    return f"{web}{tail}{sha}" if tail else None
