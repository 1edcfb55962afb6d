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
from typing import Any

import pytest
from _browser import Browser, artifacts_dir, browser, chromium_path, each, load
from gitproject import GIT_ENV, Project, listed, listed_id, tiny_project
from realprojects import (
    BROKEN,
    COMMITS,
    DICT_ID,
    GOALS,
    HISTORY_WORKLOADS,
    LRU_CACHE,
    LRU_ID,
    REGRESSION,
    library_history,
    lrukit,
)

from harness.compare.goal_figures import figures
from harness.store.results import read_results

REPOSITORY = "octo/lrukit"


@dataclass(frozen=True)
class History:
    project: Project
    commits: list[str]
    store: Path
    first: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    project, commits = library_history(tmp_path_factory.mktemp("history") / "lrukit")
    # The page links each commit to its page on the host the remote names.
    project.git("remote", "add", "origin", f"git@github.com:{REPOSITORY}.git")
    done = project.harness("history", "HEAD", "-n", "2", "-j", "2")
    assert done.returncode == 0, done.stderr
    return History(project, commits, project.root / "reports" / "history", done)


def steps_of(stdout: str, heading: str = "allocation steps") -> str:
    return stdout.split(f"{heading}: ", 1)[1].split("\ntime steps", 1)[0]


def test_the_only_allocation_step_is_at_the_regressing_commit(history: History) -> None:
    out, commits = history.first.stdout, history.commits
    assert f"history of {COMMITS} commits (HEAD): {COMMITS} to measure, store {history.store}" in out
    assert f"tried {COMMITS} commits: {COMMITS - 1} measured, 1 skipped (build or setup failed)\n" in out
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
    # The summary lists it again, as a build that failed (not as failed trials).
    assert f"commits not measured: 1\n  {broken} " in out
    assert f"  bump the version  [build or setup failed]\n    build of {broken} failed: " in out
    assert "trial failure steps: 0\n" in out and "\nfailed " not in out


