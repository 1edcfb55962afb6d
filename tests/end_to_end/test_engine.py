"""The measurement engine, driven through the CLI the way a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import harness

K = 3  # allocations per op of the exact workload


class _Sized:
    __slots__ = ("link", "pad1", "pad2", "pad3", "pad4", "pad5")


SIZE = sys.getsizeof(_Sized())  # one object of the exact workload, GC header included: 80 bytes
OPS = 10_000

EXACT = f"""
import itertools, os, signal, time
import harness

class Sized:
    __slots__ = ("link", "pad1", "pad2", "pad3", "pad4", "pad5")

exact = harness.family("exact")

@exact.variant("keeper")
def keeper():
    return True

@exact.variant("freer")
def freer():
    return False

@exact.workload(params={{"ops": [{OPS}]}}, goal="alloc_count_per_op")
def allocate(trial, new, ops):
    # The loop makes no call but the K allocations (a type call without arguments): calls
    # would add memray's own transient frame objects to the count.
    keep = new()
    head = trial.keep(Sized())
    last = head
    setup_garbage = trial.keep([object() for _ in range(50_000)])  # setup: must not show in any phase
    with trial.phase("idle"):
        pass
    with trial.phase("work"):
        for _ in itertools.repeat(None, ops):
            a = Sized(); b = Sized(); c = Sized()
            if keep:
                a.link = last; b.link = a; c.link = b; last = c
        head.link = last
        trial.ops(ops)
    with trial.phase("drain"):
        setup_garbage.clear()

@exact.workload(params={{"ops": [1000]}}, variants=["keeper"])
def ticks(trial, new, ops):
    # One phase measured three times, setup between: the windows add up.
    head = trial.keep(Sized())
    last = head
    for _ in range(3):
        unmeasured = trial.keep([Sized() for _ in range(500)])
        with trial.phase("tick"):
            for _ in itertools.repeat(None, ops):
                a = Sized(); a.link = last; last = a
            head.link = last
            trial.ops(ops)

churny = harness.family("churny")

@churny.variant("dict")
def plain():
    return {{}}

