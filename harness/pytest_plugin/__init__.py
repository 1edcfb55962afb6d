"""pytest plugin ``harness``: allocation limits and baselines for tests, each measured in a fresh copy of one state.

A test is *measured* when it takes the ``harness_trial`` fixture or carries a ``harness_limits`` or
``harness`` marker, or every test is (``--harness``, or ``[tool.harness.pytest] measure = "all"``); every
other test runs as pytest runs it, and the plugin costs it nothing. Test functions (async ones under
pytest-asyncio or anyio too), ``unittest.TestCase`` methods and doctests are measured, each run once, in its
measuring copy; a kind that cannot be is run here and listed as not measured (:mod:`.kinds`).

A measured test is not run in this process (a pytest-benchmark test is also timed here): its setup here
makes no fixture, and the plugin has it run, per replicate, by a forked copy of a zygote, a pytest session
of the same project that has collected the test's file with ``PYTHONHASHSEED`` pinned (:mod:`.launch`),
whose plugin measures the test's own code only (:mod:`.zygote`). Fixtures, conftest files, classes,
relative imports, markers and parametrize values all work::

    @pytest.mark.harness_limits(alloc_count_per_op=3, net_bytes="1 MiB")
    def test_put(harness_trial, cache, keys):      # cache, keys: fixtures
        with harness_trial.phase("put"):           # a measured phase
            for key in keys:
                cache.put(key, key)
            harness_trial.ops(len(keys))

A test that does not take ``harness_trial`` is measured whole, as one phase named ``test``. The copy's
outcome becomes this test's: its setup error, its assertion message (rewritten by pytest), its skip or
xfail, its captured output. A test that passed there is then held to its limits (``[tool.harness.pytest]
limits`` of the project, updated by its marker) and, with ``--harness-baseline NAME``, compared with the
baseline under the gate's rule. ``--harness-save NAME`` stores the measured tests. A table of the measured
tests ends the session. See docs/pytest.md.

Its parts:

- :mod:`.markers`: options, markers and which tests ask to be measured (shared by both processes);
- :mod:`.kinds`: which kinds of test can be measured, and why the others are not;
- :mod:`.benchmark`: a pytest-benchmark test, measured per call of its benchmarked function;
- :mod:`.forward`: the options of the user's command line that the zygotes get;
- :mod:`.zygote`: the plugin of the zygote, and of its copies that each measure one test;
- :mod:`.launch`: starting the zygotes, asking them for each replicate, reading back what was measured;
- :mod:`.ahead`: what runs ahead (the next file's zygotes, the next test's copy);
- :mod:`.limits`: the limits of a test and the report of a figure over its limit;
- :mod:`.judge`: the verdict on a measured test (its limits, its baseline);
- :mod:`.baseline`: pytest baselines, stored and compared;
- :mod:`.covered`, :mod:`.covering`: under pytest-cov, each measured test run once more under coverage, unmeasured;
- :mod:`.summary`: the summary of measured tests at the end of the session;
- :mod:`.session_files`: the session's results file and HTML report, for CI.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from harness.pytest_plugin.covered import Uncovered, session_coverage, uncovered_in, uncovered_line
from harness.pytest_plugin.kinds import NotMeasured, unmeasurable
from harness.pytest_plugin.markers import REPLICATES_BASELINE, REPLICATES_LIMITS, add_markers, add_options, is_marked
from harness.pytest_plugin.summary import MeasuredTest, summary_lines

if TYPE_CHECKING:
    from harness.declare.config import Settings
    from harness.pytest_plugin.launch import Measurement, Zygotes
    from harness.store.environment import Environment
    from harness.store.results import Results


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    add_markers(config)
    config.stash[_SESSION] = _Session(config)
    config.pluginmanager.register(config.stash[_SESSION], "harness-session")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is not None:
        session.close()


@dataclass(eq=False)  # a registered plugin: pluggy keeps plugins in sets, hashed by identity
class _Session:
    """What the plugin keeps over a pytest session: settings, the baseline, what was measured."""

    config: pytest.Config
    measured: list[MeasuredTest] = field(default_factory=list)
    not_measured: list[NotMeasured] = field(default_factory=list)
    #: Measured tests whose lines pytest-cov's report leaves out (see :mod:`.covered`).
    uncovered: list[Uncovered] = field(default_factory=list)
    #: What the session's end wrote, one line each, for the summary.
    written: list[str] = field(default_factory=list)
    _settings: Settings | None = None
    _measure_all: bool | None = None
    #: Tests to measure per file, as collected (their zygotes end with the last).
    _to_measure: dict[Path, int] = field(default_factory=dict)
    _baseline: Results | None = None
    _environment: Environment | None = None
    _zygotes: Zygotes | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from harness.declare.config import load_settings

            self._settings = load_settings(Path(self.config.rootpath))
        return self._settings

    def option(self, name: str) -> Any:
        return self.config.getoption(name)

    def selects(self, item: pytest.Item) -> bool:
        """Whether ``item`` is to be measured: it is marked, or every test is (``--harness``, ``measure = "all"``)."""
        if self._measure_all is None:
            self._measure_all = bool(self.option("harness_all")) or self._settings_measure_all()
        return self._measure_all or is_marked(item)

    def _settings_measure_all(self) -> bool:
        from harness.errors import HarnessError

        try:
            return self.settings.pytest_measure == "all"
        except HarnessError:
            return False  # the error is each measured test's, at its setup (see pytest_runtest_setup)

    def replicates(self) -> int:
        given = self.option("harness_replicates")
        if given is not None:
            if given < 1:
                raise pytest.UsageError("--harness-replicates must be >= 1")
            return int(given)
        wants_spread = self.option("harness_baseline") or self.option("harness_save")
        return REPLICATES_BASELINE if wants_spread else REPLICATES_LIMITS

    def baseline(self) -> Results:
        if self._baseline is None:
            from harness.pytest_plugin.baseline import load_baseline

            self._baseline = load_baseline(self.settings, self.option("harness_baseline"))
        return self._baseline

    def environment(self, backend: str) -> Environment:
        if self._environment is None:
            from harness.measure.here import environment

            self._environment = environment(Path(self.config.rootpath), backend)
        return self._environment

    def zygotes(self) -> Zygotes:
        if self._zygotes is None:
            from harness.pytest_plugin.launch import ZYGOTES_KEPT, Zygotes
            from harness.pytest_plugin.session_files import make_baseline_directory

            make_baseline_directory(self.settings, self.option("harness_save"))
            # An xdist worker's files' zygotes rarely end with their last test: workers share the bound.
            workers = int(getattr(self.config, "workerinput", {}).get("workercount", 1))
            kept = max(self.replicates(), ZYGOTES_KEPT // max(workers, 1))
            self._zygotes = Zygotes(kept, self._to_measure, self.selects)
        return self._zygotes

    def done(self, item: pytest.Item) -> None:
        """``item``'s turn is over (measured, skipped, or failed at setup): its file's zygotes end with its last."""
        left = self._to_measure.get(item.path)
        if left is None:
            return
        self._to_measure[item.path] = left - 1
        if left <= 1 and self._zygotes is not None:
            self._zygotes.end_file(item.path)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtestloop(self) -> Generator[None, object, object]:
        """Covering copies save their data within pytest-cov's wrapper of the loop, before it combines it
        (when the loop raises, as on Ctrl-C, :meth:`close` removes it instead)."""
        done = yield
        if self._zygotes is not None:
            self._zygotes.save_coverage()
        return done

    def close(self) -> None:
        """End the zygotes (at the session's end, however it ends)."""
        if self._zygotes is not None:
            self._zygotes.close()
            self._zygotes = None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Count the tests to measure per file (after deselection), for the zygotes' lifetimes."""
        for item in items:
            if self.selects(item) and unmeasurable(item) is None:
                self._to_measure[item.path] = self._to_measure.get(item.path, 0) + 1

    @pytest.hookimpl(trylast=True)  # after any plugin that writes the report out
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Gather the measured tests (in an xdist controller, from its workers' reports)."""
        data = getattr(report, "harness", None)
        if data is not None and report.when == "call":
            self.measured.append(MeasuredTest.from_report(data))
            if not hasattr(self.config, "workerinput"):  # pytest keeps reports; a worker's xdist sends it on
                del report.harness
        reason = getattr(report, "harness_not_measured", None)
        if reason is not None and report.when in ("setup", "call"):
            self.not_measured.append(NotMeasured(report.nodeid, reason))
        self.uncovered += uncovered_in(report)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput"):
            return
        if self.measured:
            terminalreporter.section("harness: measured tests")
            baseline = self.option("harness_baseline")
            tolerance = self.settings.tolerance_pct if baseline else None
            table, width = self.option("harness_table"), self.config.get_terminal_writer().fullwidth
            for line in summary_lines(self.measured, baseline, table, tolerance, width):
                terminalreporter.write_line(line)
            for line in self.written:
                terminalreporter.write_line(line)
        if self.not_measured:
            from harness.pytest_plugin.kinds import not_measured_lines

            terminalreporter.section("harness: tests not measured")
            for line in not_measured_lines(self.not_measured):
                terminalreporter.write_line(line)
        if self.uncovered:
            terminalreporter.write_line(uncovered_line(self.uncovered))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """End the zygotes; write what the session measured (once, not per xdist worker): the
        ``--harness-save`` baseline, the ``--harness-json`` and ``--harness-html`` files. What was
        written is said in the summary, on lines of its own."""
        self.close()
        if not self.measured or hasattr(self.config, "workerinput"):
            return
        from harness.pytest_plugin.session_files import save_and_write

        baseline = self.baseline() if self.option("harness_baseline") else None
        options = {name: self.option(f"harness_{name}") for name in ("save", "json", "html")}
        tests = [m.results for m in self.measured]
        self.written += save_and_write(tests, Path(self.config.rootpath), self.settings, baseline, **options)


_SESSION = pytest.StashKey[_Session]()
#: On a measured test: what its children made of it (set in its setup).
_MEASUREMENT = pytest.StashKey["Measurement"]()
#: On a measured test whose children passed: its results and deltas (set in its call).
_MEASURED = pytest.StashKey["MeasuredTest"]()
#: On a test to be measured that cannot be: why (it runs as usual, and the summary lists it).
_NOT_MEASURED = pytest.StashKey[str]()
#: On a test to be measured: its turn ends at its teardown (see _Session.done).
_TO_MEASURE = pytest.StashKey[bool]()


def _session(config: pytest.Config) -> _Session:
    return config.stash[_SESSION]


class _MeasuredInChild:
    """The in-process value of ``harness_trial``: a measured test never runs in this process."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("harness_trial is only usable in a test measured by the harness plugin")


@pytest.fixture
def harness_trial() -> Any:
    """The trial the test runs in: ``with harness_trial.phase("name"):`` measures a block,
    ``harness_trial.ops(n)`` declares its operations, ``harness_trial.rng`` is seeded."""
    return _MeasuredInChild()


from harness.errors import ChildTestFailed as _FromChild  # noqa: E402  (beside its use)


def _fail(message: str) -> NoReturn:
    pytest.fail(message, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None]:
    """Set a measured test up without its fixtures, then run its children; its own run here only judges them."""
    if not _session(item.config).selects(item):
        return (yield)
    reason = unmeasurable(item)
    if reason is not None:
        item.stash[_NOT_MEASURED] = reason
        return (yield)
    item.stash[_TO_MEASURE] = True
    from harness.pytest_plugin.benchmark import uses_benchmark

    timed = item.runtest if uses_benchmark(item) else None  # a pytest-benchmark test is also timed here
    if timed is None:  # the child makes the fixtures: here they would cost time and side effects
        item.fixturenames = []  # type: ignore[attr-defined]
    # Here, whatever its kind (unittest, doctest: not through pytest_pyfunc_call), its run is its children's, judged.
    item.runtest = partial(_run_judged, item, timed)  # type: ignore[method-assign]
    yield
    from harness.errors import HarnessError

    message = None
    try:
        measurement = _measure(item, _session(item.config))
    except HarnessError as exc:
        message = f"harness: {exc}"
    if message is not None:
        _fail(message)  # outside the handler, so that the report is the message alone
    item.stash[_MEASUREMENT] = measurement
    if measurement.error is not None:
        _fail(f"harness: {measurement.error}")
    _raise_as_child(measurement, "setup")


def _measure(item: pytest.Item, session: _Session) -> Measurement:
    from harness.measure.capture import resolve_backend
    from harness.measure.scheduling import seed_of

    settings = session.settings
    if session.option("harness_baseline"):
        session.baseline()  # a missing baseline fails before any copy runs
    backend = resolve_backend(session.option("harness_backend"))
    seeds = [(r, seed_of(settings, r)) for r in range(session.replicates())]
    return session.zygotes().measure(item, settings, backend, seeds, session_coverage(item.config))


def _raise_as_child(measurement: Measurement, when: str) -> None:
    """End this phase of the test as its child's ended: failed, skipped, xfailed, or not at all."""
    report = measurement.report(when)
    if report is None or report.passed:
        return
    xfail = getattr(report, "harness_xfail", None)
    if xfail is not None:
        pytest.xfail(xfail)
    over_memory = getattr(report, "harness_over_memory", None)
    if over_memory is not None:
        _fail(f"harness: {over_memory}")
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
        pytest.skip(reason.removeprefix("Skipped: "))
    raise _FromChild(report.head_line or when)


def _run_judged(item: pytest.Item, timed: Callable[[], None] | None) -> None:
    """A measured test's run here: its child's outcome (then a pytest-benchmark test's timed
    run), then its figures held to its limits and baseline."""
    measurement = item.stash[_MEASUREMENT]
    _raise_as_child(measurement, "call")
    if timed is not None:
        timed()
    if not any(trial.phases for trial in measurement.trials):
        # A plugin ran the test without calling what the copy wrapped, or the test's own
        # harness_trial opened no phase: say so rather than show nothing.
        item.stash[_NOT_MEASURED] = "no phase was measured: its window never opened"
    from harness.errors import HarnessError, LimitError
    from harness.pytest_plugin.judge import judge

    session = _session(item.config)
    message = None
    try:
        item.stash[_MEASURED], message = judge(item, measurement, session)
    except (HarnessError, LimitError) as exc:
        message = f"harness: {exc}"
    if message:
        _fail(message)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None]:
    yield
    if item.stash.get(_TO_MEASURE, False):
        _session(item.config).done(item)
    measurement = item.stash.get(_MEASUREMENT, None)
    if measurement is not None:
        _raise_as_child(measurement, "teardown")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """A measured test's report carries its child's account and output, and its figures."""
    report: pytest.TestReport = yield
    reason = item.stash.get(_NOT_MEASURED, None)
    if reason is not None and call.when in ("setup", "call"):
        report.harness_not_measured = reason  # type: ignore[attr-defined]
        del item.stash[_NOT_MEASURED]  # reported once
    measurement = item.stash.get(_MEASUREMENT, None)
    if measurement is None:
        return report
    if call.when == "setup" and measurement.uncovered is not None:
        report.harness_uncovered = measurement.uncovered  # type: ignore[attr-defined]  # see uncovered_in
    child = measurement.report(call.when)
    if child is not None:
        report.sections.extend(child.sections)
        # The copy's own account, unless the failure is the harness's (a limit, a death).
        ours = call.excinfo is not None and call.excinfo.errisinstance(pytest.fail.Exception)
        if call.excinfo is not None and not child.passed and not ours:
            report.longrepr = child.longrepr
    if call.when == "call":  # pytest keeps its items to the end: what was measured goes with this report
        if _MEASURED in item.stash:  # as plain data, so that it reaches an xdist controller too
            report.harness = item.stash[_MEASURED].to_report()  # type: ignore[attr-defined]
            del item.stash[_MEASURED]
        item.stash[_MEASUREMENT] = replace(measurement, trials=())  # teardown needs its reports only
    return report
