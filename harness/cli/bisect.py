"""``harness bisect GOOD BAD --experiment ID [--metric M]``: the first commit that regressed.

Binary search over ``git rev-list --first-parent GOOD..BAD`` (the main line; a merged
branch is one step). GOOD is measured once; each commit probed is checked out in a
temporary worktree, measured with the same seeds, and judged against GOOD by the gate's
rule: a regression is a change in the bad direction of at least the tolerance whose
interval excludes zero. The metric is the experiment's first goal unless --metric names
another (``alloc_bytes_per_op``, or ``churn.alloc_bytes_per_op`` for one phase).

Every commit runs its own workloads, composed file by file (--workloads-from own, the
default): each file under the workloads directory that the commit has is its own, and the
working tree's fill in only the files it lacks, so a variant made worse in the workloads is
pinned to the commit that made it worse, and history older than the workloads is searched
with today's. A measured commit whose workload files differ from GOOD's says which.
--workloads-from worktree runs the working tree's workloads on every commit; each, a
commit's own files only. Its code under test is built from the commit, as `harness compare`
does. A commit whose build or setup fails, or whose workloads do not import, is skipped,
like `git bisect skip`, and a neighbour is measured instead. A commit whose trials fail (a
crash, a timeout, an exception) is bad, as a failing test is to `git bisect run`: never good.
The search then ends on the first commit that regressed or whose trials fail, and the last
line says which: "first bad commit: SHA SUBJECT" or "first bad commit: SHA SUBJECT: trials
fail from here: REASON". When GOOD's own trials fail there is nothing to judge against (exit 2).

Each measured commit is printed with its subject and figures; the last line names the
first bad commit. Settings (replicates, tolerance, backend, setup) are the current
project's; a few replicates suffice for allocation goals, which repeat exactly.

Exit codes: 0 the search finished (a first bad commit was found, or none was bad),
2 bad input (refs, experiment, metric) or GOOD's trials fail.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.commits.bisect import Step

COMMAND = "bisect"


def add_parser(sub: Any, name: str) -> None:
    from pathlib import Path

    from harness.cli._common import add_workloads_from_option
    from harness.commits.sides import WORKLOADS_FROM_COMMITS

    parser = sub.add_parser(
        name,
        help="find the first commit where an experiment regressed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("good", metavar="GOOD", help="a commit where the experiment was fine")
    parser.add_argument("bad", metavar="BAD", help="a later commit where it regressed")
    parser.add_argument(
        "--experiment", "-e", required=True, metavar="ID", help="the experiment id (see `harness list`)"
    )
    parser.add_argument("--metric", "-m", metavar="M", help="goal judged (default: the experiment's first goal)")
    parser.add_argument("-n", "--replicates", type=int, help="trials per commit (default: the project's)")
    parser.add_argument(
        "--backend", help="native, memray, tracemalloc or none, as for `harness run` (default: the project's)"
    )
    parser.add_argument("-j", "--jobs", type=int, help="trials run in parallel")
    parser.add_argument("--timeout", type=float, dest="timeout_s", help="seconds before a trial is killed")
    parser.add_argument("--seed", type=int, dest="base_seed", help="base seed: replicate i runs with seed+i")
    parser.add_argument("--workloads", type=Path, help="workloads directory (default: workloads/ of the project)")
    parser.add_argument(
        "--executor", choices=("local", "dask"), help="where trials run: local process pool (default) or a Dask cluster"
    )
    parser.add_argument(
        "--scheduler", metavar="ADDR", help="Dask scheduler, e.g. tcp://host:8786 (default: a local cluster of --jobs)"
    )
    add_workloads_from_option(parser, WORKLOADS_FROM_COMMITS, "the working tree's")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from harness.cli._common import executor_from, settings_from
    from harness.commits import refs, sides
    from harness.commits.bisect import Bisector, max_steps
    from harness.declare.metrics import METRICS
    from harness.declare.spec import Goal
    from harness.errors import DeclarationError
    from harness.git import locate
    from harness.measure.capture import resolve_backend
    from harness.measure.executors import executor_settings

    settings = settings_from(args)
    repo, subdir = locate(settings.project_root.resolve())
    good = refs.resolve(repo, args.good)
    bad = refs.resolve(repo, args.bad)
    goal = Goal.parse(args.metric) if args.metric else None
    if goal is not None and goal.metric not in METRICS:
        raise DeclarationError(f"unknown metric {goal.metric!r}; known: {', '.join(sorted(METRICS))}")
    commits = refs.first_parent_range(repo, good, bad)
    print(
        f"bisecting {len(commits)} commits after {good.short} up to {bad.short} (first parent): "
        f"GOOD and at most {max_steps(len(commits)) + 1} more measurements",
        flush=True,
    )
    workloads = sides.workloads_from(args.workloads_from, settings, settings.project_root)
    executor = executor_from(args, settings)
    print(f"workloads: {workloads.label}; trials run on: {executor_settings(executor)['executor']}", flush=True)
    bisector = Bisector(
        repo,
        subdir,
        settings,
        resolve_backend(settings.backend),
        args.experiment,
        goal,
        executor=executor,
        workloads=workloads,
    )
    outcome = bisector.search(good, bad, lambda step: print_step(step, good.sha))
    print(f"measurements: {sum(not step.skipped for step in outcome.steps)}")
    if outcome.candidates:
        print(f"the first bad commit could be any of {len(outcome.candidates)} (the others could not be built):")
        for commit in outcome.candidates:
            print(f"    {commit.sha} {commit.subject}")
    elif outcome.first_bad is None:
        print(f"no commit in {good.short}..{bad.short} regressed {args.experiment}")
    elif outcome.failure:
        print(
            f"first bad commit: {outcome.first_bad.sha} {outcome.first_bad.subject}: "
            f"trials fail from here: {outcome.failure}"
        )
    else:
        print(f"first bad commit: {outcome.first_bad.sha} {outcome.first_bad.subject}")
    sys.stdout.flush()
    return 0


def print_step(step: Step, good_sha: str | None) -> None:
    """One line for the commit, one per goal row: its figure and, but for GOOD, its change."""
    from harness.reports import figures

    if step.skipped:
        print(f"skipped {step.commit.short}  {step.commit.subject}  ({step.skipped})", flush=True)
        return
    label = "good" if step.commit.sha == good_sha else ("bad" if step.bad else "ok")
    print(f"measured {step.commit.short}  {step.commit.subject}  [{label}]", flush=True)
    if step.failure:
        print(f"    trials fail: {step.failure}", flush=True)
    if step.workloads_differ:
        print(f"    workload files that differ from GOOD's: {', '.join(step.workloads_differ)}", flush=True)
    for row in step.rows:
        change = "" if step.commit.sha == good_sha else f"  {figures.delta(row)} {figures.interval(row)}"
        decision = "" if step.commit.sha == good_sha else f"  {figures.decision(row)}"
        print(
            f"    {figures.goal(row)}  {figures.spread(row.goal, row.candidate_values)}{change}{decision}", flush=True
        )
