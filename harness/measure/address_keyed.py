"""Interpreter state keyed by addresses, which a window's edges reset so that figures repeat.

A figure repeats exactly only if nothing in the window depends on where objects happen to
live. CPython's type attribute cache does: each of its 4,096 slots is chosen from the
attribute name's address (and the type's version tag), and holds a strong reference to
that name. Addresses differ between processes (address space layout randomization, and
any difference in what ran before), so which older name a lookup in the window evicts and
frees, and which name made in the window stays alive in the cache at its end, differs from
one process to the next: kept, net and peak move by a string or a few (50-250 B) in a few
tests in a hundred.

So the cache is emptied just before a window opens (no name older than the window is in
it, so none is freed inside) and again as the window closes, inside it (a name the window
made and dropped is always freed there, never kept by the cache). Emptying it allocates
nothing; the lookups the window then misses refill it without allocating either.

Nothing else needs resetting, each checked on a suite of attribute lookups, pickling and
regular expressions: ``re``'s cache is a dict keyed by the pattern's value and evicted in
insertion order; the pickle memo belongs to each pickler and grows by count; the free lists
and the allocator's pools are emptied or reused the same way from one copy to the next,
since every copy starts from one state (the full collections at the window's edges).

What the cache does *inside* the window, evicting a name the window made when another
lookup lands in its slot, still depends on addresses, so it can move a window's peak by a
string. The pytest plugin makes those addresses repeat where it can: its zygotes start with
the layout of their address space fixed and from the same state whatever they served before
(see :mod:`harness.pytest_plugin.launch` and :mod:`harness.pytest_plugin.zygote`). What is
left is said in docs/pytest.md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


def _type_cache_clearer() -> Callable[[], None]:
    # 3.13 added _clear_internal_caches (the type cache, and the JIT's executors where one
    # runs) and 3.14 deprecated _clear_type_cache: a warning in the window would allocate.
    for name in ("_clear_internal_caches", "_clear_type_cache"):
        clear = getattr(sys, name, None)
        if clear is not None:
            return clear  # type: ignore[no-any-return]
    return lambda: None  # not CPython: no such cache to reset


#: Bound once: at a window's edge, the call is the only thing done.
forget_address_keyed_state: Callable[[], None] = _type_cache_clearer()
