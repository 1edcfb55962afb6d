"""Bad input, hunted on purpose: every command fed malformed files, settings, names and ids.

Each case must end the same way: exit code 2, one line on stderr starting ``harness: error:``,
no traceback, and not one stored file of the project changed (created, removed or rewritten).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

WORKLOAD = """
import harness

tiny = harness.family("tiny")

@tiny.variant("list")
def make_list():
    return []

@tiny.workload(params={"n": [100]}, goal="net_bytes")
def fill(trial, new, n):
    items = trial.keep(new())
    with trial.phase("fill"):
        for i in range(n):
            items.append(str(i))
        trial.ops(n)
"""

PYPROJECT = '[project]\nname = "tiny"\n\n[tool.harness]\nworkloads = "workloads"\nreplicates = 2\n'
#: The project's settings with a workloads directory that declares nothing.
EMPTY_WORKLOADS = PYPROJECT.replace('workloads = "workloads"', 'workloads = "empty"')
#: The project's settings with baselines where none can be written.
UNWRITABLE_BASELINES = PYPROJECT + 'baselines = "/proc/harness-nowhere"\n'

# Files: what a case writes before the command runs. bytes/str are contents; DIRECTORY makes
# a directory there; a callable derives the contents from the good project (its results file
# and the header of the journal a run of it writes).
DIRECTORY = object()


@dataclass(frozen=True)
class Good:
    results: dict[str, Any]
    journal_header: bytes


Contents = bytes | str | object | Callable[[Good], object]


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    files: tuple[tuple[str, Contents], ...] = ()


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


# Malformed contents of a results (or baseline) file, each a case per command that reads one.
BAD_RESULTS: dict[str, Contents] = {
    "empty": b"",
    "truncated": lambda good: json.dumps(good.results)[: len(json.dumps(good.results)) // 2],
    "binary": bytes(range(256)) * 4,
    "utf16": lambda good: json.dumps(good.results).encode("utf-16"),
    "not-an-object": "[1, 2, 3]",
    "wrong-schema": '{"schema": "harness.verdict/1", "passed": true}',
    "future-schema": lambda good: {**good.results, "schema": "harness.results/2"},
    "no-fields": '{"schema": "harness.results/1"}',
    "trials-not-a-list": lambda good: {**good.results, "trials": "many"},
    "trial-without-phases": lambda good: _set(good.results, ("trials", 0, "phases"), None),
    "metric-not-a-number": lambda good: _set(good.results, ("trials", 0, "phases", 0, "metrics", "net_bytes"), "lots"),
    "nan-metric": lambda good: json.dumps(good.results).replace('"net_bytes": ', '"net_bytes": NaN, "x": ', 1),
    "experiment-not-an-object": lambda good: _set(good.results, ("experiments", 0), 7),
    "goal-not-text": lambda good: _set(good.results, ("experiments", 0, "goals"), [5]),
    "replicate-not-a-number": lambda good: _set(good.results, ("trials", 0, "replicate"), "first"),
    "deeply-nested": "[" * 100_000 + "]" * 100_000,
    "huge": lambda good: '{"schema": "harness.results/1", "pad": "' + "x" * (16 * 1024 * 1024),
    "directory": DIRECTORY,
}

COMMANDS_READING_RESULTS = {
    "gate-results": ("gate", "--baseline", "main", "--results", "bad.json"),
    "gate-baseline": ("gate", "--baseline", "bad.json", "--results", "reports/results.json"),
    "baseline-save": ("baseline", "save", "copy", "--from", "bad.json"),
    "report": ("report", "bad.json", "--html", "reports/page.html"),
}

CASES = [
    Case(f"{command}:{kind}", argv, (("bad.json", contents),))
    for command, argv in COMMANDS_READING_RESULTS.items()
    for kind, contents in BAD_RESULTS.items()
]
CASES += [
    # A stored baseline, by name, malformed.
    Case(f"baseline-show:{kind}", ("baseline", "show", "main"), (("baselines/main.json", BAD_RESULTS[kind]),))
    for kind in ("empty", "truncated", "binary", "future-schema", "no-fields")
]
CASES += [
    Case("baseline-list:corrupt", ("baseline", "list"), (("baselines/zz.json", b"\x00\x01"),)),
    Case(
        "report:verdict-future-schema",
        ("report", "v.json", "--html", "p.html"),
        (("v.json", '{"schema": "harness.verdict/9"}'),),
    ),
    Case(
        "report:verdict-no-fields",
        ("report", "v.json", "--html", "p.html"),
        (("v.json", '{"schema": "harness.verdict/1"}'),),
    ),
    Case("report:missing", ("report", "nothing.json", "--html", "p.html")),
]

# Journals, read by --resume.
BAD_JOURNALS: dict[str, Contents] = {
    "empty": b"",
    "header-cut": b'{"schema": "harness.jour',
    "binary": bytes(range(256)),
    "not-a-journal": b'{"schema": "harness.results/1"}\n',
    "future-schema": b'{"schema": "harness.journal/2"}\n',
    "header-no-fields": b'{"schema": "harness.journal/1"}\n',
    "header-wrong-types": b'{"schema": "harness.journal/1", "experiments": 3, "seeds": "x", "code": 1}\n',
    "nan-in-trial": lambda good: (
        good.journal_header
        + b"\n"
        + json.dumps({"side": "", "trial": good.results["trials"][0]})
        .replace('"net_bytes": ', '"net_bytes": NaN, "y": ')
        .encode()
        + b"\n"
    ),
    "header-a-list": b"[1]\n",
    "corrupt-middle-line": lambda good: good.journal_header + b'\n{"side": "", "trial": {"nope": 1}}\n{"side": ""}\n',
    "huge-line": b'{"schema": "harness.journal/1", "pad": "' + b"x" * (8 * 1024 * 1024) + b'"}\n',
    "directory": DIRECTORY,
}
CASES += [
    Case(f"run-resume:{kind}", ("run", "--resume", "--backend", "tracemalloc"), (("reports/results.json.journal", c),))
    for kind, c in BAD_JOURNALS.items()
]
CASES += [
    Case(
        "gate-resume:binary",
        ("gate", "--baseline", "main", "--resume"),
        (("reports/results.json.journal", b"\xff" * 64),),
    ),
]

# [tool.harness] tables.
BAD_TABLES = {
    "not-toml": "[tool.harness\nworkloads = ",
    "binary": b"\xff\xfe\x00[tool.harness]",
    "unknown-key": "[tool.harness]\nreplicate = 3\n",
    "replicates-text": '[tool.harness]\nreplicates = "five"\n',
    "replicates-zero": "[tool.harness]\nreplicates = 0\n",
    "jobs-float": "[tool.harness]\njobs = 1.5\n",
    "timeout-text": '[tool.harness]\ntimeout = "soon"\n',
    "confidence-text": '[tool.harness]\nconfidence = "high"\n',
    "tolerance-negative": "[tool.harness]\ntolerance = -5\n",
    "workloads-number": "[tool.harness]\nworkloads = 5\n",
    "erratic-number": "[tool.harness]\nerratic = 5\n",
    "gate-unknown": '[tool.harness]\ngate = ["speed"]\n',
    "bounds-not-table": '[tool.harness]\nbounds = "small"\n',
    "memory-limit-words": '[tool.harness]\nmemory_limit = "lots"\n',
    "memory-limit-tiny": '[tool.harness]\nmemory_limit = "2"\n',
    "memory-limit-bool": "[tool.harness]\nmemory_limit = true\n",
    "memory-limit-unit": '[tool.harness]\nmemory_limit = "2 GB/s"\n',
    "harness-not-a-table": "[tool]\nharness = 3\n",
    "huge": "[tool.harness]\n" + "".join(f"x{i} = {i}\n" for i in range(200_000)),
}
CASES += [
    Case(f"pyproject:{kind}", ("run", "--backend", "tracemalloc"), (("pyproject.toml", t),))
    for kind, t in BAD_TABLES.items()
]
# Bounds are read by the gate only.
BOUND = '[tool.harness.bounds]\n"tiny.*" = {"fill.peak_bytes" = "big"}\n'
CASES += [Case("pyproject:gate-bound-unparsable", ("gate", "--baseline", "main"), (("pyproject.toml", BOUND),))]

# Flags, names and ids.
CASES += [
    # A gate of a results file runs no trial: options of trials are refused, never ignored.
    Case(
        "flag:gate-results-replicates", ("gate", "--baseline", "main", "--results", "reports/results.json", "-n", "3")
    ),
    Case(
        "flag:explain-results-replicates",
        ("explain", "tiny", "--baseline", "main", "--results", "reports/results.json", "-n", "2"),
    ),
    Case(
        "flag:gate-results-jobs", ("gate", "--results", "reports/results.json", "tiny", "-j", "2", "--baseline", "main")
    ),
    Case("flag:memory-limit-words", ("run", "--memory-limit", "lots")),
    Case("flag:memory-limit-negative", ("run", "--memory-limit", "-2 GiB")),
    Case("flag:memory-limit-infinite", ("run", "--memory-limit", "1e400 GiB")),
    Case("flag:replicates-zero", ("run", "-n", "0")),
    Case("flag:jobs-zero", ("run", "-j", "0")),
    Case("flag:timeout-negative", ("run", "--timeout", "-1")),
    Case("flag:backend-unknown", ("run", "--backend", "perf")),
    Case("flag:executor-local-with-scheduler", ("run", "--executor", "local", "--scheduler", "tcp://x:1")),
    Case("id:open-bracket", ("run", "tiny.fill[set")),
    Case("id:unmatched-bracket-glob", ("run", "tiny.fill[*]]]")),
    Case("id:quotes", ("run", "tiny.fill[\"list']")),
    Case("id:unicode", ("run", "tiny.fill[lïst,n=100]")),
    Case("id:emoji-list", ("list", "📈")),
    Case("id:gate-unicode", ("gate", "--baseline", "main", "--results", "reports/results.json", "ünïcode[")),
    Case("id:nul-like", ("list", "tiny\\x00")),
    Case("baseline:dotdot", ("baseline", "save", "../x")),
    Case("baseline:slash", ("baseline", "save", "a/b")),
    Case("baseline:quotes", ("baseline", "save", "a\"b'")),
    Case("baseline:unicode", ("baseline", "save", "bäse")),
    Case("baseline:empty-name", ("baseline", "save", "")),
    Case("baseline:show-dotdot", ("baseline", "show", "../x")),
    Case("baseline:gate-dotdot", ("gate", "--baseline", "../x")),
    Case("baseline:unknown", ("gate", "--baseline", "nosuch", "--results", "reports/results.json")),
    Case("workloads:file-flag", ("list", "--workloads", "notes.txt"), (("notes.txt", "just text"),)),
    Case("workloads:file-run", ("run", "--workloads", "notes.txt"), (("notes.txt", "just text"),)),
    Case(
        "workloads:file-pyproject",
        ("run",),
        (("pyproject.toml", '[tool.harness]\nworkloads = "notes.txt"\n'), ("notes.txt", "just text")),
    ),
    Case("workloads:missing", ("list", "--workloads", "nowhere")),
    Case("out:a-directory", ("run", "-o", "reports")),
    Case("journal:a-directory", ("run", "-o", "out.json"), (("out.json.journal", DIRECTORY),)),
    Case("compare:not-a-repository", ("compare", "main", "HEAD")),
    Case("bisect:not-a-repository", ("bisect", "a", "b", "--experiment", "tiny.fill[list,n=100]")),
    Case("calibrate:memory-limit", ("calibrate", "--memory-limit", "lots")),
    Case("calibrate:unicode-id", ("calibrate", "ü[")),
    Case("list:pyproject-binary", ("list",), (("pyproject.toml", b"\x00\xff"),)),
    # Nothing to run: the results file of the last run stays as it was.
    Case("workloads:empty-run", ("run",), (("pyproject.toml", EMPTY_WORKLOADS), ("empty", DIRECTORY))),
    Case(
        "workloads:empty-gate",
        ("gate", "--baseline", "main"),
        (("pyproject.toml", EMPTY_WORKLOADS), ("empty", DIRECTORY)),
    ),
    # A stored baseline is replaced only with --force.
    Case("baseline:save-over-existing", ("baseline", "save", "main")),
    Case("baseline:save-unwritable", ("baseline", "save", "other"), (("pyproject.toml", UNWRITABLE_BASELINES),)),
]

#: Outputs that cannot be written: a directory that cannot exist (under /proc, even for root).
UNWRITABLE = "/proc/harness-nowhere/out"
UNWRITABLE_OUTPUTS = {
    "run-out": ("run", "-o", f"{UNWRITABLE}.json"),
    "gate-out": ("gate", "--baseline", "main", "--results", "reports/results.json", "--out", f"{UNWRITABLE}.md"),
    "gate-json": ("gate", "--baseline", "main", "--results", "reports/results.json", "--json", f"{UNWRITABLE}.json"),
    "gate-html": ("gate", "--baseline", "main", "--results", "reports/results.json", "--html", f"{UNWRITABLE}.html"),
    "gate-running-out": ("gate", "--baseline", "main", "--out", f"{UNWRITABLE}.md"),
    "report-html": ("report", "reports/results.json", "--html", f"{UNWRITABLE}.html"),
    "explain-html": (
        "explain",
        "tiny.fill",
        "--baseline",
        "main",
        "--results",
        "reports/results.json",
        "--html",
        f"{UNWRITABLE}.html",
    ),
    "export-out": ("export", "reports/results.json", "--format", "bmf", "--out", f"{UNWRITABLE}.json"),
    "export-out-js": (
        "export",
        "reports/results.json",
        "--format",
        "github-action-benchmark",
        "--out",
        f"{UNWRITABLE}.js",
    ),
    "proc-file": ("report", "reports/results.json", "--html", "/proc/version"),
}


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file and directory under ``root`` with its contents (None for a directory)."""
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        out[name] = None if path.is_dir() else path.read_bytes()
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a real results file and a baseline made from it."""
    root = tmp_path_factory.mktemp("bad-input") / "project"
    (root / "workloads").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (root / "workloads" / "tiny.py").write_text(textwrap.dedent(WORKLOAD), encoding="utf-8")
    for argv in (("run", "--backend", "tracemalloc"), ("baseline", "save", "main")):
        done = harness(root, argv)
        assert done.returncode == 0, done.stderr
    return root


def harness(project: Path, argv: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "harness", *argv], cwd=project, capture_output=True, text=True, timeout=120, env=env
    )


def materialise(project: Path, name: str, contents: Contents) -> None:
    path = project / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if contents is DIRECTORY:
        if path.exists():
            path.unlink()
        path.mkdir()
        (path / "inside").write_text("x")
        return
    if callable(contents):
        good = Good(
            json.loads((project / "reports" / "results.json").read_text(encoding="utf-8")), journal_header(project)
        )
        contents = contents(good)
    if isinstance(contents, dict | list):
        contents = json.dumps(contents)
    path.write_bytes(contents.encode() if isinstance(contents, str) else contents)


def journal_header(project: Path) -> bytes:
    """The header of the journal a run of ``project`` writes (from a run killed after it began)."""
    from harness.declare.config import load_settings
    from harness.declare.discovery import discover
    from harness.measure.journal import header_for
    from harness.measure.scheduling import Side

    settings = load_settings(project)
    suite = discover(settings.workloads, settings.project_root)
    side = Side("", settings.project_root, settings.workloads, tuple(suite.experiments))
    return json.dumps(header_for([side], settings, "tracemalloc").to_json()).encode()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_in_one_line(case: Case, template: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(template, project)
    for name, contents in case.files:
        materialise(project, name, contents)
    before = snapshot(project)
    done = harness(project, case.argv)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), done.stderr[-2000:]
    assert len(lines[0]) < 400, lines[0]  # one readable line, not a dump of the input
    assert snapshot(project) == before, "a stored file changed"


@pytest.mark.parametrize("argv", UNWRITABLE_OUTPUTS.values(), ids=list(UNWRITABLE_OUTPUTS))
def test_an_output_that_cannot_be_written_is_one_line_and_exit_2(argv: tuple[str, ...], template: Path) -> None:
    before = snapshot(template)
    done = harness(template, argv)
    # Exit 2, bad input: CI reads 1 as a regression.
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    target = argv[argv.index("--html") + 1 if "--html" in argv else -1]
    assert lines[0].startswith(f"harness: error: cannot write {target}: "), lines[0]
    assert snapshot(template) == before


def test_run_on_workloads_that_declare_nothing_writes_nothing(template: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(template, project)
    (project / "empty").mkdir()
    (project / "empty" / "_helpers.py").write_text("import harness\n")  # private: never imported
    results = project / "reports" / "results.json"
    before = results.read_bytes()

    done = harness(project, ("run", "--workloads", "empty"))

    assert done.returncode == 2
    assert done.stderr == (
        "harness: error: workloads directory empty declares no experiment "
        "(no family with a variant and a workload in its *.py files): nothing to run\n"
    )
    assert results.read_bytes() == before
    assert not (project / "reports" / "results.json.journal").exists()


def test_a_baseline_is_replaced_only_with_force(template: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(template, project)
    stored = project / "baselines" / "main.json"
    before = stored.read_bytes()
    assert harness(project, ("run", "--backend", "tracemalloc", "-n", "1")).returncode == 0

    refused = harness(project, ("baseline", "save", "main"))

    assert refused.returncode == 2
    assert refused.stderr == f"harness: error: baseline 'main' exists already ({stored}); pass --force to replace it\n"
    assert stored.read_bytes() == before

    forced = harness(project, ("baseline", "save", "main", "--force"))

    assert forced.returncode == 0, forced.stderr
    replaced = json.loads(stored.read_text())
    assert stored.read_bytes() != before
    assert len(replaced["trials"]) == 1  # the new run's one replicate, not the old two


def test_the_hunt_is_wide() -> None:
    """The count the module reports: how many malformed inputs are tried."""
    assert len(CASES) >= 50
    print(f"{len(CASES)} malformed inputs")
