"""Capture backends: what measures a phase inside the trial process.

Each backend is one module with one class implementing :class:`Capture`. The trial calls
``start_trial()`` before the workload's setup, ``begin_phase()``/``end_phase()`` around each
measured window, and ``finish()`` after the workload returned, which turns what was
captured into :class:`PhaseCapture` values (post-processing happens then, so that it never
runs inside, or between, measured windows).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Protocol

from harness.errors import BackendError

BACKENDS = ("memray", "tracemalloc")


@dataclass(frozen=True)
class Site:
    """A call site (the innermost Python frame of an allocation) and what it did in a phase."""

    function: str
    file: str
    line: int
    figures: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"function": self.function, "file": self.file, "line": self.line, **self.figures}


@dataclass(frozen=True)
class PhaseCapture:
    """The backend's figures for one phase (see ``harness.metrics``) and its top sites."""

    metrics: dict[str, int]
    sites: tuple[Site, ...]


class Capture(Protocol):
    """What a backend does inside the trial process."""

    name: str
    #: The base metrics this backend measures.
    measures: tuple[str, ...]

    def start_trial(self) -> None: ...

    def begin_phase(self) -> None: ...

    def end_phase(self) -> None: ...

    def finish(self) -> list[PhaseCapture]: ...


def memray_available() -> bool:
    """Whether memray can be imported here (it does not build on every platform)."""
    return importlib.util.find_spec("memray") is not None


def resolve_backend(name: str) -> str:
    """The backend to use for ``name`` (``auto``: memray where it runs, else tracemalloc)."""
    if name == "auto":
        return "memray" if memray_available() else "tracemalloc"
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}, auto")
    if name == "memray" and not memray_available():
        raise BackendError("backend memray is not installed here; `pip install memray` or use --backend tracemalloc")
    return name


def make_capture(name: str, top_sites: int, workdir: str) -> Capture:
    """A fresh backend instance for one trial."""
    if name == "memray":
        from harness.capture.memray import MemrayCapture

        return MemrayCapture(top_sites=top_sites, workdir=workdir)
    if name == "tracemalloc":
        from harness.capture.tracemalloc import TracemallocCapture

        return TracemallocCapture(top_sites=top_sites)
    raise BackendError(f"unknown backend {name!r}")


def measured_metrics(name: str) -> tuple[str, ...]:
    """The base metrics a backend measures (importing its module does not import memray)."""
    if name == "memray":
        from harness.capture.memray import MemrayCapture

        return MemrayCapture.measures
    from harness.capture.tracemalloc import TracemallocCapture

    return TracemallocCapture.measures
