"""The command line's rules that hold for every command: options and positionals in any order,
``--debug`` anywhere, tables that fit the terminal, and a cache clear that asks first."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: Long ids and five phases, so that the full table is far wider than 100 columns.
WORKLOAD = """
import harness

wide = harness.family("wide_family_with_a_long_name")

@wide.variant("a_variant_with_a_long_name_too")
def make_list():
    return []

@wide.workload(params={"items": [300], "rounds_of_churn": [2]})
def churn_and_keep_a_share(trial, new, items, rounds_of_churn):
    kept = trial.keep(new())
    for phase in ("fill", "churn", "drain", "refill", "after_everything"):
        with trial.phase(phase):
            for i in range(items * rounds_of_churn):
                kept.append(str(i) * 3)
            del kept[: items // 2]
            trial.ops(items)
"""

PYPROJECT = '[project]\nname = "wide"\n\n[tool.harness]\nworkloads = "workloads"\nreplicates = 2\n'
FIGURE = re.compile(r"^-?[\d.,]+k? ?[A-Za-zµ]* ±\d+%$")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("grammar") / "project"
    (root / "workloads").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (root / "workloads" / "wide.py").write_text(textwrap.dedent(WORKLOAD), encoding="utf-8")
    return root


def harness(project: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *argv],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
    )


def figure_cells(table: str) -> list[str]:
    """The cells right of the label and n columns in every body row of a rich table."""
    cells = []
    for line in table.splitlines():
        if line.startswith("│"):
            cells += [c.strip() for c in line.strip("│").split("│")[2:]]
    return cells


@pytest.mark.parametrize("columns", [100, 80])
def test_run_and_baseline_show_cut_no_figure_at_narrow_widths(project: Path, columns: int, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {"COLUMNS": str(columns)}
    ran = harness(project, "run", "-o", str(out), env=env)
    assert ran.returncode == 0, ran.stderr
    baseline = tmp_path / "baseline.json"
    baseline.write_text(out.read_text())
    shown = harness(project, "baseline", "show", str(baseline), env=env)
    assert shown.returncode == 0, shown.stderr

    for text in (ran.stdout, shown.stdout):
        assert "…" not in text
        # The table fits; a line naming a path is never broken (it could not be copied whole).
        assert max(len(line) for line in text.splitlines() if line[:1] in "┏┃┡│└") <= columns
        cells = [c for c in figure_cells(text) if c]
        # 5 phases, each with at least one figure: the table was read, not an empty one.
        assert len(cells) >= 5
        assert all(FIGURE.match(c) for c in cells), cells
        assert "not shown for want of width:" in text
        # Every phase is in the table, whole.
        for phase in ("fill", "churn", "drain", "refill", "after_everything"):
            assert re.search(rf"│\s+{phase}\s+│", text), phase

    # The most telling figure, B/op, is kept; its cells are the results' own figures.
    from harness.reports.summary import format_cell
    from harness.store.results import read_results

    results = read_results(out)
    header = next(line for line in ran.stdout.splitlines() if line.startswith("┃"))
    assert "B/op" in header
    fill = [t.phase("fill") for t in results.trials]
    expected = format_cell("alloc_bytes_per_op", [p.metrics["alloc_bytes_per_op"] for p in fill if p is not None])
    assert re.search(rf"│\s+fill\s+│\s+2\s+│\s+{re.escape(expected)}\s+│", ran.stdout), expected


def test_a_wide_terminal_shows_every_column(project: Path, tmp_path: Path) -> None:
    ran = harness(project, "run", "-n", "1", "-o", str(tmp_path / "r.json"), env={"COLUMNS": "240"})
    assert ran.returncode == 0, ran.stderr
    header = next(line for line in ran.stdout.splitlines() if line.startswith("┃"))
    for title in ("experiment", "phase", "B/op", "allocs/op", "kept", "net", "peak", "wall"):
        assert title in header
    assert "not shown" not in ran.stdout and "…" not in ran.stdout


def test_debug_before_or_after_the_subcommand_shows_the_traceback(project: Path) -> None:
    for argv in (("--debug", "list", "nothing_matches"), ("list", "nothing_matches", "--debug")):
        done = harness(project, *argv)
        assert done.returncode != 0
        assert "Traceback" in done.stderr and "SelectionError" in done.stderr, argv
    plain = harness(project, "list", "nothing_matches")
    assert plain.returncode == 2
    assert plain.stderr == "harness: error: no experiment matches 'nothing_matches' (try `harness list`)\n"


def test_run_takes_patterns_between_options(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    done = harness(project, "run", "wide", "-n", "1", "churn_and_keep", "--backend", "tracemalloc", "-o", str(out))
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert len(data["trials"]) == 1 and data["settings"]["backend"] == "tracemalloc"


def _fake_build(cache: Path) -> Path:
    """A build entry as compare stores them: a directory with its meta.json."""
    build = cache / "builds" / "0123456789abcdef"
    build.mkdir(parents=True)
    (build / "meta.json").write_text(json.dumps({"label": "a commit", "created": 0}))
    (build / "wheel.bin").write_bytes(b"x" * 4096)
    return build


def test_cache_clear_without_a_terminal_refuses_unless_yes(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    build = _fake_build(cache)
    env = {"HARNESS_CACHE_DIR": str(cache)}

    refused = harness(project, "cache", "clear", env=env)

    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "add --yes to clear without asking" in refused.stderr
    assert build.exists()

    cleared = harness(project, "cache", "clear", "--yes", env=env)

    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.startswith("removed 1 build (")
    assert not build.exists()


@pytest.mark.parametrize(("answer", "kept"), [(b"n\n", True), (b"y\n", False)])
def test_cache_clear_on_a_terminal_asks_first(project: Path, tmp_path: Path, answer: bytes, kept: bool) -> None:
    cache = tmp_path / "cache"
    build = _fake_build(cache)
    leader, follower = pty.openpty()
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "harness", "cache", "clear"],
            cwd=project,
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=follower,
            env={**os.environ, "HARNESS_CACHE_DIR": str(cache)},
        )
        prompt = b""
        while b"[y/N]" not in prompt:
            prompt += os.read(leader, 1024)
        assert b"shared by all your projects" in prompt
        os.write(leader, answer)
        assert child.wait(timeout=60) == (1 if kept else 0)
        assert child.stdout is not None
        out = child.stdout.read().decode()
    finally:
        os.close(leader)
        os.close(follower)
    assert build.exists() is kept
    assert out.startswith("removed 1 build") is not kept
