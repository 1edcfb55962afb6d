"""The native backend, driven through the CLI: exact counts, complete sites, threads, fallbacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import harness
from harness.compare.profiles import changed_sites, profile_of
from harness.measure.capture import native_available
from harness.measure.own_frames import is_runner_file
from harness.store.results import read_results
from tests.end_to_end.test_engine import harness_cli, make_project, phase_metrics

pytestmark = pytest.mark.skipif(not native_available(), reason="the native extension is not built here")

FIGURES = ("alloc_count", "alloc_bytes", "kept_count", "kept_bytes", "net_count", "net_bytes")
CALLS = 20_000
PACKAGE = str(Path(harness.__file__).parent)
#: The bundled phases that keep nothing (an experiment's id up to its parameters, and the
#: phase): lookups, a drain and a flush that hold no new object, queries that allocate none.
KEEP_NOTHING = (
    ("flow_table.flood[hashmap,", "lookup"),
    ("flow_table.flood[hashmap_shrink,", "lookup"),
    ("flow_table.flood[sorted,", "lookup"),
    ("flow_table.spike_drain[hashmap,", "drain"),
    ("flow_table.spike_drain[hashmap,", "after_drain"),
    ("activity_stats.node_churn[flat,", "flush"),
    ("sack_scoreboard.lossy_sender[unboxed,", "recovery"),
)
BUNDLED_FAMILIES = ("activity_stats", "flow_table", "lru_cache", "resizable_map", "sack_scoreboard", "socket_storage")

WORKLOADS = f"""
import gc, itertools, threading, zlib
import harness

native = harness.family("native")

@native.variant("plain")
def plain():
    return None

def identity(x):
    return x

@native.workload(params={{"calls": [{CALLS}]}})
def calls(trial, new, calls):
    # Python calls that create no object: small ints only, no frame objects.
    with trial.phase("calls"):
        for _ in itertools.repeat(None, calls):
            identity(1); identity(2); identity(3)
        trial.ops(3 * calls)

@native.workload(params={{"n": [4000]}})
def mixed(trial, new, n):
    keys = [trial.rng.getrandbits(40) for _ in range(n)]
    table = trial.keep({{}})
    with trial.phase("fill"):
        for key in keys:
            table[key] = [key]
        for key in keys[::2]:
            table[key] = (key, key)
        trial.ops(n)
    with trial.phase("trim"):
        for key in keys[::3]:
            del table[key]
        trial.ops(n // 3)

@native.workload()
def cycles(trial, new):
    # A workload that turns the collector off still has its garbage cycles collected at the
    # phase's end, as they would be by a full collection.
    gc.disable()
    try:
        with trial.phase("cycles"):
            for _ in itertools.repeat(None, 1000):
                a = []
                a.append(a)
            trial.ops(1000)
    finally:
        gc.enable()

@native.workload()
def bookkeeping(trial, new):
    made = [None] * 10**6
    with trial.phase("bookkeeping"):
        # len() makes a new int (10**6 is no cached small int), and so do the counter's
        # value and name: the workload drops each at once, so the phase keeps nothing.
        trial.ops(len(made))
        trial.count("k", 10**6 + 1)
        trial.count("made_" + str(len(made)), len(made) + 2)

@native.workload(params={{"n": [3000]}})
def threaded(trial, new, n):
    stop = threading.Event()
    blob = bytes(range(256)) * 512

    def compress():
        # zlib takes its buffers from the raw domain, without the GIL.
        while not stop.is_set():
            zlib.decompress(zlib.compress(blob))

    worker = threading.Thread(target=compress)
    worker.start()
    kept = trial.keep([])
    try:
        with trial.phase("work"):
            for i in range(n):
                kept.append((i, i))
            trial.ops(n)
    finally:
        stop.set()
        worker.join()
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("native"), {"native_loads": WORKLOADS})


