"""``harness explain EXPERIMENT``: which call paths allocate more, or less, than in the baseline?

The sites of the experiment on both sides are folded into call paths (outermost frame first,
as the capture backend recorded them; harness's own frames are left out), and the paths whose
own figure changed most are printed, like ``pprof -top -diff_base``: Δ bytes and Δ count per
replicate (means over the replicates both sides ran with the same seeds), then the stack.

  harness explain ID --baseline main --results reports/results.json
                                 a stored baseline (baselines/NAME.json, or a file) and results
  harness explain ID --results reports/results.json --against OTHER_ID
                                 two experiments of one run, e.g. two variants of a workload
  harness explain ID REF_A REF_B run both commits as ``harness compare`` does, then explain

``--figure`` chooses what is compared (alloc_bytes, alloc_count, kept_bytes, net_bytes);
``--peek FUNCTION`` adds, like ``pprof -peek``, each matching frame's callers and callees;
Each frame names the line of its call, ``requests (workloads/churn.py:201)``: two lines of a
function that changed show as two paths; ``--by function`` merges them, as pprof does.
``--format json`` prints the paths and the whole frame tree; ``--html FILE`` writes the delta
flame graph of each phase. Exit codes: 0 explained, 2 bad input (an unknown experiment or
phase, a missing file, refs that do not resolve).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.compare.calltree import FlameTree
    from harness.store.results import Results

COMMAND = "explain"


def add_parser(sub: Any, name: str) -> None:
    from harness.compare.calltree import DEFAULT_FIGURE, FIGURES

    parser = sub.add_parser(
        name,
        help="which call paths of an experiment allocate more (or less) than in the baseline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s EXPERIMENT (--baseline B --results R | --results R --against ID | REF_A REF_B) [options]",
    )
    parser.add_argument("experiment", metavar="EXPERIMENT", help="experiment id (or a pattern matching one)")
    parser.add_argument("refs", nargs="*", metavar="REF", help="two commits to run and compare")
    parser.add_argument("--baseline", metavar="NAME|FILE", help="baselines/NAME.json, or a results file")
    parser.add_argument("--results", type=Path, metavar="FILE", help="the candidate's results file")
    parser.add_argument("--against", metavar="ID", help="compare with this experiment of the baseline instead")
    parser.add_argument("--phase", help="only this phase (default: every phase)")
    parser.add_argument(
        "--figure", default=DEFAULT_FIGURE, choices=tuple(FIGURES), help=f"what to compare (default {DEFAULT_FIGURE})"
    )
    parser.add_argument(
        "--peek", metavar="FUNCTION", help="also show the callers and callees of the frames whose name contains this"
    )
    parser.add_argument(
        "--by",
        choices=("line", "function"),
        default="line",
        help="frames by the line of each call (default) or by function, its lines merged",
    )
    parser.add_argument("--top", type=int, default=10, metavar="N", help="call paths to show per phase (default 10)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or json")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write the delta flame graphs there")
    parser.add_argument("-n", "--replicates", type=int, help="with REF_A REF_B: trials per experiment")
    parser.add_argument("--backend", help="with REF_A REF_B: the capture backend (default: native if built)")
    parser.add_argument("-j", "--jobs", type=int, help="with REF_A REF_B: trials run in parallel")
    parser.set_defaults(func=run)


#: The options of the trials ``explain REF_A REF_B`` runs, by their argparse dest.
TRIAL_OPTIONS = {"replicates": "-n/--replicates", "backend": "--backend", "jobs": "-j/--jobs"}


def run(args: argparse.Namespace) -> int:
    from harness.errors import ConfigError

    if args.top < 1:
        raise ConfigError("--top must be at least 1")
    given = [flag for dest, flag in TRIAL_OPTIONS.items() if getattr(args, dest) is not None]
    if given and not args.refs:
        raise ConfigError(
            f"{', '.join(given)} only apply when explain runs two commits REF_A REF_B, and results files run none"
        )
    if args.html is not None:
        from harness.store.jsonfile import check_writable

        check_writable(args.html)  # before trials run, so that none is lost to a bad path
    if args.refs:
        if args.baseline or args.results or len(args.refs) != 2:
            raise ConfigError("give either --baseline B --results R, or two commits REF_A REF_B")
        baseline, candidate = _run_refs(args)
    else:
        baseline, candidate = _read_sides(args)
    experiment = resolve_experiment(candidate, args.experiment)
    against = resolve_experiment(baseline, args.against) if args.against else experiment
    trees = _trees(experiment, against, baseline, candidate, args)
    from harness.reports.explain import explain_json, explain_text

    notices = list(dict.fromkeys(baseline.environment.blind_spots + candidate.environment.blind_spots))
    if args.format == "json":
        import json

        document = {**explain_json(trees, against, args.top, args.peek), "not_seen": notices}
        sys.stdout.write(json.dumps(document, indent=1) + "\n")
    else:
        sys.stdout.write("".join(f"not seen in this run: {notice}\n" for notice in notices))
        sys.stdout.write(explain_text(trees, against, args.top, args.peek))
    if args.html is not None:
        from harness.reports.html import write_flame_page

        write_flame_page(trees, args.html, against=against, notices=notices)
        sys.stderr.write(f"flame graphs: {args.html}\n")
    return 0


def _read_sides(args: argparse.Namespace) -> tuple[Results, Results]:
    from harness.cli._common import settings_from
    from harness.errors import ConfigError
    from harness.store.baselines import read_baseline
    from harness.store.results import read_results

    if args.results is None or (args.baseline is None and args.against is None):
        raise ConfigError("give --baseline B --results R, --results R --against ID, or two commits REF_A REF_B")
    candidate = read_results(args.results)
    if args.baseline is None:
        return candidate, candidate
    baseline = read_baseline(args.baseline, settings_from(args).baselines).results
    return baseline, candidate


def _run_refs(args: argparse.Namespace) -> tuple[Results, Results]:
    from harness.cli._commits import run_commits
    from harness.commits.refs import split_refs
    from harness.declare.config import find_project_root
    from harness.errors import ConfigError
    from harness.git import locate

    repo, subdir = locate(find_project_root(Path.cwd()))
    base_commit, cand_commit, rest = split_refs(repo, list(args.refs))
    if rest:
        raise ConfigError(f"not a commit: {rest[0]}")
    patterns = [args.experiment] + ([args.against] if args.against else [])
    _, results = run_commits(args, repo, subdir, base_commit, cand_commit, patterns)
    return results["baseline"], results["candidate"]


def resolve_experiment(results: Results, wanted: str) -> str:
    """The one experiment id of ``results`` that ``wanted`` names: itself, a glob or a substring."""
    from harness.declare.selection import the_one

    return the_one([e.id for e in results.experiments], wanted)


def _trees(
    experiment: str, against: str, baseline: Results, candidate: Results, args: argparse.Namespace
) -> list[FlameTree]:
    from harness.compare.calltree import trees_of
    from harness.errors import SelectionError

    phases = [args.phase] if args.phase else None
    trees = trees_of(
        experiment, baseline, candidate, figure=args.figure, phases=phases, baseline_experiment=against, grain=args.by
    )
    measured = [t for t in trees if t.candidate_replicates or t.baseline_replicates]
    if not measured:
        what = f"phase {args.phase!r}" if args.phase else "any phase"
        raise SelectionError(f"{experiment}: no successful trial measured {what} on either side")
    return measured
