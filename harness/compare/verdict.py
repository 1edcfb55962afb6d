"""The verdict: what comparing a candidate with a baseline decided, as frozen values and JSON.

Format ``harness.verdict/1`` (JSON, stable field names)::

    {"schema": "harness.verdict/1", "passed": bool, "confidence": 0.9, "tolerance_pct": 5.0,
     "erratic_cv": 0.1, "gates": ["regressions", "bounds"], "reasons": [str, ...],
     "baseline": {...env...}, "candidate": {...env...},
     "experiments": [{"id", "family", "workload", "variant", "params", "phase", "goal",
                      "baseline_mean", "candidate_mean", "delta_pct", "ci_low_pct", "ci_high_pct",
                      "delta_abs", "from_zero",
                      "method", "replicates": [n_base, n_cand], "erratic", "cv",
                      "decision": "regression|improvement|no_change|new|missing|failed",
                      "fails_gate": bool,
                      "error", "failed_side": "baseline|candidate|both"|null, "baseline_values", "candidate_values",
                      "bounds": [{"name", "metric", "upper", "replicates_passed", "replicates",
                                  "passed", "worst"}],
                      "top_sites": [{"site", "function", "file", "lines", "baseline", "candidate",
                                     "delta"}],
                      "top_paths": [{"stack", "frames": [{"function", "file", "line"}],
                                     "baseline_bytes", "candidate_bytes", "delta_bytes",
                                     "delta_count"}]}]}

One row per experiment, phase and goal metric. ``decision`` is what the figures say;
``fails_gate`` whether the row counts against the verdict's gates: an erratic row's
``"regression"`` is shown, never counted, so a consumer counts ``fails_gate`` rows, not
``"regression"`` decisions. A ``failed`` row is an experiment whose trials failed (or of
which no trial ran) on the side ``failed_side`` names; ``error`` gives each failed side's
first reason on one line. ``gates`` lists what can fail the gate besides failed trials
(``regressions``, ``bounds``, ``missing``); a ``missing`` row fails it unless ``missing`` was
left out (``--allow-missing``). An experiment's bounds checks appear once,
on the row of the bound's phase (else on the experiment's first row), so iterating the rows'
bounds counts each check once. A figure that does not exist (no baseline for a ``new`` row)
is ``null``; an infinite one (an interval that a single replicate leaves unbounded) is the
string ``"Infinity"`` or ``"-Infinity"``, which ``Number()`` in JavaScript and ``float()`` in
Python both read, since JSON has no infinity.

A change from or to zero is an absolute change: ``delta_abs`` (candidate mean less baseline
mean, ``null`` when a side has none) is on every row, and ``from_zero`` is ``true`` on a row
whose baseline mean is 0 and candidate mean is not. Such a row has no percent: its
``delta_pct``, ``ci_low_pct`` and ``ci_high_pct`` are ``null`` (a verdict written before
``from_zero`` existed may hold ``"Infinity"`` there; read it by ``from_zero``). Reports write
both from-zero and to-zero rows as ``0 B → 711 KiB (+711 KiB)``.

Places in the code are named ``function (file:line)``, the file relative to the project root
(see :func:`harness.store.sites.site_label`). ``top_sites`` are keyed by function (a line
that only moved is no change), and each ``site`` names the lines the change happened on (its
lines whose figure changed the function's way), largest first:
``requests (workloads/churn.py:201, 202)``, also held apart as ``function``, ``file`` and
``lines`` (``[201, 202]``). Each
``top_paths[].stack`` entry is a frame with the line of its call (the innermost frame's line
is the allocating line). ``top_paths[].frames`` gives the same frames as
``{"function", "file", "line"}`` (``line`` 0 where unknown).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

from harness.declare.config import BOUNDS, GATES, MISSING, REGRESSIONS
from harness.declare.metrics import absolute_change
from harness.declare.units import format_pct
from harness.errors import ResultsError
from harness.store.environment import Environment
from harness.store.jsonfile import read_json, read_versioned
from harness.store.sites import SiteKey

SCHEMA = "harness.verdict/1"

Decision = Literal["regression", "improvement", "no_change", "new", "missing", "failed"]
DECISIONS: tuple[Decision, ...] = ("regression", "improvement", "no_change", "new", "missing", "failed")
#: Whose trials of a ``failed`` row failed.
FailedSide = Literal["baseline", "candidate", "both"]
FAILED_SIDES: tuple[FailedSide, ...] = ("baseline", "candidate", "both")


@dataclass(frozen=True)
class BoundCheck:
    """An absolute limit checked on every candidate replicate: ``replicates_passed``/``replicates``."""

    name: str
    metric: str
    upper: float
    replicates_passed: int
    replicates: int
    passed: bool
    #: The highest value any replicate reached (None when no replicate measured the metric).
    worst: float | None = None

    @property
    def phase(self) -> str | None:
        """The phase the bound applies to (``"fill"`` of ``"fill.peak_bytes"``), None for every phase."""
        phase, _, _ = self.name.rpartition(".")
        return phase or None


@dataclass(frozen=True)
class SiteMove:
    """A call site whose bytes changed between baseline and candidate (means per replicate):
    ``site`` reads ``function (file:201, 202)``, which ``function``, ``file`` and ``lines`` hold apart."""

    site: str
    baseline: float
    candidate: float
    delta: float
    function: str = ""
    file: str = ""
    #: The lines the change happened on, the largest change first.
    lines: tuple[int, ...] = ()

    @property
    def where(self) -> str:
        """``file:201, 202``: the site's place without its function (the label's inside when not held apart)."""
        if not self.file:
            return self.site.partition(" (")[2].removesuffix(")")
        return f"{self.file}:{', '.join(map(str, self.lines))}" if self.lines else self.file


@dataclass(frozen=True)
class PathMove:
    """A call path whose own allocations changed: ``stack`` holds ``function (file:line)``
    frames, outermost first, and ``frames`` the same as (function, file, line); the figures
    are means per replicate, bytes and allocation counts."""

    stack: tuple[str, ...]
    baseline_bytes: float
    candidate_bytes: float
    delta_bytes: float
    delta_count: float
    frames: tuple[SiteKey, ...] = ()


@dataclass(frozen=True)
class ExperimentVerdict:
    """The decision on one experiment, phase and goal metric, with the figures behind it."""

    id: str
    family: str
    workload: str
    variant: str
    params: Mapping[str, Any]
    phase: str
    goal: str
    decision: Decision
    baseline_mean: float | None = None
    candidate_mean: float | None = None
    delta_pct: float | None = None
    ci_low_pct: float | None = None
    ci_high_pct: float | None = None
    #: How the interval was obtained (``paired``, ``welch``, ``exact``, ...; see harness.compare.stats).
    method: str | None = None
    replicates: tuple[int, int] = (0, 0)
    erratic: bool = False
    #: The larger coefficient of variation of the two sides (None when not computed).
    cv: float | None = None
    #: Why a ``failed`` row failed: per failed side, its first failed trial's error, on one line.
    error: str | None = None
    #: Whose trials failed, on a ``failed`` row.
    failed_side: FailedSide | None = None
    baseline_values: tuple[float, ...] = ()
    candidate_values: tuple[float, ...] = ()
    bounds: tuple[BoundCheck, ...] = ()
    top_sites: tuple[SiteMove, ...] = ()
    #: The call paths that changed most (see harness.compare.calltree), on regressions and improvements.
    top_paths: tuple[PathMove, ...] = ()

    @property
    def delta_abs(self) -> float | None:
        """The candidate's mean less the baseline's (None when a side has no mean)."""
        if self.baseline_mean is None or self.candidate_mean is None:
            return None
        return self.candidate_mean - self.baseline_mean

    @property
    def from_zero(self) -> bool:
        """A change from nothing: the baseline's mean is 0 and the candidate's is not (no percent)."""
        return self.baseline_mean == 0 and self.candidate_mean is not None and self.candidate_mean != 0

    @property
    def absolute(self) -> bool:
        """Whether the change reads as absolute: from zero, or to zero from something."""
        to_zero = self.candidate_mean == 0 and self.baseline_mean is not None and self.baseline_mean != 0
        return self.from_zero or to_zero

    def absolute_change(self) -> str | None:
        """``0 B → 711 KiB (+711 KiB)`` for a change from or to zero; None for any other row
        (see :func:`harness.declare.metrics.absolute_change`)."""
        if self.baseline_mean is None or self.candidate_mean is None:
            return None
        return absolute_change(self.goal, self.baseline_mean, self.candidate_mean)

    def change_text(self) -> str:
        """``+10.00% [+9.80%, +10.20%]``, or the absolute change of a row from or to zero."""
        absolute = self.absolute_change()
        if absolute is not None:
            return absolute
        pct = partial(format_pct, suffix="%")
        return f"{pct(self.delta_pct)} [{pct(self.ci_low_pct)}, {pct(self.ci_high_pct)}]"

    @property
    def regressed(self) -> bool:
        """The gate's rule: a regression on a row that is not erratic (erratic rows are shown, not gated)."""
        return self.decision == "regression" and not self.erratic

    @property
    def improved(self) -> bool:
        """A significant improvement on a row that is not erratic."""
        return self.decision == "improvement" and not self.erratic

    @property
    def gated(self) -> bool:
        """Whether this row fails the gate by its decision: a failed experiment, or :attr:`regressed`."""
        return self.decision == "failed" or self.regressed

    def fails_gate(self, gates: tuple[str, ...] | list[str]) -> bool:
        """Whether this row counts against a gate of ``gates``: a failed experiment; a regression
        that is not erratic, under the regressions gate; a failed bounds check, under the bounds
        gate; an experiment or phase the candidate lacks, under the missing gate."""
        if self.decision == "failed":
            return True
        if REGRESSIONS in gates and self.regressed:
            return True
        if MISSING in gates and self.decision == "missing":
            return True
        return BOUNDS in gates and any(not check.passed for check in self.bounds)


