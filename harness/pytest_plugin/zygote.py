"""The plugin of the zygote: a pytest session that collects one test file, then forks a copy
of itself for each test it is asked to measure (``-p harness.pytest_plugin.zygote``).

The parent (:mod:`harness.pytest_plugin.launch`) starts one zygote per test file and seed::

    python -m pytest FILE --rootdir ROOT -c INI -p harness.pytest_plugin.zygote
           --harness-zygote=DIR --harness-pipes=R,W ...

with ``PYTHONHASHSEED`` pinned to the seed, since it is fixed at an interpreter's start. The
zygote is a real pytest session of the same project (rootdir, ini, conftest files, assertion
rewriting, plugins), so fixtures, classes, relative imports and parametrize values work as
anywhere else. It collects the file, runs no test, tells the parent what it collected, and
then, for each request (a test, its replicate and seed), forks: the copy runs that test's
whole protocol (setup, call, teardown) once and leaves; the zygote replies how it ended.

**Every copy starts from the same state**, the zygote's as it was when collection ended, so
a test's figures do not depend on the tests measured before it, on ``-k`` or on xdist: the
zygote itself runs no test code, and between two forks it runs no Python at all: its serving
loop is in C (:mod:`harness._forkserver`), which forks the next copy while a copy runs, and
each copy reads its own request. Its heap is frozen (``gc.freeze``) before the first fork,
so each copy's full collections at the window's edges scan only what the copy made, not
pytest's whole session.

**The window holds the test's own code only.** At the call, the copy puts its own wrapper
in place of what pytest calls, before any other plugin wraps it: the wrapper is the
innermost, and it opens the window right around the test's own code
(:mod:`harness.pytest_plugin.window`, for each kind of test).

The capture backend starts before fixture setup (so a phase sees frees of what setup built)
and stops at the end of the call: neither setup nor teardown is in any phase. The copy
writes, as plain data, every report pytest made (serialized by pytest's own hook, so that
the parent shows the copy's assertion messages as they are) and the phases it measured.
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest
from _pytest.runner import runtestprotocol

from harness.measure.address_keyed import forget_address_keyed_state
from harness.measure.capture import Capture, backend_class, make_capture
from harness.measure.capture.reach import settle_preload
from harness.measure.launcher import fork_child, on_stop_kill_forked_children, run_as_copy
from harness.measure.memory_limit import limit_by_resident, memory_limit_reason
from harness.measure.trial import Trial, measured_phases
from harness.pytest_plugin.covered import serve
from harness.pytest_plugin.markers import add_markers, add_options
from harness.pytest_plugin.request_pipe import lines, more_requests, read_line
from harness.pytest_plugin.window import put_window
from harness.store.jsonfile import write_json_handoff


@dataclass(frozen=True)
class ZygoteSpec:
    """How the zygote measures: the backend, the sites kept, and the bounds of each copy."""

    backend: str
    top_sites: int
    timeout_s: float
    #: Bytes of data a copy may hold (see :func:`harness.measure.launcher.limit_memory`); None: no limit.
    memory_limit: int | None = None
    #: Fork the next copy while a copy runs, so that it is ready when its request comes. Not
    #: where a copy reads further requests itself (a covering copy: see :mod:`.covered`): the
    #: copy forked ahead would take one of them.
    fork_ahead: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ZygoteSpec:
        return cls(**json.loads(text))


#: The files of a zygote's directory: its spec, and the outcome of the copy it last forked (one
#: name for every request, since a zygote serves one at a time: a name that grew with the count
#: of tests measured before would move the addresses of what the copy makes).
SPEC_FILE = "spec.json"
OUT_FILE = "out.json"
#: The files a copy's stderr is written to, which the parent reads when the copy failed: the
#: two alternate, so that a copy forked ahead does not empty the one the parent is to read.
#: Each reply names its copy's (``stderr_file``).
STDERR_FILES = ("stderr-0.txt", "stderr-1.txt")
#: The pages the latest copy wrote of its zygote's, which the next copy writes again while it
#: waits for its request (see harness/measure/_pages.c).
PAGES_FILE = "pages-written"


@dataclass(frozen=True)
class Request:
    """One test to measure once: which, as which replicate with which seed, and where its outcome goes."""

    nodeid: str
    replicate: int
    seed: int
    out: str
    #: Run it under coverage, measuring nothing (see :mod:`.covered`), instead of measuring it.
    cover: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Request:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Collected:
    """What the zygote collected: the node ids it can measure, and its collection errors."""

    nodeids: tuple[str, ...]
    errors: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Collected:
        data = json.loads(text)
        return cls(tuple(data["nodeids"]), tuple(data["errors"]))


@dataclass
class _Replicate:
    """The one replicate a copy measures: its trial and backend, then what they measured."""

    request: Request
    trial: Trial
    capture: Capture | None
    started: float
    phases: list[dict[str, Any]] | None = None
    wall_s: float = 0.0


class _Zygote:
    """The zygote's hooks and, in a copy, the measuring of its one test."""

    def __init__(self, spec: ZygoteSpec, directory: str, requests: int, replies: int) -> None:
        self.spec = spec
        self.directory = directory
        self.requests = requests
        self.replies = replies
        self.items: dict[str, pytest.Item] = {}
        self.collect_errors: list[str] = []
        self.current: _Replicate | None = None
        self.reports: list[dict[str, Any]] = []

    # -- the zygote

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Keep every item collected, before any ``-k`` or ``-m`` of the ini's ``addopts`` deselects it."""
        self.items = {item.nodeid: item for item in items}

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(report.longreprtext)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> NoReturn:
        """Answer requests instead of running the tests: one forked copy per request."""
        capture = session.config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.suspend_global_capture(in_=True)  # the zygote's own stderr is the parent's record
        self._reply(Collected(tuple(self.items), tuple(self.collect_errors)).to_json())
        forkserver = _forkserver()
        on_stop_kill_forked_children(forkserver.serving if forkserver is not None else None)
        # What collection left in the type cache would be let go by every copy's first window,
        # a write to thousands of names, each a page copied: emptied here, it holds only what
        # serving a request looks up, the same names every time.
        forget_address_keyed_state()
        # Each report reads its test's location, which pytest works out once per item (from its
        # source) and keeps: worked out here, once for every copy.
        for item in self.items.values():
            _ = item.location
        if forkserver is None:
            self._warm_up()
        gc.collect()
        gc.freeze()
        if forkserver is not None:
            self._serve_from_c(forkserver)
        else:
            while more_requests(self.requests):
                self._reply(self._serve(partial(self._next_request, partial(read_line, self.requests))))
                # What serving made in cycles (the JSON encoder's) goes now, not at a collection
                # that a count of requests served would time.
                gc.collect()
        # The parent is done with this zygote. It ran no test, so it ends here, before any
        # plugin writes its end-of-session report (an HTML or JSON file the parent writes).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def _serve_from_c(self, forkserver: ModuleType) -> None:
        """Serve requests from the loop in C; returns in the zygote once no request will come."""
        first, second = (str(Path(self.directory, name)) for name in STDERR_FILES)
        notify = forkserver.serve(
            self.requests, self.replies, self.spec.timeout_s, (first, second), self.spec.fork_ahead
        )
        if notify is not None:  # a copy, with its descriptor to the zygote
            pages = str(Path(self.directory, PAGES_FILE)) if self.spec.fork_ahead else None
            take = partial(forkserver.take_request, self.requests, notify, pages)
            then = forkserver.list_written if pages is not None else None
            run_as_copy(partial(self._next_request, take), self.spec.memory_limit, done=notify, then=then)

    def _serve(self, work: Callable[[], int]) -> str:
        """Fork a copy that does ``work``, and wait for it: the serving loop where the one in C
        (:mod:`harness._forkserver`) is not there.

        As there, the copy, not the zygote, reads the request, and its stderr goes to a file the
        parent reads, so that what the zygote allocates in serving a request is the same
        whatever the request and however the copy ended. Yet the order in which this loop frees
        what it made reorders the allocator's free lists: a copy's objects may land elsewhere
        after another count of requests served, and its peak move by a string. The reply.
        """
        stderr_to = str(Path(self.directory, STDERR_FILES[0]))
        ended = fork_child(
            work, timeout_s=self.spec.timeout_s, memory_limit=self.spec.memory_limit, stderr_to=stderr_to
        )
        return json.dumps({**asdict(ended), "stderr_file": STDERR_FILES[0]})

    def _warm_up(self) -> None:
        """Go once through what serving a request does (wait for it, fork, wait, describe the
        end), with a copy that does nothing: the first time through, CPython gives some types
        their first version tag, so the first test measured would see other tags (and so, by a
        string, another peak) than the tests after it. Every copy then starts from the same state."""
        more_requests(self.requests, timeout_s=0.0)
        self._serve(_nothing)
        gc.collect()

    def _next_request(self, read: Callable[[], str]) -> int:
        """Read the request waiting, and measure it. Runs in a copy."""
        request = Request.from_json(read())
        item = self.items[request.nodeid]  # the parent asks only what was collected
        return self._measure(item, request)

    def _reply(self, line: str) -> None:
        os.write(self.replies, line.encode() + b"\n")

    # -- a copy

    def _measure(self, item: pytest.Item, request: Request) -> int:
        """Run ``item``'s protocol once, measuring its call; write its outcome. Runs in a copy."""
        random.seed(request.seed)
        if request.cover:
            return self._cover(item, request)
        capture = make_capture(self.spec.backend, self.spec.top_sites, str(Path(request.out).parent))
        trial = Trial(capture, request.seed, request.replicate, {})
        self.current = _Replicate(request, trial, capture, time.perf_counter())
        gc.collect()
        capture.start_trial()
        runtestprotocol(item, log=False, nextitem=None)
        self.stop_capture(keep=False)  # a setup that failed never reached the call
        write_json_handoff(Path(request.out), self._outcome(self.current))
        return 0

    def _cover(self, item: pytest.Item, request: Request) -> int:
        """Serve coverage: run the requested test, then each test the parent asks for next (this
        copy reads them), one after another in this copy under coverage (see :func:`.covered.serve`)."""
        directory = Path(request.out).parent
        run = partial(self._run_covered, request)
        return serve(directory, item.config, request.nodeid, lines(self.requests), run, self._reply)

    def _run_covered(self, request: Request, nodeid: str) -> None:
        """Run ``nodeid``'s protocol (setup, call, teardown) once, with the ``none`` backend:
        its ``harness_trial`` works, and no figure is kept."""
        capture = make_capture("none", self.spec.top_sites, str(Path(request.out).parent))
        self.current = _Replicate(request, Trial(capture, request.seed, request.replicate, {}), capture, 0.0)
        self.reports = []
        runtestprotocol(self.items[nodeid], log=False, nextitem=None)
        self.stop_capture(keep=False)

    def _outcome(self, measured: _Replicate) -> dict[str, Any]:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "reports": self.reports,
            "phases": measured.phases,
            "wall_s": measured.wall_s,
            "rss_peak_bytes": int(peak if sys.platform == "darwin" else peak * 1024),
        }

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

    @pytest.fixture
    def harness_trial(self) -> Trial:
        """The trial the test runs in (see :class:`harness.Trial`)."""
        assert self.current is not None, "harness_trial outside a measured test"
        return self.current.trial

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None]:
        """Put the window around the test's own code, innermost; stop the backend after the call."""
        assert self.current is not None
        put_window(item, self.current.trial)
        try:
            yield
        except BaseException:
            self.stop_capture(keep=False)
            raise
        self.stop_capture(keep=True)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        """Record each report as the runner made it, before xfail marks change it: the parent applies them."""
        report = yield
        data = item.config.hook.pytest_report_to_serializable(config=item.config, report=report)
        excinfo = call.excinfo
        xfailed = excinfo is not None and isinstance(excinfo.value, pytest.xfail.Exception)
        data["harness_xfail"] = str(excinfo.value) if xfailed and excinfo is not None else None
        # A MemoryError under the limit is the limit's doing: the parent says so, in one line.
        limit = self.spec.memory_limit
        over_memory = excinfo is not None and isinstance(excinfo.value, MemoryError) and limit
        seed = self.current.request.seed if self.current is not None else None
        data["harness_over_memory"] = f"{memory_limit_reason(limit)} (seed {seed})" if over_memory and limit else None
        self.reports.append(json.loads(json.dumps(data, default=str)))
        return report


