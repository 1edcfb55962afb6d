"""The delta of two profiles as a tree of call frames: what a delta flame graph and ``explain`` show.

The sites of one (experiment, phase) on both sides are folded into one tree, root first, each
site's stack from its outermost frame down to the site itself. Every node holds the baseline
and candidate figures of everything allocated under it (its own sites and its callees'), as
means per replicate over the replicates both sides ran (paired by seed). Sums are taken in
integers and divided once, so a frame whose code did not change has a Δ of exactly 0.

A frame is a function of a file (relative to its side's project root) and, at ``grain="line"``
(the default, as memray draws), the line of the call in it: the innermost frame's line is the
site's, an outer frame's the line that called further in. At ``grain="function"`` lines are
left out (``line`` 0), as ``pprof`` groups: a change that only moves lines inside a function
then leaves it the same frame. A checkout in another directory leaves frames the same at
either grain. Sites without a stack (backends that record none) become one frame each under
the root: a flat graph of innermost sites.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from harness.declare.metrics import explaining_figures
from harness.errors import ConfigError
from harness.measure.own_frames import is_runner_file
from harness.store.results import Results, TrialResult
from harness.store.sites import Grain, Roots, Site, relative_file, site_label

#: The figures a tree can be drawn by, each with its companion (bytes with counts, counts with bytes).
FIGURES: Mapping[str, tuple[str, str]] = {
    "alloc_bytes": ("alloc_bytes", "alloc_count"),
    "alloc_count": ("alloc_bytes", "alloc_count"),
    "kept_bytes": ("kept_bytes", "kept_count"),
    "net_bytes": ("net_bytes", "net_count"),
}
DEFAULT_FIGURE = "alloc_bytes"


@dataclass(frozen=True)
class Frame:
    """A function of a file and the line of the call in it (0 at function grain, or unknown);
    ``file`` is relative to the project root when it lies inside it."""

    function: str
    file: str
    line: int = 0

    @property
    def label(self) -> str:
        """``function (file:line)``, ``function (file)`` without a line, ``function`` without a file."""
        return site_label((self.function, self.file, self.line)) if self.file else self.function

    def at(self, grain: Grain) -> Frame:
        """This frame at ``grain``: without its line at function grain."""
        return self if grain == "line" or not self.line else Frame(self.function, self.file)


#: Stands for the callers of a stack that never reached the trial runner: cut at the backend's
#: recorded depth (or run on a thread of its own).
DEEPER = Frame("…", "callers not recorded")
ROOT = Frame("all", "")


@dataclass(frozen=True)
class Figures:
    """Bytes and allocation count, as means per replicate."""

    bytes: float = 0.0
    count: float = 0.0


@dataclass(frozen=True)
class FrameNode:
    """One frame on one call path: its figures with everything it called, and its callees."""

    frame: Frame
    baseline: Figures
    candidate: Figures
    #: What the frame allocated itself (its own sites), not its callees.
    self_baseline: Figures
    self_candidate: Figures
    children: tuple[FrameNode, ...] = ()


@dataclass(frozen=True)
class CallPath:
    """A complete call path (outermost frame first) and what its innermost frame allocated itself."""

    stack: tuple[Frame, ...]
    baseline: Figures
    candidate: Figures

    @property
    def delta(self) -> Figures:
        return Figures(self.candidate.bytes - self.baseline.bytes, self.candidate.count - self.baseline.count)


@dataclass(frozen=True)
class FlameTree:
    """The delta profile of one experiment's phase, by one figure."""

    experiment: str
    phase: str
    figure: str
    root: FrameNode
    #: Replicates averaged on each side (the paired ones when both sides have some in common).
    baseline_replicates: tuple[int, ...]
    candidate_replicates: tuple[int, ...]
    #: Whether the sites carried stacks (False: one frame per innermost site).
    has_stacks: bool
    #: Whether frames carry the line of the call (``line``) or the function only (``function``).
    grain: Grain = "line"

    def value(self, figures: Figures) -> float:
        """The tree's figure out of ``figures``: the count for ``alloc_count``, else the bytes."""
        return figures.count if self.figure == "alloc_count" else figures.bytes

    def delta(self, node: FrameNode) -> float:
        return self.value(node.candidate) - self.value(node.baseline)

    def paths(self) -> list[CallPath]:
        """Every call path that allocated on either side, the most changed (by the figure) first."""
        out: list[CallPath] = []

        def walk(node: FrameNode, stack: tuple[Frame, ...]) -> None:
            if node.self_baseline != Figures() or node.self_candidate != Figures():
                out.append(CallPath(stack, node.self_baseline, node.self_candidate))
            for child in node.children:
                walk(child, (*stack, child.frame))

        for child in self.root.children:
            walk(child, (child.frame,))
        out.sort(key=lambda p: (-abs(self.value(p.delta)), -self.value(p.candidate), [f.label for f in p.stack]))
        return out


