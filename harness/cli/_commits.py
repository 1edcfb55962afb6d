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
    """Run both commits' experiments interleaved in temporary worktrees: the candidate's
    settings (with the flags of ``args``) and the results of ``"baseline"`` and ``"candidate"``.

    Raises :class:`~harness.measure.pipeline.Interrupted` on Ctrl-C, with the worktrees removed.
    """
    from harness.cli._common import measure_options, settings_from
    from harness.commits import refs, sides
    from harness.commits.buildcache import BuildCache
    from harness.commits.sides import WORKLOADS_FROM_COMPARE
    from harness.measure.pipeline import measure

    sys.stderr.write(f"baseline:  {baseline}\ncandidate: {candidate}\n")
    # Both sides' results and their journal; never part of a copy of the working tree.
    record = repo / subdir / RECORD
    outputs = (subdir / RECORD.parent).as_posix()
    with refs.checkouts(repo, [baseline, candidate], subdir, outputs) as (base_checkout, cand_checkout):
        settings = settings_from(args, start=cand_checkout.project_root).override(
            confidence=getattr(args, "confidence", None), tolerance_pct=getattr(args, "tolerance_pct", None)
        )
        if workloads is not None:
            settings = settings.override(workloads=cand_checkout.project_root / workloads)
        choice = getattr(args, "workloads_from", WORKLOADS_FROM_COMPARE[0])
        source = sides.workloads_from(choice, settings, repo / subdir, cand_checkout)
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
