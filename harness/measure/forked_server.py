"""The session's end of a server that another server forked (a test file's zygote, forked by
its directory's mother: see :mod:`harness.pytest_plugin.mothers`).

It is not the session's child, so the session cannot wait for it: it watches it through a
pidfd, stops it by its process group, and learns its exit code from the server that forked
it. Its pipes and stderr are the session's, handed over when it was forked.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections.abc import Callable
from typing import IO

from harness.measure.launcher import GRACE_S, Ended, kill_group
from harness.measure.server import LineChannel


class ForkedServer(LineChannel):
    """A server forked by another, answering one line for each line it is sent."""

    def __init__(
        self,
        pid: Callable[[], int | Ended],
        *,
        requests: int,
        replies: int,
        stderr: IO[bytes],
        directory: str | None,
        exit_code: Callable[[float], int | None],
    ) -> None:
        #: Its pid once the server that forks it says so, or how that server ended first: asked
        #: for only when needed, so that the session need not wait for the fork.
        self._pid = pid
        self._requests = requests
        self._replies = replies
        self._stderr = stderr
        #: The server's directory, as the server names it.
        self.directory = directory
        #: Its exit code once it has ended, from the server that forked it (None: unknown).
        self._exit_code = exit_code
        self._pending = b""
        self.ended: Ended | None = None
        self._pidfd: int | None = None

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)

    def _exited(self, timeout_s: float) -> bool:
        if self._pidfd is None:
            return True
        return bool(select.select([self._pidfd], [], [], timeout_s)[0])

    def _stop(self, timeout_s: float, *, timed_out: bool) -> Ended:
        """Let the server end (at once when it ran past its time), then stop it: SIGTERM, whose
        handler stops the test it runs, then SIGKILL of its group; how it ended."""
        pid = self._pid()
        if isinstance(pid, Ended):  # never forked: how the server that would have forked it ended
            self.ended = self.ended or pid
            return self.ended
        if self._pidfd is None:
            with contextlib.suppress(OSError):  # it has ended and been reaped already
                self._pidfd = os.pidfd_open(pid)
        for how in (signal.SIGTERM, signal.SIGKILL) if timed_out else (None, signal.SIGTERM, signal.SIGKILL):
            if how is not None:
                kill_group(pid, how)
            if self._exited(GRACE_S):
                break
        if self.ended is None:
            code = self._exit_code(GRACE_S)
            self._stderr.seek(0)
            stderr = self._stderr.read().decode("utf-8", "replace")
            self.ended = Ended(code if code is not None else -signal.SIGKILL, stderr, timed_out, timeout_s)
        return self.ended
