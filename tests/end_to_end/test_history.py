"""``harness history`` on a real repository of 31 commits: every commit built and measured,
the steps pinned to their commit, the page read in Chromium.

The repository (``realprojects.library_history``) is shaped like a small library's history:
most commits touch its README, docs and tests, some touch its code without changing what it
allocates, one regresses, one breaks the build and the next repairs it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _browser import Browser, artifacts_dir, browser, chromium_path, each, load
from gitproject import GIT_ENV, Project, listed, listed_id, tiny_project
from realprojects import BROKEN, COMMITS, DICT_ID, GOALS, LRU_ID, REGRESSION, library_history, lrukit

from harness.compare.goal_figures import figures
from harness.store.results import read_results


@dataclass(frozen=True)
class History:
    project: Project
    commits: list[str]
    store: Path
    first: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    project, commits = library_history(tmp_path_factory.mktemp("history") / "lrukit")
    done = project.harness("history", "HEAD", "-n", "2", "-j", "2")
    assert done.returncode == 0, done.stderr
    return History(project, commits, project.root / "reports" / "history", done)


def steps_of(stdout: str, heading: str = "allocation steps") -> str:
    return stdout.split(f"{heading}: ", 1)[1].split("\ntime steps", 1)[0]


def test_the_only_allocation_step_is_at_the_regressing_commit(history: History) -> None:
    out, commits = history.first.stdout, history.commits
    assert f"history of {COMMITS} commits (HEAD): {COMMITS} to measure, store {history.store}" in out
    assert f"measured {COMMITS} commits" in out
    # The broken commit is kept with the line that says why, and skipped.
    broken = commits[BROKEN][:10]
    assert f"skipped  {broken}  bump the version  (build of {broken} failed: ValueError:" in out
    index = json.loads((history.store / "index.json").read_text())
    assert [entry["sha"] for entry in index["commits"]] == commits
    assert [entry["results"] is None for entry in index["commits"]] == [i == BROKEN for i in range(COMMITS)]
    steps = steps_of(out)
    # Two goals of the LRU cache moved (bytes and count per insert), both at the one commit;
    # the dict beside it, which does not use the package's cache, never moved.
    assert steps.startswith("2\n"), steps
    stepped = {line.split()[0] for line in steps.splitlines()[1:] if not line.startswith("    ")}
    assert stepped == {commits[REGRESSION][:10]}, steps
    assert f"{LRU_ID} fill.net_bytes_per_op" in steps and f"{LRU_ID} fill.alloc_count_per_op" in steps
    assert DICT_ID not in steps
    assert f"page: {history.store / 'index.html'}" in out


def test_the_steps_call_paths_name_the_changed_function(history: History) -> None:
    steps = steps_of(history.first.stdout)
    explain = next(line for line in steps.splitlines() if "call paths: harness explain" in line)
    parent, commit = (history.store / f"{history.commits[i]}.json" for i in (REGRESSION - 1, REGRESSION))
    assert f"--baseline {parent} --results {commit}" in explain
    paths = history.project.harness(*shlex.split(explain.split("call paths: harness ", 1)[1]))
    assert paths.returncode == 0, paths.stderr
    # Both builds name the package's file alike, relative to where each was installed.
    assert "put (lrukit/cache.py)" in paths.stdout, paths.stdout
    assert "/builds/" not in paths.stdout, paths.stdout


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if chromium_path() is None:
        pytest.skip("chromium is not installed")
    with browser() as instance:
        yield instance


CHART = "[e.closest('section').dataset.search, e.querySelector('figcaption').firstChild.textContent.trim()]"


def test_the_page_draws_every_goal_and_links_each_step_to_its_flame_graph(history: History, chromium: Browser) -> None:
    page = load(chromium, history.store / "index.html")
    newest = read_results(history.store / f"{history.commits[-1]}.json")
    goals = sorted((f.experiment, f.measure) for f in figures(newest))
    assert len(goals) == 2 * len(GOALS)
    charts = [tuple(chart) for chart in each(page, "figure.history", CHART)]
    assert sorted(charts) == goals
    # Every chart has a point per measured commit and the failed build's mark.
    assert set(each(page, "svg.history-chart", "e.querySelectorAll('circle.pt').length")) == {COMMITS - 1}
    assert set(each(page, "svg.history-chart", "e.querySelectorAll('text.failed-mark').length")) == {1}
    # The allocation steps are marked on the two goals of the LRU cache that moved, and only there.
    marks = each(page, "figure.history", "e.querySelectorAll('.step-mark').length")
    exact_marks = {chart: n for chart, n in zip(charts, marks, strict=True) if not chart[1].endswith("wall_s_per_op")}
    moved = {(LRU_ID, "fill.net_bytes_per_op"), (LRU_ID, "fill.alloc_count_per_op")}
    assert exact_marks == {chart: int(chart in moved) for chart in exact_marks}, exact_marks
    assert page.evaluate("document.querySelector('#failed-table').textContent").count("bump the version") == 1
    links = each(
        page,
        "#step-table tbody tr a.flame-link",
        "[e.closest('tr').cells[0].textContent.trim(), e.getAttribute('href')]",
    )
    assert [commit for commit, _ in links] == [history.commits[REGRESSION][:10]] * 2, links
    # Filters: the dict variant alone shows its own section and none of the allocation steps.
    page.evaluate(
        "(() => { const s = document.querySelector('select[name=variant]'); s.value = 'dict';"
        " s.dispatchEvent(new Event('change', {bubbles: true})); })()"
    )
    assert [v for v in each(page, "section.experiment", "e.hidden ? null : e.dataset.search") if v] == [DICT_ID]
    assert each(page, "#step-table tbody tr a.flame-link", "e.closest('tr').hidden") == [True, True]
    page.evaluate(
        "(() => { const s = document.querySelector('select[name=variant]'); s.value = '';"
        " s.dispatchEvent(new Event('change', {bubbles: true})); })()"
    )
    page.screenshot(artifacts_dir(history.store) / "history.png", width=1280, height=1000)

    flame = load(chromium, history.store / links[0][1])
    grown = each(flame, "svg.frame", "[e.dataset.name, e.dataset.file, parseFloat(e.dataset.delta)]")
    assert any(name == "put" and file == "lrukit/cache.py" and delta > 0 for name, file, delta in grown), grown


def test_every_fourth_commit_then_bisection_pins_the_same_step_with_fewer_builds(history: History) -> None:
    store = history.store.parent / "sampled"
    done = history.project.harness(
        "history", history.commits[-1], "--store", str(store), "--every", "4", "-n", "2", "-j", "2"
    )
    assert done.returncode == 0, done.stderr
    # Commits 0, 4, ..., 28 and the newest, then 14 and 15 to pin the step between 12 and 16.
    assert re.search(r"^measured 11 commits$", done.stdout, re.MULTILINE), done.stdout
    stepped = {line.split()[0] for line in steps_of(done.stdout).splitlines()[1:] if not line.startswith("    ")}
    assert stepped == {history.commits[REGRESSION][:10]}, done.stdout


def test_a_second_run_after_one_more_commit_measures_that_commit(history: History) -> None:
    project = history.project
    project.write("README.md", (project.root / "README.md").read_text() + "\nOne more note.\n")
    newest = project.commit("docs: one more note")
    again = project.harness("history", "HEAD", "-n", "2", "-j", "2")

    assert again.returncode == 0, again.stderr
    assert f"history of {COMMITS + 1} commits (HEAD): 1 to measure" in again.stdout
    assert f"measured {newest[:10]}  docs: one more note" in again.stdout
    assert "measured 1 commits" in again.stdout
    assert steps_of(again.stdout) == steps_of(history.first.stdout)


def test_an_unknown_revision_is_one_line(history: History) -> None:
    done = history.project.harness("history", "no-such-branch")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("harness: error: git rev-list")
    assert "Traceback" not in done.stderr


def test_a_store_that_is_not_a_directory_is_one_line(history: History) -> None:
    history.project.write("notes.txt", "not a store\n")
    done = history.project.harness("history", "HEAD", "--store", str(history.project.root / "notes.txt"))
    assert done.returncode == 2
    assert done.stderr.strip().endswith("notes.txt: not a directory (a history store is one)")
    assert "Traceback" not in done.stderr


def test_a_commit_older_than_the_api_the_workloads_use_is_kept_with_the_reason(tmp_path: Path) -> None:
    project = lrukit(tmp_path / "lrukit")
    old = project.git("rev-parse", "HEAD")
    cache = project.root / "src" / "lrukit" / "cache.py"
    project.write("src/lrukit/cache.py", cache.read_text() + "\nDEFAULT_CAPACITY = 100_000\n")
    new = project.commit("a default capacity")
    # Today's workloads (uncommitted) use the name the second commit added.
    workload = project.root / "benchmarks" / "allocations" / "lru.py"
    workload.write_text(
        workload.read_text()
        .replace("import LRUCache", "import DEFAULT_CAPACITY, LRUCache")
        .replace("capacity=100_000", "capacity=DEFAULT_CAPACITY")
    )
    done = project.harness("history", "HEAD", "-n", "1", "--workloads-from", "worktree")

    assert done.returncode == 0, done.stderr
    skipped = next(line for line in done.stdout.splitlines() if line.startswith("skipped"))
    assert skipped.startswith(f"skipped  {old[:10]}  first  (")
    assert "cannot import name 'DEFAULT_CAPACITY'" in skipped and "Traceback" not in skipped
    assert f"measured {new[:10]}  a default capacity" in done.stdout
    page = (project.root / "reports" / "history" / "index.html").read_text()
    assert "Commits that could not be measured" in page and "DEFAULT_CAPACITY" in page


def test_an_interrupted_history_keeps_each_finished_commit_and_resumes_with_the_rest(tmp_path: Path) -> None:
    project = lrukit(tmp_path / "lrukit")
    for number in range(2, 6):
        project.write("README.md", (project.root / "README.md").read_text() + f"\nnote {number}\n")
        project.commit(f"docs: note {number}")
    store = project.root / "reports" / "history"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "history", "HEAD", "-n", "2"],
        cwd=project.root,
        env={**os.environ, **GIT_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (store / "index.json").is_file():
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    kept = json.loads((store / "index.json").read_text())["commits"]
    assert 1 <= len(kept) < 5
    assert all((store / entry["results"]).is_file() for entry in kept)
    # No checkout is left behind.
    assert project.git("worktree", "list").count("\n") == 0, project.git("worktree", "list")

    resumed = project.harness("history", "HEAD", "-n", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert f"history of 5 commits (HEAD): {5 - len(kept)} to measure" in resumed.stdout
    assert json.loads((store / "index.json").read_text())["commits"][: len(kept)] == kept


def test_a_variant_made_worse_in_the_workloads_is_a_step_at_its_commit(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.write("workloads/listed.py", listed())
    commits = [project.commit("a store in the workloads")]
    for number in range(2, 6):
        if number == 3:
            project.write("workloads/listed.py", listed(worse=True))
        else:
            project.write("store.py", (project.root / "store.py").read_text() + f"# note {number}\n")
        commits.append(project.commit(f"change {number}"))

    done = project.harness("history", "HEAD", "-n", "1")

    assert done.returncode == 0, done.stderr
    steps = steps_of(done.stdout)
    # The first commit, older than the workload file, ran today's (the worse store); the file's
    # own first version is a step down, its worse one a step up: each names the file.
    assert steps.startswith("2\n"), steps
    first, added, worse = project.git("rev-list", "--max-count=1", "HEAD~5"), commits[0], commits[2]
    assert f"  {added[:10]} " in steps and f"  {worse[:10]} " in steps, steps
    assert steps.count(f"{listed_id()} fill.net_bytes_per_op: 105.8 B -> 202.4 B (+91.22%") == 1, steps
    worse_step = steps.split(f"  {worse[:10]} ", 1)[1]
    assert "+91.22%" in worse_step.split("\n")[1]
    assert f"    workload files that differ from {commits[1][:10]}: workloads/listed.py" in worse_step
    assert f"    workload files that differ from {first[:10]}: workloads/listed.py" in steps
    page = (project.root / "reports" / "history" / "index.html").read_text()
    assert page.count('class="small muted workloads-differ"') == 2
    assert f"workload files that differ from {commits[1][:10]}: workloads/listed.py</span>" in page
    # With the working tree's workloads on every commit, the worse store is measured throughout.
    same = project.harness("history", "HEAD", "-n", "1", "--workloads-from", "worktree", "--store", "other")
    assert same.returncode == 0, same.stderr
    assert steps_of(same.stdout) == "0", same.stdout


def test_a_commits_own_workload_that_todays_helper_does_not_fit_is_kept_with_the_reason(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.write("sizes.py", "PAYLOAD_SIZE = 64\n")
    project.write("workloads/sized.py", SIZED.format(name="PAYLOAD_SIZE"))
    old = project.commit("sized payloads")
    # The helper moves into the workloads, its constant renamed: today's `sizes` shadows the
    # project's at the older commit, whose own workload still imports the old name.
    project.remove("sizes.py")
    project.write("workloads/sizes.py", "SIZE = 64\n")
    project.write("workloads/sized.py", SIZED.format(name="SIZE"))
    new = project.commit("sizes among the workloads")

    done = project.harness("history", "HEAD", "-n", "1")

    assert done.returncode == 0, done.stderr
    skipped = next(line for line in done.stdout.splitlines() if line.startswith("skipped"))
    assert skipped.startswith(f"skipped  {old[:10]}  sized payloads  (at {old[:10]}: ")
    assert "cannot import name 'PAYLOAD_SIZE' from 'sizes'" in skipped and "Traceback" not in skipped
    assert "(today's files it lacked: workloads/sizes.py))" in skipped, skipped
    assert f"measured {new[:10]}  sizes among the workloads" in done.stdout


#: A workload that imports its payload size from a helper module ``sizes``.
SIZED = """\
import harness
from sizes import {name}

sized = harness.family("sized", "payloads of a helper's size")


@sized.variant("kept")
def kept():
    return []


@sized.workload(goal="fill.net_bytes_per_op")
def fill(trial, new):
    kept = trial.keep(new())
    with trial.phase("fill"):
        for _ in range(100):
            kept.append(bytes({name}))
        trial.ops(100)
"""
