"""The allocation history of a branch: every commit of a range measured with today's
workloads, kept in a history store, and the steps between adjacent commits.

A history store is a directory the user keeps (in a branch, an artifact): one results file
per measured commit (``<sha>.json``, the ordinary ``harness.results/1`` format) and an index,
``index.json`` (``harness.history/1``), that lists every commit tried: its subject, author
date, and either its results file or why it could not be measured (the one line of a failed
build). A commit already in the index is never measured again, so adding the newest commit
of a branch measures that commit only, and an interrupted history resumes where it stopped.

**Steps of exact figures.** Allocation figures repeat exactly for a seed, so any change
between two adjacent measured commits is a step, pinned to the later commit. Noisy figures
(time) are not judged here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.commits import refs, sides
from harness.commits.buildcache import BuildCache
from harness.commits.refs import Commit
from harness.compare.goal_figures import figures
from harness.declare.config import Settings
from harness.declare.metrics import metric
from harness.errors import BuildError, ResultsError, SetupError
from harness.git import git
from harness.measure.executors import Executor
from harness.measure.pipeline import MeasureOptions, measure
from harness.store.jsonfile import write_json_atomic
from harness.store.results import Results, read_results, save_results

SCHEMA = "harness.history/1"
INDEX = "index.json"


@dataclass(frozen=True)
class Entry:
    """One commit of the history: measured (``results`` names its file) or not (``error`` says why)."""

    sha: str
    subject: str
    author_date: str
    results: str | None = None
    error: str | None = None

    @property
    def short(self) -> str:
        return self.sha[:10]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        sha, subject, date = (str(data[key]) for key in ("sha", "subject", "author_date"))
        return cls(sha, subject, date, data.get("results"), data.get("error"))


class HistoryStore:
    """A directory of results files, one per commit, and its index."""

    def __init__(self, directory: Path) -> None:
        if directory.exists() and not directory.is_dir():
            raise ResultsError(f"{directory}: not a directory (a history store is one)")
        self.directory = directory

    def entries(self) -> dict[str, Entry]:
        """The commits tried so far, by hash; none for a store not made yet."""
        index = self.directory / INDEX
        if not index.is_file():
            return {}
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            if data.get("schema") != SCHEMA:
                raise ValueError(f"schema {data.get('schema')!r}, not {SCHEMA!r}")
            entries = [Entry.from_json(item) for item in data["commits"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ResultsError(f"{index}: not a history index ({exc})") from None
        return {entry.sha: entry for entry in entries}

    def add(self, entry: Entry, results: Results | None) -> None:
        """Keep ``entry`` (and its results first, so that the index never names a missing file)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if results is not None:
            save_results(results, self.directory / f"{entry.sha}.json")
            entry = Entry(entry.sha, entry.subject, entry.author_date, f"{entry.sha}.json", None)
        known = self.entries()
        known[entry.sha] = entry
        write_json_atomic(self.directory / INDEX, {"schema": SCHEMA, "commits": [asdict(e) for e in known.values()]})

    def results(self, entry: Entry) -> Results:
        assert entry.results is not None, f"{entry.short} was not measured"
        return read_results(self.directory / entry.results)


def commits_of(repo: Path, revisions: str) -> list[Commit]:
    """The commits ``git rev-list --first-parent --reverse REVISIONS`` names, oldest first."""
    listed = git(repo, "rev-list", "--first-parent", "--reverse", revisions)
    return [Commit(sha, sha, git(repo, "log", "-1", "--format=%s", sha)) for sha in listed.split()]


def author_date(repo: Path, commit: Commit) -> str:
    return git(repo, "log", "-1", "--format=%aI", str(commit.sha))


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

    def __post_init__(self) -> None:
        self.cache = BuildCache(cap_bytes=self.settings.build_cache_bytes)

    def measure(self, commit: Commit) -> Results:
        """Today's workloads at ``commit``; :class:`BuildError` or :class:`SetupError` when it cannot be made ready."""
        with refs.checkouts(self.repo, [commit], self.subdir) as (checkout,):
            side = sides.side_of("commit", checkout, self.settings, self.workloads, self.cache)
            (chosen,) = sides.select([side], self.patterns)
            options = MeasureOptions(executor=self.executor, backend=self.backend)
            return measure([chosen], self.settings, options)["commit"]

    def extend(self, store: HistoryStore, commits: Sequence[Commit], told: Callable[[Entry], None]) -> int:
        """Measure every commit of ``commits`` the store lacks, in order, each kept as it ends; how many."""
        known = store.entries()
        measured = 0
        for commit in commits:
            assert commit.sha is not None
            if commit.sha in known:
                continue
            entry = Entry(commit.sha, commit.subject, author_date(self.repo, commit))
            try:
                results: Results | None = self.measure(commit)
            except (BuildError, SetupError) as exc:
                entry, results = Entry(entry.sha, entry.subject, entry.author_date, error=str(exc)), None
            store.add(entry, results)
            measured += 1
            told(store.entries()[commit.sha])
        return measured


@dataclass(frozen=True)
class AllocationStep:
    """An exact figure that changed between two adjacent measured commits."""

    commit: Entry
    parent: Entry
    experiment: str
    measure: str
    before: float
    after: float

    @property
    def delta_pct(self) -> float:
        return (self.after - self.before) / abs(self.before) * 100 if self.before else math.inf


def _means(results: Results) -> dict[tuple[str, str], float]:
    """The mean of each exact goal of each experiment's phase: {(experiment, "phase.goal"): mean}."""
    return {(f.experiment, f.measure): f.mean for f in figures(results) if metric(f.measure.rsplit(".", 1)[1]).exact}


def allocation_steps(store: HistoryStore, order: Sequence[str]) -> Iterator[AllocationStep]:
    """The steps of exact figures along ``order`` (commit hashes, oldest first), over measured commits."""
    entries = store.entries()
    measured = [entries[sha] for sha in order if sha in entries and entries[sha].results is not None]
    previous: tuple[Entry, dict[tuple[str, str], float]] | None = None
    for entry in measured:
        means = _means(store.results(entry))
        if previous is not None:
            parent, before = previous
            for key in sorted(before.keys() & means.keys()):
                if before[key] != means[key]:
                    yield AllocationStep(entry, parent, key[0], key[1], before[key], means[key])
        previous = (entry, means)
