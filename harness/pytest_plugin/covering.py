"""The parent's end of coverage under pytest-cov: per test file, a zygote of its own whose one
copy runs the file's measured tests under coverage, one after another (see :mod:`.covered`).

A covering zygote is started with the first measured test of its file, beside its measuring
zygotes, so that their starts overlap; once a test's last replicate is read (and while the
parent parses and judges it), the parent asks its file's covering copy to run it, and then
waits for its reply before it asks for the next test. The copy imports coverage.py and
starts its tracer once, with its first test, and writes each test's lines to its data file
before it replies, so a copy that dies in a test loses that test's lines only: the zygote forks
a new covering copy for the file's next test (a zygote that dies is started again).

The data files are combined by pytest-cov when its test loop ends, so the covering copies save
and leave before (:meth:`CoveringZygotes.save`, from the plugin's wrapper of that loop). A
session that ends otherwise (Ctrl-C) stops them and removes their data files, which nobody
would combine.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.declare.config import Settings
from harness.measure.launcher import Ended, one_line
from harness.pytest_plugin.covered import COVER_END, COVER_NEXT, COVERED, CoverageSpec
from harness.pytest_plugin.launch import Zygote, account
from harness.pytest_plugin.mothers import Mothers
from harness.pytest_plugin.zygote import OUT_FILE, Request, ZygoteSpec

#: The most covering zygotes a session keeps at once (per xdist worker): past it, the one of
#: the file covered least recently saves its data and ends.
COVERING_KEPT = 4
#: The timeout a covering zygote gives its copy: none to speak of.
_UNBOUNDED_S = 10.0**7


class _CoveringZygote:
    """One file's covering zygote, and the data files its covering copies write."""

    def __init__(
        self, zygote: Zygote, coverage: CoverageSpec, timeout_s: float, suffixes: itertools.count[int]
    ) -> None:
        self.zygote = zygote
        #: How long a test may take in the covering copy (the zygote's own bound is the copy's life).
        self.timeout_s = timeout_s
        self.coverage = coverage
        self._suffixes = suffixes
        #: The data files of this zygote's covering copies, the serving one last.
        self.data_files: list[Path] = []
        self._serving = False
        #: The test asked for, not yet answered, and why it was refused at once, if it was.
        self._asked: str | None = None
        self._refused: str | None = None

    def ask(self, nodeid: str) -> None:
        """Have the covering copy start on ``nodeid`` (:meth:`cover` reads how it went); asking
        again for the test asked for is a no-op."""
        if self._asked == nodeid:
            return
        self._asked = nodeid
        self._refused = self._send(nodeid)

    def cover(self, nodeid: str) -> str | None:
        """Have the covering copy run ``nodeid`` (unless asked already); why its lines are not in
        the data, if they are not."""
        self.ask(nodeid)
        self._asked = None
        if self._refused is not None:
            return self._refused
        server = self.zygote.server
        answer = server.receive(self.timeout_s)
        if answer == COVERED:
            return None
        self._serving = False  # the copy is gone; the zygote forks another for the next test
        ended = answer if isinstance(answer, Ended) else self.zygote.copy_ended(answer)
        return one_line(f"the covering process {account(ended, self.zygote.seed, None)}")

    def _send(self, nodeid: str) -> str | None:
        """Send the request for ``nodeid``; why it cannot be covered, if it cannot."""
        collected = self.zygote.collected()
        if isinstance(collected, str):
            return one_line(collected.replace("measuring", "covering", 1))
        if nodeid not in collected.nodeids:
            return "the covering pytest session did not collect it"
        if self._serving:
            self.zygote.server.send(COVER_NEXT + nodeid)
        else:
            self._start_copy(nodeid)
        return None

    def pending(self) -> str | None:
        """The test asked for and not yet answered."""
        return self._asked

    def _start_copy(self, nodeid: str) -> None:
        """Ask the zygote for a covering copy, with a data file of its own, that runs ``nodeid`` first."""
        suffix = f"{socket.gethostname()}.{os.getpid()}.harness{next(self._suffixes)}"
        spec = dataclasses.replace(self.coverage, data_suffix=suffix)
        spec.write(self.zygote.workdir)
        self.data_files.append(spec.data_path())
        # The zygote's directory, as the zygote names it: the copy reads its spec there.
        out = f"{self.zygote.server.directory}/{OUT_FILE}"
        self.zygote.server.send(Request(nodeid, 0, self.zygote.seed, out, cover=True).to_json())
        self._serving = True

    def save(self) -> None:
        """Have the covering copy save its data and leave; end the zygote."""
        asked = self._asked
        if asked is not None:
            self.cover(asked)  # its answer is due before anything else is said
        if self._serving and self.zygote.alive():
            self.zygote.server.send(COVER_END)
            # Every test's lines are written already: a copy that fails here leaves them written.
            self.zygote.server.receive(self.timeout_s)
        self._serving = False
        self.zygote.close()

    def abandon(self) -> None:
        """End the zygote and its copy, and remove their data files: no session will combine them."""
        self.zygote.close()
        for path in self.data_files:
            for leftover in (path, Path(f"{path}-journal")):
                leftover.unlink(missing_ok=True)


