"""Coverage of measured tests under pytest-cov: each test traced once more, in a copy that
measures nothing, and its data combined into the session's.

A measured test does not run in the session that pytest-cov traces: copies of a zygote run
it, each inside a window that must hold the test's own allocations and nothing else. A
tracer is not quiet there: coverage.py records a new line or arc in its own sets and dicts,
and on CPython 3.11 the interpreter makes a frame object for every traced call before the
tracer is even called. So no measuring copy is ever traced. Under ``--cov``, the zygote
that measured a test's first replicate forks one more copy of it, which runs the test's
protocol (setup, call, teardown) with the ``none`` backend under coverage.py configured as
the session's pytest-cov is (its sources, branch option, config file, ``--cov-context=test``
contexts and ``no_cover`` marks), and saves a parallel data file beside the session's data
file. pytest-cov combines every parallel data file there when its session ends, as it does
its xdist workers', so its report counts the lines the measured tests ran, and their
figures are those of a session without ``--cov``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Generator, Iterator
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
def traced(item: pytest.Item, directory: Path) -> Iterator[None]:
    """While open, coverage.py traces this process as the spec in ``directory`` says; its data
    is saved as a parallel data file when it closes. Runs in a covering copy."""
    import coverage

    spec = CoverageSpec.read(directory)
    with _in_directory(spec.topdir):
        tracer = coverage.Coverage(
            data_file=spec.data_file,
            data_suffix=True,
            source=None if spec.source is None else list(spec.source),
            branch=spec.branch,
            config_file=spec.config_file,
        )
        # What one test leaves unimported or untraced is no news: the session's report says
        # what the whole run missed (pytest-cov quiets its xdist workers the same way).
        tracer._warn_no_data = False
        tracer._warn_unimported_source = False
        tracer._warn_preimported_source = False
        tracer.start()
    item.config.pluginmanager.register(_CoveredTest(tracer, spec.test_contexts), "harness-covered-test")
    try:
        yield
    finally:
        with _in_directory(spec.topdir):
            tracer.stop()
            tracer.save()


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
    return (
        f"harness: coverage leaves out {len(tests)} measured tests that no copy could run under coverage:"
        f" {first.nodeid}: {first.reason}{more}"
    )
