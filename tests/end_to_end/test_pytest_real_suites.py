"""The pytest plugin's whole-suite mode (``--harness``) on fixtures shaped like real suites:
long parametrized ids under session-scoped parametrized fixtures (aio-libs/multidict's)."""

from __future__ import annotations

import json
import re

import pytest

from harness.store.pytest_baseline import read_baseline

pytest_plugins = ["pytester"]

ONCE = ("-p", "no:cacheprovider", "--harness", "--harness-replicates", "1")

# A session-scoped parametrized fixture over implementations and a parametrize of its own, as
# multidict's conftest has: ids such as TestMutableMultiDict::test_extend_with_kwargs[ci-py-6].
# Test n keeps n * 1000 small ints, so the tests allocate more the larger n.
IMPLEMENTATIONS = """
import pytest

@pytest.fixture(scope="session", params=["cs", "ci"])
def implementation(request):
    return request.param

@pytest.fixture(scope="session", params=["py", "c"])
def flavour(request):
    return request.param
"""
LONG_IDS = """
import pytest

class TestMutableMultiDict:
    @pytest.mark.parametrize("n", range(1, 7))
    def test_extend_with_kwargs(self, implementation, flavour, n):
        held = list(range(100_000, 100_000 + n * 1000))
        assert len(held) == n * 1000
"""


def _run_at_width(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, columns: int, *args: str
) -> pytest.RunResult:
    """A session of the suite of long ids on a terminal ``columns`` wide."""
    pytester.makeconftest(IMPLEMENTATIONS)
    pytester.makepyfile(test_operations=LONG_IDS)
    monkeypatch.setenv("COLUMNS", str(columns))
    return pytester.runpytest_subprocess(*ONCE, *args)


def test_the_summary_fits_the_terminal_and_ranks_the_tests_that_allocated_most_first(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_at_width(pytester, monkeypatch, 80)
    result.assert_outcomes(passed=24)
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "harness: measured tests" in line)
    summary = lines[start + 1 : next(i for i, line in enumerate(lines) if i > start and line.startswith("="))]
    assert "24 measured tests at 1 replicate" in summary, summary
    assert all(len(line) <= 80 for line in summary), [line for line in summary if len(line) > 80]
    # Each test's id on a line of its own (one row of it would be some 150 columns), its
    # figures indented under it, most allocated first.
    ids = [line for line in summary if line.startswith("test_operations.py::")]
    assert len(ids) == 10, summary
    allocated = [_kib(summary[summary.index(nodeid) + 1]) for nodeid in ids]
    assert allocated == sorted(allocated, reverse=True), allocated
    # The 4 tests of n = 6, the 4 of n = 5, then 2 of the 4 of n = 4.
    assert allocated[0] > allocated[4] > allocated[8] > 2 * allocated[-1] / 3, allocated


def test_a_summary_that_fits_keeps_one_line_per_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_at_width(pytester, monkeypatch, 250, "-k", "cs-py")
    result.assert_outcomes(passed=6, deselected=18)
    rows = [line for line in result.outlines if line.startswith("test_operations.py::")]
    assert len(rows) == 6, result.outlines
    assert all(re.search(r"\]\s+test\s+1\s+\S+ KiB", row) for row in rows), rows


def _kib(row: str) -> float:
    """The first figure of a row, in KiB."""
    found = re.search(r"test\s+1\s+([\d.]+) (KiB|MiB)", row)
    assert found is not None, row
    return float(found[1]) * (1024 if found[2] == "MiB" else 1)


# Each test allocates at 60 lines of its own: 60 call sites a phase, as a real test reaching
# into a library has hundreds. A hook records the sites each test's report carries (what the
# session keeps of it to its end, and what an xdist worker sends).
MANY_SITES = "import pytest\n\n@pytest.mark.parametrize('n', range(4))\ndef test_sites(n):\n" + "".join(
    f"    kept_{line} = [n] * {line + 10}\n" for line in range(60)
)
COUNTS_SITES = """
import json

def pytest_runtest_logreport(report):
    if getattr(report, "harness", None) is not None:
        phases = [p for t in report.harness["results"]["trials"] for p in t["phases"]]
        with open("sites.jsonl", "a") as out:
            out.write(json.dumps({"test": report.nodeid, "sites": [p["sites"] for p in phases]}) + "\\n")
"""


def test_the_session_keeps_of_each_measured_test_the_sites_a_baseline_keeps(pytester: pytest.Pytester) -> None:
    from harness.store.pytest_baseline import KEPT_SITES, OTHER_SITES

    pytester.makeconftest(COUNTS_SITES)
    pytester.makepyfile(test_many_sites=MANY_SITES)
    result = pytester.runpytest_subprocess(*ONCE[:2], "--harness", "--harness-replicates", "2", "--harness-save", "s")
    result.assert_outcomes(passed=4)
    kept = [json.loads(line) for line in pytester.path.joinpath("sites.jsonl").read_text().splitlines()]
    assert len(kept) == 4
    for test in kept:
        assert len(test["sites"]) == 2, test  # both replicates
        for sites in test["sites"]:
            # The 8 that moved most, and the other 52 summed in one.
            assert len(sites) == KEPT_SITES + 1, sites
            assert sum(s["function"] == OTHER_SITES for s in sites) == 1, sites
            assert sum(s["alloc_count"] for s in sites) >= 60, sites
    # The baseline holds the same sites, its remainder not split in two when it is made again.
    trials = read_baseline(pytester.path / "baselines" / "pytest" / "s.json").trials
    assert [len(p.sites) for t in trials for p in t.phases] == [KEPT_SITES + 1] * 8
    assert all(sum(s.function == OTHER_SITES for s in p.sites) == 1 for t in trials for p in t.phases)


# A module whose docstring binds a large list to a name, as sortedcontainers' does
# (``sl *= 1000000``), and a doctest that also puts a list in a module-level cache.
DOCTESTED = '''
"""
>>> big = [0] * 100_000
>>> len(big)
100000
>>> big[:2]
[0, 0]
"""

CACHE = []


def cached():
    """
    >>> big = [0] * 100_000
    >>> CACHE.append(list(range(1000, 2000)))
    >>> len(CACHE)
    1
    """
'''


def test_what_a_doctest_binds_to_names_is_freed_in_its_window_and_what_it_caches_is_kept(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(collection=DOCTESTED)
    result = pytester.runpytest_subprocess(*ONCE, "--doctest-modules", "--harness-save", "d")
    result.assert_outcomes(passed=2)
    figures = {
        t.experiment: t.phases[0].metrics
        for t in read_baseline(pytester.path / "baselines" / "pytest" / "d.json").trials
    }
    module, cached = figures["collection.py::collection"], figures["collection.py::collection.cached"]
    for doctest in (module, cached):
        assert doctest["alloc_bytes"] > 800_000  # the 100,000 pointers of `big`
    # `big` dies with the examples, as a function's local does: it is not kept, nor is the
    # last value displayed (`_`); some 20 small objects of doctest's own are.
    assert module["kept_bytes"] < 2_000, module
    # What the module's cache holds stays: the list (8 KB) and its 1,000 ints (28-32 B each).
    assert 36_000 < cached["kept_bytes"] - module["kept_bytes"] < 41_000, (module, cached)
    assert cached["net_bytes"] == cached["kept_bytes"], cached
