"""The plugin of the child pytest session that measures one test (``-p harness.pytest_plugin.child``).

The parent starts ``python -m pytest NODEID -p harness.pytest_plugin.child
--harness-child=SPEC.json`` with ``PYTHONHASHSEED`` pinned to the seed of the first replicate
(the plugin asks one replicate of each child; ``benchmarks/pytest_plugin.py`` asks several,
to show that a warm interpreter's figures differ from a fresh one's). The child is a
real pytest session of the same project (rootdir, ini, conftest files, assertion rewriting),
so fixtures, classes, relative imports and parametrize values work as anywhere else. For each
replicate it runs the test's whole protocol (setup, call, teardown) and measures only the
call: the capture backend starts before fixture setup (so a phase sees frees of what setup
built) and stops at the end of the call, so neither setup nor teardown is in any phase.

It writes, as plain data, every report pytest made (serialized by pytest's own hook, so the
parent can show the child's assertion messages as they are) and each replicate's phases.
"""

from __future__ import annotations

import gc
import json
import random
import resource
import sys
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from _pytest.runner import runtestprotocol

from harness.measure.capture import Capture, make_capture
from harness.measure.capture.reach import settle_preload
from harness.measure.trial import Trial, calibrate, limit_memory, measured_phases
from harness.pytest_plugin.markers import FIXTURE, add_markers, add_options, ops_of
from harness.store.jsonfile import write_json_atomic

#: The phase a test that does not take ``harness_trial`` is measured as, whole.
WHOLE_TEST_PHASE = "test"


@dataclass(frozen=True)
class ChildSpec:
    """What the parent asks of one child: which test, which (replicate, seed) pairs, how."""

    nodeid: str
    replicates: tuple[tuple[int, int], ...]
    backend: str
    top_sites: int
    out: str
    #: Bytes of data the child may hold (see :func:`harness.measure.trial.limit_memory`); None: no limit.
    memory_limit: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ChildSpec:
        data = json.loads(text)
        data["replicates"] = tuple((int(r), int(s)) for r, s in data["replicates"])
        return cls(**data)


@dataclass
class _Replicate:
    """One replicate while it runs: its trial and backend, then what they measured."""

    replicate: int
    seed: int
    trial: Trial
    capture: Capture | None
    started: float
    phases: list[dict[str, Any]] | None = None
    wall_s: float = 0.0


class _Child:
    """The measuring session's state and hooks (registered only when ``--harness-child`` is given)."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.current: _Replicate | None = None
        self.done: list[_Replicate] = []
        self.reports: list[dict[str, Any]] = []
        self.collect_errors: list[str] = []
        self.found = False

    def begin(self, replicate: int, seed: int) -> None:
        random.seed(seed)
        capture = make_capture(self.spec.backend, self.spec.top_sites, str(Path(self.spec.out).parent))
        self.current = _Replicate(replicate, seed, Trial(capture, seed, replicate, {}), capture, time.perf_counter())
        gc.collect()
        capture.start_trial()

    def stop_capture(self, keep: bool) -> None:
        """Stop the backend (outside every window); keep the phases only when the call succeeded."""
        current = self.current
        if current is None or current.capture is None:
            return
        capture, current.capture = current.capture, None
        captured = capture.finish()
        current.wall_s = time.perf_counter() - current.started
        if keep:
            current.phases = measured_phases(current.trial, captured, capture.complete_sites)

    def outcome(self) -> dict[str, Any]:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "found": self.found,
            "collect_errors": self.collect_errors,
            "reports": self.reports,
            "replicates": [
                {"replicate": r.replicate, "seed": r.seed, "phases": r.phases, "wall_s": r.wall_s} for r in self.done
            ],
            "rss_peak_bytes": int(peak if sys.platform == "darwin" else peak * 1024),
        }

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Keep the one test asked for (a node id can select more, e.g. a prefix of parametrized ids)."""
        others = [item for item in items if item.nodeid != self.spec.nodeid]
        if others:
            config.hook.pytest_deselected(items=others)
            items[:] = [item for item in items if item.nodeid == self.spec.nodeid]
        self.found = bool(items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(report.longreprtext)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        """Run the test's whole protocol once per replicate; its reports go to the parent, not to a terminal."""
        pairs = self.spec.replicates
        for index, (replicate, seed) in enumerate(pairs):
            self.begin(replicate, seed)
            last = index == len(pairs) - 1
            # Until the last replicate, tear down to the test's parent only: the test's own
            # fixtures are made afresh, its module's and session's stay set up.
            runtestprotocol(item, log=False, nextitem=nextitem if last else cast(pytest.Item, item.parent))
            if self.current is not None:
                self.done.append(self.current)
                self.current = None
        return True

    @pytest.fixture
    def harness_trial(self) -> Trial:
        """The trial the test runs in (see :class:`harness.Trial`)."""
        assert self.current is not None, "harness_trial outside a measured test"
        return self.current.trial

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool:
        """Call the test: inside the phases it opens, or whole as the phase ``test``."""
        assert self.current is not None
        trial = self.current.trial
        argnames = pyfuncitem._fixtureinfo.argnames
        kwargs = {name: pyfuncitem.funcargs[name] for name in argnames}
        function = pyfuncitem.obj
        # Here, not before fixture setup where snapshots would be cheaper: memray's own cost
        # per window is not the same there (measured: the net change of a test that keeps
        # nothing read 3.3 KiB when calibrated before setup, 250 B when calibrated here).
        calibrate(trial)
        if FIXTURE in argnames:
            function(**kwargs)
        else:
            ops = ops_of(pyfuncitem)
            with trial.phase(WHOLE_TEST_PHASE):
                function(**kwargs)
                trial.ops(ops)
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None]:
        try:
            yield
        except BaseException:
            self.stop_capture(keep=False)
            raise
        self.stop_capture(keep=True)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        # A failed setup never reached the call: the backend is still running.
        self.stop_capture(keep=False)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        """Record each report as the runner made it, before xfail marks change it: the parent applies them."""
        report = yield
        data = item.config.hook.pytest_report_to_serializable(config=item.config, report=report)
        excinfo = call.excinfo
        xfailed = excinfo is not None and isinstance(excinfo.value, pytest.xfail.Exception)
        data["harness_xfail"] = str(excinfo.value) if xfailed and excinfo is not None else None
        data["harness_replicate"] = self.current.replicate if self.current is not None else None
        self.reports.append(json.loads(json.dumps(data, default=str)))
        return report

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        write_json_atomic(Path(self.spec.out), self.outcome())


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    parser.addoption("--harness-child", metavar="SPEC", help="(internal) measure the test SPEC.json names")


def pytest_configure(config: pytest.Config) -> None:
    add_markers(config)
    spec_path = config.getoption("harness_child")
    if spec_path:
        spec = ChildSpec.from_json(Path(spec_path).read_text(encoding="utf-8"))
        limit_memory(spec.memory_limit)
        unusable = settle_preload(spec.backend)
        if unusable is not None:
            raise pytest.UsageError(unusable)
        config.pluginmanager.register(_Child(spec), "harness-child")
