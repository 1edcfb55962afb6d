"""One verdict row as JSON and back: the ``experiments`` entries of ``harness.verdict/1``.

The format is described in :mod:`harness.compare.verdict`; figures that do not exist are
``null`` and infinite ones the strings ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

from harness.compare.verdict import (
    DECISIONS,
    FAILED_SIDES,
    BoundCheck,
    Decision,
    ExperimentVerdict,
    FailedSide,
    PathMove,
    SiteMove,
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


def row_to_json(row: ExperimentVerdict) -> dict[str, Any]:
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
        "delta_abs": _number_out(row.delta_abs),
        "from_zero": row.from_zero,
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
        "top_sites": [_site_move_to_json(s) for s in row.top_sites],
        "top_paths": [_path_move_to_json(p) for p in row.top_paths],
    }


def row_from_json(data: Mapping[str, Any]) -> ExperimentVerdict:
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
        top_sites=tuple(_site_move_from_json(s) for s in data.get("top_sites", ())),
        top_paths=tuple(_path_move_from_json(p) for p in data.get("top_paths", ())),
    )


def _site_move_to_json(move: SiteMove) -> dict[str, Any]:
    return {
        "site": move.site,
        "function": move.function,
        "file": move.file,
        "lines": list(move.lines),
        "baseline": move.baseline,
        "candidate": move.candidate,
        "delta": move.delta,
    }


def _site_move_from_json(data: Mapping[str, Any]) -> SiteMove:
    # function, file and lines are absent from verdicts written before they were held apart.
    return SiteMove(
        str(data["site"]),
        float(data["baseline"]),
        float(data["candidate"]),
        float(data["delta"]),
        str(data.get("function", "")),
        str(data.get("file", "")),
        tuple(int(n) for n in data.get("lines", ())),
    )


def _path_move_to_json(move: PathMove) -> dict[str, Any]:
    return {
        "stack": list(move.stack),
        "frames": [{"function": function, "file": file, "line": line} for function, file, line in move.frames],
        "baseline_bytes": move.baseline_bytes,
        "candidate_bytes": move.candidate_bytes,
        "delta_bytes": move.delta_bytes,
        "delta_count": move.delta_count,
    }


def _path_move_from_json(data: Mapping[str, Any]) -> PathMove:
    return PathMove(
        tuple(str(f) for f in data["stack"]),
        float(data["baseline_bytes"]),
        float(data["candidate_bytes"]),
        float(data["delta_bytes"]),
        float(data["delta_count"]),
        tuple((str(f["function"]), str(f["file"]), int(f["line"])) for f in data.get("frames", ())),
    )
