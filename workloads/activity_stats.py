"""Per-node activity statistics: maps of counter objects, or one flat array (Datadog agent #46469).

The seed: in the Datadog agent's activity tree, a pprof delta-heap profile over a 5-minute
window put ``NewActivityTreeNodeStats`` first among allocators: 95.5 MB / 1.1M objects
(15.95 % of the total), ``atomic.NewUint64`` alone 18 MB / 1.18M objects. Each node's stats
held a map of ~65 event types, each with 10 counters (1 processed, 5 added by generation
type, 4 dropped by reason) behind pointers and maps: 630+ heap objects per node. Flattened
into fixed arrays of value counters, a node's stats became one ~5 KB allocation, and
``SendStats`` stopped building tags with ``fmt.Sprintf`` (~87k calls per cycle): about
113 MB and 2.28M objects saved per window.

Variants: ``maps`` keeps a dict of per-event-type objects, each holding a counter object
and two dicts of counter objects, and formats its tags with f-strings at every flush;
``flat`` keeps one preallocated list of 650 ints and sends tags built once at import.

What tells them apart: ``alloc_count_per_op`` of the ``grow`` phase (objects per new node)
and of the ``flush`` phase (objects per flushed node).
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import harness
from harness import churn

activity_stats = harness.family("activity_stats", "per-node event statistics: 65 event types x 10 counters")

EVENT_TYPES = tuple(f"kernel_event_{i:02d}" for i in range(65))
GENERATION_TYPES = ("unknown", "runtime", "snapshot", "profile", "workload_warmup")
DROP_REASONS = ("approver", "max_size", "bruteforce", "unknown")
#: What an event did to its type's counters: processed, added (by generation), dropped (by reason).
PROCESSED, ADDED, DROPPED = 0, 1, 2
_PER_TYPE = 1 + len(GENERATION_TYPES) + len(DROP_REASONS)


class _Counter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class _PerEventType:
    __slots__ = ("added", "dropped", "processed")

    def __init__(self) -> None:
        self.processed = _Counter()
        self.added = {generation: _Counter() for generation in range(len(GENERATION_TYPES))}
        self.dropped = {reason: _Counter() for reason in range(len(DROP_REASONS))}


@activity_stats.variant("maps")
class MapStats:
    """dict event type -> object holding a counter and two dicts of counters (~780 objects per node)."""

    def __init__(self) -> None:
        self.counts = {event_type: _PerEventType() for event_type in range(len(EVENT_TYPES))}

    def record(self, event_type: int, outcome: int, detail: int) -> None:
        per = self.counts[event_type]
        if outcome == PROCESSED:
            per.processed.value += 1
        elif outcome == ADDED:
            per.added[detail].value += 1
        else:
            per.dropped[detail].value += 1

    def flush(self, sink: list[tuple[str, int, Any]]) -> None:
        """Send every nonzero counter with its tags to ``sink`` and reset it."""
        for event_type, per in self.counts.items():
            if per.processed.value:
                sink.append(("processed", per.processed.value, [f"event_type:{EVENT_TYPES[event_type]}"]))
                per.processed.value = 0
            for generation, counter in per.added.items():
                if counter.value:
                    tags = [f"event_type:{EVENT_TYPES[event_type]}", f"generation_type:{GENERATION_TYPES[generation]}"]
                    sink.append(("added", counter.value, tags))
                    counter.value = 0
            for reason, counter in per.dropped.items():
                if counter.value:
                    tags = [f"event_type:{EVENT_TYPES[event_type]}", f"reason:{DROP_REASONS[reason]}"]
                    sink.append(("dropped", counter.value, tags))
                    counter.value = 0


# The flat layout: counter i of event type t lives at t * 10 + i. Slot numbers, metric names
# and tags are built once here, so recording and flushing never build an int or a string.
_SLOTS = tuple(tuple(range(t * _PER_TYPE, (t + 1) * _PER_TYPE)) for t in range(len(EVENT_TYPES)))
_METRIC_OF_SLOT = tuple(
    name
    for _ in EVENT_TYPES
    for name in ("processed",) + ("added",) * len(GENERATION_TYPES) + ("dropped",) * len(DROP_REASONS)
)
_TAGS_OF_SLOT = tuple(
    tags
    for event in EVENT_TYPES
    for tags in (
        (f"event_type:{event}",),
        *((f"event_type:{event}", f"generation_type:{g}") for g in GENERATION_TYPES),
        *((f"event_type:{event}", f"reason:{r}") for r in DROP_REASONS),
    )
)
_ALL_SLOTS = tuple(slot for slots in _SLOTS for slot in slots)
_ZEROS = [0] * len(_ALL_SLOTS)
_DETAIL_OFFSET = (0, 1, 1 + len(GENERATION_TYPES))


@activity_stats.variant("flat")
class FlatStats:
    """One preallocated list of 650 ints; tags built once, at import."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts = _ZEROS.copy()

    def record(self, event_type: int, outcome: int, detail: int) -> None:
        self.counts[_SLOTS[event_type][_DETAIL_OFFSET[outcome] + detail]] += 1

    def flush(self, sink: list[tuple[str, int, Any]]) -> None:
        """Send every nonzero counter with its tags to ``sink`` and reset it."""
        counts = self.counts
        # compress() yields only the slots with a nonzero count, and yields prebuilt ints.
        for slot in itertools.compress(_ALL_SLOTS, counts):
            sink.append((_METRIC_OF_SLOT[slot], counts[slot], _TAGS_OF_SLOT[slot]))
        counts[:] = _ZEROS