def run(project: Path, name: str, *args: str) -> dict[str, Any]:
    out = project / f"{name}.json"
    result = harness_cli(project, "run", *args, "--out", str(out))
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def phases(data: dict[str, Any]) -> dict[tuple[str, int, str], dict[str, Any]]:
    return {(t["experiment"], t["replicate"], p["name"]): p for t in data["trials"] for p in t["phases"]}


def assert_sites_add_up(phase: dict[str, Any]) -> None:
    for name in FIGURES:
        assert sum(site[name] for site in phase["sites"]) == phase["metrics"][name], name


def test_python_calls_that_allocate_nothing_read_zero(project: Path) -> None:
    data = run(project, "calls", "native.calls", "-n", "1", "--backend", "native")
    [figures] = phase_metrics(project / "calls.json", "native.calls", "calls")
    assert data["environment"]["backend"] == "native"
    assert figures["ops"] == 3 * CALLS
    assert figures["alloc_count_per_op"] < 0.01


def test_figures_and_sites_repeat_exactly_across_runs_and_jobs(project: Path) -> None:
    runs = [
        phases(run(project, name, "native.mixed", "-n", "2", "-j", jobs, "--backend", "native"))
        for name, jobs in (("mixed-a", "1"), ("mixed-b", "1"), ("mixed-c", "2"))
    ]
    assert runs[0].keys() == runs[1].keys() == runs[2].keys()
    assert len(runs[0]) == 4
    for key, phase in runs[0].items():
        for other in runs[1:]:
            assert {name: other[key]["metrics"][name] for name in (*FIGURES, "peak_bytes")} == {
                name: phase["metrics"][name] for name in (*FIGURES, "peak_bytes")
            }
            assert other[key]["sites"] == phase["sites"]
        assert_sites_add_up(phase)
    fill = runs[0][("native.mixed[plain,n=4000]", 0, "fill")]["metrics"]
    # A list and its item array per key, then every second list replaced by a tuple; and the
    # dict's final table (its earlier tables were freed as it grew).
    assert fill["kept_count"] == 2 * 4000 - 2 * 2000 + 2000 + 1


def test_an_extra_allocation_moves_its_line_only(tmp_path: Path) -> None:
    base = make_project(tmp_path / "base", {"native_loads": WORKLOADS})
    injected_source = WORKLOADS.replace(
        "            table[key] = (key, key)\n",
        # bytes have no free list: each one is the allocator's, so only this line can move.
        "            table[key] = (key, key)\n            extra = key.to_bytes(8, 'little')\n",
    )
    assert injected_source != WORKLOADS
    changed = make_project(tmp_path / "changed", {"native_loads": injected_source})
    before = phases(run(base, "before", "native.mixed", "-n", "1", "--backend", "native"))
    after = phases(run(changed, "after", "native.mixed", "-n", "1", "--backend", "native"))
    assert_only_the_injected_line_moves(base / "before.json", changed / "after.json", injected_source)
    fill_key = ("native.mixed[plain,n=4000]", 0, "fill")
    injected_line = injected_source.splitlines().index("            extra = key.to_bytes(8, 'little')") + 1

    def by_site(phase: dict[str, Any], root: Path) -> dict[tuple[str, ...], dict[str, int]]:
        # The two projects differ in their directory only; lines after the injection shift by one.
        table = {}
        for site in phase["sites"]:
            stack = tuple(frame.replace(str(root), "ROOT") for frame in site["stack"])
            table[stack] = {name: site[name] for name in FIGURES}
        return table

    old = by_site(before[fill_key], base)
    new = by_site(after[fill_key], changed)
    moved = {stack for stack in old.keys() | new.keys() if old.get(stack) != new.get(stack)}
    assert {stack[0].rsplit(":", 2)[1] for stack in moved} == {str(injected_line)}
    [extra] = [new[stack] for stack in moved]
    # One bytes object every second key (and on 3.15 a one-time object of its own, freed).
    assert extra["alloc_count"] == 2000 + (1 if sys.version_info >= (3, 15) else 0)
    assert extra["kept_count"] == extra["net_count"] == 1  # the last one, still named at the end
    for phase in (*before.values(), *after.values()):
        assert_sites_add_up(phase)


