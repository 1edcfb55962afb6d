"""A small project in a real git repository, for the tests of compare, bisect and the CI action.

The project has one family, ``tiny``: a store that keeps one byte string per operation. The
size of the byte string comes from ``build.py``, which the ``[tool.harness] setup`` command
runs in each checkout to write ``_build/payload.txt``; without the setup the workload cannot
import. Allocation figures come from the native backend and repeat exactly, so a few replicates
suffice, and a commit that raises ``PAYLOAD`` raises ``net_bytes_per_op`` by a known amount.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

#: bytes(200) costs 233 bytes and a list slot 8 (amortised); 224 makes it +9.96 %: "10 % more".
PAYLOAD = 200
PAYLOAD_PLUS_10 = 224

PYPROJECT = """\
[tool.harness]
workloads = "workloads"
replicates = 3
backend = "native"
setup = "python build.py"
"""

BUILD = """\
# Writes the payload size the store uses (a stand-in for building an extension).
from pathlib import Path

PAYLOAD = {payload}

Path("_build").mkdir(exist_ok=True)
Path("_build/payload.txt").write_text(str(PAYLOAD))
"""

STORE = """\
from pathlib import Path

PAYLOAD = int((Path(__file__).parent / "_build" / "payload.txt").read_text())


class Store:
    def __init__(self):
        self.items = []

    def add(self, i):
        self.items.append(bytes(PAYLOAD))
"""

FILL = """\
import harness
from store import Store

tiny = harness.family("tiny", "a store of byte strings")


@tiny.variant("store")
def store():
    return Store()


@tiny.workload(params={"n": [2000]}, goal="fill.net_bytes_per_op")
def fill(trial, new, n):
    s = trial.keep(new())
    with trial.phase("fill"):
        for i in range(n):
            s.add(i)
        trial.ops(n)
"""

#: Another family in a file of its own, for experiments that come and go between commits.
EXTRA = """\
import harness
from store import Store

{name} = harness.family("{name}", "another store of byte strings")


@{name}.variant("store")
def store():
    return Store()


@{name}.workload(params={{"n": [500]}}, goal="fill.net_bytes_per_op")
def fill(trial, new, n):
    s = trial.keep(new())
    with trial.phase("fill"):
        for i in range(n):
            s.add(i)
        trial.ops(n)
"""


#: A family whose variant's code lives in the workloads, as the bundled families' do: a store
#: kept in the workload file itself. ``{worse}`` is "" or :data:`KEEP_A_LIST`.
LISTED = """\
import harness

listed = harness.family("listed", "a store defined in the workloads")


class ListStore:
    def __init__(self):
        self.items = []
        self.lists = []

    def add(self, i):
        self.items.append(bytes(64))
{worse}

@listed.variant("kept")
def kept():
    return ListStore()


@listed.workload(params={{"n": [{n}]}}, goal="fill.net_bytes_per_op")
def fill(trial, new, n):
    s = trial.keep(new())
    with trial.phase("fill"):
        for i in range(n):
            s.add(i)
        trial.ops(n)
"""
#: The regression of :data:`LISTED`: one more list kept per insert.
KEEP_A_LIST = "        self.lists.append([i])\n"


def listed(*, worse: bool = False, n: int = 1000) -> str:
    """The workload file of :data:`LISTED`, its store made worse or not, with ``n`` inserts."""
    return LISTED.format(worse=KEEP_A_LIST if worse else "", n=n)


def listed_id(n: int = 1000) -> str:
    return f"listed.fill[kept,n={n}]"


#: A workload that sleeps a minute in its phase: something to interrupt.
SLOW = """\
import time

import harness

slow = harness.family("slow", "a workload that takes its time")


@slow.variant("sleeper")
def sleeper():
    return None


@slow.workload(goal="work.wall_s")
def nap(trial, new):
    with trial.phase("work"):
        time.sleep(60)
        trial.ops(1)
"""


def extra_id(name: str) -> str:
    return f"{name}.fill[store,n=500]"


FILL_ID = "tiny.fill[store,n=2000]"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


class Project:
    """A project directory that is also a git repository on branch ``main``."""

    def __init__(self, root: Path, *, init: bool = True) -> None:
        self.root = root
        if init:
            root.mkdir(parents=True, exist_ok=True)
            self.git("init", "-q", "-b", "main")

    @classmethod
    def clone(cls, source: Project, root: Path) -> Project:
        """A clone of ``source``, which is its ``origin`` (so ``origin/main`` exists, as in CI)."""
        subprocess.run(["git", "clone", "-q", str(source.root), str(root)], env={**os.environ, **GIT_ENV}, check=True)
        return cls(root, init=False)

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.root, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def write(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def remove(self, relative: str) -> None:
        (self.root / relative).unlink()

    def commit(self, subject: str) -> str:
        """Commit everything; the new commit's hash."""
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", subject)
        return self.git("rev-parse", "HEAD")

    def worktrees(self) -> list[str]:
        """``git worktree list``, one line per worktree (the main one included)."""
        return self.git("worktree", "list").splitlines()

    def harness(
        self, *args: str, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``python -m harness ARGS`` in the project, as a user runs it (``env`` added to the environment)."""
        return subprocess.run(
            [sys.executable, "-m", "harness", *args],
            cwd=self.root,
            env={**os.environ, **GIT_ENV, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def tiny_project(root: Path, payload: int = PAYLOAD) -> Project:
    """The project with the ``fill`` workload, committed once (``first``)."""
    project = Project(root)
    project.write("pyproject.toml", PYPROJECT)
    project.write(".gitignore", "_build/\n")
    project.write("build.py", BUILD.format(payload=payload))
    project.write("store.py", STORE)
    project.write("workloads/tiny.py", FILL)
    project.commit("first")
    return project


def set_payload(project: Project, payload: int) -> None:
    project.write("build.py", BUILD.format(payload=payload))


def verdict_rows(path: Path) -> dict[str, dict[str, Any]]:
    """The rows of a verdict JSON file by experiment id (one goal per experiment here)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema"] == "harness.verdict/1"
    return {row["id"]: row for row in data["experiments"]}
