"""Measuring a test from the pytest session that collected it: a zygote per file and seed, a
forked copy per replicate.

``PYTHONHASHSEED`` is fixed at an interpreter's start, so each seed has an interpreter of its
own: for the file of the test being measured, one zygote per seed (see
:mod:`harness.pytest_plugin.zygote`), all started at once so that their starts overlap.
Replicate ``r`` of a test is measured with seed ``base_seed + r`` by a copy that zygote forks:
a fresh copy of one state for every test and replicate, so no figure depends on what ran
before (measured by ``benchmarks/pytest_plugin.py``: running replicates one after another in
one interpreter is not exact, since a warm interpreter allocates less than a fresh one). The
zygotes of a file live until its last test to measure is measured, across changes of file,
within a bound (:class:`Zygotes`).

A zygote is forked by its directory's mother (:mod:`harness.pytest_plugin.mothers`), which
then gives it its file to collect, or, where mothers cannot be, started on its own as
``python -m pytest FILE``. Either runs with the options of the parent's command line
(:mod:`harness.pytest_plugin.forward`), its rootdir, ini file (its ``addopts`` included),
working directory and traceback options, made lean: no cache provider, no random
reordering, no distribution (``-n 0``), no coverage, no memray (the test would be traced
twice), no XML report, a base temporary directory of its own. Its stdout is dropped; reports
come back as data.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.declare.config import Settings, memory_limit_bytes
from harness.measure.launcher import Ended
from harness.measure.server import LineChannel
from harness.pytest_plugin.ahead import Order
from harness.pytest_plugin.command import start_zygote
from harness.pytest_plugin.covered import CoverageSpec, session_tracing_paused
from harness.pytest_plugin.mothers import Mothers, mothers_usable
from harness.pytest_plugin.zygote import OUT_FILE, STDERR_FILES, Collected, Request, ZygoteSpec
from harness.store.results import PhaseResult, TrialResult

if TYPE_CHECKING:
    from harness.pytest_plugin.covering import CoveringZygotes

#: How much longer than a test's timeout the parent waits for its zygote's reply: the zygote
#: itself stops the copy at the timeout, and answers.
_REPLY_SLACK_S = 30.0


@dataclass(frozen=True)
class Measurement:
    """What the copies made of one test.

    ``reports`` are a copy's pytest reports (setup, call, teardown) of the replicate that
    decides the outcome: the first that did not pass, else the last. ``error`` says why no
    copy could measure the test at all (it crashed, timed out, or was not collected).
    """

    trials: tuple[TrialResult, ...] = ()
    reports: Mapping[str, pytest.TestReport] = field(default_factory=dict)
    error: str | None = None
    #: Under pytest-cov, why no copy ran the test under coverage (None: one did).
    uncovered: str | None = None

    def report(self, when: str) -> pytest.TestReport | None:
        return self.reports.get(when)


def _report(config: pytest.Config, data: dict[str, Any]) -> pytest.TestReport:
    report: pytest.TestReport = config.hook.pytest_report_from_serializable(config=config, data=data)
    if isinstance(report.longrepr, list):
        report.longrepr = tuple(report.longrepr)  # a skip's (path, line, reason), a list once in JSON
    return report


class Zygote:
    """The parent's end of one zygote: started at once, ready when it has collected its file."""

    def __init__(
        self,
        config: pytest.Config,
        test_file: Path,
        spec: ZygoteSpec,
        seed: int,
        workdir: Path,
        mothers: Mothers | None = None,
    ) -> None:
        self.seed = seed
        self.spec = spec
        self.workdir = workdir
        self.server: LineChannel
        if mothers is not None:  # forked by its directory's mother (see .mothers)
            self.server = mothers.fork_zygote(config, test_file, spec, seed, workdir)
        else:
            self.server = start_zygote(config, test_file, spec, seed, workdir)
        #: Where the zygote writes what a copy measured, as the zygote names it.
        self._out_there = f"{self.server.directory}/{OUT_FILE}"
        self._collected: Collected | str | None = None
        self._asked: tuple[str, int] | None = None  # the test and replicate asked for, not yet answered

    def collected(self) -> Collected | str:
        """What the zygote collected, or why it collected nothing (it ended first)."""
        if self._collected is None:
            answer = self.server.receive(self.spec.timeout_s)
            if isinstance(answer, Ended):
                self._collected = f"the measuring pytest session {account(answer, self.seed, None)}"
            else:
                self._collected = Collected.from_json(answer)
        return self._collected

    def ask(self, nodeid: str, replicate: int) -> None:
        """Have a copy measure ``nodeid`` as ``replicate`` now; :meth:`measure` reads its outcome."""
        if self._asked == (nodeid, replicate):
            return
        if self._asked is not None:
            self._answer()  # asked ahead for a test that is not measured after all: dropped
        self.server.send(Request(nodeid, replicate, self.seed, self._out_there).to_json())
        self._asked = (nodeid, replicate)

    def measure(self, nodeid: str, replicate: int, then: Callable[[], None] | None = None) -> dict[str, Any] | str:
        """The outcome a copy wrote of ``nodeid`` as ``replicate``, or why it wrote none; ``then``
        is called once its file is read, before it is parsed (the next copy may then run)."""
        self.ask(nodeid, replicate)
        return self._answer(then)

    def _answer(self, then: Callable[[], None] | None = None) -> dict[str, Any] | str:
        self._asked = None
        out = self.workdir / OUT_FILE
        answer = self.server.receive(self.spec.timeout_s + _REPLY_SLACK_S)
        if isinstance(answer, Ended):
            return f"the measuring pytest session {account(answer, self.seed, None)}"
        ended = self.copy_ended(answer)
        if ended.returncode != 0 or not out.is_file():
            return f"the measuring process {account(ended, self.seed, self.spec.memory_limit)}"
        text = out.read_bytes()
        out.unlink()
        if then is not None:
            then()
        data: dict[str, Any] = json.loads(text)
        return data

    def copy_ended(self, answer: str) -> Ended:
        """How the copy ended, from the zygote's answer, with the stderr it left in its file."""
        fields = json.loads(answer)
        name = fields.pop("stderr_file", STDERR_FILES[0])
        ended = Ended(**fields)
        stderr = self.workdir / (name if name in STDERR_FILES else STDERR_FILES[0])
        if ended.returncode != 0 and stderr.is_file():
            ended = dataclasses.replace(ended, stderr=stderr.read_text(encoding="utf-8", errors="replace"))
        return ended

    def alive(self) -> bool:
        return self.server.ended is None

    def close(self) -> None:
        self.server.close()


