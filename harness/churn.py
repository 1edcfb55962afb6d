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

import bisect
import itertools
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypeVar

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

T = TypeVar("T")

#: Operation codes in :attr:`SteadyPlan.ops`. Small ints are cached singletons in CPython,
#: so tagging millions of operations with them costs no objects.
INSERT: Final = 0
DELETE: Final = 1
LOOKUP: Final = 2

Seed = int | random.Random

# Fewer bits would put keys in or near the small-int cache and make the key space tiny.
_MIN_KEY_BITS: Final = 10


def _rng(seed: Seed) -> random.Random:
    """The generator to draw from: ``seed`` itself, or a new one seeded with the int."""
    if isinstance(seed, random.Random):
        return seed
    # Reject str/bytes/float seeds: only int seeding is pinned down as the same everywhere.
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or a random.Random, not {type(seed).__name__}")
    return random.Random(seed)


def _check_count(name: str, value: int, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], got {value!r}")


class _KeySource:
    """Draws keys of exactly ``key_bits`` bits, never the same key twice."""

    def __init__(self, rng: random.Random, key_bits: int, needed: int) -> None:
        _check_count("key_bits", key_bits, _MIN_KEY_BITS)
        space = 1 << (key_bits - 1)
        # Rejection sampling stays cheap only while at most half the space is taken.
        if needed > space // 2:
            raise ValueError(f"{needed} distinct keys need more than key_bits={key_bits}; raise key_bits")
        self._rng = rng
        self._low_bits = key_bits - 1
        self._top = 1 << (key_bits - 1)
        # Membership tests only; never iterated, so its hash order cannot leak out.
        self._taken: set[int] = set()

    def draw(self) -> int:
        while True:
            key = self._top | self._rng.getrandbits(self._low_bits)
            if key not in self._taken:
                self._taken.add(key)
                return key

    def draw_many(self, count: int) -> list[int]:
        return [self.draw() for _ in range(count)]


def unique_keys(seed: Seed, n: int, *, key_bits: int = 40) -> tuple[int, ...]:
    """Return ``n`` distinct random int keys, in draw order.

    :param seed: an int, or a :class:`random.Random` to draw from (it is advanced).
    :param n: how many keys.
    :param key_bits: every key has exactly this many bits (>= 10), so all keys are int
        objects of one size; ``n`` may be at most a quarter of ``2**key_bits``.
    """
    _check_count("n", n)
    return tuple(_KeySource(_rng(seed), key_bits, n).draw_many(n))


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


# ---------------------------------------------------------------------------- Zipf lookups


def zipf_pmf(count: int, *, s: float = 1.1) -> tuple[float, ...]:
    """Return the Zipf probabilities of ranks ``1 .. count``: ``p(r) = r**-s / H(count, s)``.

    This is the distribution :func:`zipf_lookups` draws from (entry 0 is the top rank).

    :param count: the number of ranks (>= 1).
    :param s: the skew exponent (>= 0; 0 is uniform, ~1 is typical of caches and words).
    """
    weights = _zipf_weights(count, s)
    total = sum(weights)
    return tuple(w / total for w in weights)


def _zipf_weights(count: int, s: float) -> list[float]:
    _check_count("count", count, 1)
    if not s >= 0.0:
        raise ValueError(f"s must be >= 0, got {s!r}")
    return [r**-s for r in range(1, count + 1)]


def zipf_lookups(seed: Seed, keys: Sequence[T], n: int, *, s: float = 1.1) -> tuple[T, ...]:
    """Return ``n`` keys drawn with replacement from ``keys`` with Zipf skew.

    ``keys[r]`` has rank ``r + 1`` and is drawn with probability ``zipf_pmf(len(keys), s=s)[r]``:
    ``keys[0]`` is the hottest. Pass keys in random order (e.g. from :func:`unique_keys`)
    unless the hot keys should be clustered by position. The result holds references to
    the very objects in ``keys``, so it creates no new keys.

    :param seed: an int, or a :class:`random.Random` to draw from (it is advanced).
    :param keys: the population, most popular first (non-empty).
    :param n: how many lookups.
    :param s: the skew exponent (>= 0; 0 is uniform, higher is more skewed).
    """
    _check_count("n", n)
    if not keys:
        raise ValueError("keys must not be empty")
    rng = _rng(seed)
    # Inverse-CDF sampling: one random() and one bisect per draw. The float sums are
    # IEEE-754 and the same everywhere; ``r**-s`` comes from the platform's pow(), which
    # could differ in the last ulp, but a draw would have to land within that ulp of a
    # boundary to change (odds ~1e-16 per draw).
    cdf = list(itertools.accumulate(_zipf_weights(len(keys), s)))
    total = cdf[-1]
    last = len(keys) - 1
    return tuple(keys[min(bisect.bisect_right(cdf, rng.random() * total), last)] for _ in range(n))


# -------------------------------------------------------------------------- hash flooding

# CPython hashes an int as its value modulo this prime (2**61 - 1 on 64-bit builds,
# 2**31 - 1 on 32-bit ones), so every nonzero multiple of it hashes to 0.
_HASH_MODULUS: Final = sys.hash_info.modulus


def colliding_keys(n: int, *, start: int = 1) -> tuple[int, ...]:
    """Return ``n`` distinct positive ints that all have ``hash() == 0`` in CPython.

    CPython reduces an int modulo the Mersenne prime ``sys.hash_info.modulus`` (2**61 - 1
    on 64-bit builds) to hash it, so ``k * modulus`` hashes to 0 for every ``k``. Inserting
    these into a dict or set makes every key follow the same probe sequence: each insert
    or lookup compares against all the colliding keys before it, which models a hash
    flooding attack (O(n) per operation, O(n**2) to build). They also collide with ``0``,
    ``0.0`` and ``False``. Not seeded: there is nothing random about them.

    :param n: how many keys.
    :param start: the first multiplier (>= 1); the keys are ``k * modulus`` for
        ``k = start .. start + n - 1``.
    """
    _check_count("n", n)
    _check_count("start", start, 1)
    return tuple(k * _HASH_MODULUS for k in range(start, start + n))


def distinct_hash_keys(seed: Seed, n: int) -> tuple[int, ...]:
    """Return ``n`` random ints with pairwise distinct hashes: the contrast to :func:`colliding_keys`.

    The keys lie in ``[modulus // 2, modulus)``, so ``hash(k) == k`` (all distinct, low
    bits uniformly random) and each key is an int object of the same size as the
    colliding keys (61 bits on 64-bit builds), so a comparison isolates the cost of the
    collisions rather than of bigger ints.

    :param seed: an int, or a :class:`random.Random` to draw from (it is advanced).
    :param n: how many keys (in draw order).
    """
    _check_count("n", n)
    # modulus.bit_length() bits with the top bit set: [2**60, 2**61), minus the modulus.
    bits = _HASH_MODULUS.bit_length()
    if bits < _MIN_KEY_BITS:  # pragma: no cover - no CPython build has so small a modulus
        raise RuntimeError("unsupported hash modulus")
    source = _KeySource(_rng(seed), bits, n)
    keys: list[int] = []
    while len(keys) < n:
        key = source.draw()
        if key != _HASH_MODULUS:  # the one value in range that would hash to 0
            keys.append(key)
    return tuple(keys)
