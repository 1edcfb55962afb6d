"""``harness calibrate``: an A/A run that measures each experiment's noise.

Runs every selected experiment twice over, as two sides of the same code interleaved
(A B A B ...), replicate i of both sides with the same seed, and compares them as ``harness
gate`` would. Any significant change found is a false positive. Prints per experiment and
goal the spread across seeds (CV), the A/A Δ mean % with its interval, and how far two runs
of one seed differ; then a ready-to-paste ``erratic = [...]`` line for ``[tool.harness]``
naming the experiments too noisy to gate. Exit 0 when there is no false positive, else 1.
"""

from __future__ import annotations

import argparse
from typing import Any

COMMAND = "calibrate"


def add_parser(sub: Any, name: str) -> None:
    from harness.cli._common import add_run_options

    parser = sub.add_parser(
        name,
        help="A/A run: measure noise, count false positives, suggest erratic marks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_options(parser)
    parser.add_argument("--confidence", type=float, help="confidence level of the intervals (default 0.9)")
    parser.add_argument(
        "--tolerance", type=float, dest="tolerance_pct", help="least |Δ mean %%| that counts (default 5)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.cli._common import discover_suite, measure_options, settings_from
    from harness.compare.calibration import false_positives
    from harness.compare.gate import GateOptions, compare
    from harness.measure.pipeline import measure
    from harness.measure.scheduling import Side
    from harness.reports.calibration import render

    settings = settings_from(args).override(confidence=args.confidence, tolerance_pct=args.tolerance_pct)
    experiments = tuple(discover_suite(settings).select(args.patterns))
    sides = [Side(name, settings.project_root, settings.workloads, experiments) for name in ("A", "B")]
    results = measure(sides, settings, measure_options(args, settings))
    backend = str(results["A"].settings.backend)
    verdict = compare(results["A"], results["B"], GateOptions.from_settings(settings))
    print(render(verdict, backend))
    return 0 if not false_positives(verdict) and not verdict.count("failed") else 1
