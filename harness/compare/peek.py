"""``pprof -peek`` of a delta tree: one function's figures by caller and by callee."""

from __future__ import annotations

from dataclasses import dataclass

from harness.compare.calltree import ROOT, Figures, FlameTree, Frame, FrameNode, add


@dataclass(frozen=True)
class Link:
    """A caller or callee of a peeked frame, with what flowed through that edge."""

    frame: Frame
    baseline: Figures
    candidate: Figures


@dataclass(frozen=True)
class FramePeek:
    """One function's figures over every call path through it, by caller and by callee
    (``pprof -peek``); a recursive function counts once, at its outermost call."""

    frame: Frame
    baseline: Figures
    candidate: Figures
    self_baseline: Figures
    self_candidate: Figures
    callers: tuple[Link, ...]
    callees: tuple[Link, ...]


def peek(tree: FlameTree, pattern: str) -> list[FramePeek]:
    """Every frame whose ``function (file:line)`` contains ``pattern``, most changed first."""
    found: dict[Frame, list[tuple[FrameNode, Frame]]] = {}

    def walk(node: FrameNode, caller: Frame, above: frozenset[Frame]) -> None:
        if pattern in node.frame.label and node.frame not in above and node.frame is not ROOT:
            found.setdefault(node.frame, []).append((node, caller))
        for child in node.children:
            walk(child, node.frame, above | {node.frame})

    for child in tree.root.children:
        walk(child, ROOT, frozenset())
    out = []
    for frame, occurrences in found.items():
        totals = [Figures(), Figures(), Figures(), Figures()]
        callers: dict[Frame, tuple[Figures, Figures]] = {}
        callees: dict[Frame, tuple[Figures, Figures]] = {}
        for node, caller in occurrences:
            parts = (node.baseline, node.candidate, node.self_baseline, node.self_candidate)
            totals = [add(t, p) for t, p in zip(totals, parts, strict=True)]
            before = callers.get(caller, (Figures(), Figures()))
            callers[caller] = (add(before[0], node.baseline), add(before[1], node.candidate))
            for child in node.children:
                seen = callees.get(child.frame, (Figures(), Figures()))
                callees[child.frame] = (add(seen[0], child.baseline), add(seen[1], child.candidate))

        def links(table: dict[Frame, tuple[Figures, Figures]]) -> tuple[Link, ...]:
            made = [Link(f, b, c) for f, (b, c) in table.items()]
            made.sort(key=lambda link: (-abs(tree.value(link.candidate) - tree.value(link.baseline)), link.frame.label))
            return tuple(made)

        base, cand, self_base, self_cand = totals
        out.append(FramePeek(frame, base, cand, self_base, self_cand, links(callers), links(callees)))
    out.sort(key=lambda p: (-abs(tree.value(p.candidate) - tree.value(p.baseline)), p.frame.label))
    return out
