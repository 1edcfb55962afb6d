"""Delta call-frame trees and ``harness explain`` on a regression injected two calls deep.

A small project is run for real twice with the native backend: one helper is reached from two
callers, and in the candidate only ``from_left`` asks it for more. The trees, the verdict's
call paths, ``explain`` (text and JSON) and the markdown comment must all put the change
under ``from_left`` and show exactly nothing under ``from_right``, nor anywhere in a variant
whose code did not change.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from _browser import Browser, artifacts_dir, browser, chromium_path

from harness.compare.calltree import FlameTree, FrameNode, flame_tree, trees_of
from harness.store.results import read_results
from harness.store.sites import Grain

#: A comprehension runs in a frame of its own before CPython 3.12; PEP 709 inlines it since.
COMPREHENSION = ["<listcomp>"] if sys.version_info < (3, 12) else []
INNERMOST = "<listcomp>" if COMPREHENSION else "helper"

WORKLOADS = textwrap.dedent(
    '''
    """A helper reached from two callers; the candidate changes one caller only."""
    from typing import Any

    import harness

    EXTRA = 0

    paths = harness.family("paths", "a helper reached from two callers")



    def helper(n: int) -> list[Any]:
        return [str(i) for i in range(n)]


    def from_left(n: int) -> list[Any]:
        return helper(n + EXTRA)


    def from_right(n: int) -> list[Any]:
        return helper(n)


    def steady(n: int) -> list[Any]:
        return helper(n)


    @paths.variant("plain")
    def plain() -> list[Any]:
        return []


    @paths.variant("other")
    def other() -> list[Any]:
        return []


    @paths.workload(params={"n": [300]}, goal="alloc_bytes")
    def two_callers(trial: harness.Trial, new_box: Any, n: int) -> None:
        box = trial.keep(new_box())
        with trial.phase("fill"):
            for _ in range(5):
                if new_box.__name__ == "plain":
                    box.append(from_left(n))
                    box.append(from_right(n))
                else:
                    box.append(steady(n))
            trial.ops(n)
    '''
)
PLAIN = "paths.two_callers[plain,n=300]"


def line_of(code: str) -> int:
    """The line of ``workloads/paths.py`` that holds ``code``."""
    (number,) = [i for i, text in enumerate(WORKLOADS.splitlines(), 1) if code in text]
    return number


#: The lines of the calls on the changed path: the workload's call, the caller's, the helper's list.
LEFT_CALL, LEFT_LINE, HELPER_LINE = (
    line_of("box.append(from_left(n))"),
    line_of("return helper(n + EXTRA)"),
    line_of("return [str(i) for i in range(n)]"),
)
OTHER = "paths.two_callers[other,n=300]"


def harness_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=project, capture_output=True, text=True, timeout=300
    )


def make_project(root: Path) -> Path:
    """The project run twice (native backend, 3 replicates); the candidate's ``from_left`` asks for 200 more."""
    (root / "pyproject.toml").write_text('[tool.harness]\nworkloads = "workloads"\nreplicates = 3\n')
    (root / "workloads").mkdir()
    module = root / "workloads" / "paths.py"
    module.write_text(WORKLOADS)
    assert harness_cli(root, "run", "-n", "3", "--backend", "native", "--out", "base.json").returncode == 0
    module.write_text(WORKLOADS.replace("EXTRA = 0", "EXTRA = 200"))
    assert harness_cli(root, "run", "-n", "3", "--backend", "native", "--out", "cand.json").returncode == 0
    gate = harness_cli(
        root,
        "gate",
        "--baseline",
        "base.json",
        "--results",
        "cand.json",
        "--format",
        "markdown",
        "--out",
        "comment.md",
        "--json",
        "verdict.json",
        "--html",
        "report.html",
    )
    assert gate.returncode == 1, gate.stderr
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield make_project(tmp_path_factory.mktemp("flame-project"))


def child(node: FrameNode, function: str) -> FrameNode:
    found = [c for c in node.children if c.frame.function == function]
    assert len(found) == 1, [c.frame.label for c in node.children]
    return found[0]


