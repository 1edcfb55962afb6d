"""Golden tests of the verdict's three formats, and the markdown as a PR comment renders it.

The inputs, ``golden/baseline.json`` and ``golden/candidate.json``, are two real runs of a small
project (made by ``python tests/end_to_end/test_gate_golden.py``, which runs it and removes what varies by
machine: paths, host, times). Between them one variant allocates 10% more (a regression),
another the same but marked erratic, one less (an improvement), one is unchanged, one was
removed and one added. Set ``HARNESS_UPDATE_GOLDEN=1`` to rewrite the expected outputs after
an intended change of format, and read the diff.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from harness.compare.gate import GateOptions, compare
from harness.compare.verdict import Verdict, read_verdict
from harness.reports import figures, json_report, markdown, text
from harness.store.baselines import read_baseline
from harness.store.results import read_results

GOLDEN = Path(__file__).parent / "golden"
ERRATIC = ("store.fill[jitter*",)
RENDERERS = {"verdict.txt": text.render, "verdict.md": markdown.render, "verdict.json": json_report.render}


def golden_verdict() -> Verdict:
    baseline = read_baseline(str(GOLDEN / "baseline.json"), GOLDEN)
    candidate = read_results(GOLDEN / "candidate.json")
    return compare(baseline.results, candidate, GateOptions(erratic=ERRATIC), baseline_info=baseline.info)


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_each_format_matches_its_golden_file(name: str) -> None:
    rendered = RENDERERS[name](golden_verdict())
    path = GOLDEN / name
    if os.environ.get("HARNESS_UPDATE_GOLDEN"):
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8")


def test_the_golden_pair_holds_every_decision() -> None:
    verdict = golden_verdict()
    decisions = {row.variant: (row.decision, row.erratic) for row in verdict.experiments}
    assert decisions == {
        "blobs": ("regression", False),
        "jitter": ("regression", True),
        "lean": ("improvement", False),
        "steady": ("no_change", False),
        "fresh": ("new", False),
        "legacy": ("missing", False),
    }
    assert not verdict.passed
    # The erratic regression is shown but does not gate: the reasons name blobs only.
    assert [r for r in verdict.reasons if "regression" in r] == [
        r for r in verdict.reasons if "blobs" in r and "regression" in r
    ]
    assert len([r for r in verdict.reasons if "regression" in r]) == 1


def test_the_json_format_reads_back_as_the_same_verdict(tmp_path: Path) -> None:
    verdict = golden_verdict()
    (tmp_path / "v.json").write_text(json_report.render(verdict))
    assert read_verdict(tmp_path / "v.json") == verdict


def test_the_cli_writes_the_golden_markdown(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.harness]\nerratic = {json.dumps(list(ERRATIC))}\n")
    out = tmp_path / "comment.md"
    files = ["--baseline", str(GOLDEN / "baseline.json"), "--results", str(GOLDEN / "candidate.json")]
    done = subprocess.run(
        [sys.executable, "-m", "harness", "gate", *files, "--format", "markdown", "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert out.read_text(encoding="utf-8") == (GOLDEN / "verdict.md").read_text(encoding="utf-8")


def cells_of(html: str) -> list[list[str]]:
    """Every table row of rendered HTML as its cells' text."""
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        rows.append([re.sub(r"<[^>]+>", "", c) for c in cells])
    return rows


