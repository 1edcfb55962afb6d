"""Call sites from the interpreter's own frames, on every CPython the native backend reads:
named by file, line and function, adding up to the totals, and a change two calls deep
charged to the caller whose path changed, the other's Δ exactly zero."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.measure.capture import native_available
from tests.end_to_end.test_engine import harness_cli, make_project

pytestmark = pytest.mark.skipif(not native_available(), reason="the native extension is not built here")

FIGURES = ("alloc_count", "alloc_bytes", "kept_count", "kept_bytes", "net_count", "net_bytes")
N = 3000

WORKLOADS = f"""
import harness

EXTRA = False

paths = harness.family("paths")

@paths.variant("plain")
def plain():
    return None

def leaf(i, extra):
    made = [i, i]
    if extra:
        made.append(str(i))
    return made

def middle(i, extra):
    return leaf(i, extra)

def first_caller(i):
    return middle(i, EXTRA)

def second_caller(i):
    return middle(i, False)

@paths.workload(params={{"n": [{N}]}})
def two_callers(trial, new, n):
    kept = trial.keep([])
    with trial.phase("calls"):
        for i in range(n):
            kept.append(first_caller(i))
            kept.append(second_caller(i))
        trial.ops(n)
"""


def run(project: Path) -> dict[str, Any]:
    out = project / "results.json"
    result = harness_cli(project, "run", "paths.*", "-n", "1", "--backend", "native", "--out", str(out))
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(out.read_text())
    return data


@pytest.fixture(scope="module")
def before(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run(make_project(tmp_path_factory.mktemp("before"), {"paths": WORKLOADS}))


@pytest.fixture(scope="module")
def after(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    changed = WORKLOADS.replace("EXTRA = False", "EXTRA = True")
    return run(make_project(tmp_path_factory.mktemp("after"), {"paths": changed}))


def the_phase(data: dict[str, Any]) -> dict[str, Any]:
    [trial] = data["trials"]
    [phase] = trial["phases"]
    return phase


def by_caller(phase: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Each figure summed over the sites whose stack runs through each caller."""
    groups: dict[str, dict[str, int]] = {}
    for site in phase["sites"]:
        functions = [frame.rsplit(":", 1)[1] for frame in site["stack"]]
        caller = next((f for f in functions if f.endswith("_caller")), functions[0])
        group = groups.setdefault(caller, dict.fromkeys(FIGURES, 0))
        for name in FIGURES:
            group[name] += site[name]
    return groups


def test_sites_are_named_by_file_line_and_function_and_add_up(before: dict[str, Any]) -> None:
    assert before["environment"]["sites"] == "python"
    phase = the_phase(before)
    for name in FIGURES:
        assert sum(site[name] for site in phase["sites"]) == phase["metrics"][name], name
    leaf = [site for site in phase["sites"] if site["function"] == "leaf"]
    assert leaf, phase["sites"]
    for site in leaf:
        assert site["file"].endswith("paths.py") and site["line"] > 0
        # The whole path down from the workload: leaf, middle, a caller, the workload.
        assert [frame.rsplit(":", 1)[1] for frame in site["stack"][:4]][1:] in (
            ["middle", "first_caller", "two_callers"],
            ["middle", "second_caller", "two_callers"],
        )
    assert sum(site["kept_count"] for site in leaf) == 4 * N
    assert all(site["file"] != "<native>" for site in phase["sites"])


def test_a_change_two_calls_deep_moves_its_caller_only(before: dict[str, Any], after: dict[str, Any]) -> None:
    old, new = by_caller(the_phase(before)), by_caller(the_phase(after))
    assert new["second_caller"] == old["second_caller"]
    assert old["second_caller"]["kept_count"] == 2 * N  # a list and its item array per call
    moved = {name: new["first_caller"][name] - old["first_caller"][name] for name in FIGURES}
    # One str per call, kept (the append also regrows each list's item array).
    assert moved["kept_count"] == N
    assert moved["alloc_count"] >= N
    assert moved["kept_bytes"] >= N * sys.getsizeof("0")
    rest = set(old) - {"first_caller", "second_caller"}
    assert {name: new.get(name) for name in rest} == {name: old[name] for name in rest}


def test_a_run_without_call_sites_says_so_in_the_report_and_in_explain(before: dict[str, Any], tmp_path: Path) -> None:
    # No CPython here lacks a frame reader, so the run is one whose file says it had none, as
    # a future version's would.
    blind = {**before, "environment": {**before["environment"], "sites": "none"}}
    results = tmp_path / "blind.json"
    results.write_text(json.dumps(blind))
    report = harness_cli(tmp_path, "report", str(results), "--html", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "report.html").read_text()
    assert "Not seen in this run: call sites were not recorded: the native backend has no frame reader" in page
    [trial] = before["trials"]
    explained = harness_cli(
        tmp_path, "explain", trial["experiment"], "--baseline", str(results), "--results", str(results)
    )
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.startswith("not seen in this run: call sites were not recorded")
    # A run that saw everything says nothing of the kind.
    full = tmp_path / "full.json"
    full.write_text(json.dumps(before))
    harness_cli(tmp_path, "report", str(full), "--html", str(tmp_path / "full.html"))
    assert "Not seen in this run" not in (tmp_path / "full.html").read_text()


def test_a_backend_blind_to_c_allocations_says_so_once(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"paths": WORKLOADS})
    result = harness_cli(project, "run", "paths.*", "-n", "2", "--backend", "tracemalloc", "--out", "r.json")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("allocations made by C code through malloc are not seen") == 1
    assert json.loads((project / "r.json").read_text())["environment"]["c_allocations"].startswith("not seen")
