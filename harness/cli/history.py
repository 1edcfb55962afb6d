"""``harness history REVISIONS [PATTERN ...]``: measure every commit of a range, keep the results, list the steps.

Every commit ``git rev-list --first-parent REVISIONS`` names (``v1.0..main``, or ``main``
for its whole first-parent history) is checked out in a temporary worktree, built (with the
build cache of compare and bisect) and measured with its own workloads, composed file by
file (--workloads-from own, the default): each file under the workloads directory that the
commit has is its own, and the working tree's fill in only the files it lacks, so a variant
defined in the workloads is measured as it was at each commit, and commits older than the
workloads are measured too (--workloads-from worktree: the working tree's workloads at every
commit; each: a commit's own files only). Each commit's results go
to the history store (``--store``, default ``reports/history``) as soon as they exist: a
directory of results files, one per commit, and ``index.json``. A commit already there is
not measured again (unless its trials failed: see below), so a second run after one more
commit measures that one, and an interrupted history resumes where it stopped. A commit
that does not build, or whose workloads do not import against its code (an API today's
files use came later, or a helper of today's that its own files do not fit), is kept in the
index with the line that says why, and skipped (``skipped``). With
``--every N`` only every Nth commit is measured at first (and the newest); each span whose
allocation figures differ at its ends, or whose time step was confirmed (below), is then
halved until the change is pinned to its commit.

Failed trials: an experiment any of whose trials failed at a commit (a crash, an exception,
a timeout, the memory limit) is failed there (``failed``): it has no figures at that commit,
and the index keeps the first failure's reason in one line. The commit's other experiments
are measured as usual. A change between measured and failing is a step of its own, "trials
fail from here" at the first failing commit and "trials pass again from here" at the fix,
which ``--every N`` narrows to its commit like an allocation step. A commit whose trials
failed is measured again by the next history (the failure may have been the machine's),
unless ``--keep-failed``.

It then lists the steps: every exact allocation figure of a goal that changed between two
adjacent measured commits, with the commit, its author date, subject, and the change, and
the ``harness explain`` command that shows which call paths of the step's phase moved its
figure (``--figure kept_bytes --phase pop_miss``) between the commit and the one measured
before it. A step across which the workload files differ names them
("workload files that differ from PARENT: workloads/lru.py"): the step may be the
workload's own change, not the code's. Time is noisy, and commits measured apart saw different loads,
so a time step is a change point (PELT, ruptures, with a penalty from the noise the commits
measured, beyond the tolerance) confirmed by measuring its two commits again, interleaved in
one run (A B A B ...) with the replicates a noisy goal needs to gate (10 a side), and
judged by the gate's rule; the change points that do not confirm are listed as not
confirmed. Each confirmation costs 2 x 10 trials of one experiment, once: it is kept in the
store (confirmations.json), so a re-run does not measure it again. Narrowing a confirmed time step
between sampled commits measures the middle commit, then it and both ends again in one
interleaved run (3 x 10 trials), the half that confirms the change holding the step.

The history page, ``index.html`` in the store, draws every goal of every experiment across
the commits with the steps marked, a short hash and the dates under the axis, lists the
steps (each linked to the delta flame graph of its commit against its parent, with its
explain command) and the commits that could not be measured. Where the remote ``origin`` is
on GitHub or GitLab, each commit links to its page there. Open it from disk, or publish the
store (docs/ci.md has a workflow).

Exit codes: 0 done; 1 the newest commit of the range was not measured (the trials of one of
its experiments failed, or its build or setup failed): the summary lists it, with every other
commit that was not; 2 bad input (an unknown revision, a store that is not one); 130
interrupted. Older commits whose trials failed are listed, but do not change the exit code:
they are history.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from harness.commits.history import Entry, HistoryStore
    from harness.commits.refs import Commit
    from harness.commits.timeline import Step, Timeline

COMMAND = "history"
DEFAULT_STORE = Path("reports/history")


def add_parser(sub: Any, name: str) -> None:
    from harness.cli._common import add_run_options, add_workloads_from_option
    from harness.commits.sides import WORKLOADS_FROM_COMMITS

    parser = sub.add_parser(
        name,
        help="measure every commit of a range and list the allocation steps",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("revisions", metavar="REVISIONS", help="a range of git rev-list, e.g. v1.0..main")
    parser.add_argument("--store", type=Path, metavar="DIR", help=f"the history store (default {DEFAULT_STORE})")
    parser.add_argument(
        "--every",
        type=int,
        default=1,
        metavar="N",
        help="measure every Nth commit, then narrow each allocation step, each confirmed time step, and each"
        " change between passing and failing trials, to its commit by bisection (default 1: all)",
    )
    parser.add_argument(
        "--keep-failed",
        action="store_true",
        help="keep the commits whose trials failed in an earlier history as they are (default: measure them again)",
    )
    add_run_options(parser)
    add_workloads_from_option(parser, WORKLOADS_FROM_COMMITS, "the working tree's")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.cli._common import executor_from, settings_from
    from harness.commits import sides
    from harness.commits.confirm import Confirmer
    from harness.commits.historian import Historian, commits_of
    from harness.commits.history import HistoryStore
    from harness.errors import ConfigError
    from harness.git import locate, remote_url, web_url
    from harness.measure.capture import resolve_backend
    from harness.reports.history_page import write_history_page

    if args.every < 1:
        raise ConfigError("--every must be at least 1")
    settings = settings_from(args)
    repo, subdir = locate(settings.project_root.resolve())
    commits = commits_of(repo, args.revisions)
    store = HistoryStore(args.store or settings.project_root / DEFAULT_STORE)
    historian = Historian(
        repo,
        subdir,
        settings,
        resolve_backend(settings.backend),
        sides.workloads_from(args.workloads_from, settings, settings.project_root),
        tuple(args.patterns),
        executor_from(args, settings),
        keep_failed=args.keep_failed,
    )
    first = historian.first(store, commits, args.every)
    print(f"history of {len(commits)} commits ({args.revisions}): {_plan(store, commits, first, args.every)}")
    started, tried = time.monotonic(), []

    def told(entry: Entry) -> None:
        tried.append(entry)
        where = f"{len(tried)}/{len(first)}" if len(tried) <= len(first) else f"{len(tried)}, narrowing a step"
        progress = f"[{where}, {_clock(time.monotonic() - started)}]"
        if entry.error is not None:
            print(f"skipped  {entry.short}  {entry.subject}  ({entry.error})  {progress}", flush=True)
        elif entry.trials_failed:
            print(f"failed   {entry.short}  {entry.subject}  ({entry.failure})  {progress}", flush=True)
        else:
            print(f"measured {entry.short}  {entry.subject}  {progress}", flush=True)

    historian.extend(store, commits, told, every=args.every)
    print(_tally(tried))
    found = Confirmer(historian, store, commits, told, lambda line: print(line, flush=True)).confirm()
    _print_steps(store, [s for s in found.steps if s.kind == "exact"], "allocation steps")
    _print_steps(store, [s for s in found.steps if s.kind != "exact"], "time steps (confirmed change points)")
    _print_candidates(found.candidates)
    if found.time_note:
        print(found.time_note)
    _print_failures(found)
    title = f"harness · history · {repo.name}"
    page = write_history_page(store, found, revisions=args.revisions, title=title, web=web_url(remote_url(repo)))
    print(f"page: {page}")
    newest = found.entries[-1] if found.entries else None
    if newest is not None and newest.failure is not None:
        print(f"the newest commit, {newest.short}, was not measured: {newest.failure}")
        return 1
    return 0


def _plan(store: HistoryStore, commits: Sequence[Commit], first: Sequence[Commit], every: int) -> str:
    """``12 to measure (1 whose trials failed before, again), 4 of them first (every 4th), store DIR``."""
    known = store.entries()
    again = sum(1 for c in first if c.sha in known)
    todo = sum(1 for c in commits if c.sha not in known) + again
    planned = f"{todo} to measure" + (f" ({again} whose trials failed before, again)" if again else "")
    if every > 1:
        planned += f", {len(first)} of them first (every {every}th)"
    return f"{planned}, store {store.directory}"


def _tally(tried: list[Entry]) -> str:
    """``tried 5 commits: 3 measured, 1 with failed trials, 1 skipped (build or setup failed)``."""
    failed = sum(1 for e in tried if e.error is None and e.trials_failed)
    skipped = sum(1 for e in tried if e.error is not None)
    parts = [f"{len(tried) - failed - skipped} measured"]
    parts += [f"{failed} with failed trials"] if failed else []
    parts += [f"{skipped} skipped (build or setup failed)"] if skipped else []
    return f"tried {len(tried)} commit{'' if len(tried) == 1 else 's'}: {', '.join(parts)}"


def _print_failures(found: Timeline) -> None:
    """The steps between passing and failing trials, then every commit of the range not measured."""
    print(f"trial failure steps: {len(found.failure_steps)}")
    for step in found.failure_steps:
        print(
            f"  {step.commit.short} {step.commit.author_date[:10]}  {step.commit.subject}\n"
            f"    {step.experiment}: {step.label}"
            + (f": {step.reason}" if step.failing else f" (failed at {step.parent.short}: {step.reason})")
        )
    unmeasured = [found.entries[i] for i in sorted({*found.trials_failed, *found.not_measurable})]
    print(f"commits not measured: {len(unmeasured)}")
    for entry in unmeasured:
        assert entry is not None
        what = "build or setup failed" if entry.error is not None else "trials failed"
        print(f"  {entry.short} {entry.author_date[:10]}  {entry.subject}  [{what}]\n    {entry.failure}")


def _print_steps(store: HistoryStore, steps: list[Step], heading: str) -> None:
    """Each step with its figures, the workload files that changed across it, and (for an
    exact one) the command that shows its call paths."""
    from harness.declare.metrics import absolute_change, metric
    from harness.reports.history_page import step_workloads_differ
    from harness.reports.step_command import explain_command

    differ = step_workloads_differ(store, steps)
    print(f"{heading}: {len(steps)}")
    for step in steps:
        fmt = metric(step.measure.rsplit(".", 1)[1]).format
        # From or to zero: the absolute change (the percent would be ±∞ or -100).
        absolute = absolute_change(step.measure.rsplit(".", 1)[1], step.before, step.after)
        print(
            f"  {step.commit.short} {step.commit.author_date[:10]}  {step.commit.subject}\n"
            f"    {step.experiment} {step.measure}: {fmt(step.before)} -> {fmt(step.after)}"
            f" ({absolute or f'{step.delta_pct:+.2f}% [{step.ci_low_pct:+.2f}, {step.ci_high_pct:+.2f}]'})"
        )
        if files := differ.get((step.parent.sha, step.commit.sha)):
            # The step may be the workload's own change (a variant defined there, a parameter), not the code's.
            print(f"    workload files that differ from {step.parent.short}: {', '.join(files)}")
        if step.kind == "exact":
            print(f"    call paths: {explain_command(step, store.directory)}")


def _print_candidates(candidates: tuple[Step, ...]) -> None:
    """The change points of time that are not steps, with what measuring again said."""
    if not candidates:
        return
    print(f"time change points not confirmed: {len(candidates)}")
    for step in candidates:
        said = (
            f"measured again: {step.delta_pct:+.2f}% [{step.ci_low_pct:+.2f}, {step.ci_high_pct:+.2f}]"
            if step.kind == "not confirmed"
            else "not measured again"
        )
        print(f"  {step.commit.short}  {step.experiment} {step.measure}: {said}")


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d} elapsed"