def every_node(node: FrameNode) -> Iterator[FrameNode]:
    yield node
    for c in node.children:
        yield from every_node(c)


def fill_tree(
    project: Path, experiment: str = PLAIN, figure: str = "alloc_bytes", grain: Grain = "function"
) -> FlameTree:
    trees = trees_of(
        experiment,
        read_results(project / "base.json"),
        read_results(project / "cand.json"),
        figure=figure,
        grain=grain,
    )
    assert [t.phase for t in trees] == ["fill"]
    return trees[0]


def test_the_change_sits_under_the_caller_that_changed(project: Path) -> None:
    tree = fill_tree(project)
    assert tree.has_stacks and tree.baseline_replicates == tree.candidate_replicates == (0, 1, 2)
    top = child(tree.root, "two_callers")
    left, right = child(top, "from_left"), child(top, "from_right")
    # 200 more str objects per call, 5 calls: at least 200 * 5 * 40 bytes more, all under from_left.
    assert tree.delta(left) >= 200 * 5 * 40
    assert tree.delta(right) == 0.0
    assert tree.delta(top) == tree.delta(left) == tree.delta(tree.root)
    assert tree.delta(child(left, "helper")) == tree.delta(left)
    assert left.candidate.count - left.baseline.count >= 200 * 5
    # The same helper under the unchanged caller: every frame below it exactly 0.
    assert all(tree.delta(n) == 0.0 and n.baseline == n.candidate for n in every_node(right))
    # Widths add up: a frame holds its own allocations and its callees'.
    for node in every_node(tree.root):
        assert node.candidate.bytes == pytest.approx(
            node.self_candidate.bytes + sum(c.candidate.bytes for c in node.children)
        )
    # No frame of harness's own trial runner.
    assert not any("harness" in n.frame.file.split("/")[:1] for n in every_node(tree.root))


def test_frames_whose_code_did_not_change_have_a_delta_of_exactly_zero(project: Path) -> None:
    for figure in ("alloc_bytes", "alloc_count", "kept_bytes", "net_bytes"):
        tree = fill_tree(project, OTHER, figure)
        nodes = list(every_node(tree.root))
        assert len(nodes) >= 4
        assert [tree.delta(n) for n in nodes] == [0.0] * len(nodes), figure
        assert tree.paths() and all(p.delta.bytes == 0 and p.delta.count == 0 for p in tree.paths())


def test_the_graph_nests_each_frame_inside_its_caller_by_candidate_width(project: Path) -> None:
    from harness.reports.flame import flame_graph

    tree = fill_tree(project)
    graph = flame_graph(tree, "flame-x", "fill")
    frames = {f.id: f for f in graph.frames}
    assert frames[0].name == "all" and (frames[0].x, frames[0].width) == (0.0, 100.0)
    for frame in graph.frames[1:]:
        parent = frames[frame.parent]
        assert frame.depth == parent.depth + 1
        assert parent.x - 1e-6 <= frame.x and frame.x + frame.width <= parent.x + parent.width + 1e-3
        assert frame.width == pytest.approx(100 * frame.candidate / frames[0].candidate, abs=1e-3)
    colours = {f.name: f.colour for f in graph.frames if f.depth == 2}
    assert colours["from_right"] == "#e3e6ea" and colours["from_left"] != colours["from_right"]


def test_sites_without_stacks_make_a_flat_graph_of_innermost_sites(project: Path) -> None:
    def without_stacks(path: Path) -> Any:
        results = read_results(path)
        trials = [
            replace(
                t,
                phases=tuple(replace(p, sites=tuple(replace(s, stack=()) for s in p.sites)) for p in t.phases),
            )
            for t in results.trials_of(PLAIN)
        ]
        return trials, str(results.environment.project_root)

    base, root = without_stacks(project / "base.json")
    cand, _ = without_stacks(project / "cand.json")
    tree = flame_tree(PLAIN, "fill", base, cand, roots=(root, root))
    assert not tree.has_stacks
    assert all(not c.children for c in tree.root.children)
    listcomp = child(tree.root, INNERMOST)
    assert listcomp.frame.file == "workloads/paths.py" and tree.delta(listcomp) > 0


