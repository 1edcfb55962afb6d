"""The rules that have one home each, tested in-process on plain values (docs/design.md lists the homes)."""

from __future__ import annotations

import fnmatch
import os

import pytest

import harness
from harness.declare.config import GATES, parse_bounds
from harness.declare.metrics import SITE_FIGURES, explaining_figures
from harness.declare.selection import the_one
from harness.declare.spec import Bound, Goal
from harness.errors import ConfigError, HarnessError, Interrupted, LimitError, SelectionError
from harness.measure.own_frames import (
    BOOKKEEPING_PATTERNS,
    PACKAGE_DIR,
    is_bookkeeping_file,
    is_own_file,
    is_runner_file,
)
from harness.store.environment import BaselineInfo, Environment, blind_spots
from harness.store.results import ExperimentInfo, RunSettings


@pytest.mark.parametrize(
    ("goal", "first_bytes", "tree_figure"),
    [
        # goal, the bytes figure a verdict's movers rank by, the figure the call tree draws
        ("alloc_bytes_per_op", "alloc_bytes", "alloc_bytes"),
        ("alloc_count_per_op", "alloc_bytes", "alloc_count"),
        ("kept_bytes", "kept_bytes", "kept_bytes"),
        ("kept_count", "kept_bytes", "kept_count"),
        ("net_bytes", "net_bytes", "net_bytes"),
        ("net_count_per_op", "net_bytes", "net_count"),
        ("peak_bytes", "kept_bytes", "kept_bytes"),
        ("wall_s_per_op", "alloc_bytes", "alloc_bytes"),
        ("refused", "alloc_bytes", "alloc_bytes"),
    ],
)
def test_the_figure_that_explains_a_goal(goal: str, first_bytes: str, tree_figure: str) -> None:
    order = explaining_figures(goal)
    assert sorted(order) == sorted(SITE_FIGURES)
    assert next(f for f in order if f.endswith("_bytes")) == first_bytes
    assert order[0] == tree_figure


def test_a_pattern_names_one_experiment_or_says_why_not() -> None:
    ids = ["lru.churn[ordered,size=10]", "lru.churn[dict,size=10]", "flow.flood[hash]"]
    assert the_one(ids, "flow") == "flow.flood[hash]"
    # A bracket is a character of an id, not a character class.
    assert the_one(ids, "lru.churn[dict*") == "lru.churn[dict,size=10]"
    assert the_one(ids, "lru.churn[ordered,size=10]") == "lru.churn[ordered,size=10]"
    with pytest.raises(SelectionError, match="matches 2 experiments"):
        the_one(ids, "lru")
    with pytest.raises(SelectionError, match="no experiment matches"):
        the_one(ids, "btree")


def test_configured_bounds_parse_once_into_typed_values() -> None:
    parsed = parse_bounds({"lru*": {"churn.peak_bytes": "64 MiB", "rss_peak_bytes": 1000}})
    assert [(b.pattern, b.bound) for b in parsed] == [
        ("lru*", Bound("churn.peak_bytes", "peak_bytes", 64 * 1024 * 1024, "churn")),
        ("lru*", Bound("rss_peak_bytes", "rss_peak_bytes", 1000.0, None)),
    ]
    with pytest.raises(ConfigError, match=r"bounds\.lru\*\.churn\.peak_bytes"):
        parse_bounds({"lru*": {"churn.peak_bytes": "lots"}})
    with pytest.raises(ConfigError, match="must be a table"):
        parse_bounds({"lru*": 5})


def test_each_stored_type_reads_back_what_it_wrote_and_keeps_unknown_keys() -> None:
    bound = Bound("churn.kept_bytes", "kept_bytes", 10.0, "churn")
    assert Bound.from_json(bound.to_json()) == bound
    info = ExperimentInfo("f.w[v]", "f", "w", "v", {"n": 3}, (Goal.parse("churn.kept_bytes"),), (bound,))
    assert ExperimentInfo.from_json(info.to_json()) == info

    written = {"replicates": 5, "backend": "native", "executor": "local", "from_a_later_version": [1]}
    settings = RunSettings.from_json(written)
    assert settings.replicates == 5 and settings.backend == "native" and settings.jobs is None
    assert settings.to_json() == written

    env = Environment(backend="native", baseline=BaselineInfo("main", "2026-12-01T00:00:00+00:00", "results.json"))
    assert Environment.from_json(env.to_json()) == env
    assert env.to_json()["baseline"] == {
        "name": "main",
        "created": "2026-12-01T00:00:00+00:00",
        "source": "results.json",
    }
    with pytest.raises(TypeError):
        Environment.from_json({"baseline": {"name": "main"}})