def test_the_steps_call_paths_name_the_changed_function(history: History) -> None:
    steps = steps_of(history.first.stdout)
    explain = next(line for line in steps.splitlines() if "call paths: harness explain" in line)
    parent, commit = (history.store / f"{history.commits[i]}.json" for i in (REGRESSION - 1, REGRESSION))
    assert f"--baseline {parent} --results {commit}" in explain
    # Each step's command asks about the step's own phase and figure: net bytes per insert is
    # explained by net bytes, the allocation count by the count, both in the phase "fill".
    commands = [line.split("--results ", 1)[1].split(" ", 1)[1] for line in steps.splitlines() if "call paths:" in line]
    assert sorted(commands) == ["--figure alloc_count --phase fill", "--figure net_bytes --phase fill"], steps
    paths = history.project.harness(*shlex.split(explain.split("call paths: harness ", 1)[1]))
    assert paths.returncode == 0, paths.stderr
    # Both builds name the package's file alike, relative to where each was installed, with the line.
    assert re.search(r"put \(lrukit/cache\.py:\d+\)", paths.stdout), paths.stdout
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
    assert set(each(page, "svg.history-chart", "e.querySelectorAll('text.failed-mark.build').length")) == {1}
    assert set(each(page, "svg.history-chart", "e.querySelectorAll('text.failed-mark.trials').length")) == {0}
    # A failed build does not cut the line: only failed trials of the chart's own experiment do.
    assert set(each(page, "svg.history-chart", "e.querySelectorAll('polyline.line').length")) == {1}
    # The allocation steps are marked on the two goals of the LRU cache that moved, and only there.
    marks = each(page, "figure.history", "e.querySelectorAll('.step-mark').length")
    exact_marks = {chart: n for chart, n in zip(charts, marks, strict=True) if not chart[1].endswith("wall_s_per_op")}
    moved = {(LRU_ID, "fill.net_bytes_per_op"), (LRU_ID, "fill.alloc_count_per_op")}
    assert exact_marks == {chart: int(chart in moved) for chart in exact_marks}, exact_marks
    assert page.evaluate("document.querySelector('#failed-table').textContent").count("bump the version") == 1
    assert each(page, "#failed-table tbody tr", "[e.className, e.cells[3].textContent]") == [
        ["failed-commit build-failed", "build or setup"]
    ]
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
    page.screenshot(artifacts_dir(history.store) / "history-1920.png", width=1920, height=1000)
    page.screenshot(artifacts_dir(history.store) / "history.png", width=1280, height=1000)
    page.element_screenshot(artifacts_dir(history.store) / "history-charts.png", "section.experiment")

    # At 1280 px, the steps table fits the window: no column cut off, no subject wrapped.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert max(each(page, "#step-table tr > *", "e.getBoundingClientRect().right")) <= 1280
    heights = each(
        page,
        "#step-table tbody td.subject > div",
        "[e.getBoundingClientRect().height, parseFloat(getComputedStyle(e).lineHeight)]",
    )
    assert heights and all(height <= line + 1 for height, line in heights), heights

    # Each commit has its label, and a link to its page on the remote's host, in every chart.
    pages = {f"https://github.com/{REPOSITORY}/commit/{sha}" for sha in history.commits}
    per_chart = each(
        page, "svg.history-chart", "Array.from(e.querySelectorAll('a.commit-link')).map(a => a.getAttribute('href'))"
    )
    assert all(set(hrefs) == pages for hrefs in per_chart), per_chart
    assert set(each(page, "svg.history-chart", "e.querySelectorAll('text.commit-label').length")) == {COMMITS}
    rows = each(page, "#step-table tbody tr", "[e.cells[0].title, e.cells[0].querySelector('a').getAttribute('href')]")
    assert rows and all(href == f"https://github.com/{REPOSITORY}/commit/{sha}" for sha, href in rows), rows
    assert history.commits[REGRESSION] in {sha for sha, _ in rows}
    # Dates on the axis: the author dates of the commits, the oldest first.
    days = history.project.git("log", "--reverse", "--format=%aI").split()
    dates = each(page, "svg.history-chart", "Array.from(e.querySelectorAll('text.date-label')).map(t => t.textContent)")
    assert all(chart[0] == days[0][:10] and set(chart) <= {d[:10] for d in days} for chart in dates), dates
    # The y ticks of every chart read apart: no label twice.
    ticks = each(page, "svg.history-chart", "Array.from(e.querySelectorAll('text.y-tick')).map(t => t.textContent)")
    assert all(chart and len(set(chart)) == len(chart) for chart in ticks), ticks
    # No label overlaps another: their boxes, as drawn, do not intersect.
    boxes = each(
        page,
        "svg.history-chart",
        "Array.from(e.querySelectorAll('text.commit-label, text.date-label, text.failed-mark')).map(t => {"
        " const r = t.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })",
    )
    for chart in boxes:
        overlaps = [
            (a, b)
            for i, a in enumerate(chart)
            for b in chart[i + 1 :]
            if a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5
        ]
        assert not overlaps, overlaps
    # Each step names its own phase and figure in the explain command it shows, which runs.
    commands = each(page, "code.explain-command", "[e.dataset.phase, e.dataset.figure, e.textContent]")
    assert sorted((phase, figure) for phase, figure, _ in commands) == [("fill", "alloc_count"), ("fill", "net_bytes")]
    for phase, figure, command in commands:
        assert command.endswith(f" --figure {figure} --phase {phase}"), command
    explained = history.project.harness(*shlex.split(commands[0][2])[1:])
    phase, figure = commands[0][:2]
    assert explained.returncode == 0, explained.stderr
    assert f" · {phase} · {figure.replace('_', ' ')} per replicate" in explained.stdout, explained.stdout

    flame = load(chromium, history.store / links[0][1].split("#")[0])
    grown = each(flame, "svg.frame", "[e.dataset.name, e.dataset.file, parseFloat(e.dataset.delta)]")
    assert any(name == "put" and file == "lrukit/cache.py" and delta > 0 for name, file, delta in grown), grown
    # The step's link opens its own graph on the commit's page, and the page links back.
    assert flame.evaluate(f"document.getElementById({json.dumps(links[0][1].split('#')[1])}) !== null")
    assert flame.evaluate("document.querySelector('a[rel=up]').href") == (history.store / "index.html").as_uri()
    flame.screenshot(artifacts_dir(history.store) / "history-flame.png", width=1280, height=700)


