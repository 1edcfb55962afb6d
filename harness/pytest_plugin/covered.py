"""Coverage of measured tests under pytest-cov: each test traced once more, in a covering copy
that measures nothing, and its data combined into the session's.

A measured test does not run in the session that pytest-cov traces: copies of a zygote run
it, each inside a window that must hold the test's own allocations and nothing else. A
tracer is not quiet there: coverage.py records a new line or arc in its own sets and dicts,
and on CPython 3.11 the interpreter makes a frame object for every traced call before the
tracer is even called. So no measuring copy is ever traced, and no measuring zygote imports
coverage.py. Under ``--cov``, each test file has a covering zygote of its own
(:mod:`.covering`), which forks one covering copy: it imports coverage.py and starts its
tracer once, configured as the session's pytest-cov is (its sources, branch option, config
file, ``--cov-context=test`` contexts and ``no_cover`` marks), then runs the file's measured
tests as they are asked for, one after another in this one process as a plain pytest
session would (each its whole protocol: setup, call, teardown), with the ``none`` backend,
and writes to a parallel data file beside the session's data file. pytest-cov combines every
parallel data file there when its test loop ends, as it does its xdist workers', so its
report counts the lines the measured tests ran, and their figures are those of a session
without ``--cov``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from coverage import Coverage

#: The file in a zygote's directory that tells its covering copies how to trace.
_SPEC_FILE = "coverage.json"


@dataclass(frozen=True)
class CoverageSpec:
    """How the session's pytest-cov traces, for a copy to trace the same way."""

    #: The directory pytest-cov made its Coverage in (relative sources and config resolve there).
    topdir: str
    #: The session's data file: a copy saves ``DATA_FILE.<host>.<pid>.<random>`` beside it.
    data_file: str
    #: ``--cov=SOURCE`` values, None for a bare ``--cov`` (the config file's ``source``).
    source: tuple[str, ...] | None
    branch: bool | None
    #: ``--cov-config`` (``.coveragerc`` by default, which coverage.py reads as "look for one").
    config_file: str
    #: ``--cov-context=test``: each line is recorded under ``NODEID|setup``, ``|run``, ``|teardown``.
    test_contexts: bool
    #: The covering copy's data file is ``DATA_FILE.<data_suffix>``: named by the parent, which
    #: removes it if the session ends before pytest-cov combines it (Ctrl-C). None: coverage's own.
    data_suffix: str | None = None

    def data_path(self) -> Path:
        """The covering copy's data file (with :attr:`data_suffix`)."""
        return Path(f"{self.data_file}.{self.data_suffix}")

    def write(self, directory: Path) -> None:
        (directory / _SPEC_FILE).write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def read(cls, directory: Path) -> CoverageSpec:
        data = json.loads((directory / _SPEC_FILE).read_text(encoding="utf-8"))
        source = data.pop("source")
        return cls(source=None if source is None else tuple(source), **data)


def session_coverage(config: pytest.Config) -> CoverageSpec | None:
    """How pytest-cov traces this session, or None where it does not (no ``--cov``, or ``--no-cov``)."""
    plugin: Any = config.pluginmanager.get_plugin("_cov")
    if plugin is None or config.getoption("no_cov", False):
        return None
    controller = getattr(plugin, "cov_controller", None)
    tracer = getattr(controller, "cov", None)
    if controller is None or tracer is None:
        return None
    topdir = str(controller.topdir)
    return CoverageSpec(
        topdir=topdir,
        data_file=os.path.join(topdir, tracer.config.data_file),
        source=None if controller.cov_source is None else tuple(controller.cov_source),
        branch=controller.cov_branch,
        config_file=str(controller.cov_config),
        test_contexts=plugin.options.cov_context == "test",
    )


@contextlib.contextmanager
def session_tracing_paused(config: pytest.Config) -> Iterator[None]:
    """The session's own tracer paused, while it has a measured test run and judges it: the
    test runs in copies (and, for its lines, in a covering copy), so what the session runs
    meanwhile is the plugin's, never the project's, and traced it runs slower. Paused only
    where pytest-cov traces this one thread, and has not paused it itself (``no_cover``)."""
    collector = _tracing_collector(config)
    if collector is None:
        yield
        return
    collector.pause()
    try:
        yield
    finally:
        collector.resume()


def _tracing_collector(config: pytest.Config) -> Any:
    """coverage.py's collector of the session's pytest-cov, where it traces one thread now."""
    plugin: Any = config.pluginmanager.get_plugin("_cov")
    controller = getattr(plugin, "cov_controller", None)
    if controller is None or not getattr(controller, "started", False):
        return None
    collector = getattr(getattr(controller, "cov", None), "_collector", None)
    running = getattr(collector, "_collectors", None)
    tracers = getattr(collector, "tracers", None)
    if not running or running[-1] is not collector or tracers is None or len(tracers) != 1:
        return None
    return collector if hasattr(collector, "pause") and hasattr(collector, "resume") else None


