"""harness gate and harness baseline on a real project: real trials, real regressions, real bounds.

The project's one variant keeps a byte blob per add and, for a share ``EXTRA`` of adds chosen
by a seeded coin, a second blob of the same size: with ``EXTRA = 0.10`` it allocates 10% more
per op in expectation, with ``0.02`` 2% more. The baseline is run with ``EXTRA = 0``, then the
variant's code is changed and the candidate run, as a pull request would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.store.results import read_results

REPLICATES = 10
OPS = 2000
SPIKE_SEED = 10  # the one replicate of ten that peaks above the bound
EXPERIMENT = f"store.fill[blobs,ops={OPS}]"

WORKLOAD = f"""
import random

import harness

store = harness.family("store", "a store of byte blobs")

EXTRA = 0.0  # share of adds that keep a second blob of the same size


@store.variant("blobs")
class Blobs:
    def __init__(self, capacity):
        self.slots = [None] * (2 * capacity)

    def add(self, i, size, coin):
        self.slots[2 * i] = bytes(size)
        if coin < EXTRA:
            self.slots[2 * i + 1] = bytes(size)


@store.workload(params={{"ops": [{OPS}]}}, goal="fill.net_bytes_per_op")
def fill(trial, new, ops):
    blobs = trial.keep(new(ops))
    sizes = [trial.rng.randrange(400, 1600) for _ in range(ops)]
    coins = random.Random(trial.seed * 7919 + 1)
    flips = [coins.random() for _ in range(ops)]
    with trial.phase("fill"):
        for i in range(ops):
            blobs.add(i, sizes[i], flips[i])
        if trial.seed == {SPIKE_SEED}:
            spike = bytes(6 * 1024 * 1024)
            del spike
        trial.ops(ops)
"""

PYPROJECT = """
[tool.harness]
workloads = "workloads"
backend = "tracemalloc"
jobs = 2
"""


def harness_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=project, capture_output=True, text=True, timeout=600
    )


def set_extra(project: Path, share: float) -> None:
    path = project / "workloads" / "store.py"
    lines = [f"EXTRA = {share}" if ln.startswith("EXTRA = ") else ln for ln in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project with three results: the baseline (EXTRA 0), +10% and +2% candidates."""
    root = tmp_path_factory.mktemp("store")
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "workloads").mkdir()
    (root / "workloads" / "store.py").write_text(textwrap.dedent(WORKLOAD))
    for name, share in (("base", 0.0), ("plus10", 0.10), ("plus2", 0.02)):
        set_extra(root, share)
        done = harness_cli(root, "run", "-n", str(REPLICATES), "--out", f"{name}.json")
        assert done.returncode == 0, done.stderr
    set_extra(root, 0.0)
    done = harness_cli(root, "baseline", "save", "main", "--from", "base.json")
    assert done.returncode == 0, done.stderr
    return root


