"""The HTML report, opened in headless Chromium the way a reviewer opens a CI artifact.

A tiny project is run for real twice (the second time one variant allocates more), gated,
and the pages are loaded from disk: no console error, no request but the file itself, the
verdict, the experiment ids and the charts in the DOM, the figures of the verdict on the
page, and user text with markup in it shown as text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import Browser, artifacts_dir, browser, chromium_path, each, load

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed")

HOSTILE = "<script>alert(1)</script>"
HOSTILE_PHASE = "<img src=x onerror=alert(2)>"

WORKLOADS = (
    textwrap.dedent(
        '''
    """A family whose variants hold the same items in two layouts."""
    from typing import Any

    import harness

    EXTRA = {}

    boxes = harness.family("boxes", "containers of small records")


    @boxes.variant("tuples")
    def tuples() -> list[Any]:
        """A list of tuples."""
        return []


    @boxes.variant("dicts")
    def dicts() -> list[Any]:
        """A list of dicts, one per record."""
        return []


    @boxes.workload(
        params={"n": [400], "label": [HOSTILE]},
        goal="alloc_bytes",
        bounds={"spike.peak_bytes": "64 MiB"},
    )
    def spike_drain(trial: harness.Trial, new_box: Any, n: int, label: str) -> None:
        """Fill, empty, and measure what stays."""
        box = trial.keep(new_box())
        make = (lambda i: (i, i + 1)) if new_box.__name__ == "tuples" else (lambda i: {"a": i, "b": i + 1})
        with trial.phase("spike"):
            for i in range(n + EXTRA.get(new_box.__name__, 0)):
                box.append(make(i))
            trial.ops(n)
        with trial.phase("drain"):
            del box[: n // 2]
            trial.ops(n // 2)
        with trial.phase(HOSTILE_PHASE):
            trial.ops(1)
    '''
    )
    .replace("HOSTILE_PHASE", repr(HOSTILE_PHASE))
    .replace("HOSTILE", repr(HOSTILE))
)


def harness_cli(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=project, capture_output=True, text=True, timeout=300
    )
    if check and proc.returncode not in (0, 1):
        raise AssertionError(f"harness {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project run twice: the candidate's ``dicts`` variant fills 13 times the records, far
    beyond the forest plot's axis."""
    root = tmp_path_factory.mktemp("report-project")
    (root / "pyproject.toml").write_text('[tool.harness]\nworkloads = "workloads"\nreplicates = 3\n')
    (root / "workloads").mkdir()
    module = root / "workloads" / "boxes.py"
    module.write_text(WORKLOADS)
    harness_cli(root, "run", "-n", "3", "--out", "base.json")
    module.write_text(WORKLOADS.replace("EXTRA = {}", "EXTRA = {'dicts': 4800}"))
    harness_cli(root, "run", "-n", "3", "--out", "cand.json")
    gate = harness_cli(
        root,
        "gate",
        "--baseline",
        "base.json",
        "--results",
        "cand.json",
        "--format",
        "json",
        "--out",
        "verdict.json",
        "--html",
        "gate.html",
    )
    assert gate.returncode == 1, gate.stderr
    report = harness_cli(root, "report", "verdict.json", "base.json", "cand.json", "--html", "verdict.html")
    assert report.returncode == 0, report.stderr
    single = harness_cli(root, "report", "base.json", "--html", "variants.html")
    assert single.returncode == 0, single.stderr
    return root


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as instance:
        yield instance


