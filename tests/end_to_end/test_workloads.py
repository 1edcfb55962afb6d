"""The five seed families, run by the real engine: each seed's effect in direction and size.

One module-wide ``harness run`` of the bundled families (2 replicates, real memray and
tracemalloc in child interpreters) feeds the assertions; the margins are the ones the
families promise in workloads/README.md. A few direct checks make sure the variants of a
family answer alike, so that a figure compares equal work.
"""

from __future__ import annotations

import random
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from harness import churn, read_results
from harness.declare.discovery import load_module
from harness.measure.capture import EVERY_HEAP_METRIC
from harness.store.results import Results, TrialResult

REPO = Path(__file__).resolve().parents[2]
FAMILIES = ("sack_scoreboard", "activity_stats", "flow_table", "socket_storage", "resizable_map")


@pytest.fixture(scope="module")
def results_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("workloads") / "results.json"
    finished = subprocess.run(
        [sys.executable, "-m", "harness", "run", *FAMILIES, "-n", "2", "-j", "2", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def results(results_path: Path) -> Results:
    return read_results(results_path)


def module(name: str) -> ModuleType:
    return load_module(REPO / "workloads" / f"{name}.py", REPO)


def figures(
    results: Results, family: str, workload: str, variant: str, read: Callable[[TrialResult], float]
) -> list[float]:
    """One figure per replicate of the experiment."""
    (info,) = [e for e in results.experiments if (e.family, e.workload, e.variant) == (family, workload, variant)]
    trials = results.trials_of(info.id)
    assert trials and all(t.ok for t in trials), [t.error for t in trials]
    return [read(t) for t in trials]


def metric(phase: str, name: str) -> Callable[[TrialResult], float]:
    def read(trial: TrialResult) -> float:
        found = trial.phase(phase)
        assert found is not None, f"{trial.experiment} has no phase {phase}"
        value = found.metrics[name]
        assert value is not None
        return float(value)

    return read


def held(last_phase: str) -> Callable[[TrialResult], float]:
    """Bytes the structure built in the first phase still holds at the end of ``last_phase``."""

    def read(trial: TrialResult) -> float:
        names = [p.name for p in trial.phases]
        upto = trial.phases[: names.index(last_phase) + 1]
        return sum(float(p.metrics["net_bytes"] or 0) for p in upto)

    return read


def mean(values: list[float]) -> float:
    return statistics.fmean(values)


def test_every_trial_of_the_five_families_succeeds(results: Results) -> None:
    assert {e.family for e in results.experiments} == set(FAMILIES)
    assert len(results.experiments) == 16
    assert len(results.trials) == 32
    assert results.failed() == []


@pytest.mark.parametrize("how", [("-j", "1"), ("-j", "2", "--executor", "dask")], ids=["one-job", "dask"])
def test_heap_figures_and_sites_repeat_exactly_on_every_family(
    results: Results, tmp_path: Path, how: tuple[str, ...]
) -> None:
    """Another run, with one job or on a local Dask cluster, measures every phase of every
    trial of the bundled suite alike: each heap figure and every call site."""
    backend = results.environment.backend
    if backend != "native":
        pytest.skip(f"exact repeats are the native backend's; this run used {backend}")
    out = tmp_path / "again.json"
    command = [sys.executable, "-m", "harness", "run", *FAMILIES, "-n", "2", *how, "--out", str(out)]
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr[-3000:]
    again = read_results(out)

    def heap(run: Results) -> dict[tuple[str, int, str], tuple[object, ...]]:
        return {
            (t.experiment, t.replicate, p.name): (
                tuple(p.metrics[name] for name in EVERY_HEAP_METRIC if name != "peak_bytes"),
                p.sites,
            )
            for t in run.trials
            for p in t.phases
        }

    first, second = heap(results), heap(again)
    assert len(first) > 50 and first.keys() == second.keys()
    differ = [key for key in first if first[key] != second[key]]
    assert not differ, differ[:5]


def test_activity_stats_maps_allocate_50x_more_objects_per_node_than_flat(results: Results) -> None:
    maps = mean(figures(results, "activity_stats", "node_churn", "maps", metric("grow", "alloc_count_per_op")))
    flat = mean(figures(results, "activity_stats", "node_churn", "flat", metric("grow", "alloc_count_per_op")))
    assert maps >= 50 * flat, (maps, flat)
    # 65 event types x (a counter, 5 + 4 counters in two dicts, the dicts, the holder): ~780 objects.
    assert maps >= 700
    flush_maps = mean(figures(results, "activity_stats", "node_churn", "maps", metric("flush", "alloc_count_per_op")))
    flush_flat = mean(figures(results, "activity_stats", "node_churn", "flat", metric("flush", "alloc_count_per_op")))
    assert flush_maps >= 3 * flush_flat, (flush_maps, flush_flat)
    sent = [figures(results, "activity_stats", "node_churn", v, metric("flush", "sent")) for v in ("maps", "flat")]
    assert sent[0] == sent[1] and min(sent[0]) > 0  # both sent the same counters


def test_sack_boxed_allocates_2x_more_objects_per_query(results: Results) -> None:
    boxed = mean(figures(results, "sack_scoreboard", "lossy_sender", "boxed", metric("recovery", "alloc_count_per_op")))
    unboxed = mean(
        figures(results, "sack_scoreboard", "lossy_sender", "unboxed", metric("recovery", "alloc_count_per_op"))
    )
    assert boxed >= 2 * unboxed, (boxed, unboxed)
    lost = [
        figures(results, "sack_scoreboard", "lossy_sender", v, metric("recovery", "lost")) for v in ("boxed", "unboxed")
    ]
    assert lost[0] == lost[1] and min(lost[0]) > 0  # the same segments were judged lost


def test_flow_table_hashmap_retains_10x_after_the_drain(results: Results) -> None:
    def after_drain(variant: str) -> float:
        return mean(figures(results, "flow_table", "spike_drain", variant, held("drain")))

    hashmap, shrink, ordered = after_drain("hashmap"), after_drain("hashmap_shrink"), after_drain("sorted")
    assert hashmap >= 10 * shrink, (hashmap, shrink)
    assert hashmap >= 10 * ordered, (hashmap, ordered)
    # The plain dict gave back (almost) nothing of what the spike built.
    spike = mean(figures(results, "flow_table", "spike_drain", "hashmap", held("spike")))
    assert hashmap >= 0.95 * spike, (hashmap, spike)
    for variant in ("sorted", "hashmap", "hashmap_shrink"):
        expired = figures(results, "flow_table", "spike_drain", variant, metric("drain", "expired"))
        assert expired == [12_000 - 120] * 2


def test_flow_table_colliding_keys_are_10x_slower_in_the_unseeded_dict(results: Results) -> None:
    # The least disturbed replicate of each: the machine is shared, and noise only adds time.
    hashmap = min(figures(results, "flow_table", "flood", "hashmap", metric("lookup", "wall_s_per_op")))
    shrink = min(figures(results, "flow_table", "flood", "hashmap_shrink", metric("lookup", "wall_s_per_op")))
    assert hashmap >= 10 * shrink, (hashmap, shrink)


def test_socket_storage_inline_and_shared_hold_fewer_bytes_per_socket(results: Results) -> None:
    def per_socket(variant: str) -> float:
        return mean(figures(results, "socket_storage", "socket_churn", variant, metric("open", "net_bytes_per_op")))

    indirect = per_socket("indirect")
    assert per_socket("inline") <= 0.6 * indirect, (per_socket("inline"), indirect)
    assert per_socket("shared") <= 0.6 * indirect, (per_socket("shared"), indirect)


def test_resizable_map_holds_less_after_the_spike_and_prealloc_most_in_normal(results: Results) -> None:
    def holds(variant: str, phase: str) -> float:
        return mean(figures(results, "resizable_map", "load_spike", variant, held(phase)))

    assert holds("resizable", "after_spike") <= 0.5 * holds("grow", "after_spike")
    assert holds("prealloc", "normal") >= 2 * holds("grow", "normal")
    assert holds("prealloc", "normal") >= 2 * holds("resizable", "normal")
    # 800 live + a 7,200-key spike into max_entries 6,400: 1,600 refused inserts, in every variant.
    for variant in ("prealloc", "grow", "resizable"):
        assert figures(results, "resizable_map", "load_spike", variant, metric("spike", "refused")) == [1600, 1600]
        normal = figures(
            results, "resizable_map", "load_spike", variant, lambda t: float("refused" in t.phases[0].metrics)
        )
        assert normal == [0.0, 0.0]


def test_table_generator_writes_one_table_per_family(results_path: Path, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    shutil.copy(REPO / "workloads" / "README.md", readme)
    finished = subprocess.run(
        [sys.executable, "benchmarks/workloads_table.py", "--results", str(results_path), "--readme", str(readme)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    text = readme.read_text(encoding="utf-8")
    for family in FAMILIES:
        assert f"### {family} (reference:" in text
    row = re.search(r"\| maps \| node_churn: allocs per new node \| [^|]+\| ([\d.]+)x \|", text)
    assert row is not None and float(row.group(1)) >= 50
    row = re.search(r"\| hashmap \| spike_drain: held after drain \| [^|]+\| ([\d.]+)x \|", text)
    assert row is not None and float(row.group(1)) >= 10
    # Run again: the markers stay, the tables are replaced, not appended.
    subprocess.run(
        [sys.executable, "benchmarks/workloads_table.py", "--results", str(results_path), "--readme", str(readme)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert readme.read_text(encoding="utf-8") == text


def test_table_generator_rejects_a_readme_without_markers(results_path: Path, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n", encoding="utf-8")
    finished = subprocess.run(
        [sys.executable, "benchmarks/workloads_table.py", "--results", str(results_path), "--readme", str(readme)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 2
    assert "markers" in finished.stderr and "Traceback" not in finished.stderr
    assert readme.read_text(encoding="utf-8") == "# no markers\n"


# --------------------------------------------------------------- the variants do the same work


def test_sack_variants_answer_alike_on_a_lossy_trace() -> None:
    sack = module("sack_scoreboard")
    for seed in range(3):
        trace = sack.sender_trace(random.Random(seed), 300, 24, 0.05)
        answers = []
        for board in (sack.BoxedScoreboard(), sack.FlatScoreboard()):
            seen: list[tuple[bool, bool]] = []
            for ack, blocks, outstanding in trace:
                board.delete(ack)
                for start, end in blocks:
                    board.insert(start, end)
                seen.extend((board.is_sacked(s, e), board.is_range_lost(s, e)) for s, e in outstanding)
            answers.append(seen)
        assert answers[0] == answers[1]
        assert any(sacked for sacked, _ in answers[0]) and any(lost for _, lost in answers[0])


def test_sack_trace_is_seeded() -> None:
    sack = module("sack_scoreboard")
    assert sack.sender_trace(random.Random(5), 200, 16, 0.1) == sack.sender_trace(random.Random(5), 200, 16, 0.1)
    assert sack.sender_trace(random.Random(5), 200, 16, 0.1) != sack.sender_trace(random.Random(6), 200, 16, 0.1)


def test_activity_event_stream_is_seeded() -> None:
    stats = module("activity_stats")
    plan = churn.steady(1, 10, 500)
    assert stats.event_stream(plan, random.Random(2)) == stats.event_stream(plan, random.Random(2))
    assert stats.event_stream(plan, random.Random(2)) != stats.event_stream(plan, random.Random(3))


def test_activity_variants_send_the_same_counters() -> None:
    stats = module("activity_stats")
    plan = churn.steady(1, 3, 2_000, lookup_fraction=1.0)
    stream = stats.event_stream(plan, random.Random(4))
    sent: list[list[tuple[str, int, tuple[str, ...]]]] = []
    for variant in (stats.MapStats(), stats.FlatStats()):
        for _, _, event_type, outcome, detail in stream:
            variant.record(event_type, outcome, detail)
        sink: list[tuple[str, int, list[str] | tuple[str, ...]]] = []
        variant.flush(sink)
        sent.append(sorted((name, value, tuple(tags)) for name, value, tags in sink))
        after: list[tuple[str, int, list[str] | tuple[str, ...]]] = []
        variant.flush(after)
        assert after == []  # a flush resets the counters
    assert sent[0] == sent[1] and sum(v for _, v, _ in sent[0]) == 2_000


def test_flow_table_variants_hold_the_same_flows() -> None:
    flows = module("flow_table")
    rng = random.Random(9)
    keys = list(churn.unique_keys(rng, 3_000)) + list(churn.colliding_keys(300))
    rng.shuffle(keys)
    tables = [flows.SortedFlowTable(), flows.HashFlowTable(), flows.SeededShrinkingFlowTable()]
    for table in tables:
        for i, key in enumerate(keys):
            table.insert(key, i % 7)
        for key in keys[::3]:
            table.remove(key)
        assert table.expire(3) == sum(1 for i, k in enumerate(keys) if i % 3 and i % 7 < 3)
    contents = [sorted(table.items()) for table in tables]
    assert contents[0] == contents[1] == contents[2]
    assert all(tables[2].get(k) == tables[1].get(k) for k in keys[:500])


def test_resizable_variants_keep_the_same_entries_and_refuse_beyond_max_entries() -> None:
    maps = module("resizable_map")
    keys = churn.unique_keys(3, 500)
    for factory in (maps.PreallocMap, maps.GrowMap, maps.ResizableMap):
        table = factory(400, 100)
        accepted = []
        for key in keys:
            if table.free_slots() < 25:
                table.signal_low_water()
            accepted.append(table.update(key, key))
        assert accepted.count(False) == 100 and len(table) == 400
        for key in keys[:390]:
            if key in table.index:
                table.delete(key)
        table.maintain()
        assert sorted(k for k in keys if table.lookup(k) is not None) == sorted(keys[390:400])


def test_socket_storage_variants_store_alike_and_inline_falls_back_to_the_map() -> None:
    storage = module("socket_storage")
    values = [(1_000_003 + i, 2_000_003 + i) for i in range(4)]
    for layer in (storage.IndirectStorage(), storage.InlineStorage(), storage.SharedStorage()):
        sock = layer.open(7)
        for program, (policy, klass) in enumerate(values):
            layer.set(sock, program, policy, klass)
        assert [layer.get(sock, program) for program in range(4)] == [p for p, _ in values]
        if isinstance(layer, storage.InlineStorage):
            # Two programs fit in the reserved slots; the other two went to the map.
            assert sock.overflow is not None and sorted(sock.overflow.values) == [2, 3]
        layer.close(sock)
