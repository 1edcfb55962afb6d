"""The window around a test's own code, for each kind of test, put in place in a measuring copy.

What pytest (or a plugin's runner) calls is replaced, innermost, by a wrapper that opens the
window (the phase ``test``, or the test's own ``harness_trial.phase`` blocks) around the
test's own code only: a function's body (an async one's coroutine, awaited inside), a
``unittest.TestCase``'s ``setUp``, test and ``tearDown``, a doctest's examples. What pytest
and its plugins do around the call (hooks, warning capture, logging, other plugins'
wrappers) runs outside. Functions are called with their fixtures as positional arguments
bound before the window opens: a call with keyword arguments would allocate its keyword
names inside it.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from harness.measure.trial import Trial, calibrate
from harness.pytest_plugin.benchmark import BENCHMARK_FIXTURE, MeasuredBenchmark, benchmark_in_window
from harness.pytest_plugin.kinds import is_doctest, is_unittest
from harness.pytest_plugin.markers import FIXTURE, ops_of

if TYPE_CHECKING:
    # Only named: a zygote that imported one more module would have another fill of the
    # import system's caches, which a test importing lazily reads (a resize, 6.5 KB kept).
    import doctest

#: The phase a test that does not take ``harness_trial`` is measured as, whole.
WHOLE_TEST_PHASE = "test"


def put_window(item: pytest.Item, trial: Trial) -> None:
    """Put the window around ``item``'s own code, in place of what pytest (and any plugin) calls.

    A test function: its body (an async one: its coroutine, awaited inside the window). A
    ``unittest.TestCase`` method: ``setUp``, the method and ``tearDown``, as one phase. A
    doctest: its examples, each compiled, run and its output compared by doctest's runner. A
    test that uses pytest-benchmark's fixture: one call of the benchmarked function
    (:mod:`.benchmark`). The copy is thrown away after the test, so what is replaced here is never put back.
    """
    ops = ops_of(item)
    if is_doctest(item):
        # Inside run(), the part that runs the examples: run() itself first makes a debugger
        # and redirects the output, which are doctest's, not the test's.
        runner = item.runner  # type: ignore[attr-defined]
        runner._DocTestRunner__run = _windowed_examples(runner._DocTestRunner__run, trial, ops)
    elif is_unittest(item):
        assert isinstance(item, pytest.Function)
        _window_case(item, trial, ops)
    else:
        assert isinstance(item, pytest.Function)
        item.obj = _windowed(item, trial, benchmark_in_window(item, trial))


def _windowed(item: pytest.Function, trial: Trial, benchmark: MeasuredBenchmark | None) -> Callable[..., Any]:
    """The test function wrapped in its window: what pytest (and any plugin's wrapper) calls.
    A test that opens its own phases (``harness_trial``, or pytest-benchmark's fixture, given
    ``benchmark``: its benchmarked call) is called outside any window."""
    function = item.obj
    takes_trial = FIXTURE in item._fixtureinfo.argnames or benchmark is not None
    ops = ops_of(item)
    if inspect.iscoroutinefunction(function):
        return _windowed_coroutine(function, trial, ops, takes_trial)

    def measured(**fixtures: Any) -> Any:
        __tracebackhide__ = True
        if benchmark is not None:
            fixtures[BENCHMARK_FIXTURE] = benchmark
        call, args, keywords = _bound(function, fixtures)
        calibrate(trial)
        if takes_trial:
            return call(*args, **keywords)
        if keywords:
            with trial.phase(WHOLE_TEST_PHASE):
                result = call(*args, **keywords)
                trial.ops(ops)
            return result
        with trial.phase(WHOLE_TEST_PHASE):
            result = call(*args)
            trial.ops(ops)
        return result

    return measured


def _windowed_coroutine(function: Callable[..., Any], trial: Trial, ops: int, takes_trial: bool) -> Callable[..., Any]:
    """An async test in its window: pytest-asyncio's or anyio's runner awaits this coroutine,
    which makes the test's coroutine outside the window and awaits it inside, so the window
    holds the test's body (and the event loop's work whenever the body suspends)."""

    async def measured(**fixtures: Any) -> Any:
        __tracebackhide__ = True
        call, args, keywords = _bound(function, fixtures)
        calibrate(trial)
        coroutine = call(*args, **keywords)  # its body has not run yet
        if takes_trial:
            return await coroutine
        with trial.phase(WHOLE_TEST_PHASE):
            result = await coroutine
            trial.ops(ops)
        return result

    return measured


def _window_case(item: pytest.Function, trial: Trial, ops: int) -> None:
    """Put ``setUp``, the test method and ``tearDown`` of a ``unittest.TestCase`` in one window.

    unittest's ``run`` calls the instance's ``_callSetUp``, ``_callTestMethod`` and
    ``_callTearDown`` in turn, with its own machinery (outcome records, context managers)
    between them. Here the first and last do nothing, and ``_callTestMethod`` calls all three
    inside the window, with unittest's rules: no ``tearDown`` after a failed ``setUp``, a
    ``tearDown`` after a failed test, and only the test's own failure is an expected one. An
    ``IsolatedAsyncioTestCase``'s are its own: they run ``asyncSetUp``, the coroutine and
    ``asyncTearDown`` on its event loop, inside the window too.
    """
    case = item.instance
    call_set_up, call_test, call_tear_down = case._callSetUp, case._callTestMethod, case._callTearDown
    case._callSetUp = case._callTearDown = _nothing

    def measured(method: Callable[[], Any]) -> None:
        __tracebackhide__ = True
        outcome = case._outcome  # where unittest reads whether a failure is expected
        expecting = outcome.expecting_failure
        runner = getattr(case, "_asyncioRunner", None)
        if runner is not None:
            runner.get_loop()  # an IsolatedAsyncioTestCase's event loop, made outside the window
        calibrate(trial)
        with trial.phase(WHOLE_TEST_PHASE):
            outcome.expecting_failure = False
            call_set_up()
            outcome.expecting_failure = expecting
            try:
                call_test(method)
            finally:
                outcome.expecting_failure = False
                call_tear_down()
                outcome.expecting_failure = expecting
            trial.ops(ops)

    case._callTestMethod = measured


def _nothing() -> None:
    pass


def _windowed_examples(call: Callable[..., Any], trial: Trial, ops: int) -> Callable[..., Any]:
    """``call`` (the doctest runner's running of a doctest's examples) inside the window, and
    the names the examples bound unbound at its end, inside it, as a function's locals are when
    it returns: what only those names held is freed in the window, not read as kept. (doctest
    clears them too, but later, in ``run()``, outside the window.)"""

    def measured(test: doctest.DocTest, *args: Any, **keywords: Any) -> Any:
        __tracebackhide__ = True
        before = dict(test.globs)  # outside the window: the names the module had
        calibrate(trial)
        with trial.phase(WHOLE_TEST_PHASE):
            result = call(test, *args, **keywords)
            _unbind(test.globs, before)
            trial.ops(ops)
        return result

    return measured


def _unbind(names: dict[str, Any], before: dict[str, Any]) -> None:
    """Give ``names`` back the values of ``before`` and drop those it did not have; ``_``, the
    last value an example displayed, goes too (``run()`` would set it to None)."""
    for name in [*names]:
        if name not in before:
            del names[name]
        elif names[name] is not before[name]:
            names[name] = before[name]
    if getattr(builtins, "_", None) is not None:
        builtins._ = None  # type: ignore[attr-defined]


def _bound(
    function: Callable[..., Any], fixtures: dict[str, Any]
) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
    """``function`` and its fixtures as positional arguments (a method as its function and
    instance), so that calling it allocates nothing; keyword-only ones stay keywords."""
    try:
        bound = inspect.signature(function).bind(**fixtures)
    except (TypeError, ValueError):
        return function, (), fixtures
    args, keywords = tuple(bound.args), dict(bound.kwargs)
    if inspect.ismethod(function):
        return function.__func__, (function.__self__, *args), keywords
    return function, args, keywords
