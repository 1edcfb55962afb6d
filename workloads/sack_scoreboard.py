"""SACK scoreboards: boxed blocks behind an item interface, or flat sequences of ints (gVisor #12596).

The seed: gVisor's TCP ``SACKScoreboard`` kept SACK blocks in the interface-based
``btree.BTree``, so every ``IsSACKED``, ``IsRangeLost``, ``Insert`` and ``Delete`` boxed a
``header.SACKBlock`` into a ``btree.Item``. Under packet loss, a 30 s pprof allocation diff
put ``IsSACKED`` at 1055 MB (35 % of all allocations) and ``IsRangeLost`` at 343 MB (12 %),
the top two allocators of the process, enough to get it OOM-killed. The generic
``btree.BTreeG[SACKBlock]`` removes the boxing and makes both zero-allocation.

Variants: ``boxed`` keeps a sorted list of ``SackBlock`` objects, wraps every query range in
a new ``SackBlock`` and walks the blocks through a visitor callback, as
``DescendLessOrEqual(item, func(btree.Item) bool)`` does; ``unboxed`` keeps block starts and
ends in two flat lists of ints and answers with ``bisect`` on plain ints.

What tells them apart: ``alloc_count_per_op`` of the ``recovery`` phase, where the sender
asks ``is_sacked`` and ``is_range_lost`` of every outstanding segment on every ACK (gVisor's
``SetPipe``). Sequence numbers count segments, so block lengths and loss counts stay small
ints, which CPython never allocates: what the ``unboxed`` board allocates is its own work.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from typing import Any

import harness

sack_scoreboard = harness.family("sack_scoreboard", "TCP SACK scoreboards: insert, is_sacked, is_range_lost, delete")

#: RFC 6675 DupThresh: a segment is lost once this many segments above it were SACKed.
DUP_THRESH = 3


class SackBlock:
    """A SACKed range [start, end) of segment numbers: the value boxed into the tree's item interface."""

    __slots__ = ("end", "start")

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end

    def __lt__(self, other: SackBlock) -> bool:
        return self.start < other.start


@sack_scoreboard.variant("boxed")
class BoxedScoreboard:
    """Sorted SackBlock objects; each query boxes its range and walks the blocks with a callback."""

    def __init__(self) -> None:
        self.blocks: list[SackBlock] = []

    def _descend_le(self, pivot: SackBlock, visit: Callable[[SackBlock], bool]) -> None:
        """Visit blocks with start <= pivot.start, highest first, while ``visit`` returns True."""
        i = bisect.bisect_right(self.blocks, pivot)
        while i > 0:
            i -= 1
            if not visit(self.blocks[i]):
                return

    def _ascend_ge(self, pivot: SackBlock, visit: Callable[[SackBlock], bool]) -> None:
        """Visit blocks ending at or after pivot.start, lowest first, while ``visit`` returns True."""
        i = bisect.bisect_right(self.blocks, pivot)
        if i > 0 and self.blocks[i - 1].end >= pivot.start:
            i -= 1
        while i < len(self.blocks):
            if not visit(self.blocks[i]):
                return
            i += 1

    def insert(self, start: int, end: int) -> None:
        item = SackBlock(start, end)
        merged: list[SackBlock] = []

        def overlapping(block: SackBlock) -> bool:
            if block.start > item.end:
                return False
            if block.end >= item.start:
                merged.append(block)
            return True

        self._ascend_ge(SackBlock(start, start), overlapping)
        for block in merged:
            item.start = min(item.start, block.start)
            item.end = max(item.end, block.end)
            self.blocks.remove(block)
        bisect.insort(self.blocks, item)

    def delete(self, ack: int) -> None:
        """Forget what the cumulative ACK ``ack`` covers."""
        i = bisect.bisect_right(self.blocks, SackBlock(ack, ack))
        while i > 0 and self.blocks[i - 1].end <= ack:
            i -= 1
        if i:
            del self.blocks[:i]
        if self.blocks and self.blocks[0].start < ack:
            self.blocks[0] = SackBlock(ack, self.blocks[0].end)

    def is_sacked(self, start: int, end: int) -> bool:
        found = False

        def covers(block: SackBlock) -> bool:
            nonlocal found
            found = block.end >= end
            return False

        self._descend_le(SackBlock(start, end), covers)
        return found

    def is_range_lost(self, start: int, end: int) -> bool:
        sacked = 0

        def count(block: SackBlock) -> bool:
            nonlocal sacked
            sacked += block.end - max(block.start, end)
            return sacked < DUP_THRESH

        self._ascend_ge(SackBlock(end, end), count)
        return sacked >= DUP_THRESH