def event_stream(plan: churn.SteadyPlan, rng: random.Random) -> list[tuple[int, int, int, int, int]]:
    """``(op, node, event_type, outcome, detail)`` for every op of ``plan``: a Zipf-skewed event
    type, processed 70 %, added 20 % (uniform generation type), dropped 10 % (uniform reason)."""
    types = churn.zipf_lookups(rng, list(range(len(EVENT_TYPES))), len(plan.ops), s=1.0)
    out = []
    for (op, node), event_type in zip(plan.ops, types, strict=True):
        draw = rng.random()
        if draw < 0.7:
            outcome, detail = PROCESSED, 0
        elif draw < 0.9:
            outcome, detail = ADDED, rng.randrange(len(GENERATION_TYPES))
        else:
            outcome, detail = DROPPED, rng.randrange(len(DROP_REASONS))
        out.append((op, node, event_type, outcome, detail))
    return out


@activity_stats.workload(
    params={"nodes": [24], "events": [6_000], "flushes": [4]},
    goal=["grow.alloc_count_per_op", "flush.alloc_count_per_op"],
    bounds={"grow.net_bytes": "16 MiB"},
    counters=("sent",),
)
def node_churn(trial: harness.Trial, new_stats: Any, nodes: int, events: int, flushes: int) -> None:
    """Grow a tree of ``nodes`` nodes, record a seeded event stream while nodes are created and
    dropped (1 step in 200 replaces a node), and flush every node's stats (format tags, send,
    reset) ``flushes`` times along the stream, as the agent does on a timer."""
    plan = churn.steady(trial.rng, nodes, events, lookup_fraction=0.995)
    stream = event_stream(plan, trial.rng)
    # Cut in setup, so that the measured windows only iterate.
    bounds = [len(stream) * i // flushes for i in range(flushes + 1)]
    periods = [stream[start:end] for start, end in itertools.pairwise(bounds)]
    tree: dict[int, Any] = {}
    sink: list[tuple[str, int, Any]] = []
    trial.keep(tree)
    with trial.phase("grow"):
        for node in plan.warmup:
            tree[node] = new_stats()
        trial.ops(nodes)
    for period in periods:
        with trial.phase("events"):
            for op, node, event_type, outcome, detail in period:
                if op == churn.LOOKUP:
                    tree[node].record(event_type, outcome, detail)
                elif op == churn.INSERT:
                    tree[node] = new_stats()
                else:
                    del tree[node]
            trial.ops(len(period))
        with trial.phase("flush"):
            for stats in tree.values():
                stats.flush(sink)
            trial.ops(len(tree))
            trial.count("sent", len(sink))
            sink.clear()
