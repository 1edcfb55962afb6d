"""Maps sized for the worst case, grown on demand, or resized at the program's signal (LPC 2020).

The seed: John Fastabend's "Right-sizing is hard" (Linux Plumbers 2020) on BPF maps. Sized
for the worst case, a map holds large chunks of memory for a corner case that may never
come; sized for the normal case, it fails inserts when the corner case comes, and worst
cases "can be severe, requiring 10x or more entries than the normal case".
``BPF_F_NO_PREALLOC`` pays at allocation time and is still charged for its maximum. The
proposal: resizable maps, grown when the BPF program signals a low-water mark
(``bpf_grow_map()``), so the program decides when, not a hard-coded heuristic.

Variants model a BPF hash map as an index dict plus a pool of preallocated elements, with
the same ``max_entries``: ``prealloc`` allocates every element up front; ``grow`` allocates
elements on demand (doubling) and keeps them forever; ``resizable`` starts at the normal
size, grows when the workload signals the low-water mark, and on the maintenance pass after
the spike gives back its free elements and rebuilds its index once under a quarter full.

What tells them apart: the bytes each holds at the end of a phase (the sum of ``net_bytes``
from ``normal`` to that phase, the map being built inside ``normal``): ``prealloc`` holds
the most in ``normal``, ``grow`` keeps its spike-size pool in ``after_spike``, ``resizable``
does not. Inserts refused when a map is full are counted (``refused``) in every variant.
"""

from __future__ import annotations

from typing import Any

import harness
from harness import churn

resizable_map = harness.family("resizable_map", "BPF-style hash maps with a max_entries limit")


class _Element:
    """A preallocated map element (key and value), as in a BPF hash map's element pool."""

    __slots__ = ("key", "value")

    def __init__(self) -> None:
        self.key: int | None = None
        self.value: int | None = None


class _PooledMap:
    """An index dict over a pool of elements; subclasses decide when the pool grows or shrinks."""

    def __init__(self, max_entries: int, initial: int) -> None:
        self.max_entries = max_entries
        self.index: dict[int, _Element] = {}
        self.free = [_Element() for _ in range(initial)]
        self.capacity = initial

    def __len__(self) -> int:
        return len(self.index)

    def lookup(self, key: int) -> int | None:
        element = self.index.get(key)
        return None if element is None else element.value

    def update(self, key: int, value: int) -> bool:
        """Insert or overwrite; False (the insert refused) when the map is full."""
        element = self.index.get(key)
        if element is None:
            if not self.free and not self.grow_on_demand():
                return False
            element = self.free.pop()
            element.key = key
            self.index[key] = element
        element.value = value
        return True

    def delete(self, key: int) -> None:
        element = self.index.pop(key)
        element.key = element.value = None
        self.free.append(element)

    def free_slots(self) -> int:
        """Elements allocated and unused: what a program can see before it must grow the map."""
        return len(self.free)

    def grow_on_demand(self) -> bool:
        return False

    def signal_low_water(self) -> None:
        """The program saw the free elements fall under its low-water mark (``bpf_grow_map()``)."""

    def maintain(self) -> None:
        """The periodic maintenance pass."""

    def _add(self, count: int) -> bool:
        count = min(count, self.max_entries - self.capacity)
        if count <= 0:
            return False
        self.free.extend(_Element() for _ in range(count))
        self.capacity += count
        return True


@resizable_map.variant("prealloc")
class PreallocMap(_PooledMap):
    """Every one of max_entries elements allocated up front; never grows, never shrinks."""

    def __init__(self, max_entries: int, normal: int) -> None:
        super().__init__(max_entries, max_entries)


@resizable_map.variant("grow")
class GrowMap(_PooledMap):
    """Elements allocated on demand (the pool doubles, up to max_entries) and kept after deletes."""

    def __init__(self, max_entries: int, normal: int) -> None:
        super().__init__(max_entries, min(64, max_entries))

    def grow_on_demand(self) -> bool:
        return self._add(self.capacity)


@resizable_map.variant("resizable")
class ResizableMap(_PooledMap):
    """Sized for the normal load; grows by half when signalled, shrinks on maintenance when under 1/4."""

    def __init__(self, max_entries: int, normal: int) -> None:
        super().__init__(max_entries, normal)
        self.normal = normal
        self.high_water = normal

    def signal_low_water(self) -> None:
        self._add(max(self.capacity // 2, 1))
        self.high_water = max(self.high_water, self.capacity)

    def maintain(self) -> None:
        if 4 * len(self.index) >= self.high_water:
            return
        keep = max(self.normal, 2 * len(self.index))
        surplus = self.capacity - keep
        if surplus > 0:
            del self.free[len(self.free) - surplus :]
            self.capacity = keep
        # A dict built afresh is sized for what it holds; the old one kept its spike-size table.
        self.index = {k: e for k, e in self.index.items()}
        self.high_water = self.capacity


@resizable_map.workload(
    params={"normal": [800], "spike_factor": [10], "max_factor": [8]},
    goal=["normal.net_bytes", "after_spike.net_bytes"],
    bounds={"spike.peak_bytes": "4 MiB"},
    counters=("refused",),
)
def load_spike(trial: harness.Trial, new_map: Any, normal: int, spike_factor: int, max_factor: int) -> None:
    """Normal load (steady churn at ``normal`` entries), a spike to ``spike_factor`` x normal in
    a map of ``max_factor`` x normal max_entries, then back to normal with a maintenance pass.

    The program signals the low-water mark when fewer than normal // 4 free elements remain.
    """
    low_water = normal // 4
    steady = churn.steady(trial.rng, normal, 4 * normal, lookup_fraction=0.5)
    burst = churn.spike_drain(trial.rng, (spike_factor - 1) * normal, keep_fraction=0.0)
    after = churn.steady(trial.rng, normal, 4 * normal, lookup_fraction=0.5)

    def insert(table: Any, key: int) -> None:
        if table.free_slots() < low_water:
            table.signal_low_water()
        if not table.update(key, key):
            trial.count("refused")

    def replay(table: Any, ops: tuple[tuple[int, int], ...]) -> None:
        for op, key in ops:
            if op == churn.LOOKUP:
                table.lookup(key)
            elif op == churn.INSERT:
                insert(table, key)
            elif key in table.index:  # absent only when its insert was refused
                table.delete(key)

    holder: list[Any] = trial.keep([])
    with trial.phase("normal"):
        table = new_map(max_factor * normal, normal)
        holder.append(table)
        for key in steady.warmup:
            insert(table, key)
        replay(table, steady.ops)
        trial.ops(normal + len(steady.ops))
    with trial.phase("spike"):
        for key in burst.spike:
            insert(table, key)
        trial.ops(len(burst.spike))
    with trial.phase("after_spike"):
        for key in burst.drain:
            if key in table.index:
                table.delete(key)
        table.maintain()
        # Normal load goes on with new entries: the old live set turns over, then steady churn.
        for old, new in zip(steady.final, after.warmup, strict=True):
            table.delete(old)
            insert(table, new)
        replay(table, after.ops)
        table.maintain()
        trial.ops(len(burst.drain) + normal + len(after.ops))
