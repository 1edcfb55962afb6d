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

from collections.abc import Callable, Iterable

from harness.declare.metrics import SITE_FIGURES
from harness.measure.capture import EVERY_HEAP_METRIC, PhaseCapture
from harness.measure.own_frames import is_bookkeeping_file, is_own_file
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
        # The C functions themselves, not methods that look them up: the trial calls them
        # inside a window, where a lookup could free a name the type cache held.
        self.suspend: Callable[[], None] = _native.suspend
        self.resume: Callable[[], None] = _native.resume
        # Filled between windows and kept to the end: never freed inside a window.
        self._windows: list[tuple[dict[str, int], list[_Row]]] = []

    def start_trial(self) -> None:
        self._native.start(self.sites)

    def begin_phase(self) -> None:
        self._native.begin()

    def end_phase(self) -> None:
        # Called suspended: ``end()`` resumes this thread before its last collection.
        self._native.end()
        self._windows.append((self._native.totals(), self._native.window_sites()))

    def finish(self) -> list[PhaseCapture]:
        try:
            stacks = self._stacks({row[0] for _, rows in self._windows for row in rows})
        finally:
            self._native.stop()
        return [_without_bookkeeping(totals, _sites(rows, stacks)) for totals, rows in self._windows]

    def _stacks(self, ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        stacks = {}
        # The sites of a test share most of their frames (its callers, pytest's): each frame's
        # name is made once, and the stacks hold the same strings.
        names: dict[tuple[str, int, str], str] = {}
        for site in ids:
            frames = self._native.site_stack(site) or (NATIVE_FRAME,)
            # The harness's own allocations (the window's clock readings, counters) keep only
            # their innermost frame, so that they are one site whoever called the phase.
            if is_own_file(frames[0][0]):
                frames = frames[:1]
            stack = []
            for frame in frames:
                name = names.get(frame)
                if name is None:
                    name = names[frame] = f"{frame[0]}:{frame[1]}:{frame[2]}"
                stack.append(name)
            stacks[site] = tuple(stack)
        return stacks


def _without_bookkeeping(totals: dict[str, int], sites: tuple[Site, ...]) -> PhaseCapture:
    """The window less what frames of the trial itself did in it, site and totals alike.

    The trial suspends the hooks around its own work in a window, but a Python-level step
    before the first suspend (a method lookup can free a name the interpreter's type cache
    held) is still seen, at a harness frame: never the workload's, it leaves the window here.
    """
    own = [site for site in sites if is_bookkeeping_file(site.file)]
    metrics = dict(totals)
    for site in own:
        for name in SITE_FIGURES:
            metrics[name] -= site.figure(name)
    return PhaseCapture(metrics=metrics, sites=tuple(site for site in sites if not is_bookkeeping_file(site.file)))


def _sites(rows: list[_Row], stacks: dict[int, tuple[str, ...]]) -> tuple[Site, ...]:
    """One site per stack (the hooks key by instruction; several may share a line)."""
    merged: dict[tuple[str, ...], list[int]] = {}
    for site, *figures in rows:
        known = merged.get(stacks[site])
        if known is None:
            merged[stacks[site]] = figures
            continue
        for index, value in enumerate(figures):
            known[index] += value
    sites = []
    for stack, figures in merged.items():
        file, line, function = stack[0].rsplit(":", 2)
        sites.append(Site(function, file, int(line), dict(zip(SITE_FIGURES, figures, strict=True)), stack))
    sites.sort(key=lambda s: (-s.figures["alloc_bytes"], -abs(s.figures["net_bytes"]), s.stack))
    return tuple(sites)