def _forkserver() -> ModuleType | None:
    """The serving loop in C, where it was compiled and no thread watches a copy's memory (a
    free-threaded build holds the limit that way: see :mod:`harness.measure.memory_limit`)."""
    if limit_by_resident():
        return None
    try:
        from harness import _forkserver as forkserver
    except ImportError:
        return None
    return forkserver


def _nothing() -> int:
    return 0


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    parser.addoption("--harness-zygote", metavar="DIR", help="(internal) serve measurements as DIR/spec.json says")
    parser.addoption("--harness-pipes", metavar="R,W", help="(internal) the zygote's request and reply pipes")
    parser.addoption("--harness-mother", action="store_true", help="(internal) fork a zygote per file asked for")


def pytest_configure(config: pytest.Config) -> None:
    add_markers(config)
    directory = config.getoption("harness_zygote")
    if directory:
        spec = ZygoteSpec.from_json(Path(directory, SPEC_FILE).read_text(encoding="utf-8"))
        unusable = settle_preload(spec.backend)
        if unusable is not None:
            raise pytest.UsageError(unusable)
        # Imported once, here, before the heap is frozen: every copy would import it anew.
        backend_class(spec.backend)
        requests, replies = (int(fd) for fd in config.getoption("harness_pipes").split(","))
        zygote = _Zygote(spec, directory, requests, replies)
        config.pluginmanager.register(zygote, "harness-zygote")
        if config.getoption("harness_mother"):
            forkserver = _forkserver()
            if forkserver is None:
                raise pytest.UsageError("harness: a mother needs the serving loop in C (harness._forkserver)")
            from harness.pytest_plugin.mother import Mother

            config.pluginmanager.register(Mother(zygote, forkserver), "harness-mother")
        # pytest-cov is off here (--no-cov), yet the plugin it registers when --cov is among
        # the options still wraps the call of a test marked no_cover, and fails there for want
        # of a tracer. Covering copies apply that mark themselves (see .covered).
        if config.pluginmanager.has_plugin("_cov"):
            config.pluginmanager.unregister(name="_cov")