def test_every_fourth_commit_then_bisection_pins_the_same_step_with_fewer_builds(history: History) -> None:
    store = history.store.parent / "sampled"
    done = history.project.harness(
        "history", history.commits[-1], "--store", str(store), "--every", "4", "-n", "2", "-j", "2"
    )
    assert done.returncode == 0, done.stderr
    # Commits 0, 4, ..., 28 and the newest, then 14 and 15 to pin the step between 12 and 16.
    assert re.search(r"^tried 11 commits: 11 measured$", done.stdout, re.MULTILINE), done.stdout
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
    assert "tried 1 commit: 1 measured\n" in again.stdout
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


CRASH = "        import os, signal\n        os.kill(os.getpid(), signal.SIGSEGV)\n"
#: Fails the second replicate only (seed 2 of the base seed 1): one replicate of two still finishes.
RAISE = (
    "        import os\n"
    "        if os.environ.get('PYTHONHASHSEED') == '2':\n"
    "            raise RuntimeError('lost the data while shrinking')\n"
)


def break_put(project: Project, body: str) -> None:
    """Make the LRU cache's ``put`` run ``body`` first (uncommitted)."""
    fine = LRU_CACHE.format(value="value")
    project.write(
        "src/lrukit/cache.py", fine.replace("def put(self, key, value):\n", f"def put(self, key, value):\n{body}")
    )


def index_of(store: Path) -> dict[str, dict[str, Any]]:
    return {entry["sha"]: entry for entry in json.loads((store / "index.json").read_text())["commits"]}


def test_a_commit_whose_trials_crash_is_kept_as_failed_and_measured_again(tmp_path: Path) -> None:
    project = lrukit(tmp_path / "lrukit")
    good = project.git("rev-parse", "HEAD")
    break_put(project, CRASH)
    crash = project.commit("shrink in place")
    store = project.root / "reports" / "history"
    run = ("history", "HEAD", "-n", "2", "-j", "2", "--memory-limit", "none")

    first = project.harness(*run)

    # The newest commit's trials failed: exit 1, and never "nothing moved".
    assert first.returncode == 1, first.stderr
    assert f"measured {good[:10]}  first" in first.stdout
    failed = f"failed   {crash[:10]}  shrink in place  ({LRU_ID}: 2 of 2 trials failed: "
    assert failed in first.stdout, first.stdout
    assert "SIGSEGV" in first.stdout.split(failed, 1)[1].splitlines()[0]
    assert "tried 2 commits: 1 measured, 1 with failed trials\n" in first.stdout
    assert "allocation steps: 0\n" in first.stdout
    steps = first.stdout.split("trial failure steps: ", 1)[1]
    assert steps.startswith(f"1\n  {crash[:10]} "), steps
    assert f"    {LRU_ID}: trials fail from here: " in steps
    assert f"commits not measured: 1\n  {crash[:10]} " in first.stdout
    assert "[trials failed]" in first.stdout
    assert f"the newest commit, {crash[:10]}, was not measured: {LRU_ID}: 2 of 2 trials failed: " in first.stdout
    entry = index_of(store)[crash]
    assert entry["error"] is None
    assert list(entry["trials_failed"]) == [LRU_ID] and "SIGSEGV" in entry["trials_failed"][LRU_ID]
    assert index_of(store)[good]["trials_failed"] == {}
    page = (store / "index.html").read_text()
    assert "No goal moved" not in page and "trials fail from here" in page

    # An index written before failures were kept in it: they are read from the results file.
    index = json.loads((store / "index.json").read_text())
    for each_entry in index["commits"]:
        del each_entry["trials_failed"]
    (store / "index.json").write_text(json.dumps(index))
    kept = project.harness(*run, "--keep-failed")
    assert kept.returncode == 1, kept.stderr
    assert "history of 2 commits (HEAD): 0 to measure" in kept.stdout
    assert "tried 0 commits: 0 measured" in kept.stdout and f"commits not measured: 1\n  {crash[:10]}" in kept.stdout

    # The next history measures it again; with --keep-failed it keeps it as it is.
    again = project.harness(*run)
    assert again.returncode == 1, again.stderr
    assert "history of 2 commits (HEAD): 1 to measure (1 whose trials failed before, again)" in again.stdout
    assert failed in again.stdout and "tried 1 commit: 0 measured, 1 with failed trials" in again.stdout
    assert list(index_of(store)[crash]["trials_failed"]) == [LRU_ID]
    kept = project.harness(*run, "--keep-failed")
    assert kept.returncode == 1, kept.stderr
    assert "history of 2 commits (HEAD): 0 to measure" in kept.stdout
    assert "tried 0 commits: 0 measured" in kept.stdout and f"commits not measured: 1\n  {crash[:10]}" in kept.stdout

    # The fix is a step of its own, and a newest commit measured exits 0.
    project.write("src/lrukit/cache.py", LRU_CACHE.format(value="value"))
    fix = project.commit("do not shrink in place")
    fixed = project.harness(*run, "--keep-failed")
    assert fixed.returncode == 0, fixed.stderr
    assert "tried 1 commit: 1 measured" in fixed.stdout
    steps = fixed.stdout.split("trial failure steps: ", 1)[1]
    assert steps.startswith(f"2\n  {crash[:10]} "), steps
    assert f"  {fix[:10]} " in steps and f"    {LRU_ID}: trials pass again from here (failed at {crash[:10]}: " in steps
    assert "allocation steps: 0\n" in fixed.stdout


