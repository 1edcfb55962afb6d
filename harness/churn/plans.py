"""Plans of operations on a live set: steady churn, a spike then a drain, TTL expiry."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final, Literal

from harness.churn.keys import Seed, _check_count, _check_fraction, _KeySource, _rng

#: Operation codes in :attr:`SteadyPlan.ops`. Small ints are cached singletons in CPython,
#: so tagging millions of operations with them costs no objects.
INSERT: Final = 0
DELETE: Final = 1
LOOKUP: Final = 2

# --------------------------------------------------------------------------- steady state


@dataclass(frozen=True, slots=True)
class SteadyPlan:
    """A churn stream that holds a live set at a fixed size; see :func:`steady`."""

    live: int
    """The live-set size the stream holds (``len(warmup)``)."""
    warmup: tuple[int, ...] = field(repr=False)
    """Keys to insert in setup, before the window, to reach :attr:`live` keys."""
    ops: tuple[tuple[int, int], ...] = field(repr=False)
    """``(INSERT | DELETE | LOOKUP, key)`` pairs to replay, in order, inside the window."""
    final: tuple[int, ...] = field(repr=False)
    """The live set after the last op, sorted: what a correct structure holds at the end."""


def steady(
    seed: Seed,
    live: int,
    ops: int,
    *,
    lookup_fraction: float = 0.5,
    evict: Literal["oldest", "random"] = "oldest",
    key_bits: int = 40,
) -> SteadyPlan:
    """Plan a steady-state churn: the live set stays at ``live`` keys while keys turn over.

    The stream is a sequence of steps. A step is either one ``(LOOKUP, key)`` of a key that
    is live, or a churn pair: ``(INSERT, new_key)`` immediately followed by
    ``(DELETE, victim)``. Every inserted key is new (never seen before in the plan), and
    the victim is a key live before the insert, never the key just inserted. So the live
    set has exactly ``live`` keys before every ``INSERT`` and after every ``DELETE`` and
    ``LOOKUP``, and ``live + 1`` only between an insert and its paired delete. Inserting
    first (rather than deleting first) makes the structure hold its peak at ``live + 1``,
    which is what a real cache does when it admits before it evicts.

    :param seed: an int, or a :class:`random.Random` to draw from (it is advanced).
    :param live: the live-set size to hold (>= 1); :attr:`SteadyPlan.warmup` has this many
        keys.
    :param ops: the exact number of ``(op, key)`` entries in :attr:`SteadyPlan.ops`. A churn
        pair takes two entries; if only one is left, the last step is a lookup.
    :param lookup_fraction: the probability that a step is a lookup rather than a churn pair
        (0 gives pure churn, 1 pure lookups).
    :param evict: which live key each insert displaces: ``"oldest"`` (FIFO, as in a bounded
        queue or a FIFO cache) or ``"random"`` (uniform over the live keys).
    :param key_bits: bit length of every key (see :func:`unique_keys`).
    :returns: a :class:`SteadyPlan`; insert ``warmup`` in setup, replay ``ops`` in the window.
    """
    _check_count("live", live, 1)
    _check_count("ops", ops)
    _check_fraction("lookup_fraction", lookup_fraction)
    if evict not in ("oldest", "random"):
        raise ValueError(f"evict must be 'oldest' or 'random', got {evict!r}")
    rng = _rng(seed)
    # At most one fresh key per two entries, plus the warmup.
    keys = _KeySource(rng, key_bits, live + ops // 2)
    warmup = tuple(keys.draw_many(live))
    stream, final = _steady_ops(rng, keys, warmup, ops, lookup_fraction, evict)
    return SteadyPlan(live=live, warmup=warmup, ops=stream, final=final)


def _steady_ops(
    rng: random.Random,
    keys: _KeySource,
    warmup: tuple[int, ...],
    ops: int,
    lookup_fraction: float,
    evict: Literal["oldest", "random"],
) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
    """The ``ops`` entries of a steady churn starting from the live set ``warmup``, and the
    live set they leave, sorted."""
    # The live set as a ring of slots: with FIFO eviction, ``head`` is the oldest slot and
    # a new key overwrites it; with random eviction, a random slot is overwritten. Either
    # way a uniformly random live key is ``slots[randrange(live)]``, in O(1).
    live = len(warmup)
    slots = list(warmup)
    head = 0
    stream: list[tuple[int, int]] = []
    while len(stream) < ops:
        if len(stream) + 1 == ops or rng.random() < lookup_fraction:
            stream.append((LOOKUP, slots[rng.randrange(live)]))
            continue
        if evict == "oldest":
            victim_slot = head
            head = (head + 1) % live
        else:
            victim_slot = rng.randrange(live)
        new_key = keys.draw()
        stream.append((INSERT, new_key))
        stream.append((DELETE, slots[victim_slot]))
        slots[victim_slot] = new_key
    return tuple(stream), tuple(sorted(slots))


# ------------------------------------------------------------------------ spike and drain


@dataclass(frozen=True, slots=True)
class SpikeDrainPlan:
    """A burst of inserts followed by a mass delete; see :func:`spike_drain`."""

    peak: int
    """How many keys the spike inserts (``len(spike)``)."""
    spike: tuple[int, ...] = field(repr=False)
    """Distinct keys to insert, in order, growing from empty to :attr:`peak` keys."""
    drain: tuple[int, ...] = field(repr=False)
    """Keys to delete, in order, after the spike: every spike key not in :attr:`survivors`."""
    survivors: tuple[int, ...] = field(repr=False)
    """The keys still live after the drain, in spike (insertion) order."""


def spike_drain(
    seed: Seed,
    peak: int,
    *,
    keep_fraction: float = 0.1,
    drain_order: Literal["random", "oldest", "newest"] = "random",
    key_bits: int = 40,
) -> SpikeDrainPlan:
    """Plan a spike to ``peak`` live keys, then a drain down to a small remainder.

    Models a burst (a request storm, a batch load) after which memory should come back:
    the interesting measurement is how much of the spike's memory the drain returns.

    :param seed: an int, or a :class:`random.Random` to draw from (it is advanced).
    :param peak: how many distinct keys the spike inserts (>= 0).
    :param keep_fraction: the share of the peak that survives the drain; exactly
        ``round(keep_fraction * peak)`` keys survive (Python's ``round``: halves go to even).
    :param drain_order: which keys the drain deletes first: ``"random"`` (uniformly
        shuffled; survivors are a random subset), ``"oldest"`` (FIFO; the newest keys
        survive) or ``"newest"`` (LIFO; the oldest keys survive).
    :param key_bits: bit length of every key (see :func:`unique_keys`).
    :returns: a :class:`SpikeDrainPlan`; insert ``spike`` then delete ``drain``.
    """
    _check_count("peak", peak)
    _check_fraction("keep_fraction", keep_fraction)
    if drain_order not in ("random", "oldest", "newest"):
        raise ValueError(f"drain_order must be 'random', 'oldest' or 'newest', got {drain_order!r}")
    rng = _rng(seed)
    spike = _KeySource(rng, key_bits, peak).draw_many(peak)
    keep = round(keep_fraction * peak)

    # Positions in spike order, arranged in the order the drain deletes them; the last
    # ``keep`` positions are never deleted.
    order = list(range(peak))
    if drain_order == "random":
        rng.shuffle(order)
    elif drain_order == "newest":
        order.reverse()
    cut = peak - keep
    return SpikeDrainPlan(
        peak=peak,
        spike=tuple(spike),
        drain=tuple(spike[i] for i in order[:cut]),
        survivors=tuple(spike[i] for i in sorted(order[cut:])),
    )


# ------------------------------------------------------------------------------ TTL expiry


@dataclass(frozen=True, slots=True)
class TTLPlan:
    """A sliding window of keys that each live for a fixed number of steps; see :func:`ttl_expiry`."""

    ttl: int
    """How many steps each key stays live."""
    steps: tuple[tuple[int, int | None], ...] = field(repr=False)
    """One ``(new_key, expired_key)`` pair per step. Apply the expiry first (when it is not
    ``None``), then the insert: the live set then never exceeds :attr:`ttl` keys."""
    survivors: tuple[int, ...] = field(repr=False)
    """Keys still live after the last step, oldest first (the last ``ttl`` inserts)."""


def ttl_expiry(seed: Seed, ops: int, ttl: int, *, key_bits: int = 40) -> TTLPlan:
    """Plan a time-to-live workload: each step inserts one new key and expires the stale one.

    The key inserted at step ``i`` expires at step ``i + ttl``, before that step's insert,
    so it is live for exactly ``ttl`` steps and the live set grows to ``ttl`` keys, then
    stays there (it never holds ``ttl + 1``). Steps ``0 .. ttl - 1`` expire nothing.
    Every key is expired at most once; those inserted in the last ``ttl`` steps never are,
    and are listed in :attr:`TTLPlan.survivors`.

    Replay it with ``for new, old in plan.steps: if old is not None: del d[old]; d[new] = v``.

    :param seed: an int, or a :class:`random.Random` to draw from (it is advanced).
    :param ops: the number of steps (one insert each).
    :param ttl: how many steps a key stays live (>= 1).
    :param key_bits: bit length of every key (see :func:`unique_keys`).
    :returns: a :class:`TTLPlan`.
    """
    _check_count("ops", ops)
    _check_count("ttl", ttl, 1)
    inserts = _KeySource(_rng(seed), key_bits, ops).draw_many(ops)
    # None is a singleton, so "nothing expires this step" costs no object either.
    steps = [(key, inserts[i - ttl] if i >= ttl else None) for i, key in enumerate(inserts)]
    return TTLPlan(ttl=ttl, steps=tuple(steps), survivors=tuple(inserts[-ttl:]))
