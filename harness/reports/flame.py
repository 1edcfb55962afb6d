"""Delta flame graphs and call-path listings of :class:`harness.compare.calltree.FlameTree` values.

A flame graph here is an icicle: the root on top, callees below their callers. Each frame is
a function, file and line of a call (as memray draws), ``function (file:line)``; the same graph
by function (each function's lines merged) comes with it, one click away. Each frame is
as wide as its share of the candidate's figure and coloured by its Δ against the baseline:
red where the candidate allocates more, green where less (as in the tables), grey where nothing changed, the
hue's strength scaled to the largest |Δ| of the graph. The graph is laid out here as plain
numbers (percent of the width, rows) that the template draws as nested SVG, so it reads
without script; the page's one script adds zoom, search and a line of figures on hover.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from harness.compare.calltree import FIGURES, FlameTree, FrameNode, by_function
from harness.declare.metrics import metric
from harness.declare.units import format_pct

#: Frames narrower than this share of the graph are not drawn (under 2 px on a wide screen).
MIN_WIDTH = 0.0015
#: At most this many frames per graph, widest first, so that a page stays small.
MAX_FRAMES = 700
ROW = 18
NEUTRAL = (227, 230, 234)
MORE = (200, 48, 40)
#: Less is green, more is red, as in every table of the reports (one meaning for each colour).
LESS = (30, 125, 50)


def flame_anchor(experiment: str, phase: str, goal: str) -> str:
    """The HTML id of the flame graph of one verdict row: stable, so a comment can link to it."""
    digest = hashlib.sha1(f"{experiment}\0{phase}\0{goal}".encode()).hexdigest()[:8]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{experiment}-{phase}")[:60].strip("-")
    return f"flame-{slug}-{digest}"


@dataclass(frozen=True)
class FlameFrame:
    """One drawn frame: where it sits (percent of the width, row) and what it measured."""

    id: int
    parent: int
    depth: int
    x: float
    width: float
    name: str
    file: str
    #: The line of the call in ``file`` (0 at function grain, or where unknown).
    line: int
    #: What the frame reads: ``function (file:line)``.
    label: str
    baseline: float
    candidate: float
    delta: float
    colour: str
    tip: str

    @property
    def y(self) -> int:
        return self.depth * ROW

    @property
    def dark(self) -> bool:
        """Whether the fill is dark enough to want light text (relative luminance, WCAG)."""
        channels = [int(self.colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2] < 0.18


@dataclass(frozen=True)
class PathRow:
    stack: tuple[str, ...]
    baseline: str
    candidate: str
    delta: str
    delta_count: str
    sign: int


@dataclass(frozen=True)
class FlameGraph:
    """What the template draws for one tree."""

    anchor: str
    title: str
    figure: str
    caption: str
    frames: tuple[FlameFrame, ...]
    height: int
    hidden: int
    paths: tuple[PathRow, ...]
    note: str
    #: Frames by the line of each call (``line``) or by function (``function``).
    grain: str = "line"
    #: The same graph by function (its lines merged), one click away from the graph by line.
    by_function: FlameGraph | None = None


def format_figure(figure: str, value: float, *, signed: bool = False) -> str:
    return metric(figure).format(value, signed=signed)


def _colour(delta: float, scale: float) -> str:
    if delta == 0 or scale <= 0:
        return "#{:02x}{:02x}{:02x}".format(*NEUTRAL)
    # The square root lifts small changes into sight without letting them match the largest.
    strength = 0.25 + 0.75 * math.sqrt(min(abs(delta) / scale, 1.0))
    target = MORE if delta > 0 else LESS
    r, g, b = (round(n + (t - n) * strength) for n, t in zip(NEUTRAL, target, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _walk(node: FrameNode, depth: int = 0) -> Iterable[tuple[FrameNode, int]]:
    yield node, depth
    for child in node.children:
        yield from _walk(child, depth + 1)


def flame_graph(tree: FlameTree, anchor: str, title: str, *, paths: int = 5) -> FlameGraph:
    """The drawable graph of ``tree``: widths from the candidate (from the baseline when the
    candidate measured nothing there), colours from each frame's Δ. A graph by line carries
    its graph by function in ``by_function``."""
    by_candidate = tree.value(tree.root.candidate) > 0
    frames, hidden = _layout(tree, by_candidate)
    depth = max((f.depth for f in frames), default=0) + 1
    return FlameGraph(
        anchor,
        title,
        tree.figure,
        _caption(tree),
        tuple(frames),
        depth * ROW,
        hidden,
        tuple(_path_rows(tree, paths)),
        _note(tree, by_candidate, hidden),
        tree.grain,
        _function_graph(tree, anchor, title, paths) if tree.grain == "line" else None,
    )


def _function_graph(tree: FlameTree, anchor: str, title: str, paths: int) -> FlameGraph:
    return flame_graph(by_function(tree), f"{anchor}-by-function", title, paths=paths)


def _width(tree: FlameTree, node: FrameNode, by_candidate: bool) -> float:
    return max(tree.value(node.candidate if by_candidate else node.baseline), 0.0)


def _layout(tree: FlameTree, by_candidate: bool) -> tuple[list[FlameFrame], int]:
    """The frames to draw, placed and coloured, and how many were too narrow to draw."""
    scale = max((abs(tree.delta(n)) for n, d in _walk(tree.root) if d > 0), default=0.0)
    frames: list[FlameFrame] = []
    hidden = 0
    # Widest first (a heap by width, ties in tree order), so that the cap drops only slivers.
    order = itertools.count()
    heap: list[tuple[float, int, FrameNode, int, int, float]] = [(-1.0, next(order), tree.root, -1, 0, 0.0)]
    while heap:
        negative_width, _, node, parent, depth, x = heapq.heappop(heap)
        width = -negative_width
        if width < MIN_WIDTH or len(frames) >= MAX_FRAMES:
            hidden += 1
            continue
        index = len(frames)
        frames.append(_frame(tree, node, scale, index=index, parent=parent, depth=depth, x=x, width=width))
        # Children share their parent's width by their own; more than the parent (a net
        # figure whose callees freed memory) is scaled down to fit.
        room = max(sum(_width(tree, c, by_candidate) for c in node.children), _width(tree, node, by_candidate))
        offset = x
        for child in node.children:
            share = width * _width(tree, child, by_candidate) / room if room > 0 else 0.0
            heapq.heappush(heap, (-share, next(order), child, index, depth + 1, offset))
            offset += share
    return frames, hidden


def _frame(
    tree: FlameTree, node: FrameNode, scale: float, *, index: int, parent: int, depth: int, x: float, width: float
) -> FlameFrame:
    """One frame placed at ``x`` (a share of the graph's width), with its figures and hover line."""
    figure = tree.figure
    delta = tree.delta(node)
    base, cand = tree.value(node.baseline), tree.value(node.candidate)
    tip = (
        f"{node.frame.label}\nbaseline {format_figure(figure, base)} · candidate {format_figure(figure, cand)}"
        f" · Δ {format_figure(figure, delta, signed=True)}"
    )
    return FlameFrame(
        index,
        parent,
        depth,
        round(x * 100, 4),
        round(width * 100, 4),
        node.frame.function,
        node.frame.file,
        node.frame.line,
        node.frame.label,
        base,
        cand,
        delta,
        _colour(delta, scale),
        tip,
    )


def _caption(tree: FlameTree) -> str:
    """The whole graph's figures: both sides, the Δ (with its percent when the baseline has
    one) and the replicates."""
    figure, root = tree.figure, tree.root
    pct = ""
    if tree.value(root.baseline):
        pct = f" ({format_pct(100 * tree.delta(root) / abs(tree.value(root.baseline)), 1, '%')})"
    return (
        f"{figure.replace('_', ' ')} per replicate: baseline {format_figure(figure, tree.value(root.baseline))}"
        f", candidate {format_figure(figure, tree.value(root.candidate))}"
        f", Δ {format_figure(figure, tree.delta(root), signed=True)}{pct}"
        f" · replicates {replicates_label(tree)}"
    )


def _note(tree: FlameTree, by_candidate: bool, hidden: int) -> str:
    """What the reader should know before trusting the widths; empty when nothing."""
    notes = []
    if not tree.has_stacks:
        notes.append("the backend recorded no stacks: one frame per innermost call site")
    if not by_candidate:
        notes.append("the candidate measured nothing here: widths from the baseline")
    if hidden:
        notes.append(f"{hidden} frames too narrow to draw are left out")
    return "; ".join(notes)


def replicates_label(tree: FlameTree) -> str:
    base, cand = tree.baseline_replicates, tree.candidate_replicates
    paired = " paired by seed" if base == cand and base else ""
    return f"{len(base)} vs {len(cand)}{paired}"


def _path_rows(tree: FlameTree, limit: int) -> list[PathRow]:
    bytes_figure, count_figure = FIGURES[tree.figure]
    rows: list[PathRow] = []
    for path in tree.paths():
        change = tree.value(path.delta)
        if change == 0 or len(rows) >= limit:
            continue
        rows.append(
            PathRow(
                tuple(f.label for f in path.stack),
                format_figure(bytes_figure, path.baseline.bytes),
                format_figure(bytes_figure, path.candidate.bytes),
                format_figure(bytes_figure, path.delta.bytes, signed=True),
                format_figure(count_figure, path.delta.count, signed=True),
                (change > 0) - (change < 0),
            )
        )
    return rows