def account(ended: Ended, seed: int, memory_limit: int | None) -> str:
    """How a zygote or a copy ended, for the test's report: one line, or a code and the last lines."""
    death = ended.death(memory_limit)
    if death is not None:
        return f"{death} (seed {seed})"
    return f"exited with code {ended.returncode} (seed {seed}):\n{ended.last_lines(5) or 'no output'}"


#: The most zygotes a session keeps at once (an idle one holds about 35 MiB of a small
#: project), shared among xdist's workers: past it, the zygotes of the file measured least
#: recently end.
ZYGOTES_KEPT = 16


class Zygotes:
    """The zygotes of the files being measured, one per file and seed; a session has one of these.

    They are kept across files, so that a session whose order goes back and forth between
    files (a session-scoped parametrized fixture runs every file once per value) starts one
    zygote per file and seed, not one per change of file. The zygotes of a file end when the
    last of its tests to measure is measured, or when more than ``kept`` (a share of
    :data:`ZYGOTES_KEPT`) would be kept.
    """

    def __init__(self, kept: int, to_measure: Mapping[Path, int], selects: Callable[[pytest.Item], bool]) -> None:
        self._kept = kept
        self._order = Order(to_measure, selects)  # what runs ahead (see .ahead)
        #: Most recently used last.
        self._zygotes: dict[tuple[Path, int], Zygote] = {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._started = itertools.count()
        #: Under pytest-cov, the files' covering zygotes (see :mod:`.covering`).
        self._covering: CoveringZygotes | None = None
        #: Where zygotes are forked by their directory's mother, the mothers (see :mod:`.mothers`).
        self._mothers: Mothers | None = None
        if mothers_usable():
            self._mothers = Mothers(self._workroot)

    def _workroot(self) -> Path:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="harness-pytest-")
        return Path(self._tmp.name)

    def _for(self, config: pytest.Config, path: Path, spec: ZygoteSpec, seeds: list[int]) -> list[Zygote]:
        keys = [(path, seed) for seed in seeds]
        for key in keys:
            known = self._zygotes.pop(key, None)
            if known is not None and known.alive():
                self._zygotes[key] = known  # now the most recently used
            elif known is not None:
                self._end(known)
        self._make_room(len([key for key in keys if key not in self._zygotes]), keep=path)
        for key in keys:
            if key not in self._zygotes:
                workdir = self._workroot() / f"zygote-{next(self._started)}"
                self._zygotes[key] = Zygote(config, path, spec, key[1], workdir, self._mothers)
        return [self._zygotes[key] for key in keys]

    def _start_next(self, config: pytest.Config, path: Path, spec: ZygoteSpec, seeds: list[int]) -> None:
        """Start the zygotes of the file measured after ``path`` (:mod:`.ahead`), if they fit beside those kept."""
        after = self._order.file_after(config, path)
        fits = len(self._zygotes) + len(seeds) <= self._kept
        if after is not None and fits and not any((after, seed) in self._zygotes for seed in seeds):
            self._for(config, after, spec, seeds)

    def _make_room(self, needed: int, keep: Path) -> None:
        """End the least recently used files' zygotes until ``needed`` more fit (never ``keep``'s)."""
        while len(self._zygotes) + needed > self._kept:
            oldest = next((path for path, _ in self._zygotes if path != keep), None)
            if oldest is None:
                return
            self.end_file(oldest)

    def end_file(self, path: Path) -> None:
        """End the zygotes of ``path`` (its last test to measure is done)."""
        for key in [key for key in self._zygotes if key[0] == path]:
            self._end(self._zygotes.pop(key))
        if self._covering is not None:
            self._covering.end_file(path)

    @staticmethod
    def _end(zygote: Zygote) -> None:
        zygote.close()
        shutil.rmtree(zygote.workdir, ignore_errors=True)

    def measure(
        self,
        item: pytest.Item,
        settings: Settings,
        backend: str,
        seeds: list[tuple[int, int]],
        coverage: CoverageSpec | None = None,
    ) -> Measurement:
        """Measure ``item`` once per (replicate, seed), each in a fresh copy; stop at the first
        that does not pass. Under ``coverage``, then run it once more, traced, by its file's
        covering copy, which measures nothing (see :mod:`.covering`): no window ever holds the
        tracer, and the session's own is paused meanwhile."""
        with session_tracing_paused(item.config):
            return self._measure(item, settings, backend, seeds, coverage)

    def _measure(
        self,
        item: pytest.Item,
        settings: Settings,
        backend: str,
        seeds: list[tuple[int, int]],
        coverage: CoverageSpec | None,
    ) -> Measurement:
        spec = ZygoteSpec(backend, settings.top_sites, settings.timeout_s, memory_limit_bytes(settings))
        if coverage is not None:
            if self._covering is None:
                from harness.pytest_plugin.covering import CoveringZygotes

                self._covering = CoveringZygotes(coverage, self._mothers)
            self._covering.start(item, settings, seeds[0][1])  # it collects while the test is measured
        # The next test's copy runs as soon as this one's last copy is done with, while the
        # session parses and reports it; under coverage, the covering copy runs this test then,
        # and the next test's copy only once it is covered. Asking again for the test asked
        # for is a no-op.
        ahead = partial(self._ask_next, item, spec, seeds[0][1])
        covering = self._covering
        then = ahead if covering is None else partial(covering.ask, item)
        measurement = self._replicates(item, spec, seeds, then=then)
        if measurement.error is not None:
            if covering is not None and covering.pending(item):
                covering.cover(item)  # asked before the error: its answer is due all the same
            uncovered = None if coverage is None else "no copy could run it"
            return dataclasses.replace(measurement, uncovered=uncovered)
        if covering is not None:
            measurement = dataclasses.replace(measurement, uncovered=covering.cover(item))
        self._start_next(item.config, item.path, spec, [seed for _, seed in seeds])
        ahead()
        return measurement

    def _ask_next(self, item: pytest.Item, spec: ZygoteSpec, seed: int) -> None:
        """Ask ``item``'s zygote of ``seed`` ahead for the test measured after ``item`` (see :mod:`.ahead`)."""
        (first,) = self._for(item.config, item.path, spec, [seed])
        self._order.ask_next(item, first)

    def _replicates(
        self, item: pytest.Item, spec: ZygoteSpec, seeds: list[tuple[int, int]], then: Callable[[], None] | None
    ) -> Measurement:
        """Each replicate measured by its zygote's copy; ``then`` is called once the last copy's outcome is read."""
        config = item.config
        zygotes = self._for(config, item.path, spec, [seed for _, seed in seeds])
        trials: list[TrialResult] = []
        reports: dict[str, pytest.TestReport] = {}
        for (replicate, seed), zygote in zip(seeds, zygotes, strict=True):
            collected = zygote.collected()
            if isinstance(collected, str):
                return Measurement(tuple(trials), error=collected)
            if item.nodeid not in collected.nodeids:
                errors = "\n".join(collected.errors) or "no such test there"
                return Measurement(
                    tuple(trials), error=f"the measuring pytest session did not collect {item.nodeid}:\n{errors}"
                )
            outcome = zygote.measure(item.nodeid, replicate, then if replicate == seeds[-1][0] else None)
            if isinstance(outcome, str):
                return Measurement(tuple(trials), error=outcome)
            reports = {data["when"]: _report(config, data) for data in outcome["reports"]}
            if outcome["phases"] is not None:
                trials.append(
                    TrialResult(
                        experiment=item.nodeid,
                        replicate=replicate,
                        seed=seed,
                        status="ok",
                        phases=tuple(PhaseResult.from_json(p) for p in outcome["phases"]),
                        wall_s=float(outcome["wall_s"]),
                        rss_peak_bytes=outcome["rss_peak_bytes"],
                    )
                )
            if not all(r.passed for r in reports.values()):
                break
        return Measurement(tuple(trials), reports)

    def save_coverage(self) -> None:
        """The covering copies save their data and end (before pytest-cov combines it)."""
        if self._covering is not None:
            self._covering.save()

    def close(self) -> None:
        """End every zygote and remove their files (a covering copy's data file too: a session
        that ends before :meth:`save_coverage` combines none)."""
        if self._covering is not None:
            self._covering.close()
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()
        if self._mothers is not None:
            self._mothers.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
