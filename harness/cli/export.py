"""``harness export RESULTS|STORE --format bmf|github-action-benchmark``: results for a dashboard.

  bmf                       Bencher Metric Format, for ``bencher run --adapter json --file``:
                            {experiment: {"phase.goal": {value, lower_value, upper_value}}}
  github-action-benchmark   the JSON of github-action-benchmark's ``customSmallerIsBetter``
                            tool: [{name, unit, value, range, extra}]

Each experiment's goals, phase by phase: the mean over the replicates that succeeded, with
their lowest and highest (bmf) or half their range (github-action-benchmark). Writes to
stdout, or atomically to ``--out``.

A history store (the directory ``harness history`` keeps) exports every measured commit,
oldest first: for bmf, a list of {commit, author_date, subject, results} with one BMF each
(``bencher run --hash COMMIT`` takes one); for github-action-benchmark, the action's own
data file, {lastUpdate, repoUrl, entries: {harness: [{commit, date, tool, benches}]}}, which
``--out data.js`` writes as the ``window.BENCHMARK_DATA = ...`` script its dashboard loads.
Its repoUrl and each commit's url are the web pages of the repository the store lies in, from
its remote ``origin`` (GitHub or GitLab); empty without one.
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
    parser.add_argument(
        "results", type=Path, metavar="RESULTS|STORE", help="a results file (harness run --out) or a history store"
    )
    parser.add_argument("--format", required=True, choices=FORMATS, help="the dashboard's format")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.commits.history import INDEX, HistoryStore
    from harness.git import remote_url, web_url
    from harness.reports.exports import export, export_history
    from harness.store.jsonfile import write_json_atomic, write_text_atomic
    from harness.store.results import read_results

    source: Path = args.results
    if source.is_dir() or source.name == INDEX:
        store = HistoryStore(source if source.is_dir() else source.parent)
        if not store.entries():
            from harness.errors import ResultsError

            raise ResultsError(f"{source}: no history here (no {INDEX}, or no commit in it)")
        data = export_history(store, args.format, web=web_url(remote_url(store.directory)))
    else:
        data = export(read_results(source), args.format)
    if args.out is None:
        sys.stdout.write(json.dumps(data, indent=1) + "\n")
    elif args.out.suffix == ".js" and args.format == "github-action-benchmark":
        write_text_atomic(args.out, f"window.BENCHMARK_DATA = {json.dumps(data, indent=1)}\n")
        sys.stderr.write(f"export: {args.out} ({args.format}, as a script)\n")
    else:
        write_json_atomic(args.out, data)
        sys.stderr.write(f"export: {args.out} ({args.format})\n")
    return 0