class CoveringZygotes:
    """The covering zygotes of a session, one per file being covered (at most :data:`COVERING_KEPT`)."""

    def __init__(self, coverage: CoverageSpec, mothers: Mothers | None = None) -> None:
        self.coverage = coverage
        #: The session's mothers, which fork covering zygotes too (their own, of the ``none`` backend).
        self._mothers = mothers
        #: Most recently used last.
        self._zygotes: dict[Path, _CoveringZygote] = {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._started = itertools.count()
        self._suffixes = itertools.count()

    def start(self, item: pytest.Item, settings: Settings, seed: int) -> None:
        """Have ``item``'s file's covering zygote started (it collects while the test is measured)."""
        known = self._zygotes.pop(item.path, None)
        if known is not None and known.zygote.alive():
            self._zygotes[item.path] = known  # now the most recently used
            return
        if known is not None:
            self._end(known, known.save)
        while len(self._zygotes) >= COVERING_KEPT:
            self.end_file(next(iter(self._zygotes)))
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="harness-pytest-cover-")
        workdir = Path(self._tmp.name) / f"zygote-{next(self._started)}"
        # The ``none`` backend: a covering copy measures nothing, and needs no preloaded hooks. It
        # lives as long as the parent needs it, which bounds each of its tests itself.
        spec = ZygoteSpec("none", settings.top_sites, _UNBOUNDED_S, fork_ahead=False)
        zygote = Zygote(item.config, item.path, spec, seed, workdir, self._mothers)
        self._zygotes[item.path] = _CoveringZygote(zygote, self.coverage, settings.timeout_s, self._suffixes)

    def ask(self, item: pytest.Item) -> None:
        """Have ``item``'s file's covering copy start on it: the session reads its last replicate
        meanwhile (never another test: no two tests ever run at once). :meth:`cover` answers."""
        self._zygotes[item.path].ask(item.nodeid)

    def cover(self, item: pytest.Item) -> str | None:
        """Have ``item`` run under coverage by its file's covering copy (started by :meth:`start`),
        unless :meth:`ask` had it start already; why its lines are not in the data, if they are not."""
        return self._zygotes[item.path].cover(item.nodeid)

    def pending(self, item: pytest.Item) -> bool:
        """Whether ``item`` was asked for by :meth:`ask` and not yet answered by :meth:`cover`."""
        known = self._zygotes.get(item.path)
        return known is not None and known.pending() == item.nodeid

    def end_file(self, path: Path) -> None:
        """``path``'s last test to cover is done: its covering copy saves, and its zygote ends."""
        known = self._zygotes.pop(path, None)
        if known is not None:
            self._end(known, known.save)

    def save(self) -> None:
        """Every covering copy saves and ends (before pytest-cov combines their data)."""
        while self._zygotes:
            self.end_file(next(iter(self._zygotes)))
        self._cleanup()

    def close(self) -> None:
        """Stop every covering zygote and remove their data files (the session ends without combining)."""
        while self._zygotes:
            _, known = self._zygotes.popitem()
            self._end(known, known.abandon)
        self._cleanup()

    @staticmethod
    def _end(known: _CoveringZygote, how: Callable[[], None]) -> None:
        how()
        shutil.rmtree(known.zygote.workdir, ignore_errors=True)

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
