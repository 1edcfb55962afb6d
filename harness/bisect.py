"""Finding the first commit where an experiment regressed, by binary search over history.

The commits searched are ``git rev-list --first-parent GOOD..BAD``, oldest first: the main
line only, each merge one step, as ``git bisect --first-parent`` walks it. GOOD is measured
once; every commit probed is measured in its own worktree with the same seeds and judged
against GOOD's figures by the gate's rule (:func:`harness.gate.compare`): it regressed when
the goal is worse by at least the tolerance with an interval that excludes zero, on a row
that is not erratic. As in ``git bisect``, BAD is taken to be bad; it is measured only when
the search ends on it, to tell "BAD is the first bad commit" from "nothing regressed".
With n commits in the range the search measures GOOD and at most ceil(log2 n) commits,
plus BAD when the search ends on it without having seen a bad commit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from harness import gitrefs
from harness.config import Settings
from harness.errors import HarnessError, SelectionError
from harness.executors import Executor
from harness.gate import GateOptions, check_measurable, compare
from harness.gitrefs import Commit
from harness.progress import run_with_progress
from harness.results import Results, experiment_infos
from harness.spec import Goal
from harness.verdict import ExperimentVerdict


class BisectError(HarnessError):
    """A commit of the search could not be measured (the experiment is absent, or its trials failed)."""


@dataclass(frozen=True)
class Step:
    """One commit measured: its rows judged against GOOD, and whether it regressed."""

    commit: Commit
    results: Results
    rows: tuple[ExperimentVerdict, ...] = ()

    @property
    def regressed(self) -> bool:
        return any(row.decision == "regression" and not row.erratic for row in self.rows)


@dataclass(frozen=True)
class Outcome:
    """Where the search ended: the first bad commit (None when nothing in the range regressed)."""

    first_bad: Commit | None
    steps: tuple[Step, ...]
    searched: int


def max_steps(commits: int) -> int:
    """How many commits of a range of ``commits`` the search may measure (GOOD not counted)."""
    return math.ceil(math.log2(commits)) if commits > 1 else 0


class Bisector:
    """Measures commits of one repository for one experiment and goal, with fixed settings."""

    def __init__(
        self,
        repo: Path,
        subdir: Path,
        settings: Settings,
        backend: str,
        experiment_id: str,
        goal: Goal | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.repo = repo
        self.subdir = subdir
        self.settings = settings
        self.backend = backend
        self.experiment_id = experiment_id
        self.goal = goal
        self.executor = executor

    def measure(self, commit: Commit) -> Results:
        """The experiment's trials at ``commit`` (its goals replaced by the chosen one)."""
        with gitrefs.checkouts(self.repo, [commit], self.subdir) as (checkout,):
            side = gitrefs.side_of("commit", checkout, self.settings)
            chosen = tuple(e for e in side.experiments if e.id == self.experiment_id)
            if not chosen:
                raise SelectionError(
                    f"experiment {self.experiment_id!r} does not exist at {commit.short} {commit.subject}"
                )
            if self.goal is not None:
                chosen = (replace(chosen[0], goals=(self.goal,)),)
            side = replace(side, experiments=chosen)
            check_measurable(experiment_infos(side.experiments), self.backend)
            results = run_with_progress([side], self.settings, self.backend, self.executor)["commit"]
        if results.interrupted:
            raise KeyboardInterrupt
        if results.failed():
            raise BisectError(f"trials failed at {commit.short} {commit.subject}: {results.failed()[0].error}")
        return results

    def judge(self, good: Results, commit: Commit, results: Results) -> Step:
        options = GateOptions.from_settings(self.settings, patterns=(self.experiment_id,), gates=("regressions",))
        verdict = compare(good, results, options)
        return Step(commit, results, verdict.experiments)

    def search(self, good: Commit, bad: Commit, on_step: Callable[[Step], None]) -> Outcome:
        """Binary search of ``GOOD..BAD``; ``on_step`` sees each commit as soon as it is measured."""
        commits = gitrefs.first_parent_range(self.repo, good, bad)
        if not commits:
            raise BisectError(f"no commit between {good.short} and {bad.short} on the first-parent line of BAD")
        good_results = self.measure(good)
        # GOOD judged against itself: rows carrying GOOD's own figures, no change by construction.
        good_step = self.judge(good_results, good, good_results)
        on_step(good_step)
        steps = [good_step]
        lo, hi = 0, len(commits) - 1  # the first bad commit is in commits[lo..hi]; BAD is assumed bad
        hi_measured = False
        while lo < hi:
            mid = (lo + hi) // 2
            step = self.judge(good_step.results, commits[mid], self.measure(commits[mid]))
            on_step(step)
            steps.append(step)
            if step.regressed:
                hi, hi_measured = mid, True
            else:
                lo = mid + 1
        first_bad: Commit | None = commits[lo]
        if not hi_measured:
            # The search never saw a bad commit: check that BAD (or the only commit) really is.
            step = self.judge(good_step.results, commits[lo], self.measure(commits[lo]))
            on_step(step)
            steps.append(step)
            first_bad = commits[lo] if step.regressed else None
        return Outcome(first_bad, tuple(steps), len(commits))