WINDOW, FAILING = 14, range(5, 10)


@pytest.fixture(scope="module")
def failing_window(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Project, list[str], subprocess.CompletedProcess[str]]:
    """14 commits whose LRU cache fails its second replicate at 5 to 9 (an exception), measured
    every 4th and narrowed, with today's workloads of two experiments (the commits have none
    of their own): the LRU cache, and a dict beside it that does not use the package's cache
    and never fails."""
    project = lrukit(tmp_path_factory.mktemp("window") / "lrukit", with_workloads=False)
    commits = [project.git("rev-parse", "HEAD")]
    for position in range(1, WINDOW):
        if position == FAILING.start:
            break_put(project, RAISE)
        elif position == FAILING.stop:
            project.write("src/lrukit/cache.py", LRU_CACHE.format(value="value"))
        readme = project.root / "README.md"
        project.write("README.md", readme.read_text() + f"\nnote {position}\n")
        commits.append(project.commit(f"change {position}"))
    project.write("benchmarks/allocations/lru.py", HISTORY_WORKLOADS)
    done = project.harness("history", "HEAD", "--every", "4", "-n", "2", "-j", "2")
    return project, commits, done


def test_a_sampled_history_pins_the_first_failing_commit_and_the_fix(
    failing_window: tuple[Project, list[str], subprocess.CompletedProcess[str]],
) -> None:
    project, commits, done = failing_window
    assert done.returncode == 0, done.stderr
    # 0, 4, 8, 12 and 13 first; then 6 and 5 pin the failure, 10 and 9 the fix.
    assert "tried 9 commits: 5 measured, 4 with failed trials\n" in done.stdout, done.stdout
    failed = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("failed ")]
    assert failed == [commits[i][:10] for i in (8, 6, 5, 9)], done.stdout
    steps = done.stdout.split("trial failure steps: ", 1)[1].split("\ncommits not measured", 1)[0]
    assert steps.startswith("2\n"), steps
    assert f"  {commits[5][:10]} " in steps and f"  {commits[10][:10]} " in steps
    assert f"    {LRU_ID}: trials fail from here: 1 of 2 trials failed: " in steps
    assert "lost the data while shrinking" in steps
    assert f"    {LRU_ID}: trials pass again from here (failed at {commits[9][:10]}: " in steps
    index = index_of(project.root / "reports" / "history")
    assert sorted(sha for sha, e in index.items() if e["trials_failed"]) == sorted(commits[i] for i in (5, 6, 8, 9))
    # Per experiment: only the LRU cache failed there; the dict beside it was measured.
    assert {experiment for e in index.values() for experiment in e["trials_failed"]} == {LRU_ID}
    assert DICT_ID not in steps


