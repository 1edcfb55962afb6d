"""``harness baseline``: store results as a named baseline, list the baselines, show one.

``harness baseline save NAME [--from FILE]`` copies a results file (default: the last
``harness run``, reports/results.json) to ``baselines/NAME.json`` with when and from what it
was made; commit it, and ``harness gate --baseline NAME`` compares later runs with it. A
baseline of that name is replaced only with ``--force`` (without it: one line, exit 2, the
old file untouched).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

COMMAND = "baseline"


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name,
        help="save, list or show stored baselines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(parser))
    save = actions.add_parser("save", help="store a results file as baselines/NAME.json")
    save.add_argument("name", metavar="NAME", help="baseline name, e.g. main")
    save.add_argument(
        "--from", dest="source", type=Path, help="results file (default: reports/results.json in the project)"
    )
    save.add_argument("--force", action="store_true", help="replace a baseline of that name")
    save.set_defaults(func=run)
    listing = actions.add_parser("list", help="the stored baselines")
    listing.set_defaults(func=run)
    show = actions.add_parser("show", help="what a baseline holds: origin, environment, figures")
    show.add_argument("name", metavar="NAME", help="baseline name or file")
    show.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.cli._common import DEFAULT_OUT
    from harness.cli._console import console as make_console
    from harness.declare.config import load_settings
    from harness.reports.summary import summary_table
    from harness.store.baselines import list_baselines, read_baseline, save_baseline
    from harness.store.results import read_results

    settings = load_settings()
    out = make_console()
    if args.action == "save":
        source = args.source or settings.project_root / DEFAULT_OUT
        results = read_results(source)
        path = save_baseline(
            results, args.name, _shown(source, settings.project_root), settings.baselines, force=args.force
        )
        failed = len(results.failed())
        note = f", {failed} failed trials kept as failed" if failed else ""
        out.print(
            f"baseline {args.name}: {path} ({len(results.experiments)} experiments, "
            f"{len(results.trials)} trials, backend {results.environment.backend}{note})",
            highlight=False,
            soft_wrap=True,
        )
        return 0
    if args.action == "list":
        stored = list_baselines(settings.baselines)
        if not stored:
            out.print(
                f"no baselines in {settings.baselines} (make one with `harness baseline save NAME`)", soft_wrap=True
            )
        for name, path in stored:
            baseline = read_baseline(str(path), settings.baselines)
            env = baseline.results.environment
            created = baseline.info.created if baseline.info else baseline.results.created
            out.print(
                f"{name:<20} {created}  {len(baseline.results.experiments)} experiments  "
                f"{env.interpreter} {env.backend}  commit {(env.git_commit or '-')[:10]}",
                highlight=False,
                soft_wrap=True,
            )
        return 0
    baseline = read_baseline(args.name, settings.baselines)
    env = baseline.results.environment
    info = baseline.info
    out.print(f"baseline: {baseline.path}", highlight=False, soft_wrap=True)
    if info:
        out.print(f"name {info.name}, made {info.created} from {info.source}", highlight=False, soft_wrap=True)
    out.print(
        f"environment: {env.interpreter}, backend {env.backend}, "
        f"commit {env.git_commit or '-'}{' (dirty)' if env.git_dirty else ''}, "
        f"run {baseline.results.created}",
        highlight=False,
    )
    out.print(summary_table(baseline.results, out.width))
    return 0


def _shown(path: Path, root: Path) -> str:
    """The path relative to the project when inside it: what a reader of the baseline can find."""
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)
