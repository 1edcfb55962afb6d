"""``harness compare REF_A REF_B [PATTERN ...]``: did a change make the experiments worse?

Each commit is checked out in its own git worktree in a temporary directory, and the same
experiments run against both, interleaved A B A B with the same seeds, so that drift of the
machine hits both sides alike and replicate i of A pairs with replicate i of B. The workloads
and the code under test are imported from each checkout; harness itself is the installed one.

REF_B may be WORKTREE, the working tree with its uncommitted changes; it is the default when
only REF_A is given. With no ref at all, REF_A is the merge-base of HEAD with the default
branch (origin/HEAD, else main or master): "what did my branch change?". The leading
arguments that name commits are the refs, the others are experiment patterns.

The settings of both sides (replicates, tolerance, setup, ...) come from the candidate's
pyproject.toml, so a change to the gate's settings is judged by the rules it brings. The
optional ``[tool.harness] setup`` command (e.g. ``pip install -e .`` or ``make ext``) runs
in each checkout before its trials. An experiment present at one commit only is ``new`` or
``missing``; a checkout without the workloads directory has no experiments.

The verdict is shown exactly as ``harness gate`` shows it (--format, --out, --html; --json
also writes the verdict JSON beside another format) and the exit code is the gate's:
0 passed, 1 failed, 2 bad input. Worktrees are removed at the end,
also after an error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.config import Settings
    from harness.gitrefs import Commit
    from harness.results import Results

COMMAND = "compare"
ORDER = 30


def add_parser(sub: Any, name: str) -> None:
    from harness.commands._common import add_run_options
    from harness.commands._verdict_output import add_output_options

    parser = sub.add_parser(
        name,
        help="compare two commits (or a commit and the working tree) in temporary worktrees",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [REF_A [REF_B]] [PATTERN ...] [options]",
    )
    add_run_options(parser)
    add_output_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness import gitrefs
    from harness.config import find_project_root

    cwd = Path.cwd()
    repo = gitrefs.repo_root(cwd)
    project = find_project_root(cwd)
    subdir = project.relative_to(repo) if project.is_relative_to(repo) else Path()
    baseline, candidate, patterns = split_refs(repo, list(args.patterns))
    workloads = None
    if args.workloads is not None:
        # The user's path is relative to where they stand; each checkout has its own copy of it.
        workloads = (cwd / args.workloads).resolve().relative_to(project)
    return compare_commits(args, repo, subdir, baseline, candidate, patterns, workloads)


def split_refs(repo: Path, items: list[str]) -> tuple[Commit, Commit, list[str]]:
    """(baseline commit, candidate commit, patterns) from the positional arguments.

    Up to two leading arguments that name commits are the refs; the defaults fill in the rest.
    """
    from harness import gitrefs

    refs: list[str] = []
    while items and len(refs) < 2 and gitrefs.is_ref(repo, items[0]):
        refs.append(items.pop(0))
    if refs:
        baseline = gitrefs.resolve(repo, refs[0])
    else:
        baseline = gitrefs.merge_base(repo, gitrefs.default_branch(repo), "HEAD")
    candidate = gitrefs.resolve(repo, refs[1] if len(refs) > 1 else gitrefs.WORKTREE)
    return baseline, candidate, items


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
    import sys

    from harness.commands._verdict_output import emit_verdict
    from harness.gate import GateOptions, compare

    settings, results = run_commits(args, repo, subdir, baseline, candidate, patterns, workloads)
    if results["candidate"].interrupted:
        sys.stderr.write("harness: interrupted; worktrees removed, no verdict\n")
        return 130
    verdict = compare(results["baseline"], results["candidate"], GateOptions.from_settings(settings))
    return emit_verdict(verdict, args, baseline=results["baseline"], candidate=results["candidate"])


def run_commits(
    args: argparse.Namespace,
    repo: Path,
    subdir: Path,
    baseline: Commit,
    candidate: Commit,
    patterns: list[str],
    workloads: Path | None = None,
) -> tuple[Settings, dict[str, Results]]:
    """Run both commits' experiments interleaved in temporary worktrees: the candidate's
    settings (with the flags of ``args``) and the results of ``"baseline"`` and ``"candidate"``."""
    import sys

    from harness import gitrefs
    from harness.capture import resolve_backend
    from harness.commands._common import executor_from, settings_from
    from harness.gate import check_measurable
    from harness.progress import run_with_progress
    from harness.results import experiment_infos

    sys.stderr.write(f"baseline:  {baseline}\ncandidate: {candidate}\n")
    with gitrefs.checkouts(repo, [baseline, candidate], subdir) as (base_checkout, cand_checkout):
        settings = settings_from(args, start=cand_checkout.project_root).override(
            confidence=getattr(args, "confidence", None), tolerance_pct=getattr(args, "tolerance_pct", None)
        )
        if workloads is not None:
            settings = settings.override(workloads=cand_checkout.project_root / workloads)
        backend = resolve_backend(settings.backend)
        sides = [
            gitrefs.side_of("baseline", base_checkout, settings),
            gitrefs.side_of("candidate", cand_checkout, settings),
        ]
        sides = gitrefs.select(sides, patterns)
        for side in sides:
            check_measurable(experiment_infos(side.experiments), backend)
        results = run_with_progress(sides, settings, backend, executor_from(args, settings))
    return settings, results
