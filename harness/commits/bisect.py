"""Finding the first commit where an experiment regressed, by binary search over history.

The commits searched are ``git rev-list --first-parent GOOD..BAD``, oldest first: the main
line only, each merge one step, as ``git bisect --first-parent`` walks it. GOOD is measured
once; every commit probed is built and measured in its own worktree (by default with its
own workload files, the working tree's filling in those it lacks, so a variant made worse
in the workloads is pinned to its commit and history older than the workloads can be
searched) with the same seeds, and judged
against GOOD's figures by the gate's rule (:func:`harness.compare.gate.compare`): it regressed when
the goal is worse by at least the tolerance with an interval that excludes zero, on a row
that is not erratic. As in ``git bisect``, BAD is taken to be bad; it is measured only when
the search ends on it, to tell "BAD is the first bad commit" from "nothing regressed".
With n commits in the range the search measures GOOD and at most ceil(log2 n) commits,
plus BAD when the search ends on it without having seen a bad commit. A commit whose build
(or setup) fails, or whose workloads do not import, is skipped, like ``git bisect skip``,
and a nearby commit is tried instead.

A commit whose trials fail (a crash, a timeout, an exception in the measured code) is bad,
as a failing test is to ``git bisect run``: it is never read as good, and the search finds
the first commit that either regressed or whose trials fail, and says which (``trials fail
from here``, with the first failure's reason). GOOD's own trials must run: when they fail
there is nothing to judge against, a :class:`~harness.errors.BisectError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from harness.commits import refs, sides
from harness.commits.buildcache import BuildCache
from harness.commits.refs import Commit
from harness.commits.sides import Workloads
from harness.compare.gate import GateOptions, compare
from harness.compare.unmeasured import one_line
from harness.compare.verdict import ExperimentVerdict
from harness.declare.config import REGRESSIONS, Settings
from harness.declare.spec import Goal
from harness.errors import BisectError, BuildError, DiscoveryError, SelectionError, SetupError
from harness.measure.executors import Executor
from harness.measure.pipeline import MeasureOptions, measure
from harness.store.results import Results


@dataclass(frozen=True)
class Step:
    """One commit measured: its rows judged against GOOD, and whether it regressed.

    A commit whose code could not be built or set up is skipped, as ``git bisect skip``
    does: ``skipped`` says why, and it has no figures.
    """

    commit: Commit
    results: Results | None
    rows: tuple[ExperimentVerdict, ...] = ()
    skipped: str = ""
    #: The workload files (paths relative to the project) this commit has in another version than GOOD.
    workloads_differ: tuple[str, ...] = ()

    @property
    def regressed(self) -> bool:
        return any(row.regressed for row in self.rows)

    @property
    def failure(self) -> str:
        """Why the commit's trials failed, on one line (``2 of 3 trials failed: ...``); "" when
        they all finished. The commit is the one side measured here, so no side is named."""
        if not any(row.decision == "failed" for row in self.rows):
            return ""
        failed = self.results.failed() if self.results else []
        if not failed:
            return "no trial ran"
        trials = len(self.results.trials) if self.results else len(failed)
        return f"{len(failed)} of {trials} trials failed: {one_line(failed[0].error or 'no reason given')}"

    @property
    def bad(self) -> bool:
        """What the search looks for: a regression, or trials that fail."""
        return self.regressed or bool(self.failure)


@dataclass(frozen=True)
class Outcome:
    """Where the search ended.

    ``first_bad`` is the first bad commit (it regressed, or its trials fail: see
    :attr:`failure`), or None when nothing in the range regressed or
    skipped commits hide it; then ``candidates`` lists the commits it may be, oldest first.
    """

    first_bad: Commit | None
    steps: tuple[Step, ...]
    searched: int
    candidates: tuple[Commit, ...] = ()

    @property
    def failure(self) -> str:
        """Why the trials of :attr:`first_bad` fail, when that is what makes it bad; else ""."""
        if self.first_bad is None:
            return ""
        sha = self.first_bad.sha
        return next((step.failure for step in self.steps if step.commit.sha == sha and step.failure), "")


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
        workloads: Workloads | None = None,
        cache: BuildCache | None = None,
    ) -> None:
        self.repo = repo
        self.subdir = subdir
        self.settings = settings
        self.backend = backend
        self.experiment_id = experiment_id
        self.goal = goal
        self.executor = executor
        self.workloads = workloads or sides.own_workloads(settings)
        self.cache = cache or BuildCache(cap_bytes=settings.build_cache_bytes)

    def measure(self, commit: Commit) -> Results:
        """The experiment's trials at ``commit`` (its goals replaced by the chosen one), failed
        ones included.

        Raises :class:`~harness.errors.BuildError` or :class:`~harness.errors.SetupError`
        when the commit's code cannot be made ready.
        """
        with refs.checkouts(self.repo, [commit], self.subdir) as (checkout,):
            side = sides.side_of("commit", checkout, self.settings, self.workloads, self.cache)
            chosen = tuple(e for e in side.experiments if e.id == self.experiment_id)
            if not chosen:
                raise SelectionError(
                    f"experiment {self.experiment_id!r} does not exist at {commit.short} {commit.subject}"
                )
            if self.goal is not None:
                chosen = (replace(chosen[0], goals=(self.goal,)),)
            side = replace(side, experiments=chosen)
            options = MeasureOptions(executor=self.executor, backend=self.backend)
            return measure([side], self.settings, options)["commit"]

    def judge(self, good: Results, commit: Commit, results: Results) -> Step:
        options = GateOptions.from_settings(self.settings, patterns=(self.experiment_id,), gates=(REGRESSIONS,))
        verdict = compare(good, results, options)
        return Step(commit, results, verdict.experiments, workloads_differ=sides.results_differ(good, results))

    def probe(self, good: Results, commit: Commit) -> Step:
        """``commit`` measured and judged against GOOD, or skipped when its code cannot be built."""
        try:
            results = self.measure(commit)
        except (BuildError, SetupError, DiscoveryError) as exc:
            # Not measurable here: its code does not build, or its workloads do not import.
            return Step(commit, None, skipped=str(exc))
        return self.judge(good, commit, results)

    def search(self, good: Commit, bad: Commit, on_step: Callable[[Step], None]) -> Outcome:
        """Binary search of ``GOOD..BAD``; ``on_step`` sees each commit as soon as it is measured.

        A skipped commit is replaced by the untried commit of the remaining range nearest to
        it, as ``git bisect skip`` does; when only skipped commits are left between the last
        good and the first bad one, the outcome lists them all as candidates.
        """
        commits = refs.first_parent_range(self.repo, good, bad)
        if not commits:
            raise BisectError(f"no commit between {good.short} and {bad.short} on the first-parent line of BAD")
        good_results = self.measure(good)
        if good_results.failed():
            raise BisectError(
                f"trials fail at GOOD {good.short} {good.subject}, so there is nothing to judge against: "
                f"{one_line(good_results.failed()[0].error or 'no reason given')}"
            )
        # GOOD judged against itself: rows carrying GOOD's own figures, no change by construction.
        good_step = self.judge(good_results, good, good_results)
        on_step(good_step)
        steps = [good_step]
        skipped: set[int] = set()

        def probe(index: int) -> Step:
            step = self.probe(good_results, commits[index])
            on_step(step)
            steps.append(step)
            if step.skipped:
                skipped.add(index)
            return step

        lo, hi = 0, len(commits) - 1  # the first bad commit is in commits[lo..hi]; BAD is assumed bad
        hi_measured = False
        while lo < hi:
            index = _nearest_untried(lo, hi, (lo + hi) // 2, skipped)
            if index is None:
                break
            step = probe(index)
            if step.skipped:
                continue
            if step.bad:
                hi, hi_measured = index, True
            else:
                lo = index + 1
        if lo < hi:
            # Only skipped commits are left before hi: the first bad one is among them or hi.
            return Outcome(None, tuple(steps), len(commits), tuple(commits[lo : hi + 1]))
        if hi_measured:
            return Outcome(commits[lo], tuple(steps), len(commits))
        # The search never saw a bad commit: check that BAD (or the only commit left) really is.
        step = probe(lo)
        if step.skipped:
            return Outcome(None, tuple(steps), len(commits), (commits[lo],))
        return Outcome(commits[lo] if step.bad else None, tuple(steps), len(commits))


def _nearest_untried(lo: int, hi: int, mid: int, skipped: set[int]) -> int | None:
    """The index in ``[lo, hi)`` nearest to ``mid`` that was not skipped, or None."""
    for distance in range(hi - lo):
        for index in (mid - distance, mid + distance):
            if lo <= index < hi and index not in skipped:
                return index
    return None
