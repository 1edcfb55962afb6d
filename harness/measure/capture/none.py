"""The ``none`` backend: no allocation figure at all, only the trial's timings.

For goals on ``wall_s`` alone, and as the reference of what capture costs: a trial run with
it pays for its workload, its interpreter and the harness's phase bookkeeping only.
"""

from __future__ import annotations

from harness.measure.capture import CountsItsOwn, PhaseCapture


class NoCapture(CountsItsOwn):
    """Measures nothing; the phases still carry ``wall_s`` and ``ops`` from the trial."""

    name: str = "none"
    measures: tuple[str, ...] = ()
    complete_sites: bool = False

    def __init__(self) -> None:
        self._windows = 0

    def start_trial(self) -> None:
        self._windows = 0

    def begin_phase(self) -> None:
        pass

    def end_phase(self) -> None:
        self._windows += 1

    def finish(self) -> list[PhaseCapture]:
        return [PhaseCapture(metrics={}, sites=()) for _ in range(self._windows)]
