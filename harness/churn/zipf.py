"""Lookups skewed as real traffic is: a few hot keys, a long tail (a Zipf distribution)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from typing import TypeVar

from harness.churn.keys import Seed, _check_count, _rng

T = TypeVar("T")


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
