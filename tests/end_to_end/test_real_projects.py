"""compare and bisect on projects laid out as real ones: src layout, C extension, flat layout.

Every side must import its own commit's code, built and installed apart from the user's
environment, even where the developer's environment has the package installed editable (or
on PYTHONPATH). The environment's distributions are the same before and after every run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitproject import SLOW, Project
from realprojects import (
    C_ID,
    FLAT_ID,
    FLAT_STORE,
    LIST_WRAPPER_BYTES,
    LRU_ID,
    LRU_WORKLOAD,
    ckit,
    flatkit,
    installed_distributions,
    lrukit,
    pip,
    regress_lru,
    set_c_payload,
)


def rows(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    verdict = json.loads(done.stdout)
    return {row["id"]: row for row in verdict["experiments"]}


def cache_builds() -> Path:
    return Path(os.environ["HARNESS_CACHE_DIR"]) / "builds"


def assert_nothing_left(project: Project) -> None:
    """No worktree, and no half-made build in the cache."""
    assert len(project.worktrees()) == 1
    staging = Path(os.environ["HARNESS_CACHE_DIR"]) / "staging"
    assert not staging.exists() or not any(staging.iterdir())


def assert_within(row: dict[str, object], true_delta_pct: float) -> None:
    low, high = float(row["ci_low_pct"]), float(row["ci_high_pct"])  # type: ignore[arg-type]
    assert low - 1e-6 <= true_delta_pct <= high + 1e-6, (low, true_delta_pct, high)


@pytest.fixture(scope="module")
def lru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, list[str]]]:
    """The src-layout project, installed editable in this environment as its README says.

    Commits: ``first``; ``wrap values`` (+64 B per insert); ``setup installs`` (the pip
    install -e . setup command of older docs); ``slow`` (adds a workload that sleeps).
    """
    project = lrukit(tmp_path_factory.mktemp("lru") / "lrukit")
    commits = [project.git("rev-parse", "HEAD")]
    regress_lru(project)
    commits.append(project.commit("wrap values"))
    text = (project.root / "pyproject.toml").read_text()
    project.write(
        "pyproject.toml",
        text.replace('backend = "native"', 'backend = "native"\nsetup = "python -m pip install -e ."'),
    )
    commits.append(project.commit("setup installs"))
    project.write("benchmarks/allocations/slow.py", SLOW)
    commits.append(project.commit("slow"))
    pip("install", "--no-deps", "--no-build-isolation", "-e", str(project.root))
    try:
        yield project, commits
    finally:
        pip("uninstall", "-y", "lrukit-fixture")


def test_a_src_layout_regression_is_found_though_the_package_is_installed_editable(
    lru: tuple[Project, list[str]],
) -> None:
    project, commits = lru
    before = installed_distributions()
    assert any(name == "lrukit-fixture" for name, _, _ in before)  # the trap: one editable install for both

    done = project.harness("compare", commits[0], commits[1], LRU_ID, "--format", "json")

    assert done.returncode == 1, done.stderr
    row = rows(done)[LRU_ID]
    assert row["decision"] == "regression"
    assert float(row["candidate_mean"]) - float(row["baseline_mean"]) == pytest.approx(LIST_WRAPPER_BYTES, abs=0.01)
    assert_within(row, 100 * LIST_WRAPPER_BYTES / float(row["baseline_mean"]))
    verdict = json.loads(done.stdout)
    assert verdict["baseline"]["code"] == f"wheel built at {commits[0][:10]}"
    assert verdict["candidate"]["code"] == f"wheel built at {commits[1][:10]}"
    assert installed_distributions() == before
    assert_nothing_left(project)

    # The same compare again builds nothing: both wheels come from the cache.
    again = project.harness("compare", commits[0], commits[1], LRU_ID, "--format", "json")
    assert again.returncode == 1, again.stderr
    assert "baseline code: wheel built at" in again.stderr and again.stderr.count("(cached)") == 2
    assert rows(again)[LRU_ID]["candidate_mean"] == row["candidate_mean"]
    assert installed_distributions() == before


def test_a_setup_command_that_pip_installs_leaves_the_environment_alone(lru: tuple[Project, list[str]]) -> None:
    project, commits = lru
    before = installed_distributions()

    done = project.harness("compare", commits[0], commits[2], LRU_ID, "--format", "json")

    assert done.returncode == 1, done.stderr
    assert rows(done)[LRU_ID]["decision"] == "regression"
    assert installed_distributions() == before
    # The editable install still imports from the project, as before the compare.
    imported = subprocess.run(
        [sys.executable, "-c", "import lrukit.cache; print(lrukit.cache.__file__)"],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == str(project.root / "src" / "lrukit" / "cache.py")
    assert_nothing_left(project)


def test_bisect_and_an_interrupted_compare_leave_the_environment_alone(lru: tuple[Project, list[str]]) -> None:
    project, commits = lru
    before = installed_distributions()

    bisected = project.harness("bisect", commits[0], commits[2], "--experiment", LRU_ID, "-n", "2")
    assert bisected.returncode == 0, bisected.stderr
    assert f"first bad commit: {commits[1]} wrap values" in bisected.stdout
    assert installed_distributions() == before

    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "compare", commits[0], commits[3], "slow", "-n", "1"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    records = project.root / ".git" / "worktrees"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(records.glob("*"))) < 2:
        time.sleep(0.1)
    time.sleep(8)  # both sides built (or taken from the cache) and into the trials
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert installed_distributions() == before
    assert_nothing_left(project)


def test_each_side_imports_its_own_build_of_a_c_extension(tmp_path: Path) -> None:
    project = ckit(tmp_path / "ckit", payload=100)
    base = project.git("rev-parse", "HEAD")
    set_c_payload(project, 124)
    head = project.commit("bigger byte strings from C")
    pip("install", "--no-deps", "--no-build-isolation", "-e", str(project.root))
    try:
        before = installed_distributions()
        witness = tmp_path / "imported.txt"

        done = project.harness(
            "compare", base, head, C_ID, "--format", "json", "-n", "2", env={"CKIT_WITNESS": str(witness)}
        )

        assert done.returncode == 1, done.stderr
        row = rows(done)[C_ID]
        assert row["decision"] == "regression"
        assert float(row["candidate_mean"]) - float(row["baseline_mean"]) == pytest.approx(24, abs=0.01)
        assert_within(row, 100 * 24 / float(row["baseline_mean"]))
        assert installed_distributions() == before
    finally:
        pip("uninstall", "-y", "ckit-fixture")
    imported = {Path(line) for line in witness.read_text().splitlines()}
    builds = cache_builds().resolve()
    # Two trials per side, each importing the extension from its own commit's build in the cache.
    assert {p.relative_to(builds).parts[0][:12] for p in imported} == {base[:12], head[:12]}
    assert all(p.suffix == ".so" and p.parent.name == "ckit" for p in imported)
    assert_nothing_left(project)


def test_a_flat_layout_runs_each_checkout_though_the_project_is_on_pythonpath(tmp_path: Path) -> None:
    project = flatkit(tmp_path / "flatkit")
    base = project.git("rev-parse", "HEAD")
    project.write("flatkit/store.py", FLAT_STORE.format(value="bytes(124)"))
    head = project.commit("bigger items")
    before = installed_distributions()

    done = project.harness("compare", base, head, "--format", "json", env={"PYTHONPATH": str(project.root)})

    assert done.returncode == 1, done.stderr
    row = rows(done)[FLAT_ID]
    assert float(row["candidate_mean"]) - float(row["baseline_mean"]) == pytest.approx(24, abs=0.01)
    assert json.loads(done.stdout)["baseline"]["code"] == "checkout root (no build backend)"
    assert installed_distributions() == before
    assert_nothing_left(project)


@pytest.fixture(scope="module")
def young_workloads(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, list[str]]:
    """Eight commits; the workloads arrive with the sixth. The fourth regresses, the fifth does not build."""
    project = lrukit(tmp_path_factory.mktemp("young") / "lrukit", with_workloads=False)
    commits = [project.git("rev-parse", "HEAD")]
    pyproject = (project.root / "pyproject.toml").read_text()
    for number in range(2, 9):
        if number == 4:
            regress_lru(project)
        elif number == 5:
            project.write("pyproject.toml", pyproject.replace('version = "1.0"', 'version = "not a version"'))
        elif number == 6:
            project.write("pyproject.toml", pyproject)
            project.write("benchmarks/allocations/lru.py", LRU_WORKLOAD)
        else:
            project.write("README.md", (project.root / "README.md").read_text() + f"\nnote {number}\n")
        commits.append(project.commit(f"change {number}"))
    return project, commits


def test_two_commits_older_than_the_workloads_are_compared_with_todays(
    young_workloads: tuple[Project, list[str]],
) -> None:
    project, commits = young_workloads

    done = project.harness("compare", commits[0], commits[3], "--format", "json")

    assert done.returncode == 1, done.stderr
    row = rows(done)[LRU_ID]
    assert row["decision"] == "regression"
    assert row["replicates"] == [3, 3]
    assert float(row["candidate_mean"]) - float(row["baseline_mean"]) == pytest.approx(LIST_WRAPPER_BYTES, abs=0.01)
    # Neither commit has workloads: today's, the working tree's, fill in on both sides.
    assert json.loads(done.stdout)["baseline"]["workloads_from"] == "own, else working tree"
    assert json.loads(done.stdout)["baseline"]["workloads_differ"] == []
    assert "workloads: own, else working tree" in done.stderr


def test_bisect_searches_history_older_than_the_workloads_and_skips_a_broken_build(
    young_workloads: tuple[Project, list[str]],
) -> None:
    project, commits = young_workloads

    done = project.harness("bisect", commits[0], commits[-1], "--experiment", LRU_ID, "-n", "2")

    assert done.returncode == 0, done.stderr
    assert f"first bad commit: {commits[3]} change 4" in done.stdout
    assert "workloads: own, else working tree" in done.stdout
    skipped = re.findall(r"^skipped (\w+) .*build of \w+ failed", done.stdout, flags=re.MULTILINE)
    assert skipped == [commits[4][:10]]
    assert_nothing_left(project)


def test_a_commit_that_does_not_build_is_one_line_naming_it(young_workloads: tuple[Project, list[str]]) -> None:
    project, commits = young_workloads
    before = installed_distributions()

    done = project.harness("compare", commits[0], commits[4])

    assert done.returncode == 2
    assert done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    # The line that says why, then where the whole log is kept.
    prefix = f"harness: error: build of {commits[4][:10]} failed: "
    assert last.startswith(prefix + "ValueError: invalid pyproject.toml config: `project.version`"), last
    assert "(`pip wheel` exited with code 1; whole log: " in last, last
    log = Path(last.rsplit("whole log: ", 1)[1].rstrip(")"))
    assert "not a version" in log.read_text()
    assert "Traceback" not in done.stderr
    assert installed_distributions() == before
    assert_nothing_left(project)


def test_the_cache_lists_and_clears_the_builds(lru: tuple[Project, list[str]], tmp_path: Path) -> None:
    project, commits = lru
    own = {"HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    assert project.harness("compare", commits[0], commits[1], LRU_ID, "-n", "1", env=own).returncode == 1

    listed = project.harness("cache", env=own)
    assert listed.returncode == 0, listed.stderr
    assert {commits[0][:10], commits[1][:10]} <= set(re.findall(r"  (\w{10})$", listed.stdout, flags=re.MULTILINE))
    assert "2 builds" in listed.stdout

    cleared = project.harness("cache", "clear", "--yes", env=own)
    assert cleared.returncode == 0 and cleared.stdout.startswith("removed 2 builds")
    assert "0 builds" in project.harness("cache", env=own).stdout