def verdict_rows(project: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((project / "verdict.json").read_text())["experiments"]
    return rows


def test_verdict_page_shows_the_verdict_ids_figures_and_charts(
    project: Path, chromium: Browser, tmp_path: Path
) -> None:
    page = load(chromium, project / "verdict.html")
    kept = artifacts_dir(tmp_path)
    shot = page.screenshot(kept / "report-verdict.png")
    assert shot.stat().st_size > 10_000
    shutil.copyfile(project / "verdict.html", kept / "report-verdict.html")
    assert page.evaluate("document.getElementById('verdict').textContent.trim()") == "FAIL"
    rows = verdict_rows(project)
    regressions = [r for r in rows if r["decision"] == "regression"]
    assert regressions and all(r["variant"] == "dicts" and r["phase"] == "spike" for r in regressions)
    table = page.evaluate(
        """Array.from(document.querySelectorAll('#experiments tbody tr')).map(tr => ({
            id: tr.cells[0].textContent.trim(), phase: tr.cells[1].textContent.trim(),
            delta: tr.cells[5].textContent.trim(), decision: tr.cells[7].querySelector('.badge').textContent.trim(),
            point: tr.querySelector('svg.forest rect.pt')?.getAttribute('x') ?? null,
            off: tr.querySelector('svg.forest .off-scale-value')?.textContent ?? null,
            arrow: tr.querySelector('svg.forest .off-scale path')?.getBoundingClientRect().right ?? null,
            edge: tr.querySelector('svg.forest').getBoundingClientRect().right,
            zero: Number(tr.querySelector('svg.forest line.zero').getAttribute('x1'))}))"""
    )
    assert [(r["id"], r["phase"]) for r in table] == [(r["id"], r["phase"]) for r in rows]
    for shown, row in zip(table, rows, strict=True):
        assert shown["decision"] == row["decision"].replace("_", " ")
        if row["delta_pct"] is not None:
            assert shown["delta"] == f"{float(row['delta_pct']):+.1f}%"
    # The forest plot puts a Δ on its axis as a 6 px square centred on it; the regression, 13
    # times the baseline, lies beyond the axis: an arrow at its right end, with its value.
    (regression, row) = next((t, r) for t, r in zip(table, rows, strict=True) if r["decision"] == "regression")
    assert row["delta_pct"] > 1000
    assert regression["point"] is None and regression["off"] == f"{row['delta_pct']:+.0f}%"
    assert regression["edge"] - 2 <= regression["arrow"] <= regression["edge"]
    on_axis = [t for t in table if t["off"] is None and t["point"] is not None]
    assert on_axis and all(t["arrow"] is None for t in on_axis)
    # Each badge of an experiment's header names the phase and goal it judges.
    badges = each(
        page, "section.experiment", "Array.from(e.querySelectorAll('p.badges .badge')).map(b => b.textContent.trim())"
    )
    assert sorted(b for section in badges for b in section) == sorted(
        f"{r['phase']} · {r['goal'].replace('_', ' ')} {r['decision'].replace('_', ' ')}" for r in rows
    )
    page.screenshot(kept / "report-verdict-1920.png", width=1920)
    ids = each(page, "section.experiment h3", "e.firstChild.textContent.trim()")
    assert set(ids) == {r["id"] for r in rows}
    assert page.evaluate("document.querySelectorAll('svg.strip-chart').length") == len(rows)
    assert page.evaluate("document.querySelectorAll('svg.phase-chart').length") == len({r["id"] for r in rows})
    # Every replicate of both sides is drawn: 3 + 3 dots per strip.
    assert each(page, "svg.strip-chart", "e.querySelectorAll('circle').length") == [6] * len(rows)
    bounds = each(page, "#bounds tbody tr", "e.cells[4].textContent.trim()")
    assert bounds == ["3/3", "3/3"]
    movers = page.evaluate("document.querySelectorAll('section.experiment figure.sites').length")
    assert movers >= 2


def test_gate_writes_the_same_page(project: Path, chromium: Browser) -> None:
    page = load(chromium, project / "gate.html")
    assert page.evaluate("document.getElementById('verdict').textContent.trim()") == "FAIL"
    shown = each(page, "#experiments tbody tr", "[e.cells[0].textContent.trim(), e.cells[5].textContent.trim()]")
    expected = [[r["id"], f"{float(r['delta_pct']):+.1f}%"] for r in verdict_rows(project)]
    assert shown == expected


def test_each_reason_is_shown_once(project: Path, chromium: Browser, tmp_path: Path) -> None:
    # A verdict whose side failed repeats that side's reason on every row: the page says it once.
    verdict = json.loads((project / "verdict.json").read_text())
    reasons = verdict["reasons"]
    assert reasons
    verdict["reasons"] = reasons * 3
    stored = tmp_path / "repeated.json"
    stored.write_text(json.dumps(verdict))
    done = harness_cli(project, "report", str(stored), "--html", str(tmp_path / "repeated.html"))
    assert done.returncode == 0, done.stderr
    page = load(chromium, tmp_path / "repeated.html")
    assert each(page, "header.page ul.bad li") == reasons


def test_hostile_user_text_is_shown_as_text(project: Path, chromium: Browser) -> None:
    for name in ("verdict.html", "variants.html"):
        page = load(chromium, project / name)
        assert page.evaluate("document.scripts.length") == 1
        assert page.evaluate("document.querySelectorAll('img').length") == 0
        text = page.evaluate("document.body.textContent")
        assert HOSTILE in text and HOSTILE_PHASE in text
        assert page.dialogs == []


def test_experiments_table_sorts_and_filters(project: Path, chromium: Browser) -> None:
    page = load(chromium, project / "verdict.html")
    deltas = page.evaluate(
        """(() => { const th = document.querySelectorAll('#experiments thead th')[5];
        const order = () => Array.from(document.querySelectorAll('#experiments tbody tr'))
            .map(tr => Number(tr.cells[5].dataset.sort));
        th.click(); const first = order(); th.click(); const second = order();
        return [first, second]; })()"""
    )
    assert deltas[0] == sorted(deltas[0]) and deltas[1] == sorted(deltas[1], reverse=True)
    visible = page.evaluate(
        """(() => { const form = document.getElementById('filters');
        form.elements.q.value = 'dicts'; form.dispatchEvent(new Event('input'));
        const q = Array.from(document.querySelectorAll('#experiments tbody tr')).filter(tr => !tr.hidden).length;
        form.elements.q.value = ''; form.elements.changed.checked = true; form.dispatchEvent(new Event('change'));
        const changed = Array.from(document.querySelectorAll('#experiments tbody tr')).filter(tr => !tr.hidden).length;
        return [q, changed, document.querySelector('[data-count]').textContent]; })()"""
    )
    rows = verdict_rows(project)
    assert visible[0] == sum(1 for r in rows if r["variant"] == "dicts")
    assert visible[1] == sum(1 for r in rows if r["decision"] != "no_change")
    assert visible[2] == f"showing {visible[1]} of {len(rows)}"


def test_variants_page_names_the_variant_that_allocates_least(project: Path, chromium: Browser, tmp_path: Path) -> None:
    results = json.loads((project / "base.json").read_text())
    totals: dict[str, list[float]] = {}
    for trial in results["trials"]:
        variant = trial["experiment"].split("[")[1].split(",")[0]
        totals.setdefault(variant, []).append(sum(p["metrics"]["alloc_bytes"] for p in trial["phases"]))
    means = {v: sum(x) / len(x) for v, x in totals.items()}
    least, most = sorted(means, key=means.__getitem__)
    page = load(chromium, project / "variants.html")
    assert page.screenshot(artifacts_dir(tmp_path) / "report-variants.png").stat().st_size > 10_000
    winners = each(page, "#overview tbody tr td:nth-child(5)")
    assert winners == [least]
    ratio = page.evaluate(
        f"""Array.from(document.querySelectorAll('table.headlines tbody tr'))[0]
        .cells[1 + Array.from(document.querySelectorAll('table.headlines thead th')).slice(1)
        .map(th => th.textContent.trim()).indexOf({json.dumps(most)})].querySelector('.ratio').textContent"""
    )
    assert ratio == f"\N{MULTIPLICATION SIGN}{means[most] / means[least]:.2f}"
    assert page.evaluate("document.querySelectorAll('svg.strip-chart').length") >= 2
    assert page.evaluate("document.querySelectorAll('svg.phase-chart').length") == 2


def test_print_layout_hides_the_controls(project: Path, chromium: Browser) -> None:
    page = load(chromium, project / "verdict.html")
    chromium.call("Emulation.setEmulatedMedia", {"media": "print"}, page.session)
    assert page.evaluate("getComputedStyle(document.getElementById('filters')).display") == "none"


def test_report_refuses_bad_input_with_one_line(project: Path, tmp_path: Path) -> None:
    missing = harness_cli(project, "report", str(tmp_path / "none.json"), "--html", "x.html", check=False)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no such file" in missing.stderr
    odd = harness_cli(project, "report", "verdict.json", "base.json", "--html", "x.html", check=False)
    assert odd.returncode == 2 and "VERDICT [BASELINE RESULTS]" in odd.stderr
    assert not (project / "x.html").exists()
