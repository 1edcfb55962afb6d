"""Which time steps a history reports: the pairs of commits that measuring again confirmed.

Confirmation runs are kept in a directory as a history store keeps them, and judged by the
gate; the change points come from the series. What the history measures is in
tests/end_to_end/test_history_time.py; here, the rule on figures made in memory.
"""

from __future__ import annotations

import importlib.util
import json
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from harness.commits.confirmations import INDEX, Confirmations, confirms, options_of
from harness.commits.timeline import Point, Series
from harness.commits.timesteps import CONFIRMED, NOT_CONFIRMED, TO_CONFIRM, time_steps
from harness.declare.config import Settings
from harness.declare.spec import Goal
from harness.errors import ResultsError
from harness.store.environment import Environment
from harness.store.results import ExperimentInfo, PhaseResult, Results, RunSettings, TrialResult

HAS_RUPTURES = importlib.util.find_spec("ruptures") is not None
EXPERIMENT = "naps.once[napper]"
MEASURE = "work.wall_s"
INFO = ExperimentInfo(EXPERIMENT, "naps", "once", "napper", {}, (Goal.parse(MEASURE),), ())
ENV = {"python_version": "3.11.7", "implementation": "CPython", "backend": "none", "project_root": "/a"}
SHA = {position: f"{position:x}" * 40 for position in range(10)}
#: The gate's options a history judges confirmations with, at the default settings.
OPTIONS = options_of(Settings(Path("/a"), Path("/a/workloads"), Path("/a/baselines")))


def timed(level: float, rng: random.Random, replicates: int = 10, spread: float = 0.01) -> Results:
    """A run of ``replicates`` trials around ``level`` seconds."""
    trials = tuple(
        TrialResult(EXPERIMENT, i, i + 1, "ok", (PhaseResult("work", {"wall_s": rng.gauss(level, spread * level)}),))
        for i in range(replicates)
    )
    return Results(Environment(**ENV), RunSettings(replicates=replicates), (INFO,), trials, created="")


def series(levels: dict[int, float], rng: random.Random) -> Series:
    """Three replicates a commit at each position's level."""
    points = tuple(
        Point(position, tuple(rng.gauss(level, 0.01 * level) for _ in range(3)), (1, 2, 3))
        for position, level in levels.items()
    )
    return Series(EXPERIMENT, "naps", "once", "napper", MEASURE, "s", points)


def found(each: Series, confirmations: Confirmations | None) -> list[tuple[int, int, str]]:
    steps = time_steps(each, [each.points], SHA, confirmations, confidence=0.9, tolerance_pct=5)
    return sorted((step.before.position, step.after.position, step.kind) for step in steps)


def add(confirmations: Confirmations, levels: Sequence[tuple[int, float]], rng: random.Random) -> None:
    confirmations.add(EXPERIMENT, [SHA[p] for p, _ in levels], [timed(level, rng) for _, level in levels])


@pytest.mark.skipif(not HAS_RUPTURES, reason="ruptures does not install on this CPython")
def test_a_candidate_is_a_step_only_once_measuring_again_confirms_it(tmp_path: Path) -> None:
    rng = random.Random(1)
    history = series({0: 1.0, 1: 1.0, 2: 1.0, 3: 2.0, 4: 2.0, 5: 2.0}, rng)
    assert found(history, None) == [(2, 3, TO_CONFIRM)]
    confirmations = Confirmations(tmp_path, OPTIONS)
    assert found(history, confirmations) == [(2, 3, TO_CONFIRM)]
    # Measured again, interleaved, the two commits run alike: the machine moved, not the code.
    add(confirmations, [(2, 1.0), (3, 1.0)], rng)
    assert found(history, confirmations) == [(2, 3, NOT_CONFIRMED)]
    # A change the other way than the history saw is not this step either.
    add(confirmations, [(2, 1.0), (3, 0.5)], rng)
    row = confirmations.row(EXPERIMENT, MEASURE, SHA[2], SHA[3])
    assert row is not None and row.decision == "improvement" and confirms(row)
    assert found(history, confirmations) == [(2, 3, NOT_CONFIRMED)]
    # Measured again and twice as slow: the step is real, with the interval of the re-measurement.
    add(confirmations, [(2, 1.0), (3, 2.0)], rng)
    (step,) = time_steps(history, [history.points], SHA, confirmations, confidence=0.9, tolerance_pct=5)
    assert (step.after.position, step.kind, step.estimate.method) == (3, CONFIRMED, "welch")
    assert 95 < step.estimate.delta_pct < 105 and step.estimate.ci_low_pct > 90


