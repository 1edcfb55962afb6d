"""``harness compare``: two commits of a real git repository, measured in temporary worktrees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gitproject import (
    EXTRA,
    FILL,
    FILL_ID,
    PAYLOAD,
    PAYLOAD_PLUS_10,
    PYPROJECT,
    SLOW,
    STORE,
    extra_id,
    listed,
    listed_id,
    set_payload,
    tiny_project,
    verdict_rows,
)

from harness.compare.verdict import read_verdict
from harness.reports.markdown import MARKER
from harness.reports.markdown import render as render_markdown


def test_a_commit_with_ten_percent_more_allocations_per_op_fails_the_gate(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    base = project.git("rev-parse", "HEAD")
    set_payload(project, PAYLOAD_PLUS_10)
    head = project.commit("store a bigger payload")
    out = tmp_path / "verdict.json"

    done = project.harness(
        "compare", base, head, "--format", "json", "--json", str(out), "--html", str(tmp_path / "r.html")
    )

    assert done.returncode == 1, done.stderr
    row = verdict_rows(out)[FILL_ID]
    assert row["decision"] == "regression"
    assert json.loads(done.stdout)["experiments"][0]["decision"] == "regression"
    # The payload grew by 24 bytes: so did the figure per op, exactly, on every replicate.
    assert row["replicates"] == [3, 3]
    assert row["candidate_mean"] - row["baseline_mean"] == pytest.approx(PAYLOAD_PLUS_10 - PAYLOAD, abs=0.01)
    assert 9.0 < row["delta_pct"] < 11.0
    assert row["ci_low_pct"] == pytest.approx(row["delta_pct"]) == pytest.approx(row["ci_high_pct"])
    # Each side ran its own commit, in a worktree that is gone now.
    data = json.loads(out.read_text())
    assert data["baseline"]["git_commit"] == base
    assert data["candidate"]["git_commit"] == head
    assert data["baseline"]["project_root"] != data["candidate"]["project_root"]
    assert not Path(data["baseline"]["project_root"]).exists()
    assert len(project.worktrees()) == 1
    assert not (project.root / ".git" / "worktrees").exists() or not any(
        (project.root / ".git" / "worktrees").iterdir()
    )
    page = (tmp_path / "r.html").read_text()
    assert "<html" in page.lower()
    # The report says which workloads and which code each side ran.
    assert "workloads from" in page and f"candidate {head[:10]}" in page
    assert "checkout root (no build backend)" in page


def test_commits_that_differ_by_a_comment_pass_with_no_change(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.write("store.py", (project.root / "store.py").read_text() + "# a comment\n")
    project.commit("comment")

    done = project.harness("compare", "HEAD~1", "HEAD", "--format", "json", "-n", "2")

    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["passed"] is True
    assert [row["decision"] for row in verdict["experiments"]] == ["no_change"]
    assert verdict["experiments"][0]["delta_pct"] == 0
    assert verdict["experiments"][0]["baseline_mean"] > PAYLOAD  # measured, not an empty comparison
    assert len(project.worktrees()) == 1


#: The store's ``add`` at a commit whose measured code crashes the interpreter.
CRASHING_STORE = STORE.replace(
    "        self.items.append(bytes(PAYLOAD))",
    "        import os, signal\n        os.kill(os.getpid(), signal.SIGSEGV)",
)


def reason_lines(stdout: str) -> list[str]:
    """The reasons under the text verdict's last line (``  - ...``)."""
    return [line[4:] for line in stdout.splitlines() if line.startswith("  - ")]


