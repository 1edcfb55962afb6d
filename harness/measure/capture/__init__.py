"""Capture backends: what measures a phase inside the trial process.

Each backend is one module with one class implementing :class:`Capture`. The trial calls
``start_trial()`` before the workload's setup, ``begin_phase()``/``end_phase()`` around each
measured window, and ``finish()`` after the workload returned, which turns what was
captured into :class:`PhaseCapture` values (post-processing happens then, so that it never
runs inside, or between, measured windows).
"""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
from dataclasses import dataclass
from typing import Protocol

from harness.errors import BackendError
from harness.store.sites import Site

BACKENDS = ("native", "memray", "tracemalloc", "none")
#: Every base metric of a phase's heap: what the backends that see each allocation measure.
EVERY_HEAP_METRIC = ("alloc_bytes", "alloc_count", "kept_bytes", "kept_count", "net_bytes", "net_count", "peak_bytes")
#: What ``auto`` chose, once per process (the fallback is said on stderr once).
_auto_choice: str | None = None
#: Why the C extension can be missing, and how to get it: said wherever native is asked for
#: or was the default and is not there (README.md, "Installing", quotes the whole line).
NATIVE_MISSING = "harness._native was not built at install time, most often for want of a C compiler"
NATIVE_REMEDY = "install an alloc-harness wheel from PyPI, or a C compiler and reinstall alloc-harness"


@dataclass(frozen=True)
class PhaseCapture:
    """The backend's figures for one phase (see ``harness.declare.metrics``) and its sites (the top
    ones, or every one where the backend's ``complete_sites`` says so)."""

    metrics: dict[str, int]
    sites: tuple[Site, ...]


class Capture(Protocol):
    """What a backend does inside the trial process."""

    name: str
    #: The base metrics this backend measures.
    measures: tuple[str, ...]
    #: Whether every site of a phase is captured, so that the sites add up to the totals.
    complete_sites: bool
    #: Whether phases open through a generator context manager instead of the trial's reusable
    #: window object (memray: its repeatability was validated on that path).
    generator_window: bool

    def start_trial(self) -> None: ...

    def begin_phase(self) -> None: ...

    def end_phase(self) -> None: ...

    def finish(self) -> list[PhaseCapture]: ...

    def suspend(self) -> None:
        """From here to :meth:`resume`, what this thread allocates is the harness's own: a
        backend that can tell keeps it out of the open window (a no-op elsewhere)."""

    def resume(self) -> None: ...


class CountsItsOwn:
    """For a backend that cannot tell the harness's own allocations in a window from the
    workload's: they are counted, and the empty calibration window's cost is subtracted."""

    generator_window: bool = False

    def suspend(self) -> None:
        pass

    def resume(self) -> None:
        pass


def memray_available() -> bool:
    """Whether memray can be imported here (it does not build on every platform)."""
    return importlib.util.find_spec("memray") is not None


def native_available() -> bool:
    """Whether the C extension of the native backend was built for this interpreter."""
    try:
        import harness._native  # noqa: F401
    except ImportError:
        return False
    return True


def _native_unusable() -> str | None:
    """Why the native backend cannot run here, or None."""
    if not native_available():
        return NATIVE_MISSING
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        # Its hooks wrap and delegate, but they have not been run on a free-threaded build.
        return "the native backend is not checked on free-threaded CPython builds"
    return None


def _fallback_notice(unusable: str, chosen: str) -> str:
    """The one line that says ``auto`` did not get native: why, what it measures instead (a
    baseline of one backend is never compared with another's figures), and what to do."""
    remedy = f" To get native: {NATIVE_REMEDY}." if not native_available() else ""
    return (
        f"harness: native backend unavailable ({unusable}); using {chosen}, whose counts differ from native's."
        f"{remedy} To keep {chosen} quietly: --backend {chosen} (under pytest: --harness-backend {chosen})."
    )


def resolve_backend(name: str) -> str:
    """The backend to use for ``name``; ``auto`` is native where it runs, else memray where it
    runs, else tracemalloc (the fallback is said once on stderr)."""
    global _auto_choice
    if name == "auto":
        if _auto_choice is None:
            unusable = _native_unusable()
            _auto_choice = "native" if unusable is None else "memray" if memray_available() else "tracemalloc"
            if unusable is not None:
                print(_fallback_notice(unusable, _auto_choice), file=sys.stderr)
        name = _auto_choice
    elif name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}, auto")
    elif name == "memray" and not memray_available():
        raise BackendError("backend memray is not installed here; `pip install memray` or use --backend tracemalloc")
    elif name == "native" and (unusable := _native_unusable()) is not None:
        remedy = f"{NATIVE_REMEDY}, or " if not native_available() else ""
        raise BackendError(f"backend native cannot run: {unusable}; {remedy}use --backend memray or tracemalloc")
    return name


def backend_class(name: str) -> type[Capture]:
    """The class of backend ``name``, its module imported (which imports no tracer)."""
    if name == "native":
        from harness.measure.capture.native import NativeCapture

        return NativeCapture
    if name == "memray":
        from harness.measure.capture.memray import MemrayCapture

        return MemrayCapture
    if name == "tracemalloc":
        from harness.measure.capture.tracemalloc import TracemallocCapture

        return TracemallocCapture
    if name == "none":
        from harness.measure.capture.none import NoCapture

        return NoCapture
    raise BackendError(f"unknown backend {name!r}")


def make_capture(name: str, top_sites: int, workdir: str) -> Capture:
    """A fresh backend instance for one trial."""
    if name == "native":
        from harness.measure.capture.native import NativeCapture

        return NativeCapture()
    if name == "memray":
        from harness.measure.capture.memray import MemrayCapture

        return MemrayCapture(top_sites=top_sites, workdir=workdir)
    if name == "tracemalloc":
        from harness.measure.capture.tracemalloc import TracemallocCapture

        return TracemallocCapture(top_sites=top_sites)
    if name == "none":
        from harness.measure.capture.none import NoCapture

        return NoCapture()
    raise BackendError(f"unknown backend {name!r}")


def measured_metrics(name: str) -> tuple[str, ...]:
    """The base metrics a backend measures (importing its module does not import memray)."""
    return backend_class(name).measures
