"""The native backend: exact figures of every phase from allocator hooks, and complete sites.

The C extension ``harness._native`` (``harness/measure/capture/_native.c``) hooks the raw, mem and
object allocator domains from before the workload's setup to the end of the trial and
tracks every live block, so it sees the frees of older memory (a drain) as well as every
allocation. It makes no Python object and sets no profile hook while a window is open, so
the figures are the code's own: a loop of Python calls that allocates nothing reads zero.

Every call site of a phase is kept (not a top-N): the hooks key their counters by the
Python stack (up to ``MAX_DEPTH`` frames of code object and instruction), turned into
file, line and function after the window. A site's ``net_*`` is what it allocated in the
window and kept, minus the older memory it freed there (memory from before the window is
attributed where it is freed, since setup is not profiled); the sites of a window add up
exactly to its totals.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.declare.metrics import SITE_FIGURES
from harness.measure.capture import EVERY_HEAP_METRIC, PhaseCapture
from harness.measure.own_frames import is_own_file
from harness.store.sites import Site

#: Allocations made where no Python frame runs (a C thread, the interpreter's own start-up).
NATIVE_FRAME = ("<native>", 0, "<native>")
_Row = tuple[int, int, int, int, int, int, int]


class NativeCapture:
    """Every figure of a phase, and all of its sites, from ``harness._native``."""

    name: str = "native"
    measures: tuple[str, ...] = EVERY_HEAP_METRIC
    complete_sites: bool = True
    generator_window: bool = False

    def __init__(self, sites: bool = True) -> None:
        import harness._native as _native

        self._native = _native
        self.sites = sites
        # Filled between windows and kept to the end: never freed inside a window.
        self._windows: list[tuple[dict[str, int], list[_Row]]] = []

    def start_trial(self) -> None:
        self._native.start(self.sites)

    def begin_phase(self) -> None:
        self._native.begin()

    def end_phase(self) -> None:
        self._native.end()
        self._windows.append((self._native.totals(), self._native.window_sites()))

    def suspend(self) -> None:
        self._native.suspend()

    def resume(self) -> None:
        self._native.resume()

    def finish(self) -> list[PhaseCapture]:
        try:
            stacks = self._stacks({row[0] for _, rows in self._windows for row in rows})
        finally:
            self._native.stop()
        return [PhaseCapture(metrics=totals, sites=_sites(rows, stacks)) for totals, rows in self._windows]

    def _stacks(self, ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        stacks = {}
        for site in ids:
            frames = self._native.site_stack(site) or (NATIVE_FRAME,)
            # The harness's own allocations (the window's clock readings, counters) keep only
            # their innermost frame, so that they are one site whoever called the phase.
            if is_own_file(frames[0][0]):
                frames = frames[:1]
            stacks[site] = tuple(f"{file}:{line}:{function}" for file, line, function in frames)
        return stacks


def _sites(rows: list[_Row], stacks: dict[int, tuple[str, ...]]) -> tuple[Site, ...]:
    """One site per stack (the hooks key by instruction; several may share a line)."""
    merged: dict[tuple[str, ...], list[int]] = {}
    for site, *figures in rows:
        known = merged.setdefault(stacks[site], [0] * len(SITE_FIGURES))
        for index, value in enumerate(figures):
            known[index] += value
    sites = []
    for stack, figures in merged.items():
        file, line, function = stack[0].rsplit(":", 2)
        sites.append(Site(function, file, int(line), dict(zip(SITE_FIGURES, figures, strict=True)), stack))
    sites.sort(key=lambda s: (-s.figures["alloc_bytes"], -abs(s.figures["net_bytes"]), s.stack))
    return tuple(sites)
