"""``harness explain``'s text and JSON: the call trees of one experiment, pprof style.

The same :class:`~harness.compare.calltree.FlameTree` values the flame graphs draw, listed as
the call paths whose figures changed most, with a frame's callers and callees on request.
Frames are ``function (file:line)``, the line of each call (``line`` in JSON; 0 by function).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.compare.calltree import FIGURES, Figures, FlameTree, FrameNode
from harness.compare.peek import FramePeek, Link, peek
from harness.reports.flame import format_figure, replicates_label


def _node_json(tree: FlameTree, node: FrameNode) -> dict[str, Any]:
    return {
        "function": node.frame.function,
        "file": node.frame.file,
        "line": node.frame.line,
        "baseline": tree.value(node.baseline),
        "candidate": tree.value(node.candidate),
        "delta": tree.delta(node),
        "children": [_node_json(tree, c) for c in node.children],
    }


def _figures_json(prefix: str, figures: Figures) -> dict[str, float]:
    return {f"{prefix}_bytes": figures.bytes, f"{prefix}_count": figures.count}


def _change_json(baseline: Figures, candidate: Figures) -> dict[str, float]:
    return {
        **_figures_json("baseline", baseline),
        **_figures_json("candidate", candidate),
        "delta_bytes": candidate.bytes - baseline.bytes,
        "delta_count": candidate.count - baseline.count,
    }


def _peek_json(found: FramePeek) -> dict[str, Any]:
    def links(items: Sequence[Link]) -> list[dict[str, Any]]:
        return [
            {
                "function": i.frame.function,
                "file": i.frame.file,
                "line": i.frame.line,
                **_change_json(i.baseline, i.candidate),
            }
            for i in items
        ]

    return {
        "function": found.frame.function,
        "file": found.frame.file,
        "line": found.frame.line,
        **_change_json(found.baseline, found.candidate),
        "self": _change_json(found.self_baseline, found.self_candidate),
        "callers": links(found.callers),
        "callees": links(found.callees),
    }


def explain_json(trees: Sequence[FlameTree], against: str, top: int, pattern: str | None = None) -> dict[str, Any]:
    """``harness.explain/1``: per phase the changed call paths (most changed first), the frame
    tree, and with ``pattern`` the callers and callees of the frames it names (``peek``)."""
    return {
        "schema": "harness.explain/1",
        "experiment": trees[0].experiment if trees else "",
        "baseline_experiment": against,
        "figure": trees[0].figure if trees else "",
        "grain": trees[0].grain if trees else "line",
        "phases": [
            {
                "phase": tree.phase,
                "baseline_replicates": list(tree.baseline_replicates),
                "candidate_replicates": list(tree.candidate_replicates),
                "has_stacks": tree.has_stacks,
                "baseline": tree.value(tree.root.baseline),
                "candidate": tree.value(tree.root.candidate),
                "delta": tree.delta(tree.root),
                "paths": [
                    {
                        "stack": [{"function": f.function, "file": f.file, "line": f.line} for f in path.stack],
                        "baseline_bytes": path.baseline.bytes,
                        "candidate_bytes": path.candidate.bytes,
                        "delta_bytes": path.delta.bytes,
                        "baseline_count": path.baseline.count,
                        "candidate_count": path.candidate.count,
                        "delta_count": path.delta.count,
                    }
                    for path in [p for p in tree.paths() if tree.value(p.delta) != 0][:top]
                ],
                "tree": _node_json(tree, tree.root),
                **({"peek": [_peek_json(p) for p in peek(tree, pattern)]} if pattern else {}),
            }
            for tree in trees
        ],
    }


def _peek_text(tree: FlameTree, pattern: str) -> list[str]:
    """``pprof -peek``: each frame ``pattern`` names, its callers above it and its callees below."""
    bytes_figure, count_figure = FIGURES[tree.figure]

    def line(baseline: Figures, candidate: Figures, label: str) -> str:
        return (
            f"  {format_figure(bytes_figure, candidate.bytes - baseline.bytes, signed=True):>12}"
            f" {format_figure(count_figure, candidate.count - baseline.count, signed=True):>10}"
            f" {format_figure(bytes_figure, baseline.bytes):>11}"
            f" {format_figure(bytes_figure, candidate.bytes):>11}  {label}"
        )

    found = peek(tree, pattern)
    if not found:
        return [f"  peek {pattern!r}: no frame of this phase matches", ""]
    lines = [f"  peek {pattern!r}: callers above, callees below each frame"]
    for item in found:
        lines += [line(c.baseline, c.candidate, f"    caller {c.frame.label}") for c in item.callers]
        lines.append(line(item.baseline, item.candidate, f"| {item.frame.label}"))
        lines.append(line(item.self_baseline, item.self_candidate, "    (its own allocations)"))
        lines += [line(c.baseline, c.candidate, f"    callee {c.frame.label}") for c in item.callees]
        lines.append("")
    return lines


def explain_text(trees: Sequence[FlameTree], against: str, top: int, pattern: str | None = None) -> str:
    """The changed call paths of each phase, ``pprof -top`` style, each followed by its stack;
    with ``pattern``, the callers and callees of the frames it names, ``pprof -peek`` style."""
    lines: list[str] = []
    for tree in trees:
        bytes_figure, count_figure = FIGURES[tree.figure]
        root = tree.root
        head = tree.experiment if against == tree.experiment else f"{tree.experiment} against {against}"
        lines += [
            f"{head} · {tree.phase} · {tree.figure.replace('_', ' ')} per replicate ({replicates_label(tree)})",
            f"  baseline {format_figure(tree.figure, tree.value(root.baseline))}"
            f"  candidate {format_figure(tree.figure, tree.value(root.candidate))}"
            f"  Δ {format_figure(tree.figure, tree.delta(root), signed=True)}",
        ]
        if not tree.has_stacks:
            lines.append("  (the backend recorded no stacks: innermost call sites only)")
        changed = [p for p in tree.paths() if tree.value(p.delta) != 0]
        peeked = _peek_text(tree, pattern) if pattern else []
        if not changed:
            lines += ["  no call path changed", "", *peeked]
            continue
        lines.append(f"  {'Δ bytes':>12} {'Δ count':>10} {'baseline':>11} {'candidate':>11}  call path, innermost last")
        for path in changed[:top]:
            figures = (
                f"{format_figure(bytes_figure, path.delta.bytes, signed=True):>12}"
                f" {format_figure(count_figure, path.delta.count, signed=True):>10}"
                f" {format_figure(bytes_figure, path.baseline.bytes):>11}"
                f" {format_figure(bytes_figure, path.candidate.bytes):>11}"
            )
            stack = [f.label for f in path.stack]
            lines.append(f"  {figures}  {stack[0]}")
            lines += [f"  {'':>47}  {'  ' * i}> {label}" for i, label in enumerate(stack[1:])]
        if len(changed) > top:
            lines.append(f"  ... {len(changed) - top} more changed paths (--top)")
        lines += ["", *peeked]
    return "\n".join(lines)
