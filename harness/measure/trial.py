"""What runs inside the child interpreter: one trial of one experiment.

The parent starts ``python -m harness.measure.trial SPEC.json OUT.json`` with ``PYTHONHASHSEED``
pinned to the trial's seed. The child imports the workload module, builds the
:class:`Trial` context, starts the capture backend before the workload's setup, runs the
workload, and writes the phases it measured to ``OUT.json`` as plain data.
"""

from __future__ import annotations

import gc
import json
import random
import resource
import sys
import time
import traceback
from array import array
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from harness.declare.metrics import with_per_op
from harness.measure.address_keyed import forget_address_keyed_state
from harness.measure.capture import Capture, PhaseCapture, make_capture
from harness.measure.memory_limit import limit_memory, memory_held, memory_limit_reason, too_low_reason
from harness.measure.own_frames import is_own_file
from harness.measure.window_sums import add_sites, add_windows, without_overhead
from harness.store.sites import Site

EXIT_WORKLOAD_FAILED = 3
#: A limit this close above the data a child holds once started leaves it nothing to load with.
START_HEADROOM = 8 * 1024**2
#: Empty windows measured before the workload: the last one is the backend's own cost per phase.
CALIBRATION_WINDOWS = 2


@dataclass(frozen=True)
class TrialSpec:
    """Everything the child needs to run one trial; sent as JSON."""

    project_root: str
    workloads_dir: str
    module: str
    family: str
    workload: str
    variant: str
    params: dict[str, Any]
    seed: int
    replicate: int
    backend: str
    top_sites: int
    #: Where the code under test is imported from, first on the child's ``sys.path``.
    python_path: tuple[str, ...] = ()
    #: Bytes of data (heap and private mappings) the child may hold; ``None`` for no limit.
    memory_limit: int | None = None
    #: Where a limit nobody set came from ("half of 23.4 GiB / 2 jobs"); "" for a limit set.
    memory_limit_origin: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TrialSpec:
        data = json.loads(text)
        return cls(**{**data, "python_path": tuple(data.get("python_path", ()))})


@dataclass(slots=True)
class PhaseRecord:
    """What the trial itself records of one window: filled while it is open (so not frozen),
    made before it opens, and with slots, so that filling it allocates nothing of its own.

    Operations and counters are added up in ``totals``, machine integers (slot 0: the
    operations), so that no int the workload passed is held past its window: holding one
    would keep the workload's object alive, a block it made and seemingly kept.
    """

    name: str
    totals: array[int] = field(default_factory=lambda: array("q", (0,)))
    #: Each counter's slot in ``totals``, by a copy of its name made in the window.
    slots: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def ops(self) -> int:
        return self.totals[0]

    @property
    def counters(self) -> dict[str, int]:
        return {name: self.totals[slot] for name, slot in self.slots.items()}


