"""Measuring a history: the commits of a range that its store lacks, built and run with the chosen workloads.

Every commit, or (``every`` > 1) every Nth commit with the first and the newest, after which
each span between two measured commits whose exact figures differ is halved until the
change is pinned to one commit: the commit in the middle of the span's untried commits is
measured, and the halves that still differ are halved again. A commit that does not build
is kept with its reason and the next untried commit of the span is taken instead; so is a
commit whose workloads do not import against its code (an older API). Time is
not narrowed this way: its figures differ between any two commits.

An experiment whose trials failed at one end of a span and not at the other differs too, so
narrowing pins the first commit whose trials fail, and the one that fixed them. A commit
whose trials failed in an earlier history is measured again, with the first commits, unless
the historian keeps failures (``keep_failed``): the failure may have been the machine's.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.commits import refs, sides
from harness.commits.buildcache import BuildCache
from harness.commits.history import Entry, HistoryStore
from harness.commits.refs import Commit
from harness.compare.goal_figures import exact_means
from harness.declare.config import Settings
from harness.errors import BuildError, DiscoveryError, SetupError
from harness.git import git
from harness.measure.executors import Executor
from harness.measure.pipeline import MeasureOptions, measure
from harness.store.results import Results


def commits_of(repo: Path, revisions: str) -> list[Commit]:
    """The commits ``git rev-list --first-parent --reverse REVISIONS`` names, oldest first."""
    listed = git(repo, "rev-list", "--first-parent", "--reverse", revisions)
    return [Commit(sha, sha, git(repo, "log", "-1", "--format=%s", sha)) for sha in listed.split()]


def author_date(repo: Path, commit: Commit) -> str:
    return git(repo, "log", "-1", "--format=%aI", str(commit.sha))


def sampled(commits: Sequence[Commit], every: int) -> list[Commit]:
    """Every ``every``-th commit of ``commits``, counted from the oldest, and the newest."""
    if every < 1:
        raise ValueError("every must be at least 1")
    chosen = list(commits[::every])
    if commits and chosen[-1] is not commits[-1]:
        chosen.append(commits[-1])
    return chosen


@dataclass
class Historian:
    """Measures the commits of one repository that its store does not hold yet."""

    repo: Path
    subdir: Path
    settings: Settings
    backend: str
    workloads: sides.Workloads
    patterns: Sequence[str] = ()
    executor: Executor | None = None
    #: Keep the commits whose trials failed in an earlier history instead of measuring them again.
    keep_failed: bool = False
    _states: dict[str, _State] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.cache = BuildCache(cap_bytes=self.settings.build_cache_bytes)

    def measure(self, commit: Commit) -> tuple[Results, float]:
        """The workloads at ``commit`` (its own files first, by default), and the seconds it took to make it ready;
        :class:`BuildError` or :class:`SetupError` when it cannot be made ready."""
        started = time.perf_counter()
        with refs.checkouts(self.repo, [commit], self.subdir) as (checkout,):
            side = sides.side_of("commit", checkout, self.settings, self.workloads, self.cache)
            ready_s = time.perf_counter() - started
            (chosen,) = sides.select([side], self.patterns)
            options = MeasureOptions(executor=self.executor, backend=self.backend)
            return measure([chosen], self.settings, options)["commit"], ready_s

    def _try(self, store: HistoryStore, commit: Commit, told: Callable[[Entry], None]) -> None:
        """Measure ``commit`` and keep it, measured or with the reason it could not be."""
        assert commit.sha is not None
        started = time.perf_counter()
        tried = Entry(commit.sha, commit.subject, author_date(self.repo, commit))
        try:
            results, ready_s = self.measure(commit)
        except (BuildError, SetupError, DiscoveryError) as exc:
            # Not measurable here: its build failed, or today's workloads do not import against
            # its code (they use what came later). Kept with the reason, like a failed build.
            store.add(replace(tried, error=str(exc), ready_s=round(time.perf_counter() - started, 3)), None)
        else:
            measure_s = time.perf_counter() - started - ready_s
            store.add(replace(tried, ready_s=round(ready_s, 3), measure_s=round(measure_s, 3)), results)
        self._states.pop(commit.sha, None)
        told(store.entries()[commit.sha])

    def first(self, store: HistoryStore, commits: Sequence[Commit], every: int) -> list[Commit]:
        """The commits measured before any narrowing: those of every ``every``-th the store
        lacks, and those whose trials failed before (unless failures are kept)."""
        entries = store.entries()
        again = set() if self.keep_failed else {sha for sha, e in entries.items() if e.trials_failed}
        chosen = {c.sha for c in sampled(commits, every) if c.sha not in entries} | again
        return [c for c in commits if c.sha in chosen]

    def extend(
        self, store: HistoryStore, commits: Sequence[Commit], told: Callable[[Entry], None], *, every: int = 1
    ) -> int:
        """Measure the commits of :meth:`first`, then the spans that differ narrowed, each
        kept as it ends; how many were tried."""
        tried = 0
        for commit in self.first(store, commits, every):
            self._try(store, commit, told)
            tried += 1
        while (narrowed := next(self._narrowing(store, commits), None)) is not None:
            self._try(store, narrowed, told)
            tried += 1
        return tried

    def _state(self, store: HistoryStore, entry: Entry) -> _State:
        if entry.sha not in self._states:
            results = store.results(entry)
            failed = entry.failed_experiments
            means = {key: mean for key, mean in exact_means(results).items() if key[0] not in failed}
            self._states[entry.sha] = _State(frozenset(info.id for info in results.experiments), failed, means)
        return self._states[entry.sha]

    def _narrowing(self, store: HistoryStore, commits: Sequence[Commit]) -> Iterator[Commit]:
        """The middle untried commit of each span between measured neighbours that differ."""
        entries = store.entries()
        measured = [i for i, c in enumerate(commits) if c.sha in entries and entries[str(c.sha)].measured]
        for older, newer in itertools.pairwise(measured):
            untried = [c for c in commits[older + 1 : newer] if c.sha not in entries]
            if untried and self._state(store, entries[str(commits[older].sha)]).differs(
                self._state(store, entries[str(commits[newer].sha)])
            ):
                yield untried[len(untried) // 2]


@dataclass(frozen=True)
class _State:
    """What narrowing compares of a measured commit."""

    experiments: frozenset[str]
    failed: frozenset[str]
    means: dict[tuple[str, str], float]

    def differs(self, other: _State) -> bool:
        """An exact figure both measured moved, or an experiment both declare failed at one only."""
        both = self.experiments & other.experiments
        if (self.failed ^ other.failed) & both:
            return True
        return any(self.means[key] != other.means[key] for key in self.means.keys() & other.means.keys())