def assert_only_the_injected_line_moves(before_file: Path, after_file: Path, injected_source: str) -> None:
    """The profiles the gate and the reports read: one line moves, and no other site."""
    before, after = read_results(before_file), read_results(after_file)
    [line] = [i + 1 for i, text in enumerate(injected_source.splitlines()) if "extra = key.to_bytes" in text]
    [experiment] = {t.experiment for t in before.trials}
    for name in FIGURES:
        old = profile_of(before.trials_of(experiment), "fill", root=before.environment.roots)
        new = profile_of(after.trials_of(experiment), "fill", root=after.environment.roots)
        [move] = changed_sites(old, new, name)
        assert move.site == ("mixed", "workloads/native_loads.py", line)
        # 3.15 makes one more object the first time the line runs, freed before the window
        # ends: it moves alloc_count only.
        first_run = 1 if sys.version_info >= (3, 15) else 0
        expected = {"alloc_count": 2000 + first_run, "kept_count": 1, "net_count": 1}
        assert move.delta == expected.get(name, move.delta) != 0
        by_function = [
            profile_of(side.trials_of(experiment), "fill", root=side.environment.roots, grain="function")
            for side in (before, after)
        ]
        assert [m.site for m in changed_sites(*by_function, name)] == [("mixed", "workloads/native_loads.py", 0)]


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[tuple[str, int, str], dict[str, Any]]]:
    """The phases of one run of the bundled suite on each backend that sees every free."""
    root = Path(__file__).resolve().parents[2]
    out_dir = tmp_path_factory.mktemp("bundled")
    runs = {}
    for backend in ("native", "tracemalloc"):
        out = out_dir / f"{backend}.json"
        command = [sys.executable, "-m", "harness", "run", "-n", "1", "-j", "2", "--backend", backend]
        result = subprocess.run([*command, "--out", str(out)], cwd=root, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        runs[backend] = phases(json.loads(out.read_text()))
    return runs


def test_native_net_agrees_with_tracemalloc_on_every_bundled_phase(
    bundled: dict[str, dict[tuple[str, int, str], dict[str, Any]]],
) -> None:
    figures = {backend: {key: p["metrics"] for key, p in run.items()} for backend, run in bundled.items()}
    assert figures["native"].keys() == figures["tracemalloc"].keys()
    assert {key[0].split(".")[0] for key in figures["native"]} >= set(BUNDLED_FAMILIES)
    for key, native in figures["native"].items():
        traced = figures["tracemalloc"][key]
        # Within 0.1% of the phase's own net change: exactly equal where that is small.
        assert abs(native["net_bytes"] - traced["net_bytes"]) <= 0.001 * abs(traced["net_bytes"]), (key, native, traced)


def harness_frames(phase: dict[str, Any]) -> list[str]:
    """The frames of the harness package among a phase's sites, below the trial's runner (the
    outer frames every stack ends with)."""
    found = []
    for site in phase["sites"]:
        for frame in site["stack"]:
            file = frame.rsplit(":", 2)[0]
            if is_runner_file(file):
                break
            if file.startswith(PACKAGE):
                found.append(frame)
    return found


def test_the_harness_s_own_calls_keep_nothing_and_are_no_site(project: Path) -> None:
    data = run(project, "bookkeeping", "native.bookkeeping", "-n", "1", "--backend", "native")
    [phase] = phases(data).values()
    metrics = phase["metrics"]
    assert (metrics["kept_bytes"], metrics["kept_count"], metrics["net_bytes"]) == (0, 0, 0)
    assert (metrics["ops"], metrics["k"], metrics["made_1000000"]) == (10**6, 10**6 + 1, 10**6 + 2)
    # The ints and the name were made, by the workload's lines, and freed there.
    assert metrics["alloc_count"] >= 3
    assert {site["function"] for site in phase["sites"]} == {"bookkeeping"}
    assert not [site for site in phase["sites"] if site["file"].startswith(PACKAGE)]
    assert harness_frames(phase) == []
    assert_sites_add_up(phase)
    # tracemalloc sees the same: the phase leaves the heap as it found it.
    traced = run(project, "bookkeeping-traced", "native.bookkeeping", "-n", "1", "--backend", "tracemalloc")
    [phase] = phases(traced).values()
    assert phase["metrics"]["net_bytes"] == 0
    assert not [site for site in phase["sites"] if site["file"].startswith(PACKAGE)]


def test_no_harness_frame_is_charged_in_any_bundled_phase(
    bundled: dict[str, dict[tuple[str, int, str], dict[str, Any]]],
) -> None:
    native = bundled["native"]
    assert {key[0].split(".")[0] for key in native} >= set(BUNDLED_FAMILIES)
    charged = {key: frames for key, phase in native.items() if (frames := harness_frames(phase))}
    assert charged == {}
    kept = {
        (prefix, name): [
            p["metrics"]["kept_bytes"]
            for (experiment, _, phase), p in native.items()
            if phase == name and experiment.startswith(prefix)
        ]
        for prefix, name in KEEP_NOTHING
    }
    assert kept == {key: [0] for key in KEEP_NOTHING}


def test_a_thread_allocating_meanwhile_leaves_the_counts_whole(project: Path) -> None:
    data = run(project, "threaded", "native.threaded", "-n", "1", "--backend", "native")
    [phase] = phases(data).values()
    assert_sites_add_up(phase)
    mine = [s for s in phase["sites"] if s["function"] == "threaded"]
    # Each loop step makes one 2-tuple, kept; the list's growth reallocates a few times.
    assert sum(s["kept_count"] for s in mine) >= 3000
    native_site = [s for s in phase["sites"] if s["file"] == "<native>"]
    assert all(s["stack"] == ["<native>:0:<native>"] for s in native_site)
    assert phase["metrics"]["alloc_count"] >= sum(s["alloc_count"] for s in mine)


def test_cycles_are_collected_at_the_end_even_with_the_collector_off(project: Path) -> None:
    data = run(project, "cycles", "native.cycles", "-n", "1", "--backend", "native")
    [phase] = phases(data).values()
    figures = phase["metrics"]
    # A list and its item array each, all alive at once with the collector off...
    assert figures["alloc_count"] >= 2 * 1000
    assert figures["peak_bytes"] >= 1000 * (sys.getsizeof([]) + 8)
    # ... and only the last list, still named by the workload, alive at the end.
    assert figures["kept_count"] == figures["net_count"] == 2
    assert_sites_add_up(phase)


def test_the_none_backend_only_times(project: Path) -> None:
    data = run(project, "none", "native.mixed", "-n", "1", "--backend", "none")
    for phase in phases(data).values():
        assert set(phase["metrics"]) == {"ops", "wall_s", "wall_s_per_op"}
        assert phase["sites"] == []


def test_auto_falls_back_and_says_so_once_where_the_extension_is_missing() -> None:
    code = (
        "import sys; sys.modules['harness._native'] = None\n"
        "from harness.measure.capture import resolve_backend\n"
        "print(resolve_backend('auto'), resolve_backend('auto'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() in (["memray", "memray"], ["tracemalloc", "tracemalloc"])
    assert result.stderr.count("native backend unavailable (harness._native was not built") == 1
    result = subprocess.run(
        [sys.executable, "-c", "from harness.measure.capture import resolve_backend; print(resolve_backend('auto'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert (result.stdout.strip(), result.stderr) == ("native", "")
