"""pytest-benchmark suites: a test that uses its ``benchmark`` fixture is measured per call.

The session the user started times the test as pytest-benchmark always does (its rounds,
its calibration, its table at the end), with no capture running, so its timings are its
own. Each measuring copy runs the same test, but its ``benchmark`` fixture is wrapped: the
first use, ``benchmark(fn, *args)`` or ``benchmark.pedantic(fn, ...)``, runs ``fn`` once
through pytest-benchmark, as a single round, outside the window (the warm-up: what a first
call pays once, a lazy import, a cache filled, a specialized bytecode, is not charged to
every call, as none of pytest-benchmark's rounds pay it either), then once more inside the
window, as the phase ``call`` of one operation. So ``*_per_op`` are per call of ``fn``,
beside pytest-benchmark's time per call, and the test itself is not edited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.measure.trial import Trial

#: The fixture pytest-benchmark gives a test, and the name it registers its plugin under.
BENCHMARK_FIXTURE = "benchmark"
#: The phase one call of the benchmarked function is measured as.
CALL_PHASE = "call"


def uses_benchmark(item: pytest.Item) -> bool:
    """Whether ``item`` takes pytest-benchmark's ``benchmark`` fixture (so the session times it)."""
    return (
        isinstance(item, pytest.Function)
        and BENCHMARK_FIXTURE in item.fixturenames
        and item.config.pluginmanager.has_plugin(BENCHMARK_FIXTURE)
    )


def benchmark_in_window(item: pytest.Function, trial: Trial) -> MeasuredBenchmark | None:
    """In a measuring copy, after setup: what the test gets in place of its ``benchmark``
    fixture, so that its function is measured per call (pytest-benchmark's own fixture stays
    in ``item.funcargs``, where its report hook reads it). None when the test has no
    pytest-benchmark fixture (a project's own fixture of that name is measured as any test is)."""
    try:
        from pytest_benchmark.fixture import BenchmarkFixture
    except ImportError:
        return None
    fixture = item.funcargs.get(BENCHMARK_FIXTURE)
    if not isinstance(fixture, BenchmarkFixture):
        return None
    return MeasuredBenchmark(fixture, trial)


class MeasuredBenchmark:
    """pytest-benchmark's fixture, whose use runs the function once as a warm-up, then once
    in the window. Every other attribute (``group``, ``extra_info``, ``stats``, ...) is the
    fixture's own; a second use fails as pytest-benchmark's does."""

    def __init__(self, fixture: Any, trial: Trial) -> None:
        object.__setattr__(self, "_fixture", fixture)
        object.__setattr__(self, "_trial", trial)

    def __call__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._fixture.pedantic(function, args, kwargs, rounds=1, iterations=1)
        return self._measured(function, args, kwargs)

    def pedantic(
        self,
        target: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        setup: Callable[[], Any] | None = None,
        teardown: Callable[..., Any] | None = None,
        rounds: int = 1,
        warmup_rounds: int = 0,
        iterations: int = 1,
    ) -> Any:
        # pytest-benchmark checks the arguments (and that the fixture is used once) here.
        self._fixture.pedantic(target, args, kwargs, setup=setup, teardown=teardown, rounds=1, iterations=1)
        kwargs = kwargs or {}
        if setup is not None:
            made = setup()  # outside the window, as pytest-benchmark keeps it outside its timer
            if made:
                args, kwargs = made
        try:
            return self._measured(target, tuple(args), kwargs)
        finally:
            if teardown is not None:
                teardown(*args, **kwargs)

    def _measured(self, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        __tracebackhide__ = True
        trial = self._trial  # calibrated by the window's wrapper, before the test began
        if kwargs:
            with trial.phase(CALL_PHASE):
                result = function(*args, **kwargs)
                trial.ops(1)
            return result
        with trial.phase(CALL_PHASE):
            result = function(*args)
            trial.ops(1)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fixture, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._fixture, name, value)
