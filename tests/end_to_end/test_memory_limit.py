"""A memory limit per trial: a workload that allocates without bound fails its own trial,
within seconds, and the rest of the run goes on."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

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

GREEDY = """
import harness

greedy = harness.family("greedy")

@greedy.variant("list")
def make_list():
    return []

@greedy.workload(params={"mode": ["bounded", "unbounded"]}, goal="net_bytes")
def grow(trial, new, mode):
    held = new()
    with trial.phase("grow"):
        if mode == "unbounded":
            while True:
                held.append(bytearray(16 * 1024 * 1024))
        for i in range(1000):
            held.append(str(i))
        trial.ops(1000)
"""

# Runs harness and reports the peak RSS of the largest process under it (the trials included).
MEASURED = """
import resource, subprocess, sys
done = subprocess.run([sys.executable, "-m", "harness", *sys.argv[1:]])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
sys.exit(done.returncode)
"""


def make_project(root: Path, table: str = "") -> Path:
    (root / "workloads").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[tool.harness]\nworkloads = "workloads"\n{table}', encoding="utf-8")
    (root / "workloads" / "greedy.py").write_text(textwrap.dedent(GREEDY), encoding="utf-8")
    return root


@pytest.mark.parametrize("backend", ["tracemalloc", "memray"])
def test_a_workload_without_bound_fails_its_own_trial_and_the_run_goes_on(tmp_path: Path, backend: str) -> None:
    project = make_project(tmp_path / "project", 'memory_limit = "4 GiB"\n')
    started = time.monotonic()
    run = ("run", "-n", "2", "-j", "2", "--backend", backend, "--memory-limit", "384 MiB")
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, *run],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr  # trials failed, the run finished
    assert "Traceback" not in done.stderr
    peak_rss = int(done.stdout.strip().splitlines()[-1])
    trials = json.loads((project / "reports" / "results.json").read_text(encoding="utf-8"))["trials"]
    by_mode = {(t["experiment"].split("mode=")[1].rstrip("]"), t["replicate"]): t for t in trials}
    assert len(by_mode) == 4
    for replicate in (0, 1):
        unbounded = by_mode[("unbounded", replicate)]
        # The flag's limit, not the pyproject one: flags override the table.
        assert unbounded["status"] == "failed" and unbounded["error"] == "memory limit 384 MiB exceeded"
        bounded = by_mode[("bounded", replicate)]
        assert bounded["status"] == "ok", bounded
        assert bounded["phases"][0]["metrics"]["net_bytes"] > 1000 * 40
    assert "failed greedy.grow[list,mode=unbounded] replicate 0 (seed 1): memory limit 384 MiB exceeded" in done.stderr
    # Within seconds, and no process ever held more than the limit and an interpreter.
    assert elapsed < 60
    assert peak_rss < 384 * 1024**2 + 128 * 1024**2, peak_rss
    print(f"{backend}: run of 4 trials {elapsed:.1f} s, largest process peak RSS {peak_rss / 1024**2:.0f} MiB")


def test_the_limit_comes_from_pyproject_else_from_the_machine(tmp_path: Path) -> None:
    configured = load_settings(make_project(tmp_path / "configured", 'memory_limit = "1.5 GiB"\n'))
    assert memory_limit_bytes(configured) == int(1.5 * 1024**3)
    assert memory_limit_bytes(configured.override(memory_limit="none")) is None
    default = load_settings(make_project(tmp_path / "default"))
    total = machine_memory()
    assert total is not None and total > 0
    # A share of the machine, split between the trials that run at once (never more than
    # the cores), and never below the floor.
    assert memory_limit_bytes(default) == int(total * MEMORY_SHARE)
    running = min(4, available_cores())
    expected = max(int(total * MEMORY_SHARE / running), min(MEMORY_FLOOR, int(total * MEMORY_SHARE)))
    assert memory_limit_bytes(default.override(jobs=4)) == expected
    assert memory_limit_origin(default.override(jobs=4)).endswith(f" / {running} jobs")
    assert memory_limit_origin(configured) == ""