def test_a_baseline_that_crashes_fails_the_gate_and_names_the_baseline(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.write("store.py", CRASHING_STORE)
    old = project.commit("a store that segfaults")
    project.write("store.py", STORE)
    new = project.commit("the store works again")
    out = tmp_path / "v.json"

    page = tmp_path / "r.html"
    done = project.harness("compare", old, new, "-n", "2", "--json", str(out), "--html", str(page))

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    (reason,) = reason_lines(done.stdout)
    assert reason.startswith(f"{FILL_ID}: baseline: 2 of 2 trials failed: ")
    assert "candidate" not in reason
    assert "Failed. 1 quality gate failed." in done.stdout
    row = verdict_rows(out)[FILL_ID]
    # Never `new`: the baseline was run and crashed; the candidate's figures are still shown.
    assert (row["decision"], row["failed_side"], row["replicates"]) == ("failed", "baseline", [0, 2])
    assert row["candidate_mean"] > PAYLOAD
    assert "failed (baseline)" in done.stdout
    html = page.read_text()
    assert "failed · baseline" in html and "baseline: 2 of 2 trials failed: " in html


def test_a_candidate_that_crashes_fails_the_gate_and_names_the_candidate(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.write("store.py", CRASHING_STORE)
    project.commit("a store that segfaults")

    done = project.harness("compare", "HEAD~1", "HEAD", "-n", "2", "--format", "json")

    assert done.returncode == 1, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["passed"] is False
    (crashed,) = verdict["reasons"]
    assert crashed.startswith(f"{FILL_ID}: candidate: 2 of 2 trials failed: ") and "\n" not in crashed
    (row,) = verdict["experiments"]
    assert (row["decision"], row["failed_side"], row["replicates"]) == ("failed", "candidate", [2, 0])


def test_experiments_added_and_removed_are_new_and_missing(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.write("workloads/gone.py", EXTRA.format(name="gone"))
    project.commit("add gone")
    project.remove("workloads/gone.py")
    project.write("workloads/added.py", EXTRA.format(name="added"))
    project.commit("replace gone by added")

    done = project.harness("compare", "HEAD~1", "HEAD", "--workloads-from", "each", "--format", "json", "-n", "2")

    # An experiment the candidate lost fails the gate; a new one does not.
    assert done.returncode == 1, done.stderr
    verdict = json.loads(done.stdout)
    decisions = {row["id"]: row["decision"] for row in verdict["experiments"]}
    assert decisions == {FILL_ID: "no_change", extra_id("added"): "new", extra_id("gone"): "missing"}
    assert verdict["reasons"] == [f"{extra_id('gone')}: missing in the candidate (--allow-missing lets it pass)"]

    allowed = project.harness(
        "compare", "HEAD~1", "HEAD", "--workloads-from", "each", "--format", "json", "-n", "2", "--allow-missing"
    )

    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["gates"] == ["regressions", "bounds"]


def test_with_each_commits_own_workloads_a_commit_without_them_makes_every_experiment_new(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.git("rm", "-q", "-r", "workloads")
    project.commit("no workloads yet")
    project.write("workloads/tiny.py", FILL)
    project.commit("the workloads")

    done = project.harness("compare", "HEAD~1", "HEAD", "--workloads-from", "each", "--format", "json", "-n", "2")

    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["experiments"]
    assert [(r["id"], r["decision"], r["replicates"]) for r in rows] == [(FILL_ID, "new", [0, 2])]
    assert json.loads(done.stdout)["baseline"]["workloads_from"] == "each commit's own"


def test_with_the_candidates_workloads_both_sides_run_them(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.write("workloads/gone.py", EXTRA.format(name="gone"))
    project.commit("add gone")
    project.remove("workloads/gone.py")
    project.write("workloads/added.py", EXTRA.format(name="added"))
    head = project.commit("replace gone by added")

    done = project.harness("compare", "HEAD~1", "HEAD", "--workloads-from", "candidate", "--format", "json", "-n", "2")

    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    decisions = {row["id"]: row["decision"] for row in verdict["experiments"]}
    # The baseline commit never had `added`: it is measured there all the same, with the candidate's workload.
    assert decisions == {FILL_ID: "no_change", extra_id("added"): "no_change"}
    assert verdict["baseline"]["workloads_from"] == verdict["candidate"]["workloads_from"] == f"candidate {head[:10]}"
    assert verdict["baseline"]["workloads_differ"] == []
    assert "workloads: candidate" in done.stderr


def test_by_default_each_side_runs_its_own_workload_files_and_the_candidates_fill_in(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.write("workloads/gone.py", EXTRA.format(name="gone"))
    project.commit("add gone")
    project.remove("workloads/gone.py")
    project.write("workloads/added.py", EXTRA.format(name="added"))
    head = project.commit("replace gone by added")

    done = project.harness("compare", "HEAD~1", "HEAD", "--format", "json", "-n", "2")

    assert done.returncode == 1, done.stderr
    verdict = json.loads(done.stdout)
    decisions = {row["id"]: row["decision"] for row in verdict["experiments"]}
    # `added` is the candidate's file, measured on the baseline's code too; `gone` is the baseline's own.
    assert decisions == {FILL_ID: "no_change", extra_id("added"): "no_change", extra_id("gone"): "missing"}
    assert verdict["reasons"] == [f"{extra_id('gone')}: missing in the candidate (--allow-missing lets it pass)"]
    assert verdict["baseline"]["workloads_from"] == f"own, else candidate {head[:10]}"
    assert verdict["baseline"]["workloads_differ"] == ["workloads/gone.py"]
    assert "workloads: own, else candidate" in done.stderr


def test_a_variant_made_worse_in_the_workloads_is_a_regression_named_with_its_workload_file(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.write("workloads/listed.py", listed())
    project.commit("a store in the workloads")
    project.write("workloads/listed.py", listed(worse=True))
    project.commit("keep a list per insert")
    out, html = tmp_path / "verdict.json", tmp_path / "r.html"

    done = project.harness("compare", "HEAD~1", "HEAD", "-n", "2", "--json", str(out), "--html", str(html))

    assert done.returncode == 1, done.stderr
    rows = verdict_rows(out)
    assert rows[listed_id()]["decision"] == "regression"
    # One list of one int more per insert, on every replicate alike.
    assert rows[listed_id()]["candidate_mean"] - rows[listed_id()]["baseline_mean"] > sys.getsizeof([0])
    assert rows[FILL_ID]["decision"] == "no_change"
    line = "workload files that differ between the sides: workloads/listed.py ("
    assert line in done.stdout
    assert "workload files that differ between the sides: workloads/listed.py\n" in done.stderr
    assert json.loads(out.read_text())["candidate"]["workloads_differ"] == ["workloads/listed.py"]
    assert "Workload files that differ between the sides: workloads/listed.py (" in html.read_text()
    markdown = render_markdown(read_verdict(out))
    assert "Workload files that differ between the sides: `workloads/listed.py` (" in markdown
    # Both sides run one set of workloads: the candidate's store on both, no change.
    same = project.harness("compare", "HEAD~1", "HEAD", "-n", "2", "--workloads-from", "candidate", "--format", "json")
    assert same.returncode == 0, same.stderr
    assert {row["id"]: row["decision"] for row in json.loads(same.stdout)["experiments"]}[listed_id()] == "no_change"
    assert "workload files that differ" not in same.stdout


def test_a_workload_parameter_changed_between_commits_is_new_and_missing_never_a_change(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.write("workloads/listed.py", listed(n=1000))
    project.commit("a store in the workloads")
    project.write("workloads/listed.py", listed(n=4000))
    project.commit("more inserts")

    done = project.harness("compare", "HEAD~1", "HEAD", "-n", "2")

    # The old parameter's experiment is missing in the candidate, which fails until the user says so.
    assert done.returncode == 1, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith(("listed", "tiny"))]
    table = {row[0]: row[-1] for row in rows}
    assert table == {listed_id(1000): "missing", listed_id(4000): "new", FILL_ID: "no_change"}
    assert "workload files that differ between the sides: workloads/listed.py (" in done.stdout
    allowed = project.harness("compare", "HEAD~1", "HEAD", "-n", "2", "--allow-missing")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "workload files that differ between the sides: workloads/listed.py (" in allowed.stdout


def test_the_working_tree_with_uncommitted_changes_is_the_default_candidate(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    set_payload(project, PAYLOAD_PLUS_10)  # not committed

    done = project.harness("compare", "HEAD", "--format", "markdown", "-n", "2")

    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith(MARKER)
    assert "regression" in done.stdout.lower()
    assert "WORKTREE" in done.stderr
    assert len(project.worktrees()) == 1


def test_settings_come_from_the_candidate_and_a_failing_setup_is_one_clear_line(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.write(
        "pyproject.toml", PYPROJECT.replace('setup = "python build.py"', 'setup = "echo no compiler >&2; exit 3"')
    )
    project.commit("break the build")

    done = project.harness("compare", "HEAD~1", "HEAD")

    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("harness: error: setup command")
    assert "exit code 3" in lines[-1] and "no compiler" in lines[-1]
    assert "Traceback" not in done.stderr
    assert len(project.worktrees()) == 1


def test_commits_older_than_the_workloads_run_with_the_working_trees_settings(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.git("rm", "-q", "-r", "workloads")
    older = project.commit("before the workloads")
    project.write("store.py", (project.root / "store.py").read_text() + "# a comment\n")
    newer = project.commit("still before the workloads")
    # The workloads and the settings that go with them exist only in the working tree.
    project.write("workloads/tiny.py", FILL)
    project.write("pyproject.toml", PYPROJECT.replace("replicates = 3", "replicates = 2\ntolerance = 50"))

    done = project.harness("compare", older, newer, "--format", "json")

    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["baseline"]["workloads_from"] == "own, else working tree"
    assert verdict["tolerance_pct"] == 50
    assert [row["replicates"] for row in verdict["experiments"]] == [[2, 2]]


def test_the_merge_base_with_the_default_branch_is_the_default_baseline(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    base = project.git("rev-parse", "HEAD")
    project.git("checkout", "-q", "-b", "feature")
    set_payload(project, PAYLOAD_PLUS_10)
    project.commit("bigger payload on a branch")
    project.git("checkout", "-q", "main")
    project.write("README", "main moved on\n")
    project.commit("main moves on")
    project.git("checkout", "-q", "feature")
    out = project.root.parent / "v.json"

    done = project.harness("compare", FILL_ID, "--format", "json", "--out", str(out), "-n", "2")

    assert done.returncode == 1, done.stderr
    data = json.loads(out.read_text())
    assert data["baseline"]["git_commit"] == base
    assert data["candidate"]["git_dirty"] is False
    assert verdict_rows(out)[FILL_ID]["decision"] == "regression"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchref", "HEAD"], "'nosuchref' names no commit"),
        (["HEAD", "HEAD", "nosuchexperiment"], "'nosuchexperiment' names no commit"),
    ],
)
def test_bad_refs_and_patterns_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    project = tiny_project(tmp_path / "p")
    done = project.harness("compare", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3  # the two sides named, then the error
    assert "Traceback" not in done.stderr
    assert len(project.worktrees()) == 1


def test_an_output_that_cannot_be_written_is_refused_before_any_checkout(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    project.commit("again")
    for flag in ("--out", "--json", "--html"):
        done = project.harness("compare", "HEAD~1", "HEAD", flag, "/proc/harness-nowhere/verdict")

        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("harness: error: cannot write /proc/harness-nowhere/verdict: ")
        assert len(done.stderr.splitlines()) == 1
        assert len(project.worktrees()) == 1


def test_outside_a_git_repository_is_one_line(tmp_path: Path) -> None:
    project_dir = tmp_path / "plain"
    project_dir.mkdir()
    (project_dir / "pyproject.toml").write_text(PYPROJECT)
    done = subprocess.run(
        [sys.executable, "-m", "harness", "compare", "main"],
        cwd=project_dir,
        capture_output=True,
        text=True,
        env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path)},
    )
    assert done.returncode == 2
    assert done.stderr.startswith("harness: error:") and "not inside a git repository" in done.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_worktrees_are_removed_when_interrupted(tmp_path: Path, signum: int) -> None:
    project = tiny_project(tmp_path / "p")
    project.write("workloads/slow.py", SLOW)
    project.commit("a slow workload")
    records = project.root / ".git" / "worktrees"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "compare", "HEAD~1", "HEAD", "slow", "-n", "1"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(records.glob("*"))) < 2:
        time.sleep(0.1)
    assert len(project.worktrees()) == 3  # the project and two checkouts, while trials run
    time.sleep(2)  # into the trials
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert len(project.worktrees()) == 1
    assert not list(records.glob("*"))


def test_an_interrupted_compare_resumes_with_the_trials_it_finished(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "p")
    # A second of setup per trial, so the run can be stopped between trials.
    project.write(
        "workloads/tiny.py", FILL.replace("    s = trial.keep(new())", "    time.sleep(1)\n    s = trial.keep(new())")
    )
    project.write("workloads/tiny.py", "import time\n" + (project.root / "workloads" / "tiny.py").read_text())
    base = project.commit("trials take a second")
    set_payload(project, PAYLOAD_PLUS_10)
    head = project.commit("store a bigger payload")
    journal = project.root / "reports" / "compare.json.journal"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "compare", base, head, "-n", "2"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (journal.exists() and journal.read_text().count("\n") >= 2):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "finished trials saved in" in stderr and "Traceback" not in stderr
    kept = journal.read_text().count("\n") - 1  # the header, then one line per finished trial
    assert 1 <= kept < 4
    assert len(project.worktrees()) == 1

    resumed = project.harness("compare", base, head, "-n", "2", "--resume", "--format", "json")

    assert resumed.returncode == 1, resumed.stderr
    assert f"{kept} trials reused from the journal, {4 - kept} run" in resumed.stderr
    row = json.loads(resumed.stdout)["experiments"][0]
    assert row["decision"] == "regression" and row["replicates"] == [2, 2]
    assert row["candidate_mean"] - row["baseline_mean"] == pytest.approx(PAYLOAD_PLUS_10 - PAYLOAD, abs=0.01)
    assert not journal.exists()
    assert json.loads((project.root / "reports" / "compare.candidate.json").read_text())["interrupted"] is False
