"""``harness list``: the experiments the workloads declare."""

from __future__ import annotations

import argparse
from typing import Any

COMMAND = "list"


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(name, help="list the experiments the workloads declare", description=__doc__)
    parser.add_argument("patterns", nargs="*", metavar="PATTERN", help="experiment id, glob or substring")
    parser.add_argument("--workloads", help="workloads directory (default: workloads/ of the project)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.cli._common import discover_suite
    from harness.declare.config import load_settings

    settings = load_settings()
    if args.workloads:
        settings = settings.override(workloads=Path(args.workloads))
    suite = discover_suite(settings)
    for experiment in suite.select(args.patterns):
        goals = ", ".join(str(g) for g in experiment.goals)
        print(f"{experiment.id}  goal: {goals}")
    return 0
