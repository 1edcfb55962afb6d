"""Confirming a history's time steps by measuring their commits again, and narrowing them.

A change point of time is a candidate (:mod:`harness.compare.changepoints`): the commits of
a history are measured minutes or hours apart, and load that came and went between them
moves their times as much as a slower commit does. So each candidate's two commits are
measured again on its experiment, interleaved in one run (a b a b ..., as ``compare`` runs
its sides), with the replicates a noisy goal needs to gate (``noisy_replicates``, 10 a
side), and judged by the gate's own rule (:mod:`harness.commits.confirmations`). Load then
falls on both commits alike and cannot make a step.

A confirmed step between two measured commits with untried commits between them (a sampled
history, ``--every N``) is narrowed by bisection: the middle untried commit is measured into
the history, then measured again with both ends in one interleaved run (a m b a m b ...).
The gate judges (a, m) and (m, b); the half that confirms the change holds the step, and is
halved again until the step lies between adjacent commits. Where neither half confirms, the
change is spread over both and the step stays on the span. A middle commit that cannot be
measured is kept with its reason, and the next untried commit is taken.

Cost: 2 x ``noisy_replicates`` trials of one experiment per candidate (20 at the default),
once only: the runs are kept in the store, and a re-run measures nothing again. For each
narrowing, the middle commit's own measurement plus 3 x ``noisy_replicates`` trials.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from harness.commits import refs, sides
from harness.commits.confirmations import Confirmations, options_of
from harness.commits.historian import Historian
from harness.commits.history import Entry, HistoryStore
from harness.commits.refs import Commit
from harness.commits.timeline import Step, Timeline, timeline
from harness.commits.timesteps import CONFIRMED, TO_CONFIRM
from harness.errors import BuildError, DiscoveryError, SetupError
from harness.measure.pipeline import MeasureOptions, measure
from harness.store.results import Results


def measure_interleaved(
    historian: Historian, commits: Sequence[Commit], experiment: str, replicates: int
) -> list[Results]:
    """``experiment`` at each of ``commits``, ``replicates`` times, in one run that interleaves
    the commits replicate by replicate; one :class:`Results` per commit, in order."""
    with refs.checkouts(historian.repo, commits, historian.subdir) as checkouts:
        named = [(f"{index}-{checkout.commit.short}", checkout) for index, checkout in enumerate(checkouts)]
        built = sides.sides_of(named, historian.settings, historian.workloads, historian.cache)
        only = [replace(s, experiments=tuple(e for e in s.experiments if e.id == experiment)) for s in built]
        settings = historian.settings.override(replicates=replicates)
        options = MeasureOptions(executor=historian.executor, backend=historian.backend)
        results = measure(only, settings, options)
    return [results[name] for name, _ in named]


@dataclass
class Confirmer:
    """Confirms the time change points of a history store and narrows the confirmed steps."""

    historian: Historian
    store: HistoryStore
    commits: Sequence[Commit]
    told: Callable[[Entry], None]
    say: Callable[[str], None]
    _tried: set[tuple[str, str, str]] = field(default_factory=set, repr=False)
    _failed: set[tuple[str, str, str]] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.options = options_of(self.historian.settings)
        self.confirmations = Confirmations(self.store.directory, self.options)
        self._by_sha = {str(c.sha): c for c in self.commits}

    @property
    def replicates(self) -> int:
        return self.options.noisy_replicates

    def timeline(self) -> Timeline:
        settings = self.historian.settings
        return timeline(
            self.store,
            self.commits,
            confidence=settings.confidence,
            tolerance_pct=settings.tolerance_pct,
            confirmations=self.confirmations,
        )

    def confirm(self) -> Timeline:
        """Confirm every candidate not measured again yet and narrow every confirmed step; the
        history's timeline after it."""
        while True:
            found = self.timeline()
            keys = (_key(s) for s in found.candidates if s.kind == TO_CONFIRM)
            pending = [key for key in dict.fromkeys(keys) if key not in self._tried]
            if pending:
                self.say(
                    f"confirming {len(pending)} time change points: their commits measured again, interleaved,"
                    f" 2 x {self.replicates} trials each"
                )
                for experiment, older, newer in pending:
                    self._measure_again(experiment, (older, newer))
                continue
            span = next(self._spans(found), None)
            if span is None:
                return found
            self._narrow(*span)

    def _spans(self, found: Timeline) -> Iterator[tuple[str, Commit, Commit, Commit]]:
        """(experiment, older, middle, newer) of each confirmed step that has untried commits between its ends."""
        entries = self.store.entries()
        positions = {str(c.sha): i for i, c in enumerate(self.commits)}
        for step in found.steps:
            if step.kind != CONFIRMED or _key(step) in self._failed:
                continue
            between = self.commits[positions[step.parent.sha] + 1 : positions[step.commit.sha]]
            untried = [c for c in between if c.sha not in entries]
            if untried and not self.confirmations.narrowed(step.experiment, step.parent.sha, step.commit.sha):
                older, newer = self._by_sha[step.parent.sha], self._by_sha[step.commit.sha]
                yield step.experiment, older, untried[len(untried) // 2], newer

    def _narrow(self, experiment: str, older: Commit, middle: Commit, newer: Commit) -> None:
        self.historian.extend(self.store, [middle], self.told)
        entry = self.store.entries().get(str(middle.sha))
        if entry is None or not entry.measured:
            return  # kept with its reason; the next untried commit of the span is taken
        self.say(
            f"narrowing the time step of {experiment} between {older.short} and {newer.short}:"
            f" {middle.short} measured again with both, interleaved, 3 x {self.replicates} trials"
        )
        self._measure_again(experiment, (str(older.sha), str(middle.sha), str(newer.sha)))

    def _measure_again(self, experiment: str, shas: tuple[str, ...]) -> None:
        # Once per history: a pair or span whose run failed is neither confirmed nor narrowed again.
        self._tried.add((experiment, shas[0], shas[-1]))
        commits = [self._by_sha[sha] for sha in shas]
        try:
            results = measure_interleaved(self.historian, commits, experiment, self.replicates)
        except (BuildError, SetupError, DiscoveryError) as exc:
            self.say(f"could not measure {', '.join(c.short for c in commits)} again: {exc}")
            self._failed.add((experiment, shas[0], shas[-1]))
            return
        self.confirmations.add(experiment, shas, results)


def _key(step: Step) -> tuple[str, str, str]:
    """(experiment, older, newer): what one confirmation measures."""
    return step.experiment, step.parent.sha, step.commit.sha