#: Goal metrics whose changes the call sites account for (time, RSS and workload counters are not).
_ALLOCATION_GOALS = frozenset(
    {"alloc_bytes", "alloc_count", "kept_bytes", "kept_count", "net_bytes", "net_count", "peak_bytes"}
)


def explains(goal: str) -> bool:
    """Whether a change of ``goal`` (``alloc_count_per_op``, ``wall_s``, ...) shows in call sites."""
    return goal.removesuffix("_per_op") in _ALLOCATION_GOALS


def figure_of_goal(goal: str) -> str:
    """The tree figure that explains a goal metric: its own when sites carry it, else the bytes allocated."""
    return next(name for name in explaining_figures(goal) if name in FIGURES)


def check_figure(figure: str) -> str:
    if figure not in FIGURES:
        raise ConfigError(f"unknown figure {figure!r}: use one of {', '.join(FIGURES)}")
    return figure


def _parse(entry: str, root: Roots) -> Frame:
    # "file:line:function"; the file may itself hold colons, the line and function never do.
    parts = entry.rsplit(":", 2)
    if len(parts) < 3:
        return Frame(parts[-1], relative_file(parts[0], root) if len(parts) > 1 else "?")
    return Frame(parts[2], relative_file(parts[0], root), int(parts[1]) if parts[1].isdigit() else 0)


def _is_runner(entry: str) -> bool:
    file = entry.rsplit(":", 2)[0]
    return is_runner_file(file)


def site_path(site: Site, root: Roots, grain: Grain = "line") -> tuple[tuple[Frame, ...], bool]:
    """The frames of one site at ``grain``, outermost first, and whether the site carried a stack."""
    path, has_stack = _site_frames(site, root)
    return tuple(frame.at(grain) for frame in path), has_stack


def _site_frames(site: Site, root: Roots) -> tuple[tuple[Frame, ...], bool]:
    innermost = Frame(site.function, relative_file(site.file, root), site.line)
    if not site.stack:
        return (innermost,), False
    entries = list(site.stack)
    cut = len(entries)
    while cut > 0 and _is_runner(entries[cut - 1]):
        cut -= 1
    frames = tuple(_parse(e, root) for e in reversed(entries[:cut]))
    if cut == len(entries):
        # The stack never reached the runner: the backend's depth limit cut its callers.
        frames = (DEEPER, *frames)
    return frames or (innermost,), True


_Sums = dict[tuple[Frame, ...], list[int]]


def _sum_sites(trials: Sequence[TrialResult], phase: str, root: Roots, figure: str, grain: Grain) -> tuple[_Sums, bool]:
    """Integer totals of (bytes, count) per call path over ``trials``."""
    bytes_key, count_key = FIGURES[figure]
    sums: _Sums = {}
    stacks = False
    for trial in trials:
        measured = trial.phase(phase)
        for site in measured.sites if measured else ():
            path, has_stack = site_path(site, root, grain)
            stacks = stacks or has_stack
            total = sums.setdefault(path, [0, 0])
            total[0] += site.figure(bytes_key)
            total[1] += site.figure(count_key)
    return sums, stacks


def _build(
    frame: Frame,
    prefix: tuple[Frame, ...],
    paths: Sequence[tuple[Frame, ...]],
    sides: tuple[_Sums, _Sums],
    runs: tuple[int, int],
) -> FrameNode:
    depth = len(prefix)
    own = [[0, 0], [0, 0]]
    inclusive = [[0, 0], [0, 0]]
    by_child: dict[Frame, list[tuple[Frame, ...]]] = {}
    for path in paths:
        for side in (0, 1):
            figures = sides[side].get(path)
            if figures:
                inclusive[side][0] += figures[0]
                inclusive[side][1] += figures[1]
                if len(path) == depth:
                    own[side][0] += figures[0]
                    own[side][1] += figures[1]
        if len(path) > depth:
            by_child.setdefault(path[depth], []).append(path)

    def mean(pair: list[int], side: int) -> Figures:
        n = runs[side]
        return Figures(pair[0] / n, pair[1] / n) if n else Figures()

    children = tuple(_build(child, (*prefix, child), group, sides, runs) for child, group in by_child.items())
    return FrameNode(
        frame,
        mean(inclusive[0], 0),
        mean(inclusive[1], 1),
        mean(own[0], 0),
        mean(own[1], 1),
        children,
    )


