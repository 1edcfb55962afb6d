"""Answers down to the line, and changes from or to zero read as absolute changes.

A small project is run for real twice with the native backend. Its ``requests`` function keeps
objects at two lines in the baseline, as a leak would, and none in the candidate (the fix);
another phase keeps nothing in the baseline and something in the candidate. ``explain``, the
verdict's movers and call paths, and the flame graph read in Chromium must name each of the
two lines; the verdict must write both changes as absolute (``0 B → ...``), never as ``+∞%``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import Browser, artifacts_dir, browser, chromium_path

from harness.measure.capture import native_available

pytestmark = pytest.mark.skipif(not native_available(), reason="the native extension is not built here")

WORKLOADS = textwrap.dedent(
    '''
    """A function that keeps objects at two lines (a leak), and a phase that starts keeping some.

    map() makes the objects in C, so that each line is the innermost Python frame of its own.
    """
    from typing import Any

    import harness

    LEAK = 1
    GROW = 0

    lines = harness.family("lines", "keeps at two lines of one function")


    def requests(box: list[Any], n: int) -> None:
        box.extend(map(str, range(1000, 1000 + n * LEAK)))
        box.extend(map(bytes, [48] * (n * LEAK)))


    def grow(box: list[Any], n: int) -> None:
        box.extend(map(hex, range(1000, 1000 + n * GROW)))


    @lines.variant("plain")
    def plain() -> list[Any]:
        return []


    @lines.workload(params={"n": [200]}, goal="kept_bytes")
    def churn(trial: harness.Trial, new_box: Any, n: int) -> None:
        box = trial.keep(new_box())
        with trial.phase("pop"):
            requests(box, n)
            trial.ops(n)
        with trial.phase("fill"):
            grow(box, n)
            trial.ops(n)
    '''
)
ID = "lines.churn[plain,n=200]"


def line_of(code: str) -> int:
    (number,) = [i for i, text in enumerate(WORKLOADS.splitlines(), 1) if code in text]
    return number


#: The two lines of ``requests`` that keep objects in the baseline, and the one of ``grow``.
STR_LINE, BYTES_LINE = line_of("map(str,"), line_of("map(bytes,")


def harness_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=project, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lines-project")
    (root / "pyproject.toml").write_text('[tool.harness]\nworkloads = "workloads"\n')
    (root / "workloads").mkdir()
    module = root / "workloads" / "lines.py"
    module.write_text(WORKLOADS)
    run = ("run", "-n", "2", "--backend", "native", "--out")
    assert harness_cli(root, *run, "base.json").returncode == 0
    module.write_text(WORKLOADS.replace("LEAK = 1", "LEAK = 0").replace("GROW = 0", "GROW = 1"))
    assert harness_cli(root, *run, "cand.json").returncode == 0
    sides = ("--baseline", "base.json", "--results", "cand.json")
    text = harness_cli(root, "gate", *sides, "--json", "verdict.json", "--html", "report.html")
    assert text.returncode == 1, text.stderr
    (root / "verdict.txt").write_text(text.stdout)
    markdown = harness_cli(root, "gate", *sides, "--format", "markdown", "--out", "comment.md")
    assert markdown.returncode == 1, markdown.stderr
    return root


def rows(project: Path) -> dict[str, dict[str, Any]]:
    verdict = json.loads((project / "verdict.json").read_text())
    return {row["phase"]: row for row in verdict["experiments"] if row["id"] == ID}


def test_explain_names_each_changed_line(project: Path) -> None:
    args = ("explain", ID, "--baseline", "base.json", "--results", "cand.json", "--figure", "kept_bytes")
    done = harness_cli(project, *args, "--phase", "pop")
    assert done.returncode == 0, done.stderr
    for line in (STR_LINE, BYTES_LINE):
        assert f"> requests (workloads/lines.py:{line})" in done.stdout, done.stdout
    data = json.loads(harness_cli(project, *args, "--phase", "pop", "--format", "json").stdout)
    (phase,) = data["phases"]
    innermost = {(p["stack"][-1]["function"], p["stack"][-1]["line"]): p["delta_bytes"] for p in phase["paths"]}
    changed = {key: delta for key, delta in innermost.items() if key[0] == "requests"}
    # Both lines kept 200 objects each in the baseline and none in the candidate.
    assert set(changed) == {("requests", STR_LINE), ("requests", BYTES_LINE)}
    assert all(delta < -200 * 40 for delta in changed.values())
    by_function = json.loads(
        harness_cli(project, *args, "--phase", "pop", "--format", "json", "--by", "function").stdout
    )
    merged = [p for p in by_function["phases"][0]["paths"] if p["stack"][-1]["function"] == "requests"]
    (path,) = merged
    assert path["stack"][-1]["line"] == 0 and path["delta_bytes"] == pytest.approx(sum(changed.values()))


def test_the_verdict_names_the_lines_of_the_movers_and_paths(project: Path) -> None:
    pop = rows(project)["pop"]
    (mover,) = [s for s in pop["top_sites"] if s["site"].startswith("requests ")]
    lines = mover["site"].removeprefix("requests (workloads/lines.py:").removesuffix(")")
    assert sorted(int(n) for n in lines.split(", ")) == [STR_LINE, BYTES_LINE]
    assert (mover["function"], mover["file"]) == ("requests", "workloads/lines.py")
    assert sorted(mover["lines"]) == [STR_LINE, BYTES_LINE]
    innermost = {p["frames"][-1]["line"] for p in pop["top_paths"] if p["frames"][-1]["function"] == "requests"}
    assert innermost == {STR_LINE, BYTES_LINE}
    assert {p["stack"][-1] for p in pop["top_paths"] if p["frames"][-1]["function"] == "requests"} == {
        f"requests (workloads/lines.py:{STR_LINE})",
        f"requests (workloads/lines.py:{BYTES_LINE})",
    }


def test_a_change_from_zero_reads_absolute_in_json_text_and_markdown(project: Path) -> None:
    from harness.declare.units import format_bytes

    fill, pop = rows(project)["fill"], rows(project)["pop"]
    # Exact figures (the native backend) that go from nothing to something: a regression
    # whatever the tolerance, with no percent.
    assert fill["baseline_mean"] == 0 and fill["candidate_mean"] > 0
    assert fill["from_zero"] is True and fill["decision"] == "regression"
    assert fill["delta_pct"] is None and fill["ci_low_pct"] is None and fill["ci_high_pct"] is None
    assert fill["delta_abs"] == fill["candidate_mean"]
    # To zero: the percent exists (-100) and stays; the reports write the absolute change.
    assert pop["candidate_mean"] == 0 and pop["from_zero"] is False and pop["delta_pct"] == -100
    assert pop["delta_abs"] == -pop["baseline_mean"] and pop["decision"] == "improvement"
    grown = format_bytes(fill["candidate_mean"])
    fixed = format_bytes(pop["baseline_mean"])
    for report in ("verdict.txt", "comment.md"):
        text = (project / report).read_text()
        assert "∞" not in text, report
        assert f"0 B → {grown} (+{grown})" in text, (report, text)
        assert f"{fixed} → 0 B (-{fixed})" in text, (report, text)
    fill_line = next(line for line in (project / "verdict.txt").read_text().splitlines() if "fill" in line)
    assert "regression" in fill_line
    assert f"fill.kept_bytes: regression 0 B → {grown} (+{grown})" in (project / "verdict.txt").read_text()


needs_chromium = pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as instance:
        yield instance


@needs_chromium
def test_the_flame_graph_names_each_line_and_merges_them_by_function(
    project: Path, chromium: Browser, tmp_path: Path
) -> None:
    from harness.reports.flame import flame_anchor

    done = harness_cli(
        project,
        "explain",
        ID,
        "--baseline",
        "base.json",
        "--results",
        "cand.json",
        "--figure",
        "kept_bytes",
        "--phase",
        "pop",
        "--html",
        "flame.html",
    )
    assert done.returncode == 0, done.stderr
    page = chromium.open((project / "flame.html").resolve().as_uri())
    assert page.errors == [], page.errors
    anchor = "#" + flame_anchor(ID, "pop", "kept_bytes")
    texts = "Array.from(document.querySelectorAll(SELECTOR)).map(e => e.querySelector('text').textContent)"
    by_line = page.evaluate(texts.replace("SELECTOR", json.dumps(anchor + " svg.frame")))
    for line in (STR_LINE, BYTES_LINE):
        assert f"requests (workloads/lines.py:{line})" in by_line, by_line
    # The function view, one click away: both lines merged into one frame, its label now shown.
    section = f"document.querySelector({json.dumps(anchor + ' + details.flame-by-function')})"
    assert page.evaluate(f"{section}.open") is False
    page.evaluate(f"{section}.querySelector('summary').click()")
    merged_anchor = anchor + "-by-function"
    by_function = page.evaluate(texts.replace("SELECTOR", json.dumps(merged_anchor + " svg.frame")))
    assert by_function.count("requests (workloads/lines.py)") == 1, by_function
    assert not any(text.startswith("requests (workloads/lines.py:") for text in by_function)
    shown = f"""Array.from(document.querySelectorAll({json.dumps(merged_anchor + " svg.frame")}))
        .filter(e => e.querySelector('text').textContent === 'requests (workloads/lines.py)')
        .map(e => e.querySelector('text').style.display)"""
    assert page.evaluate(shown) == [""]
    page.element_screenshot(artifacts_dir(tmp_path) / "flame-lines.png", anchor)
    assert page.errors == []


@needs_chromium
def test_the_gate_page_names_the_lines_of_its_movers_and_writes_changes_from_zero_absolute(
    project: Path, chromium: Browser
) -> None:
    from harness.declare.units import format_bytes

    page = chromium.open((project / "report.html").resolve().as_uri())
    assert page.errors == [], page.errors
    movers = page.evaluate(
        """Array.from(document.querySelectorAll('figure.sites')).filter(f => /top movers/.test(f.textContent))
        .flatMap(f => Array.from(f.querySelectorAll('tbody tr')))
        .map(r => Array.from(r.cells).map(c => c.textContent))"""
    )
    (requests,) = [row for row in movers if row[0] == "requests"]
    assert requests[1] in {f"workloads/lines.py:{a}, {b}" for a, b in ((STR_LINE, BYTES_LINE), (BYTES_LINE, STR_LINE))}
    table = page.evaluate("document.querySelector('#experiments').innerText")
    grown = format_bytes(rows(project)["fill"]["candidate_mean"])
    assert f"0 B → {grown} (+{grown})" in table and "∞" not in table, table
