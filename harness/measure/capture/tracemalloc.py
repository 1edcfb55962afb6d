"""The tracemalloc backend (stdlib, runs everywhere): net bytes and counts, peaks, sites by net bytes.

tracemalloc is started before the workload's setup, so it sees every allocation *and*
every free of the trial: the difference of two snapshots taken at a phase's boundaries is
exactly what the phase added to (or, in a drain, removed from) the heap. It has no
cumulative counts, so ``alloc_*`` and ``kept_*`` are not measured here.
"""

from __future__ import annotations

import gc
import tracemalloc

from harness.measure.capture import CountsItsOwn, PhaseCapture
from harness.measure.capture.enclosing import function_at
from harness.measure.own_frames import BOOKKEEPING_PATTERNS
from harness.store.sites import Site

# Snapshots allocate while they are built, and the trial's bookkeeping (its clock readings
# and counters) inside a window: none of it is the workload's.
_OWN_FILES = (tracemalloc.__file__, *BOOKKEEPING_PATTERNS)
#: A line of a phase's top sites, before it is named: (file, line, net bytes, net count).
_Place = tuple[str, int, int, int]


def _snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, f) for f in _OWN_FILES])


def _empty_free_lists() -> None:
    """Give back to the allocator what a snapshot left in CPython's free lists.

    A snapshot's tuples are built while tracemalloc ignores its own allocations, so their
    memory is untraced. Freed, they go to the tuple free lists, and the next tuples the code
    makes reuse them: an object kept from there is never seen (tracemalloc re-attributes
    reused free-list memory only when it was traced). A full collection empties the free
    lists, as the native backend's window leaves them when it opens.
    """
    gc.collect()


class TracemallocCapture(CountsItsOwn):
    """Net change and peak of each phase, from tracemalloc with one frame per trace."""

    name: str = "tracemalloc"
    measures: tuple[str, ...] = ("net_bytes", "net_count", "peak_bytes")
    complete_sites: bool = False

    def __init__(self, top_sites: int) -> None:
        self.top_sites = top_sites
        self._start: tracemalloc.Snapshot | None = None
        self._start_level = 0
        # Per window: its metrics and its top sites as (file, line, net bytes, net count).
        self._windows: list[tuple[dict[str, int], list[_Place]]] = []

    def start_trial(self) -> None:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        tracemalloc.start(1)

    def begin_phase(self) -> None:
        gc.collect()
        self._start = _snapshot()
        _empty_free_lists()
        self._start_level = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()

    def end_phase(self, peak: int | None = None) -> None:
        """Close the window; ``peak`` when the caller read it already (see :meth:`peak_so_far`)."""
        gc.collect()
        if peak is None:
            peak = self.peak_so_far()
        assert self._start is not None, "end_phase without begin_phase"
        # Diffing now, between phases, keeps two snapshots alive at most.
        self._windows.append(self._profile(self._start, _snapshot(), peak))
        self._start = None
        # The setup code until the next window must not be handed untraced memory either.
        _empty_free_lists()

    def restart_peak(self) -> None:
        """Forget the highest level so far: what another tracer just allocated and freed."""
        tracemalloc.reset_peak()

    def peak_so_far(self) -> int:
        """The highest in-use bytes since the window opened (or the last restart), above its start."""
        return max(tracemalloc.get_traced_memory()[1] - self._start_level, 0)

    def finish(self) -> list[PhaseCapture]:
        tracemalloc.stop()
        # Sites are named only now, after the last window: naming reads source files, and
        # opening a text file leaves its codec's attribute name ("incrementaldecoder", a 67-byte
        # str) in CPython's type attribute cache, which frees it when a later lookup takes its
        # slot. The slot depends on the str's address, so between windows that free would land
        # in some later window or none, from run to run.
        return [PhaseCapture(metrics=metrics, sites=_named(places)) for metrics, places in self._windows]

    def _profile(
        self, start: tracemalloc.Snapshot, end: tracemalloc.Snapshot, peak: int
    ) -> tuple[dict[str, int], list[_Place]]:
        diffs = end.compare_to(start, "lineno")
        metrics = {
            "net_bytes": sum(d.size_diff for d in diffs),
            "net_count": sum(d.count_diff for d in diffs),
            "peak_bytes": peak,
        }
        return metrics, net_places(diffs, self.top_sites)


def net_places(diffs: list[tracemalloc.StatisticDiff], top: int) -> list[_Place]:
    """The ``top`` lines with the largest net change in bytes (either sign), as
    (file, line, net bytes, net count)."""
    ranked = sorted((d for d in diffs if d.size_diff or d.count_diff), key=lambda d: -abs(d.size_diff))
    return [(d.traceback[0].filename, d.traceback[0].lineno, d.size_diff, d.count_diff) for d in ranked[:top]]


def _named(places: list[_Place]) -> tuple[Site, ...]:
    return tuple(
        Site(function_at(file, line), file, line, {"net_bytes": size, "net_count": count})
        for file, line, size, count in places
    )
