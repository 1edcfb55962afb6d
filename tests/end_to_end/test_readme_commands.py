"""Every command the README and docs/*.md show runs: the docs stay true.

A fenced block tagged ``sh`` holds commands; every other block says what it is instead
(``text`` for a grammar or an output, ``toml``, ``python``, ...), so that no command hides in
an untagged block. The commands of each document run in order, each with bash, in a fresh
clone of this repository (with the working tree's uncommitted changes copied over, and a
``main`` branch as a clone from GitHub has), with this interpreter's environment first on
PATH and a build cache of their own. A command that exits non-zero fails the test, named
with its output. The few commands that cannot run here are listed in :data:`NOT_RUN`, each
with why; an entry that no document shows any more fails the test too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")))

_NEW_VENV = "the test runs in the environment it was started from, which is this install"
_PYPI = "installs from PyPI (network); the environment the test runs in has it"
_SERVER = "starts a Dask server that runs until it is stopped"
_FETCHED = "reads the store fetched from the GitHub remote's allocation-history branch"

#: Commands shown but not run, with why.
NOT_RUN = {
    "python3 -m venv .venv": _NEW_VENV,
    ". .venv/bin/activate": _NEW_VENV,
    "pip install -e .": _NEW_VENV + " (pip install -e .): a new one would download every dependency",
    "bash .ci/run": "needs root (apt, debootstrap chroots) and the network; it is what runs this test",
    "pip install 'alloc-harness[dask]'": _PYPI,
    "harness run --executor dask --scheduler tcp://scheduler-host:8786 -n 10": "needs a scheduler at scheduler-host",
    "dask scheduler --port 8786": _SERVER,
    "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 dask scheduler --port 8786": _SERVER,
    "dask worker tcp://scheduler-host:8786 --nworkers 1 --nthreads 4": _SERVER + ", at scheduler-host",
    "harness compare origin/$GITHUB_BASE_REF HEAD $PATTERNS $ARGS --format markdown "
    "--out verdict.md --json verdict.json --html report.html": "runs in the GitHub action, with its variables "
    "(tests/end_to_end/test_workflows.py runs the script on a pull request of a real repository)",
    "harness history main --store reports/history": "measures every commit of main: hours on this repository "
    "(tests/end_to_end/test_history.py runs history on a small one)",
    "git fetch origin allocation-history": "needs the GitHub remote and its allocation-history branch",
    "mkdir -p reports/history": _FETCHED,
    "git archive FETCH_HEAD | tar -x -C reports/history": _FETCHED,
    "HISTORY_STORE=reports/history HISTORY_BRANCH=allocation-history bash .github/harness-history.sh": _FETCHED
    + ", then measures 30 commits (tests/end_to_end/test_workflows.py runs the script)",
    "pytest --harness-save main": "a command for a project's own tests; here it would run every test of harness "
    "(tests/end_to_end/test_pytest_plugin.py runs the plugin on a project)",
    "pytest --harness-baseline main": "as --harness-save above",
}

FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(document: str) -> list[tuple[int, str, str]]:
    """The fenced blocks of a document: (line, language, body)."""
    text = (ROOT / document).read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 1, m["lang"], m["body"]) for m in FENCE.finditer(text)]


def commands(body: str) -> list[str]:
    """The commands of a shell block: continued lines joined, comments dropped, ``&&`` split."""
    joined = re.sub(r"\\\n\s*", "", body)  # as bash reads a backslash-newline
    found = []
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        found += [c.strip() for c in line.split(" && ") if c.strip()]
    return found


def shown_commands(document: str) -> list[str]:
    return [c for _, lang, body in blocks(document) if lang == "sh" for c in commands(body)]


def test_every_block_says_what_it_holds() -> None:
    untagged = [(d, line) for d in DOCUMENTS for line, lang, _ in blocks(d) if not lang]
    assert untagged == []
    # The documents have commands to run, or the test below would pass on nothing.
    assert len(shown_commands("README.md")) >= 8


def test_every_command_left_out_is_still_shown() -> None:
    shown = {c for d in DOCUMENTS for c in shown_commands(d)}
    assert set(NOT_RUN) - shown == set()


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A clone of this repository with the working tree's changes, and a ``main`` branch."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    changed = subprocess.run(
        ["git", "ls-files", "-z", "--modified", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, changed):
        source, copy = ROOT / name, target / name
        if source.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)
        elif copy.exists():
            copy.unlink()  # deleted in the working tree
    # What `pip install -e .` leaves in a clone besides the install: the extension, compiled in
    # place. The trials of the clone's workloads import harness from the clone's root.
    try:
        import harness._native as native

        shutil.copy2(native.__file__, target / "harness" / Path(native.__file__).name)
    except ImportError:
        pass  # no compiler where the test runs: `auto` falls back, as it would for the user
    if (
        subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "refs/heads/main"], cwd=target, capture_output=True
        ).returncode
        != 0
    ):
        has_origin_main = (
            subprocess.run(
                ["git", "rev-parse", "--verify", "-q", "origin/main"], cwd=target, capture_output=True
            ).returncode
            == 0
        )
        start = "origin/main" if has_origin_main else "HEAD"
        subprocess.run(["git", "branch", "--quiet", "main", start], cwd=target, check=True)
    return target


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_commands_of_a_document_run(document: str, clone: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HARNESS_CACHE_DIR": str(tmp_path / "build-cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    to_run = [c for c in shown_commands(document) if c not in NOT_RUN]
    if not to_run:
        pytest.skip(f"{document} shows no command this test can run (see NOT_RUN)")
    ran = []
    for command in to_run:
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, f"{document}: `{command}` exited {done.returncode}\n{done.stderr[-3000:]}"
        ran.append(f"{time.monotonic() - started:6.1f} s  {command}")
    print(f"{document}: ran {len(ran)} commands", *ran, sep="\n  ")
