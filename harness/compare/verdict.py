"""The verdict: what comparing a candidate with a baseline decided, as frozen values and JSON.

Format ``harness.verdict/1`` (JSON, stable field names)::

    {"schema": "harness.verdict/1", "passed": bool, "confidence": 0.9, "tolerance_pct": 5.0,
     "erratic_cv": 0.1, "gates": ["regressions", "bounds"], "reasons": [str, ...],
     "baseline": {...env...}, "candidate": {...env...},
     "experiments": [{"id", "family", "workload", "variant", "params", "phase", "goal",
                      "baseline_mean", "candidate_mean", "delta_pct", "ci_low_pct", "ci_high_pct",
                      "method", "replicates": [n_base, n_cand], "erratic", "cv",
                      "decision": "regression|improvement|no_change|new|missing|failed",
                      "fails_gate": bool,
                      "error", "failed_side": "baseline|candidate|both"|null, "baseline_values", "candidate_values",
                      "bounds": [{"name", "metric", "upper", "replicates_passed", "replicates",
                                  "passed", "worst"}],
                      "top_sites": [{"site", "baseline", "candidate", "delta"}],
                      "top_paths": [{"stack", "baseline_bytes", "candidate_bytes", "delta_bytes",
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
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from harness.declare.config import BOUNDS, GATES, MISSING, REGRESSIONS
from harness.errors import ResultsError
from harness.store.environment import Environment
from harness.store.jsonfile import read_json, read_versioned

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
    """A call site whose bytes changed between baseline and candidate (means per replicate)."""

    site: str
    baseline: float
    candidate: float
    delta: float


@dataclass(frozen=True)
class PathMove:
    """A call path whose own allocations changed: ``stack`` holds ``function (file)`` frames,
    outermost first; the figures are means per replicate, bytes and allocation counts."""

    stack: tuple[str, ...]
    baseline_bytes: float
    candidate_bytes: float
    delta_bytes: float
    delta_count: float


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
            "experiments": [
                {**_row_to_json(row), "fails_gate": row.fails_gate(self.gates)} for row in self.experiments
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        """A verdict from :meth:`to_json` data; KeyError, TypeError or ValueError when malformed."""
        return cls(
            passed=bool(data["passed"]),
            confidence=float(data["confidence"]),
            tolerance_pct=float(data["tolerance_pct"]),
            baseline=Environment.from_json(data["baseline"]),
            candidate=Environment.from_json(data["candidate"]),
            experiments=tuple(_row_from_json(row) for row in data["experiments"]),
            erratic_cv=float(data.get("erratic_cv", 0.1)),
            gates=tuple(data.get("gates", GATES)),
            reasons=tuple(data.get("reasons", ())),
        )


def _number_out(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "Infinity" if value > 0 else "-Infinity"


def _number_in(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def _required_number(value: Any) -> float:
    number = _number_in(value)
    if number is None:
        raise TypeError("a number is required, got null")
    return number


def _row_to_json(row: ExperimentVerdict) -> dict[str, Any]:
    return {
        "id": row.id,
        "family": row.family,
        "workload": row.workload,
        "variant": row.variant,
        "params": dict(row.params),
        "phase": row.phase,
        "goal": row.goal,
        "baseline_mean": _number_out(row.baseline_mean),
        "candidate_mean": _number_out(row.candidate_mean),
        "delta_pct": _number_out(row.delta_pct),
        "ci_low_pct": _number_out(row.ci_low_pct),
        "ci_high_pct": _number_out(row.ci_high_pct),
        "method": row.method,
        "replicates": list(row.replicates),
        "erratic": row.erratic,
        "cv": _number_out(row.cv),
        "decision": row.decision,
        "error": row.error,
        "failed_side": row.failed_side,
        "baseline_values": [_number_out(v) for v in row.baseline_values],
        "candidate_values": [_number_out(v) for v in row.candidate_values],
        "bounds": [
            {
                "name": b.name,
                "metric": b.metric,
                "upper": _number_out(b.upper),
                "replicates_passed": b.replicates_passed,
                "replicates": b.replicates,
                "passed": b.passed,
                "worst": _number_out(b.worst),
            }
            for b in row.bounds
        ],
        "top_sites": [
            {"site": s.site, "baseline": s.baseline, "candidate": s.candidate, "delta": s.delta} for s in row.top_sites
        ],
        "top_paths": [
            {
                "stack": list(p.stack),
                "baseline_bytes": p.baseline_bytes,
                "candidate_bytes": p.candidate_bytes,
                "delta_bytes": p.delta_bytes,
                "delta_count": p.delta_count,
            }
            for p in row.top_paths
        ],
    }


def _row_from_json(data: Mapping[str, Any]) -> ExperimentVerdict:
    decision = data["decision"]
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    n_base, n_cand = data["replicates"]
    failed_side = data.get("failed_side")
    if failed_side is not None and failed_side not in FAILED_SIDES:
        raise ValueError(f"unknown failed side {failed_side!r}")
    return ExperimentVerdict(
        id=str(data["id"]),
        family=str(data.get("family", "")),
        workload=str(data["workload"]),
        variant=str(data["variant"]),
        params=dict(data["params"]),
        phase=str(data["phase"]),
        goal=str(data["goal"]),
        decision=cast(Decision, decision),
        baseline_mean=_number_in(data.get("baseline_mean")),
        candidate_mean=_number_in(data.get("candidate_mean")),
        delta_pct=_number_in(data.get("delta_pct")),
        ci_low_pct=_number_in(data.get("ci_low_pct")),
        ci_high_pct=_number_in(data.get("ci_high_pct")),
        method=data.get("method"),
        replicates=(int(n_base), int(n_cand)),
        erratic=bool(data.get("erratic", False)),
        cv=_number_in(data.get("cv")),
        error=data.get("error"),
        failed_side=cast(FailedSide | None, failed_side),
        baseline_values=tuple(_required_number(v) for v in data.get("baseline_values", ())),
        candidate_values=tuple(_required_number(v) for v in data.get("candidate_values", ())),
        bounds=tuple(
            BoundCheck(
                name=str(b["name"]),
                metric=str(b["metric"]),
                upper=_required_number(b["upper"]),
                replicates_passed=int(b["replicates_passed"]),
                replicates=int(b["replicates"]),
                passed=bool(b["passed"]),
                worst=_number_in(b.get("worst")),
            )
            for b in data.get("bounds", ())
        ),
        top_sites=tuple(
            SiteMove(str(s["site"]), float(s["baseline"]), float(s["candidate"]), float(s["delta"]))
            for s in data.get("top_sites", ())
        ),
        top_paths=tuple(
            PathMove(
                tuple(str(f) for f in p["stack"]),
                float(p["baseline_bytes"]),
                float(p["candidate_bytes"]),
                float(p["delta_bytes"]),
                float(p["delta_count"]),
            )
            for p in data.get("top_paths", ())
        ),
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
