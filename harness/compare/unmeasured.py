"""What a comparison did not measure, in one place: failed sides, and a candidate with nothing.

A verdict names everything it did not measure, and nothing unmeasured passes. A side of an
experiment whose trials failed, or which ran none, is a :class:`SideFailure`: the gate fails
on it, with one reason per side and experiment (the first failed trial's stored error, on
one line), and its rows are ``failed`` rather than ``new`` or ``missing``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.compare.verdict import FailedSide
from harness.store.results import ExperimentInfo, Results


@dataclass(frozen=True)
class SideFailure:
    """The trials of one side of an experiment that failed: how many, and the first one's reason."""

    experiment: str
    side: str
    failed: int
    trials: int
    #: The first failed trial's error as the trial stored it; None when no trial ran at all.
    error: str | None

    @property
    def line(self) -> str:
        """The failure in one line: ``baseline: 3 of 3 trials failed: killed by SIGSEGV ...``."""
        if self.error is None:
            return f"{self.side}: no trial ran"
        return f"{self.side}: {self.failed} of {self.trials} trials failed: {one_line(self.error)}"


def one_line(text: str) -> str:
    """``text`` on one line: its lines (a stack, the last lines of stderr) joined by `` | ``."""
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def side_failures(
    base_info: ExperimentInfo | None, cand_info: ExperimentInfo | None, baseline: Results, candidate: Results
) -> list[SideFailure]:
    """The sides of an experiment that both sides declare whose trials failed, or that ran none;
    for an experiment only the candidate declares, the candidate's. An experiment one side
    lacks is ``new`` or ``missing``, not a failure of that side."""
    sides: list[tuple[str, Results]] = [("candidate", candidate)] if cand_info else []
    if base_info and cand_info:
        sides.insert(0, ("baseline", baseline))
    info = cand_info or base_info
    if info is None:
        return []
    failures = []
    for side, results in sides:
        trials = results.trials_of(info.id)
        failed = [t for t in trials if not t.ok]
        if not trials:
            failures.append(SideFailure(info.id, side, 0, 0, None))
        elif failed:
            failures.append(SideFailure(info.id, side, len(failed), len(trials), failed[0].error or "no reason given"))
    return failures


def failed_side(failures: Sequence[SideFailure]) -> FailedSide | None:
    """Whose trials of an experiment failed, from its failures; None when none did."""
    sides = {f.side for f in failures}
    if sides == {"baseline", "candidate"}:
        return "both"
    if sides == {"baseline"}:
        return "baseline"
    return "candidate" if sides else None


def unmeasured_reasons(candidate: Results, failures: Sequence[SideFailure], compared: Sequence[str]) -> list[str]:
    """The reasons to fail for what was not measured: an interrupted candidate run, a candidate
    with no finished trial of the experiments ``compared`` (said once, unless its failed
    sides say why), and each failed side."""
    reasons = []
    if candidate.interrupted:
        reasons.append("the candidate run was interrupted: not every trial ran")
    declared = {e.id for e in candidate.experiments}
    finished = any(t.ok for i in compared if i in declared for t in candidate.trials_of(i))
    if not finished and not any(f.side == "candidate" for f in failures):
        reasons.append("the candidate has no finished trial: nothing was measured")
    return reasons + [f"{f.experiment}: {f.line}" for f in failures]