@sack_scoreboard.variant("unboxed")
class FlatScoreboard:
    """Block starts and ends in two sorted lists of ints, queried with bisect on plain ints."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def insert(self, start: int, end: int) -> None:
        starts, ends = self.starts, self.ends
        i = bisect.bisect_left(ends, start)  # first block that ends at or after start
        j = bisect.bisect_right(starts, end)  # blocks from i to j touch [start, end]
        if i == j:
            starts.insert(i, start)
            ends.insert(i, end)
            return
        starts[i] = min(start, starts[i])
        ends[i] = max(end, ends[j - 1])
        if j - i > 1:
            del starts[i + 1 : j], ends[i + 1 : j]

    def delete(self, ack: int) -> None:
        """Forget what the cumulative ACK ``ack`` covers."""
        i = bisect.bisect_right(self.ends, ack)
        if i:
            del self.starts[:i], self.ends[:i]
        if self.starts and self.starts[0] < ack:
            self.starts[0] = ack

    def is_sacked(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start) - 1
        return i >= 0 and self.ends[i] >= end

    def is_range_lost(self, start: int, end: int) -> bool:
        starts, ends = self.starts, self.ends
        i = bisect.bisect_right(ends, end)
        sacked = 0
        while i < len(starts):
            first = starts[i]
            sacked += ends[i] - (first if first > end else end)
            if sacked >= DUP_THRESH:
                return True
            i += 1
        return False


Ack = tuple[int, tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]


def sender_trace(rng: random.Random, segments: int, window: int, loss: float) -> list[Ack]:
    """The ACKs a sender sees under seeded loss: ``(cumulative ack, SACK blocks, segments to query)``.

    Each first transmission is lost with probability ``loss`` and retransmitted ``window // 2``
    arrivals later (retransmissions get through). The receiver ACKs every arrival with up
    to three SACK blocks, the one holding the newest segment first (RFC 2018). On each ACK
    the sender queries every segment from the cumulative ACK to the window's edge. Every
    number is taken from one list of int objects, so replaying the trace creates none.
    """
    numbers = list(range(segments + window + 1))
    pairs = [(numbers[s], numbers[s + 1]) for s in range(segments + window)]
    arrivals: list[int] = []
    delayed: list[tuple[int, int]] = []
    for seq in range(segments):
        if rng.random() < loss:
            delayed.append((len(arrivals) + window // 2, seq))
        else:
            arrivals.append(seq)
        while delayed and delayed[0][0] <= len(arrivals):
            arrivals.append(delayed.pop(0)[1])
    arrivals.extend(seq for _, seq in delayed)

    received = bytearray(segments + 1)
    cum = highest = 0
    trace: list[Ack] = []
    for seq in arrivals:
        received[seq] = 1
        highest = max(highest, seq)
        while cum < segments and received[cum]:
            cum += 1
        blocks: list[tuple[int, int]] = []
        s = cum
        while s <= highest:  # the received runs above the cumulative ACK
            if received[s]:
                e = s
                while e <= highest and received[e]:
                    e += 1
                blocks.append((numbers[s], numbers[e]))
                s = e
            else:
                s += 1
        newest = [b for b in blocks if b[0] <= seq < b[1]]
        others = [b for b in reversed(blocks) if b not in newest]
        sack = tuple((newest + others)[:3])
        edge = min(segments, cum + window)
        trace.append((numbers[cum], sack, tuple(pairs[cum:edge])))
    return trace


@sack_scoreboard.workload(
    params={"segments": [300], "window": [24], "loss_pct": [5]},
    goal=["recovery.alloc_count_per_op", "recovery.alloc_bytes_per_op"],
    bounds={"recovery.peak_bytes": "256 KiB"},
    counters=("acks", "lost"),
)
def lossy_sender(trial: harness.Trial, new_board: Any, segments: int, window: int, loss_pct: int) -> None:
    """A TCP sender under seeded packet loss: per ACK, delete to the cumulative ACK, insert the
    SACK blocks, then is_sacked and is_range_lost for every outstanding segment."""
    trace = sender_trace(trial.rng, segments, window, loss_pct / 100)
    queries = sum(len(outstanding) for _, _, outstanding in trace)
    verdicts = bytearray(queries)  # is_range_lost answers, written by position without new ints
    positions = list(range(queries))
    board = trial.keep(new_board())
    slots = iter(positions)  # made before the window, which would otherwise keep it
    with trial.phase("recovery"):
        for ack, sack, outstanding in trace:
            board.delete(ack)
            for start, end in sack:
                board.insert(start, end)
            for start, end in outstanding:
                position = next(slots)
                sacked = board.is_sacked(start, end)
                if board.is_range_lost(start, end) and not sacked:
                    verdicts[position] = 1
        trial.ops(2 * queries)
        trial.count("acks", len(trace))
        trial.count("lost", sum(verdicts))
