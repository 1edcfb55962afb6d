"""``harness export RESULTS --format bmf|github-action-benchmark``: a results file for a dashboard.

  bmf                       Bencher Metric Format, for ``bencher run --adapter json --file``:
                            {experiment: {"phase.goal": {value, lower_value, upper_value}}}
  github-action-benchmark   the JSON of github-action-benchmark's ``customSmallerIsBetter``
                            tool: [{name, unit, value, range, extra}]

Each experiment's goals, phase by phase: the mean over the replicates that succeeded, with
their lowest and highest (bmf) or half their range (github-action-benchmark). Writes to
stdout, or atomically to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

COMMAND = "export"


def add_parser(sub: Any, name: str) -> None:
    from harness.reports.exports import FORMATS

    parser = sub.add_parser(
        name,
        help="write a results file in Bencher's or github-action-benchmark's format",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", type=Path, metavar="RESULTS", help="a results file (harness run --out)")
    parser.add_argument("--format", required=True, choices=FORMATS, help="the dashboard's format")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.reports.exports import export
    from harness.store.jsonfile import write_json_atomic
    from harness.store.results import read_results

    data = export(read_results(args.results), args.format)
    if args.out is None:
        sys.stdout.write(json.dumps(data, indent=1) + "\n")
    else:
        write_json_atomic(args.out, data)
        sys.stderr.write(f"export: {args.out} ({args.format})\n")
    return 0