@churny.workload(params={{"n": [3000]}})
def churn(trial, new, n):
    table = trial.keep(new())
    keys = [trial.rng.getrandbits(48) for _ in range(n)]
    with trial.phase("grow"):
        for key in keys:
            table[key] = (key, str(key))
        trial.ops(n)
    with trial.phase("shrink"):
        for key in keys[: n // 2]:
            del table[key]
        trial.ops(n // 2)
"""

FAULTS = """
import os, signal, time
import harness

faults = harness.family("faults")

@faults.variant("v")
def v():
    return None

@faults.workload()
def ok(trial, new):
    with trial.phase("p"):
        x = [1] * 100
        trial.ops(1)

@faults.workload()
def raises(trial, new):
    with trial.phase("p"):
        raise ValueError("bad key 42")

@faults.workload()
def sleeps(trial, new):
    with trial.phase("p"):
        time.sleep(60)

@faults.workload()
def dies(trial, new):
    with trial.phase("p"):
        os.kill(os.getpid(), signal.SIGKILL)
"""


def make_project(root: Path, modules: dict[str, str], settings: str = "") -> Path:
    """A project directory with a pyproject.toml and the given workload modules."""
    (root / "workloads").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[tool.harness]\nworkloads = "workloads"\n{settings}\n')
    for name, source in modules.items():
        (root / "workloads" / f"{name}.py").write_text(textwrap.dedent(source))
    return root


def harness_cli(project: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def phase_metrics(results_path: Path, experiment_prefix: str, phase: str) -> list[dict[str, float]]:
    data = json.loads(results_path.read_text())
    return [
        p["metrics"]
        for t in sorted(data["trials"], key=lambda t: t["replicate"])
        if t["experiment"].startswith(experiment_prefix)
        for p in t["phases"]
        if p["name"] == phase
    ]


@pytest.fixture(scope="module")
def exact_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("exact"), {"exact": EXACT})


@pytest.fixture(scope="module")
def memray_run(exact_project: Path) -> Path:
    out = exact_project / "memray.json"
    result = harness_cli(exact_project, "run", "exact", "-n", "1", "--backend", "memray", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def tracemalloc_run(exact_project: Path) -> Path:
    out = exact_project / "tracemalloc.json"
    result = harness_cli(exact_project, "run", "exact", "-n", "1", "--backend", "tracemalloc", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def native_run(exact_project: Path) -> Path:
    out = exact_project / "native.json"
    result = harness_cli(exact_project, "run", "exact", "-n", "1", "--backend", "native", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(params=["memray", "native"])
def counting_run(request: pytest.FixtureRequest) -> Path:
    """A run of the exact workloads by a backend that counts every allocation."""
    path: Path = request.getfixturevalue(f"{request.param}_run")
    return path


@pytest.fixture(params=["memray", "tracemalloc", "native"])
def any_run(request: pytest.FixtureRequest) -> Path:
    """A run of the exact workloads by each backend that measures net and peak."""
    path: Path = request.getfixturevalue(f"{request.param}_run")
    return path


def test_every_allocation_of_a_phase_is_counted(counting_run: Path) -> None:
    for variant in ("keeper", "freer"):
        [work] = phase_metrics(counting_run, f"exact.allocate[{variant}", "work")
        assert work["alloc_count_per_op"] == pytest.approx(K, rel=0.02)
        assert work["alloc_bytes_per_op"] == pytest.approx(K * SIZE, rel=0.05)
        assert work["ops"] == OPS


def test_kept_and_net_see_what_survives_the_phase(memray_run: Path, tracemalloc_run: Path) -> None:
    # Under memray, tracemalloc also sees a few objects of memray's own: a looser floor.
    for path, slack_bytes, slack_count in ((memray_run, 2048, 16), (tracemalloc_run, 512, 4)):
        [kept] = phase_metrics(path, "exact.allocate[keeper", "work")
        [freed] = phase_metrics(path, "exact.allocate[freer", "work")
        assert kept["net_count"] == pytest.approx(K * OPS, rel=0.01)
        assert kept["net_bytes"] == pytest.approx(K * OPS * SIZE, rel=0.02)
        assert abs(freed["net_bytes"]) < slack_bytes
        assert abs(freed["net_count"]) <= slack_count
    [kept] = phase_metrics(memray_run, "exact.allocate[keeper", "work")
    [freed] = phase_metrics(memray_run, "exact.allocate[freer", "work")
    assert kept["kept_count"] == pytest.approx(K * OPS, rel=0.01)
    assert freed["kept_count"] <= 8


def test_native_kept_and_net_are_exact(native_run: Path) -> None:
    # No tracer objects: the keeper keeps exactly its objects, the freer the last three.
    [kept] = phase_metrics(native_run, "exact.allocate[keeper", "work")
    [freed] = phase_metrics(native_run, "exact.allocate[freer", "work")
    assert kept["kept_count"] == kept["net_count"] == K * OPS
    assert kept["net_bytes"] == K * OPS * SIZE
    for work in (kept, freed):
        assert work["alloc_count_per_op"] == pytest.approx(K, rel=0.01)
        assert work["alloc_bytes_per_op"] == pytest.approx(K * SIZE, rel=0.01)
    assert freed["kept_count"] == freed["net_count"] == K
    assert freed["net_bytes"] == K * SIZE


def test_peak_is_measured_above_the_phase_start(any_run: Path) -> None:
    for path in (any_run,):
        [kept] = phase_metrics(path, "exact.allocate[keeper", "work")
        [freed] = phase_metrics(path, "exact.allocate[freer", "work")
        assert kept["peak_bytes"] == pytest.approx(K * OPS * SIZE, rel=0.03)
        # The freer holds at most three objects at a time.
        assert freed["peak_bytes"] < 8 * SIZE


def test_setup_allocations_appear_in_no_phase(memray_run: Path, tracemalloc_run: Path) -> None:
    # The setup made 50,000 objects (over 1 MiB); an empty phase after it reads (nearly) zero.
    [idle] = phase_metrics(memray_run, "exact.allocate[keeper", "idle")
    assert idle["alloc_count"] <= 4
    assert idle["alloc_bytes"] <= 512
    assert abs(idle["net_bytes"]) <= 2048  # a few objects of memray's own, seen by tracemalloc
    [idle] = phase_metrics(tracemalloc_run, "exact.allocate[keeper", "idle")
    assert abs(idle["net_bytes"]) <= 512
    assert abs(idle["net_count"]) <= 4


def test_setup_never_shows_under_native(native_run: Path) -> None:
    for variant in ("keeper", "freer"):
        [idle] = phase_metrics(native_run, f"exact.allocate[{variant}", "idle")
        figures = ("alloc_count", "alloc_bytes", "kept_count", "kept_bytes", "net_count", "net_bytes", "peak_bytes")
        assert {name: idle[name] for name in figures} == dict.fromkeys(figures, 0)


def test_a_drain_of_setup_memory_shows_as_negative_net(
    memray_run: Path, tracemalloc_run: Path, native_run: Path
) -> None:
    # The drain frees 50,000 objects and the list's item array, all allocated in setup.
    garbage = [object() for _ in range(50_000)]
    freed = 50_000 * sys.getsizeof(object()) + sys.getsizeof(garbage) - sys.getsizeof([])
    for path in (memray_run, tracemalloc_run, native_run):
        [drain] = phase_metrics(path, "exact.allocate[keeper", "drain")
        assert drain["net_count"] == pytest.approx(-50_000, rel=0.01)
        assert drain["net_bytes"] == pytest.approx(-freed, rel=0.02)
    [drain] = phase_metrics(memray_run, "exact.allocate[keeper", "drain")
    assert drain["alloc_count"] <= 2  # freeing allocates nothing
    [drain] = phase_metrics(native_run, "exact.allocate[keeper", "drain")
    assert drain["alloc_count"] == 0


def test_top_sites_name_the_allocating_line(memray_run: Path, tracemalloc_run: Path) -> None:
    data = json.loads(memray_run.read_text())
    trial = next(t for t in data["trials"] if "keeper" in t["experiment"])
    work = next(p for p in trial["phases"] if p["name"] == "work")
    top = max(work["sites"], key=lambda s: s.get("alloc_bytes", 0))
    assert top["function"] == "allocate"
    assert top["file"].endswith("exact.py")
    assert top["alloc_count"] == pytest.approx(K * OPS, rel=0.01)
    data = json.loads(tracemalloc_run.read_text())
    trial = next(t for t in data["trials"] if "keeper" in t["experiment"])
    work = next(p for p in trial["phases"] if p["name"] == "work")
    top = max(work["sites"], key=lambda s: s.get("net_bytes", 0))
    assert top["function"] == "allocate"
    assert top["net_count"] == pytest.approx(K * OPS, rel=0.01)


def test_native_sites_name_the_allocating_line_with_its_stack(native_run: Path) -> None:
    data = json.loads(native_run.read_text())
    trial = next(t for t in data["trials"] if "keeper" in t["experiment"])
    work = next(p for p in trial["phases"] if p["name"] == "work")
    top = max(work["sites"], key=lambda s: s["alloc_bytes"])
    line = EXACT.splitlines().index("            a = Sized(); b = Sized(); c = Sized()") + 1
    assert (top["function"], Path(top["file"]).name, top["line"]) == ("allocate", "exact.py", line)
    assert top["alloc_count"] == top["kept_count"] == K * OPS
    assert top["stack"][0] == f"{top['file']}:{line}:allocate"
    assert 2 <= len(top["stack"]) <= 8


def test_results_file_is_versioned_and_loads_as_a_frame(memray_run: Path) -> None:
    data = json.loads(memray_run.read_text())
    assert data["schema"] == "harness.results/1"
    env = data["environment"]
    assert env["backend"] == "memray"
    assert env["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert {t["seed"] for t in data["trials"]} == {1}
    frame = harness.load_results(memray_run)
    assert set(frame["phase"]) == {"idle", "work", "drain", "tick"}
    assert {"experiment", "variant", "replicate", "seed", "alloc_bytes_per_op", "net_bytes"} <= set(frame.columns)
    assert len(frame) == 2 * 3 + 1  # 2 variants x 3 phases and one phase of `ticks`, one replicate
    keeper = frame[(frame["variant"] == "keeper") & (frame["phase"] == "work")]
    assert keeper["alloc_count_per_op"].iloc[0] == pytest.approx(K, rel=0.02)


def test_a_phase_measured_several_times_adds_up(counting_run: Path, tracemalloc_run: Path) -> None:
    [tick] = phase_metrics(counting_run, "exact.ticks", "tick")
    assert tick["ops"] == 3 * 1000
    assert tick["alloc_count"] == pytest.approx(3 * 1000, rel=0.01)  # not the 1,500 made between
    assert tick["kept_count"] == pytest.approx(3 * 1000, rel=0.01)
    for path in (counting_run, tracemalloc_run):
        [tick] = phase_metrics(path, "exact.ticks", "tick")
        assert tick["net_bytes"] == pytest.approx(3 * 1000 * SIZE, rel=0.02)
        # The peak is the highest window's, above its own start: one window's worth.
        assert tick["peak_bytes"] == pytest.approx(1000 * SIZE, rel=0.05)


@pytest.mark.parametrize("backend", ["memray", "native"])
def test_figures_repeat_exactly_across_runs_and_job_counts(exact_project: Path, backend: str) -> None:
    outs = []
    for name, jobs in (("a", "1"), ("b", "1"), ("c", "2")):
        out = exact_project / f"repeat-{backend}-{name}.json"
        command = ("run", "churny", "-n", "3", "-j", jobs, "--backend", backend, "--out", str(out))
        result = harness_cli(exact_project, *command)
        assert result.returncode == 0, result.stderr
        outs.append(out)
    figures = [[(m["alloc_count"], m["alloc_bytes"]) for m in phase_metrics(out, "churny", "grow")] for out in outs]
    assert len(figures[0]) == 3
    assert figures[0] == figures[1] == figures[2]
    # net comes from tracemalloc, which under memray also sees a few objects of memray's own
    # bookkeeping, more or fewer from run to run (tracemalloc alone repeats exactly).
    nets = [[m["net_count"] for m in phase_metrics(out, "churny", "grow")] for out in outs]
    for replicate in range(3):
        assert max(n[replicate] for n in nets) - min(n[replicate] for n in nets) <= (4 if backend == "memray" else 0)
    # Different seeds give different streams, so not every replicate is alike.
    seeds = [t["seed"] for t in json.loads(outs[0].read_text())["trials"]]
    assert sorted(seeds) == [1, 2, 3]


def test_failed_trials_are_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"faults": FAULTS})
    out = tmp_path / "faults.json"
    result = harness_cli(project, "run", "-n", "1", "--timeout", "5", "--backend", "tracemalloc", "--out", str(out))
    assert result.returncode == 1
    trials = {t["experiment"].split("[")[0]: t for t in json.loads(out.read_text())["trials"]}
    assert trials["faults.ok"]["status"] == "ok"
    assert trials["faults.raises"]["status"] == "failed"
    assert "ValueError: bad key 42 (faults.py:" in trials["faults.raises"]["error"]
    assert "timed out after 5 s" in trials["faults.sleeps"]["error"]
    assert "SIGKILL" in trials["faults.dies"]["error"]
    assert "ValueError: bad key 42" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "modules", "message"),
    [
        (["run", "no_such_experiment"], {"exact": EXACT}, "no experiment matches 'no_such_experiment'"),
        (["run", "--backend", "valgrind"], {"exact": EXACT}, "unknown backend 'valgrind'"),
        (["run", "--replicates", "0"], {"exact": EXACT}, "replicates must be"),
        (["run"], {"broken": "import harness\nraise RuntimeError('boom')\n"}, "broken.py failed to import"),
        (["run", "--workloads", "nowhere"], {"exact": EXACT}, "does not exist"),
        (
            ["run"],
            {
                "badbound": "import harness\nf = harness.family('f')\n"
                "@f.workload(bounds={'peak_bytes': '64 MiBB'})\ndef w(trial, new): pass\n"
            },
            "unknown unit 'MiBB'",
        ),
        (["run", "--jobs", "two"], {"exact": EXACT}, "invalid int value"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], modules: dict[str, str], message: str
) -> None:
    project = make_project(tmp_path, modules)
    previous = project / "reports" / "results.json"
    previous.parent.mkdir()
    previous.write_text('{"schema": "harness.results/1"}')
    result = harness_cli(project, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert previous.read_text() == '{"schema": "harness.results/1"}'


def test_interrupt_keeps_the_finished_trials(tmp_path: Path) -> None:
    slow = FAULTS.replace("time.sleep(60)", "time.sleep(1.5)")
    project = make_project(tmp_path, {"faults": slow})
    out = tmp_path / "partial.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "ok",
            "sleeps",
            "-n",
            "20",
            "--backend",
            "tracemalloc",
            "--out",
            str(out),
        ],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(6)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    data = json.loads(out.read_text())
    assert data["interrupted"] is True
    finished = [t for t in data["trials"] if t["status"] == "ok"]
    assert 1 <= len(finished) < 40
    assert "Traceback" not in stderr
    # No orphaned child keeps running.
    leftover = subprocess.run(
        ["pgrep", "-f", f"harness.measure.trial.*{os.sep}spec.json"], capture_output=True, text=True
    )
    assert str(project) not in leftover.stdout
