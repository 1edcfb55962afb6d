"""The memray backend: every allocation of a phase, its sites, what it kept; net and peak too.

A fresh memray ``Tracker`` (Python allocators traced, no native frames) wraps each phase, so
its file holds exactly the phase's allocations: totals and top sites by bytes and by count
come from memray's own statistics, ``kept_*`` from its leaked records. A tracker ignores
frees of memory allocated before it started, so it cannot see a drain; the net change and
the peak come from the tracemalloc backend running alongside, started before setup.

Each tracker window costs a fixed handful of allocations of its own (its enter and exit);
the trial measures an empty window and subtracts it (see ``harness.measure.trial``).

memray keeps its own shadow of the Python stack with a profile hook. On CPython 3.11 that
hook makes the interpreter create a frame object for every Python-level call, and a bound
method object for every call of a builtin method (``list.append``, ``dict.get``), inside the
window: each is one short-lived allocation that the code would not make untraced. They are
counted in ``alloc_*`` (freed at once, they do not touch ``kept_*``, ``net_*`` or the peak).
The count is exactly repeatable, so comparisons stay exact; absolute allocs/op of call-heavy
code read higher than an untraced run would make.
"""

from __future__ import annotations

import gc
import os
from typing import Any

from harness.measure.capture import EVERY_HEAP_METRIC, CountsItsOwn, PhaseCapture
from harness.measure.capture.tracemalloc import TracemallocCapture
from harness.store.sites import Site


class MemrayCapture(CountsItsOwn):
    """memray for ``alloc_*``/``kept_*`` and sites, tracemalloc for ``net_*`` and ``peak_bytes``."""

    name: str = "memray"
    measures: tuple[str, ...] = EVERY_HEAP_METRIC
    complete_sites: bool = False
    generator_window: bool = True

    def __init__(self, top_sites: int, workdir: str) -> None:
        import memray

        self._memray = memray
        self.top_sites = top_sites
        self.workdir = workdir
        self._net = TracemallocCapture(top_sites)
        self._files: list[str] = []
        self._tracker: Any = None
        self._windows = 0

    def start_trial(self) -> None:
        self._net.start_trial()

    def begin_phase(self) -> None:
        # The window's file name is made before tracemalloc's window opens: it lives on.
        self._windows += 1
        self._files.append(os.path.join(self.workdir, f"window-{self._windows}.bin"))
        self._net.begin_phase()
        self._enter()
        # The tracker's start allocates and frees memory of its own: not the phase's peak.
        self._net.restart_peak()

    def end_phase(self) -> None:
        # Collect inside the window, so that garbage cycles the phase made count as freed.
        gc.collect()
        # Read before the tracker's exit, whose own allocations are not the phase's.
        peak = self._net.peak_so_far()
        self._exit()
        self._net.end_phase(peak=peak)

    def finish(self) -> list[PhaseCapture]:
        phases = []
        for path, net in zip(self._files, self._net.finish(), strict=True):
            totals, sites = self._read(path, top=self.top_sites)
            phases.append(PhaseCapture(metrics={**totals, **net.metrics}, sites=merge_sites(sites + net.sites)))
        return phases

    def _enter(self) -> None:
        # memray's background thread samples RSS every few milliseconds, at times that vary
        # from run to run; the phase needs none of it, so it sleeps through the window.
        self._tracker = self._memray.Tracker(
            self._files[-1],
            native_traces=False,
            trace_python_allocators=True,
            follow_fork=False,
            memory_interval_ms=3_600_000,
        )
        self._tracker.__enter__()

    def _exit(self) -> None:
        self._tracker.__exit__(None, None, None)
        self._tracker = None

    def _read(self, path: str, top: int) -> tuple[dict[str, int], tuple[Site, ...]]:
        from memray._memray import compute_statistics

        stats = compute_statistics(path, num_largest=max(top, 1))
        reader = self._memray.FileReader(path)
        leaked = list(reader.get_leaked_allocation_records(merge_threads=True))
        totals = {
            "alloc_bytes": int(stats.total_memory_allocated),
            "alloc_count": int(stats.total_num_allocations),
            "kept_bytes": sum(r.size for r in leaked),
            "kept_count": sum(r.n_allocations for r in leaked),
        }
        sites: dict[tuple[str, str, int], dict[str, int]] = {}
        if top:
            for (function, file, line), size in stats.top_locations_by_size[:top]:
                sites.setdefault((function, file, line), {})["alloc_bytes"] = int(size)
            for (function, file, line), count in stats.top_locations_by_count[:top]:
                sites.setdefault((function, file, line), {})["alloc_count"] = int(count)
            kept: dict[tuple[str, str, int], list[int]] = {}
            for record in leaked:
                frames = record.stack_trace(max_stacks=1)
                key = tuple(frames[0]) if frames else ("<unknown>", "<unknown>", 0)
                figures = kept.setdefault(key, [0, 0])  # type: ignore[arg-type]
                figures[0] += record.size
                figures[1] += record.n_allocations
            for key, (size, count) in sorted(kept.items(), key=lambda kv: -kv[1][0])[:top]:
                sites.setdefault(key, {}).update(kept_bytes=size, kept_count=count)
        reader.close()
        os.remove(path)
        return totals, tuple(Site(f, file, line, figures) for (f, file, line), figures in sites.items())


def merge_sites(sites: tuple[Site, ...]) -> tuple[Site, ...]:
    """One site per (file, line), its figures from every ranking merged."""
    merged: dict[tuple[str, int], Site] = {}
    for site in sites:
        known = merged.get((site.file, site.line))
        if known is None:
            merged[(site.file, site.line)] = site
        else:
            merged[(site.file, site.line)] = Site(
                known.function, known.file, known.line, {**site.figures, **known.figures}
            )
    return tuple(merged.values())