@pytest.mark.skipif(not HAS_RUPTURES, reason="ruptures does not install on this CPython")
def test_a_confirmed_span_gives_way_to_the_narrower_confirmed_half_inside_it(tmp_path: Path) -> None:
    rng = random.Random(2)
    confirmations = Confirmations(tmp_path, OPTIONS)
    add(confirmations, [(4, 1.0), (8, 3.0)], rng)
    # Narrowing: 6 measured with both ends in one run; the change lies between 4 and 6.
    add(confirmations, [(4, 1.0), (6, 3.0), (8, 3.0)], rng)
    sampled = series({0: 1.0, 4: 1.0, 8: 3.0, 9: 3.0}, rng)
    assert found(sampled, confirmations) == [(4, 8, CONFIRMED)]
    narrowed = series({0: 1.0, 4: 1.0, 6: 3.0, 8: 3.0, 9: 3.0}, rng)
    assert found(narrowed, confirmations) == [(4, 6, CONFIRMED)]
    assert confirmations.narrowed(EXPERIMENT, SHA[4], SHA[8]) and not confirmations.narrowed(EXPERIMENT, SHA[4], SHA[6])


def test_a_change_is_confirmed_by_its_interval_on_a_busy_machine_never_with_too_few_replicates(
    tmp_path: Path,
) -> None:
    rng = random.Random(3)
    confirmations = Confirmations(tmp_path, OPTIONS)
    # Spread 30 % on both sides (a busy machine): far over the gate's erratic_cv, yet a threefold
    # change is confirmed by its interval, and no change is not.
    confirmations.add(EXPERIMENT, [SHA[1], SHA[2]], [timed(1.0, rng, spread=0.3), timed(3.0, rng, spread=0.3)])
    row = confirmations.row(EXPERIMENT, MEASURE, SHA[1], SHA[2])
    assert row is not None and row.decision == "regression" and row.cv is not None and row.cv > 0.1
    assert confirms(row)
    confirmations.add(EXPERIMENT, [SHA[1], SHA[2]], [timed(1.0, rng, spread=0.3), timed(1.0, rng, spread=0.3)])
    row = confirmations.row(EXPERIMENT, MEASURE, SHA[1], SHA[2])
    assert row is not None and row.decision == "no_change" and not confirms(row)
    # Too few replicates for a noisy goal: never confirmed, however large the change.
    confirmations.add(EXPERIMENT, [SHA[1], SHA[2]], [timed(1.0, rng, 5), timed(3.0, rng, 5)])
    row = confirmations.row(EXPERIMENT, MEASURE, SHA[1], SHA[2])
    assert row is not None and row.decision == "regression" and row.erratic and not confirms(row)


def test_the_runs_are_kept_beside_the_index_and_read_again(tmp_path: Path) -> None:
    rng = random.Random(4)
    add(Confirmations(tmp_path, OPTIONS), [(1, 1.0), (2, 2.0)], rng)
    index = json.loads((tmp_path / INDEX).read_text())
    assert index["schema"] == "harness.confirmations/1"
    (run,) = index["runs"]
    assert run["commits"] == [SHA[1], SHA[2]] and all((tmp_path / file).is_file() for file in run["results"])
    again = Confirmations(tmp_path, OPTIONS)
    assert again.pairs(EXPERIMENT) == [(SHA[1], SHA[2])]
    row = again.row(EXPERIMENT, MEASURE, SHA[1], SHA[2])
    assert row is not None and confirms(row)
    assert again.row(EXPERIMENT, MEASURE, SHA[2], SHA[3]) is None
    (tmp_path / INDEX).write_text('{"schema": "harness.confirmations/1", "runs": [{"experiment": "x"}]}')
    with pytest.raises(ResultsError, match="not an index of confirmations"):
        Confirmations(tmp_path, OPTIONS).runs()
