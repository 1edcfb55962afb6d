"""The ``harness`` pytest plugin, driven through pytest itself (``pytester``) as a project would."""

from __future__ import annotations

import json
import re

import pytest

pytest_plugins = ["pytester"]

# Exactly K allocations per operation: a loop with no calls but K object creations (a call
# would add the interpreter's own transient frame objects to the count).
MAKES = """
import itertools
import pytest

class Sized:
    __slots__ = ("link",)

def make(trial):
    with trial.phase("make"):
        for _ in itertools.repeat(None, 10_000):
            a = Sized(); b = Sized(); c = Sized()
        trial.ops(10_000)

@pytest.mark.harness_limits(alloc_count_per_op=3.5)
def test_within(harness_trial):
    make(harness_trial)

@pytest.mark.harness_limits({"make.alloc_count_per_op": 2})
def test_over(harness_trial):
    make(harness_trial)

def test_untouched():
    assert 1 + 1 == 2
"""


def test_limits_pass_and_fail_with_the_figure_the_limit_and_the_sites(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_allocs=MAKES)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "harness limit exceeded in test_allocs.py::test_over" in out
    # The figure (3 objects per op, plus the loop's few fixed allocations) and the limit.
    figure = re.search(r"make\.alloc_count_per_op = (\S+) > limit 2\b", out)
    assert figure is not None, out
    assert 3.0 <= float(figure.group(1)) < 3.01
    # The top call site is the line making the three objects: 30k allocations.
    site = re.search(r"top call sites of phase make by alloc_count:\n\s+(\S+)\s+make \(test_allocs\.py:(\d+)\)", out)
    assert site is not None, out
    assert site.group(1) == "30k"
    assert (
        pytester.path.joinpath("test_allocs.py")
        .read_text()
        .splitlines()[int(site.group(2)) - 1]
        .strip()
        .startswith("a = Sized()")
    )


GROWS = """
import pytest

@pytest.mark.harness(goal="make.alloc_bytes_per_op")
def test_build(harness_trial):
    keys = list(range(2000))
    with harness_trial.phase("make"):
        table = {{k: [k] * {width} for k in keys}}
        harness_trial.ops(len(keys))
"""


def test_baseline_passes_on_the_same_code_and_fails_on_a_regression(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_grow=GROWS.format(width=1))
    args = ("-p", "no:cacheprovider", "--harness-replicates", "2")
    saved = pytester.runpytest_subprocess(*args, "--harness-save", "main")
    saved.assert_outcomes(passed=1)
    baseline = json.loads(pytester.path.joinpath("baselines", "pytest", "main.json").read_text())
    assert baseline["schema"] == "harness.results/1"
    assert [e["id"] for e in baseline["experiments"]] == ["test_grow.py::test_build"]
    assert len(baseline["trials"]) == 2 and all(t["status"] == "ok" for t in baseline["trials"])

    same = pytester.runpytest_subprocess(*args, "--harness-baseline", "main")
    same.assert_outcomes(passed=1)

    # Lists of 8 items instead of 1: more bytes per op on every seed.
    pytester.makepyfile(test_grow=GROWS.format(width=8))
    grown = pytester.runpytest_subprocess(*args, "--harness-baseline", "main")
    grown.assert_outcomes(failed=1)
    out = grown.stdout.str()
    assert "harness regression in test_grow.py::test_build against baseline 'main'" in out
    delta = re.search(r"make\.alloc_bytes_per_op: \S+ \S+ -> \S+ \S+ \(\+(\d+\.\d)%", out)
    assert delta is not None, out
    assert float(delta.group(1)) > 20  # 8-item lists (120 B) instead of 1-item ones (64 B)


def test_a_missing_baseline_is_one_clear_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_grow=GROWS.format(width=1))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--harness-baseline", "nope", "--harness-replicates", "1"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no pytest baseline 'nope'*make one with --harness-save nope*"])
