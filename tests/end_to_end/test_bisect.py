"""``harness bisect``: binary search over a real history for the commit that regressed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from gitproject import (
    FILL_ID,
    PAYLOAD,
    PAYLOAD_PLUS_10,
    STORE,
    Project,
    listed,
    listed_id,
    set_payload,
    tiny_project,
)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, list[str]]:
    """Eight commits; the fifth makes the store keep 10 % more per operation, the others touch a comment."""
    project = tiny_project(tmp_path_factory.mktemp("bisect") / "p", PAYLOAD)
    commits = [project.git("rev-parse", "HEAD")]
    for number in range(2, 9):
        if number == 5:
            set_payload(project, PAYLOAD_PLUS_10)
        else:
            project.write("store.py", (project.root / "store.py").read_text() + f"# note {number}\n")
        commits.append(project.commit(f"change {number}"))
    return project, commits


def measured(stdout: str) -> list[str]:
    """The abbreviated hashes of the commits measured, in order."""
    return re.findall(r"^measured (\w+)", stdout, flags=re.MULTILINE)


def test_bisect_names_the_fifth_commit_in_at_most_four_measurements(history: tuple[Project, list[str]]) -> None:
    project, commits = history
    done = project.harness("bisect", commits[0], commits[-1], "--experiment", FILL_ID, "-n", "2")

    assert done.returncode == 0, done.stderr
    assert f"first bad commit: {commits[4]} change 5" in done.stdout
    steps = measured(done.stdout)
    assert 1 < len(steps) <= 4
    assert steps[0] == commits[0][:10]  # GOOD first, then the probes
    assert commits[4][:10] in steps
    assert f"measurements: {len(steps)}" in done.stdout
    # The figures printed: GOOD's and the bad commit's differ by the 24 bytes the payload grew.
    figures = [float(x) for x in re.findall(r"fill\.net_bytes_per_op\s+([\d.]+) B", done.stdout)]
    assert len(figures) == len(steps)
    assert max(figures) - min(figures) == pytest.approx(PAYLOAD_PLUS_10 - PAYLOAD, abs=0.11)
    assert "regression" in done.stdout
    assert len(project.worktrees()) == 1


def test_bisect_says_so_when_nothing_in_the_range_regressed(history: tuple[Project, list[str]]) -> None:
    project, commits = history
    # Relative to the fifth commit, nothing after it regressed: BAD is measured and found fine.
    done = project.harness("bisect", commits[4], commits[-1], "--experiment", FILL_ID, "-n", "2")

    assert done.returncode == 0, done.stderr
    assert f"no commit in {commits[4][:10]}..{commits[-1][:10]} regressed" in done.stdout
    steps = measured(done.stdout)
    assert steps[-1] == commits[-1][:10]
    assert len(steps) == 3  # GOOD, one probe, and BAD to confirm


def test_bisect_rejects_an_unknown_experiment_in_one_line(history: tuple[Project, list[str]]) -> None:
    project, commits = history
    done = project.harness("bisect", commits[0], commits[-1], "--experiment", "tiny.nope[store]")
    assert done.returncode == 2
    assert "harness: error: experiment 'tiny.nope[store]' does not exist at" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(project.worktrees()) == 1


def test_bisect_rejects_an_unknown_ref_in_one_line(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    done = project.harness("bisect", "v0.0-nope", "HEAD", "--experiment", FILL_ID)
    assert done.returncode == 2
    assert (
        done.stderr.strip() == f"harness: error: 'v0.0-nope' is not a commit of {project.root.resolve()} "
        "(a branch, tag, hash or WORKTREE)"
    )


def test_bisect_runs_its_trials_on_a_dask_cluster(history: tuple[Project, list[str]]) -> None:
    pytest.importorskip("distributed")
    project, commits = history
    done = project.harness(
        "bisect", commits[0], commits[-1], "--experiment", FILL_ID, "-n", "2", "--executor", "dask", "-j", "2"
    )

    assert done.returncode == 0, done.stderr
    assert f"first bad commit: {commits[4]} change 5" in done.stdout
    assert "trials run on: dask" in done.stdout
    assert len(project.worktrees()) == 1


def test_bisect_pins_a_variant_made_worse_in_the_workloads_to_its_commit(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.write("workloads/listed.py", listed())
    commits = [project.commit("a store in the workloads")]
    for number in range(2, 7):
        if number == 4:
            project.write("workloads/listed.py", listed(worse=True))
        else:
            project.write("store.py", (project.root / "store.py").read_text() + f"# note {number}\n")
        commits.append(project.commit(f"change {number}"))

    done = project.harness("bisect", commits[0], commits[-1], "--experiment", listed_id(), "-n", "2")

    assert done.returncode == 0, done.stderr
    assert "workloads: own, else working tree" in done.stdout
    assert f"first bad commit: {commits[3]} change 4" in done.stdout
    # Each commit measured after the change says that its workload file is not GOOD's.
    differ = "    workload files that differ from GOOD's: workloads/listed.py"
    blocks = done.stdout.split("measured ")[1:]
    worse = {commit[:10] for commit in commits[3:]}
    assert [differ in block for block in blocks] == [block.split()[0] in worse for block in blocks]
    assert commits[3][:10] in measured(done.stdout)
    # With the working tree's workloads on every commit, the variant never changed.
    same = project.harness(
        "bisect", commits[0], commits[-1], "--experiment", listed_id(), "-n", "2", "--workloads-from", "worktree"
    )
    assert same.returncode == 0, same.stderr
    assert f"no commit in {commits[0][:10]}..{commits[-1][:10]} regressed" in same.stdout


#: The store's ``add`` at a commit whose measured code crashes the interpreter.
CRASHING_STORE = STORE.replace(
    "        self.items.append(bytes(PAYLOAD))",
    "        import os, signal\n        os.kill(os.getpid(), signal.SIGSEGV)",
)


def test_a_commit_whose_trials_fail_is_bad_and_named_so(tmp_path: Path) -> None:
    """Four commits; the third crashes in the measured code, and so does the fourth."""
    project = tiny_project(tmp_path / "p")
    commits = [project.git("rev-parse", "HEAD")]
    project.write("store.py", STORE + "# a comment\n")
    commits.append(project.commit("a comment"))
    project.write("store.py", CRASHING_STORE)
    commits.append(project.commit("a store that segfaults"))
    project.write("store.py", CRASHING_STORE + "# a comment\n")
    commits.append(project.commit("another comment"))

    done = project.harness("bisect", commits[0], commits[-1], "--experiment", FILL_ID, "-n", "1")

    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"first bad commit: {commits[2]} a store that segfaults: trials fail from here: ")
    assert last.split(": trials fail from here: ")[1].startswith("1 of 1 trials failed: ")
    assert re.search(rf"^measured {commits[2][:10]} .*\[bad\]$", done.stdout, flags=re.MULTILINE)
    assert "no commit in" not in done.stdout
    assert len(project.worktrees()) == 1


def test_a_good_commit_whose_trials_fail_is_one_line(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.write("store.py", CRASHING_STORE)
    good = project.commit("a store that segfaults")
    project.write("store.py", STORE)
    project.commit("fixed")

    done = project.harness("bisect", good, "HEAD", "--experiment", FILL_ID, "-n", "1")

    assert done.returncode == 2
    line = done.stderr.splitlines()[-1]  # after the progress of GOOD's trials
    assert "Traceback" not in done.stderr
    assert line.startswith(f"harness: error: trials fail at GOOD {good[:10]} a store that segfaults, so there is")
    assert len(project.worktrees()) == 1
