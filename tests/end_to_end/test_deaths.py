"""A trial that dies is named as what it was, in one line, with its evidence.

Real trials in real child interpreters: a workload that crashes for real (a NULL pointer
read, ``abort()``), one whose module allocates more than its limit as it imports, a limit
below what an interpreter holds once started, and ``-j`` far above the cores.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.declare.config import (
    MEMORY_FLOOR,
    MEMORY_SHARE,
    available_cores,
    load_settings,
    machine_memory,
    memory_limit_bytes,
    memory_limit_origin,
)
from harness.declare.units import format_bytes
from harness.measure.executors import TrialJob, make_executor, run_in_child
from harness.measure.launcher import MAX_REASON_CHARS, fork_child
from harness.measure.trial import TrialSpec

CRASHING = """
import ctypes

import harness

store = harness.family("store")


@store.variant("list")
def make_list():
    return []


def fill(held, how):
    held.append(1)
    if how == "segfault":
        ctypes.string_at(0)
    else:
        ctypes.CDLL(None).abort()


@store.workload(params={"how": ["segfault", "abort"]}, goal="net_bytes")
def grow(trial, new, how):
    held = new()
    with trial.phase("grow"):
        fill(held, how)
        trial.ops(1)
"""
#: The lines of ``fill`` in CRASHING that crash, by the way they crash.
CRASH_LINES = {"segfault": 17, "abort": 19}

HEAVY_IMPORT = """
import harness

# Built as the module imports, before any trial of it can start.
TABLE = bytearray(160 * 1024 * 1024)

table = harness.family("table")


@table.variant("list")
def make_list():
    return []


@table.workload(goal="net_bytes")
def look(trial, new):
    with trial.phase("look"):
        trial.ops(1)
"""

CALM = """
import harness

calm = harness.family("calm")


@calm.variant("list")
def make_list():
    return []


@calm.workload(params={"n": [10, 20, 30]}, goal="net_bytes")
def fill(trial, new, n):
    held = new()
    with trial.phase("fill"):
        for i in range(n):
            held.append(str(i))
        trial.ops(n)
"""

CHATTY_EXIT = """

@calm.workload(goal="net_bytes")
def chatty(trial, new):
    import os, sys
    sys.stderr.write("x" * 5000 + "\\nsecond line\\n")
    sys.stderr.flush()
    os._exit(9)
"""

HALTING = """

class Halt(BaseException):
    pass


def give_up():
    raise Halt("the store gave up")


@calm.workload(goal="net_bytes")
def halts(trial, new):
    with trial.phase("halt"):
        give_up()
"""

GREEDY = """

@calm.workload(goal="net_bytes")
def greedy(trial, new):
    held = new()
    with trial.phase("grow"):
        while True:
            held.append(bytearray(16 * 1024 * 1024))
"""


def make_project(root: Path, workloads: str) -> Path:
    (root / "workloads").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.harness]\nworkloads = "workloads"\n', encoding="utf-8")
    (root / "workloads" / "store.py").write_text(textwrap.dedent(workloads), encoding="utf-8")
    return root


def run(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "run", "-n", "1", "--backend", "tracemalloc", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def trials(project: Path) -> list[dict[str, Any]]:
    data = json.loads((project / "reports" / "results.json").read_text(encoding="utf-8"))
    return list(data["trials"])


@pytest.mark.parametrize("limit", ["1 GiB", "none"])
def test_a_crash_is_named_by_its_signal_and_the_workload_frame_never_by_the_memory_limit(
    tmp_path: Path, limit: str
) -> None:
    project = make_project(tmp_path / "project", CRASHING)
    assert (project / "workloads" / "store.py").read_text().splitlines()[CRASH_LINES["segfault"] - 1].strip() == (
        "ctypes.string_at(0)"
    )
    done = run(project, "--memory-limit", limit)
    assert done.returncode == 1, done.stderr  # trials failed, the run finished
    assert "Traceback" not in done.stderr
    by_how = {t["experiment"].split("how=")[1].rstrip("]"): t for t in trials(project)}
    for how, signal_name in (("segfault", "SIGSEGV"), ("abort", "SIGABRT")):
        trial = by_how[how]
        reason = f"killed by {signal_name} in fill (workloads/store.py:{CRASH_LINES[how]})"
        assert trial["status"] == "failed" and trial["error"] == reason, trial["error"]
        assert "memory" not in trial["error"]
        assert f"failed store.grow[list,how={how}] replicate 0 (seed 1): {reason}\n" in done.stderr
        # The whole stack stays with the trial, the interpreter's own frames included.
        assert "Fatal Python error" in trial["stderr"]
        assert f'workloads/store.py", line {CRASH_LINES[how]} in fill' in trial["stderr"]
        assert 'workloads/store.py", line 26 in grow' in trial["stderr"]


def test_a_crash_in_a_forked_copy_leaves_its_frame_too() -> None:
    """The pytest plugin's copies are forked, not started: the copy enables faulthandler itself."""

    def crash() -> int:
        ctypes.string_at(0)
        return 0

    ended = fork_child(crash, timeout_s=60, memory_limit=512 * 1024**2)
    line = crash.__code__.co_firstlineno + 1
    assert ended.death(512 * 1024**2) == f"killed by SIGSEGV in crash (test_deaths.py:{line})"


