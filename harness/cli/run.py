"""``harness run``: run experiments in fresh interpreters and write a results file.

Each trial runs in its own child interpreter with PYTHONHASHSEED pinned to its seed
(replicate i uses base seed + i). Prints a summary (mean ±spread and n per metric) and
writes the results atomically; Ctrl-C keeps the trials already finished.

Each finished trial is also appended to a journal beside the results file (FILE.journal),
removed once the run is complete; after a run killed hard, ``--resume`` reuses the trials
it holds and runs only the rest. A trial over its memory limit fails on its own.

Workloads that declare no experiment, or a pattern that matches none, are bad input (one
line, exit 2) and leave the results file as it was, as does a results file that cannot be
written. Exit codes: 0 every trial finished, 1 some trial failed, 2 bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

COMMAND = "run"


def add_parser(sub: Any, name: str) -> None:
    from harness.cli._common import DEFAULT_OUT, add_resume_option, add_run_options

    parser = sub.add_parser(
        name,
        help="run experiments and write a results file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_options(parser)
    add_resume_option(parser)
    parser.add_argument("-o", "--out", type=Path, help=f"results file (default: {DEFAULT_OUT} in the project)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from harness.cli._common import DEFAULT_OUT, experiments_to_run, measure_options, settings_from
    from harness.cli._console import console as make_console
    from harness.measure.pipeline import measure
    from harness.measure.scheduling import Side
    from harness.reports.summary import failure_lines, summary_table
    from harness.store.jsonfile import check_writable

    settings = settings_from(args)
    experiments = experiments_to_run(settings, args.patterns)
    out = args.out or settings.project_root / DEFAULT_OUT
    check_writable(out)
    side = Side("", settings.project_root, settings.workloads, tuple(experiments))
    # run judges nothing: a goal its backend cannot measure is said, not refused (gate refuses it).
    options = measure_options(args, settings, record=out, strict_goals=False)
    results = measure([side], settings, options)[side.name]
    console = make_console()
    console.print(summary_table(results, console.width))
    err = make_console(stderr=True)
    for line in failure_lines(results):
        err.print(f"[red]failed[/red] {escape(line)}", highlight=False, soft_wrap=True)
    err.print(
        f"results: {out} ({len(results.trials)} trials, backend {results.settings.backend})",
        highlight=False,
        soft_wrap=True,
    )
    return 1 if results.failed() else 0
