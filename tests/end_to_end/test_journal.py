"""The results journal: a run killed with SIGKILL loses none of its finished trials, and
``--resume`` runs only the missing ones, to the same figures as a run never interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

# Three experiments; each trial logs that it ran and its pid. (No sleep in setup: a trial that
# sleeps has been seen to allocate one object more or less in its phase, from run to run.)
SLOW = """
import os
import harness

slow = harness.family("slow")

@slow.variant("list")
def make_list():
    return [].append

@slow.variant("set")
def make_set():
    return set().add

@slow.variant("pairs")
def make_pairs():
    items = []
    return lambda value: items.append(value + value)

# No dict: CPython's dicts do not repeat their allocations exactly from run to run.
@slow.workload(params={"n": [3000]}, goal="net_bytes")
def fill(trial, new, n):
    with open("ran.log", "a") as log:
        log.write(f"{trial.replicate} {os.getpid()}\\n")
    put = trial.keep(new())
    with trial.phase("fill"):
        for _ in range(n):
            put(str(trial.rng.getrandbits(30)))
        trial.ops(n)
"""

TRIALS = 3 * 3  # three experiments x three replicates


def make_project(root: Path) -> Path:
    (root / "workloads").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.harness]\nworkloads = "workloads"\n', encoding="utf-8")
    (root / "workloads" / "slow.py").write_text(textwrap.dedent(SLOW), encoding="utf-8")
    return root


RUN = ("run", "-n", "3", "--backend", "tracemalloc")


def harness_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=project, capture_output=True, text=True, timeout=300
    )


def journal_trials(path: Path) -> list[dict[str, Any]]:
    lines = path.read_bytes().split(b"\n")[1:-1]
    return [json.loads(line)["trial"] for line in lines if line.strip()]


def figures(path: Path) -> dict[tuple[str, int, str], dict[str, Any]]:
    """Every figure of every phase but the timings, by (experiment, replicate, phase)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for trial in data["trials"]:
        assert trial["status"] == "ok", trial
        for phase in trial["phases"]:
            kept = {k: v for k, v in phase["metrics"].items() if "wall" not in k}
            out[(trial["experiment"], trial["replicate"], phase["name"])] = kept
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_after(project: Path, finished: int) -> None:
    """Start ``harness run`` and SIGKILL it once ``finished`` trials are in its journal."""
    journal = project / "reports" / "results.json.journal"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", *RUN],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if journal.exists() and len(journal_trials(journal)) >= finished:
            break
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_a_run_killed_with_sigkill_resumes_to_the_figures_of_an_uninterrupted_run(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    journal = project / "reports" / "results.json.journal"
    kill_after(project, finished=4)

    assert not (project / "reports" / "results.json").exists()
    kept = journal_trials(journal)
    assert 4 <= len(kept) < TRIALS
    started = (project / "ran.log").read_text().split("\n")[:-1]
    # The trial running at the kill died with its parent, not running on unseen.
    last_pid = int(started[-1].split()[1])
    deadline = time.monotonic() + 5
    while alive(last_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(last_pid)

    # Killed mid-write: half a line at the end.
    with journal.open("ab") as handle:
        handle.write(b'{"side": "", "trial": {"experiment": "slow.fi')
    saved = journal.read_bytes()

    # Other settings: refused, saying what differs, and nothing is touched or run.
    refused = harness_cli(project, *RUN, "--seed", "7", "--resume")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "base_seed was 1, now 7" in refused.stderr and "seeds differ" in refused.stderr
    assert journal.read_bytes() == saved
    assert len((project / "ran.log").read_text().splitlines()) == len(started)

    resumed = harness_cli(project, *RUN, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "last line was cut short" in resumed.stderr
    assert f"{len(kept)} trials reused from the journal, {TRIALS - len(kept)} run" in resumed.stderr
    # Only the missing trials ran: exactly as many starts as were missing.
    ran_on_resume = len((project / "ran.log").read_text().splitlines()) - len(started)
    assert ran_on_resume == TRIALS - len(kept)
    assert not journal.exists()  # removed once the complete results were written

    complete = harness_cli(project, *RUN, "-o", "reports/uninterrupted.json")
    assert complete.returncode == 0, complete.stderr
    resumed_figures = figures(project / "reports" / "results.json")
    uninterrupted = figures(project / "reports" / "uninterrupted.json")
    assert len(resumed_figures) == TRIALS
    assert resumed_figures.keys() == uninterrupted.keys()
    for key, expected in uninterrupted.items():
        got = resumed_figures[key]
        # Every figure but the timings, exactly (tracemalloc's included).
        assert got == expected, key
    # The experiments really differ, so equality above is not equality of nothing.
    assert len({round(v["net_bytes"]) for k, v in uninterrupted.items() if k[1] == 0}) == 3


def test_a_journal_of_other_code_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    journal = project / "reports" / "results.json.journal"
    kill_after(project, finished=1)
    saved = journal.read_bytes()
    workload = project / "workloads" / "slow.py"
    workload.write_text(workload.read_text().replace("range(n)", "range(n + 1)"), encoding="utf-8")
    started = len((project / "ran.log").read_text().splitlines())

    refused = harness_cli(project, *RUN, "--resume")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "is from another run (workload file slow.py changed)" in refused.stderr
    assert journal.read_bytes() == saved
    assert len((project / "ran.log").read_text().splitlines()) == started

    # Without --resume the old journal gives way to a new run, which says so.
    fresh = harness_cli(project, *RUN, "slow.fill[set", "-n", "1")
    assert fresh.returncode == 0, fresh.stderr
    assert "replaced" in fresh.stderr
    assert not journal.exists()


def test_resume_without_a_journal_runs_everything(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    done = harness_cli(project, *RUN, "slow.fill[list", "-n", "1", "--resume")
    assert done.returncode == 0, done.stderr
    assert "nothing to resume" in done.stderr
    assert len((project / "ran.log").read_text().splitlines()) == 1


def test_trials_are_on_disk_as_they_finish(tmp_path: Path) -> None:
    """The journal holds each trial as the results file will, one line each, before the end."""
    project = make_project(tmp_path / "project")
    kill_after(project, finished=2)
    journal = project / "reports" / "results.json.journal"
    header = json.loads(journal.read_bytes().split(b"\n")[0])
    assert header["schema"] == "harness.journal/1"
    assert header["seeds"] == [1, 2, 3]
    assert header["experiments"][""] == ["slow.fill[list,n=3000]", "slow.fill[set,n=3000]", "slow.fill[pairs,n=3000]"]
    assert header["settings"]["backend"] == "tracemalloc"
    assert set(header["code"][""]["workloads"]) == {"slow.py"}
    trials = journal_trials(journal)
    # Interleaved: replicate 0 of each experiment first.
    assert [(t["experiment"], t["replicate"]) for t in trials[:2]] == [
        ("slow.fill[list,n=3000]", 0),
        ("slow.fill[set,n=3000]", 0),
    ]
    assert all(t["status"] == "ok" and t["phases"][0]["metrics"]["net_bytes"] > 0 for t in trials)


def test_gate_resumes_the_run_it_was_running(tmp_path: Path) -> None:
    """``gate`` writes where ``run`` does: a gate killed hard resumes like a run."""
    project = make_project(tmp_path / "project")
    baseline = harness_cli(project, *RUN, "-o", "base.json")
    assert baseline.returncode == 0, baseline.stderr
    kill_after(project, finished=2)
    kept = len(journal_trials(project / "reports" / "results.json.journal"))
    started = len((project / "ran.log").read_text().splitlines())

    gate = harness_cli(project, "gate", "--baseline", "base.json", "-n", "3", "--backend", "tracemalloc", "--resume")
    assert gate.returncode == 0, gate.stderr
    assert f"{kept} trials reused from the journal, {TRIALS - kept} run" in gate.stderr
    assert len((project / "ran.log").read_text().splitlines()) - started == TRIALS - kept
    assert len(json.loads((project / "reports" / "results.json").read_text())["trials"]) == TRIALS
