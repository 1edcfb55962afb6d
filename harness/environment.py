"""Where a run happened: what makes its allocation figures comparable with another's, or not."""

from __future__ import annotations

import platform
import socket
from pathlib import Path
from typing import Any

from harness.errors import GitError
from harness.gitrefs import git


def git_state(directory: Path) -> tuple[str | None, bool | None]:
    """The commit checked out in ``directory`` and whether the tree has changes (None outside git)."""
    try:
        commit = git(directory, "rev-parse", "HEAD")
        status = git(directory, "status", "--porcelain", "--untracked-files=no")
    except (GitError, OSError):
        return None, None
    return commit, bool(status)


def environment(project_root: Path, backend: str) -> dict[str, Any]:
    """Where a run happened: what makes its allocation figures comparable, or not."""
    from harness import __version__

    commit, dirty = git_state(project_root)
    memray_version = None
    if backend == "memray":
        from importlib.metadata import version

        memray_version = version("memray")
    return {
        "python_version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": socket.gethostname(),
        "harness_version": __version__,
        "backend": backend,
        "memray_version": memray_version,
        "git_commit": commit,
        "git_dirty": dirty,
        "project_root": str(project_root),
    }
