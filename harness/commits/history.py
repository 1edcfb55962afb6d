"""The history store: every commit of a range that was tried, and its results.

A history store is a directory the user keeps (in a branch, an artifact): one results file
per measured commit (``<sha>.json``, the ordinary ``harness.results/1`` format) and an index,
``index.json`` (``harness.history/1``), that lists every commit tried: its subject, author
date, and either its results file or why it could not be measured (the one line of a failed
build). A commit already in the index is not measured again, so adding the newest commit of
a branch measures that commit only, and an interrupted history resumes where it stopped.

**Failed trials.** An experiment whose trials failed at a commit, any one of them, is failed
there: its figures at that commit are no measurement (a mean of the replicates that survived
is not one), and the index keeps, for each such experiment, how many of its trials failed and
the first failure's reason, in one line (``trials_failed``). The commit's other experiments
are measured as usual. The results file is kept too, for the failures' details. Unlike a
failed build, a commit whose trials failed is measured again by the next history, unless
that history is told to keep it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.compare.unmeasured import one_line
from harness.errors import ResultsError
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
    #: Seconds spent making the commit ready (checkout, setup, build) and measuring it.
    ready_s: float | None = None
    measure_s: float | None = None
    #: (experiment, ``N of M trials failed: <the first failure's reason>``, one line) of each
    #: experiment whose trials failed here, in the order of the results file.
    trials_failed: tuple[tuple[str, str], ...] = ()

    @property
    def short(self) -> str:
        return self.sha[:10]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        sha, subject, date = (str(data[key]) for key in ("sha", "subject", "author_date"))
        times = (data.get(key) for key in ("ready_s", "measure_s"))
        ready_s, measure_s = (float(t) if isinstance(t, int | float) else None for t in times)
        failed = tuple((str(k), str(v)) for k, v in dict(data.get("trials_failed") or {}).items())
        return cls(sha, subject, date, data.get("results"), data.get("error"), ready_s, measure_s, failed)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "trials_failed": dict(self.trials_failed)}

    @property
    def measured(self) -> bool:
        """It has a results file (whose experiments may still have failed: :attr:`trials_failed`)."""
        return self.results is not None

    @property
    def failed_experiments(self) -> frozenset[str]:
        return frozenset(experiment for experiment, _ in self.trials_failed)

    @property
    def failure(self) -> str | None:
        """Why the commit, or one of its experiments, was not measured: one line, or None."""
        if self.error is not None:
            return self.error
        if not self.trials_failed:
            return None
        experiment, reason = self.trials_failed[0]
        more = len(self.trials_failed) - 1
        return f"{experiment}: {reason}" + (f" (and the trials of {more} more experiments)" if more else "")


def trials_failed(results: Results) -> tuple[tuple[str, str], ...]:
    """(experiment, ``2 of 3 trials failed: <the first failure's reason on one line>``) of each
    experiment of ``results`` with a failed trial."""
    out = []
    for info in results.experiments:
        trials = results.trials_of(info.id)
        failed = [t for t in trials if not t.ok]
        if failed:
            reason = one_line(failed[0].error or "no reason given")
            out.append((info.id, f"{len(failed)} of {len(trials)} trials failed: {reason}"))
    return tuple(out)


def measured_part(entry: Entry, results: Results) -> Results:
    """``results`` without the experiments whose trials failed at ``entry``: what was measured there."""
    failed = entry.failed_experiments
    return dataclasses.replace(results, experiments=tuple(e for e in results.experiments if e.id not in failed))


class HistoryStore:
    """A directory of results files, one per commit, and its index."""

    def __init__(self, directory: Path) -> None:
        if directory.exists() and not directory.is_dir():
            raise ResultsError(f"{directory}: not a directory (a history store is one)")
        self.directory = directory
        self._failures: dict[str, tuple[tuple[str, str], ...]] = {}

    def entries(self) -> dict[str, Entry]:
        """The commits tried so far, by hash; none for a store not made yet."""
        index = self.directory / INDEX
        if not index.is_file():
            return {}
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            if data.get("schema") != SCHEMA:
                raise ValueError(f"schema {data.get('schema')!r}, not {SCHEMA!r}")
            items = [(Entry.from_json(item), "trials_failed" in item) for item in data["commits"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ResultsError(f"{index}: not a history index ({exc})") from None
        return {entry.sha: entry if told else self._read_failures(entry) for entry, told in items}

    def _read_failures(self, entry: Entry) -> Entry:
        """``entry`` of an index written before failed trials were kept in it, with the
        failures of its results file: such an index called a commit whose trials all failed
        measured."""
        if entry.results is None:
            return entry
        if entry.sha not in self._failures:
            self._failures[entry.sha] = trials_failed(self.results(entry))
        return dataclasses.replace(entry, trials_failed=self._failures[entry.sha])

    def add(self, entry: Entry, results: Results | None) -> None:
        """Keep ``entry`` (and its results first, so that the index never names a missing file)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if results is not None:
            save_results(results, self.directory / f"{entry.sha}.json")
            entry = dataclasses.replace(
                entry, results=f"{entry.sha}.json", error=None, trials_failed=trials_failed(results)
            )
        known = self.entries()
        known[entry.sha] = entry
        write_json_atomic(self.directory / INDEX, {"schema": SCHEMA, "commits": [e.to_json() for e in known.values()]})

    def results(self, entry: Entry) -> Results:
        assert entry.results is not None, f"{entry.short} was not measured"
        return read_results(self.directory / entry.results)