#: What a covering copy is sent after its first test, one line each: the next test's node id
#: after ``COVER_NEXT``, or ``COVER_END`` (save the data, reply ``COVER_SAVED`` and leave).
COVER_NEXT = "test "
COVER_END = "end"
#: What a covering copy replies once a test's lines are in its data file, and once it saved.
COVERED = "covered"
COVER_SAVED = "saved"


def serve(
    directory: Path,
    config: pytest.Config,
    first: str,
    requests: Iterator[bytes],
    run: Callable[[str], None],
    reply: Callable[[str], None],
) -> int:
    """Run ``first``, then each test asked for on ``requests``, one after another in this
    process, under coverage.py configured as the spec in ``directory`` says; reply
    :data:`COVERED` after each. Runs in a covering copy.

    The lines a test ran are written to the data file before the reply, so a copy that dies
    in a test loses that test's lines and no other's. At :data:`COVER_END` the copy saves and
    leaves; at the end of its requests without it (the parent is gone), it removes its data
    file, which no session will combine.
    """
    spec = CoverageSpec.read(directory)
    tracer = _started(spec)
    config.pluginmanager.register(_CoveredTest(tracer, spec.test_contexts), "harness-covered-test")
    nodeid: str | None = first
    while nodeid is not None:
        run(nodeid)
        with _in_directory(spec.topdir):
            _write_lines(tracer)
        reply(COVERED)
        line = next(requests, b"").decode().rstrip("\n")
        if line == COVER_END:
            with _in_directory(spec.topdir):
                tracer.stop()
                tracer.save()
            reply(COVER_SAVED)
            return 0
        nodeid = line.removeprefix(COVER_NEXT) if line.startswith(COVER_NEXT) else None
    with _in_directory(spec.topdir):
        tracer.stop()
        tracer.erase()
    return 0


def _started(spec: CoverageSpec) -> Coverage:
    import coverage

    with _in_directory(spec.topdir):
        tracer = coverage.Coverage(
            data_file=spec.data_file,
            data_suffix=spec.data_suffix or True,
            source=None if spec.source is None else list(spec.source),
            branch=spec.branch,
            config_file=spec.config_file,
        )
        # What one file's tests leave unimported or untraced is no news: the session's report
        # says what the whole run missed (pytest-cov quiets its xdist workers the same way).
        tracer._warn_no_data = False
        tracer._warn_unimported_source = False
        tracer._warn_preimported_source = False
        tracer.start()
    return tracer


def _write_lines(tracer: Coverage) -> None:
    """Write what the tracer recorded so far to its data file (an SQLite database, written in
    transactions), without :meth:`Coverage.save`'s walk of the source tree for files never
    run, which the copy's last save does once."""
    collector: Any = getattr(tracer, "_collector", None)
    if collector is not None and hasattr(collector, "flush_data"):
        collector.flush_data()
    else:  # another coverage.py: its public way, walk included
        tracer.get_data()


@contextlib.contextmanager
def _in_directory(path: str) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


class _CoveredTest:
    """pytest-cov's per-test rules in a covering copy: its test contexts, and no tracing of
    the call of a test marked ``no_cover`` (or taking its fixture)."""

    def __init__(self, tracer: Coverage, test_contexts: bool) -> None:
        self.tracer = tracer
        self.test_contexts = test_contexts

    def _switch(self, item: pytest.Item, when: str) -> None:
        if self.test_contexts:
            self.tracer.switch_context(f"{item.nodeid}|{when}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._switch(item, "setup")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        self._switch(item, "teardown")

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None]:
        self._switch(item, "run")
        if not (item.get_closest_marker("no_cover") or "no_cover" in getattr(item, "fixturenames", ())):
            return (yield)
        self.tracer.stop()
        try:
            return (yield)
        finally:
            self.tracer.start()


@dataclass(frozen=True)
class Uncovered:
    """A measured test whose lines are not in the session's coverage, and why."""

    nodeid: str
    reason: str


def uncovered_in(report: pytest.TestReport) -> list[Uncovered]:
    """The measured test of ``report`` (its setup's, which carries why, as plain data that
    reaches an xdist controller too), if no copy ran it under coverage."""
    reason = getattr(report, "harness_uncovered", None)
    return [] if reason is None else [Uncovered(report.nodeid, reason)]


def uncovered_line(tests: list[Uncovered]) -> str:
    """One line: how many measured tests coverage leaves out, the first of them and why."""
    first = tests[0]
    more = f" (and {len(tests) - 1} more)" if len(tests) > 1 else ""
    counted = "1 measured test" if len(tests) == 1 else f"{len(tests)} measured tests"
    return (
        f"harness: coverage leaves out {counted} that no copy could run under coverage:"
        f" {first.nodeid}: {first.reason}{more}"
    )