def test_the_page_marks_each_failing_commit_and_lists_it_with_its_reason(
    failing_window: tuple[Project, list[str], subprocess.CompletedProcess[str]], chromium: Browser
) -> None:
    project, commits, _ = failing_window
    store = project.root / "reports" / "history"
    page = load(chromium, store / "index.html")
    failing = [commits[i][:10] for i in (5, 6, 8, 9)]
    # Each chart of the LRU cache: a point per commit measured, a ! per commit whose trials
    # failed, no line across them (one through 0 and 4, one through 10, 12 and 13), and the
    # steps where its trials start and stop failing. The dict beside it has a point at every
    # commit tried, and none of these.
    charts = each(
        page,
        "figure.history",
        "[e.closest('section').dataset.search, e.querySelectorAll('circle.pt').length,"
        " e.querySelectorAll('text.failed-mark.trials').length,"
        " [...e.querySelectorAll('polyline.line')].map(l => l.points.numberOfItems),"
        " e.querySelectorAll('.step-mark.failing').length, e.querySelectorAll('.step-mark.passing').length]",
    )
    assert sorted(chart[0] for chart in charts) == sorted([LRU_ID, DICT_ID] * len(GOALS))
    assert {tuple(map(str, chart[1:])) for chart in charts if chart[0] == LRU_ID} == {("5", "4", "[2, 3]", "1", "1")}
    assert {tuple(map(str, chart[1:])) for chart in charts if chart[0] == DICT_ID} == {("9", "0", "[9]", "0", "0")}
    marked = each(page, "svg.history-chart text.failed-mark.trials", "e.querySelector('title').textContent")
    assert all("lost the data while shrinking" in note for note in marked), marked
    assert {note.split()[2] for note in marked} == set(failing), marked
    rows = each(page, "#step-table tr.trials-step", "[e.cells[0].textContent.trim(), e.cells[7].textContent.trim()]")
    assert rows == [
        [commits[5][:10], "trials fail from here"],
        [commits[10][:10], "trials pass again from here"],
    ], rows
    # The table of commits that could not be measured: one row per failing commit, with the reason.
    failed = each(
        page,
        "#failed-table tr.trials-failed",
        "[e.cells[0].textContent, e.cells[3].textContent, e.cells[4].textContent]",
    )
    assert [row[0] for row in failed] == sorted(failing, key=lambda short: [c[:10] for c in commits].index(short))
    reason = f"{LRU_ID}: 1 of 2 trials failed: RuntimeError: lost the data while shrinking"
    assert all(row[1] == "trials" and row[2].startswith(reason) for row in failed), failed
    assert "No goal moved" not in page.evaluate("document.body.textContent")
    page.screenshot(artifacts_dir(store) / "history-failing.png", width=1280, height=1000)


def test_the_export_of_a_history_leaves_out_the_experiments_whose_trials_failed(
    failing_window: tuple[Project, list[str], subprocess.CompletedProcess[str]],
) -> None:
    project, commits, _ = failing_window
    done = project.harness("export", str(project.root / "reports" / "history"), "--format", "bmf")
    assert done.returncode == 0, done.stderr
    exported = {report["commit"]: report["results"] for report in json.loads(done.stdout)}
    # Every commit tried is there; a failing one has nothing of its failed experiment, though
    # one of its two replicates finished.
    assert len(exported) == 9
    assert {sha for sha, results in exported.items() if LRU_ID not in results} == {commits[i] for i in (5, 6, 8, 9)}
    assert all(DICT_ID in results for results in exported.values())


def test_a_newest_commit_that_does_not_build_exits_1_as_a_failed_build(tmp_path: Path) -> None:
    project = lrukit(tmp_path / "lrukit")
    pyproject = project.root / "pyproject.toml"
    project.write("pyproject.toml", pyproject.read_text().replace('version = "1.0"', 'version = "not a version"'))
    broken = project.commit("bump the version")
    done = project.harness("history", "HEAD", "-n", "1")

    assert done.returncode == 1, done.stderr
    assert f"skipped  {broken[:10]}  bump the version  (build of {broken[:10]} failed: " in done.stdout
    assert "tried 2 commits: 1 measured, 1 skipped (build or setup failed)\n" in done.stdout
    assert f"  bump the version  [build or setup failed]\n    build of {broken[:10]} failed: " in done.stdout
    assert f"the newest commit, {broken[:10]}, was not measured: build of {broken[:10]} failed: " in done.stdout
    # A failed build is kept for good: the next history does not build it again.
    again = project.harness("history", "HEAD", "-n", "1")
    assert again.returncode == 1, again.stderr
    assert "history of 2 commits (HEAD): 0 to measure" in again.stdout
