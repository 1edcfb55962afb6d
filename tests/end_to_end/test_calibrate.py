"""harness calibrate: an A/A run of a small real suite finds no false positive and names the noisy."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

WORKLOADS = """
import os

import harness

calm = harness.family("calm")


@calm.variant("blobs")
def blobs():
    return []


@calm.workload(params={"ops": [1500]}, goal="fill.net_bytes_per_op")
def fill(trial, new, ops):
    store = trial.keep(new())
    sizes = [trial.rng.randrange(400, 1600) for _ in range(ops)]
    with trial.phase("fill"):
        for size in sizes:
            store.append(bytes(size))
        trial.ops(ops)


@calm.workload(goal=["spread.cubes", "spread.jitter", "spread.net_bytes"], counters=["cubes", "jitter"])
def cubes(trial, new):
    # The how-many-th trial of the run this is (one byte appended per trial, atomically): a
    # figure that differs between two runs of one seed, by ratios far apart (1:4, 9:16, ...).
    fd = os.open("trials.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, b"x")
    jitter = 1000 * os.fstat(fd).st_size ** 2
    os.close(fd)
    with trial.phase("spread"):
        # Repeatable for one seed, far apart across seeds (1, 8, 27): not noise.
        trial.count("cubes", trial.seed**3)
        # Different on every run of one seed: noise.
        trial.count("jitter", jitter)
        trial.keep(bytes(100_000))  # and a quiet goal: net_bytes barely moves
"""


def test_calibrate_finds_no_false_positive_and_suggests_the_noisy_experiment(tmp_path: Path) -> None:
    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / "calm.py").write_text(textwrap.dedent(WORKLOADS))
    (tmp_path / "pyproject.toml").write_text('[tool.harness]\nbackend = "tracemalloc"\njobs = 2\n')
    done = subprocess.run(
        [sys.executable, "-m", "harness", "calibrate", "-n", "3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "false positives: 0 of 4 goals" in out
    fill = next(line for line in out.splitlines() if line.startswith("calm.fill[blobs,ops=1500]"))
    cells = re.split(r"\s{2,}", fill)
    # Same code, same seeds: the allocation figures repeat (exactly, or to a few bytes of ~1.5 MB),
    # so Δ is 0 with a zero interval at this precision.
    assert cells[5] == "exact" or float(cells[5].rstrip("%")) < 0.01
    assert cells[6] == "+0.00" and cells[8:10] == ["3/3", "no_change"]
    low, high = (float(x) for x in cells[7].strip("[]").split(", "))
    assert -0.01 <= low <= 0 <= high <= 0.01
    assert float(cells[4].rstrip("%")) < 10  # the spread across seeds of random blob sizes: a few %
    # Paired by seed, the noise is the spread of the per-seed ratios: a figure that depends on
    # the seed but repeats for each seed has none.
    cube = re.split(r"\s{2,}", next(line for line in out.splitlines() if "  cubes  " in line))
    assert cube[4] == "0.00%" and cube[5] == "exact" and cube[9] == "no_change"
    jitter = re.split(r"\s{2,}", next(line for line in out.splitlines() if "  jitter  " in line))
    assert float(jitter[4].rstrip("%")) > 10 and jitter[9].endswith("(erratic)")
    suggestion = next(line for line in out.splitlines() if line.startswith("erratic = "))
    # Only the noisy goal: the experiment's quiet goals still gate.
    assert tomllib.loads(suggestion) == {"erratic": ["calm.cubes[blobs]:spread.jitter"]}, out