def test_what_a_run_did_not_see_is_said_from_the_stored_fields() -> None:
    assert blind_spots("python", "seen", "CPython 3.13") == []
    assert "no frame reader for CPython 3.12" in blind_spots("none", "seen", "CPython 3.12")[0]
    [said] = blind_spots("python", "not seen: LD_PRELOAD is set already", "CPython 3.11")
    assert said.endswith("not seen: LD_PRELOAD is set already")
    # A backend without heap figures has no sites to miss.
    assert blind_spots("none", "not measured", "CPython 3.11") == []


def test_the_harness_knows_its_own_frames_and_its_runner() -> None:
    assert os.path.dirname(harness.__file__) == PACKAGE_DIR
    trial = os.path.join(PACKAGE_DIR, "measure", "trial.py")
    churn = os.path.join(PACKAGE_DIR, "churn", "keys.py")
    workload = os.path.join(os.path.dirname(PACKAGE_DIR), "workloads", "lru_cache.py")
    assert is_own_file(trial) and is_own_file(churn) and not is_own_file(workload)
    assert is_runner_file(trial) and is_runner_file("<frozen runpy>")
    # Code a workload calls stays inside its stacks.
    assert not is_runner_file(churn) and not is_runner_file(workload)
    # Results stored before the runner's files lay in measure/ still have their runner cut.
    assert is_runner_file(os.path.join(PACKAGE_DIR, "trial.py"))
    assert is_runner_file(os.path.join(PACKAGE_DIR, "executors", "child.py"))
    # What a frame of the trial or of a backend does in a window is the trial's own work (as
    # tracemalloc's filters match it too); code a workload calls is not.
    capture = os.path.join(PACKAGE_DIR, "measure", "capture", "native.py")
    assert is_bookkeeping_file(trial) and is_bookkeeping_file(capture)
    assert not is_bookkeeping_file(churn) and not is_bookkeeping_file(workload)
    assert all(any(fnmatch.fnmatch(path, p) for p in BOOKKEEPING_PATTERNS) for path in (trial, capture))
    assert not any(fnmatch.fnmatch(path, p) for p in BOOKKEEPING_PATTERNS for path in (churn, workload))


def test_every_error_is_a_harness_error_but_an_interruption() -> None:
    assert issubclass(LimitError, HarnessError)
    assert not issubclass(Interrupted, HarnessError)
    assert str(Interrupted(3)) == "interrupted after 3 finished trials"
    assert GATES == ("regressions", "bounds", "missing")


PIP_REQUIREMENTS_FAILED = """\
Processing ./sortedcontainers
  Getting requirements to build wheel: started
  Getting requirements to build wheel: finished with status 'error'
  error: subprocess-exited-with-error

  × Getting requirements to build wheel did not run successfully.
  │ exit code: 1
  ╰─> [12 lines of output]
      Traceback (most recent call last):
        File "setup.py", line 4, in <module>
          from sortedcontainers import __version__
        File "sortedcontainers/sortedlist.py", line 9, in <module>
          from collections import Sequence, MutableSequence
      ImportError: cannot import name 'Sequence' from 'collections' (/usr/lib/python3.11/collections/__init__.py)
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
error: subprocess-exited-with-error
"""  # noqa: RUF001 - pip's own output, its multiplication sign included
COMPILER_FAILED = """\
running build_ext
building 'store' extension
gcc -pthread -fPIC -c src/store.c -o build/store.o
src/store.c:3:10: fatal error: missing.h: No such file or directory
    3 | #include "missing.h"
compilation terminated.
error: command '/usr/bin/gcc' failed with exit code 1
Traceback (most recent call last):
subprocess.CalledProcessError: Command '['gcc']' returned non-zero exit status 1.
"""


def test_a_failed_build_is_told_by_the_line_that_names_its_cause() -> None:
    from harness.commits.builds import failure_cause

    assert failure_cause(PIP_REQUIREMENTS_FAILED) == (
        "ImportError: cannot import name 'Sequence' from 'collections' (/usr/lib/python3.11/collections/__init__.py)"
    )
    # The first compiler error, not the subprocess error that reports it.
    assert failure_cause(COMPILER_FAILED) == "src/store.c:3:10: fatal error: missing.h: No such file or directory"
    assert failure_cause("ERROR: Could not find a version that satisfies the requirement x\n") is None