@dataclass(frozen=True)
class Verdict:
    """The comparison of two results: per-row decisions, bounds checks and the overall pass/fail."""

    passed: bool
    confidence: float
    tolerance_pct: float
    baseline: Environment
    candidate: Environment
    experiments: tuple[ExperimentVerdict, ...]
    erratic_cv: float = 0.1
    #: What can fail the gate: some of :data:`~harness.declare.config.GATES` (failed trials always do).
    gates: tuple[str, ...] = GATES
    #: One line per cause of failure, empty when the gate passed.
    reasons: tuple[str, ...] = ()

    def bound_checks(self) -> Iterator[tuple[ExperimentVerdict, BoundCheck]]:
        """Every bounds check once, with the row that carries it."""
        for row in self.experiments:
            for check in row.bounds:
                yield row, check

    def count(self, decision: Decision) -> int:
        """How many rows have ``decision``."""
        return sum(1 for row in self.experiments if row.decision == decision)

    def to_json(self) -> dict[str, Any]:
        """The verdict as plain JSON data (see the module docstring)."""
        from harness.compare.verdict_json import row_to_json

        return {
            "schema": SCHEMA,
            "passed": self.passed,
            "confidence": self.confidence,
            "tolerance_pct": self.tolerance_pct,
            "erratic_cv": self.erratic_cv,
            "gates": list(self.gates),
            "reasons": list(self.reasons),
            "baseline": self.baseline.to_json(),
            "candidate": self.candidate.to_json(),
            "experiments": [{**row_to_json(row), "fails_gate": row.fails_gate(self.gates)} for row in self.experiments],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        """A verdict from :meth:`to_json` data; KeyError, TypeError or ValueError when malformed."""
        from harness.compare.verdict_json import row_from_json

        return cls(
            passed=bool(data["passed"]),
            confidence=float(data["confidence"]),
            tolerance_pct=float(data["tolerance_pct"]),
            baseline=Environment.from_json(data["baseline"]),
            candidate=Environment.from_json(data["candidate"]),
            experiments=tuple(row_from_json(row) for row in data["experiments"]),
            erratic_cv=float(data.get("erratic_cv", 0.1)),
            gates=tuple(data.get("gates", GATES)),
            reasons=tuple(data.get("reasons", ())),
        )


def read_verdict(path: Path) -> Verdict:
    """Load a verdict file, checking its schema; one clear :class:`ResultsError` when it is not one."""
    data = read_versioned(path, SCHEMA)
    try:
        return Verdict.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultsError(f"{path}: malformed verdict file: missing or bad field {exc}") from None


def is_verdict_file(path: Path) -> bool:
    """Whether ``path`` holds a verdict (as opposed to a results file); False when unreadable."""
    try:
        return bool(read_json(path, "harness.").get("schema", "").startswith("harness.verdict/"))
    except ResultsError:
        return False


__all__ = [
    "DECISIONS",
    "FAILED_SIDES",
    "SCHEMA",
    "BoundCheck",
    "Decision",
    "ExperimentVerdict",
    "FailedSide",
    "PathMove",
    "SiteMove",
    "Verdict",
    "is_verdict_file",
    "read_verdict",
]