def test_the_verdict_and_the_comment_carry_the_changed_call_path(project: Path) -> None:
    row = next(r for r in json.loads((project / "verdict.json").read_text())["experiments"] if r["id"] == PLAIN)
    assert row["decision"] == "regression"
    top = row["top_paths"][0]
    assert [f.split(" ")[0] for f in top["stack"]] == ["two_callers", "from_left", "helper", *COMPREHENSION]
    assert top["delta_bytes"] > 0 and top["delta_count"] >= 1000
    assert not any("from_right" in " ".join(p["stack"]) for p in row["top_paths"])
    comment = (project / "comment.md").read_text()
    from harness.reports.flame import flame_anchor

    anchor = flame_anchor(PLAIN, "fill", "alloc_bytes")
    assert f"report.html#{anchor}" in comment
    assert f'id="{anchor}"' in (project / "report.html").read_text()
    assert f"`from_left (workloads/paths.py:{LEFT_LINE})`" in comment and "from_right" not in comment
    assert top["frames"][:3] == [
        {"function": "two_callers", "file": "workloads/paths.py", "line": LEFT_CALL},
        {"function": "from_left", "file": "workloads/paths.py", "line": LEFT_LINE},
        {"function": "helper", "file": "workloads/paths.py", "line": HELPER_LINE},
    ]
    assert top["stack"][1] == f"from_left (workloads/paths.py:{LEFT_LINE})"
    assert row["top_sites"][0]["site"].endswith(f"(workloads/paths.py:{HELPER_LINE})")


