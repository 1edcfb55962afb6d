"""Running two commits as the sides of one comparison: shared by ``compare`` and ``explain``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.commits.refs import Commit
    from harness.declare.config import Settings
    from harness.store.results import Results

#: Where compare keeps both sides' results (``compare.baseline.json``, ``compare.candidate.json``)
#: and, while it runs, their journal; relative to the project.
RECORD = Path("reports/compare.json")


def run_commits(
    args: argparse.Namespace,
    repo: Path,
    subdir: Path,
    baseline: Commit,
    candidate: Commit,
    patterns: list[str],
    workloads: Path | None = None,
) -> tuple[Settings, dict[str, Results]]:
    """Run both commits' experiments interleaved in temporary worktrees: the settings (with the
    flags of ``args``) of the project whose workloads ran (the candidate's, or the working
    tree's when its workloads ran) and the results of ``"baseline"`` and ``"candidate"``.

    Raises :class:`~harness.measure.pipeline.Interrupted` on Ctrl-C, with the worktrees removed.
    """
    from harness.cli._common import measure_options
    from harness.commits import refs, sides
    from harness.commits.buildcache import BuildCache
    from harness.commits.sides import WORKLOADS_FROM_COMPARE
    from harness.measure.pipeline import measure

    sys.stderr.write(f"baseline:  {baseline}\ncandidate: {candidate}\n")
    # Both sides' results and their journal; never part of a copy of the working tree.
    record = repo / subdir / RECORD
    outputs = (subdir / RECORD.parent).as_posix()
    working_tree = repo / subdir
    choice = getattr(args, "workloads_from", WORKLOADS_FROM_COMPARE[0])
    with refs.checkouts(repo, [baseline, candidate], subdir, outputs) as (base_checkout, cand_checkout):
        settings = _settings(args, cand_checkout.project_root, workloads)
        source = sides.workloads_from(choice, settings, working_tree, cand_checkout)
        if source.today_root == working_tree:
            # The working tree's workloads run: its settings (goals, replicates, tolerance) go with them.
            settings = _settings(args, working_tree, workloads)
            source = sides.workloads_from(choice, settings, working_tree)
        cache = BuildCache(cap_bytes=settings.build_cache_bytes)
        pair = sides.sides_of([("baseline", base_checkout), ("candidate", cand_checkout)], settings, source, cache)
        chosen = sides.select(pair, patterns)
        for side in pair:
            sys.stderr.write(f"{side.name} code: {side.provenance.code if side.provenance else 'the checkout'}\n")
        sys.stderr.write(f"workloads: {source.label}\n")
        differ = pair[0].provenance.workloads_differ if pair[0].provenance else None
        if differ:
            sys.stderr.write(f"workload files that differ between the sides: {', '.join(differ)}\n")
        results = measure(chosen, settings, measure_options(args, settings, record=record))
    return settings, results


def _settings(args: argparse.Namespace, project_root: Path, workloads: Path | None) -> Settings:
    """The settings of the project at ``project_root`` with the flags of ``args``; ``workloads``
    (relative to the project) replaces the settings' workloads directory."""
    from harness.cli._common import settings_from

    settings = settings_from(args, start=project_root).override(
        confidence=getattr(args, "confidence", None), tolerance_pct=getattr(args, "tolerance_pct", None)
    )
    if workloads is not None:
        settings = settings.override(workloads=project_root / workloads)
    return settings
