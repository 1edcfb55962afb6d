"""Example family: an LRU cache, three ways.

A small worked example of the API. ``ordered`` keeps recency in an OrderedDict;
``linked`` keeps it in a doubly linked list of node objects (one object per entry, the
"pointer-chasing" layout); ``slotted`` uses the same list with ``__slots__`` nodes. The
``churn`` workload fills the cache, then keeps it at capacity with a seeded stream of
lookups and inserts; ``alloc_bytes_per_op`` and ``kept_bytes`` tell the layouts apart.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import harness

lru_cache = harness.family("lru_cache", "least-recently-used caches with a fixed capacity")


@lru_cache.variant("ordered")
class OrderedLRU:
    """OrderedDict, move_to_end on hit."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.data: OrderedDict[int, Any] = OrderedDict()

    def get(self, key: int) -> Any:
        value = self.data.get(key)
        if value is not None:
            self.data.move_to_end(key)
        return value

    def put(self, key: int, value: Any) -> None:
        self.data[key] = value
        self.data.move_to_end(key)
        if len(self.data) > self.capacity:
            self.data.popitem(last=False)


class _Node:
    def __init__(self, key: int, value: Any) -> None:
        self.key = key
        self.value = value
        self.prev: _Node | None = None
        self.next: _Node | None = None


class _SlottedNode:
    __slots__ = ("key", "next", "prev", "value")

    def __init__(self, key: int, value: Any) -> None:
        self.key = key
        self.value = value
        self.prev: _SlottedNode | None = None
        self.next: _SlottedNode | None = None


class _LinkedLRU:
    node_type: Any = _Node

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.index: dict[int, Any] = {}
        self.head = self.node_type(0, None)  # sentinel: head.next is the most recent
        self.head.prev = self.head.next = self.head

    def _unlink(self, node: Any) -> None:
        node.prev.next = node.next
        node.next.prev = node.prev

    def _push_front(self, node: Any) -> None:
        node.next = self.head.next
        node.prev = self.head
        self.head.next.prev = node
        self.head.next = node

    def get(self, key: int) -> Any:
        node = self.index.get(key)
        if node is None:
            return None
        self._unlink(node)
        self._push_front(node)
        return node.value

    def put(self, key: int, value: Any) -> None:
        node = self.index.get(key)
        if node is not None:
            node.value = value
            self._unlink(node)
        else:
            node = self.node_type(key, value)
            self.index[key] = node
        self._push_front(node)
        if len(self.index) > self.capacity:
            oldest = self.head.prev
            self._unlink(oldest)
            del self.index[oldest.key]


@lru_cache.variant("linked")
class LinkedLRU(_LinkedLRU):
    """dict of key -> node, nodes in a doubly linked list (a __dict__ per node)."""


@lru_cache.variant("slotted")
class SlottedLRU(_LinkedLRU):
    """The linked layout with __slots__ nodes."""

    node_type = _SlottedNode


@lru_cache.workload(params={"capacity": [2_000]}, goal="alloc_bytes_per_op", bounds={"fill.peak_bytes": "64 MiB"})
def churn(trial: harness.Trial, new_cache: Any, capacity: int) -> None:
    """Fill to capacity, then a seeded mix of 80% lookups and 20% inserts."""
    cache = trial.keep(new_cache(capacity))
    rng = trial.rng
    fill_keys = [rng.getrandbits(32) | (1 << 32) for _ in range(capacity)]
    ops = 10 * capacity
    stream = [
        (rng.random() < 0.8, rng.choice(fill_keys) if rng.random() < 0.9 else rng.getrandbits(40)) for _ in range(ops)
    ]
    with trial.phase("fill"):
        for key in fill_keys:
            cache.put(key, key)
        trial.ops(capacity)
    with trial.phase("churn"):
        for is_lookup, key in stream:
            if is_lookup:
                cache.get(key)
            else:
                cache.put(key, key)
        trial.ops(ops)