def test_the_markdown_renders_as_a_pr_comment_with_its_tables() -> None:
    verdict = golden_verdict()
    source = markdown.render(verdict)
    assert source.startswith(markdown.MARKER + "\n")
    html = MarkdownIt("commonmark").enable("table").render(source)
    movers = [r for r in verdict.experiments if r.top_sites]
    assert len(movers) == 3  # the two regressions and the improvement
    # Significant changes, fine details, one table of top movers and one of call paths per
    # change, bounds checks.
    assert all(r.top_paths for r in movers)
    assert html.count("<table>") == 3 + 2 * len(movers)
    assert markdown.MARKER in html  # kept as an HTML comment: invisible, findable by a bot
    rows = cells_of(html)
    for row in verdict.experiments:
        expected = [
            figures.mark(row),
            row.id + (" (erratic)" if row.erratic else ""),
            figures.goal(row),
            figures.delta(row),
            figures.interval(row),
            figures.trials(row),
        ]
        assert expected in [r[:6] for r in rows], expected
    blobs = next(r for r in verdict.experiments if r.variant == "blobs")
    assert blobs.delta_pct is not None and blobs.ci_low_pct is not None and blobs.ci_high_pct is not None
    assert ["❌", blobs.id, "fill.net_bytes_per_op", f"{blobs.delta_pct:+.2f}"] in [r[:4] for r in rows]
    site = blobs.top_sites[0]
    assert [site.site, figures.bytes_delta(site.baseline), figures.bytes_delta(site.candidate)] in [r[:3] for r in rows]
    for row, check in verdict.bound_checks():
        mark = "✅" if check.passed else "❌"
        assert [mark, row.id, check.name] in [r[:3] for r in rows]
        assert f"{check.replicates_passed}/{check.replicates}" in html
    assert "<h3>CI Pass/Fail Decision</h3>" in html
    assert "<p>❌ Failed. " in html
    assert "Confidence level: 90.00%" in html and "|Δ mean %| ≥ 5.00%" in html


WORKLOAD = """
import harness

store = harness.family("store", "a store of byte blobs")


class Blobs:
    EXTRA = 0  # one in every EXTRA adds also keeps a second blob (0: never)

    def __init__(self, capacity):
        self.slots = [None] * (2 * capacity)

    def add(self, i, size):
        self.slots[2 * i] = bytes(size)
        if self.EXTRA and i % self.EXTRA == 0:
            self.slots[2 * i + 1] = bytes(size)


VARIANTS = {VARIANTS}
for name, extra in VARIANTS.items():
    store.variant(name)(type(name, (Blobs,), {{"EXTRA": extra}}))


@store.workload(params={{"ops": [1000]}}, goal="fill.net_bytes_per_op", bounds={{"fill.peak_bytes": "2 MiB"}})
def fill(trial, new, ops):
    blobs = trial.keep(new(ops))
    sizes = [trial.rng.randrange(400, 1600) for _ in range(ops)]
    with trial.phase("fill"):
        for i in range(ops):
            blobs.add(i, sizes[i])
        trial.ops(ops)
"""
SIDES = {
    "baseline": {"blobs": 0, "jitter": 0, "lean": 4, "steady": 0, "legacy": 0},
    "candidate": {"blobs": 10, "jitter": 10, "lean": 0, "steady": 0, "fresh": 0},
}


def _scrub(data: dict[str, object], root: Path) -> dict[str, object]:
    """The results without what varies by machine and time."""
    text_ = json.dumps(data).replace(str(root), "/project")
    clean = json.loads(text_)
    clean["created"] = "2026-01-01T00:00:00+00:00"
    clean["environment"].update(
        hostname="ci", platform="Linux", project_root="/project", python_version="3.11.7", harness_version="0.1.0"
    )
    clean["environment"]["git_commit"] = "1" * 40 if "legacy" in text_ else "2" * 40
    clean["environment"]["git_dirty"] = False
    if "baseline" in clean:
        clean["baseline"].update(created="2026-01-01T00:00:00+00:00", source="reports/results.json")
    for trial in clean["trials"]:
        trial["rss_peak_bytes"] = 20 * 1024 * 1024
    return clean


def make_inputs(work: Path) -> None:
    """Run the golden project on both sides and store the two results files, scrubbed."""
    for side, variants in SIDES.items():
        root = work / side
        (root / "workloads").mkdir(parents=True)
        (root / "pyproject.toml").write_text('[tool.harness]\nbackend = "tracemalloc"\nreplicates = 3\ntop_sites = 3\n')
        source = textwrap.dedent(WORKLOAD).replace("{VARIANTS}", repr(variants)).replace("{{", "{").replace("}}", "}")
        (root / "workloads" / "store.py").write_text(source)
        cli = [sys.executable, "-m", "harness"]
        subprocess.run([*cli, "run"], cwd=root, check=True)
        if side == "baseline":
            subprocess.run([*cli, "baseline", "save", "main"], cwd=root, check=True)
            produced = root / "baselines" / "main.json"
        else:
            produced = root / "reports" / "results.json"
        data = json.loads(produced.read_text())
        (GOLDEN / f"{side}.json").write_text(json.dumps(_scrub(data, root), indent=1) + "\n")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        make_inputs(Path(scratch))
