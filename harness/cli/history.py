"""``harness history REVISIONS [PATTERN ...]``: measure every commit of a range, keep the results, list the steps.

Every commit ``git rev-list --first-parent REVISIONS`` names (``v1.0..main``, or ``main``
for its whole first-parent history) is checked out in a temporary worktree, built (with the
build cache of compare and bisect) and measured with today's workloads, those of the working
tree, so that commits older than the workloads are measured too. Each commit's results go
to the history store (``--store``, default ``reports/history``) as soon as they exist: a
directory of results files, one per commit, and ``index.json``. A commit already there is
not measured again, so a second run after one more commit measures that one, and an
interrupted history resumes where it stopped. A commit that does not build is kept in the
index with the line that says why, and skipped.

It then lists the steps: every exact allocation figure of a goal that changed between two
adjacent measured commits, with the commit, its author date, subject, and the change, and
the ``harness explain`` command that shows which call paths moved between the commit and
the one measured before it. Time is not listed: it is noisy, and needs more than adjacent
means.

Exit codes: 0 done, 2 bad input (an unknown revision, a store that is not one), 130 interrupted.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

COMMAND = "history"
DEFAULT_STORE = Path("reports/history")


def add_parser(sub: Any, name: str) -> None:
    from harness.cli._common import add_run_options

    parser = sub.add_parser(
        name,
        help="measure every commit of a range and list the allocation steps",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("revisions", metavar="REVISIONS", help="a range of git rev-list, e.g. v1.0..main")
    parser.add_argument("--store", type=Path, metavar="DIR", help=f"the history store (default {DEFAULT_STORE})")
    add_run_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.cli._common import executor_from, settings_from
    from harness.commits import sides
    from harness.commits.history import Entry, Historian, HistoryStore, allocation_steps, commits_of
    from harness.git import locate
    from harness.measure.capture import resolve_backend

    settings = settings_from(args)
    repo, subdir = locate(settings.project_root.resolve())
    commits = commits_of(repo, args.revisions)
    store = HistoryStore(args.store or settings.project_root / DEFAULT_STORE)
    known = store.entries()
    todo = [c for c in commits if c.sha not in known]
    print(f"history of {len(commits)} commits ({args.revisions}): {len(todo)} to measure, store {store.directory}")

    def told(entry: Entry) -> None:
        if entry.results:
            print(f"measured {entry.short}  {entry.subject}", flush=True)
        else:
            print(f"skipped  {entry.short}  {entry.subject}  ({entry.error})", flush=True)

    historian = Historian(
        repo,
        subdir,
        settings,
        resolve_backend(settings.backend),
        sides.workloads_from("worktree", settings, settings.project_root),
        tuple(args.patterns),
        executor_from(args, settings),
    )
    measured = historian.extend(store, commits, told)
    print(f"measured {measured} commits")
    steps = list(allocation_steps(store, [str(c.sha) for c in commits]))
    print(f"allocation steps: {len(steps)}")
    for step in steps:
        parent, commit = (store.directory / str(entry.results) for entry in (step.parent, step.commit))
        print(
            f"  {step.commit.short} {step.commit.author_date[:10]}  {step.commit.subject}\n"
            f"    {step.experiment} {step.measure}: {step.before:g} -> {step.after:g} ({step.delta_pct:+.2f}%)\n"
            f"    call paths: harness explain {shlex.quote(step.experiment)} --baseline {shlex.quote(str(parent))}"
            f" --results {shlex.quote(str(commit))}"
        )
    return 0