def test_a_module_that_imports_past_the_limit_says_the_limit_is_too_low_to_start(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", HEAVY_IMPORT)
    done = run(project, "--memory-limit", "96 MiB")
    assert done.returncode == 1, done.stderr
    (trial,) = trials(project)
    reason = "memory limit 96 MiB per trial is too low for a trial to start; raise --memory-limit"
    assert trial["error"] == reason
    assert f"failed table.look[list] replicate 0 (seed 1): {reason}\n" in done.stderr
    # A limit it fits under runs it.
    done = run(project, "--memory-limit", "512 MiB")
    assert done.returncode == 0, done.stderr
    assert [t["status"] for t in trials(project)] == ["ok"]


def test_a_limit_below_what_an_interpreter_holds_fails_in_one_line_naming_the_jobs(tmp_path: Path) -> None:
    """Below what the child holds once started, the limit is not set: nothing would load."""
    project = make_project(tmp_path / "project", CALM)
    origin = "50% of 24 GiB / 10000 jobs"
    spec = TrialSpec(
        project_root=str(project),
        workloads_dir=str(project / "workloads"),
        module="store.py",
        family="calm",
        workload="fill",
        variant="list",
        params={"n": 10},
        seed=1,
        replicate=0,
        backend="tracemalloc",
        top_sites=5,
        memory_limit=3 * 1024**2,
        memory_limit_origin=origin,
    )
    result = run_in_child(TrialJob("calm.fill[list,n=10]", spec, timeout_s=60))
    assert result.status == "failed"
    assert result.error == (
        f"memory limit 3 MiB per trial ({origin}) is too low for a trial to start; raise --memory-limit or lower -j"
    )


def test_jobs_far_above_the_cores_run_as_many_as_there_are_cores_each_with_the_floor_at_least(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project", CALM)
    done = run(project, "-j", "10000")
    assert done.returncode == 0, done.stderr
    assert [t["status"] for t in trials(project)] == ["ok"] * 3
    settings = load_settings(project).override(jobs=10000)
    total = machine_memory()
    assert total is not None
    cores = available_cores()
    limit = memory_limit_bytes(settings)
    assert limit == max(int(total * MEMORY_SHARE / cores), min(MEMORY_FLOOR, int(total * MEMORY_SHARE)))
    assert limit is not None and limit >= MEMORY_FLOOR
    assert f"/ {cores} jobs" in memory_limit_origin(settings)
    assert make_executor("local", jobs=10000).jobs == cores  # type: ignore[attr-defined]


def test_a_reason_stays_one_bounded_line_whatever_the_child_printed(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", CALM + CHATTY_EXIT)
    done = run(project, "calm.chatty")
    assert done.returncode == 1, done.stderr
    (trial,) = trials(project)
    # No stack: the child exited of itself, without a crash for faulthandler to report.
    assert trial["error"] == "child exited with code 9: second line"
    assert len(trial["error"]) <= MAX_REASON_CHARS and "\n" not in trial["error"]
    assert trial["stderr"].endswith("second line")


def test_an_exit_with_a_traceback_names_the_frame_and_the_exception(tmp_path: Path) -> None:
    """An exception no trial catches (a ``BaseException``) ends the child with its traceback."""
    project = make_project(tmp_path / "project", CALM + HALTING)
    line = next(
        n
        for n, text in enumerate((project / "workloads" / "store.py").read_text().splitlines(), 1)
        if "raise Halt" in text
    )
    done = run(project, "calm.halts")
    assert done.returncode == 1, done.stderr
    (trial,) = trials(project)
    assert trial["error"].startswith(f"child exited with code 1 in give_up (workloads/store.py:{line}): "), trial
    assert trial["error"].endswith("Halt: the store gave up")
    assert "Traceback (most recent call last)" in trial["stderr"]


def test_the_resident_watch_holds_the_limit_and_says_what_the_trial_held(tmp_path: Path) -> None:
    """The way free-threaded builds hold the limit, chosen here by its variable."""
    project = make_project(tmp_path / "project", CALM + GREEDY)
    limit_by = {**os.environ, "HARNESS_MEMORY_LIMIT_BY": "resident"}
    done = run(project, "calm.greedy", "--memory-limit", "256 MiB", env=limit_by)
    assert done.returncode == 1, done.stderr
    (trial,) = trials(project)
    prefix, suffix = "memory limit 256 MiB exceeded (resident ", " MiB)"
    assert trial["error"].startswith(prefix) and trial["error"].endswith(suffix), trial["error"]
    # Killed once a reading saw it past the limit (three figures: 256.4 MiB reads 256), within
    # a few 16 MiB blocks of it even on a busy machine.
    assert 256 <= float(trial["error"].removeprefix(prefix).removesuffix(suffix)) < 2 * 256, trial["error"]


CRASHING_TEST = """
import ctypes

import pytest


def fill(held):
    held.append(1)
    ctypes.string_at(0)


@pytest.mark.harness
def test_crashes(harness_trial):
    held = []
    with harness_trial.phase("grow"):
        fill(held)
"""


def test_a_crashing_test_under_the_pytest_plugin_is_named_by_its_signal_and_frame(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.harness]\nmemory_limit = "1 GiB"\n', encoding="utf-8")
    (tmp_path / "test_store.py").write_text(CRASHING_TEST, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--harness-replicates", "1", "test_store.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    line = "harness: the measuring process killed by SIGSEGV in fill (test_store.py:9) (seed 1)"
    assert line in done.stdout, done.stdout
    assert "memory limit" not in done.stdout


def test_the_resident_watch_holds_the_limit_of_a_forked_copy_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_MEMORY_LIMIT_BY", "resident")
    limit = 256 * 1024**2

    def greedy() -> int:
        held = []
        while True:
            held.append(bytearray(16 * 1024 * 1024))

    ended = fork_child(greedy, timeout_s=60, memory_limit=limit)
    assert ended.returncode == -9 and ended.killed_at_resident is not None
    assert limit < ended.killed_at_resident < 2 * limit
    assert ended.death(limit) == f"memory limit 256 MiB exceeded (resident {format_bytes(ended.killed_at_resident)})"
