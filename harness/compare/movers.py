"""What moved behind a changed figure: the call sites and call paths a verdict row shows.

A regression or improvement is explained by the sites whose bytes changed most between the
two sides (means per replicate, keyed by function so that a line moved within its function
does not read as two changes), each named with the lines the change happened on: those of
its lines whose figure changed the function's way, the largest change first
(``requests (workloads/churn.py:201, 202)``); and by the call paths whose
own allocations changed most, each frame with the line of its call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from harness.compare.profiles import Move, changed_sites, profile_of
from harness.compare.verdict import ExperimentVerdict, PathMove, SiteMove
from harness.declare.metrics import explaining_figures
from harness.store.results import TrialResult
from harness.store.sites import Roots, site_label

#: The lines a mover names at most: where most of its change happened.
MOST_LINES = 3


def explained(
    row: ExperimentVerdict,
    base_trials: Sequence[TrialResult],
    cand_trials: Sequence[TrialResult],
    roots: tuple[Roots, Roots],
    limit: int,
) -> ExperimentVerdict:
    """``row`` with the ``limit`` sites and call paths whose figures changed most."""
    sites = _site_moves(row, base_trials, cand_trials, roots=roots)
    paths = _path_moves(row, base_trials, cand_trials, roots=roots)
    return replace(row, top_sites=tuple(sites[:limit]), top_paths=tuple(paths[:limit]))


def _site_moves(row: ExperimentVerdict, *sides: Sequence[TrialResult], roots: tuple[Roots, Roots]) -> list[SiteMove]:
    """The sites whose bytes (per replicate, mean) changed, most first, like ``pprof -diff_base``."""
    before, after = (
        profile_of(side, row.phase, root=root, grain="function") for side, root in zip(sides, roots, strict=True)
    )
    names = [name for name in explaining_figures(row.goal) if name.endswith("_bytes")]
    present = {*before.measured(names), *after.measured(names)}
    figure = next((name for name in names if name in present), None)
    if figure is None:
        return []
    line_before, line_after = (profile_of(side, row.phase, root=root) for side, root in zip(sides, roots, strict=True))
    lines = changed_sites(line_before, line_after, figure)
    moves = []
    for m in changed_sites(before, after, figure):
        where = _lines_of(m, lines)
        moves.append(SiteMove(site_label(m.site, where), m.baseline, m.candidate, m.delta, *m.site[:2], tuple(where)))
    return moves


def _lines_of(function: Move, lines: Sequence[Move]) -> list[int]:
    """The lines of ``function`` that changed its way (more, or less), the largest change first (three at most)."""
    name, file, _ = function.site
    found = [m.site[2] for m in lines if m.site[:2] == (name, file) and (m.delta > 0) == (function.delta > 0)]
    return found[:MOST_LINES]


def _path_moves(row: ExperimentVerdict, *sides: Sequence[TrialResult], roots: tuple[Roots, Roots]) -> list[PathMove]:
    """The call paths whose own allocations changed, most first, by the goal's figure."""
    from harness.compare.calltree import explains, figure_of_goal, flame_tree

    if not explains(row.goal):
        return []
    tree = flame_tree(row.id, row.phase, *sides, figure=figure_of_goal(row.goal), roots=roots)
    return [
        PathMove(
            tuple(frame.label for frame in path.stack),
            # Means of integers: three decimals say all they hold, without float dust.
            round(path.baseline.bytes, 3),
            round(path.candidate.bytes, 3),
            round(path.delta.bytes, 3),
            round(path.delta.count, 3),
            tuple((frame.function, frame.file, frame.line) for frame in path.stack),
        )
        for path in tree.paths()
        if tree.value(path.delta) != 0
    ]