def _sorted(node: FrameNode, tree_value: Callable[[Figures], float]) -> FrameNode:
    # Widest first, then by name: the same layout for the same profile, run after run.
    children = sorted(
        (_sorted(c, tree_value) for c in node.children),
        key=lambda c: (-tree_value(c.candidate), -tree_value(c.baseline), c.frame.label),
    )
    return replace(node, children=tuple(children))


def _paired(base: Sequence[TrialResult], cand: Sequence[TrialResult]) -> tuple[list[TrialResult], list[TrialResult]]:
    common = {t.replicate for t in base} & {t.replicate for t in cand}
    if not common:
        return list(base), list(cand)
    return [t for t in base if t.replicate in common], [t for t in cand if t.replicate in common]


def flame_tree(
    experiment: str,
    phase: str,
    baseline: Sequence[TrialResult],
    candidate: Sequence[TrialResult],
    *,
    figure: str = DEFAULT_FIGURE,
    roots: tuple[Roots, Roots] = ("", ""),
    grain: Grain = "line",
) -> FlameTree:
    """The delta tree of ``phase`` from the trials of both sides (failed trials and trials
    without the phase are left out). ``roots`` are the sides' project roots, cut from file names;
    ``grain`` whether frames carry the line of the call (see the module's docstring)."""
    check_figure(figure)
    base = [t for t in baseline if t.ok and t.phase(phase) is not None]
    cand = [t for t in candidate if t.ok and t.phase(phase) is not None]
    base, cand = _paired(base, cand)
    base_sums, base_stacks = _sum_sites(base, phase, roots[0], figure, grain)
    cand_sums, cand_stacks = _sum_sites(cand, phase, roots[1], figure, grain)
    paths = list(dict.fromkeys([*base_sums, *cand_sums]))
    root = _build(ROOT, (), paths, (base_sums, cand_sums), (len(base), len(cand)))

    def tree_value(figures: Figures) -> float:
        return figures.count if figure == "alloc_count" else figures.bytes

    return FlameTree(
        experiment,
        phase,
        figure,
        _sorted(root, tree_value),
        tuple(sorted(t.replicate for t in base)),
        tuple(sorted(t.replicate for t in cand)),
        base_stacks or cand_stacks,
        grain,
    )


def add(a: Figures, b: Figures) -> Figures:
    """The sum of two figures."""
    return Figures(a.bytes + b.bytes, a.count + b.count)


def _merged(nodes: Sequence[FrameNode], grain: Grain) -> FrameNode:
    """One node of ``nodes`` (frames equal at ``grain``) with their figures and callees summed."""
    groups: dict[Frame, list[FrameNode]] = {}
    for node in nodes:
        for child in node.children:
            groups.setdefault(child.frame.at(grain), []).append(child)

    def total(part: Callable[[FrameNode], Figures]) -> Figures:
        figures = Figures()
        for node in nodes:
            figures = add(figures, part(node))
        return figures

    return FrameNode(
        nodes[0].frame.at(grain),
        total(lambda n: n.baseline),
        total(lambda n: n.candidate),
        total(lambda n: n.self_baseline),
        total(lambda n: n.self_candidate),
        tuple(_merged(group, grain) for group in groups.values()),
    )


def by_function(tree: FlameTree) -> FlameTree:
    """``tree`` at function grain: the frames of one function merged, whatever the lines of their calls."""
    if tree.grain == "function":
        return tree
    return replace(tree, root=_sorted(_merged([tree.root], "function"), tree.value), grain="function")


def project_root(results: Results | None) -> tuple[str, ...]:
    """The roots a side's file names are cut by (see :attr:`harness.store.environment.Environment.roots`)."""
    return results.environment.roots if results is not None else ()


def trees_of(
    experiment: str,
    baseline: Results,
    candidate: Results,
    *,
    figure: str = DEFAULT_FIGURE,
    phases: Iterable[str] | None = None,
    baseline_experiment: str | None = None,
    grain: Grain = "line",
) -> list[FlameTree]:
    """One tree per phase of ``experiment`` (or ``phases``), in the candidate's phase order.

    ``baseline_experiment`` compares with another experiment of the baseline (another variant
    of the same workload, whose replicates ran the same seeds) instead of the same one.
    """
    base_trials = baseline.trials_of(baseline_experiment or experiment)
    cand_trials = candidate.trials_of(experiment)
    names = list(phases) if phases is not None else []
    if phases is None:
        names = list(dict.fromkeys(p.name for t in (*cand_trials, *base_trials) if t.ok for p in t.phases))
    roots = (project_root(baseline), project_root(candidate))
    return [
        flame_tree(experiment, name, base_trials, cand_trials, figure=figure, roots=roots, grain=grain)
        for name in names
    ]