def gate_json(project: Path, *args: str) -> tuple[int, dict[str, object]]:
    done = harness_cli(project, "gate", "--format", "json", *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def only_row(verdict: dict[str, object]) -> dict[str, object]:
    rows = verdict["experiments"]
    assert isinstance(rows, list) and len(rows) == 1
    row = rows[0]
    assert isinstance(row, dict)
    return row


def test_ten_percent_more_per_op_is_a_regression_whose_interval_holds_ten(project: Path) -> None:
    code, verdict = gate_json(project, "--baseline", "main", "--results", "plus10.json")
    row = only_row(verdict)
    assert code == 1 and verdict["passed"] is False
    assert row["decision"] == "regression"
    assert row["method"] == "paired" and row["replicates"] == [REPLICATES, REPLICATES]
    assert row["ci_low_pct"] <= 10.0 <= row["ci_high_pct"]
    assert 8.0 < row["delta_pct"] < 12.0
    # A real interval, not a point: the coin flips differ per seed.
    assert 0.1 < row["ci_high_pct"] - row["ci_low_pct"] < 4.0
    # The replicate values behind it are those of the files.
    base, cand = read_results(project / "base.json"), read_results(project / "plus10.json")
    assert row["baseline_values"] == [t.phases[0].metrics["net_bytes_per_op"] for t in base.trials_of(EXPERIMENT)]
    assert row["candidate_values"] == [t.phases[0].metrics["net_bytes_per_op"] for t in cand.trials_of(EXPERIMENT)]
    # Where: the variant's add() keeps the extra blobs, about 10% of 2000 blobs of ~1 KiB.
    top = row["top_sites"][0]
    extra_line = next(n for n, text in enumerate(WORKLOAD.splitlines(), 1) if "2 * i + 1" in text)
    assert top["site"] == f"add (workloads/store.py:{extra_line})"
    assert 0.06 * top["baseline"] < top["delta"] < 0.14 * top["baseline"]
    assert verdict["baseline"]["baseline"]["name"] == "main"


def test_two_percent_is_no_change_at_five_and_a_regression_at_one(project: Path) -> None:
    code, verdict = gate_json(project, "--baseline", "main", "--results", "plus2.json")
    row = only_row(verdict)
    assert (code, row["decision"]) == (0, "no_change")
    assert 1.0 < row["delta_pct"] < 3.0 and row["ci_low_pct"] > 0
    code, verdict = gate_json(project, "--baseline", "main", "--results", "plus2.json", "--tolerance", "1")
    assert (code, only_row(verdict)["decision"]) == (1, "regression")
    assert verdict["tolerance_pct"] == 1.0


def test_a_bound_one_replicate_of_ten_violates_fails_the_gate_with_9_of_10(project: Path, tmp_path: Path) -> None:
    bounded = tmp_path / "bounded"
    bounded.mkdir()
    (bounded / "pyproject.toml").write_text(
        PYPROJECT + '\n[tool.harness.bounds]\n"store.fill*" = { "fill.peak_bytes" = "5 MiB" }\n'
    )
    files = ("--baseline", str(project / "base.json"), "--results", str(project / "base.json"))
    done = harness_cli(bounded, "gate", *files)
    assert done.returncode == 1, done.stderr
    assert "FAIL  store.fill[blobs,ops=2000]  fill.peak_bytes ≤ 5 MiB  9/10" in done.stdout
    _, verdict = gate_json(bounded, *files)
    check = only_row(verdict)["bounds"][0]
    assert (check["replicates_passed"], check["replicates"], check["passed"]) == (9, 10, False)
    assert check["worst"] > 6 * 1024 * 1024 > check["upper"] == 5 * 1024 * 1024
    assert only_row(verdict)["decision"] == "no_change"
    done = harness_cli(bounded, "gate", "--format", "markdown", *files)
    assert "| ❌ | `store.fill[blobs,ops=2000]` | fill.peak_bytes | ≤ 5 MiB |" in done.stdout
    assert done.stdout.rstrip().endswith("9/10 replicates passed.")


def test_gate_runs_the_suite_and_baseline_commands_list_and_show(project: Path) -> None:
    done = harness_cli(project, "gate", "--baseline", "main", "-n", "2")
    assert done.returncode == 0, done.stderr
    assert "no_change" in done.stdout and "Passed. All quality gates passed." in done.stdout
    ran = read_results(project / "reports" / "results.json")
    assert [t.seed for t in ran.trials_of(EXPERIMENT)] == [1, 2]
    listing = harness_cli(project, "baseline", "list")
    assert listing.returncode == 0 and listing.stdout.startswith("main ")
    shown = harness_cli(project, "baseline", "show", "main")
    assert shown.returncode == 0 and "made" in shown.stdout and "from base.json" in shown.stdout
    stored = json.loads((project / "baselines" / "main.json").read_text())
    assert stored["baseline"]["source"] == "base.json"
    assert stored["trials"] == json.loads((project / "base.json").read_text())["trials"]


def reasons(stdout: str) -> list[str]:
    """The reasons under the text verdict's last line."""
    return [line[4:] for line in stdout.splitlines() if line.startswith("  - ")]


def test_an_experiment_the_candidate_lacks_fails_unless_allowed(project: Path, tmp_path: Path) -> None:
    # The candidate's workloads declare the store with another size: the baseline's experiment is gone.
    other = tmp_path / "resized"
    (other / "workloads").mkdir(parents=True)
    (other / "pyproject.toml").write_text(PYPROJECT)
    source = (project / "workloads" / "store.py").read_text()
    (other / "workloads" / "store.py").write_text(source.replace(f'"ops": [{OPS}]', '"ops": [500]'))
    ran = harness_cli(other, "run", "-n", "2", "--out", "resized.json")
    assert ran.returncode == 0, ran.stderr
    files = ("--baseline", str(project / "baselines" / "main.json"), "--results", "resized.json")

    done = harness_cli(other, "gate", *files)

    assert done.returncode == 1, done.stderr
    assert reasons(done.stdout) == [f"{EXPERIMENT}: missing in the candidate (--allow-missing lets it pass)"]
    assert "Failed. 1 quality gate failed." in done.stdout

    allowed = harness_cli(other, "gate", *files, "--allow-missing")

    assert allowed.returncode == 0, allowed.stderr
    assert "Passed. All quality gates passed." in allowed.stdout
    # The same from the settings: a gate that leaves out "missing".
    (other / "pyproject.toml").write_text(PYPROJECT.replace("jobs = 2", 'jobs = 2\ngate = ["regressions", "bounds"]'))
    assert harness_cli(other, "gate", *files).returncode == 0


def test_a_candidate_with_no_finished_trial_fails(project: Path, tmp_path: Path) -> None:
    # A results file of a run that measured nothing, as older versions wrote for empty workloads.
    empty = json.loads((project / "plus2.json").read_text())
    empty["experiments"], empty["trials"] = [], []
    (tmp_path / "empty.json").write_text(json.dumps(empty))

    done = harness_cli(project, "gate", "--baseline", "main", "--results", str(tmp_path / "empty.json"))

    assert done.returncode == 1, done.stderr
    assert reasons(done.stdout) == [
        "the candidate has no finished trial: nothing was measured",
        f"{EXPERIMENT}: missing in the candidate (--allow-missing lets it pass)",
    ]
    allowed = harness_cli(
        project, "gate", "--baseline", "main", "--results", str(tmp_path / "empty.json"), "--allow-missing"
    )
    assert allowed.returncode == 1
    assert reasons(allowed.stdout) == ["the candidate has no finished trial: nothing was measured"]


def corrupt(path: Path, how: str) -> None:
    text = path.read_text()
    data = json.loads(text)
    if how == "truncated":
        path.write_text(text[: len(text) // 2])
    elif how == "not json":
        path.write_text("baseline: yes\n")
    elif how == "wrong schema":
        path.write_text(json.dumps({**data, "schema": "harness.verdict/1"}))
    elif how == "missing field":
        del data["trials"][0]["seed"]
        path.write_text(json.dumps(data))


def assert_bad_input(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("how", ["truncated", "not json", "wrong schema", "missing field"])
def test_a_damaged_baseline_is_refused_in_one_line(project: Path, tmp_path: Path, how: str) -> None:
    damaged = tmp_path / "damaged.json"
    damaged.write_text((project / "base.json").read_text())
    corrupt(damaged, how)
    before = damaged.read_bytes()
    assert_bad_input(harness_cli(project, "gate", "--baseline", str(damaged), "--results", "base.json"), "damaged.json")
    assert damaged.read_bytes() == before


def test_bad_input_to_gate_and_baseline_changes_no_file(project: Path, tmp_path: Path) -> None:
    stored = project / "baselines" / "main.json"
    before = stored.read_bytes()
    results = ("--results", "plus2.json")
    assert_bad_input(harness_cli(project, "gate", "--baseline", "nope", *results), "no baseline 'nope'", "main")
    assert_bad_input(harness_cli(project, "gate", "--baseline", "main", *results, "no_such"), "no_such")
    assert_bad_input(harness_cli(project, "gate", "--baseline", "main", "no_such", "-n", "1"), "no_such")
    damaged = tmp_path / "truncated.json"
    damaged.write_text((project / "base.json").read_text()[:500])
    assert_bad_input(harness_cli(project, "baseline", "save", "main", "--from", str(damaged)), "not valid JSON")
    assert stored.read_bytes() == before
    # Another Python: refused, unless the user says it is fine.
    other = json.loads((project / "plus2.json").read_text())
    other["environment"]["python_version"] = "3.99.0"
    (tmp_path / "other.json").write_text(json.dumps(other))
    mismatch = ("--baseline", "main", "--results", str(tmp_path / "other.json"))
    assert_bad_input(harness_cli(project, "gate", *mismatch), "python_version", "--allow-env-mismatch")
    assert harness_cli(project, "gate", *mismatch, "--allow-env-mismatch").returncode == 0
    assert stored.read_bytes() == before
    assert not (project / "verdict.md").exists()


def test_a_bound_that_does_not_parse_is_refused_before_any_trial(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    (bad / "workloads").mkdir(parents=True)
    (bad / "workloads" / "store.py").write_text((project / "workloads" / "store.py").read_text())
    (bad / "pyproject.toml").write_text(
        PYPROJECT + '\n[tool.harness.bounds]\n"store" = { "fill.peak_bytes" = "64 MiBB" }\n'
    )
    done = harness_cli(bad, "gate", "--baseline", str(project / "base.json"), "--out", "verdict.md")
    assert_bad_input(done, "64 MiBB", "store")
    assert not (bad / "reports").exists() and not (bad / "verdict.md").exists()


def test_a_goal_the_backend_does_not_measure_is_refused(project: Path, tmp_path: Path) -> None:
    # Before running: tracemalloc has no cumulative allocation counts.
    other = tmp_path / "alloc_goal"
    (other / "workloads").mkdir(parents=True)
    source = (
        (project / "workloads" / "store.py").read_text().replace("fill.net_bytes_per_op", "fill.alloc_bytes_per_op")
    )
    (other / "workloads" / "store.py").write_text(source)
    (other / "pyproject.toml").write_text(PYPROJECT)
    done = harness_cli(other, "gate", "--baseline", str(project / "base.json"), "-n", "1")
    assert_bad_input(done, "alloc_bytes_per_op", "tracemalloc")
    assert not (other / "reports").exists()
    # From files: the goal names a metric the trials do not carry.
    data = json.loads((project / "base.json").read_text())
    data["experiments"][0]["goals"] = ["fill.alloc_bytes_per_op"]
    (tmp_path / "alloc.json").write_text(json.dumps(data))
    files = ("--baseline", str(tmp_path / "alloc.json"), "--results", str(tmp_path / "alloc.json"))
    assert_bad_input(harness_cli(project, "gate", *files), "alloc_bytes_per_op", "not measured")
