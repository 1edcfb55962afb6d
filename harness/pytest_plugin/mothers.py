"""One pytest start per test directory and seed: a *mother*, a pytest session of the directory
that collects nothing and forks the zygote of each of its test files, which then collects
its file (see :mod:`harness.pytest_plugin.zygote` and ``serve_files`` in
``harness/measure/_forkserver.c``).

A zygote started on its own is a whole pytest start, about half a second, for each file and
seed: most of the cost of a suite of small files. A zygote forked by its directory's mother
starts from the mother's state, which is the same in every session (its command line names
the directory, never the session's own choice of paths), plus the collection of its file: so
its copies' figures are as exact as a zygote's started alone, and repeat whatever else the
session measures.

The session hands each forked zygote its pipes, its directory and its stderr file over the
mother's socket; the zygote is the mother's child, so the mother tells the session when it
ends, and with which code.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import cast

import pytest

from harness.measure.forked_server import ForkedServer
from harness.measure.launcher import Ended
from harness.measure.memory_limit import limit_by_resident
from harness.measure.server import LineChannel, descriptor_of
from harness.pytest_plugin.command import start_zygote
from harness.pytest_plugin.zygote import ZygoteSpec

#: How long the session waits for a mother to fork a zygote, or to say how one ended.
_MOTHER_REPLY_S = 60.0
#: The most mothers a session keeps once none of their zygotes is alive (each holds about
#: 40 MiB): past it, such a mother ends when another starts. A mother whose zygotes live is
#: kept, and the session keeps at most ``launch.ZYGOTES_KEPT`` zygotes.
MOTHERS_KEPT = 6


def mothers_usable() -> bool:
    """Whether zygotes are forked by mothers here: Linux's pidfds and descriptor passing, and
    the serving loop in C (the Python one does not fork zygotes)."""
    if not sys.platform.startswith("linux") or limit_by_resident() or not hasattr(os, "pidfd_open"):
        return False
    try:
        from harness import _forkserver
    except ImportError:
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # a kernel older than 5.3
        return False
    return hasattr(_forkserver, "serve_files")


@dataclass
class _Forked:
    """A zygote asked of a mother: its pid once the mother says it, or how the mother ended first."""

    pid: int | None = None
    gone: Ended | None = None


class Mother:
    """The session's end of one mother: a directory's pytest session of one seed and spec."""

    def __init__(self, config: pytest.Config, directory: Path, spec: ZygoteSpec, seed: int, workdir: Path) -> None:
        self._argument = str(directory)
        self.server = start_zygote(config, directory, spec, seed, workdir, mother=True)
        #: The exit codes of the zygotes it said had ended, by pid, not yet asked for.
        self._ended: dict[int, int] = {}
        #: The requests whose zygote's pid the mother has not said yet, oldest first.
        self._forking: deque[_Forked] = deque()
        #: The session's ends of the zygotes it forked that may still be alive.
        self._zygotes: list[ForkedServer] = []

    def idle(self) -> bool:
        """Whether none of its zygotes is alive (as far as the session is concerned)."""
        self._zygotes = [zygote for zygote in self._zygotes if zygote.ended is None]
        return not self._zygotes

    def alive(self) -> bool:
        return self.server.ended is None

    def fork_zygote(self, test_file: Path, workdir: Path) -> LineChannel:
        """A zygote of ``test_file``, forked now (it collects while the session goes on)."""
        requests_read, requests = os.pipe()
        replies, replies_write = os.pipe()
        directory = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - the zygote's, closed with it
        # Only what is the same in every session: a zygote's heap depends on every byte it read.
        request = {"file": str(test_file), "argument": self._argument}
        by_descriptor = descriptor_of(self.server.directory) is not None
        if not by_descriptor:  # the mother's directory has a path of its own: so must the zygote's
            request["directory"] = str(workdir)
        try:
            self.server.send_with_descriptors(
                json.dumps(request), [requests_read, replies_write, directory, stderr.fileno()]
            )
        finally:
            for fd in (requests_read, replies_write, directory):
                os.close(fd)
        forked = _Forked()
        self._forking.append(forked)
        # The zygote puts its directory where the mother's was: a name by descriptor is the same.
        name = self.server.directory if by_descriptor else str(workdir)
        zygote = ForkedServer(
            partial(self._pid_of, forked),
            requests=requests,
            replies=replies,
            stderr=stderr,
            directory=name,
            exit_code=partial(self._exit_code, forked),
        )
        self._zygotes.append(zygote)
        return zygote

    def _pid_of(self, forked: _Forked) -> int | Ended:
        """The pid of the zygote forked for ``forked``'s request, once the mother has said it."""
        while forked.pid is None and forked.gone is None:
            line = self.server.receive(_MOTHER_REPLY_S)
            if isinstance(line, Ended):
                for waiting in self._forking:
                    waiting.gone = line
                self._forking.clear()
            else:
                self._take(line)
        return forked.pid if forked.pid is not None else cast(Ended, forked.gone)

    def _take(self, line: str) -> None:
        """A line of the mother's: a zygote forked (for the oldest request), or one that ended."""
        data = json.loads(line)
        if "ended" in data:
            self._ended[int(data["ended"])] = int(data["returncode"])
        else:
            self._forking.popleft().pid = int(data["started"])

    def _exit_code(self, forked: _Forked, timeout_s: float) -> int | None:
        """How the zygote of ``forked`` exited, once the mother says so (None: it does not, or has ended)."""
        pid = self._pid_of(forked)
        while not isinstance(pid, Ended) and pid not in self._ended:
            line = self.server.receive_within(timeout_s)
            if line is None or isinstance(line, Ended):
                return None
            self._take(line)
        return None if isinstance(pid, Ended) else self._ended.pop(pid)

    def close(self) -> None:
        self.server.close()


class Mothers:
    """The mothers of a session, one per test directory, seed and spec, started as needed."""

    def __init__(self, workroot: Callable[[], Path]) -> None:
        self._workroot = workroot
        self._mothers: dict[tuple[Path, int, ZygoteSpec], Mother] = {}
        self._started = 0

    def fork_zygote(
        self, config: pytest.Config, test_file: Path, spec: ZygoteSpec, seed: int, workdir: Path
    ) -> LineChannel:
        """A zygote of ``test_file`` for ``seed`` and ``spec``, forked by its directory's mother."""
        key = (test_file.parent, seed, spec)
        mother = self._mothers.get(key)
        if mother is None or not mother.alive():
            if mother is not None:
                mother.close()
            self._end_idle()
            self._started += 1
            workdir_of_mother = self._workroot() / f"mother-{self._started}"
            mother = self._mothers[key] = Mother(config, test_file.parent, spec, seed, workdir_of_mother)
        workdir.mkdir()  # the mother's spec is the zygote's: only its files go here
        return mother.fork_zygote(test_file, workdir)

    def _end_idle(self) -> None:
        """End the mothers none of whose zygotes is alive, oldest first, until another fits."""
        for key, mother in list(self._mothers.items()):
            if len(self._mothers) < MOTHERS_KEPT:
                return
            if mother.idle():
                mother.close()
                del self._mothers[key]

    def close(self) -> None:
        """End every mother (after their zygotes: each goes with its mother)."""
        for mother in self._mothers.values():
            mother.close()
        self._mothers.clear()