class Trial:
    """The context a workload function receives: seeded randomness and measured phases.

    Code outside ``with trial.phase(...)`` is setup and is not measured.
    """

    def __init__(self, capture: Capture, seed: int, replicate: int, params: dict[str, Any]) -> None:
        self.seed = seed
        self.replicate = replicate
        self.params = params
        #: A random generator seeded with the replicate's seed: the same stream in baseline and candidate.
        self.rng = random.Random(seed)
        self._capture = capture
        self._kept: list[Any] = []
        self._phases: list[PhaseRecord] = []
        self._current: PhaseRecord | None = None
        # Bound once, here: the harness's own work inside a window (its clock readings and
        # counters) runs between these two calls, which the backend keeps out of the window.
        self._suspend = capture.suspend
        self._resume = capture.resume
        self._open, self._close = self._window_edges(capture)
        # The with statement binds __enter__ to a new method object and frees it once the
        # window is open: a free of older memory inside every window, at the caller's line,
        # which a backend keeping every site would show there. staticmethod hands back the
        # two functions, made once, so entering and leaving a window allocates and frees
        # nothing of the harness's.
        window = type("PhaseWindow", (), {"__enter__": staticmethod(self._open), "__exit__": staticmethod(self._close)})
        self._window = cast(AbstractContextManager[None], window())

    def _window_edges(self, capture: Capture) -> tuple[Callable[[], None], Callable[[object, object, object], None]]:
        """The functions that open and close a window.

        All they do inside the window runs suspended: each reads only closure cells before
        calling ``suspend`` (an attribute lookup can free a name the type cache held). The
        window opens suspended and ``open_window`` resumes last; ``close_window`` suspends
        first, and ``end_phase`` resumes before its last collection (the workload's cycles).
        """
        suspend, resume = capture.suspend, capture.resume
        begin, end = capture.begin_phase, capture.end_phase
        clock = time.perf_counter
        forget = forget_address_keyed_state
        started = array("d", (0.0,))

        def open_window() -> None:
            # Outside the window: no name older than it stays in the type cache to be freed inside.
            forget()
            suspend()
            begin()
            started[0] = clock()
            resume()

        def close_window(exc_type: object, exc: object, tb: object) -> None:
            # Inside the window: a name it made and dropped is freed here, whatever its address.
            forget()
            suspend()
            finished = clock()
            end()
            resume()
            self._closed(finished - started[0])

        return open_window, close_window

    def _closed(self, wall_s: float) -> None:
        """Record the window just closed (outside it)."""
        record = self._current
        assert record is not None, "a window closed that was not opened"
        record.wall_s = wall_s
        self._phases.append(record)
        self._current = None

    def phase(self, name: str) -> AbstractContextManager[None]:
        """Measure the block as the phase ``name``: a full collection at each boundary.

        A name may be measured several times (a periodic flush, a tick): its windows add up
        into one phase (the peak is the highest of them; setup between them is not measured).
        """
        if self._current is not None:
            raise RuntimeError(f"phase {name!r} opened inside phase {self._current.name!r}; phases do not nest")
        # Everything the window needs is allocated before it opens.
        self._current = PhaseRecord(name)
        return self._generator_window() if self._capture.generator_window else self._window

    @contextmanager
    def _generator_window(self) -> Iterator[None]:
        self._open()
        try:
            yield
        finally:
            self._close(None, None, None)

    def ops(self, n: int) -> None:
        """Declare that the current phase performed ``n`` operations (for the per-op figures)."""
        self._suspend()
        try:
            current = self._current
            if current is None:
                raise RuntimeError("trial.ops() called outside a phase")
            totals = current.totals
            # The first call stores ``n`` alone: no sum, no int made (that memray would count).
            if totals[0]:
                totals[0] += n
            else:
                totals[0] = n
        finally:
            self._resume()

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the workload's own counter ``name`` in the current phase (e.g. refused inserts)."""
        self._suspend()
        try:
            current = self._current
            if current is None:
                raise RuntimeError("trial.count() called outside a phase")
            totals = current.totals
            slot = current.slots.get(name)
            if slot is None:
                if not isinstance(name, str):
                    raise TypeError(f"a counter's name is a str, not {type(name).__name__}")
                slot = len(totals)
                totals.append(0)
                # A copy (``str(name)`` and slices hand back the same object): a name the
                # workload built in the window is not kept past it.
                current.slots[name.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")] = slot
            totals[slot] += n
        finally:
            self._resume()

    def keep(self, obj: Any) -> Any:
        """Keep ``obj`` alive until the trial ends, so that what it holds counts as retained."""
        self._kept.append(obj)
        return obj


def _rss_peak_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _describe(exc: BaseException) -> str:
    """``ValueError: bad key (flow_table.py:42)``: the error and the user's innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if not is_own_file(f.filename)] or frames
    where = f" ({Path(user[-1].filename).name}:{user[-1].lineno})" if user else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _load_workload(spec: TrialSpec) -> tuple[Callable[..., Any], Callable[..., Any]]:
    from harness.declare.discovery import families_in, load_module

    # The code under test is on the import path already (see harness.measure.interpreter).
    module = load_module(Path(spec.workloads_dir) / spec.module)
    for family in families_in(module):
        if family.name == spec.family:
            return family.workloads[spec.workload].function, family.variants[spec.variant].factory
    raise LookupError(f"family {spec.family!r} not found in {spec.module}")


def calibrate(trial: Trial) -> None:
    """Measure empty windows and forget them, before the first window of the workload.

    They go through the same code path as the workload's phases: the first pays one-off
    initialisation, the last is the steady cost of a window, which :func:`measured_phases`
    subtracts from every phase. The first also runs ``ops()`` and ``count()``: memray gives a
    code object a line table, kept, at its first traced call (not a phase's kept bytes).
    """
    for index in range(CALIBRATION_WINDOWS):
        with trial.phase(f"calibration-{index}"):
            if index == 0:
                for _ in range(2):
                    trial.ops(1)
                    trial.count("calibration")
    del trial._phases[:]


def measured_phases(trial: Trial, captured: list[PhaseCapture], complete_sites: bool) -> list[dict[str, Any]]:
    """The phases of ``trial`` as plain data, from what its backend captured (calibration first).

    The last calibration window's cost is subtracted from every window (site by site too,
    when the backend keeps every site, so that they still add up to the totals), windows of
    one name add up into one phase, and the harness's own call sites are left out.
    """
    calibration = captured[CALIBRATION_WINDOWS - 1]
    overhead = calibration.metrics
    phases: dict[str, tuple[dict[str, Any], list[Site]]] = {}
    for record, profile in zip(trial._phases, captured[CALIBRATION_WINDOWS:], strict=True):
        own = {k: v - overhead.get(k, 0) for k, v in profile.metrics.items()}
        if "peak_bytes" in own:
            own["peak_bytes"] = max(own["peak_bytes"], 0)
        measured = {**own, **record.counters, "ops": record.ops, "wall_s": record.wall_s}
        if complete_sites:
            # Every site is there: the window's own cost comes off site by site, as it comes
            # off the totals, so that the sites still add up to them.
            sites = without_overhead(profile.sites, calibration.sites)
        else:
            sites = [s for s in profile.sites if not is_own_file(s.file)]
        known = phases.get(record.name)
        phases[record.name] = (
            (measured, sites) if known is None else (add_windows(known[0], measured), add_sites(known[1], sites))
        )
    return [
        {"name": name, "metrics": with_per_op(metrics), "sites": [site.to_json() for site in sites]}
        for name, (metrics, sites) in phases.items()
    ]


def started_marker(workdir: str | Path) -> Path:
    """The file a trial writes once it has started (its workload and backend loaded): a child
    that dies before it, under a memory limit, for lack of memory, had a limit too low to start."""
    return Path(workdir) / "started"


def _lacked_memory(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a ``MemoryError`` or was raised while handling one (an import that
    failed for lack of memory, reported as the import's failure)."""
    while exc is not None:
        if isinstance(exc, MemoryError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _failure_reason(spec: TrialSpec, loaded: bool, exc: Exception) -> str:
    """One line for a trial that raised: a lack of memory under a limit names the limit (too
    low for the trial to start, when its workload and backend had not loaded yet)."""
    if not spec.memory_limit or not _lacked_memory(exc):
        return _describe(exc)
    if loaded:
        return memory_limit_reason(spec.memory_limit)
    return too_low_reason(spec.memory_limit, spec.memory_limit_origin)


def run_trial(spec: TrialSpec, workdir: str) -> dict[str, Any]:
    """Run one trial here and return its outcome as plain data."""
    random.seed(spec.seed)
    started = time.perf_counter()
    loaded = False
    try:
        function, factory = _load_workload(spec)
        capture = make_capture(spec.backend, spec.top_sites, workdir)
        started_marker(workdir).touch()
        loaded = True
        trial = Trial(capture, spec.seed, spec.replicate, dict(spec.params))
        gc.collect()
        capture.start_trial()
        calibrate(trial)
        function(trial, factory, **spec.params)
        del trial._kept[:]
        captured = capture.finish()
    except Exception as exc:  # noqa: BLE001 - a failing workload is a result, not a crash
        # After a MemoryError, what the unwinding freed lets this report be written.
        reason = _failure_reason(spec, loaded, exc)
        return {"status": "failed", "error": reason, "wall_s": time.perf_counter() - started}
    return {
        "status": "ok",
        "phases": measured_phases(trial, captured, capture.complete_sites),
        "rss_peak_bytes": _rss_peak_bytes(),
        "wall_s": time.perf_counter() - started,
    }


def main(argv: list[str]) -> int:
    from harness.measure.capture.reach import settle_preload

    spec_path, out_path = argv
    spec = TrialSpec.from_json(Path(spec_path).read_text(encoding="utf-8"))
    held = memory_held()
    # Set below what the interpreter holds already, the limit would fail whatever it loads
    # next, in ways that do not say memory ("module 'hashlib' has no attribute 'sha1'").
    if spec.memory_limit is not None and held is not None and held + START_HEADROOM > spec.memory_limit:
        outcome: dict[str, Any] = {
            "status": "failed",
            "error": too_low_reason(spec.memory_limit, spec.memory_limit_origin),
            "wall_s": 0.0,
        }
        Path(out_path).write_text(json.dumps(outcome), encoding="utf-8")
        return EXIT_WORKLOAD_FAILED
    limit_memory(spec.memory_limit)
    unusable = settle_preload(spec.backend)
    if unusable is not None:
        outcome = {"status": "failed", "error": unusable, "wall_s": 0.0}
    else:
        outcome = run_trial(spec, workdir=str(Path(out_path).parent))
    Path(out_path).write_text(json.dumps(outcome), encoding="utf-8")
    return 0 if outcome["status"] == "ok" else EXIT_WORKLOAD_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
