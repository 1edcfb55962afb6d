"""Seeded, reproducible operation streams for data-structure workloads.

Workloads replay these streams inside *measured windows*, where every allocation counts.
So every generator here does all of its work up front and hands back plain tuples of ints
(or of small ``(int, int)`` tuples) that already hold every object the stream will ever
produce. Build the plan in setup, outside the measured window; inside it, only iterate::

    plan = churn.steady(seed, live=10_000, ops=100_000)
    table = dict.fromkeys(plan.warmup)  # setup: reach the live-set size
    # --- measured window ---
    for op, key in plan.ops:  # allocates nothing: the tuples and ints already exist
        if op == churn.INSERT:
            table[key] = None
        elif op == churn.DELETE:
            del table[key]
        else:
            table[key]

Never index a stream with a counter inside the window (``ops[i]``): counters above 256 are
fresh int objects. Iterate, or ``zip`` two streams.

Determinism: the same seed gives the same stream on every run, platform and hash seed.
Every generator accepts an ``int`` seed (fed to :class:`random.Random`) or a
:class:`random.Random`, which it draws from and advances, so one master generator can
derive several streams in turn. Only ``getrandbits``, ``random`` and ``shuffle`` on lists
are used, and no set or dict is ever iterated, so hash order never leaks into a stream.

Keys drawn with ``key_bits`` (default 40) always have exactly ``key_bits`` bits: every key
is an int object of the same size, well above the small-int cache (-5..256), and, while
``key_bits`` < 61, below ``sys.hash_info.modulus``, so ``hash(key) == key`` and keys
spread evenly over a hash table. The plan keeps them alive, so the measured window never
pays for creating or freeing them.

Plans are frozen dataclasses of tuples, so one plan can be replayed by every replicate
without a replicate being able to alter what the next one sees.
"""

from __future__ import annotations

from harness.churn.keys import Seed as Seed
from harness.churn.keys import colliding_keys, distinct_hash_keys, unique_keys
from harness.churn.plans import (
    DELETE,
    INSERT,
    LOOKUP,
    SpikeDrainPlan,
    SteadyPlan,
    TTLPlan,
    spike_drain,
    steady,
    ttl_expiry,
)
from harness.churn.zipf import zipf_lookups, zipf_pmf

__all__ = [
    "DELETE",
    "INSERT",
    "LOOKUP",
    "SpikeDrainPlan",
    "SteadyPlan",
    "TTLPlan",
    "colliding_keys",
    "distinct_hash_keys",
    "spike_drain",
    "steady",
    "ttl_expiry",
    "unique_keys",
    "zipf_lookups",
    "zipf_pmf",
]