def test_the_comment_links_the_flame_graph_where_the_report_is_served(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.compare.verdict import read_verdict
    from harness.reports import markdown
    from harness.reports.flame import flame_anchor

    monkeypatch.setenv("HARNESS_REPORT_URL", "https://example.org/run/7/report.html")
    comment = markdown.render(read_verdict(project / "verdict.json"))
    anchor = flame_anchor(PLAIN, "fill", "alloc_bytes")
    assert f"[delta flame graph](https://example.org/run/7/report.html#{anchor})" in comment


def test_explain_json_puts_the_change_under_the_changed_caller(project: Path) -> None:
    done = harness_cli(
        project, "explain", "plain", "--baseline", "base.json", "--results", "cand.json", "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["schema"] == "harness.explain/1" and data["experiment"] == PLAIN and data["figure"] == "alloc_bytes"
    (phase,) = data["phases"]
    assert phase["phase"] == "fill" and phase["delta"] > 0
    first = phase["paths"][0]
    assert [f["function"] for f in first["stack"]] == ["two_callers", "from_left", "helper", *COMPREHENSION]
    assert first["delta_bytes"] == phase["delta"] and first["delta_count"] >= 1000
    assert not any(f["function"] == "from_right" for p in phase["paths"] for f in p["stack"])
    assert [f["line"] for f in first["stack"][:3]] == [LEFT_CALL, LEFT_LINE, HELPER_LINE]
    # By line, the workload's frame is one per call in it; each caller hangs under its own line.
    by_line = {c["line"]: c for c in phase["tree"]["children"]}
    (left,) = by_line[LEFT_CALL]["children"]
    (right,) = by_line[line_of("box.append(from_right(n))")]["children"]
    assert (left["function"], left["delta"]) == ("from_left", phase["delta"])
    assert (right["function"], right["delta"]) == ("from_right", 0)
    # By function, the lines merge: one frame of the workload, both callers under it.
    done = harness_cli(
        project,
        "explain",
        "plain",
        "--baseline",
        "base.json",
        "--results",
        "cand.json",
        "--format",
        "json",
        "--by",
        "function",
    )
    merged = json.loads(done.stdout)
    assert merged["grain"] == "function" and data["grain"] == "line"
    (top,) = merged["phases"][0]["tree"]["children"]
    by_name = {c["function"]: c for c in top["children"]}
    assert by_name["from_left"]["delta"] == phase["delta"] and by_name["from_right"]["delta"] == 0
    assert {c["line"] for c in top["children"]} == {0}


def test_explain_peek_splits_the_helper_by_caller(project: Path) -> None:
    args = ("explain", "plain", "--baseline", "base.json", "--results", "cand.json", "--peek", "helper")
    done = harness_cli(project, *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    (phase,) = json.loads(done.stdout)["phases"]
    (helper,) = phase["peek"]
    callers = {c["function"]: c for c in helper["callers"]}
    assert set(callers) == {"from_left", "from_right"}
    assert callers["from_left"]["delta_bytes"] == helper["delta_bytes"] == phase["delta"] > 0
    assert callers["from_right"]["delta_bytes"] == callers["from_right"]["delta_count"] == 0
    assert callers["from_right"]["baseline_bytes"] == callers["from_right"]["candidate_bytes"] > 0
    assert [c["function"] for c in helper["callees"]] == COMPREHENSION
    assert helper["self"]["delta_bytes"] == (0 if COMPREHENSION else phase["delta"])
    text = harness_cli(project, *args).stdout
    assert f"caller from_left (workloads/paths.py:{LEFT_LINE})" in text
    assert f"| helper (workloads/paths.py:{HELPER_LINE})" in text


def test_explain_text_lists_the_path_pprof_style(project: Path) -> None:
    done = harness_cli(project, "explain", PLAIN, "--baseline", "base.json", "--results", "cand.json", "--top", "1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{PLAIN} · fill · alloc bytes per replicate (3 vs 3 paired by seed)"
    figures = next(line for line in lines if line.rstrip().endswith(f"two_callers (workloads/paths.py:{LEFT_CALL})"))
    assert figures.split()[0].startswith("+") and "KiB" in figures
    assert any(line.strip() == f"> from_left (workloads/paths.py:{LEFT_LINE})" for line in lines)
    assert "from_right" not in done.stdout


@pytest.mark.parametrize(
    ("goal", "explained", "figure"),
    [
        ("alloc_count_per_op", True, "alloc_count"),
        ("kept_bytes", True, "kept_bytes"),
        ("peak_bytes", True, "kept_bytes"),
        ("net_count_per_op", True, "net_bytes"),
        ("wall_s_per_op", False, "alloc_bytes"),
        ("rss_peak_bytes", False, "alloc_bytes"),
    ],
)
def test_which_goals_call_sites_explain_and_by_which_figure(goal: str, explained: bool, figure: str) -> None:
    from harness.compare.calltree import explains, figure_of_goal

    assert (explains(goal), figure_of_goal(goal)) == (explained, figure)


def test_explain_against_another_variant_of_the_same_run(project: Path) -> None:
    done = harness_cli(project, "explain", PLAIN, "--results", "base.json", "--against", OTHER, "--format", "json")
    assert done.returncode == 0, done.stderr
    (phase,) = json.loads(done.stdout)["phases"]
    changed = {tuple(f["function"] for f in p["stack"][:2]) for p in phase["paths"]}
    # plain calls from_left and from_right where other calls steady: those paths are what changed.
    assert ("two_callers", "from_left") in changed and ("two_callers", "steady") in changed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nothing-like-it", "--baseline", "base.json", "--results", "cand.json"), "no experiment matches"),
        (("paths", "--baseline", "base.json", "--results", "cand.json"), "matches 2 experiments"),
        (("plain", "--baseline", "missing.json", "--results", "cand.json"), "missing.json"),
        (("plain", "--results", "cand.json"), "give --baseline B --results R"),
        (("plain", "--baseline", "base.json", "--results", "cand.json", "--phase", "nope"), "phase 'nope'"),
        (("plain", "--baseline", "base.json", "--results", "cand.json", "--figure", "peak_bytes"), "invalid choice"),
        (("plain", "HEAD"), "two commits"),
    ],
)
def test_explain_bad_input_is_one_line_and_exit_2(project: Path, args: tuple[str, ...], message: str) -> None:
    done = harness_cli(project, "explain", *args)
    assert done.returncode == 2, done.stdout
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


needs_chromium = pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as instance:
        yield instance


FRAMES = """Array.from(document.querySelectorAll(ANCHOR + ' svg.frame')).map(e => ({
    id: e.dataset.id, parent: e.dataset.parent, name: e.dataset.name, file: e.dataset.file,
    delta: Number(e.dataset.delta), baseline: Number(e.dataset.baseline), candidate: Number(e.dataset.candidate),
    width: e.getBoundingClientRect().width, shown: e.style.display !== 'none',
    fill: e.querySelector('rect').getAttribute('fill'), match: e.classList.contains('match')}))"""


@needs_chromium
def test_the_flame_graph_shows_the_change_under_the_changed_caller(
    project: Path, chromium: Browser, tmp_path: Path
) -> None:
    from harness.reports.flame import flame_anchor

    report = project / "report.html"
    page = chromium.open(report.resolve().as_uri())
    assert page.errors == [] and page.requests == [report.resolve().as_uri()], (page.errors, page.requests)
    anchor = "#" + flame_anchor(PLAIN, "fill", "alloc_bytes")
    frames_js = FRAMES.replace("ANCHOR", json.dumps(anchor))
    frames = page.evaluate(frames_js)
    by_id = {f["id"]: f for f in frames}
    names = {f["name"]: f for f in frames if by_id.get(f["parent"], {}).get("name") == "two_callers"}
    left, right = names["from_left"], names["from_right"]
    assert left["delta"] > 0 and right["delta"] == 0
    assert left["fill"] != right["fill"] and right["fill"] == "#e3e6ea"
    helpers = [f for f in frames if f["name"] == "helper"]
    assert sorted(by_id[h["parent"]]["name"] for h in helpers) == ["from_left", "from_right"]
    assert [h["delta"] > 0 for h in helpers if by_id[h["parent"]]["name"] == "from_right"] == [False]
    # Widths come from the candidate: from_left now allocates more than from_right.
    assert left["width"] > right["width"] > 0
    root = frames[0]
    assert root["name"] == "all" and root["delta"] == pytest.approx(left["delta"])
    page.element_screenshot(artifacts_dir(tmp_path) / "flame-two-callers.png", anchor)

    # Hover shows the three figures; a click zooms into the frame and hides its sibling.
    status = f"document.querySelector({json.dumps(anchor + ' .flame-status')}).textContent"
    all_frames = f"Array.from(document.querySelectorAll({json.dumps(anchor + ' svg.frame')}))"
    frame = f"{all_frames}.find(e => e.dataset.id === {json.dumps(left['id'])})"
    tip = page.evaluate(f"(() => {{ {frame}.dispatchEvent(new MouseEvent('mouseenter')); return {status}; }})()")
    assert tip.startswith(f"from_left (workloads/paths.py:{LEFT_LINE}) · baseline ") and " · Δ +" in tip
    page.evaluate(f"{frame}.dispatchEvent(new MouseEvent('click', {{bubbles: true}}))")
    zoomed = {f["id"]: f for f in page.evaluate(frames_js)}
    assert not zoomed[right["id"]]["shown"] and zoomed[left["id"]]["shown"]
    assert zoomed[left["id"]]["width"] == pytest.approx(zoomed[root["id"]]["width"], rel=0.01)
    page.evaluate(f"document.querySelector({json.dumps(anchor + ' .flame-reset')}).click()")
    assert all(f["shown"] for f in page.evaluate(frames_js))

    # The search box marks every frame of the helper, under both callers.
    search = f"document.querySelector({json.dumps(anchor + ' .flame-search')})"
    page.evaluate(f"(() => {{ const s = {search}; s.value = 'helper'; s.dispatchEvent(new Event('input')); }})()")
    marked = [f["name"] for f in page.evaluate(frames_js) if f["match"]]
    assert marked == ["helper", "helper"]
    share = 100 * sum(h["candidate"] for h in helpers) / root["candidate"]
    assert page.evaluate(status) == f"2 frames match, {share:.1f}% of the candidate"
    assert page.errors == []


@needs_chromium
def test_the_explain_page_opens_without_errors_and_stays_small(project: Path, chromium: Browser) -> None:
    done = harness_cli(
        project, "explain", PLAIN, "--baseline", "base.json", "--results", "cand.json", "--html", "flame.html"
    )
    assert done.returncode == 0, done.stderr
    page = chromium.open((project / "flame.html").resolve().as_uri())
    assert page.errors == [] and len(page.requests) == 1
    assert page.evaluate("document.querySelectorAll('figure.flame svg.frame').length") >= 8
    for html in ("flame.html", "report.html"):
        assert (project / html).stat().st_size < 2 * 1024 * 1024


@needs_chromium
def test_less_is_green_in_the_flame_graph_as_in_the_tables(project: Path, chromium: Browser) -> None:
    # The two sides swapped: from_left now allocates less than in the "baseline".
    done = harness_cli(
        project, "explain", PLAIN, "--baseline", "cand.json", "--results", "base.json", "--html", "less.html"
    )
    assert done.returncode == 0, done.stderr
    page = chromium.open((project / "less.html").resolve().as_uri())
    assert page.errors == []
    frames = page.evaluate(FRAMES.replace("ANCHOR", "''"))
    shrunk = [f for f in frames if f["name"] == "from_left" and f["delta"] < 0]
    assert shrunk, frames
    for frame in shrunk:
        red, green, blue = (int(frame["fill"][i : i + 2], 16) for i in (1, 3, 5))
        assert green > red and green > blue, frame["fill"]
    # The legend's "less" is the tables' green.
    swatch = "getComputedStyle(document.querySelector('.swatch.SIDE')).backgroundColor"
    good = "(() => { const e = document.createElement('span'); e.className = 'good'; document.body.append(e);"
    good += " return getComputedStyle(e).color; })()"
    assert page.evaluate(swatch.replace("SIDE", "less")) == page.evaluate(good)


CALLERS = """\
EXTRA = 0


def helper(n):
    return [str(i) for i in range(n)]


def from_left(n):
    return helper(n + EXTRA)


def from_right(n):
    return helper(n)
"""

GIT_WORKLOAD = """\
import harness
from callers import from_left, from_right

paths = harness.family("paths", "a helper reached from two callers")


@paths.variant("plain")
def plain():
    return []


@paths.workload(params={"n": [300]}, goal="alloc_bytes")
def two_callers(trial, new_box, n):
    box = trial.keep(new_box())
    with trial.phase("fill"):
        for _ in range(5):
            box.append(from_left(n))
            box.append(from_right(n))
        trial.ops(n)
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_explain_two_commits_runs_them_as_compare_does(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "workloads").mkdir(parents=True)
    (repo / "pyproject.toml").write_text('[tool.harness]\nworkloads = "workloads"\nreplicates = 2\n')
    (repo / "callers.py").write_text(CALLERS)
    (repo / "workloads" / "paths.py").write_text(GIT_WORKLOAD)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "two callers")
    (repo / "callers.py").write_text(CALLERS.replace("EXTRA = 0", "EXTRA = 100"))
    git(repo, "commit", "-qam", "the left caller asks for more")
    done = harness_cli(repo, "explain", "plain", "HEAD~1", "HEAD", "--backend", "native", "--format", "json")
    assert done.returncode == 0, done.stderr
    (phase,) = json.loads(done.stdout)["phases"]
    assert phase["baseline_replicates"] == phase["candidate_replicates"] == [0, 1]
    first = phase["paths"][0]
    assert [(f["function"], f["file"]) for f in first["stack"][:2]] == [
        ("two_callers", "workloads/paths.py"),
        ("from_left", "callers.py"),
    ]
    assert first["delta_count"] >= 500
    assert not any(f["function"] == "from_right" for p in phase["paths"] for f in p["stack"])
