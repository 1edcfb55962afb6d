"""``harness compare REF_A REF_B [PATTERN ...]``: did a change make the experiments worse?

Each commit is checked out in its own git worktree in a temporary directory, and the same
experiments run against both, interleaved A B A B with the same seeds, so that drift of the
machine hits both sides alike and replicate i of A pairs with replicate i of B.

The code under test comes from each commit, never from your environment: a project with a
build backend ([build-system] in pyproject.toml, or a setup.py) is built into a wheel per
commit (C extensions included) and installed into a directory of its own, first on the
import path of that side's trials only; a project without one is imported from the
checkout's root. Builds are cached by commit (`harness cache` shows and clears them), so a
second compare of the same commits builds nothing. Dependencies come from the current
environment, which is never modified. harness itself is the installed one.

Each side runs its own commit's workloads, composed file by file (--workloads-from own, the
default): every file under the workloads directory (helper modules included) that the
commit has is its own, and the candidate's files (the working tree's where the candidate
has none) fill in only the files it lacks. So a variant whose code lives in the workloads
is measured as it is at each commit, a workload the candidate adds is measured on the
baseline too, and commits older than the workloads are compared with today's. The verdict
names the workload files that differ between the sides ("workload files that differ
between the sides: workloads/lru.py"): a figure of theirs may have moved by the workload's
change, and a changed parameter changes the experiment's id (new and missing rows).
--workloads-from candidate runs the candidate's workloads on both sides (as asv runs
today's benchmarks against old commits), worktree the working tree's, each every commit's
own files only (an experiment present at one commit only is then new or missing).

REF_B may be WORKTREE, the working tree with its uncommitted changes; it is the default when
only REF_A is given. With no ref at all, REF_A is the merge-base of HEAD with the default
branch (origin/HEAD, else main or master): "what did my branch change?". The leading
arguments that name commits are the refs, the others are experiment patterns.

The settings of both sides (replicates, tolerance, goals, setup, ...) come from the
pyproject.toml beside the workloads both sides run: the candidate's, so a change to the gate's
settings is judged by the rules it brings; the working tree's when its workloads are run
(both commits predate the workloads, or --workloads-from worktree). The
optional ``[tool.harness] setup`` command is for what a build cannot do (a data file, a
generated module): it runs in each checkout before its build, and a ``pip install`` in it
goes to a scratch directory, never into your environment.

Both sides' results are kept in reports/compare.baseline.json and compare.candidate.json
(for `harness report` or `harness explain`); while trials run, each finished one is also in
a journal beside them, so a compare killed hard continues with --resume.

The verdict is shown exactly as ``harness gate`` shows it (--format, --out, --html; --json
also writes the verdict JSON beside another format) and the exit code is the gate's:
0 passed, 1 failed, 2 bad input. It fails when the trials of an experiment failed at either
commit, naming the side (baseline, candidate or both) and the first failure's reason; a
commit whose trials crash is never read as having no figures (``new``). An experiment the
baseline has and the candidate lacks fails too, unless --allow-missing. Worktrees are
removed at the end, also after an error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.commits.refs import Commit

COMMAND = "compare"


def add_parser(sub: Any, name: str) -> None:
    from harness.cli._common import add_resume_option, add_run_options, add_workloads_from_option
    from harness.cli._verdict_output import add_output_options
    from harness.commits.sides import WORKLOADS_FROM_COMPARE

    parser = sub.add_parser(
        name,
        help="compare two commits (or a commit and the working tree) in temporary worktrees",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [REF_A [REF_B]] [PATTERN ...] [options]",
    )
    add_run_options(parser)
    add_resume_option(parser)
    add_workloads_from_option(parser, WORKLOADS_FROM_COMPARE, "the candidate's (else the working tree's)")
    add_output_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.commits.refs import split_refs
    from harness.declare.config import find_project_root
    from harness.git import locate

    cwd = Path.cwd()
    project = find_project_root(cwd)
    repo, subdir = locate(project)
    baseline, candidate, patterns = split_refs(repo, list(args.patterns))
    workloads = None
    if args.workloads is not None:
        # The user's path is relative to where they stand; each checkout has its own copy of it.
        workloads = (cwd / args.workloads).resolve().relative_to(project)
    return compare_commits(args, repo, subdir, baseline, candidate, patterns, workloads)


def compare_commits(
    args: argparse.Namespace,
    repo: Path,
    subdir: Path,
    baseline: Commit,
    candidate: Commit,
    patterns: list[str],
    workloads: Path | None = None,
) -> int:
    """Run both commits' experiments interleaved and print the verdict; the gate's exit code.

    ``workloads`` is the workloads directory relative to the project, when not the settings'.
    """

    from harness.cli._commits import run_commits
    from harness.cli._verdict_output import check_outputs, emit_verdict
    from harness.compare.gate import GateOptions, compare

    check_outputs(args)
    settings, results = run_commits(args, repo, subdir, baseline, candidate, patterns, workloads)
    options = GateOptions.from_settings(settings, allow_missing=args.allow_missing)
    verdict = compare(results["baseline"], results["candidate"], options)
    return emit_verdict(verdict, args, baseline=results["baseline"], candidate=results["candidate"])
