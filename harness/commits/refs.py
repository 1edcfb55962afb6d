"""Git commits as sides of a comparison: refs resolved, checked out in temporary worktrees.

``harness compare`` and ``harness bisect`` measure code at other commits without touching
the user's working tree: each commit is checked out with ``git worktree add --detach`` in a
temporary directory, and every worktree made is removed again when the ``with`` block ends,
whether it ends normally, by an error, by Ctrl-C or by SIGTERM (a cancelled CI job).
The word ``WORKTREE`` names the current working tree, uncommitted changes included.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import GitError
from harness.git import git, git_answer, tree_state
from harness.measure.signals import ignoring_sigint, sigterm_as_interrupt

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
    """One commit on disk, in a directory of its own, and the project inside it."""

    commit: Commit
    #: The top of the checkout: a worktree's directory, or a copy of the working tree.
    top: Path
    #: Where the project (its pyproject.toml) sits inside the checkout.
    project_root: Path
    #: What identifies the checkout's content: the commit's hash, or a digest of the copied files.
    content_id: str
    #: The commit the content is (HEAD for the working tree), and whether it differs from it.
    head: str | None = None
    dirty: bool = False

    @property
    def project_subdir(self) -> Path:
        return self.project_root.relative_to(self.top)


@contextmanager
def checkouts(
    repo: Path, commits: Sequence[Commit], project_subdir: Path = Path(), outputs: str | None = None
) -> Iterator[list[Checkout]]:
    """Each commit checked out in its own worktree under one temporary directory.

    ``project_subdir`` is where the project lies inside the repository. The working tree
    (``WORKTREE``) is copied as it is (tracked and untracked files, but the ignored ones), so
    that its setup and build never write into the user's tree; untracked files under
    ``outputs`` (a directory relative to the repository, where harness writes) are not
    part of it. On leaving the block, for any
    reason, every worktree made is removed and git's records of them pruned, so ``git
    worktree list`` is as before.
    """
    parent = Path(tempfile.mkdtemp(prefix="harness-worktrees-"))
    made: list[Path] = []
    try:
        with sigterm_as_interrupt():
            out = []
            for index, commit in enumerate(commits):
                path = parent / f"{index}-{commit.short}"
                if commit.sha is None:
                    digest = copy_working_tree(repo, path, outputs)
                    head, dirty = tree_state(repo)
                    out.append(Checkout(commit, path, path / project_subdir, f"worktree-{digest}", head, bool(dirty)))
                    continue
                made.append(path)
                git(repo, "worktree", "add", "--detach", "--quiet", str(path), commit.sha)
                out.append(Checkout(commit, path, path / project_subdir, commit.sha, commit.sha))
            yield out
    finally:
        with ignoring_sigint():
            _remove(repo, parent, made)


def _remove(repo: Path, parent: Path, made: Sequence[Path]) -> None:
    for path in made:
        # --force: the setup command or a trial may have left untracked files behind.
        git_answer(repo, "worktree", "remove", "--force", "--force", str(path))
    shutil.rmtree(parent, ignore_errors=True)
    git_answer(repo, "worktree", "prune")


def copy_working_tree(repo: Path, dest: Path, outputs: str | None = None) -> str:
    """Copy the working tree's files (tracked and untracked, not ignored) to ``dest``; their digest.

    The digest covers every path, mode and content copied, so two copies of an unchanged tree
    have the same one and a build of it can be reused.
    """
    skip = ["--exclude", f"/{outputs.strip('/')}/"] if outputs else []
    listed = git_answer(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard", *skip)
    if listed.returncode != 0:
        raise GitError(f"git ls-files: {listed.stderr.decode(errors='replace').strip()}")
    digest = hashlib.sha256()
    for name in sorted(set(listed.stdout.decode("utf-8", "surrogateescape").split("\0")) - {""}):
        source, target = repo / name, dest / name
        if source.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            link = os.readlink(source)
            os.symlink(link, target)
            digest.update(f"{name}\0link\0{link}\0".encode("utf-8", "surrogateescape"))
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            digest.update(f"{name}\0{os.stat(source).st_mode:o}\0".encode("utf-8", "surrogateescape"))
            digest.update(source.read_bytes())
        # Anything else (a deleted file, a submodule's directory) is not part of the copy.
    return digest.hexdigest()[:16]


def split_refs(repo: Path, items: list[str]) -> tuple[Commit, Commit, list[str]]:
    """(baseline commit, candidate commit, patterns) from the positional arguments.

    Up to two leading arguments that name commits are the refs; the defaults fill in the rest.
    """
    named: list[str] = []
    while items and len(named) < 2 and is_ref(repo, items[0]):
        named.append(items.pop(0))
    baseline = resolve(repo, named[0]) if named else merge_base(repo, default_branch(repo), "HEAD")
    candidate = resolve(repo, named[1] if len(named) > 1 else WORKTREE)
    return baseline, candidate, items
