"""``harness history`` on a real repository: every commit built and measured, steps pinned to their commit."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from gitproject import Project
from realprojects import LRU_ID, lrukit, regress_lru


@pytest.fixture
def history_project(tmp_path: Path) -> tuple[Project, list[str]]:
    """Eight commits: the fourth regresses, the sixth does not build, the seventh repairs it."""
    project = lrukit(tmp_path / "lrukit")
    commits = [project.git("rev-parse", "HEAD")]
    pyproject = (project.root / "pyproject.toml").read_text()
    for number in range(2, 9):
        if number == 4:
            regress_lru(project)
        elif number == 6:
            project.write("pyproject.toml", pyproject.replace('version = "1.0"', 'version = "not a version"'))
        elif number == 7:
            project.write("pyproject.toml", pyproject)
        else:
            project.write("README.md", (project.root / "README.md").read_text() + f"\nnote {number}\n")
        commits.append(project.commit(f"change {number}"))
    return project, commits


def test_the_only_allocation_step_is_at_the_regressing_commit_and_a_new_commit_is_measured_alone(
    history_project: tuple[Project, list[str]],
) -> None:
    project, commits = history_project
    store = project.root / "reports" / "history"

    done = project.harness("history", "HEAD", LRU_ID, "-n", "2", "-j", "2")

    assert done.returncode == 0, done.stderr
    assert f"history of 8 commits (HEAD): 8 to measure, store {store}" in done.stdout
    assert "measured 8 commits" in done.stdout
    # The broken commit is kept with the line that says why, and skipped.
    assert f"skipped  {commits[5][:10]}  change 6  (build of {commits[5][:10]} failed: ValueError:" in done.stdout
    index = json.loads((store / "index.json").read_text())
    assert [entry["sha"] for entry in index["commits"]] == commits
    assert [entry["results"] is None for entry in index["commits"]] == [i == 5 for i in range(8)]
    steps = done.stdout.split("allocation steps: ", 1)[1]
    assert steps.startswith(("1\n", "2\n")), steps  # one goal or two, all at the one commit
    stepped = {line.split()[0] for line in steps.splitlines()[1:] if not line.startswith("    ")}
    assert stepped == {commits[3][:10]}, steps
    assert "change 4" in steps and LRU_ID in steps
    # From the step to the call paths that moved between the commit and its parent.
    explain = next(line for line in steps.splitlines() if "call paths: harness explain" in line)
    assert f"--baseline {store / commits[2]}.json --results {store / commits[3]}.json" in explain
    paths = project.harness(*shlex.split(explain.split("call paths: harness ", 1)[1]))
    assert paths.returncode == 0, paths.stderr
    # Both builds name the package's file alike, relative to where each was installed: the
    # call path that moved is the one through LRU.put, not two builds' copies of it.
    assert "put (lrukit/cache.py)" in paths.stdout, paths.stdout
    assert "/builds/" not in paths.stdout, paths.stdout

    project.write("README.md", (project.root / "README.md").read_text() + "\nnote 9\n")
    newest = project.commit("change 9")
    again = project.harness("history", "HEAD", LRU_ID, "-n", "2", "-j", "2")

    assert again.returncode == 0, again.stderr
    assert "history of 9 commits (HEAD): 1 to measure" in again.stdout
    assert f"measured {newest[:10]}  change 9" in again.stdout
    assert "measured 1 commits" in again.stdout
    assert again.stdout.split("allocation steps: ", 1)[1] == steps


def test_an_unknown_revision_is_one_line(history_project: tuple[Project, list[str]]) -> None:
    project, _ = history_project
    done = project.harness("history", "no-such-branch")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("harness: error: git rev-list")
    assert "Traceback" not in done.stderr


def test_a_store_that_is_not_a_directory_is_one_line(history_project: tuple[Project, list[str]]) -> None:
    project, _ = history_project
    project.write("notes.txt", "not a store\n")
    done = project.harness("history", "HEAD", "--store", str(project.root / "notes.txt"))
    assert done.returncode == 2
    assert done.stderr.strip().endswith("notes.txt: not a directory (a history store is one)")
    assert "Traceback" not in done.stderr
