"""Seeds, argument checks and the keys every stream is made of: unique random keys, and keys
whose hashes all collide or all differ."""

from __future__ import annotations

import random
import sys
from typing import Final

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
