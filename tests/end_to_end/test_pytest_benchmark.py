"""A pytest-benchmark suite under ``--harness``, on real pytest sessions (``pytester``): each
benchmarked function measured per call, beside pytest-benchmark's own timings."""

from __future__ import annotations

import pytest

from harness.store.results import read_results

pytest_plugins = ["pytester"]

pytest.importorskip("pytest_benchmark")


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sessions run here are no xdist workers, even when this one is: pytest-benchmark
    turns itself off in a session that inherited a worker's variable."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


ONCE = ("-p", "no:cacheprovider", "--harness-replicates", "1", "--harness-backend", "native")
#: pytest-benchmark's rounds, kept short: at least 5 calls, for 10 ms at most.
SHORT = ("--benchmark-min-rounds", "5", "--benchmark-max-time", "0.01")

#: ``build`` makes N distinct ints (each above CPython's cached small ints) in a list sized
#: once: it returns N + 2 allocations per call (the ints, the list, its array of items).
BENCHED = """
import os

import pytest

N = 1000
CALLS = 0


def build(n):
    global CALLS
    CALLS += 1
    return list(range(10_000, 10_000 + n))


@pytest.fixture(autouse=True)
def count_calls():
    yield
    with open("calls.txt", "a") as calls:
        calls.write(f"{{os.getpid()}} {{CALLS}}\\n")


def test_build(benchmark):
    made = benchmark(build, N)
    assert len(made) == N


def test_build_pedantic(benchmark):
    made = benchmark.pedantic(build, args=(N,), rounds=3, iterations=2)
    assert len(made) == N


@pytest.mark.harness_limits(alloc_count={fits})
def test_build_within(benchmark):
    benchmark(build, N)


@pytest.mark.harness_limits(alloc_count={tight})
def test_build_over(benchmark):
    benchmark(build, N)
"""


def test_a_benchmarked_function_is_measured_per_call_beside_pytest_benchmark_s_timings(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_bench=BENCHED.format(fits=1100, tight=900))
    result = pytester.runpytest_subprocess(*ONCE, *SHORT, "--harness", "--harness-json", "r.json")
    # Each test runs once as the user sees it: one outcome each, one row each in pytest-benchmark's table.
    result.assert_outcomes(passed=3, failed=1)
    out = result.stdout.str()
    assert "benchmark: 4 tests" in out, out
    for name in ("test_build ", "test_build_pedantic ", "test_build_within ", "test_build_over "):
        assert sum(line.startswith(name) for line in result.outlines) == 1, name
    # Its limit judged the per-call figure: about a thousand, not a thousand per round.
    result.stdout.fnmatch_lines(["*harness limit exceeded in test_bench.py::test_build_over*"])
    result.stdout.fnmatch_lines(["*call.alloc_count = 1.0?k > limit 900*"])
    figures = {}
    for trial in read_results(pytester.path / "r.json").trials:
        (phase,) = trial.phases
        assert phase.name == "call"
        figures[trial.experiment] = phase.metrics
    # Every test measured, the one over its limit too.
    assert len(figures) == 4, figures
    for nodeid, metrics in figures.items():
        # Per call, whatever the rounds pytest-benchmark ran: what it returned is exactly N ints,
        # the list and its array; a few objects more come and go (the range, its iterator).
        assert metrics["kept_count"] == 1000 + 2, (nodeid, metrics)
        assert 1002 <= metrics["alloc_count"] <= 1010, (nodeid, metrics)
        assert metrics["alloc_count_per_op"] == metrics["alloc_count"], (nodeid, metrics)
    # The session the user started ran each test once, with pytest-benchmark's rounds (at
    # least 5 calls each; the counter runs on); each measuring copy ran its test's function
    # twice: a warm-up, then the call measured.
    by_process: dict[str, list[int]] = {}
    for line in pytester.path.joinpath("calls.txt").read_text().splitlines():
        pid, count = line.split()
        by_process.setdefault(pid, []).append(int(count))
    (session,) = [counts for counts in by_process.values() if len(counts) == 4]
    assert all(later - earlier >= 5 for earlier, later in zip([0, *session], session, strict=False)), session
    copies = [counts for counts in by_process.values() if counts is not session]
    assert copies == [[2]] * 4, by_process


SET_UP = """
def build(items):
    return list(range(10_000, 10_000 + len(items)))


def make():
    return ([object() for _ in range(300)],), {}


def test_set_up(benchmark):
    made = benchmark.pedantic(build, setup=make, rounds=3)
    assert len(made) == 300
"""


def test_a_pedantic_setup_is_outside_the_window_and_every_replicate_reads_the_same(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_set_up=SET_UP)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--harness-replicates", "3", "--harness-backend", "native",
        "--harness", "--harness-json", "r.json", "--benchmark-disable",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    trials = read_results(pytester.path / "r.json").trials
    assert len(trials) == 3
    figures = [{k: v for k, v in trial.phases[0].metrics.items() if "wall" not in k} for trial in trials]
    # The 300 objects setup makes are not in the call's figures: its 300 ints, list and array are.
    assert figures[0]["kept_count"] == 300 + 2, figures[0]
    assert figures[0]["alloc_count"] < 300 + 2 + 10, figures[0]
    assert figures[1] == figures[0] and figures[2] == figures[0], figures
