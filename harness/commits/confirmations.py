"""The re-measurements that confirm a history's time steps, kept in its store and judged by the gate.

A candidate change point of time (:mod:`harness.compare.changepoints`) is confirmed by
measuring its two commits again on its experiment, interleaved in one run (a b a b ...,
:mod:`harness.commits.confirm`). Narrowing a confirmed step measures three commits in one
run: the two ends and a commit between them. Each such run is kept in the history store
beside its index:

* ``confirmations.json`` (``harness.confirmations/1``) lists the runs: the experiment, the
  commits oldest first, and one results file per commit;
* ``confirmations/<digest>-<sha>.json`` are those results files, in the ordinary
  ``harness.results/1`` format (``harness report`` and ``harness explain`` read them).

A run of commits a, b (, c) judges the pairs (a, b) (and (b, c)), each with
:func:`harness.compare.gate.compare`, the gate's own rule, at the settings of the day: a
change of the tolerance judges the kept runs again without measuring them again, and a
re-run of the history measures nothing that is already here. A goal's change between two
commits is confirmed when the gate calls it a regression or an improvement (its interval
excludes 0, its Δ passes the tolerance) on a row with the replicates a noisy goal needs to
gate on each side (``noisy_replicates``). Two limits of a gate are left out, both about what
may fail a pull request: the ``erratic`` list of the settings, which often names every
timing goal (``harness calibrate`` suggests it), and ``erratic_cv``, the spread above which a
row is not gated. A busy machine spreads the times of an interleaved run on both sides
alike, and Welch's interval of 10 replicates a side widens with that spread; with the limit,
a real threefold step measured again twice on a busy machine was called too noisy both times
(the second: +151 % [+131 %, +176 %]).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.compare.gate import GateOptions, compare
from harness.compare.verdict import ExperimentVerdict
from harness.declare.config import Settings
from harness.errors import ResultsError
from harness.store.jsonfile import write_json_atomic
from harness.store.results import Results, read_results, save_results

SCHEMA = "harness.confirmations/1"
INDEX = "confirmations.json"
DIRECTORY = "confirmations"


@dataclass(frozen=True)
class ConfirmationRun:
    """Commits (oldest first) measured again, interleaved, on one experiment; one results file each."""

    experiment: str
    commits: tuple[str, ...]
    results: tuple[str, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConfirmationRun:
        commits, results = (tuple(str(item) for item in data[key]) for key in ("commits", "results"))
        if len(commits) != len(results) or len(commits) < 2:
            raise ValueError("a run needs two or more commits, each with its results file")
        return cls(str(data["experiment"]), commits, results)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(itertools.pairwise(self.commits))


def options_of(settings: Settings) -> GateOptions:
    """The gate's options for judging a confirmation (without the two limits named above)."""
    return GateOptions.from_settings(settings, erratic=(), erratic_cv=math.inf, top_sites=0)


def confirms(row: ExperimentVerdict) -> bool:
    """Whether a re-measured goal's row says its change is real, by the gate's rule."""
    return row.decision in ("regression", "improvement") and not row.erratic


class Confirmations:
    """The confirmation runs of one history store, and the gate's rows of each pair they measured."""

    def __init__(self, directory: Path, options: GateOptions) -> None:
        self.directory = directory
        self.options = options
        self._rows: dict[tuple[str, str, str], dict[str, ExperimentVerdict]] = {}
        self._runs: list[ConfirmationRun] | None = None

    def runs(self) -> list[ConfirmationRun]:
        """The runs kept so far, oldest first; none for a store without any."""
        if self._runs is None:
            self._runs = self._read()
        return self._runs

    def _read(self) -> list[ConfirmationRun]:
        index = self.directory / INDEX
        if not index.is_file():
            return []
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            if data.get("schema") != SCHEMA:
                raise ValueError(f"schema {data.get('schema')!r}, not {SCHEMA!r}")
            return [ConfirmationRun.from_json(item) for item in data["runs"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ResultsError(f"{index}: not an index of confirmations ({exc})") from None

    def add(self, experiment: str, commits: Sequence[str], results: Sequence[Results]) -> ConfirmationRun:
        """Keep a run (its results files first, so that the index never names a missing file)."""
        digest = hashlib.sha1("\0".join([experiment, *commits]).encode()).hexdigest()[:10]
        files = tuple(f"{DIRECTORY}/{digest}-{sha[:12]}.json" for sha in commits)
        for file, each in zip(files, results, strict=True):
            save_results(each, self.directory / file)
        run = ConfirmationRun(experiment, tuple(commits), files)
        kept = [r for r in self.runs() if (r.experiment, r.commits) != (run.experiment, run.commits)] + [run]
        document = {"schema": SCHEMA, "runs": [dataclasses.asdict(r) for r in kept]}
        write_json_atomic(self.directory / INDEX, document)
        self._rows, self._runs = {}, kept
        return run

    def pairs(self, experiment: str) -> list[tuple[str, str]]:
        """Every pair of commits measured again on ``experiment``, older first."""
        return list(dict.fromkeys(p for r in self.runs() if r.experiment == experiment for p in r.pairs))

    def narrowed(self, experiment: str, older: str, newer: str) -> bool:
        """Whether a commit between ``older`` and ``newer`` was measured with both in one run."""
        return any(
            r.experiment == experiment and len(r.commits) == 3 and (r.commits[0], r.commits[-1]) == (older, newer)
            for r in self.runs()
        )

    def row(self, experiment: str, measure: str, older: str, newer: str) -> ExperimentVerdict | None:
        """The gate's row of ``measure`` (``phase.metric``) for ``newer`` against ``older``, as
        the newest run that measured both in turn says; None when no run did."""
        return self.rows(experiment, older, newer).get(measure)

    def rows(self, experiment: str, older: str, newer: str) -> dict[str, ExperimentVerdict]:
        """The gate's rows of every goal for ``newer`` against ``older``, by ``phase.metric``."""
        key = (experiment, older, newer)
        if key not in self._rows:
            self._rows[key] = self._judge(experiment, older, newer)
        return self._rows[key]

    def _judge(self, experiment: str, older: str, newer: str) -> dict[str, ExperimentVerdict]:
        runs = [r for r in self.runs() if r.experiment == experiment and (older, newer) in r.pairs]
        if not runs:
            return {}
        run = runs[-1]
        files = dict(zip(run.commits, run.results, strict=True))
        baseline, candidate = (read_results(self.directory / files[sha]) for sha in (older, newer))
        verdict = compare(baseline, candidate, self.options)
        return {f"{row.phase}.{row.goal}": row for row in verdict.experiments if row.id == experiment}
